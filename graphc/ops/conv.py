"""Convolution ops, channels-last by default as Keras (``keras.ops.conv``).

One op, ``conv``, generic over the spatial rank (1-D and 2-D are what the layers use;
3-D works too): input ``(N, *spatial, C_in)``, kernel ``(*kernel_size, C_in // groups,
C_out)`` exactly as Keras stores it, an optional bias ``(C_out,)``. With ``groups`` > 1
the channels split into that many blocks and output block ``g`` reads input block ``g``
only (Keras's, torch's and ONNX's convention); ``groups == C_in`` is a depthwise
convolution. The NumPy kernel is im2col through a strided view plus one matmul (a
matmul batched over the groups when grouped); the ONNX lowering is ``Transpose -> Conv
-> Transpose`` (the kernel transposed to ``(C_out, C_in // groups, *k)``, ``group``
set), and ``passes.onnx.peephole.cancel_transpose_pairs`` removes the inverse pairs
between layers.

``depthwise_conv`` and ``separable_conv`` (as ``keras.ops``) are ``conv`` nodes too: with
``depthwise=True`` the op takes Keras's depthwise kernel ``(*kernel_size, C_in,
depth_multiplier)`` and reads it as the grouped kernel ``(*kernel_size, 1, C_in *
depth_multiplier)`` (the same memory: output channel ``c * depth_multiplier + j``). The
reshape lives in the op, not in a node of its own, because an op applied to a weight
alone is evaluated at once when a layer is traced (it would bake the weight's value).

>>> import numpy as np
>>> from graphc import ops
>>> x = np.ones((1, 5, 5, 3), "float32"); w = np.ones((3, 3, 3, 8), "float32")
>>> ops.conv(x, w, padding="same").shape
(1, 5, 5, 8)

The window helpers here (``_pads``, ``_out_dim``, ``_windows``, ``_window_slices``)
serve the pooling ops too.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops._blas import ROW_ALIGN, in_pieces, single_threaded, submit
from graphc.ops._gemm import matmul_tn
from graphc.ops._scratch import Scratch
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import dims_compatible, known

__all__ = ["conv", "depthwise_conv", "separable_conv"]

PADDINGS = ("valid", "same", "causal")
DATA_FORMATS = ("channels_last", "channels_first")


# ---- window arithmetic (shared with pooling) --------------------------------------------
def _eff(k: int, d: int) -> int:
    return (k - 1) * d + 1


def _out_dim(size, k: int, s: int, d: int, padding: str):
    """Output length along one spatial axis (``None`` when the input's is unknown; a
    symbolic length stays itself when "same"/"causal" padding keeps it: stride 1)."""
    if not known(size):
        return size if isinstance(size, str) and s == 1 and padding != "valid" else None
    size = int(size)
    if padding == "valid":
        return (size - _eff(k, d)) // s + 1  # <= 0 when the window does not fit
    return -(-size // s)  # "same" and "causal": ceil(size / stride)


def _pads(size: int, k: int, s: int, d: int, padding: str) -> tuple:
    """(before, after) padding along one axis, as TensorFlow/Keras: "same" puts the odd
    pixel after; "causal" pads before only."""
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return _eff(k, d) - 1, 0
    total = max((-(-size // s) - 1) * s + _eff(k, d) - size, 0)
    return total // 2, total - total // 2


def _check_window_attrs(attrs, n: int, what: str):
    for key in ("strides", "dilation_rate"):
        if key in attrs:
            v = attrs[key]
            if len(v) != n or any(int(t) <= 0 for t in v):
                raise ShapeError(
                    f"{key} must be {n} positive integers for a {n}-D {what}, got {tuple(v)}"
                )
    if attrs.get("padding", "valid") not in PADDINGS:
        raise ShapeError(f"padding must be one of {PADDINGS}, got {attrs.get('padding')!r}")
    if attrs.get("data_format", "channels_last") not in DATA_FORMATS:
        raise ShapeError(
            f"data_format must be one of {DATA_FORMATS}, got {attrs.get('data_format')!r}"
        )


def _spatial_out(in_shape, window, strides, dilation, padding, what: str, kind: str):
    """Output spatial dims; a ShapeError when a window does not fit a "valid" input."""
    out = []
    dil = f", dilation_rate {tuple(dilation)}" if any(d != 1 for d in dilation) else ""
    for size, k, s, d in zip(in_shape, window, strides, dilation):
        o = _out_dim(size, k, s, d, padding)
        if known(o) and o <= 0:
            raise ShapeError(
                f"the {what} window does not fit the input: computed output size would be "
                f"{o} for spatial size {size}, {kind} {tuple(window)}, strides "
                f'{tuple(strides)}{dil} and padding {padding!r}; use padding="same" or a '
                "smaller window"
            )
        out.append(o)
    return tuple(out)


def _pad(x, pads, value):
    """Pad the spatial axes of a channels-last array (a no-op without padding)."""
    if not any(b or a for b, a in pads):
        return x
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=value)


def _windows(xp, out, window, strides, dilation):
    """A read-only strided view ``(N, *out, *window, C)`` of a padded channels-last
    array: the im2col matrix, before the copy that ``reshape`` makes."""
    n = len(window)
    st = xp.strides
    shape = (xp.shape[0], *out, *window, xp.shape[-1])
    strides = (
        st[0],
        *(st[1 + i] * strides[i] for i in range(n)),
        *(st[1 + i] * dilation[i] for i in range(n)),
        st[-1],
    )
    return np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)


def _window_slices(window, strides, dilation, out):
    """For each window offset (row-major order), the index of the strided slice
    ``(N, *out, C)`` of a padded channels-last array that this offset reads."""
    for offs in np.ndindex(*window):
        yield (
            offs,
            (slice(None),)
            + tuple(
                slice(o * dilation[i], o * dilation[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                for i, o in enumerate(offs)
            )
            + (slice(None),),
        )


def _unpad(xp, pads, in_spatial):
    """The part of a padded gradient that belongs to the input (also drops the rows a
    "valid" window never reached, which are zero)."""
    return xp[
        (slice(None),)
        + tuple(slice(b, b + s) for (b, _), s in zip(pads, in_spatial))
        + (slice(None),)
    ]


def _to_last(x, data_format):
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def _from_last(x, data_format):
    return np.moveaxis(x, -1, 1) if data_format == "channels_first" else x


def _to_first_perm(n: int) -> list:
    """ONNX perm (N, *S, C) -> (N, C, *S)."""
    return [0, n + 1, *range(1, n + 1)]


def _to_last_perm(n: int) -> list:
    """ONNX perm (N, C, *S) -> (N, *S, C)."""
    return [0, *range(2, n + 2), 1]


def _onnx_pads(b, attrs, window, dilation):
    """Explicit ONNX pads ``[begin..., end...]``, or ``None`` when "same" padding depends
    on spatial sizes unknown at export (``same_padding`` then pads at run time).

    With stride 1 the "same" pads do not depend on the size (``(k - 1) * d`` in all, the
    odd pixel after), so they are written out even when the size is unknown."""
    n = len(window)
    padding = attrs.get("padding", "valid")
    strides = attrs.get("strides", (1,) * n)
    if padding == "valid":
        return [0] * (2 * n)
    if padding == "causal":
        return [_eff(k, d) - 1 for k, d in zip(window, dilation)] + [0] * n
    types = getattr(b, "in_types", None) or []
    spatial = (None,) * n
    if types:
        shape = types[0].shape
        spatial = shape[2:] if attrs.get("data_format") == "channels_first" else shape[1:-1]
    pads = []
    for s, k, st, d in zip(spatial, window, strides, dilation):
        if known(s):
            pads.append(_pads(int(s), k, st, d, padding))
        elif int(st) == 1:
            pads.append(_pads(1, k, 1, d, padding))  # the same for every size
        else:
            return None
    return [p[0] for p in pads] + [p[1] for p in pads]


def same_upper_exact(window, strides, dilation) -> bool:
    """Whether ONNX's ``auto_pad=SAME_UPPER`` pads as Keras's "same" for every size: without
    dilations (onnxruntime refuses them with it) and with no stride over its window (the
    pads ONNX asks for would be negative for some sizes)."""
    return all(int(d) == 1 and int(s) <= int(k) for k, s, d in zip(window, strides, dilation))


def same_padding(b, xt, window, strides, dilation, fill: float = 0.0):
    """``xt`` (channels first) padded at run time as Keras's "same" (TensorFlow's split:
    the odd pixel after), from its shape: for strides over unknown sizes, where ONNX's
    ``auto_pad=SAME_UPPER`` is refused with dilations (onnxruntime) and asks for negative
    pads when a stride exceeds the window. Returns the padded tensor; the op that reads it
    then takes zero pads."""
    n = len(window)
    i64 = np.int64
    size = b.op(
        "Slice",
        b.op("Shape", xt),
        b.const(np.asarray([2], dtype=i64)),
        b.const(np.asarray([2 + n], dtype=i64)),
    )
    st = b.const(np.asarray(strides, dtype=i64))
    eff = [_eff(int(k), int(d)) for k, d in zip(window, dilation)]
    # out = ceil(size / s); total = max((out - 1) * s + eff - size, 0)
    out = b.op("Div", b.op("Add", size, b.const(np.asarray(strides, dtype=i64) - 1)), st)
    total = b.op(
        "Max",
        b.op(
            "Sub",
            b.op("Add", b.op("Mul", out, st), b.const(np.asarray(eff, dtype=i64) - strides)),
            size,
        ),
        b.const(np.zeros(n, dtype=i64)),
    )
    before = b.op("Div", total, b.const(np.asarray(2, dtype=i64)))
    after = b.op("Sub", total, before)
    zeros = b.const(np.zeros(2, dtype=i64))
    pads = b.op("Concat", zeros, before, zeros, after, axis=0)
    value = b.const(np.asarray(fill, dtype=b.float_dtype))
    return b.op("Pad", xt, pads, value, mode="constant")


def lower_windowed(b, attrs, x, n, make):
    """Wrap a channels-first ONNX op in transposes for channels-last data:
    ``make(x_channels_first) -> y_channels_first``."""
    if attrs.get("data_format", "channels_last") == "channels_first":
        return make(x)
    xt = b.op("Transpose", x, perm=_to_first_perm(n))
    return b.op("Transpose", make(xt), perm=_to_last_perm(n))


# ---- the im2col matrix kept from a training forward for the weight gradient ------------
# Once used, an im2col matrix goes to ``_SCRATCH`` for the next call of the same shape.
_SCRATCH = Scratch()

# A training forward (``ctx.training``) keeps its im2col matrix for the VJP of the same
# node, which pops it: the weight gradient is ``cols.T @ gy`` over the very matrix the
# forward multiplied, instead of a second copy out of the strided windows. Keyed by the
# input array's identity and the geometry; an entry goes when the VJP takes it or when
# its input array is freed (a forward never followed by a backward). The matrices kept
# at once are capped (``_KEEP_BYTES``): past it a VJP rebuilds its matrix as before.
_KEPT: dict = {}
_KEEP_BYTES = 1 << 26
_kept_bytes = [0]


def _keep_cols(x, key, cols) -> bool:
    """Keep ``cols`` for the VJP of the forward over ``x``; False past the cap."""
    if _kept_bytes[0] + cols.nbytes > _KEEP_BYTES:
        return False
    full = (id(x), key)

    def forget(_ref, full=full) -> None:
        entry = _KEPT.pop(full, None)
        if entry is not None:
            _kept_bytes[0] -= entry[1].nbytes

    forget(None)  # an entry left by an earlier forward over the same array
    _KEPT[full] = (weakref.ref(x, forget), cols)
    _kept_bytes[0] += cols.nbytes
    return True


def _take_cols(x, key):
    """The im2col matrix a training forward kept for ``x`` and this geometry, or None."""
    entry = _KEPT.pop((id(x), key), None)
    if entry is None:
        return None
    _kept_bytes[0] -= entry[1].nbytes
    return entry[1] if entry[0]() is x else None


def _ones_column(w) -> bool:
    """Whether an ungrouped conv with a bias gets its im2col matrix with a column of
    ones: the GEMM then adds the bias, and the weight-gradient GEMM gives the bias
    gradient as its last row. Not for a 1x1 kernel, whose matrix is a free reshape."""
    return w[..., 0].size > w.shape[-2]


def _im2col(xp, out, window, strides, dilation, ones: bool):
    """The im2col matrix ``(N * prod(out), K * C)`` of a padded channels-last array, with
    a last column of ones if asked; copied in pieces of the batch (``in_pieces``)."""
    win = _windows(xp, out, window, strides, dilation)
    k = int(np.prod(win.shape[len(out) + 1 :]))
    if not ones and all(int(d) == 1 for d in window) and all(int(s) == 1 for s in strides):
        return win.reshape(-1, k)  # a 1x1 kernel: the input itself, a free reshape
    n, per = xp.shape[0], int(np.prod(out))
    cols = _SCRATCH.empty((n * per, k + ones), xp.dtype)
    if ones:
        cols[:, k] = 1

    def copy(lo, hi):
        np.copyto(cols[lo * per : hi * per, :k].reshape(win[lo:hi].shape), win[lo:hi])

    in_pieces(copy, n, size=cols.size)
    return cols


#: Multiply-adds of a conv's forward product below which the op runs its products with
#: one BLAS thread, the rows of the forward product and the batch of its other steps cut
#: in pieces shared with graphc's worker thread (``_blas.in_pieces``):
#: OpenBLAS's own threads busy-wait between and after products, which on a loaded machine
#: doubled the CNN step's CPU time (2^28 is about 20 ms of one core here: above it, a
#: product keeps every BLAS thread). One BLAS thread changes the rounding of the products
#: (OpenBLAS's threaded products round differently from its single-threaded ones); the
#: pieces do not (see ``_blas.ROW_ALIGN``).
CONV_MACS = 1 << 28


def _rows_product(a, b):
    """``a @ b``, its rows in pieces (``in_pieces``): the same bits as one product."""
    y = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    in_pieces(lambda lo, hi: np.matmul(a[lo:hi], b, out=y[lo:hi]), a.shape[0], ROW_ALIGN, y.size)
    return y


# ---- grouped convolution: the im2col matrix and kernel per group -------------------------
def _grouped_shape(shape) -> tuple:
    """Keras's depthwise kernel shape ``(*k, C_in, dm)`` as ``(*k, 1, C_in * dm)``."""
    c, dm = shape[-2], shape[-1]
    return (*shape[:-2], 1, c * dm if known(c) and known(dm) else None)


def _grouped_kernel(w, attrs):
    """The kernel as ``(*k, C_in // groups, C_out)`` (a reshape of a depthwise one)."""
    return w.reshape(_grouped_shape(w.shape)) if attrs.get("depthwise", False) else w


def _group_cols(win, groups: int):
    """The strided windows ``(N, *out, *k, C)`` as one contiguous im2col matrix per
    group, ``(G, M, K * Cg)`` (M = N * prod(out), K = prod(k), Cg = C // G): one copy,
    as the ungrouped path's ``reshape``."""
    n = (win.ndim - 2) // 2
    cg = win.shape[-1] // groups
    split = win.reshape(*win.shape[:-1], groups, cg)  # a view: splits the last axis
    # (N, *out, *k, G, Cg) -> (G, N, *out, *k, Cg)
    perm = (2 * n + 1, *range(2 * n + 1), 2 * n + 2)
    rows = int(np.prod(win.shape[: n + 1]))
    return np.ascontiguousarray(split.transpose(perm)).reshape(groups, rows, -1)


def _group_kernel(w, groups: int):
    """Keras's kernel ``(*k, Cg, C_out)`` as ``(G, K * Cg, Og)``: output block g."""
    return np.ascontiguousarray(w.reshape(-1, groups, w.shape[-1] // groups).transpose(1, 0, 2))


def _ungroup_kernel(wg, shape):
    """The inverse of ``_group_kernel``: ``(G, K * Cg, Og)`` -> ``(*k, Cg, C_out)``."""
    return np.ascontiguousarray(wg.transpose(1, 0, 2)).reshape(shape)


def _depthwise_kernel(w, groups: int):
    """A depthwise kernel ``(*k, 1, G * Og)`` as ``(*k, Og, G)`` (a view): the channel
    axis last, so the elementwise products below run along it."""
    return np.swapaxes(w.reshape(*w.shape[:-2], groups, -1), -1, -2)


def _depthwise(xp, w, groups, window, strides, dilation, out):
    """A grouped conv with one input channel per group, ``(M, C_out)``: one broadcast
    multiply-add per kernel offset on the strided slices (an im2col matmul would be a
    batch of hundreds of thin products)."""
    wt = _depthwise_kernel(w, groups)
    y = np.zeros((xp.shape[0], *out, wt.shape[-2], groups), dtype=np.result_type(xp, w))
    for offs, sl in _window_slices(window, strides, dilation, out):
        y += xp[sl][..., None, :] * wt[offs]
    return np.swapaxes(y, -1, -2).reshape(-1, w.shape[-1])  # channel g * Og + j


# ---- the op ----------------------------------------------------------------------------
class Conv(Op):
    """N-D convolution (cross-correlation, as Keras), inputs ``(x, kernel[, bias])``.

    Attributes: ``strides`` and ``dilation_rate`` (tuples of the spatial rank),
    ``padding`` "valid" / "same" (TensorFlow's split, odd pixel after) / "causal" (all
    before, Conv1D's), ``data_format`` "channels_last" (default) or "channels_first".
    ``groups`` (default 1) divides C_in and C_out; the kernel is ``(*kernel_size,
    C_in // groups, C_out)`` in both data formats, as Keras. ``depthwise`` (default
    False; needs ``groups == C_in``): the kernel is Keras's depthwise ``(*kernel_size,
    C_in, depth_multiplier)`` instead, read as ``(*kernel_size, 1, C_in *
    depth_multiplier)``.
    """

    name = "conv"
    kernel_returns_fresh = vjp_returns_fresh = True

    def infer(self, attrs, x, w, *bias):
        if len(w.shape) < 3:
            raise ShapeError(
                f"the kernel must be (*kernel_size, in_channels, filters), got "
                f"{format_shape(w.shape)}"
            )
        n = len(w.shape) - 2
        _check_window_attrs(attrs, n, "convolution")
        if len(x.shape) != n + 2:
            raise ShapeError(
                f"a {n}-D convolution expects an input of rank {n + 2} "
                f"(batch, *spatial, channels), got {format_shape(x.shape)}"
            )
        if not (x.dtype == w.dtype and all(t.dtype == x.dtype for t in bias)):
            raise ShapeError(
                "input, kernel and bias must have the same dtype, got "
                + ", ".join(t.dtype for t in (x, w, *bias))
            )
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected floating-point tensors, got dtype {x.dtype}")
        if len(bias) > 1:
            raise ShapeError("takes at most one bias")
        first = attrs.get("data_format", "channels_last") == "channels_first"
        channels = x.shape[1] if first else x.shape[-1]
        spatial = x.shape[2:] if first else x.shape[1:-1]
        groups = attrs.get("groups", 1)
        if not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ShapeError(f"groups must be a positive integer, got {groups!r}")
        kshape = w.shape
        if attrs.get("depthwise", False):
            if not (dims_compatible(channels, groups) and w.shape[-2] == groups):
                raise ShapeError(
                    f"a depthwise kernel (*kernel_size, in_channels, depth_multiplier) needs "
                    f"groups == in_channels: got the kernel {format_shape(w.shape)}, "
                    f"groups={groups} and an input with {channels} channels"
                )
            kshape = _grouped_shape(w.shape)
        filters = kshape[-1]
        if known(filters) and filters % groups:
            raise ShapeError(
                f"the kernel {format_shape(w.shape)} has {filters} output "
                f"channels, which groups={groups} does not divide"
            )
        expected = kshape[-2] * groups if known(kshape[-2]) else None
        if not dims_compatible(channels, expected):
            per = f" ({kshape[-2]} per group x groups={groups})" if groups != 1 else ""
            raise ShapeError(
                f"the input has {channels} channels but the kernel "
                f"{format_shape(w.shape)} expects {expected}{per}"
            )
        if bias and (len(bias[0].shape) != 1 or not dims_compatible(bias[0].shape[0], filters)):
            raise ShapeError(f"the bias must be ({filters},), got {format_shape(bias[0].shape)}")
        if any(known(k) and k <= 0 for k in w.shape):
            raise ShapeError(f"the kernel shape {format_shape(w.shape)} has an empty dim")
        out = _spatial_out(
            spatial,
            w.shape[:n],
            attrs.get("strides", (1,) * n),
            attrs.get("dilation_rate", (1,) * n),
            attrs.get("padding", "valid"),
            "convolution",
            "kernel_size",
        )
        shape = (x.shape[0], filters, *out) if first else (x.shape[0], *out, filters)
        return TensorType(shape, x.dtype)

    # -- NumPy --
    @staticmethod
    def _geometry(attrs, x_last, w):
        n = w.ndim - 2
        window = w.shape[:n]
        strides = tuple(attrs.get("strides", (1,) * n))
        dilation = tuple(attrs.get("dilation_rate", (1,) * n))
        padding = attrs.get("padding", "valid")
        spatial = x_last.shape[1:-1]
        pads = [
            _pads(s, k, st, d, padding) for s, k, st, d in zip(spatial, window, strides, dilation)
        ]
        out = _spatial_out(
            spatial, window, strides, dilation, padding, "convolution", "kernel_size"
        )
        return window, strides, dilation, pads, out

    @staticmethod
    def _small(x_last, w, out) -> bool:
        """Whether an ungrouped conv runs its products with one BLAS thread, in pieces
        (``CONV_MACS``)."""
        macs = x_last.shape[0] * int(np.prod(out)) * w[..., 0].size * w.shape[-1]
        return macs < CONV_MACS

    def kernel(self, attrs, x, w, *bias, ctx):
        if x.dtype == np.float16:
            # half precision accumulates in float32 (as onnxruntime and the GPUs do); a
            # float16 sum over a window drifts past 1e-3
            y = self.kernel(
                attrs,
                x.astype(np.float32),
                w.astype(np.float32),
                *(b.astype(np.float32) for b in bias),
                ctx=ctx,
            )
            return y.astype(np.float16)
        fmt = attrs.get("data_format", "channels_last")
        x = _to_last(x, fmt)
        w = _grouped_kernel(w, attrs)
        window, strides, dilation, pads, out = self._geometry(attrs, x, w)
        xp = _pad(x, pads, 0)
        groups = attrs.get("groups", 1)
        biased = False
        if groups == 1:
            wm = w.reshape(-1, w.shape[-1])
            biased = bool(bias) and _ones_column(w)
            rhs = np.concatenate([wm, bias[0][None]]) if biased else wm
            small = self._small(x, w, out)
            with single_threaded() if small else contextlib.nullcontext():
                cols = _im2col(xp, out, window, strides, dilation, biased)
                y = _rows_product(cols, rhs) if small else cols @ rhs
            kept = (
                ctx is not None
                and ctx.training
                and fmt == "channels_last"
                and _keep_cols(x, (window, strides, dilation, tuple(pads)), cols)
            )
            if not kept and cols.base is None:
                _SCRATCH.give(cols)  # for the next call (not a view of x)
        elif w.shape[-2] == 1:
            y = _depthwise(xp, w, groups, window, strides, dilation, out)
        else:
            cols = _group_cols(_windows(xp, out, window, strides, dilation), groups)
            # (G, M, K*Cg) @ (G, K*Cg, Og) -> (G, M, Og) -> (M, C_out), block g at g*Og
            y = np.matmul(cols, _group_kernel(w, groups))
            y = y.transpose(1, 0, 2).reshape(-1, w.shape[-1])
        if bias and not biased:
            y += bias[0]
        return _from_last(y.reshape(x.shape[0], *out, w.shape[-1]), fmt)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, w = xs[0], _grouped_kernel(xs[1], attrs)
        n_in = len(xs)
        needs = needs if needs is not None else (True,) * n_in
        out = out if out is not None else (None,) * n_in
        fmt = attrs.get("data_format", "channels_last")
        x = _to_last(x, fmt)
        g = _to_last(gys[0], fmt)
        window, strides, dilation, pads, osz = self._geometry(attrs, x, w)
        g2 = g.reshape(-1, w.shape[-1])
        groups = attrs.get("groups", 1)
        if groups != 1:
            gx, gw, *gb = self._grouped_vjp(
                x, w, g2, n_in, needs, fmt, groups, window, strides, dilation, pads, osz
            )
            return (gx, None if gw is None else gw.reshape(xs[1].shape), *gb)
        k = w[..., 0].size
        cols = _take_cols(x, (window, strides, dilation, tuple(pads)))
        if cols is not None and cols.shape not in ((g2.shape[0], k), (g2.shape[0], k + 1)):
            cols = None
        gb_wanted = n_in > 2 and needs[2]

        def weight_grads(cols=cols):
            gw = gb = None
            if cols is None:
                ones = n_in > 2 and _ones_column(w)  # as the forward's (the same sums)
                cols = _im2col(_pad(x, pads, 0), osz, window, strides, dilation, ones)
            buf = out[1]
            if cols.shape[1] == k + 1:
                # the kept matrix has the forward's column of ones: the last row of the
                # product is the bias gradient
                full = matmul_tn(cols, g2)
                if gb_wanted:
                    gb = full[k].copy()
                if buf is not None and buf.shape == w.shape and buf.dtype == g2.dtype:
                    np.copyto(buf, full[:k].reshape(w.shape))
                    gw = buf
                else:
                    gw = full[:k].reshape(w.shape)
            elif buf is not None and buf.flags.c_contiguous and buf.dtype == g2.dtype:
                matmul_tn(cols, g2, out=buf.reshape(k, w.shape[-1]))
                gw = buf
            else:
                gw = matmul_tn(cols, g2).reshape(w.shape)
            if cols.base is None:
                _SCRATCH.give(cols)  # popped from _KEPT or made here: nothing else reads it
            return gw, gb

        def input_grad():
            # The adjoint of im2col, one kernel offset at a time: a GEMM per offset added
            # into a strided slice (no (N*out, k*C_in) matrix to scatter back).
            padded = (
                x.shape[0],
                *(s + b + a for s, (b, a) in zip(x.shape[1:-1], pads)),
                x.shape[-1],
            )
            gxp = np.zeros(padded, dtype=g2.dtype)
            part_shape = (x.shape[0], *osz, x.shape[-1])
            part = _SCRATCH.empty((g2.shape[0], x.shape[-1]), np.result_type(g2, w))
            for offs, sl in _window_slices(window, strides, dilation, osz):
                gxp[sl] += np.matmul(g2, w[offs].T, out=part).reshape(part_shape)
            _SCRATCH.give(part)
            return _from_last(_unpad(gxp, pads, x.shape[1:-1]), fmt)

        gx = gw = gb = None
        with contextlib.ExitStack() as stack:
            job = None
            if self._small(x, w, osz):
                stack.enter_context(single_threaded())
                if needs[0] and needs[1]:
                    # the weight gradient on graphc's worker thread beside the input's,
                    # taken back if the worker has not started it by then (the same
                    # numbers either way)
                    job = submit(weight_grads, any_load=True)
            try:
                if needs[0]:
                    gx = input_grad()
            finally:
                if job is not None and job.cancel():
                    job = None  # computed here, below
                if job is not None:
                    gw, gb = job.result()
            if needs[1] and job is None:
                gw, gb = weight_grads()
        if gb_wanted and gb is None:
            gb = g2.sum(axis=0)
        return (gx, gw, gb)[:n_in]

    @staticmethod
    def _grouped_vjp(x, w, g2, n_in, needs, fmt, groups, window, strides, dilation, pads, osz):
        """The VJP with ``groups`` > 1: the products of the ungrouped VJP batched over
        the groups, or for a depthwise kernel (one input channel per group) the
        elementwise form of ``_depthwise``."""
        depthwise = w.shape[-2] == 1
        gx = gw = gb = None
        xp = _pad(x, pads, 0) if needs[1] else None
        slices = list(_window_slices(window, strides, dilation, osz))
        if depthwise:
            lead = "z" + "abcdef"[: len(window)]  # batch and output positions
            wt = _depthwise_kernel(w, groups)  # (*k, Og, G)
            gt = np.ascontiguousarray(
                np.swapaxes(g2.reshape(x.shape[0], *osz, groups, -1), -1, -2)
            )  # (N, *out, Og, G)
        else:
            gg = np.ascontiguousarray(g2.reshape(g2.shape[0], groups, -1).transpose(1, 0, 2))
        if needs[1] and depthwise:
            gwt = np.empty(wt.shape, dtype=g2.dtype)
            for offs, sl in slices:
                gwt[offs] = np.einsum(f"{lead}g,{lead}og->og", xp[sl], gt)
            gw = np.ascontiguousarray(np.swapaxes(gwt, -1, -2)).reshape(w.shape)
        elif needs[1]:
            cols = _group_cols(_windows(xp, osz, window, strides, dilation), groups)
            gw = _ungroup_kernel(np.matmul(cols.transpose(0, 2, 1), gg), w.shape)
        if n_in > 2 and needs[2]:
            gb = g2.sum(axis=0)
        if needs[0]:
            padded = (
                x.shape[0],
                *(s + b + a for s, (b, a) in zip(x.shape[1:-1], pads)),
                x.shape[-1],
            )
            gxp = np.zeros(padded, dtype=g2.dtype)
            part_shape = (x.shape[0], *osz, x.shape[-1])
            cg = w.shape[-2]
            for offs, sl in slices:
                if depthwise:
                    gxp[sl] += np.einsum(f"{lead}og,og->{lead}g", gt, wt[offs])
                    continue
                # (G, M, Og) @ (G, Og, Cg) -> (G, M, Cg) -> (M, G*Cg)
                wo = w[offs].reshape(cg, groups, -1).transpose(1, 2, 0)
                gxp[sl] += np.matmul(gg, wo).transpose(1, 0, 2).reshape(part_shape)
            gx = _from_last(_unpad(gxp, pads, x.shape[1:-1]), fmt)
        return (gx, gw, gb)[:n_in]

    # -- ONNX --
    def lower(self, attrs, b, x, w, *bias):
        n = len(attrs["strides"])
        types = getattr(b, "in_types", None) or []
        # The window comes from the kernel's shape (a weight: always known).
        window = tuple(int(k) for k in types[1].shape[:n]) if len(types) > 1 else None
        if window is None and attrs.get("padding") == "causal":
            raise NotImplementedError("a causal conv needs the kernel shape at export")
        strides = [int(s) for s in attrs.get("strides", (1,) * n)]
        dilation = [int(d) for d in attrs.get("dilation_rate", (1,) * n)]
        pads = (
            _onnx_pads(b, attrs, window, dilation)
            if window is not None
            else ([0] * (2 * n) if attrs.get("padding") == "valid" else None)
        )
        # (*k, C_in, C_out) -> (C_out, C_in, *k): a Transpose on the weight, which ONNX
        # runtimes fold at load time since its input is an initializer.
        if attrs.get("depthwise", False):
            # (*k, C_in, dm) -> (C_in, dm, *k) -> (C_in * dm, 1, *k)
            wt = b.op("Transpose", w, perm=[n, n + 1, *range(n)])
            wt = b.op("Reshape", wt, b.const(np.asarray([-1, 1, *window], dtype=np.int64)))
        else:
            wt = b.op("Transpose", w, perm=[n + 1, n, *range(n)])
        pad_attrs = (
            {"pads": pads, "auto_pad": "NOTSET"} if pads is not None else {"auto_pad": "SAME_UPPER"}
        )
        padded = (
            pads is None and window is not None and not same_upper_exact(window, strides, dilation)
        )
        if padded:
            pad_attrs = {"pads": [0] * (2 * n), "auto_pad": "NOTSET"}

        def make(xt):
            shape_attr = {"kernel_shape": list(window)} if window is not None else {}
            if padded:
                xt = same_padding(b, xt, window, strides, dilation)
            return b.op(
                "Conv",
                xt,
                wt,
                *bias,
                strides=strides,
                dilations=dilation,
                group=int(attrs.get("groups", 1)),
                **shape_attr,
                **pad_attrs,
            )

        return lower_windowed(b, attrs, x, n, make)


# ---- the public function ---------------------------------------------------------------
def _as_tuple(value, n: int, name: str) -> tuple:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(
            f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
        )
    return value


def _standard_format(data_format) -> str:
    fmt = "channels_last" if data_format is None else str(data_format).lower()
    if fmt not in DATA_FORMATS:
        raise ValueError(
            "The `data_format` argument must be one of "
            "{'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    return fmt


def _attrs(n, strides, padding, data_format, dilation_rate) -> dict:
    return {
        "strides": _as_tuple(strides, n, "strides"),
        "padding": str(padding).lower(),
        "dilation_rate": _as_tuple(dilation_rate, n, "dilation_rate"),
        "data_format": _standard_format(data_format),
    }


def conv(
    inputs,
    kernel,
    strides=1,
    padding="valid",
    data_format=None,
    dilation_rate=1,
    bias=None,
    groups=None,
):
    """N-D convolution as ``keras.ops.conv`` (plus an optional ``bias``, added in the same
    op so that ONNX gets one ``Conv`` with its bias).

    ``kernel`` is ``(*kernel_size, in_channels // groups, filters)``; ``padding`` "valid",
    "same" or "causal"; ``data_format`` ``None`` means "channels_last". ``groups``
    ``None`` infers it as Keras does: input channels // the kernel's input channels.
    """
    n = len(kernel.shape) - 2
    attrs = _attrs(n, strides, padding, data_format, dilation_rate)
    if groups is None:
        channels = inputs.shape[1 if attrs["data_format"] == "channels_first" else -1]
        per = kernel.shape[-2]
        groups = (
            channels // per if known(channels) and known(per) and per and channels % per == 0 else 1
        )
    attrs["groups"] = int(groups)
    return apply("conv", [inputs, kernel] + ([] if bias is None else [bias]), **attrs)


def depthwise_conv(
    inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, bias=None
):
    """``keras.ops.depthwise_conv``: each input channel convolved with its own
    ``depth_multiplier`` filters; ``kernel`` is ``(*kernel_size, C_in, depth_multiplier)``
    and output channel ``c * depth_multiplier + j`` is input channel ``c``'s filter ``j``.

    One ``conv`` node with ``groups = C_in`` and ``depthwise=True`` (see the module's
    docstring).

    >>> import numpy as np
    >>> x = np.ones((1, 5, 5, 3), "float32"); w = np.ones((3, 3, 3, 2), "float32")
    >>> depthwise_conv(x, w).shape
    (1, 3, 3, 6)
    """
    attrs = _attrs(len(kernel.shape) - 2, strides, padding, data_format, dilation_rate)
    return apply(
        "conv",
        [inputs, kernel] + ([] if bias is None else [bias]),
        **attrs,
        groups=int(kernel.shape[-2]),
        depthwise=True,
    )


def separable_conv(
    inputs,
    depthwise_kernel,
    pointwise_kernel,
    strides=1,
    padding="valid",
    data_format=None,
    dilation_rate=1,
    bias=None,
):
    """``keras.ops.separable_conv``: ``depthwise_conv`` (with the strides, padding and
    dilation) then a 1x1 ``conv`` with ``pointwise_kernel`` ``(1, ..., C_in *
    depth_multiplier, filters)``; the optional ``bias`` goes with the pointwise step."""
    y = depthwise_conv(
        inputs,
        depthwise_kernel,
        strides=strides,
        padding=padding,
        data_format=data_format,
        dilation_rate=dilation_rate,
    )
    return conv(y, pointwise_kernel, data_format=data_format, bias=bias, groups=1)
