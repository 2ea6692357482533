"""Bitwise ops on integers (``keras.ops.bitwise_and``, ``bitwise_or``, ``bitwise_xor``,
``bitwise_not``/``bitwise_invert``, ``left_shift``, ``right_shift``). Integers carry no
gradient.

Shifts follow ONNX's ``BitShift``: a shift by a negative amount or by the bit width or
more gives 0 (a right shift of a negative signed integer gives -1); a left shift of a
signed integer wraps as the unsigned one does.

>>> import numpy as np
>>> from graphc import ops
>>> ops.left_shift(np.array([1, 3], np.uint8), np.array([2, 1], np.uint8)).tolist()
[4, 6]
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import broadcast_shapes

__all__ = [
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_invert",
    "left_shift",
    "right_shift",
    "bitwise_left_shift",
    "bitwise_right_shift",
]


def _integer(*types):
    for t in types:
        if np.dtype(t.dtype).kind not in "iub":
            raise ShapeError(f"bitwise ops take integers, got dtype {t.dtype}")
    if len({t.dtype for t in types}) > 1:
        raise ShapeError(f"operands have different dtypes {', '.join(t.dtype for t in types)}")


class _Bitwise(Op):
    onnx_type = ""
    fn = staticmethod(np.bitwise_and)
    vjp_reads_inputs = False

    def infer(self, attrs, a, b):
        _integer(a, b)
        return TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)

    def kernel(self, attrs, a, b, *, ctx):
        return np.asarray(self.fn(a, b))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return None, None  # integers have no gradient

    def lower(self, attrs, b, x, y):
        if b.in_types[0].dtype == "bool":
            logical = {"BitwiseAnd": "And", "BitwiseOr": "Or", "BitwiseXor": "Xor"}
            return b.op(logical[self.onnx_type], x, y)
        if b.opset < 18:
            raise NotImplementedError(
                f"{self.name} lowers to ONNX {self.onnx_type}, which needs opset 18 or "
                f"newer; export with opset>=18 (asked for {b.opset})"
            )
        return b.op(self.onnx_type, x, y)


class BitwiseAnd(_Bitwise):
    name, onnx_type, fn = "bitwise_and", "BitwiseAnd", staticmethod(np.bitwise_and)


class BitwiseOr(_Bitwise):
    name, onnx_type, fn = "bitwise_or", "BitwiseOr", staticmethod(np.bitwise_or)


class BitwiseXor(_Bitwise):
    name, onnx_type, fn = "bitwise_xor", "BitwiseXor", staticmethod(np.bitwise_xor)


class BitwiseNot(Op):
    name = "bitwise_not"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        _integer(x)
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.invert(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        if b.in_types[0].dtype == "bool":
            return b.op("Not", x)
        if b.opset < 18:
            raise NotImplementedError(
                f"bitwise_not lowers to ONNX BitwiseNot, which needs opset 18 or newer; "
                f"export with opset>=18 (asked for {b.opset})"
            )
        return b.op("BitwiseNot", x)


def shift(a, s, left):
    """ONNX's ``BitShift`` on arrays (see the module docstring)."""
    a, s = np.broadcast_arrays(a, s)
    bits = np.iinfo(a.dtype).bits
    valid = (s >= 0) & (s < bits)
    s = np.where(valid, s, 0).astype(a.dtype)
    if left:
        unsigned = np.dtype(f"u{a.dtype.itemsize}")
        y = np.left_shift(a.view(unsigned), s.astype(unsigned)).view(a.dtype)
        return np.where(valid, y, np.zeros((), a.dtype))
    y = np.right_shift(a, s)
    fill = np.where(a < 0, -1, 0).astype(a.dtype) if a.dtype.kind == "i" else 0
    return np.where(valid, y, fill).astype(a.dtype)


class BitShift(Op):
    """``x << s`` (``direction="left"``) or ``x >> s``, broadcast (ONNX ``BitShift``)."""

    name = "bit_shift"
    vjp_reads_inputs = False

    def infer(self, attrs, a, s):
        _integer(a, s)
        if a.dtype == "bool":
            raise ShapeError("bit shifts take integers, got booleans")
        return TensorType(broadcast_shapes(a.shape, s.shape), a.dtype)

    def kernel(self, attrs, a, s, *, ctx):
        return shift(a, s, attrs["direction"] == "left")

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return None, None

    def lower(self, attrs, b, x, s):
        dtype = b.in_types[0].dtype
        if not dtype.startswith("uint"):
            raise NotImplementedError(
                f"bit_shift on {dtype}: ONNX BitShift before opset 28 takes unsigned "
                "integers only; shift unsigned integers to export"
            )
        return b.op("BitShift", x, s, direction=attrs["direction"].upper())


def _pair(name):
    def f(x, y):
        return apply(name, [x, y])

    f.__name__ = name
    f.__doc__ = f"``keras.ops.{name}``: elementwise on integers, broadcast."
    return f


bitwise_and = _pair("bitwise_and")
bitwise_or = _pair("bitwise_or")
bitwise_xor = _pair("bitwise_xor")


def bitwise_not(x):
    """``keras.ops.bitwise_not``: each bit flipped."""
    return apply("bitwise_not", [x])


bitwise_invert = bitwise_not


def left_shift(x, y):
    """``keras.ops.left_shift``: ``x << y`` elementwise."""
    return apply("bit_shift", [x, y], direction="left")


def right_shift(x, y):
    """``keras.ops.right_shift``: ``x >> y`` elementwise."""
    return apply("bit_shift", [x, y], direction="right")


bitwise_left_shift = left_shift
bitwise_right_shift = right_shift


class TruncDivide(Op):
    """Integer division rounding toward zero (ONNX ``Div`` on integers; C's ``/``).
    Integers carry no gradient."""

    name = "trunc_divide"
    vjp_reads_inputs = False

    def infer(self, attrs, a, b):
        _integer(a, b)
        return TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)

    def kernel(self, attrs, a, b, *, ctx):
        if a.dtype.kind == "u":
            return np.floor_divide(a, b)
        q = np.floor_divide(a, b)
        inexact = (q * b != a) & ((a < 0) != (b < 0))
        return np.where(inexact, q + 1, q).astype(a.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return None, None

    def lower(self, attrs, b, x, y):
        return b.op("Div", x, y)
