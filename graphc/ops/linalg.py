"""Linear algebra ops."""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op
from graphc.ops.shapes import broadcast_shapes, dims_compatible, unbroadcast


class MatMul(Op):
    """NumPy ``matmul``: ``(..., n, k) @ (..., k, m)``, batch dims broadcast; a 1-D
    operand is not supported (layers always pass rank >= 2)."""

    name = "matmul"

    def infer(self, attrs, a, b):
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        if len(a.shape) < 2 or len(b.shape) < 2:
            raise ShapeError(
                f"both operands need rank >= 2, got {format_shape(a.shape)} "
                f"and {format_shape(b.shape)}"
            )
        if not dims_compatible(a.shape[-1], b.shape[-2]):
            raise ShapeError(
                f"inner dimensions differ, got {format_shape(a.shape)} and {format_shape(b.shape)}"
            )
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return TensorType(batch + (a.shape[-2], b.shape[-1]), a.dtype)

    def kernel(self, attrs, a, b, *, ctx):
        if a.ndim > 2 and b.ndim == 2:
            # One GEMM over all leading dims: NumPy's stacked matmul calls BLAS per slice,
            # or not at all for some strides.
            return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + b.shape[-1:])
        return np.matmul(a, b)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        ga = gb = None
        if b.ndim == 2:
            # The common Dense case: fold all leading dims into one GEMM per gradient,
            # written straight into the gradient buffer when the executor gives one.
            if needs[0]:
                ga = (g.reshape(-1, g.shape[-1]) @ b.T).reshape(a.shape)
            if needs[1]:
                a2, g2 = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
                gb = np.matmul(a2.T, g2, out=out[1]) if out[1] is not None else a2.T @ g2
            return ga, gb
        if needs[0]:
            ga = unbroadcast(np.matmul(g, np.swapaxes(b, -1, -2)), a.shape)
        if needs[1]:
            gb = unbroadcast(np.matmul(np.swapaxes(a, -1, -2), g), b.shape)
        return ga, gb

    def lower(self, attrs, b, x, y):
        return b.op("MatMul", x, y)


class Gemm(Op):
    """``x @ w + b``: ``(n, k) @ (k, m) + (m,)``, lowered to ONNX ``Gemm``."""

    name = "gemm"  # what passes.export.FuseMatMulAdd makes of a Dense's matmul + add

    def infer(self, attrs, x, w, b):
        if not (x.dtype == w.dtype == b.dtype):
            raise ShapeError(f"operands have different dtypes {x.dtype}, {w.dtype} and {b.dtype}")
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected floating-point operands, got dtype {x.dtype}")
        if len(x.shape) != 2 or len(w.shape) != 2 or len(b.shape) != 1:
            raise ShapeError(
                f"expects a rank-2 input, a 2-D weight and a 1-D bias, got "
                f"{format_shape(x.shape)}, {format_shape(w.shape)} and "
                f"{format_shape(b.shape)}"
            )
        if not dims_compatible(x.shape[1], w.shape[0]):
            raise ShapeError(
                f"inner dimensions differ, got {format_shape(x.shape)} and {format_shape(w.shape)}"
            )
        if not dims_compatible(w.shape[1], b.shape[0]):
            raise ShapeError(
                f"bias {format_shape(b.shape)} does not match the weight's {w.shape[1]} columns"
            )
        return TensorType((x.shape[0], w.shape[1]), x.dtype)

    def kernel(self, attrs, x, w, b, *, ctx):
        return x @ w + b

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, w, _ = xs
        g = gys[0]
        return g @ w.T, x.T @ g, g.sum(axis=0)

    def lower(self, attrs, b, x, w, bias):
        # Every attribute written out: ONNX defaults are not graphc's business to rely on.
        return b.op("Gemm", x, w, bias, alpha=1.0, beta=1.0, transA=0, transB=0)


def norm(x, ord=None, axis=None, keepdims=False):
    """``keras.ops.linalg.norm`` for vector norms (``ord`` None/2, 1, ``inf``, ``-inf``, 0
    or a positive number) over one axis, and the Frobenius norm (``ord`` None or "fro")
    over all of ``x`` or two axes."""
    from graphc.ops import composite as c  # same rank, imported late (composite is larger)
    from graphc.ops.arrays import sum as _sum
    from graphc.ops.numeric import abs as _abs
    from graphc.ops.numeric import max as _max
    from graphc.ops.numeric import sqrt, square

    axes = axis if isinstance(axis, (tuple, list)) else None
    if axes is not None and len(axes) == 2 or axis is None and (ord in (None, "fro")):
        if ord not in (None, "fro"):
            raise NotImplementedError(f"norm: matrix norm ord={ord!r} is not supported yet")
        return sqrt(_sum(square(x), axis=axis, keepdims=keepdims))
    if axes is not None:
        axis = axes[0]
    if ord is None or ord == 2:
        return sqrt(_sum(square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return _sum(_abs(x), axis=axis, keepdims=keepdims)
    if ord == float("inf"):
        return _max(_abs(x), axis=axis, keepdims=keepdims)
    if ord == float("-inf"):
        return c.min(_abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return (
            c.count_nonzero(x, axis=axis)
            if not keepdims
            else _sum(c.cast(c.not_equal(x, 0), c.dtype(x)), axis=axis, keepdims=True)
        )
    p = float(ord)
    return c.power(_sum(c.power(_abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p)
