"""Elementwise floor, ceil, round (half to even), sign, sin and cos
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

__all__ = ["floor", "ceil", "round", "sign", "sin", "cos"]


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
