"""The version of graphc, as its package metadata and ONNX files record it."""

__version__ = "0.1.0"
