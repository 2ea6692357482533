"""More ``keras.ops`` functions made of the registered ops: segment reductions,
``in_top_k``, ``cdist``, ``saturate_cast``, ``slice_update``, ``associative_scan``,
``sparsemax``, the adaptive poolings, ``unfold``/``fold``; and the complex-number
helpers ``polar``, ``view_as_complex`` and ``view_as_real``, which work on arrays only
(graphc's tensors are real).

>>> import numpy as np
>>> from graphc import ops
>>> ops.segment_sum(np.float32([1, 2, 3]), np.int32([0, 0, 1])).tolist()
[3.0, 3.0]
"""

from __future__ import annotations

import builtins

import numpy as np

from graphc.errors import ArgumentValueError
from graphc.ops import composite as c
from graphc.ops.arrays import _rank, sum, take, transpose
from graphc.ops.masking import cast, expand_dims
from graphc.ops.registry import apply, is_symbolic
from graphc.ops.shapes import normalize_axis

__all__ = [
    "segment_sum",
    "segment_max",
    "segment_min",
    "segment_prod",
    "in_top_k",
    "cdist",
    "saturate_cast",
    "slice_update",
    "associative_scan",
    "sparsemax",
    "adaptive_average_pool",
    "adaptive_max_pool",
    "unfold",
    "fold",
    "polar",
    "view_as_complex",
    "view_as_real",
]


def _dt(x) -> str:
    return str(np.dtype(getattr(x, "dtype", None) or np.asarray(x).dtype))


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


# ---- segment reductions ----------------------------------------------------------------
def _segments(data, segment_ids, num_segments, what):
    if num_segments is None:
        if is_symbolic(segment_ids):
            raise ArgumentValueError(
                f"{what} on symbolic segment ids needs num_segments (the number of "
                "segments sets the output's shape)"
            )
        ids = np.asarray(segment_ids)
        num_segments = int(ids.max()) + 1 if ids.size else 0
    if _rank(segment_ids) != 1:
        raise ArgumentValueError(
            f"{what} takes 1-D segment ids; received shape {_shape(segment_ids)}"
        )
    # (segments, n): True where entry n belongs to the segment (ids of -1 belong nowhere)
    hit = apply(
        "equal",
        [expand_dims(segment_ids, 0), np.arange(num_segments, dtype=_dt(segment_ids))[:, None]],
    )
    return hit, int(num_segments)


def _float(data):
    return data if np.dtype(_dt(data)).kind == "f" else cast(data, "float32")


def _back(out, like):
    return out if _dt(out) == _dt(like) else cast(out, _dt(like))


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """``keras.ops.segment_sum``: the sum of the rows of ``data`` in each segment."""
    hit, n = _segments(data, segment_ids, num_segments, "segment_sum")
    x = _float(data)
    rest = tuple(-1 if d is None else d for d in _shape(x)[1:])
    n_rows = _shape(x)[0]
    flat = (
        apply("reshape", [x], shape=(-1 if n_rows is None else n_rows, -1))
        if rest
        else expand_dims(x, 1)
    )
    out = apply("matmul", [cast(hit, _dt(x)), flat])
    return _back(apply("reshape", [out], shape=(n,) + rest), data)


def _masked(data, segment_ids, num_segments, what, fill, reduce):
    hit, n = _segments(data, segment_ids, num_segments, what)
    x = _float(data)
    nd = _rank(x)
    mask = apply("reshape", [hit], shape=(n, -1) + (1,) * (nd - 1))
    filled = c.where(mask, expand_dims(x, 0), np.asarray(fill, _dt(x)))
    return _back(reduce(filled, axis=1), data)


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """``keras.ops.segment_max`` (an empty segment gives ``-inf``, as Keras's NumPy)."""
    return _masked(data, segment_ids, num_segments, "segment_max", -np.inf, c.max)


def segment_min(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """``keras.ops.segment_min`` (an empty segment gives ``+inf``)."""
    return _masked(data, segment_ids, num_segments, "segment_min", np.inf, c.min)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """``keras.ops.segment_prod`` (an empty segment gives 1)."""
    from graphc.ops.sorting import prod

    return _masked(data, segment_ids, num_segments, "segment_prod", 1.0, prod)


# ---- misc ------------------------------------------------------------------------------
def in_top_k(targets, predictions, k):
    """``keras.ops.in_top_k``: whether each target's score is among the ``k`` largest of
    its row (ties with the ``k``-th count as in)."""
    from graphc.ops.indexing import take_along_axis

    t = take_along_axis(predictions, expand_dims(cast(targets, "int32"), -1), axis=-1)
    above = sum(cast(apply("greater", [predictions, t]), "float32"), axis=-1)
    return apply("less", [above, float(k)])


def cdist(x, y):
    """``keras.ops.cdist``: the Euclidean distances between the rows of ``x`` and ``y``."""
    if _rank(x) < 2 or _rank(y) < 2:
        raise ArgumentValueError("cdist inputs must have rank >= 2")
    d = apply("subtract", [expand_dims(x, -2), expand_dims(y, -3)])
    return c.sqrt(sum(c.square(d), axis=-1))


def _limits(dtype):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return 0, 1
    info = np.iinfo(dt) if dt.kind in "iu" else np.finfo(dt)
    return info.min, info.max


def saturate_cast(x, dtype):
    """``keras.ops.saturate_cast``: ``cast`` after clipping to what ``dtype`` holds."""
    from graphc.ops.masking import dtype_name

    dtype = dtype_name(dtype)
    src = _dt(x)
    (imin, imax), (omin, omax) = _limits(src), _limits(dtype)
    lo = np.asarray(builtins.max(imin, omin)).astype(src)
    if lo < omin:
        lo = np.nextafter(lo, np.asarray(0, src))
    hi = np.asarray(builtins.min(imax, omax)).astype(src)
    if hi > omax:
        hi = np.nextafter(hi, np.asarray(0, src))
    x = apply("maximum", [x, lo])
    x = apply("minimum", [x, hi])
    return cast(x, dtype)


def slice_update(inputs, start_indices, updates):
    """``keras.ops.slice_update``: ``inputs`` with the block at ``start_indices`` (static
    integers) replaced by ``updates``."""
    from graphc.ops.padding import pad

    if is_symbolic(start_indices):
        raise ArgumentValueError("slice_update takes start_indices as integers")
    starts = [int(s) for s in np.asarray(start_indices).reshape(-1)]
    shape, ushape = _shape(inputs), _shape(updates)
    if len(starts) != len(shape) or len(ushape) != len(shape):
        raise ArgumentValueError(
            f"slice_update: inputs {shape}, updates {ushape} and start_indices {starts} "
            "must have the same rank"
        )
    if any(d is None for d in shape) or any(d is None for d in ushape):
        raise ArgumentValueError("slice_update needs static shapes")
    widths = [(s, d - s - u) for s, d, u in zip(starts, shape, ushape)]
    if any(a < 0 or b < 0 for a, b in widths):
        raise ArgumentValueError(
            f"slice_update: updates {ushape} at {starts} do not fit in inputs {shape}"
        )
    mask = np.zeros(shape, bool)
    mask[tuple(builtins.slice(s, s + u) for s, u in zip(starts, ushape))] = True
    updates = updates if _dt(updates) == _dt(inputs) else cast(updates, _dt(inputs))
    if not is_symbolic(inputs) and not is_symbolic(updates):
        out = np.array(inputs, copy=True)
        out[mask] = np.asarray(updates).reshape(-1)
        return out
    return c.where(mask, pad(updates, widths), inputs)


def associative_scan(f, elems, reverse=False, axis=0):
    """``keras.ops.associative_scan``: the inclusive scan of ``elems`` (a tensor or a
    list/tuple of tensors) along ``axis`` under the associative ``f``; computed
    sequentially (the same result for an associative ``f``)."""
    if not callable(f):
        raise ArgumentValueError(f"f must be callable; received {f!r}")
    single = not isinstance(elems, (list, tuple))
    flat = [elems] if single else list(elems)
    nd = _rank(flat[0])
    ax = normalize_axis(int(axis), nd)
    n = _shape(flat[0])[ax]
    if n is None or any(_shape(e)[ax] != n for e in flat):
        raise ArgumentValueError("associative_scan needs elems of one static length along axis")
    order = list(range(n))[::-1] if reverse else list(range(n))

    def part(i):
        parts = [take(e, np.asarray([i]), axis=ax) for e in flat]
        return parts[0] if single else type(elems)(parts)

    acc = part(order[0])
    outs = [acc]
    for i in order[1:]:
        acc = f(acc, part(i))
        outs.append(acc)
    if reverse:
        outs = outs[::-1]
    if single:
        return apply("concatenate", outs, axis=ax)
    return type(elems)(
        apply("concatenate", [o[k] for o in outs], axis=ax) for k in range(len(flat))
    )


def sparsemax(x, axis=-1):
    """``keras.ops.sparsemax`` (Martins & Astudillo, 2016): the Euclidean projection of
    ``x`` onto the probability simplex along ``axis``."""
    nd = _rank(x)
    ax = normalize_axis(int(axis), nd)
    xm = c.moveaxis(x, ax, -1) if ax != nd - 1 else x
    n = _shape(xm)[-1]
    if n is None:
        raise ArgumentValueError("sparsemax needs a static size along axis")
    from graphc.ops.sorting import sort

    srt = apply("negative", [sort(apply("negative", [xm]), axis=-1)])
    cums = apply("matmul", [srt, np.triu(np.ones((n, n), _dt(x)))])
    r = np.arange(1, n + 1, dtype=_dt(x))
    support = apply(
        "greater",
        [apply("subtract", [srt, apply("divide", [apply("subtract", [cums, 1.0]), r])]), 0.0],
    )
    k = sum(cast(support, _dt(x)), axis=-1, keepdims=True)
    tau = apply(
        "divide",
        [
            apply(
                "subtract",
                [sum(c.where(support, cums, np.asarray(0, _dt(x))), axis=-1, keepdims=True), 1.0],
            ),
            k,
        ],
    )
    out = apply("maximum", [apply("subtract", [xm, tau]), 0.0])
    return c.moveaxis(out, -1, ax) if ax != nd - 1 else out


# ---- adaptive pooling ------------------------------------------------------------------
def _windows(n_in, n_out):
    starts = [(i * n_in) // n_out for i in range(n_out)]
    ends = [-((-(i + 1) * n_in) // n_out) for i in range(n_out)]
    return starts, ends


def _adaptive_axis(x, axis, n_out, mode):
    n_in = _shape(x)[axis]
    if n_in is None:
        raise ArgumentValueError("adaptive pooling needs static spatial sizes")
    starts, ends = _windows(n_in, int(n_out))
    if mode == "average":
        m = np.zeros((n_in, int(n_out)), _dt(x))
        for j, (s, e) in enumerate(zip(starts, ends)):
            m[s:e, j] = 1.0 / (e - s)
        nd = _rank(x)
        xm = c.moveaxis(x, axis, -1)
        return c.moveaxis(apply("matmul", [xm, m]), -1, axis) if nd > 1 else xm
    width = builtins.max(e - s for s, e in zip(starts, ends))
    idx = np.asarray(
        [[builtins.min(s + k, e - 1) for k in range(width)] for s, e in zip(starts, ends)]
    )
    return c.max(take(x, idx, axis=axis), axis=axis + 1)


def _adaptive(inputs, output_size, mode, data_format):
    from graphc.config import image_data_format

    data_format = data_format or image_data_format()
    dims = _rank(inputs) - 2
    if dims not in (1, 2, 3):
        raise ArgumentValueError(
            f"adaptive pooling takes a 3-D, 4-D or 5-D input; received rank {_rank(inputs)}"
        )
    sizes = (output_size,) * dims if isinstance(output_size, int) else tuple(output_size)
    first = 1 if data_format == "channels_last" else 2
    out = inputs
    for k, n in enumerate(sizes):
        out = _adaptive_axis(out, first + k, n, mode)
    return out


def adaptive_average_pool(inputs, output_size, data_format=None):
    """``keras.ops.adaptive_average_pool``: average pooling to ``output_size`` (windows
    from ``floor(i * n / out)`` to ``ceil((i + 1) * n / out)``, as PyTorch's)."""
    return _adaptive(inputs, output_size, "average", data_format)


def adaptive_max_pool(inputs, output_size, data_format=None):
    """``keras.ops.adaptive_max_pool``: max pooling to ``output_size``."""
    return _adaptive(inputs, output_size, "max", data_format)


# ---- unfold / fold (im2col, col2im) ----------------------------------------------------
def _two(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """``keras.ops.unfold``: the sliding blocks of an NCHW ``input`` as columns,
    ``(N, C * kH * kW, L)`` (PyTorch's ``Unfold``)."""
    from graphc.ops.padding import pad

    k, d, p, s = _two(kernel_size), _two(dilation), _two(padding), _two(stride)
    if _rank(input) != 4:
        raise ArgumentValueError(f"unfold takes an (N, C, H, W) input; received {_shape(input)}")
    x = input
    if p != (0, 0):
        x = pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    n, ch, h, w = _shape(x)
    oh = (h - (k[0] - 1) * d[0] - 1) // s[0] + 1
    ow = (w - (k[1] - 1) * d[1] - 1) // s[1] + 1
    rows = np.arange(oh)[:, None] * s[0] + np.arange(k[0])[None, :] * d[0]  # (oh, kh)
    cols = np.arange(ow)[:, None] * s[1] + np.arange(k[1])[None, :] * d[1]  # (ow, kw)
    x = take(x, rows, axis=2)  # (N, C, oh, kh, W)
    x = take(x, cols, axis=4)  # (N, C, oh, kh, ow, kw)
    x = transpose(x, (0, 1, 3, 5, 2, 4))  # (N, C, kh, kw, oh, ow)
    lead = -1 if n is None else n
    return apply("reshape", [x], shape=(lead, ch * k[0] * k[1], oh * ow))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """``keras.ops.fold``: the inverse arrangement of ``unfold`` (overlaps summed), to an
    ``(N, C, oH, oW)`` output (PyTorch's ``Fold``)."""
    (oh, ow), (kh, kw) = _two(output_size), _two(kernel_size)
    (dh, dw), (ph, pw), (sh, sw) = _two(dilation), _two(padding), _two(stride)
    n, ckk, length = _shape(x)
    ch = ckk // (kh * kw)
    nh = (oh + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    nw = (ow + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if nh * nw != length:
        raise ArgumentValueError(
            f"fold: {length} blocks do not tile an output of {(oh, ow)} with kernel "
            f"{(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)}, dilation {(dh, dw)}"
        )
    lead = -1 if n is None else n
    v = apply("reshape", [x], shape=(lead, ch, kh, kw, nh, nw))
    v = transpose(v, (0, 1, 2, 4, 3, 5))  # (N, C, kh, nh, kw, nw)
    v = apply("reshape", [v], shape=(lead, ch, kh * nh, kw * nw))
    dt = _dt(x)
    rows = np.zeros((kh * nh, oh + 2 * ph), dt)
    for i in range(kh):
        for j in range(nh):
            rows[i * nh + j, i * dh + j * sh] = 1
    cols = np.zeros((kw * nw, ow + 2 * pw), dt)
    for i in range(kw):
        for j in range(nw):
            cols[i * nw + j, i * dw + j * sw] = 1
    rows = rows[:, ph : ph + oh]
    cols = cols[:, pw : pw + ow]
    out = apply("matmul", [rows.T.copy(), v])
    return apply("matmul", [out, cols])


# ---- complex numbers: arrays only ------------------------------------------------------
def _arrays_only(name, *xs):
    if builtins.any(is_symbolic(x) for x in xs):
        raise ArgumentValueError(
            f"{name} makes or takes complex numbers, which graphc's tensors cannot hold; "
            "call it on NumPy arrays (in a model, keep (real, imag) pairs as ops.fft does)"
        )


def polar(abs_, angle):
    """``keras.ops.polar`` (arrays only): the complex numbers ``abs_ * exp(i angle)``."""
    _arrays_only("polar", abs_, angle)
    a, t = np.asarray(abs_), np.asarray(angle)
    return (a * np.cos(t) + 1j * a * np.sin(t)).astype(
        np.complex128 if a.dtype == np.float64 else np.complex64
    )


def view_as_complex(x):
    """``keras.ops.view_as_complex`` (arrays only): ``(..., 2)`` reals as complex."""
    _arrays_only("view_as_complex", x)
    x = np.asarray(x)
    if x.shape[-1:] != (2,):
        raise ArgumentValueError(f"the last dimension must be 2; received shape {x.shape}")
    out = x[..., 0] + 1j * x[..., 1]
    return out.astype(np.complex128 if x.dtype == np.float64 else np.complex64)


def view_as_real(x):
    """``keras.ops.view_as_real`` (arrays only): complex numbers as ``(..., 2)`` reals."""
    _arrays_only("view_as_real", x)
    x = np.asarray(x)
    return np.stack([x.real, x.imag], axis=-1)
