"""graphc as an ONNX backend (``onnx.backend.base.Backend``), as ``onnxruntime.backend``.

>>> from graphc.onnx import backend
>>> rep = backend.prepare(model_proto)          # graphc.onnx.load, then the NumPy executor
>>> outputs = rep.run([x])                      # a namedtuple of arrays, by output name

``prepare`` imports the model with ``graphc.onnx.load`` (weights frozen) and runs it with
the NumPy executor in inference mode; ``run_node`` wraps one node in a model first. A
model graphc cannot import raises ``OnnxImportError``.
"""

from __future__ import annotations

import numpy as np
from onnx import ModelProto, TensorProto, helper, numpy_helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from graphc.backends.numpy.executor import Executor
from graphc.onnx.importer import OnnxImportError, load
from graphc.recording import ExecContext

__all__ = [
    "GraphcBackend",
    "GraphcRep",
    "prepare",
    "run_model",
    "run_node",
    "supports_device",
    "is_compatible",
]


def _array(a):
    if isinstance(a, TensorProto):
        return numpy_helper.to_array(a)
    return np.asarray(a)


class _Folded:
    """A graph whose outputs fold to constants once its inputs are bound."""

    def __init__(self, values):
        self.values = values


class GraphcRep(BackendRep):
    """A prepared model: ``run(inputs)`` returns the outputs by ONNX output name.

    When an op needs one of the graph's inputs as a constant (a ``Reshape`` target, a
    reduction's axes, clip bounds given as inputs), the model is imported at ``run`` with
    those inputs bound to the values given (``load(constants=...)``), as a compiler
    specialises on shapes; each set of bound values is imported once.
    """

    def __init__(self, proto):
        self.proto = proto
        self.output_names = [o.name for o in proto.graph.output]
        inits = {t.name for t in proto.graph.initializer}
        self.input_names = [i.name for i in proto.graph.input if i.name not in inits]
        self._bound: list[str] = []
        self._models: dict = {}
        self.model = self._import({})

    def _import(self, values):
        """The model with ``values`` bound, or None when an op asks for another input
        as a constant (added to ``self._bound``; the caller supplies its value)."""
        try:
            return load(self.proto, trainable=False, constants=values)
        except OnnxImportError as e:
            folded = getattr(e, "constant_outputs", None)
            if folded is not None:
                return _Folded(folded)
            name = getattr(e, "needs_input", None)
            if name is None or name in values:
                raise
            if name not in self._bound:
                self._bound.append(name)
            return None

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            arrays = [inputs[n] for n in self.input_names]
        elif isinstance(inputs, (list, tuple)):
            arrays = list(inputs)
        else:
            arrays = [inputs]
        if len(arrays) != len(self.input_names):
            raise ValueError(
                f"the model takes {len(self.input_names)} inputs "
                f"({', '.join(self.input_names)}), received {len(arrays)}"
            )
        given = dict(zip(self.input_names, (_array(a) for a in arrays)))
        model = self.model
        while model is None or self._bound:
            values = {n: given[n] for n in self._bound}
            key = tuple((n, v.dtype.str, v.shape, v.tobytes()) for n, v in values.items())
            if key not in self._models:
                m = self._import(values)
                if m is None:
                    continue  # one more input to bind
                self._models[key] = m
            model = self._models[key]
            break
        if isinstance(model, _Folded):
            return namedtupledict("Outputs", self.output_names)(*model.values)
        feeds = [given[v.name].astype(v.dtype, copy=False) for v in model.inputs]
        ex = getattr(model, "_backend_executor", None)
        if ex is None:
            ex = model._backend_executor = Executor(model.graph)
        outs = ex.forward(feeds, ExecContext(training=False))
        outs = [np.asarray(o) for o in outs]
        return namedtupledict("Outputs", self.output_names)(*outs)


class GraphcBackend(Backend):
    """``prepare``/``run_model``/``run_node``/``supports_device`` on graphc's importer
    and NumPy executor (CPU only)."""

    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs):
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        super().prepare(model, device, **kwargs)
        if not cls.supports_device(device):
            raise RuntimeError(f"graphc runs on CPU, not {device!r}")
        if not isinstance(model, ModelProto):
            import onnx

            model = (
                onnx.load_model_from_string(model) if isinstance(model, bytes) else onnx.load(model)
            )
        return GraphcRep(model)

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        """One node on ``inputs`` (arrays in the node's input order)."""
        super().run_node(node, inputs, device=device, outputs_info=outputs_info)
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in node.input if n]
        arrays = [np.asarray(a) for a in inputs]
        names = [n for n in node.input if n]
        graph_inputs = [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in zip(names, arrays)
        ]
        graph_outputs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
        graph = helper.make_graph([node], "run_node", graph_inputs, graph_outputs)
        opset = kwargs.get("opset_version")
        imports = [helper.make_opsetid("", opset)] if opset else None
        model = helper.make_model(graph, opset_imports=imports)
        return cls.prepare(model, device).run(arrays)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU


prepare = GraphcBackend.prepare
run_model = GraphcBackend.run_model
run_node = GraphcBackend.run_node
supports_device = GraphcBackend.supports_device
is_compatible = GraphcBackend.is_compatible
