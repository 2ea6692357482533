"""Elementwise floor, ceil, round (half to even), sign, sin, cos, mod and power
(``keras.ops.floor``, ...). The step functions have a zero gradient almost everywhere.

>>> import numpy as np
>>> from graphc import ops
>>> ops.round(np.array([0.5, 1.5, -2.5], "float32")).tolist()
[0.0, 2.0, -2.0]
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import broadcast_shapes, unbroadcast

__all__ = ["floor", "ceil", "round", "sign", "sin", "cos", "mod", "power"]


class _Elementwise(Op):
    onnx_type = ""
    fn = staticmethod(np.floor)
    floats_only = True

    def infer(self, attrs, x):
        if self.floats_only and np.dtype(x.dtype).kind != "f":
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.asarray(self.fn(x)).astype(x.dtype, copy=False)

    def lower(self, attrs, b, x):
        return b.op(self.onnx_type, x)


class _Step(_Elementwise):
    vjp_reads_inputs = False

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (np.zeros_like(gys[0]),)


class Floor(_Step):
    name, onnx_type, fn = "floor", "Floor", staticmethod(np.floor)


class Ceil(_Step):
    name, onnx_type, fn = "ceil", "Ceil", staticmethod(np.ceil)


class Round(_Step):
    name, onnx_type, fn = "round", "Round", staticmethod(np.round)


class Sign(_Step):
    name, onnx_type, fn = "sign", "Sign", staticmethod(np.sign)
    floats_only = False


class Sin(_Elementwise):
    name, onnx_type, fn = "sin", "Sin", staticmethod(np.sin)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0] * np.cos(xs[0]),)


class Cos(_Elementwise):
    name, onnx_type, fn = "cos", "Cos", staticmethod(np.cos)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (-gys[0] * np.sin(xs[0]),)


def floor(x):
    return apply("floor", [x])


def ceil(x):
    return apply("ceil", [x])


def round(x, decimals=0):  # noqa: A001  (keras.ops.round)
    if decimals:
        raise NotImplementedError("round supports decimals=0")
    return apply("round", [x])


def sign(x):
    return apply("sign", [x])


def sin(x):
    return apply("sin", [x])


def cos(x):
    return apply("cos", [x])


# ---- binary: mod and power -------------------------------------------------------------
class Mod(Op):
    """Remainder, broadcast: ``fmod=False`` takes the divisor's sign (``np.mod``, Python's
    ``%``), ``fmod=True`` the dividend's (``np.fmod``, C's). Gradients: 1 for the
    dividend, ``-floor(a / b)`` (or the truncated quotient) for the divisor."""

    name = "mod"

    def infer(self, attrs, a, b):
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        return TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)

    def kernel(self, attrs, a, b, *, ctx):
        fn = np.fmod if attrs.get("fmod", False) else np.mod
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(fn(a, b)).astype(a.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        q = np.trunc(a / b) if attrs.get("fmod", False) else np.floor(a / b)
        return (
            unbroadcast(g, a.shape) if needs[0] else None,
            unbroadcast(-g * q, b.shape) if needs[1] else None,
        )

    def lower(self, attrs, b, x, y):
        fmod = bool(attrs.get("fmod", False))
        if not fmod and b.in_types[0].dtype.startswith("float") and b.opset < 28:
            # a float Mod with the divisor's sign needs opset 28: x - y * floor(x / y)
            return b.op("Sub", x, b.op("Mul", y, b.op("Floor", b.op("Div", x, y))))
        return b.op("Mod", x, y, fmod=int(fmod))


class Power(Op):
    """``a ** b``, broadcast, in ``a``'s dtype (ONNX ``Pow``)."""

    name = "power"

    def infer(self, attrs, a, b):
        return TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)

    def kernel(self, attrs, a, b, *, ctx):
        if a.dtype.kind in "iu":
            return np.power(a, b.astype(a.dtype)).astype(a.dtype, copy=False)
        return np.power(a, b.astype(a.dtype, copy=False)).astype(a.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        ga = gb = None
        if needs[0]:
            ga = unbroadcast(g * b * np.power(a, b - 1), a.shape).astype(a.dtype)
        if needs[1] and b.dtype.kind == "f":
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = unbroadcast(
                    g * np.power(a, b) * np.log(np.where(a > 0, a, 1)), b.shape
                ).astype(b.dtype)
        return ga, gb

    def lower(self, attrs, b, x, y):
        return b.op("Pow", x, y)


def mod(x1, x2):
    """``keras.ops.mod``: the remainder with the divisor's sign."""
    return apply("mod", [x1, x2])


def power(x1, x2):
    """``keras.ops.power``."""
    return apply("power", [x1, x2])
