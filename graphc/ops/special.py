"""Elementwise functions beyond the basic ones (``keras.ops.tan``, ``sinh``, ``arccos``,
..., ``erf``, ``isnan``, ``isinf``) and a constant anchored to a tensor
(``constant_like``: what an imported ONNX graph computes from constants alone).

>>> import numpy as np
>>> from graphc import ops
>>> ops.arctan(np.array([0.0, 1.0])).round(4).tolist()
[0.0, 0.7854]
"""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply

__all__ = [
    "tan",
    "sinh",
    "cosh",
    "arcsin",
    "arccos",
    "arctan",
    "arcsinh",
    "arccosh",
    "arctanh",
    "erf",
    "isnan",
    "isinf",
    "constant_like",
    "det",
]


class _Float(Op):
    onnx_type = ""

    def infer(self, attrs, x):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        return TensorType(x.shape, x.dtype)

    def f(self, x):
        raise NotImplementedError

    def df(self, x):
        raise NotImplementedError

    def kernel(self, attrs, x, *, ctx):
        return np.asarray(self.f(x)).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        return ((gys[0] * self.df(x)).astype(x.dtype, copy=False),)

    def lower(self, attrs, b, x):
        return b.op(self.onnx_type, x)


class Tan(_Float):
    name, onnx_type = "tan", "Tan"
    f = staticmethod(np.tan)

    def df(self, x):
        return 1 + np.tan(x) ** 2


class Sinh(_Float):
    name, onnx_type = "sinh", "Sinh"
    f = staticmethod(np.sinh)
    df = staticmethod(np.cosh)


class Cosh(_Float):
    name, onnx_type = "cosh", "Cosh"
    f = staticmethod(np.cosh)
    df = staticmethod(np.sinh)


class Arcsin(_Float):
    name, onnx_type = "arcsin", "Asin"
    f = staticmethod(np.arcsin)

    def df(self, x):
        return 1 / np.sqrt(1 - x * x)


class Arccos(_Float):
    name, onnx_type = "arccos", "Acos"
    f = staticmethod(np.arccos)

    def df(self, x):
        return -1 / np.sqrt(1 - x * x)


class Arctan(_Float):
    name, onnx_type = "arctan", "Atan"
    f = staticmethod(np.arctan)

    def df(self, x):
        return 1 / (1 + x * x)


class Arcsinh(_Float):
    name, onnx_type = "arcsinh", "Asinh"
    f = staticmethod(np.arcsinh)

    def df(self, x):
        return 1 / np.sqrt(x * x + 1)


class Arccosh(_Float):
    name, onnx_type = "arccosh", "Acosh"
    f = staticmethod(np.arccosh)

    def df(self, x):
        return 1 / np.sqrt(x * x - 1)


class Arctanh(_Float):
    name, onnx_type = "arctanh", "Atanh"
    f = staticmethod(np.arctanh)

    def df(self, x):
        return 1 / (1 - x * x)


_ERF = np.frompyfunc(math.erf, 1, 1)


class Erf(_Float):
    """The error function, exact (``math.erf`` per element, in float64)."""

    name, onnx_type = "erf", "Erf"

    def f(self, x):
        return _ERF(x.astype(np.float64)).astype(np.float64)

    def df(self, x):
        return 2 / math.sqrt(math.pi) * np.exp(-(x.astype(np.float64) ** 2))


class _Test(Op):
    """A floating-point test, elementwise, to booleans (no gradient)."""

    vjp_reads_inputs = False

    def infer(self, attrs, x):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        return TensorType(x.shape, "bool")

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)


class IsNan(_Test):
    name = "isnan"

    def kernel(self, attrs, x, *, ctx):
        return np.isnan(x)

    def lower(self, attrs, b, x):
        return b.op("IsNaN", x)


class IsInf(_Test):
    """``np.isinf``; ``positive``/``negative`` say which infinities count (ONNX's
    ``detect_positive``/``detect_negative``)."""

    name = "isinf"

    def kernel(self, attrs, x, *, ctx):
        pos, neg = attrs.get("positive", True), attrs.get("negative", True)
        return (np.isposinf(x) & pos) | (np.isneginf(x) & neg)

    def lower(self, attrs, b, x):
        return b.op(
            "IsInf",
            x,
            detect_positive=int(attrs.get("positive", True)),
            detect_negative=int(attrs.get("negative", True)),
        )


class IsFinite(_Test):
    name = "isfinite"

    def kernel(self, attrs, x, *, ctx):
        return np.isfinite(x)

    def lower(self, attrs, b, x):
        return b.op("Not", b.op("Or", b.op("IsNaN", x), b.op("IsInf", x)))


class ConstantLike(Op):
    """A constant (``value``: nested lists, ``dtype``) that a graph computes: its input
    only anchors it in the graph (an ONNX graph's output made of constants alone)."""

    name = "constant_like"
    vjp_reads_inputs = False

    def _value(self, attrs):
        from graphc.ops.masking import NARROW_DTYPES, narrow_dtype

        dt = attrs["dtype"]
        dt = narrow_dtype(dt) if dt in NARROW_DTYPES else np.dtype(dt)
        value = np.asarray(attrs["value"], dtype=np.float64 if dt.kind == "V" else dt)
        return value.reshape(attrs["shape"]).astype(dt)

    def infer(self, attrs, x):
        return TensorType(tuple(attrs["shape"]), attrs["dtype"])

    def kernel(self, attrs, x, *, ctx):
        return self._value(attrs)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("Identity", b.const(self._value(attrs)))


def _unary(name):
    def f(x):
        return apply(name, [x])

    f.__name__ = name
    f.__doc__ = f"``keras.ops.{name}``, elementwise."
    return f


tan = _unary("tan")
sinh = _unary("sinh")
cosh = _unary("cosh")
arcsin = _unary("arcsin")
arccos = _unary("arccos")
arctan = _unary("arctan")
arcsinh = _unary("arcsinh")
arccosh = _unary("arccosh")
arctanh = _unary("arctanh")
erf = _unary("erf")


def isnan(x):
    """``keras.ops.isnan``: a boolean tensor, True where ``x`` is NaN."""
    return apply("isnan", [x])


def isinf(x):
    """``keras.ops.isinf``: a boolean tensor, True where ``x`` is +inf or -inf."""
    return apply("isinf", [x])


def constant_like(value, like):
    """``value`` (an array) as a tensor computed in the graph of ``like``."""
    value = np.asarray(value)
    return apply(
        "constant_like",
        [like],
        value=value.astype(np.float64).tolist() if value.dtype.kind == "V" else value.tolist(),
        dtype=value.dtype.name,
        shape=tuple(value.shape),
    )


class Det(Op):
    """``np.linalg.det`` of the last two (square) dimensions."""

    name = "det"
    vjp_reads_inputs, vjp_reads_outputs = True, True

    def infer(self, attrs, x):
        if len(x.shape) < 2 or not x.dtype.startswith("float"):
            raise ShapeError(f"det takes float matrices (rank >= 2), got {x.shape} {x.dtype}")
        return TensorType(tuple(x.shape[:-2]), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.asarray(np.linalg.det(x)).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, y, g = xs[0], ys[0], gys[0]
        # d det / dX = det * inv(X)^T
        inv_t = np.swapaxes(np.linalg.inv(x), -1, -2)
        return ((g * y)[..., None, None] * inv_t,)

    def lower(self, attrs, b, x):
        return b.op("Det", x)


class NonZero(Op):
    """ONNX ``NonZero``: the indices of the nonzero entries, ``(rank, count)`` int64
    (``np.nonzero`` stacked). No gradient."""

    name = "nonzero"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        return TensorType((len(x.shape), None), "int64")

    def kernel(self, attrs, x, *, ctx):
        return np.asarray(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("NonZero", x)


def det(x):
    """``keras.ops.det``: the determinant of each square matrix in the last two axes."""
    return apply("det", [x])


class BitCast(Op):
    """The same bits read as another dtype of the same width (``x.view(dtype)``, ONNX
    ``BitCast``). No gradient."""

    name = "bitcast"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        if np.dtype(x.dtype).itemsize != np.dtype(attrs["dtype"]).itemsize:
            raise ShapeError(f"bitcast from {x.dtype} to {attrs['dtype']} changes the width")
        return TensorType(x.shape, attrs["dtype"])

    def kernel(self, attrs, x, *, ctx):
        # (np.ascontiguousarray would make a scalar 1-D)
        return (x if x.flags.c_contiguous else x.copy()).view(attrs["dtype"])

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        from graphc.ops.lowering import onnx_dtype

        if b.opset < 26:
            raise NotImplementedError(
                f"bitcast lowers to ONNX BitCast, which needs opset 26 or newer; export "
                f"with a newer opset (asked for {b.opset})"
            )
        return b.op("BitCast", x, to=onnx_dtype(attrs["dtype"]))
