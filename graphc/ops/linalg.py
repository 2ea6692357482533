"""Linear algebra ops."""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops._registry import Op
from graphc.ops._shapes import broadcast_shapes, dims_compatible, unbroadcast


class MatMul(Op):
    """NumPy ``matmul``: ``(..., n, k) @ (..., k, m)``, batch dims broadcast; a 1-D
    operand is not supported (layers always pass rank >= 2)."""

    name = "matmul"
    vjp_takes_needs_and_out = True

    def infer(self, attrs, a, b):
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        if len(a.shape) < 2 or len(b.shape) < 2:
            raise ShapeError(f"both operands need rank >= 2, got {format_shape(a.shape)} "
                             f"and {format_shape(b.shape)}")
        if not dims_compatible(a.shape[-1], b.shape[-2]):
            raise ShapeError(f"inner dimensions differ, got {format_shape(a.shape)} and "
                             f"{format_shape(b.shape)}")
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return TensorType(batch + (a.shape[-2], b.shape[-1]), a.dtype)

    def kernel(self, attrs, a, b):
        return np.matmul(a, b)

    def vjp(self, attrs, xs, ys, gys, needs=(True, True), out=(None, None)):
        a, b = xs
        g = gys[0]
        ga = gb = None
        if b.ndim == 2:
            # The common Dense case: fold all leading dims into one GEMM per gradient,
            # written straight into the gradient buffer when the executor gives one.
            if needs[0]:
                ga = np.matmul(g, b.T)
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
