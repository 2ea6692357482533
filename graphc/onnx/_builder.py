"""The small builder that op lowering rules write ONNX nodes through.

A lowering rule calls ``b.op("Relu", x)`` and ``b.const(array)`` with tensor *names* and
gets names back; it never touches protobuf. ``onnx`` is imported here only, and only when
an export or a test actually builds a model, so ``import graphc`` stays fast.
"""

from __future__ import annotations

import numpy as np

DEFAULT_OPSET = 18
MIN_OPSET = 13

_ONNX_DTYPES = {"float32": 1, "uint8": 2, "int8": 3, "int32": 6, "int64": 7, "bool": 9,
                "float16": 10, "float64": 11}


def onnx_dtype(dtype) -> int:
    return _ONNX_DTYPES[str(np.dtype(dtype))]


class OnnxBuilder:
    """Collects NodeProtos and initializers with unique names."""

    def __init__(self, opset: int = DEFAULT_OPSET):
        import onnx.helper  # noqa: F401  (fail here, not half-way through a lowering)
        self.opset = int(opset)
        self.nodes = []
        self.initializers = []
        self._used: set[str] = set()
        self.prefix = ""  # set per graph node, so ONNX node names say which layer made them
        self.float_dtype = "float32"
        self.in_types = []  # TensorTypes of the node being lowered (shapes for lowerings)

    def fresh(self, base: str) -> str:
        base = base or "t"
        name, k = base, 0
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim an exact name (graph inputs and outputs)."""
        if name in self._used:
            raise ValueError(f"ONNX tensor name {name!r} is used twice")
        self._used.add(name)
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, out_names=None, **attrs):
        """Append one node; returns its output name (or a list when ``outputs > 1``)."""
        from onnx import helper
        base = f"{self.prefix}/{op_type}" if self.prefix else op_type
        outs = list(out_names) if out_names else [self.fresh(base if outputs == 1 else
                                                             f"{base}:{i}")
                                                  for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=self.fresh(f"{base}.node"), **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, array, name: str | None = None) -> str:
        from onnx import numpy_helper
        arr = np.asarray(array)
        n = self.fresh(name or (f"{self.prefix}/const" if self.prefix else "const"))
        self.initializers.append(numpy_helper.from_array(arr, n))
        return n

    def scalar(self, value: float) -> str:
        """A scalar constant in the graph's float dtype (for arithmetic in lowerings)."""
        return self.const(np.asarray(value, dtype=self.float_dtype))


def value_info(name: str, dtype, shape):
    """A ValueInfoProto; ``None`` dims become anonymous, strings symbolic."""
    from onnx import helper
    dims = [d if d is None or isinstance(d, str) else int(d) for d in shape]
    return helper.make_tensor_value_info(name, onnx_dtype(dtype), dims)


def make_model(builder: OnnxBuilder, inputs, outputs, name: str = "graphc"):
    """Wrap the builder's nodes into a ModelProto; inputs/outputs are ValueInfoProtos."""
    from onnx import helper

    import graphc
    graph = helper.make_graph(builder.nodes, name, inputs, outputs, builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", builder.opset)],
                              producer_name="graphc", producer_version=graphc.__version__)
    model.ir_version = ir_version_for(builder.opset)
    return model


def ir_version_for(opset: int) -> int:
    """The oldest IR version that carries ``opset``, so older onnxruntimes load it."""
    # onnx's own table (onnx.helper.VERSION_TABLE): opset 13 -> IR 7, 15 -> 8, 19 -> 9,
    # 21 -> 10, 23 -> 11, 24 -> 12, 25 -> 13, 28 -> 14.
    for min_opset, ir in ((28, 14), (25, 13), (24, 12), (23, 11), (21, 10), (19, 9), (15, 8)):
        if opset >= min_opset:
            return ir
    return 7


def one_node_model(op_name: str, attrs: dict, inputs: list, opset: int = DEFAULT_OPSET):
    """A model holding the lowering of one op, with inputs ``x0, x1, ...`` and outputs
    ``y0, ...``: how tests check an op's ONNX rule against its kernel."""
    from graphc.ir import TensorType
    from graphc.ops import get_op

    op = get_op(op_name)
    b = OnnxBuilder(opset)
    b.float_dtype = next((str(a.dtype) for a in inputs if a.dtype.kind == "f"), "float32")
    names = [b.reserve(f"x{i}") for i in range(len(inputs))]
    b.in_types = [TensorType(a.shape, a.dtype) for a in inputs]
    types = op.infer(attrs, *b.in_types)
    types = (types,) if isinstance(types, TensorType) else types
    outs = op.lower(attrs, b, *names)
    outs = outs if isinstance(outs, tuple) else (outs,)
    out_infos = []
    for i, (o, t) in enumerate(zip(outs, types)):
        if o is None:
            continue
        y = b.reserve(f"y{i}")
        b.op("Identity", o, out_names=[y])
        out_infos.append(value_info(y, t.dtype, t.shape))
    in_infos = [value_info(n, a.dtype, a.shape) for n, a in zip(names, inputs)]
    return make_model(b, in_infos, out_infos, name=op_name)


_NEWEST = None


def newest_opset() -> int:
    """The newest opset that both the installed onnx and onnxruntime accept (probed once
    with a one-node model, since onnxruntime publishes no such number)."""
    global _NEWEST
    if _NEWEST is None:
        import onnx
        import onnxruntime as ort
        for opset in range(onnx.defs.onnx_opset_version(), MIN_OPSET - 1, -1):
            b = OnnxBuilder(opset)
            b.op("Identity", "x", out_names=["y"])
            model = make_model(b, [value_info("x", "float32", [1])],
                               [value_info("y", "float32", [1])])
            try:
                ort.InferenceSession(model.SerializeToString(),
                                     providers=["CPUExecutionProvider"])
            except Exception:  # noqa: BLE001 - any refusal means "too new"
                continue
            _NEWEST = opset
            break
        else:
            raise RuntimeError("onnxruntime accepts no opset >= 13")
    return _NEWEST
