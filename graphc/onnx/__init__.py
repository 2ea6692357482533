"""ONNX: ``export`` a model to a checked ``ModelProto`` and run it in onnxruntime with
``Runtime``.

>>> import graphc
>>> proto = graphc.onnx.export(model, "model.onnx")      # or model.export("model.onnx")
>>> graphc.onnx.Runtime("model.onnx").predict(x)

Importing this package is cheap; ``onnx`` and ``onnxruntime`` load only when a model is
exported or run. The exporter itself is the ONNX backend, ``graphc.backends.onnx``.
"""

from graphc.backends.onnx.builder import DEFAULT_OPSET, MIN_OPSET, newest_opset
from graphc.backends.onnx.export import (
    ExportError,
    ExportResult,
    PassReport,
    export,
    export_with_report,
)
from graphc.onnx.runtime import Runtime, RuntimeLoadError, RuntimeRunError

__all__ = [
    "export",
    "load",
    "OnnxGraphLayer",
    "OnnxImportError",
    "export_with_report",
    "Runtime",
    "ExportError",
    "ExportResult",
    "PassReport",
    "RuntimeLoadError",
    "RuntimeRunError",
    "newest_opset",
    "DEFAULT_OPSET",
    "MIN_OPSET",
]

# The importer (``load``) loads on first use: with its converters it takes longer to
# import than the exporter, and an export does not need it.
_IMPORTER_NAMES = ("load", "OnnxGraphLayer", "OnnxImportError")


def __getattr__(name):
    if name in _IMPORTER_NAMES:
        from graphc.onnx import importer

        return getattr(importer, name)
    raise AttributeError(f"module 'graphc.onnx' has no attribute {name!r}")
