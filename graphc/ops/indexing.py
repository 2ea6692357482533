"""Index ops: ``argmax``/``argmin`` and ``take_along_axis`` (ONNX ``ArgMax``,
``ArgMin``, ``GatherElements``).

>>> import numpy as np
>>> from graphc import ops
>>> ops.argmax(np.array([[1.0, 3.0, 2.0]]), axis=1).tolist()
[1]
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import normalize_axis

__all__ = ["argmax", "argmin", "take_along_axis"]


class _Arg(Op):
    """Index of the extreme along ``axis`` (int64); ``select_last_index`` picks the last
    of equal extremes, ``keepdims`` keeps the axis."""

    onnx_type = ""
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        rank = len(x.shape)
        axis = normalize_axis(attrs.get("axis", 0), rank)
        shape = list(x.shape)
        if attrs.get("keepdims", True):
            shape[axis] = 1
        else:
            del shape[axis]
        return TensorType(tuple(shape), "int64")

    def kernel(self, attrs, x, *, ctx):
        axis = normalize_axis(attrs.get("axis", 0), x.ndim)
        fn = np.argmax if self.onnx_type == "ArgMax" else np.argmin
        if attrs.get("select_last_index", False):
            flipped = np.flip(x, axis)
            idx = x.shape[axis] - 1 - fn(flipped, axis=axis)
        else:
            idx = fn(x, axis=axis)
        if attrs.get("keepdims", True):
            idx = np.expand_dims(idx, axis)
        return np.asarray(idx, dtype=np.int64)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        return b.op(
            self.onnx_type,
            x,
            axis=int(attrs.get("axis", 0)),
            keepdims=int(bool(attrs.get("keepdims", True))),
            select_last_index=int(bool(attrs.get("select_last_index", False))),
        )


class ArgMax(_Arg):
    name, onnx_type = "argmax", "ArgMax"


class ArgMin(_Arg):
    name, onnx_type = "argmin", "ArgMin"


class TakeAlongAxis(Op):
    """``np.take_along_axis(x, indices, axis)`` with negative indices counting from the
    end; the gradient scatters back into ``x``."""

    name = "take_along_axis"

    def infer(self, attrs, x, idx):
        if len(x.shape) != len(idx.shape):
            raise ShapeError(
                f"indices of rank {len(idx.shape)} for a tensor of rank {len(x.shape)}"
            )
        if np.dtype(idx.dtype).kind not in "iu":
            raise ShapeError(f"indices must be integers, got dtype {idx.dtype}")
        normalize_axis(attrs.get("axis", 0), len(x.shape))
        return TensorType(tuple(idx.shape), x.dtype)

    @staticmethod
    def _idx(attrs, x, idx):
        axis = normalize_axis(attrs.get("axis", 0), x.ndim)
        size = x.shape[axis]
        if idx.size and (idx.min() < -size or idx.max() >= size):
            raise IndexError(f"index out of range for an axis of size {size}")
        return axis, np.where(idx < 0, idx + size, idx).astype(np.int64)

    def kernel(self, attrs, x, idx, *, ctx):
        axis, i = self._idx(attrs, x, idx)
        return np.take_along_axis(x, i, axis)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, idx = xs
        axis, i = self._idx(attrs, x, idx)
        g = np.zeros_like(x)
        grids = list(np.indices(i.shape, sparse=True))
        grids[axis] = i
        np.add.at(g, tuple(grids), gys[0])
        return g, None

    def lower(self, attrs, b, x, idx):
        return b.op("GatherElements", x, idx, axis=int(attrs.get("axis", 0)))


def argmax(x, axis=None, keepdims=False):
    """``keras.ops.argmax`` along one axis (``None``: of the flattened ``x``)."""
    if axis is None:
        x, axis = apply("reshape", [x], shape=(-1,)), 0
    return apply("argmax", [x], axis=int(axis), keepdims=bool(keepdims))


def argmin(x, axis=None, keepdims=False):
    """``keras.ops.argmin`` along one axis (``None``: of the flattened ``x``)."""
    if axis is None:
        x, axis = apply("reshape", [x], shape=(-1,)), 0
    return apply("argmin", [x], axis=int(axis), keepdims=bool(keepdims))


def take_along_axis(x, indices, axis=None):
    """``keras.ops.take_along_axis``."""
    if axis is None:
        x, axis = apply("reshape", [x], shape=(-1,)), 0
    return apply("take_along_axis", [x, indices], axis=int(axis))
