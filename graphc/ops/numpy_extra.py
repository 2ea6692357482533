"""More of ``keras.ops.numpy``, made of the registered ops (no kernels of their own): the
NaN-ignoring reductions, ``nan_to_num``, ``kron``, ``cross``, ``correlate``,
``corrcoef``, ``vander``, ``diagflat``, ``tensordot``, ``unravel_index``, ``angle``,
``isreal``, ``get_item``, and the array-only ``view`` and ``vectorize``.

Each works on arrays (eager) and on symbolic tensors, with gradients and ONNX lowering
from the ops it is made of.

>>> import numpy as np
>>> from graphc import ops
>>> ops.nansum(np.float32([1.0, np.nan, 2.0])).item()
3.0
"""

from __future__ import annotations

import builtins

import numpy as np

from graphc.errors import ArgumentValueError
from graphc.ops import composite as c
from graphc.ops.arrays import _rank, sum, take, transpose
from graphc.ops.cumulative import cumprod, cumsum
from graphc.ops.elementary import _to_float, isnan
from graphc.ops.indexing import argmax, argmin
from graphc.ops.masking import cast, expand_dims
from graphc.ops.registry import apply, is_symbolic
from graphc.ops.shapes import normalize_axis
from graphc.ops.sorting import prod

__all__ = [
    "nansum",
    "nanmean",
    "nanmax",
    "nanmin",
    "nanprod",
    "nanvar",
    "nanstd",
    "nanargmax",
    "nanargmin",
    "nancumsum",
    "nancumprod",
    "nan_to_num",
    "kron",
    "cross",
    "correlate",
    "corrcoef",
    "vander",
    "diagflat",
    "tensordot",
    "unravel_index",
    "angle",
    "isreal",
    "get_item",
    "view",
    "vectorize",
]


def _dtype(x) -> str:
    return str(np.dtype(getattr(x, "dtype", None) or np.asarray(x).dtype))


def _fill_nan(x, value):
    x = _to_float(x)
    return c.where(isnan(x), np.asarray(value, _dtype(x)), x)


def _count(x, axis, keepdims):
    return sum(cast(c.logical_not(isnan(x)), _dtype(x)), axis=axis, keepdims=keepdims)


# ---- NaN-ignoring reductions -----------------------------------------------------------
def nansum(x, axis=None, keepdims=False):
    """``keras.ops.nansum``: the sum, NaNs counted as 0."""
    return sum(_fill_nan(x, 0), axis=axis, keepdims=keepdims)


def nanmean(x, axis=None, keepdims=False):
    """``keras.ops.nanmean``: the mean of the non-NaN entries (NaN when there are none)."""
    x = _to_float(x)
    return apply("divide", [nansum(x, axis, keepdims), _count(x, axis, keepdims)])


def nanmax(x, axis=None, keepdims=False):
    """``keras.ops.nanmax``: the largest non-NaN entry (NaN for an all-NaN slice)."""
    x = _to_float(x)
    out = c.max(_fill_nan(x, -np.inf), axis=axis, keepdims=keepdims)
    return c.where(apply("equal", [_count(x, axis, keepdims), 0.0]), np.nan, out)


def nanmin(x, axis=None, keepdims=False):
    """``keras.ops.nanmin``: the smallest non-NaN entry (NaN for an all-NaN slice)."""
    x = _to_float(x)
    out = c.min(_fill_nan(x, np.inf), axis=axis, keepdims=keepdims)
    return c.where(apply("equal", [_count(x, axis, keepdims), 0.0]), np.nan, out)


def nanprod(x, axis=None, keepdims=False):
    """``keras.ops.nanprod``: the product, NaNs counted as 1."""
    return prod(_fill_nan(x, 1), axis=axis, keepdims=keepdims)


def nanvar(x, axis=None, keepdims=False):
    """``keras.ops.nanvar``: the variance of the non-NaN entries."""
    x = _to_float(x)
    m = nanmean(x, axis=axis, keepdims=True)
    dev = c.square(apply("subtract", [x, m]))
    return nanmean(dev, axis=axis, keepdims=keepdims)


def nanstd(x, axis=None, keepdims=False):
    """``keras.ops.nanstd``: the standard deviation of the non-NaN entries."""
    return c.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def nanargmax(x, axis=None, keepdims=False):
    """``keras.ops.nanargmax``: the index of the largest non-NaN entry (-1 for an
    all-NaN slice, as Keras)."""
    return _nanarg(argmax, -np.inf, x, axis, keepdims)


def _nanarg(fn, fill, x, axis, keepdims):
    if np.dtype(_dtype(x)).kind != "f":
        return fn(x, axis=axis, keepdims=keepdims)
    i = fn(_fill_nan(x, fill), axis=axis, keepdims=keepdims)
    none = c.all(isnan(x), axis=axis, keepdims=keepdims)
    return c.where(none, np.asarray(-1, _dtype(i)), i)


def nanargmin(x, axis=None, keepdims=False):
    """``keras.ops.nanargmin``: the index of the smallest non-NaN entry (-1 for an
    all-NaN slice)."""
    return _nanarg(argmin, np.inf, x, axis, keepdims)


def _nan_free(x, value):
    if np.dtype(_dtype(x)).kind != "f":
        return x  # integers have no NaN
    return c.where(isnan(x), np.asarray(value, _dtype(x)), x)


def nancumsum(x, axis=None, dtype=None):
    """``keras.ops.nancumsum``: the running sum along ``axis`` (None: of the flattened
    tensor), NaNs counted as 0."""
    return cumsum(_nan_free(x, 0), axis=axis, dtype=dtype)


def nancumprod(x, axis=None, dtype=None):
    """``keras.ops.nancumprod``: the running product along ``axis`` (None: flattened),
    NaNs counted as 1."""
    return cumprod(_nan_free(x, 1), axis=axis, dtype=dtype)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """``keras.ops.nan_to_num``: NaN -> ``nan``, ``+inf`` -> ``posinf`` (default the
    dtype's largest number), ``-inf`` -> ``neginf`` (its most negative)."""
    dt = _dtype(x)
    if np.dtype(dt).kind != "f":
        return x
    info = np.finfo(dt)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = c.where(isnan(x), np.asarray(nan, dt), x)
    x = c.where(apply("isinf", [x], sign=1), np.asarray(posinf, dt), x)
    return c.where(apply("isinf", [x], sign=-1), np.asarray(neginf, dt), x)


# ---- products and friends --------------------------------------------------------------
def _static_shape(x, what):
    shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
    if any(d is None for d in shape):
        raise ArgumentValueError(f"{what} needs static shapes; received shape {shape}")
    return shape


def kron(x1, x2):
    """``keras.ops.kron``: the Kronecker product (static shapes)."""
    s1, s2 = _static_shape(x1, "kron"), _static_shape(x2, "kron")
    nd = builtins.max(len(s1), len(s2))
    s1, s2 = (1,) * (nd - len(s1)) + s1, (1,) * (nd - len(s2)) + s2
    a = apply("reshape", [x1], shape=tuple(d for d1 in s1 for d in (d1, 1)))
    b = apply("reshape", [x2], shape=tuple(d for d2 in s2 for d in (1, d2)))
    return apply("reshape", [apply("multiply", [a, b])], shape=tuple(p * q for p, q in zip(s1, s2)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``keras.ops.cross``: the cross product of 3-vectors (or 2-vectors, whose z is 0)
    along ``axisa``/``axisb`` (``axis`` sets all three)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = c.moveaxis(x1, axisa, -1)
    b = c.moveaxis(x2, axisb, -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ArgumentValueError(
            f"cross takes vectors of 2 or 3 components; received {na} and {nb}"
        )

    def comp(v, n, i):
        if i >= n:
            return None
        return take(v, i, axis=-1)

    a0, a1, a2 = (comp(a, na, i) for i in range(3))
    b0, b1, b2 = (comp(b, nb, i) for i in range(3))

    def mul(p, q):
        return None if p is None or q is None else apply("multiply", [p, q])

    def sub(p, q):
        if q is None:
            return p
        if p is None:
            return apply("negative", [q])
        return apply("subtract", [p, q])

    z = sub(mul(a0, b1), mul(a1, b0))
    if na == 2 and nb == 2:
        return z
    out = c.stack([sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)), z], axis=-1)
    return c.moveaxis(out, -1, axisc) if axisc not in (-1, _rank(out) - 1) else out


def correlate(x1, x2, mode="valid"):
    """``keras.ops.correlate`` of two 1-D tensors (``mode`` "valid", "same" or "full"),
    made of a gather and a sum: ``out[k] = sum_n x1[n + k - pad] * x2[n]``."""
    if mode not in ("valid", "same", "full"):
        raise ArgumentValueError(f"mode must be 'valid', 'same' or 'full'; received {mode!r}")
    (n1,), (n2,) = _static_shape(x1, "correlate"), _static_shape(x2, "correlate")
    x1, x2 = _to_float(x1), _to_float(x2)
    if n1 < n2:  # numpy swaps and reverses
        out = correlate(x2, x1, mode)
        return c.flip(out, axis=0)
    pad = {"valid": 0, "same": n2 // 2, "full": n2 - 1}[mode]
    m = {"valid": n1 - n2 + 1, "same": n1, "full": n1 + n2 - 1}[mode]
    parts = [np.zeros(pad, _dtype(x1)), x1, np.zeros(m + n2 - 1 - pad - n1, _dtype(x1))]
    padded = apply("concatenate", [p for p in parts if p.shape[0] != 0], axis=0)
    idx = np.arange(m)[:, None] + np.arange(n2)[None, :]
    return sum(apply("multiply", [take(padded, idx, axis=0), x2]), axis=-1)


def corrcoef(x):
    """``keras.ops.corrcoef``: Pearson correlation coefficients of the rows of ``x``."""
    x = _to_float(x)
    if _rank(x) == 1:
        x = expand_dims(x, 0)
    centred = apply("subtract", [x, c.mean(x, axis=1, keepdims=True)])
    cov = apply("matmul", [centred, transpose(centred)])
    d = c.sqrt(c.diagonal(cov))
    out = apply("divide", [apply("divide", [cov, expand_dims(d, 1)]), expand_dims(d, 0)])
    out = c.clip(out, -1.0, 1.0)
    return out if out.shape != (1, 1) else apply("reshape", [out], shape=())


def vander(x, N=None, increasing=False):
    """``keras.ops.vander``: the Vandermonde matrix of a 1-D ``x``."""
    (n,) = _static_shape(x, "vander")
    cols = n if N is None else int(N)
    powers = np.arange(cols) if increasing else np.arange(cols)[::-1].copy()
    if np.dtype(_dtype(x)).kind == "f":
        return c.power(expand_dims(x, 1), powers.astype(_dtype(x)))
    return apply("power", [expand_dims(x, 1), powers.astype(_dtype(x))])


def diagflat(x, k=0):
    """``keras.ops.diagflat``: the flattened ``x`` on the ``k``-th diagonal of a square
    matrix."""
    flat = c.ravel(x)
    if np.dtype(_dtype(flat)).kind != "f":
        return cast(c.diag(cast(flat, "float32"), k=k), _dtype(flat))
    return c.diag(flat, k=k)


def tensordot(x1, x2, axes=2):
    """``keras.ops.tensordot``: the sum over ``axes`` (an int: the last ones of ``x1``
    and the first of ``x2``; or two sequences of axes), as one matmul."""
    n1, n2 = _rank(x1), _rank(x2)
    if isinstance(axes, (int, np.integer)):
        a1 = list(range(n1 - int(axes), n1))
        a2 = list(range(int(axes)))
    else:
        a1, a2 = axes
        a1 = [a1] if isinstance(a1, (int, np.integer)) else list(a1)
        a2 = [a2] if isinstance(a2, (int, np.integer)) else list(a2)
    a1 = [normalize_axis(int(a), n1) for a in a1]
    a2 = [normalize_axis(int(a), n2) for a in a2]
    s1, s2 = tuple(x1.shape), tuple(x2.shape)
    free1 = [i for i in range(n1) if i not in a1]
    free2 = [i for i in range(n2) if i not in a2]
    k = int(np.prod([s1[i] for i in a1], dtype=np.int64))
    f1 = tuple(s1[i] for i in free1)
    f2 = tuple(s2[i] for i in free2)
    dyn = tuple(-1 if d is None else d for d in f1)
    m1 = apply("reshape", [transpose(x1, free1 + a1)], shape=(-1, k))
    m2 = apply("reshape", [transpose(x2, a2 + free2)], shape=(k, -1))
    out = apply("matmul", [m1, m2])
    return apply("reshape", [out], shape=dyn + tuple(-1 if d is None else d for d in f2))


def unravel_index(indices, shape):
    """``keras.ops.unravel_index``: the tuple of coordinate arrays of flat ``indices`` in
    an array of ``shape``."""
    from graphc.ops.elementary import floor_divide

    shape = tuple(int(d) for d in shape)
    dt = _dtype(indices)
    if np.dtype(dt).kind not in "iu":
        raise ArgumentValueError(f"unravel_index takes integer indices; received dtype {dt}")
    out = []
    stride = int(np.prod(shape, dtype=np.int64))
    for d in shape:
        stride //= d
        q = floor_divide(indices, np.asarray(stride, dt))
        out.append(apply("mod", [q, np.asarray(d, dt)]))
    return tuple(out)


def angle(x):
    """``keras.ops.angle`` of real numbers: ``pi`` for negative entries, 0 otherwise
    (``-0.0`` included, as Keras's torch backend), NaN for NaN."""
    x = _to_float(x)
    dt = _dtype(x)
    half = c.where(apply("less", [x, 0.0]), np.asarray(np.pi, dt), np.asarray(0, dt))
    return c.where(isnan(x), x, half)


def isreal(x):
    """``keras.ops.isreal``: True everywhere for real tensors (graphc has no complex
    dtype)."""
    return c.equal(c.imag(x), 0)


def get_item(x, key):
    """``keras.ops.get_item``: ``x[key]`` (integers, slices, ``None``, ``...``)."""
    if not is_symbolic(x):
        return np.asarray(x)[key]
    return _symbolic_item(x, key)


def _symbolic_item(x, key):
    """Basic indexing on a symbolic tensor: integers, slices with steps, ``None`` and
    ``...``, made of gathers and reshapes."""
    if not isinstance(key, tuple):
        key = (key,)
    nd = _rank(x)
    n_real = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if builtins.sum(1 for k in key if k is Ellipsis) > 1:
        raise ArgumentValueError("an index can only have a single ellipsis ('...')")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (nd - n_real) + key[i + 1 :]
    else:
        key = key + (slice(None),) * (nd - n_real)
    out = x
    axis = 0
    for k in key:
        if k is None:
            out = expand_dims(out, axis)
            axis += 1
        elif isinstance(k, slice):
            size = tuple(out.shape)[axis]
            if k == slice(None):
                axis += 1
                continue
            if size is None:
                raise ArgumentValueError(
                    f"slicing axis {axis} needs its size, which is unknown (None)"
                )
            idx = np.arange(size)[k]
            out = take(out, idx.astype(np.int64), axis=axis)
            axis += 1
        elif isinstance(k, (int, np.integer)):
            size = tuple(out.shape)[axis]
            i = int(k)
            if i < 0:
                if size is None:
                    raise ArgumentValueError(f"a negative index needs axis {axis}'s size")
                i += size
            out = take(out, i, axis=axis)
        else:
            raise ArgumentValueError(
                f"get_item on a symbolic tensor takes integers, slices, None and '...'; "
                f"received {k!r}"
            )
    return out


def view(x, dtype=None):
    """``keras.ops.view`` (arrays only): the same bytes seen as ``dtype``."""
    if is_symbolic(x):
        raise ArgumentValueError(
            "view reinterprets memory and works on arrays only, not symbolic tensors; "
            "use ops.cast to convert values"
        )
    return np.asarray(x).view(dtype)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``keras.ops.vectorize`` (arrays only): ``pyfunc`` applied across the leading
    axes, as ``np.vectorize``."""
    return np.vectorize(pyfunc, excluded=excluded or set(), signature=signature)
