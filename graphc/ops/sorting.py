"""Sorting, order statistics and products: ``sort``, ``argsort``, ``argpartition``,
``prod`` (registered ops), and what is made of them and of the existing ops:
``median``, ``quantile``, ``percentile``, their NaN-ignoring forms, ``searchsorted``,
``digitize`` and ``isin``. ``bincount``, ``histogram`` and ``nonzero`` give outputs whose
size depends on the data; they work on arrays only (eager), as their error says.

>>> import numpy as np
>>> from graphc import ops
>>> ops.quantile(np.float32([1, 2, 3, 4]), 0.25).item()
1.75
"""

from __future__ import annotations

import builtins

import numpy as np

from graphc.errors import ArgumentValueError, ShapeError
from graphc.ir import TensorType
from graphc.ops.arrays import _axes, _axis_attr, take, transpose
from graphc.ops.masking import cast
from graphc.ops.registry import Op, apply, is_symbolic
from graphc.ops.shapes import normalize_axis

__all__ = [
    "sort",
    "argsort",
    "argpartition",
    "prod",
    "median",
    "quantile",
    "percentile",
    "nanmedian",
    "nanquantile",
    "nanpercentile",
    "searchsorted",
    "digitize",
    "isin",
    "bincount",
    "histogram",
    "nonzero",
]


def _topk_full(b, x, axis):
    """ONNX TopK over the whole of ``axis``, ascending: (values, int64 indices)."""
    shape = b.op("Shape", x)
    k = b.op("Gather", shape, b.const(np.asarray([axis], dtype=np.int64)))
    return b.op("TopK", x, k, outputs=2, axis=axis, largest=0, sorted=1)


class _SortBase(Op):
    def _axis(self, attrs, ndim):
        return normalize_axis(int(attrs.get("axis", -1)), ndim)


class Sort(_SortBase):
    """``np.sort`` along one axis; the gradient goes back to where each entry came from."""

    name = "sort"

    def infer(self, attrs, x):
        self._axis(attrs, len(x.shape))
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.sort(x, axis=self._axis(attrs, x.ndim))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        axis = self._axis(attrs, x.ndim)
        idx = np.argsort(x, axis=axis, kind="stable")
        g = np.zeros_like(gys[0])
        np.put_along_axis(g, idx, gys[0], axis=axis)
        return (g,)

    def lower(self, attrs, b, x):
        axis = self._axis(attrs, len(b.in_types[0].shape))
        return _topk_full(b, x, axis)[0]


class Argsort(_SortBase):
    """``np.argsort`` along one axis, int32 indices; no gradient. ``argpartition`` uses it
    too: a full sort is one valid partition."""

    name = "argsort"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        self._axis(attrs, len(x.shape))
        return TensorType(x.shape, "int32")

    def kernel(self, attrs, x, *, ctx):
        kth = attrs.get("kth")
        axis = self._axis(attrs, x.ndim)
        if kth is not None:
            return np.argpartition(x, int(kth), axis=axis).astype(np.int32)
        return np.argsort(x, axis=axis, kind="stable").astype(np.int32)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        axis = self._axis(attrs, len(b.in_types[0].shape))
        return b.op("Cast", _topk_full(b, x, axis)[1], to=6)  # int32


def _ndim(x):
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def _kind(x):
    return np.dtype(getattr(x, "dtype", None) or np.asarray(x).dtype).kind


def sort(x, axis=-1):
    """``keras.ops.sort``: ascending along ``axis``."""
    if axis is None:
        x, axis = apply("reshape", [x], shape=(-1,)), 0
    return apply("sort", [x], axis=int(axis))


def argsort(x, axis=-1):
    """``keras.ops.argsort``: the int32 indices that sort ``x`` along ``axis``."""
    if axis is None:
        x, axis = apply("reshape", [x], shape=(-1,)), 0
    if _ndim(x) == 0:
        x = apply("reshape", [x], shape=(1,))
    return apply("argsort", [x], axis=int(axis))


def argpartition(x, kth, axis=-1):
    """``keras.ops.argpartition``: int32 indices that put the ``kth`` smallest entry in
    its sorted place, smaller ones before and larger ones after (the order within each
    side is unspecified, as in NumPy)."""
    return apply("argsort", [x], axis=int(axis), kth=int(kth))


def prod(x, axis=None, keepdims=False, dtype=None):
    """``keras.ops.prod``: the product over ``axis`` (an int, a tuple or None)."""
    attrs = {"axis": _axis_attr(axis), "keepdims": bool(keepdims)}
    if _kind(x) != "f":
        if not is_symbolic(x):
            x = np.asarray(x)
            out_dt = dtype or ("int32" if x.dtype.kind == "b" else x.dtype)
            return np.asarray(np.prod(x, axis=attrs["axis"], keepdims=keepdims)).astype(out_dt)
        src = str(x.dtype)
        out = apply("prod", [cast(x, "float64")], **attrs)
        return cast(out, dtype or ("int32" if src == "bool" else src))
    out = apply("prod", [x], **attrs)
    return out if dtype is None else cast(out, dtype)


# ---- order statistics ------------------------------------------------------------------
_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _moved(x, axis):
    """``x`` with the reduced axes moved last and flattened into one of static size
    ``n``, and the shape a ``keepdims`` result takes; ``axis`` None means all axes."""
    nd = _ndim(x)
    shape = tuple(x.shape)
    axes = tuple(range(nd)) if axis is None else _axes(axis, nd)
    if builtins.any(shape[i] is None for i in axes):
        raise ShapeError(f"quantile needs the sizes of the reduced axes; got shape {shape}")
    rest = tuple(i for i in range(nd) if i not in axes)
    if rest + axes != tuple(range(nd)):
        x = transpose(x, rest + axes)
    n = int(np.prod([shape[i] for i in axes], dtype=np.int64))
    if len(axes) != 1:
        kept = tuple(-1 if shape[i] is None else shape[i] for i in rest)
        x = apply("reshape", [x], shape=kept + (n,))
    keep_shape = tuple(
        1 if i in axes else (-1 if shape[i] is None else shape[i]) for i in range(nd)
    )
    return x, n, keep_shape


def _check_q(q, scale=1.0):
    if is_symbolic(q):
        raise ArgumentValueError(
            "quantile takes its q as numbers or an array, not a symbolic tensor; "
            "pass q as a NumPy array"
        )
    q = np.asarray(q, dtype=np.float64) / scale
    if np.any((q < 0) | (q > 1)):
        raise ArgumentValueError(f"q must be in [0, 1] (percentile: [0, 100]); received {q}")
    return q


def _finish(rows, q, keepdims, keep_shape):
    """``rows``: one result per q (each of the kept shape); numpy puts q's axes first."""
    if keepdims:
        rows = [apply("reshape", [r], shape=keep_shape) for r in rows]
    if q.ndim == 0:
        return rows[0]
    from graphc.ops.composite import stack

    out = stack(rows, axis=0)
    return apply("reshape", [out], shape=q.shape + tuple(out.shape[1:])) if q.ndim > 1 else out


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """``keras.ops.quantile``: the ``q``-th quantiles over ``axis`` (``method`` one of
    NumPy's "linear", "lower", "higher", "midpoint", "nearest"). Gradients flow to the
    entries picked."""
    if method not in _METHODS:
        raise ArgumentValueError(f"method must be one of {_METHODS}; received {method!r}")
    q = _check_q(q)
    if _kind(x) != "f":
        x = cast(x, "float32")
    flat, n, keep_shape = _moved(x, axis)
    s = sort(flat, axis=-1)
    rows = []
    for qi in q.reshape(-1):
        pos = qi * (n - 1)
        lo, hi = int(np.floor(pos)), int(np.ceil(pos))
        pick = {"lower": lo, "higher": hi, "nearest": int(np.around(pos))}.get(method)
        if pick is not None:
            rows.append(take(s, pick, axis=-1))
            continue
        a, c = take(s, lo, axis=-1), take(s, hi, axis=-1)
        frac = 0.5 if method == "midpoint" else pos - lo
        rows.append(
            a
            if hi == lo
            else apply("add", [a, apply("multiply", [apply("subtract", [c, a]), frac])])
        )
    return _finish(rows, q, keepdims, keep_shape)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """``keras.ops.percentile``: ``quantile`` with ``q`` in percent."""
    return quantile(x, np.asarray(q, dtype=np.float64) / 100.0, axis, method, keepdims)


def median(x, axis=None, keepdims=False):
    """``keras.ops.median``."""
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """``keras.ops.nanquantile``: ``quantile`` ignoring NaNs (all-NaN slices give NaN)."""
    from graphc.ops import composite as c
    from graphc.ops.arrays import sum as _sum
    from graphc.ops.elementary import isnan
    from graphc.ops.indexing import take_along_axis
    from graphc.ops.rounding import ceil, floor
    from graphc.ops.rounding import round as round_

    if method not in _METHODS:
        raise ArgumentValueError(f"method must be one of {_METHODS}; received {method!r}")
    q = _check_q(q)
    if _kind(x) != "f":
        x = cast(x, "float32")
    flat, n, keep_shape = _moved(x, axis)
    nan = isnan(flat)
    # NaNs sort last: replace them by +inf, sort, and count the numbers per slice.
    s = sort(c.where(nan, np.inf, flat), axis=-1)
    count = _sum(cast(c.logical_not(nan), x.dtype), axis=-1, keepdims=True)
    last = apply("maximum", [apply("subtract", [count, 1.0]), 0.0])
    rows = []
    for qi in q.reshape(-1):
        pos = apply("multiply", [last, float(qi)])
        lo = floor(pos)
        hi = ceil(pos)
        if method == "nearest":
            lo = hi = round_(pos)
        elif method == "lower":
            hi = lo
        elif method == "higher":
            lo = hi
        a = take_along_axis(s, cast(lo, "int32"), axis=-1)
        b = take_along_axis(s, cast(hi, "int32"), axis=-1)
        frac = 0.5 if method == "midpoint" else apply("subtract", [pos, lo])
        if method in ("lower", "higher", "nearest"):
            v = a
        else:
            v = apply("add", [a, apply("multiply", [apply("subtract", [b, a]), frac])])
        v = c.where(apply("equal", [count, 0.0]), np.nan, v)
        rows.append(c.squeeze(v, axis=-1))
    return _finish(rows, q, keepdims, keep_shape)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """``keras.ops.nanpercentile``: ``nanquantile`` with ``q`` in percent."""
    return nanquantile(x, np.asarray(q, dtype=np.float64) / 100.0, axis, method, keepdims)


def nanmedian(x, axis=None, keepdims=False):
    """``keras.ops.nanmedian``: the median ignoring NaNs."""
    return nanquantile(x, 0.5, axis=axis, keepdims=keepdims)


# ---- search ----------------------------------------------------------------------------
def searchsorted(sorted_sequence, values, side="left"):
    """``keras.ops.searchsorted`` on a 1-D sorted sequence: the int32 positions where
    ``values`` would be inserted (``side="left"``: before equal entries)."""
    from graphc.ops.arrays import sum as _sum
    from graphc.ops.composite import expand_dims

    if _ndim(sorted_sequence) != 1:
        raise ArgumentValueError(
            "searchsorted takes a 1-D sorted sequence; received shape "
            f"{tuple(sorted_sequence.shape)}. Use ops.vectorized_map for N-D sequences"
        )
    if side not in ("left", "right"):
        raise ArgumentValueError(f"side must be 'left' or 'right'; received {side!r}")
    v = expand_dims(values, -1)
    hit = apply("less" if side == "left" else "less_equal", [sorted_sequence, v])
    return cast(_sum(cast(hit, "float32"), axis=-1), "int32")


def digitize(x, bins):
    """``keras.ops.digitize``: the int32 index ``i`` of the bin of each entry:
    ``bins[i - 1] <= x < bins[i]`` for increasing ``bins``, ``bins[i - 1] > x >= bins[i]``
    for decreasing ones (NumPy's rule)."""
    from graphc.ops.arrays import sum as _sum
    from graphc.ops.composite import expand_dims

    if is_symbolic(bins):
        raise ArgumentValueError(
            "digitize takes its bins as numbers or an array, not a symbolic tensor"
        )
    bins = np.asarray(bins)
    if bins.ndim != 1:
        raise ArgumentValueError(f"digitize takes 1-D bins; received shape {bins.shape}")
    if _kind(x) == "f":
        bins = bins.astype(x.dtype)
    elif bins.dtype.kind == "f":
        x = cast(x, "float32")
        bins = bins.astype("float32")
    decreasing = bins.size > 1 and bins[0] > bins[-1]
    hit = apply("greater" if decreasing else "less_equal", [bins, expand_dims(x, -1)])
    return cast(_sum(cast(hit, "float32"), axis=-1), "int32")


def isin(x1, x2, assume_unique=False, invert=False):
    """``keras.ops.isin``: whether each entry of ``x1`` is in ``x2``."""
    from graphc.ops.composite import expand_dims
    from graphc.ops.logic import logical_not
    from graphc.ops.masking import any as _any

    flat2 = apply("reshape", [x2], shape=(-1,))
    hit = _any(apply("equal", [expand_dims(x1, -1), flat2]), axis=-1)
    return logical_not(hit) if invert else hit


# ---- data-dependent shapes: arrays only ------------------------------------------------
def _eager(name, *xs):
    if builtins.any(is_symbolic(x) for x in xs):
        raise ArgumentValueError(
            f"{name} gives an output whose size depends on the data, so it works on arrays "
            "only, not on symbolic tensors; call it on NumPy arrays (outside the model)"
        )


def bincount(x, weights=None, minlength=0, sparse=False):
    """``keras.ops.bincount`` (arrays only): counts of each non-negative integer, over the
    last axis of a 1-D or 2-D ``x``, weighted by ``weights`` if given."""
    _eager("bincount", x, weights)
    if sparse:
        raise ArgumentValueError("bincount: sparse=True is not supported (graphc is dense)")
    x = np.asarray(x)
    w = None if weights is None else np.asarray(weights)
    dtype = "int32" if w is None else np.result_type(x.dtype, w.dtype)
    if x.ndim == 1:
        return np.bincount(x, w, minlength=minlength).astype(dtype)
    length = builtins.max(int(x.max()) + 1 if x.size else 0, minlength)
    rows = [np.bincount(r, None if w is None else w[i], minlength=length) for i, r in enumerate(x)]
    return np.stack(rows).astype(dtype)


def histogram(x, bins=10, range=None):  # noqa: A002  (keras.ops.histogram)
    """``keras.ops.histogram`` (arrays only): ``(counts, bin_edges)`` of 1-D ``x``."""
    _eager("histogram", x)
    x = np.asarray(x)
    if x.ndim != 1:
        raise ArgumentValueError(f"histogram takes a 1-D tensor; received shape {x.shape}")
    counts, edges = np.histogram(x, bins=bins, range=range)
    return counts.astype("int32"), edges.astype(x.dtype if x.dtype.kind == "f" else "float32")


def nonzero(x):
    """``keras.ops.nonzero`` (arrays only): a tuple of int32 index arrays, one per axis."""
    _eager("nonzero", x)
    return tuple(i.astype("int32") for i in np.nonzero(np.asarray(x)))
