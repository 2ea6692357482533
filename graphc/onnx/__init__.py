"""ONNX backend. Importing this package is cheap; ``onnx`` and ``onnxruntime`` load only
when a model is built or run."""

from graphc.onnx._builder import DEFAULT_OPSET, MIN_OPSET

__all__ = ["DEFAULT_OPSET", "MIN_OPSET"]
