"""The ONNX backend: op lowerings written through a builder into a checked ModelProto.

Users reach it through ``graphc.onnx`` (``export``, ``Runtime``) or ``Model.export``.
"""
