"""Array ops: gather, transpose, repeat, the reductions sum and mean, and a thresholded
relu (the one piece of Keras's ``relu`` that no other op gives).

>>> import numpy as np
>>> from graphc import ops
>>> ops.take(np.eye(3, dtype="float32"), np.array([[2, 0]]), axis=0).shape
(1, 2, 3)
>>> ops.sum(np.ones((2, 3), dtype="float32"), axis=1)
array([3., 3.], dtype=float32)
"""

from __future__ import annotations

import builtins

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import known, normalize_axis, product

__all__ = ["mean", "repeat", "sum", "take", "thresholded_relu", "transpose"]

_INT64 = 7  # onnx.TensorProto.INT64, written as a number so that importing graphc needs no onnx


# ---- helpers ---------------------------------------------------------------------------
def _rank(x) -> int:
    shape = getattr(x, "shape", None)
    return len(shape) if shape is not None else np.ndim(x)


def _axes(axis, ndim: int) -> tuple:
    """Sorted non-negative axes of ``axis`` (None means all); repeats are an error."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(
        normalize_axis(int(a), ndim) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))
    )
    if len(set(axes)) != len(axes):
        raise ShapeError(f"axis {tuple(axis)} repeats an axis")
    return tuple(sorted(axes))


def _axis_attr(axis):
    """``axis`` as an attribute: None, or a tuple of ints."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) for a in axis)
    return (int(axis),)


def reduce_lowering(b, op_type: str, x: str, axes, keepdims: bool) -> str:
    """An ONNX ``Reduce*`` node across opsets: ``ReduceSum`` takes ``axes`` as an input
    from opset 13, the other reductions only from opset 18 (an attribute before).
    ``axes=None`` reduces every axis."""
    attrs = {"keepdims": int(bool(keepdims))}
    axes_as_input = op_type == "ReduceSum" or b.opset >= 18
    if axes_as_input:
        attrs["noop_with_empty_axes"] = 0
        if axes is None:
            return b.op(op_type, x, **attrs)
        return b.op(op_type, x, b.const(np.asarray(list(axes), dtype=np.int64)), **attrs)
    if axes is None:
        return b.op(op_type, x, **attrs)
    return b.op(op_type, x, axes=[int(a) for a in axes], **attrs)


# ---- gather (Embedding) ----------------------------------------------------------------
class Gather(Op):
    """``table[indices]``: rows of ``table`` (any rank >= 1) picked by integer
    ``indices`` of any shape; output ``(*indices.shape, *table.shape[1:])``.

    Indices may arrive as floats (a model whose ``Input`` is float32, as Keras's
    Embedding accepts): they are cast to integers, truncating as Keras's cast does. They
    get no gradient; the table's gradient scatters the output gradient back into its rows.
    """

    name = "gather"

    def infer(self, attrs, table, indices):
        if len(table.shape) < 1:
            raise ShapeError("cannot gather from a scalar")
        if np.dtype(indices.dtype).kind not in "iuf":
            raise ShapeError(
                f"indices must be integers (or floats holding integers), got dtype {indices.dtype}"
            )
        return TensorType(tuple(indices.shape) + tuple(table.shape[1:]), table.dtype)

    @staticmethod
    def _indices(indices, size):
        idx = indices if indices.dtype.kind in "iu" else indices.astype(np.int64)
        if idx.size:
            lo, hi = idx.min(), idx.max()
            if lo < -size or hi >= size:
                bad = lo if lo < -size else hi
                raise IndexError(
                    f"index {int(bad)} is out of range for a table of "
                    f"{size} rows (valid indices are 0 to {size - 1})"
                )
        return idx

    def kernel(self, attrs, table, indices, *, ctx):
        return np.take(table, self._indices(indices, table.shape[0]), axis=0)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        table, indices = xs
        if not needs[0]:
            return None, None
        g = gys[0]
        idx = self._indices(indices, table.shape[0]).reshape(-1)
        buf = out[0]
        if buf is None:
            buf = np.zeros(table.shape, dtype=g.dtype)
        else:
            buf.fill(0)
        np.add.at(buf, idx, g.reshape((idx.size,) + table.shape[1:]))
        return buf, None

    def lower(self, attrs, b, table, indices):
        dtype = b.in_types[1].dtype if len(b.in_types) > 1 else None
        if dtype != "int64":
            indices = b.op("Cast", indices, to=_INT64)
        return b.op("Gather", table, indices, axis=0)


def take(x, indices, axis=None):
    """``keras.ops.take``: elements of ``x`` at ``indices`` along ``axis`` (None: of the
    flattened ``x``). ``take(embeddings, ids, axis=0)`` is the Embedding lookup."""
    if axis is None:
        return apply("gather", [_flat(x), indices])
    ndim = _rank(x)
    axis = normalize_axis(int(axis), ndim)
    if axis == 0:
        return apply("gather", [x, indices])
    # Move ``axis`` to the front, gather, and move the index dimensions back to ``axis``.
    front = (axis,) + tuple(i for i in range(ndim) if i != axis)
    out = apply("gather", [transpose(x, front), indices])
    k = _rank(indices)
    # out: (*idx, *x.shape[:axis], *x.shape[axis+1:])
    perm = tuple(range(k, k + axis)) + tuple(range(k)) + tuple(range(k + axis, _rank(out)))
    return transpose(out, perm)


def _flat(x):
    return apply("reshape", [x], shape=(-1,))


# ---- transpose -------------------------------------------------------------------------
class Transpose(Op):
    """``np.transpose(x, perm)``; ``perm`` is always explicit. ONNX ``Transpose``. The
    export pass ``cancel_transposes`` removes a transpose followed by its inverse."""

    name = "transpose"
    vjp_reads_inputs = False

    @staticmethod
    def _perm(attrs, ndim):
        perm = attrs.get("perm")
        if perm is None:
            return tuple(reversed(range(ndim)))
        if len(perm) != ndim:
            raise ShapeError(
                f"perm {tuple(perm)} has {len(perm)} entries for a tensor of rank {ndim}"
            )
        norm = tuple(normalize_axis(int(p), ndim) for p in perm)
        if sorted(norm) != list(range(ndim)):
            raise ShapeError(f"perm {tuple(perm)} is not a permutation of the axes 0..{ndim - 1}")
        return norm

    def infer(self, attrs, x):
        perm = self._perm(attrs, len(x.shape))
        return TensorType(tuple(x.shape[p] for p in perm), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.transpose(x, self._perm(attrs, x.ndim))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        g = gys[0]
        return (np.transpose(g, np.argsort(self._perm(attrs, g.ndim))),)

    def lower(self, attrs, b, x):
        perm = attrs.get("perm")
        if perm is None:
            perm = tuple(reversed(range(len(b.in_types[0].shape))))
        n = len(perm)
        return b.op("Transpose", x, perm=[int(p) % n for p in perm])


def transpose(x, axes=None):
    """``keras.ops.transpose``: permute the axes (reverse them when ``axes`` is None)."""
    ndim = _rank(x)
    perm = (
        tuple(reversed(range(ndim)))
        if axes is None
        else tuple(int(a) % ndim if ndim else int(a) for a in axes)
    )
    return apply("transpose", [x], perm=perm)


# ---- repeat ----------------------------------------------------------------------------
class Repeat(Op):
    """``np.repeat(x, repeats, axis)`` with an integer ``repeats``: each slice along
    ``axis`` repeated. RepeatVector is a reshape to ``(N, 1, D)`` and a repeat on axis 1,
    as in Keras; along an axis of size 1 the ONNX form is a single ``Expand``."""

    name = "repeat"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        n = attrs["repeats"]
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ShapeError(f"repeats must be a positive integer, got {n!r}")
        axis = normalize_axis(attrs.get("axis", 0), len(x.shape))
        d = x.shape[axis]
        shape = list(x.shape)
        shape[axis] = d * n if known(d) else None
        return TensorType(tuple(shape), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.repeat(x, attrs["repeats"], axis=attrs.get("axis", 0))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        g = gys[0]
        n = attrs["repeats"]
        a = normalize_axis(attrs.get("axis", 0), g.ndim)
        s = g.shape
        return (g.reshape(s[:a] + (s[a] // n, n) + s[a + 1 :]).sum(axis=a + 1),)

    def lower(self, attrs, b, x):
        shape = b.in_types[0].shape
        r, n = len(shape), int(attrs["repeats"])
        a = normalize_axis(attrs.get("axis", 0), r)
        if shape[a] == 1:
            reps = [1] * r
            reps[a] = n
            return b.op("Expand", x, b.const(np.asarray(reps, dtype=np.int64)))
        # Each slice repeated in place: add an axis after ``a``, expand it, merge the two.
        u = b.op("Unsqueeze", x, b.const(np.asarray([a + 1], dtype=np.int64)))
        reps = [1] * (r + 1)
        reps[a + 1] = n
        e = b.op("Expand", u, b.const(np.asarray(reps, dtype=np.int64)))
        trailing = shape[a + 1 :]
        if all(known(d) for d in trailing):
            # 0 copies the input's dimension at the same index (the leading ones).
            target = b.const(
                np.asarray([0] * a + [-1] + [int(d) for d in trailing], dtype=np.int64)
            )
        else:
            s = b.op("Shape", x)

            def piece(start, end):
                return b.op(
                    "Slice",
                    s,
                    b.const(np.asarray([start], dtype=np.int64)),
                    b.const(np.asarray([end], dtype=np.int64)),
                )

            mid = b.op("Mul", piece(a, a + 1), b.const(np.asarray([n], dtype=np.int64)))
            target = b.op("Concat", piece(0, a), mid, piece(a + 1, r), axis=0)
        extra = {"allowzero": 0} if b.opset >= 14 else {}
        return b.op("Reshape", e, target, **extra)


def repeat(x, repeats, axis=None):
    """``keras.ops.repeat`` with an integer ``repeats`` (None ``axis``: of the flattened
    ``x``)."""
    if not isinstance(repeats, (int, np.integer)) or isinstance(repeats, bool):
        raise NotImplementedError(
            f"repeat: only an integer `repeats` is supported, got {repeats!r}"
        )
    if axis is None:
        return apply("repeat", [_flat(x)], repeats=int(repeats), axis=0)
    axis = normalize_axis(int(axis), _rank(x))
    return apply("repeat", [x], repeats=int(repeats), axis=axis)


# ---- reductions ------------------------------------------------------------------------
def reduced_shape(shape, attrs) -> tuple:
    """The shape a reduction over ``attrs["axis"]`` (``keepdims``) leaves of ``shape``."""
    axes = _axes(attrs.get("axis"), len(shape))
    if attrs.get("keepdims", False):
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


class _Reduce(Op):
    onnx_type = ""

    def infer(self, attrs, x):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        return TensorType(reduced_shape(x.shape, attrs), x.dtype)

    def _spread(self, attrs, x, g):
        """``g`` broadcast back over the reduced axes of ``x``."""
        axes = _axes(attrs.get("axis"), x.ndim)
        if not attrs.get("keepdims", False):
            g = np.expand_dims(g, axes)
        return np.array(np.broadcast_to(g, x.shape)), axes

    def lower(self, attrs, b, x):
        return reduce_lowering(
            b, self.onnx_type, x, attrs.get("axis"), attrs.get("keepdims", False)
        )


class Sum(_Reduce):
    """``np.sum(x, axis, keepdims)``; ``axis`` is None (all axes) or a tuple."""

    name, onnx_type = "sum", "ReduceSum"

    def kernel(self, attrs, x, *, ctx):
        axes = _axes(attrs.get("axis"), x.ndim)
        return np.asarray(np.sum(x, axis=axes, keepdims=attrs.get("keepdims", False)))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (self._spread(attrs, xs[0], gys[0])[0],)


class Mean(_Reduce):
    """``np.mean(x, axis, keepdims)``; ``axis`` is None (all axes) or a tuple."""

    name, onnx_type = "mean", "ReduceMean"

    def kernel(self, attrs, x, *, ctx):
        axes = _axes(attrs.get("axis"), x.ndim)
        return np.asarray(np.mean(x, axis=axes, keepdims=attrs.get("keepdims", False)))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        g, axes = self._spread(attrs, x, gys[0])
        count = product(x.shape[a] for a in axes)
        g *= 1.0 / builtins.max(count, 1)
        return (g,)


def sum(x, axis=None, keepdims=False):
    """``keras.ops.sum``: the sum over ``axis`` (an int, a tuple, or None for all)."""
    return apply("sum", [x], axis=_axis_attr(axis), keepdims=bool(keepdims))


def mean(x, axis=None, keepdims=False):
    """``keras.ops.mean``: the mean over ``axis`` (an int, a tuple, or None for all)."""
    return apply("mean", [x], axis=_axis_attr(axis), keepdims=bool(keepdims))


# ---- thresholded relu ------------------------------------------------------------------
class ThresholdedRelu(Op):
    """``x if x > theta else 0`` (ONNX ``ThresholdedRelu``): the part of Keras's
    ``relu(x, threshold=t)`` that cannot be built from the other ops."""

    name = "thresholded_relu"
    vjp_reads_inputs = False
    vjp_reads_outputs = True

    def infer(self, attrs, x):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.where(x > attrs.get("theta", 1.0), x, 0).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        # theta >= 0 in every use (Keras refuses a negative threshold), so y != 0 exactly
        # where x > theta; for a negative theta an x of exactly 0 would differ, harmlessly.
        return (gys[0] * (ys[0] != 0),)

    def lower(self, attrs, b, x):
        return b.op("ThresholdedRelu", x, alpha=float(attrs.get("theta", 1.0)))


def thresholded_relu(x, theta=1.0):
    """``x`` where ``x > theta``, else 0."""
    return apply("thresholded_relu", [x], theta=float(theta))
