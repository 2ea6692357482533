"""Elementwise math and the max reduction, as ``keras.ops`` names them: ``log``, ``sqrt``,
``abs``, ``square``, ``clip`` and ``max``. With them a custom loss or regularizer written
with ``graphc.ops`` (crossentropies, hinge losses, cosine similarity...) is recorded and
differentiated like model code.

>>> import numpy as np
>>> from graphc import ops
>>> ops.clip(np.array([-1.0, 0.5, 2.0], dtype="float32"), 0.0, 1.0)
array([0. , 0.5, 1. ], dtype=float32)
>>> ops.max(np.array([[1.0, 3.0], [2.0, 0.0]], dtype="float32"), axis=-1)
array([3., 2.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.arrays import _axes, _axis_attr, _Reduce
from graphc.ops.registry import Op, apply

__all__ = ["abs", "absolute", "clip", "log", "max", "sqrt", "square"]


class _FloatUnary(Op):
    # The kernels and VJPs take ``ctx``/``needs``/``out`` as optional keywords, so they
    # fit the executor whether or not it passes them.
    def infer(self, attrs, x):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        return TensorType(x.shape, x.dtype)


class Log(_FloatUnary):
    """Natural logarithm; ``log(0) = -inf`` and negative inputs give NaN, as NumPy."""

    name = "log"

    def kernel(self, attrs, x, *, ctx):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (gys[0] / xs[0],)

    def lower(self, attrs, b, x):
        return b.op("Log", x)


class Sqrt(_FloatUnary):
    name = "sqrt"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def kernel(self, attrs, x, *, ctx):
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        y = ys[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            return (gys[0] * (y.dtype.type(0.5) / y),)

    def lower(self, attrs, b, x):
        return b.op("Sqrt", x)


class Abs(_FloatUnary):
    """``|x|``; its gradient is ``sign(x)``, 0 at 0 (as TensorFlow and torch give it)."""

    name = "abs"

    def kernel(self, attrs, x, *, ctx):
        return np.abs(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0] * np.sign(xs[0]),)

    def lower(self, attrs, b, x):
        return b.op("Abs", x)


class Square(_FloatUnary):
    name = "square"

    def kernel(self, attrs, x, *, ctx):
        return x * x

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        return (gys[0] * (x.dtype.type(2) * x),)

    def lower(self, attrs, b, x):
        return b.op("Mul", x, x)


class Clip(_FloatUnary):
    """``min(max(x, x_min), x_max)``. The gradient passes where ``x_min <= x <= x_max``
    (bounds included, as the losses' hand-written Jacobians take it) and is 0 outside."""

    name = "clip"

    def kernel(self, attrs, x, *, ctx):
        dt = x.dtype.type
        return np.clip(x, dt(attrs["min"]), dt(attrs["max"]))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        dt = x.dtype.type
        inside = (x >= dt(attrs["min"])) & (x <= dt(attrs["max"]))
        return (gys[0] * inside,)

    def lower(self, attrs, b, x):
        # ONNX Clip takes its bounds as inputs (opset >= 11), in the input's dtype.
        dtype = b.in_types[0].dtype
        lo = b.const(np.asarray(attrs["min"], dtype=dtype))
        hi = b.const(np.asarray(attrs["max"], dtype=dtype))
        return b.op("Clip", x, lo, hi)


class Max(_Reduce):
    """``np.max(x, axis, keepdims)``; ``axis`` is None (all axes) or a tuple. Tied
    maxima share the gradient equally (TensorFlow's ``reduce_max`` rule)."""

    name, onnx_type = "max", "ReduceMax"
    vjp_reads_outputs = True

    def kernel(self, attrs, x, *, ctx):
        axes = _axes(attrs.get("axis"), x.ndim)
        keep = attrs.get("keepdims", False)
        if x.size == 0:  # the maximum of an empty set is -inf (ONNX's ReduceMax)
            return np.asarray(np.max(x, axis=axes, keepdims=keep, initial=-np.inf))
        return np.asarray(np.max(x, axis=axes, keepdims=keep))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        y, axes = self._spread(attrs, x, ys[0])
        g, _ = self._spread(attrs, x, gys[0])
        ties = x == y
        count = ties.sum(axis=axes, keepdims=True).astype(x.dtype)
        return (g * ties / count,)


def log(x):
    """``keras.ops.log``: the natural logarithm, elementwise."""
    return apply("log", [x])


def sqrt(x):
    """``keras.ops.sqrt``, elementwise."""
    return apply("sqrt", [x])


def abs(x):  # noqa: A001  (keras.ops.abs)
    """``keras.ops.abs``: ``|x|`` elementwise."""
    return apply("abs", [x])


absolute = abs


def square(x):
    """``keras.ops.square``: ``x * x`` elementwise."""
    return apply("square", [x])


def clip(x, x_min, x_max):
    """``keras.ops.clip``: ``x`` limited to ``[x_min, x_max]`` (two numbers)."""
    for what, v in (("x_min", x_min), ("x_max", x_max)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"clip takes numbers as bounds; received {what}={v!r} "
                f"({type(v).__name__}). Use ops.maximum/ops.minimum for "
                "tensor bounds."
            )
    return apply("clip", [x], min=float(x_min), max=float(x_max))


def max(x, axis=None, keepdims=False):  # noqa: A001  (keras.ops.max)
    """``keras.ops.max``: the largest entry over ``axis`` (an int, a tuple, or None)."""
    return apply("max", [x], axis=_axis_attr(axis), keepdims=bool(keepdims))
