"""The emitter behind every ``LoweringContext``: ONNX nodes and initializers with
unique names, and the helpers that wrap them into a ``ModelProto``.

Lowering rules see only ``graphc.ops.lowering.LoweringContext``; this module is the one
place that touches protobuf. ``onnx`` is imported only when an export or a test actually
builds a model, so ``import graphc`` stays fast.
"""

from __future__ import annotations

import operator

import numpy as np

from graphc.ir import TensorType
from graphc.ops.lowering import ONNX_DTYPES, LoweringContext, onnx_dtype
from graphc.ops.registry import get_op

__all__ = [
    "OnnxBuilder",
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "value_info",
    "make_model",
    "one_node_model",
    "newest_opset",
    "ir_version_for",
    "lowering_context",
    "onnx_dtype",
]

DEFAULT_OPSET = 18
MIN_OPSET = 13


class OnnxBuilder:
    """Collects NodeProtos and initializers with unique names (an ``Emitter``)."""

    def __init__(self, opset: int = DEFAULT_OPSET):
        import onnx.helper  # noqa: F401  (fail here, not half-way through a lowering)

        self.opset = int(opset)
        self.nodes: list = []
        self.initializers: list = []
        #: ``(op_type, inputs, outputs)`` of each node ``op`` made and the name of each
        #: initializer, as Python strings: the exporter's sweeps read these, as reading a
        #: NodeProto's fields back from Python costs about as much as making it. They
        #: describe ``nodes`` and ``initializers`` until someone edits those (the exporter
        #: knows when its passes did).
        self.records: list = []
        self.initializer_names: list = []
        self._used: set[str] = set()
        # base -> the suffix ``fresh`` gave it last: names are never freed, so every
        # smaller one is taken and the search starts there (a layer emitting thousands of
        # ``<layer>/const`` would otherwise rescan them all: quadratic).
        self._last: dict[str, int] = {}
        # With ``in_place()``: the ModelProto the nodes and initializers are made in.
        self._model = None
        self._node_field = self._initializer_field = None

    def in_place(self) -> "OnnxBuilder":
        """Make nodes and initializers inside the ModelProto that ``make_model`` returns
        (``nodes`` and ``initializers`` list them as they are kept there), so that
        ``make_model`` copies none of them unless the lists were edited. Returns self."""
        from onnx import ModelProto

        self._model = ModelProto()
        self._node_field = self._model.graph.node
        self._initializer_field = self._model.graph.initializer
        return self

    def fresh(self, base: str) -> str:
        base = base or "t"
        used = self._used
        k = self._last.get(base)
        if k is None and base not in used:  # a new base, free as it is (most calls)
            used.add(base)
            self._last[base] = 0
            return base
        k = k or 0
        name = f"{base}_{k}" if k else base
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        self._last[base] = k
        return name

    def fresh_names(self, bases: list) -> list:
        """``[self.fresh(base) for base in bases]``; in one step when the bases differ and
        none is taken (a model's weights, named by their layer paths)."""
        used = self._used
        if "" not in bases and len(set(bases)) == len(bases) and used.isdisjoint(bases):
            used.update(bases)
            self._last.update(dict.fromkeys(bases, 0))
            return list(bases)
        return [self.fresh(base) for base in bases]

    def reserve(self, name: str) -> str:
        """Claim an exact name (graph inputs and outputs)."""
        if name in self._used:
            raise ValueError(f"ONNX tensor name {name!r} is used twice")
        self._used.add(name)
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, out_names=None, where="", **attrs):
        """Append one node; returns its output name (or a list when ``outputs > 1``).
        ``where`` (a layer path) prefixes the names, so they say which layer made them."""
        return self._emit(op_type, inputs, outputs, out_names, where, attrs)

    def _emit(self, op_type: str, inputs, outputs: int, out_names, where: str, attrs: dict):
        """``op`` with its arguments as they are (what a node's lowering context calls)."""
        base = f"{where}/{op_type}" if where else op_type
        fresh = self.fresh
        if out_names:
            outs = list(out_names)
        elif outputs == 1:
            outs = [fresh(base)]
        else:
            outs = [fresh(f"{base}:{i}") for i in range(outputs)]
        self.nodes.append(
            _make_node(op_type, inputs, outs, fresh(base + ".node"), attrs, self._node_field)
        )
        self.records.append((op_type, inputs, outs))
        return outs[0] if outputs == 1 else outs

    def const(self, array, name: str | None = None, where: str = "") -> str:
        arr = np.asarray(array)
        n = self.fresh(name or (f"{where}/const" if where else "const"))
        self.initializers.append(tensor_proto(arr, n, self._initializer_field))
        self.initializer_names.append(n)
        return n

    def subgraph(self, graph, inputs, outputs, name: str):
        """A ``GraphProto`` lowered from the IR ``graph`` (a control-flow op's body; see
        ``LoweringContext.subgraph``): names come from this builder's table, so they are
        unique in the whole model, and the body's constants are its own initializers."""
        from onnx import helper

        child = OnnxBuilder.__new__(OnnxBuilder)
        child.opset, child.nodes, child.initializers = self.opset, [], []
        child.records, child.initializer_names = [], []
        child._model = child._node_field = child._initializer_field = None
        child._used, child._last = self._used, self._last  # one name table
        tensor_of = {v: child.fresh(v.ir_name) for v in inputs}
        lower_nodes(child, graph, tensor_of)
        out_names = []
        for v in outputs:
            out = child.fresh(f"{name}/out")
            child.op("Identity", tensor_of[v], out_names=[out], where=name)
            out_names.append(out)
        return helper.make_graph(
            child.nodes,
            name,
            [value_info(tensor_of[v], v.dtype, v.shape) for v in inputs],
            [value_info(n, v.dtype, v.shape) for n, v in zip(out_names, outputs)],
            child.initializers,
        )


def _where(scope) -> str:
    return scope[0][0].name if len(scope) == 1 else "/".join([layer.name for layer, _ in scope])


def lower_nodes(b: "OnnxBuilder", graph, tensor_of: dict) -> None:
    """Lower a body graph's nodes into ``b`` in inference form (as the export passes give
    the outer graph: a ``training_only`` op is its input, ``training_attrs`` are dropped).
    ``tensor_of`` maps the graph inputs to names and receives every output's name;
    parameters and constants become initializers."""
    for node in graph.nodes:
        op = get_op(node.op)
        for v in node.inputs:
            if v not in tensor_of:
                if v.kind not in ("param", "const"):
                    raise ValueError(f"{node.where()}: reads {v.ir_name!r}, which the body lacks")
                tensor_of[v] = b.const(np.asarray(v.data), v.ir_name)
        ins = [tensor_of[v] for v in node.inputs]
        if op.training_only:
            tensor_of[node.outputs[0]] = ins[0]
            continue
        attrs = node.attrs
        outputs = node.outputs
        if any(a in attrs for a in op.training_attrs):
            attrs = {k: a for k, a in attrs.items() if k not in op.training_attrs}
            outputs = outputs[: op.n_outputs]
        ctx = lowering_context(
            b, [v.type for v in node.inputs], [v.type for v in outputs], where=_where(node.scope)
        )
        outs = op.lower(attrs, ctx, *ins)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        for v, t in zip(outputs, outs):
            if t is not None:
                tensor_of[v] = t


# ---- fast paths for what onnx.helper makes per node ----------------------------------------
# ``helper.make_node`` builds every attribute anew in Python (a Gemm's four cost more than
# the rest of its lowering); nodes of one op type with the same plain attributes are
# copies of one template. The result is the same NodeProto, field for field.
_TEMPLATES: dict = {}
_PLAIN_SCALARS = (int, float, str)


def _attr_key(attrs: dict):
    """A hashable key telling ``attrs`` apart exactly (types included: ``1``, ``1.0`` and
    ``True`` make different attributes), or None when a value is not plain data."""
    key = []
    for name in sorted(attrs):
        value = attrs[name]
        t = type(value)
        if t in _PLAIN_SCALARS:
            key.append((name, t, value))
        elif t in (tuple, list) and value:
            kinds = {type(x) for x in value}
            if len(kinds) != 1 or next(iter(kinds)) not in _PLAIN_SCALARS:
                return None
            key.append((name, tuple, next(iter(kinds)), tuple(value)))
        elif value is None:
            continue  # make_node leaves None attributes out
        else:
            return None  # arrays, tensors, graphs, empty lists: made each time
    return tuple(key)


#: ``onnx``'s classes and helpers, imported by the first export (an import statement in a
#: per-node function costs more than the rest of it for a Gemm).
_ONNX: dict = {}


def _onnx():
    global _NodeProto
    if not _ONNX:
        from onnx import NodeProto, TensorProto, helper, numpy_helper

        _ONNX.update(
            NodeProto=NodeProto, TensorProto=TensorProto, helper=helper, numpy_helper=numpy_helper
        )
        _NodeProto = NodeProto
    return _ONNX


def _NodeProto():  # replaced by onnx's class itself on first use
    return _onnx()["NodeProto"]()


#: The same templates keyed by ``(op_type, *names, *values, *their types)`` as given, for
#: attributes that are all scalars (a tuple's elements' types would not be in the key):
#: one lookup per node instead of ``_attr_key``'s walk.
_SCALAR_TEMPLATES: dict = {}
_SCALAR_TYPES = frozenset((int, float, str, type(None)))


def _make_node(op_type: str, inputs, outputs, name: str, attrs: dict, field=None):
    """``onnx.helper.make_node(op_type, inputs, outputs, name=name, **attrs)``, made as
    a new element of the repeated field ``field`` when given."""
    if attrs:
        # One flat tuple (the names, the values, their types): no inner tuples to make,
        # hash and compare element by element on each lookup.
        values = attrs.values()
        fast = (op_type, *attrs, *values, *map(type, values))
        try:
            template = _SCALAR_TEMPLATES.get(fast)
        except TypeError:  # an unhashable value (a list, an array)
            template = fast = None
        if template is None:
            plain = _attr_key(attrs)
            if plain is None:
                node = _onnx()["helper"].make_node(
                    op_type, list(inputs), list(outputs), name=name, **attrs
                )
                if field is None:
                    return node
                field.append(node)  # a copy: the element is field[-1]
                return field[-1]
            key = (op_type, plain)
            template = _TEMPLATES.get(key)
            if template is None:
                template = _onnx()["helper"].make_node(op_type, [], [], **attrs)
                if len(_TEMPLATES) < 10_000:
                    _TEMPLATES[key] = template
            if (
                fast is not None
                and _SCALAR_TYPES.issuperset(fast[1 + 2 * len(attrs) :])
                and len(_SCALAR_TEMPLATES) < 10_000
            ):
                _SCALAR_TEMPLATES[fast] = template
    else:
        template = _TEMPLATES.get(op_type)
        if template is None:
            template = _onnx()["helper"].make_node(op_type, [], [])
            if len(_TEMPLATES) < 10_000:
                _TEMPLATES[op_type] = template
    node = _NodeProto() if field is None else field.add()
    node.CopyFrom(template)
    node.input.extend(inputs)
    node.output.extend(outputs)
    if name:
        node.name = name
    return node


#: NumPy dtypes whose TensorProto is dims, data_type and the raw little-endian bytes.
_RAW_TYPES: dict = {}


def _raw_types() -> dict:
    """``_RAW_TYPES``, filled on first use."""
    if not _RAW_TYPES:
        import sys

        if sys.byteorder == "little":
            for dtype_name, code in ONNX_DTYPES.items():
                _RAW_TYPES[np.dtype(dtype_name)] = code
        _RAW_TYPES[None] = None  # filled: native order is not little-endian
    return _RAW_TYPES


def tensor_proto(array: np.ndarray, name: str, field=None):
    """``onnx.numpy_helper.from_array(array, name)``, without its per-call dtype lookups
    for the plain numeric dtypes (the same TensorProto, field for field); made as a new
    element of the repeated field ``field`` when given."""
    code = (_RAW_TYPES or _raw_types()).get(array.dtype)
    if code is None:
        t = _onnx()["numpy_helper"].from_array(array, name)
        if field is None:
            return t
        field.append(t)  # a copy: the element is field[-1]
        return field[-1]
    t = (_ONNX or _onnx())["TensorProto"]() if field is None else field.add()
    t.dims.extend(array.shape)
    if name:
        t.name = name
    t.data_type = code
    t.raw_data = array.tobytes()
    return t


def _varint(n: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative int."""
    if n < 0x80:
        return _SMALL_VARINTS[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_VARINTS = [bytes((i,)) for i in range(0x80)]
#: ``add_initializers`` writes the wire format up to this many bytes of weights: beyond,
#: the bytes are copied once more than field by field, which then costs little anyway
#: (and protobuf reads no message of 2 GiB).
_WIRE_BYTES = 64 * 2**20


def add_initializers(builder: OnnxBuilder, arrays: list, names: list) -> None:
    """``builder.const``'s TensorProtos of ``arrays`` named ``names``, appended to the
    builder's initializers: what ``tensor_proto`` makes of each, field for field. Built
    in place (``in_place``) with the plain numeric dtypes, the tensors are written as
    protobuf's wire format (dims, data_type, name, raw_data) and read in one call, as
    setting each field from Python costs more (a 5,000-layer Dense chain has 10,000)."""
    builder.initializer_names.extend(names)
    field = builder._initializer_field
    parts: list | None = None
    if field is not None and sum([a.nbytes for a in arrays]) <= _WIRE_BYTES:
        raw_types = _RAW_TYPES or _raw_types()
        # (dtype, shape, name length) -> the tensor's bytes before its name and between
        # its name and raw data: a model's weights come in a few such frames.
        frames: dict = {}
        parts = []
        extend = parts.extend
        for a, name in zip(arrays, names):
            encoded = name.encode()
            key = (a.dtype, a.shape, len(encoded))
            frame = frames.get(key)
            if frame is None:
                code = raw_types.get(a.dtype)
                if code is None:
                    parts = None
                    break
                frame = frames[key] = _tensor_frame(a.shape, code, len(encoded), a.nbytes)
            extend((frame[0], encoded, frame[1], a.tobytes()))
    if parts is None:
        builder.initializers.extend([tensor_proto(a, n, field) for a, n in zip(arrays, names)])
        return
    start = len(field)
    builder._model.graph.MergeFromString(b"".join(parts))
    builder.initializers.extend(field[start:])


def _tensor_frame(shape: tuple, code: int, n_name: int, n_raw: int) -> tuple:
    """A raw-data TensorProto as a GraphProto initializer (field 5, then its length),
    around its name and raw data: the bytes before the name and those between the name
    and the data. TensorProto: dims = 1 (int64, one varint each), data_type = 2, name =
    8, raw_data = 9; ``tensor_proto`` sets the name only when not empty."""
    head = b"".join([b"\x08" + _varint(d) for d in shape]) + b"\x10" + _varint(code)
    name_field = b"\x42" + _varint(n_name) if n_name else b""
    raw_field = b"\x4a" + _varint(n_raw)
    size = len(head) + len(name_field) + n_name + len(raw_field) + n_raw
    return b"\x2a" + _varint(size) + head + name_field, raw_field


def lowering_context(
    builder: OnnxBuilder, in_types, out_types, where: str = "", float_dtype: str | None = None
) -> LoweringContext:
    """The context one node is lowered in; the float dtype is the first float type among
    its inputs and outputs (float32 when there is none)."""
    in_types, out_types = tuple(in_types), tuple(out_types)
    if float_dtype is None:
        float_dtype = "float32"
        for t in in_types + out_types:
            if t[1].startswith("float"):
                float_dtype = t[1]
                break
    # LoweringContext(...) spelled out: the frozen dataclass's __init__ sets each field
    # through object.__setattr__, a cost paid per node of the graph.
    ctx = _new_context(LoweringContext)
    ctx.__dict__.update(
        emitter=builder,
        opset=builder.opset,
        in_types=in_types,
        out_types=out_types,
        float_dtype=float_dtype,
        where=where,
    )
    return ctx


_new_context = object.__new__


class NodeLoweringContext(LoweringContext):
    """The ``LoweringContext`` the exporter lowers one graph node in: ``in_types`` and
    ``out_types`` are made from the node's values (``_values``: inputs, outputs) when
    first read, since most lowerings never read them."""

    def op(
        self,
        op_type: str,
        *inputs: str,
        outputs: int = 1,
        out_names=None,
        **attrs,
    ):
        """``LoweringContext.op``, straight to the builder (no second argument packing)."""
        d = self.__dict__
        return d["emitter"]._emit(op_type, inputs, outputs, out_names, d["where"], attrs)

    def __getattr__(self, name: str):
        # Called only when the instance lacks ``name``: the types, not made yet.
        if name in ("in_types", "out_types"):
            d = self.__dict__
            values = d.get("_values")
            if values is not None:
                new = tuple.__new__
                d["in_types"] = tuple([new(TensorType, (v.shape, v.dtype)) for v in values[0]])
                d["out_types"] = tuple([new(TensorType, (v.shape, v.dtype)) for v in values[1]])
                return d[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def value_info(name: str, dtype, shape):
    """A ValueInfoProto; ``None`` dims become anonymous, strings symbolic."""
    from onnx import helper

    dims = [d if d is None or isinstance(d, str) else int(d) for d in shape]
    return helper.make_tensor_value_info(name, onnx_dtype(dtype), dims)


def make_model(builder: OnnxBuilder, inputs, outputs, name: str = "graphc"):
    """Wrap the builder's nodes into a ModelProto; inputs/outputs are ValueInfoProtos."""
    from onnx import helper

    from graphc.version import __version__

    model = builder._model
    if model is None:
        graph = helper.make_graph(builder.nodes, name, inputs, outputs, builder.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", builder.opset)],
            producer_name="graphc",
            producer_version=__version__,
        )
        model.ir_version = ir_version_for(builder.opset)
        return model
    # Built in place (``in_place``): what make_graph and make_model set, without their
    # copies of every node and initializer. The fields are the lists unless a pass
    # edited the lists (removed, reordered or added entries): then they are refilled.
    builder._model = None
    graph = model.graph
    for field, wanted in (
        (graph.node, builder.nodes),
        (graph.initializer, builder.initializers),
    ):
        if len(field) != len(wanted) or not all(map(operator.is_, field, wanted)):
            wanted = list(wanted)
            del field[:]  # the removed elements live on as copies while referenced
            field.extend(wanted)
    graph.name = name
    graph.input.extend(inputs)
    graph.output.extend(outputs)
    model.ir_version = ir_version_for(builder.opset)
    model.opset_import.append(helper.make_opsetid("", builder.opset))
    model.producer_name = "graphc"
    model.producer_version = __version__
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
    op = get_op(op_name)
    b = OnnxBuilder(opset)
    names = [b.reserve(f"x{i}") for i in range(len(inputs))]
    in_types = [TensorType(a.shape, a.dtype) for a in inputs]
    types = op.infer(attrs, *in_types)
    types = (types,) if isinstance(types, TensorType) else types
    float_dtype = next((str(a.dtype) for a in inputs if a.dtype.kind == "f"), "float32")
    outs = op.lower(attrs, lowering_context(b, in_types, types, float_dtype=float_dtype), *names)
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
            model = make_model(
                b, [value_info("x", "float32", [1])], [value_info("y", "float32", [1])]
            )
            try:
                ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            except Exception:  # noqa: BLE001 - any refusal means "too new"
                continue
            _NEWEST = opset
            break
        else:
            raise RuntimeError("onnxruntime accepts no opset >= 13")
    return _NEWEST
