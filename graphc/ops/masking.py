"""Ops that make and apply Keras masks: ``not_equal``, ``any``, ``cast`` and
``expand_dims``.

A Keras mask is a boolean ``(batch, time)`` tensor computed from the data (Embedding's
``inputs != 0``, Masking's ``any(inputs != mask_value, axis=-1)``), so it is an ordinary
value of the graph: these ops compute it, and the recurrent ops take it as an input.

>>> import numpy as np
>>> from graphc import ops
>>> ops.not_equal(np.array([[3, 0]]), 0)
array([[ True, False]])
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, dtype_name
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import normalize_axis

__all__ = ["not_equal", "any", "cast", "expand_dims"]

_BOOL = 9  # onnx.TensorProto.BOOL
_INT32 = 6


class NotEqual(Op):
    """``x != value`` elementwise (``value`` a number attribute): a boolean tensor."""

    name = "not_equal"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        return TensorType(x.shape, "bool")

    def kernel(self, attrs, x, *, ctx):
        return np.not_equal(x, np.asarray(attrs["value"]).astype(x.dtype))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)  # a comparison has no gradient

    def lower(self, attrs, b, x):
        value = b.const(np.asarray(attrs["value"]).astype(b.in_types[0].dtype))
        return b.op("Not", b.op("Equal", x, value))


class Any(Op):
    """``np.any(x, axis, keepdims)`` of a boolean tensor (one axis)."""

    name = "any"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        if x.dtype != "bool":
            raise ShapeError(f"expects a boolean tensor, got dtype {x.dtype}")
        axis = normalize_axis(attrs["axis"], len(x.shape))
        shape = list(x.shape)
        if attrs.get("keepdims", False):
            shape[axis] = 1
        else:
            del shape[axis]
        return TensorType(tuple(shape), "bool")

    def kernel(self, attrs, x, *, ctx):
        return np.any(x, axis=attrs["axis"], keepdims=bool(attrs.get("keepdims", False)))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        from graphc.ops.arrays import reduce_lowering

        axis = normalize_axis(attrs["axis"], len(b.in_types[0].shape))
        as_int = b.op("Cast", x, to=_INT32)  # ONNX reductions take no booleans
        red = reduce_lowering(b, "ReduceMax", as_int, (axis,), attrs.get("keepdims", False))
        return b.op("Cast", red, to=_BOOL)


#: The narrow dtypes of ONNX (``ml_dtypes`` gives them to NumPy): bfloat16, the float8,
#: float4 and e8m0 formats, and the 4- and 2-bit integers. Only ``cast`` computes on them.
NARROW_DTYPES = (
    "bfloat16",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn",
    "int4",
    "uint4",
    "int2",
    "uint2",
)
_SATURATING = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")


def narrow_dtype(name):
    """The NumPy dtype of a narrow dtype's name (importing ``ml_dtypes`` registers them)."""
    import ml_dtypes  # noqa: F401  (registers bfloat16, float8_*, int4, ... with NumPy)

    return np.dtype(name)


def _to_e8m0(x, saturate, round_mode):
    """float32 -> float8_e8m0fnu (the exponent only), rounding as ONNX's Cast says."""
    bits = np.asarray(x, np.float32).view(np.uint32)
    exponent = ((bits >> 23) & 0xFF).astype(np.uint16)
    special = exponent == 0xFF
    normal = ~special
    if round_mode == "nearest":
        g = (bits & 0x400000) > 0
        r = (bits & 0x200000) > 0
        s = (bits & 0x1FFFFF) > 0
        up = g & (r | s | (exponent > 0)) & normal
    elif round_mode == "up":
        up = ((bits & 0x7FFFFF) > 0) & normal
    elif round_mode == "down":
        up = np.zeros(exponent.shape, bool)
    else:
        raise ValueError(f"round_mode must be 'up', 'down' or 'nearest', got {round_mode!r}")
    if saturate:
        up &= exponent != 0xFE
    exponent = (exponent + up).astype(np.uint8)
    out = np.where(special, np.uint8(0xFF), exponent).astype(np.uint8)
    return out.view(narrow_dtype("float8_e8m0fnu"))


def narrow_cast(x, to, saturate=True, round_mode="up"):
    """``x`` cast to ``to`` where either is a narrow dtype, as ONNX's ``Cast``: to a
    float8 format with ``saturate``, values beyond its range become its largest value."""
    import ml_dtypes

    dt = narrow_dtype(to)
    if x.dtype.name in NARROW_DTYPES and to not in NARROW_DTYPES:
        return x.astype(dt)
    if to in _SATURATING and saturate:
        wide = x.astype(np.float32) if x.dtype.name in NARROW_DTYPES else x
        info = ml_dtypes.finfo(dt)
        return np.clip(wide, info.min, info.max).astype(dt)
    if to == "float8_e8m0fnu":
        return _to_e8m0(x, saturate, round_mode)
    return x.astype(dt)


class Cast(Op):
    """``x.astype(dtype)``. Between float types the gradient is cast back; from booleans
    or integers there is none."""

    name = "cast"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        return TensorType(x.shape, attrs["dtype"])

    def kernel(self, attrs, x, *, ctx):
        to = attrs["dtype"]
        if to in NARROW_DTYPES or x.dtype.name in NARROW_DTYPES:
            return narrow_cast(
                x, to, bool(attrs.get("saturate", True)), attrs.get("round_mode", "up")
            )
        return x.astype(to)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        src = attrs.get("from_dtype")
        if src is None or np.dtype(src).kind != "f":
            return (None,)
        return (gys[0].astype(src),)

    def lower(self, attrs, b, x):
        from graphc.ops.lowering import onnx_dtype

        extra = {}
        if attrs["dtype"] in _SATURATING and b.opset >= 19 and not attrs.get("saturate", True):
            extra["saturate"] = 0
        if attrs["dtype"] == "float8_e8m0fnu" and attrs.get("round_mode", "up") != "up":
            extra["round_mode"] = attrs["round_mode"]
        return b.op("Cast", x, to=onnx_dtype(attrs["dtype"]), **extra)


class ExpandDims(Op):
    """``np.expand_dims(x, axis)``: a new axis of size 1 (ONNX ``Unsqueeze``)."""

    name = "expand_dims"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        axis = normalize_axis(attrs["axis"], len(x.shape) + 1)
        shape = list(x.shape)
        shape.insert(axis, 1)
        return TensorType(tuple(shape), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.expand_dims(x, attrs["axis"])

    def vjp(self, attrs, xs, ys, gys, needs, out):
        g = gys[0]
        return (None if g is None else np.squeeze(g, axis=attrs["axis"]),)

    def lower(self, attrs, b, x):
        axis = normalize_axis(attrs["axis"], len(b.in_types[0].shape) + 1)
        return b.op("Unsqueeze", x, b.const(np.array([axis], dtype=np.int64)))


def not_equal(x, value):
    """``x != value`` with a number ``value``: a boolean tensor (Embedding's mask)."""
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"not_equal compares with a number, received {type(value).__name__}: {value!r}"
        )
    return apply("not_equal", [x], value=value.item() if hasattr(value, "item") else value)


def any(x, axis, keepdims=False):  # noqa: A001  (keras.ops.any)
    """``keras.ops.any`` of a boolean tensor along one axis."""
    return apply("any", [x], axis=int(axis), keepdims=bool(keepdims))


def cast(x, dtype):
    """``keras.ops.cast``: the same values in ``dtype``."""
    dtype = dtype_name(dtype)
    return apply("cast", [x], dtype=dtype, from_dtype=dtype_name(x.dtype))


def expand_dims(x, axis):
    """``keras.ops.expand_dims`` with one integer axis."""
    return apply("expand_dims", [x], axis=int(axis))
