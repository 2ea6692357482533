"""Comparisons, boolean logic and ``where`` (``keras.ops.equal``, ``less``, ...,
``logical_and``, ``where``).

Comparisons broadcast two tensors of one dtype to a boolean tensor; the logical ops take
booleans; ``where(condition, x1, x2)`` picks elementwise and passes the gradient to the
branch it picked. None of the booleans has a gradient.

>>> import numpy as np
>>> from graphc import ops
>>> ops.where(ops.less(np.arange(3.0), 1.5), 1.0, np.zeros(3)).tolist()
[1.0, 1.0, 0.0]
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply, is_symbolic
from graphc.ops.shapes import broadcast_shapes, unbroadcast

__all__ = [
    "equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "where",
]


class _Compare(Op):
    onnx_type = ""
    fn = staticmethod(np.equal)
    vjp_reads_inputs = False

    def infer(self, attrs, a, b):
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        return TensorType(broadcast_shapes(a.shape, b.shape), "bool")

    def kernel(self, attrs, a, b, *, ctx):
        return np.asarray(self.fn(a, b))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return None, None

    def lower(self, attrs, b, x, y):
        return b.op(self.onnx_type, x, y)


class Equal(_Compare):
    name, onnx_type, fn = "equal", "Equal", staticmethod(np.equal)


class Less(_Compare):
    name, onnx_type, fn = "less", "Less", staticmethod(np.less)


class LessEqual(_Compare):
    name, onnx_type, fn = "less_equal", "LessOrEqual", staticmethod(np.less_equal)


class Greater(_Compare):
    name, onnx_type, fn = "greater", "Greater", staticmethod(np.greater)


class GreaterEqual(_Compare):
    name, onnx_type, fn = "greater_equal", "GreaterOrEqual", staticmethod(np.greater_equal)


class _Logical(_Compare):
    def infer(self, attrs, a, b):
        if a.dtype != "bool" or b.dtype != "bool":
            raise ShapeError(f"expected booleans, got dtypes {a.dtype} and {b.dtype}")
        return TensorType(broadcast_shapes(a.shape, b.shape), "bool")


class LogicalAnd(_Logical):
    name, onnx_type, fn = "logical_and", "And", staticmethod(np.logical_and)


class LogicalOr(_Logical):
    name, onnx_type, fn = "logical_or", "Or", staticmethod(np.logical_or)


class LogicalXor(_Logical):
    name, onnx_type, fn = "logical_xor", "Xor", staticmethod(np.logical_xor)


class LogicalNot(Op):
    name = "logical_not"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        if x.dtype != "bool":
            raise ShapeError(f"expected booleans, got dtype {x.dtype}")
        return TensorType(x.shape, "bool")

    def kernel(self, attrs, x, *, ctx):
        return np.logical_not(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("Not", x)


class Where(Op):
    """``np.where(condition, x1, x2)``, broadcast; the gradient goes to the picked
    branch."""

    name = "where"

    def infer(self, attrs, c, x, y):
        if c.dtype != "bool":
            raise ShapeError(f"the condition must be boolean, got dtype {c.dtype}")
        if x.dtype != y.dtype:
            raise ShapeError(f"branches have different dtypes {x.dtype} and {y.dtype}")
        return TensorType(broadcast_shapes(c.shape, broadcast_shapes(x.shape, y.shape)), x.dtype)

    def kernel(self, attrs, c, x, y, *, ctx):
        return np.asarray(np.where(c, x, y))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        c, x, y = xs
        g = gys[0]
        zero = np.zeros((), g.dtype)
        gx = unbroadcast(np.where(c, g, zero), x.shape) if needs[1] else None
        gy = unbroadcast(np.where(c, zero, g), y.shape) if needs[2] else None
        return None, gx, gy

    def lower(self, attrs, b, c, x, y):
        return b.op("Where", c, x, y)


def equal(x1, x2):
    return apply("equal", [x1, x2])


def less(x1, x2):
    return apply("less", [x1, x2])


def less_equal(x1, x2):
    return apply("less_equal", [x1, x2])


def greater(x1, x2):
    return apply("greater", [x1, x2])


def greater_equal(x1, x2):
    return apply("greater_equal", [x1, x2])


def logical_and(x1, x2):
    return apply("logical_and", [x1, x2])


def logical_or(x1, x2):
    return apply("logical_or", [x1, x2])


def logical_xor(x1, x2):
    return apply("logical_xor", [x1, x2])


def logical_not(x):
    return apply("logical_not", [x])


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition``, else ``x2`` (``keras.ops.where``). ``where(condition)``
    alone gives the indices, on arrays only (their number depends on the data)."""
    if x1 is None and x2 is None:
        if is_symbolic(condition):
            raise ValueError(
                "where(condition) with one argument has a data-dependent "
                "shape; it works on arrays only"
            )
        return np.where(np.asarray(condition))
    return apply("where", [condition, x1, x2])
