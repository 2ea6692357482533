"""Selecting, scattering and contracting: ``keras.ops.top_k``, ``einsum``,
``scatter``, ``scatter_update``, and ONNX's ``ScatterElements``, ``ScatterND``,
``GatherND``, ``Unique`` and ``Compress``.

Scatters write ``updates`` at ``indices`` (negative indices count from the end) with a
``reduction`` of ``"none"`` (the last write wins), ``"add"``, ``"mul"``, ``"max"`` or
``"min"``; gradients exist for ``"none"`` and ``"add"``. ``unique`` and ``compress`` have
sizes known only from the data (``None`` in their shape rules).

>>> import numpy as np
>>> from graphc import ops
>>> values, indices = ops.top_k(np.array([1.0, 3.0, 2.0]), 2)
>>> values.tolist(), indices.tolist()
([3.0, 2.0], [1, 2])
"""

from __future__ import annotations

import string

import numpy as np

from graphc.errors import NotDifferentiableError, ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import normalize_axis, unbroadcast

__all__ = ["top_k", "einsum", "scatter", "scatter_update"]

_REDUCE = {
    "add": np.add,
    "mul": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
}


def _no_grad(op, reduction):
    raise NotDifferentiableError(
        f"op {op} with reduction={reduction!r} has no gradient in graphc "
        "(gradients exist for reduction 'none' and 'add')"
    )


# ---- top_k -------------------------------------------------------------------------------
class TopK(Op):
    """The ``k`` largest (or smallest) entries along ``axis`` and their int64 indices,
    sorted; equal values keep their order (the lower index first), as ONNX's TopK."""

    name = "top_k"
    n_outputs = 2
    vjp_reads_inputs, vjp_reads_outputs = True, True

    def infer(self, attrs, x):
        axis = normalize_axis(attrs["axis"], len(x.shape))
        k = int(attrs["k"])
        if x.shape[axis] is not None and k > x.shape[axis]:
            raise ShapeError(f"k={k} is larger than the axis's size {x.shape[axis]}")
        shape = tuple(k if i == axis else d for i, d in enumerate(x.shape))
        return TensorType(shape, x.dtype), TensorType(shape, "int64")

    def kernel(self, attrs, x, *, ctx):
        axis = normalize_axis(attrs["axis"], x.ndim)
        k = int(attrs["k"])
        n = x.shape[axis]
        if attrs.get("largest", True):
            flipped = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
            idx = n - 1 - np.flip(flipped, axis)
        else:
            idx = np.argsort(x, axis=axis, kind="stable")
        idx = np.take(idx, np.arange(k), axis=axis).astype(np.int64)
        return np.take_along_axis(x, idx, axis=axis), idx

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, g = xs[0], gys[0]
        grad = np.zeros_like(x)
        if g is not None:
            np.put_along_axis(grad, ys[1], g, axis=normalize_axis(attrs["axis"], x.ndim))
        return (grad,)

    def lower(self, attrs, b, x):
        return tuple(
            b.op(
                "TopK",
                x,
                b.const(np.asarray([int(attrs["k"])], np.int64)),
                outputs=2,
                axis=int(attrs["axis"]),
                largest=int(attrs.get("largest", True)),
                sorted=1,
            )
        )


# ---- one_hot -----------------------------------------------------------------------------
class OneHot(Op):
    """``on_value`` where ``indices`` equals the position along a new ``axis`` of size
    ``depth``, ``off_value`` elsewhere. Negative indices count from ``depth`` (ONNX);
    indices out of range give a row of ``off_value``."""

    name = "one_hot"
    vjp_reads_inputs = False

    def infer(self, attrs, idx):
        rank = len(idx.shape) + 1
        axis = normalize_axis(attrs.get("axis", -1), rank)
        shape = list(idx.shape)
        shape.insert(axis, int(attrs["depth"]))
        return TensorType(tuple(shape), attrs["dtype"])

    def kernel(self, attrs, idx, *, ctx):
        depth = int(attrs["depth"])
        axis = normalize_axis(attrs.get("axis", -1), idx.ndim + 1)
        i = idx.astype(np.int64) if idx.dtype.kind != "f" else np.trunc(idx).astype(np.int64)
        i = np.where(i < 0, i + depth, i)
        hit = np.expand_dims(i, axis) == np.arange(depth).reshape(
            [depth if a == axis else 1 for a in range(idx.ndim + 1)]
        )
        dt = attrs["dtype"]
        return np.where(hit, np.asarray(attrs["on_value"], dt), np.asarray(attrs["off_value"], dt))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)  # indices have no gradient

    def lower(self, attrs, b, idx):
        dt = attrs["dtype"]
        values = b.const(np.asarray([attrs["off_value"], attrs["on_value"]], dt))
        depth = b.const(np.asarray(int(attrs["depth"]), np.int64))
        return b.op("OneHot", idx, depth, values, axis=int(attrs.get("axis", -1)))


# ---- einsum ------------------------------------------------------------------------------
def _parse(equation, ranks):
    """(input subscripts, output subscripts) with ``...`` spelled out as letters."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ranks):
        raise ShapeError(f"einsum {equation!r} names {len(ins)} operands, got {len(ranks)}")
    used = set(eq) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = max(
        (r - (len(s) - 3) for s, r in zip(ins, ranks) if "..." in s),
        default=0,
    )
    ell = "".join(spare[:n_ell])
    out_ins = []
    for s, r in zip(ins, ranks):
        if "..." in s:
            k = r - (len(s) - 3)
            s = s.replace("...", ell[n_ell - k :] if k else "")
        if len(s) != r:
            raise ShapeError(f"einsum {equation!r}: operand subscripts {s!r} for rank {r}")
        out_ins.append(s)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        letters = "".join(out_ins)
        out = ell + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell)
        )
    return out_ins, out


class Einsum(Op):
    """``np.einsum(equation, *operands)``."""

    name = "einsum"

    def infer(self, attrs, *xs):
        ins, out = _parse(attrs["equation"], [len(x.shape) for x in xs])
        sizes: dict = {}
        for s, x in zip(ins, xs):
            for c, d in zip(s, x.shape):
                if d == 1 and c in sizes:
                    continue
                prev = sizes.get(c)
                if prev is None or prev == 1:
                    sizes[c] = d if d is not None or prev is None else prev
                elif d is not None and d != prev and d != 1:
                    raise ShapeError(f"einsum {attrs['equation']!r}: {c} is {prev} and {d}")
        dt = xs[0].dtype
        return TensorType(tuple(sizes.get(c) for c in out), dt)

    def kernel(self, attrs, *xs, ctx):
        return np.asarray(np.einsum(attrs["equation"], *xs))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        ins, outs = _parse(attrs["equation"], [x.ndim for x in xs])
        g = gys[0]
        grads = []
        for k, (s, x) in enumerate(zip(ins, xs)):
            if not needs[k]:
                grads.append(None)
                continue
            if len(set(s)) != len(s):
                raise NotDifferentiableError(
                    f"op einsum {attrs['equation']!r}: no gradient for an operand with a "
                    "repeated subscript (a diagonal or trace)"
                )
            others = [(t, xs[j]) for j, t in enumerate(ins) if j != k]
            seen = set(outs) | {c for t, _ in others for c in t}
            keep = "".join(c for c in s if c in seen)
            terms = [outs] + [t for t, _ in others]
            r = np.einsum(f"{','.join(terms)}->{keep}", g, *[v for _, v in others])
            # letters summed in this operand alone: the gradient spreads over them
            shape = [x.shape[i] if c not in seen else 1 for i, c in enumerate(s)]
            r = r.reshape([r.shape[keep.index(c)] if c in seen else 1 for c in s])
            r = unbroadcast(np.broadcast_to(r, np.broadcast_shapes(r.shape, tuple(shape))), x.shape)
            grads.append(np.ascontiguousarray(r).astype(x.dtype, copy=False))
        return tuple(grads)

    def lower(self, attrs, b, *xs):
        return b.op("Einsum", *xs, equation=attrs["equation"])


# ---- scatter and gather ------------------------------------------------------------------
def _reduction_attrs(op, attrs, b):
    """ONNX's ``reduction`` attribute: add/mul from opset 16, max/min from 18."""
    reduction = attrs.get("reduction", "none")
    if reduction == "none":
        return {}
    need = 16 if reduction in ("add", "mul") else 18
    if b.opset < need:
        raise NotImplementedError(
            f"{op} with reduction={reduction!r} needs opset {need} or newer in ONNX; "
            f"export with a newer opset (asked for {b.opset})"
        )
    return {"reduction": reduction}


def _elements_index(indices, axis, size):
    idx = np.where(indices < 0, indices + size, indices)
    grid = list(np.indices(indices.shape, sparse=True))
    grid[axis] = idx
    return tuple(grid)


def _write(out, index, updates, reduction):
    if reduction == "none":
        out[index] = updates
    else:
        _REDUCE[reduction].at(out, index, updates)
    return out


class ScatterElements(Op):
    """ONNX ``ScatterElements``: ``data`` with ``updates[i][j]...`` written at
    ``data[indices[i][j]...][j]...`` along ``axis``."""

    name = "scatter_elements"

    def infer(self, attrs, data, indices, updates):
        if np.dtype(indices.dtype).kind not in "iu":
            raise ShapeError(f"indices must be integers, got dtype {indices.dtype}")
        normalize_axis(attrs.get("axis", 0), len(data.shape))
        return TensorType(data.shape, data.dtype)

    def kernel(self, attrs, data, indices, updates, *, ctx):
        axis = normalize_axis(attrs.get("axis", 0), data.ndim)
        index = _elements_index(indices.astype(np.int64), axis, data.shape[axis])
        return _write(data.copy(), index, updates, attrs.get("reduction", "none"))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        data, indices = xs[0], xs[1]
        reduction = attrs.get("reduction", "none")
        if reduction not in ("none", "add"):
            _no_grad("scatter_elements", reduction)
        axis = normalize_axis(attrs.get("axis", 0), data.ndim)
        index = _elements_index(indices.astype(np.int64), axis, data.shape[axis])
        g = gys[0]
        gd = g.copy()
        if reduction == "none":
            gd[index] = 0
        return gd, None, g[index]

    def lower(self, attrs, b, data, indices, updates):
        extra = _reduction_attrs("scatter_elements", attrs, b)
        return b.op(
            "ScatterElements", data, indices, updates, axis=int(attrs.get("axis", 0)), **extra
        )


def _nd_index(indices):
    k = indices.shape[-1]
    return tuple(indices[..., i].astype(np.int64) for i in range(k))


class ScatterND(Op):
    """ONNX ``ScatterND``: ``data`` with ``updates`` written at the ``indices[..., :]``
    positions (each a prefix of ``data``'s index)."""

    name = "scatter_nd"

    def infer(self, attrs, data, indices, updates):
        if np.dtype(indices.dtype).kind not in "iu":
            raise ShapeError(f"indices must be integers, got dtype {indices.dtype}")
        return TensorType(data.shape, data.dtype)

    def kernel(self, attrs, data, indices, updates, *, ctx):
        return _write(data.copy(), _nd_index(indices), updates, attrs.get("reduction", "none"))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        reduction = attrs.get("reduction", "none")
        if reduction not in ("none", "add"):
            _no_grad("scatter_nd", reduction)
        index = _nd_index(xs[1])
        g = gys[0]
        gd = g.copy()
        if reduction == "none":
            gd[index] = 0
        return gd, None, g[index]

    def lower(self, attrs, b, data, indices, updates):
        extra = _reduction_attrs("scatter_nd", attrs, b)
        if b.in_types[1].dtype != "int64":
            indices = b.op("Cast", indices, to=7)
        return b.op("ScatterND", data, indices, updates, **extra)


class GatherND(Op):
    """ONNX ``GatherND``: the slices of ``data`` at ``indices[..., :]``, after
    ``batch_dims`` leading dimensions shared by both."""

    name = "gather_nd"

    def infer(self, attrs, data, indices):
        bd = int(attrs.get("batch_dims", 0))
        k = indices.shape[-1]
        if k is None:
            raise ShapeError("gather_nd needs the last dimension of indices known")
        shape = tuple(indices.shape[:-1]) + tuple(data.shape[bd + k :])
        return TensorType(shape, data.dtype)

    def _flat(self, attrs, data, indices):
        bd = int(attrs.get("batch_dims", 0))
        batch = data.shape[:bd]
        n = int(np.prod(batch, dtype=np.int64))
        return (
            bd,
            batch,
            data.reshape((n,) + data.shape[bd:]),
            indices.reshape((n,) + indices.shape[bd:]),
        )

    def kernel(self, attrs, data, indices, *, ctx):
        bd, batch, d, i = self._flat(attrs, data, indices)
        out = np.stack([d[b][_nd_index(i[b])] for b in range(d.shape[0])]) if d.shape[0] else None
        shape = tuple(indices.shape[:-1]) + tuple(data.shape[bd + indices.shape[-1] :])
        if out is None:
            return np.zeros(shape, data.dtype)
        return out.reshape(shape)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        data, indices = xs
        bd, batch, d, i = self._flat(attrs, data, indices)
        g = gys[0].reshape((d.shape[0],) + gys[0].shape[bd:])
        grad = np.zeros_like(d)
        for b in range(d.shape[0]):
            np.add.at(grad[b], _nd_index(i[b]), g[b])
        return grad.reshape(data.shape), None

    def lower(self, attrs, b, data, indices):
        if b.in_types[1].dtype != "int64":
            indices = b.op("Cast", indices, to=7)
        return b.op("GatherND", data, indices, batch_dims=int(attrs.get("batch_dims", 0)))


# ---- data-dependent sizes ----------------------------------------------------------------
class Unique(Op):
    """ONNX ``Unique``: the distinct values (or slices along ``axis``), sorted or in the
    order they first occur, with the first index of each, the inverse indices and the
    counts (int64). No gradient."""

    name = "unique"
    n_outputs = 4
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        axis = attrs.get("axis")
        if axis is None:
            shape = (None,)
            n = product_or_none(x.shape)
        else:
            axis = normalize_axis(axis, len(x.shape))
            shape = tuple(None if i == axis else d for i, d in enumerate(x.shape))
            n = x.shape[axis]
        i64 = "int64"
        return (
            TensorType(shape, x.dtype),
            TensorType((None,), i64),
            TensorType((n,), i64),
            TensorType((None,), i64),
        )

    def kernel(self, attrs, x, *, ctx):
        axis = attrs.get("axis")
        if axis is not None:
            axis = normalize_axis(axis, x.ndim)
        y, first, inverse, counts = np.unique(
            x, return_index=True, return_inverse=True, return_counts=True, axis=axis
        )
        inverse = inverse.reshape(-1)
        if not attrs.get("sorted", True):
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            y = y[order] if axis is None else np.take(y, order, axis=axis)
            first, counts, inverse = first[order], counts[order], rank[inverse]
        i64 = np.int64
        return y, first.astype(i64), inverse.astype(i64), counts.astype(i64)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        raise NotDifferentiableError("op unique has no gradient (its sizes come from the data)")

    def lower(self, attrs, b, x):
        extra = {} if attrs.get("axis") is None else {"axis": int(attrs["axis"])}
        return tuple(b.op("Unique", x, outputs=4, sorted=int(attrs.get("sorted", True)), **extra))


def product_or_none(shape):
    n = 1
    for d in shape:
        if d is None:
            return None
        n *= d
    return n


class Compress(Op):
    """``np.compress(condition, x, axis)``: the slices where the boolean ``condition`` is
    true (``axis`` None: of the flattened tensor)."""

    name = "compress"

    def infer(self, attrs, x, cond):
        if cond.dtype != "bool":
            raise ShapeError(f"the condition must be booleans, got dtype {cond.dtype}")
        axis = attrs.get("axis")
        if axis is None:
            return TensorType((None,), x.dtype)
        axis = normalize_axis(axis, len(x.shape))
        return TensorType(tuple(None if i == axis else d for i, d in enumerate(x.shape)), x.dtype)

    def kernel(self, attrs, x, cond, *, ctx):
        return np.compress(cond.reshape(-1), x, axis=attrs.get("axis"))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, cond = xs
        axis = attrs.get("axis")
        c = cond.reshape(-1)
        pos = np.nonzero(c)[0]
        if axis is None:
            grad = np.zeros(x.size, x.dtype)
            grad[pos] = gys[0]
            return grad.reshape(x.shape), None
        axis = normalize_axis(axis, x.ndim)
        grad = np.zeros_like(x)
        index = [slice(None)] * x.ndim
        index[axis] = pos
        grad[tuple(index)] = gys[0]
        return grad, None

    def lower(self, attrs, b, x, cond):
        extra = {} if attrs.get("axis") is None else {"axis": int(attrs["axis"])}
        return b.op("Compress", x, cond, **extra)


# ---- the keras.ops functions -------------------------------------------------------------
def top_k(x, k, sorted=True):  # noqa: A002  (keras.ops.top_k)
    """``keras.ops.top_k``: the ``k`` largest entries along the last axis and their
    indices (int32, as Keras)."""
    from graphc.ops.masking import cast

    values, indices = apply("top_k", [x], k=int(k), axis=-1, largest=True)
    return values, cast(indices, "int32")


def einsum(subscripts, *operands):
    """``keras.ops.einsum``."""
    return apply("einsum", list(operands), equation=str(subscripts))


def scatter(indices, values, shape):
    """``keras.ops.scatter``: a zero tensor of ``shape`` with ``values`` added at
    ``indices`` (``(n, k)``: each row a prefix of an index)."""
    values_dtype = getattr(values, "dtype", "float32")
    zeros = np.zeros(tuple(int(d) for d in shape), dtype=str(np.dtype(values_dtype)))
    return apply("scatter_nd", [zeros, indices, values], reduction="add")


def scatter_update(inputs, indices, updates):
    """``keras.ops.scatter_update``: ``inputs`` with ``updates`` written at ``indices``."""
    return apply("scatter_nd", [inputs, indices, updates], reduction="none")
