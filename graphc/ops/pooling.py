"""Pooling ops, channels-last by default as Keras (``keras.ops.max_pool`` /
``average_pool``), and the global poolings over all spatial axes.

- ``max_pool`` / ``avg_pool``: ``pool_size``, ``strides`` (default ``pool_size``),
  ``padding`` "valid" / "same" (TensorFlow's split, odd pixel after). With "same",
  max pooling ignores the padding and average pooling averages over the input elements
  inside each window only (TensorFlow's rule, ONNX ``count_include_pad=0``).
- ``global_max_pool`` / ``global_avg_pool``: reduce the spatial axes, ``keepdims``.

>>> import numpy as np
>>> from graphc import ops
>>> ops.max_pool(np.arange(16, dtype="float32").reshape(1, 4, 4, 1), 2)[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops._blas import in_pieces
from graphc.ops.conv import (
    _as_tuple,
    _check_window_attrs,
    _from_last,
    _onnx_pads,
    _pad,
    _pads,
    _spatial_out,
    _standard_format,
    _to_last,
    _unpad,
    _window_slices,
    lower_windowed,
    same_padding,
    same_upper_exact,
)
from graphc.ops.registry import Op, apply

__all__ = [
    "max_pool",
    "average_pool",
    "avg_pool",
    "global_max_pool",
    "global_avg_pool",
    "global_average_pool",
]


def _first(attrs) -> bool:
    return attrs.get("data_format", "channels_last") == "channels_first"


class _Pool(Op):
    """Shared by max and average pooling: attributes, shape rule, geometry."""

    onnx_type = ""

    def infer(self, attrs, x):
        pool = tuple(attrs["pool_size"])
        n = len(pool)
        if any(int(p) <= 0 for p in pool):
            raise ShapeError(f"pool_size must be positive, got {pool}")
        _check_window_attrs(attrs, n, "pooling")
        if attrs.get("padding", "valid") == "causal":
            raise ShapeError("pooling padding must be 'valid' or 'same', got 'causal'")
        if len(x.shape) != n + 2:
            raise ShapeError(
                f"a {n}-D pooling expects an input of rank {n + 2} "
                f"(batch, *spatial, channels), got {format_shape(x.shape)}"
            )
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        first = _first(attrs)
        spatial = x.shape[2:] if first else x.shape[1:-1]
        out = _spatial_out(
            spatial,
            pool,
            attrs.get("strides", pool),
            (1,) * n,
            attrs.get("padding", "valid"),
            "pooling",
            "pool_size",
        )
        shape = (x.shape[0], x.shape[1], *out) if first else (x.shape[0], *out, x.shape[-1])
        return TensorType(shape, x.dtype)

    @staticmethod
    def _geometry(attrs, x_last):
        pool = tuple(int(p) for p in attrs["pool_size"])
        n = len(pool)
        strides = tuple(int(s) for s in attrs.get("strides", pool))
        padding = attrs.get("padding", "valid")
        spatial = x_last.shape[1:-1]
        pads = [_pads(s, k, st, 1, padding) for s, k, st in zip(spatial, pool, strides)]
        out = _spatial_out(spatial, pool, strides, (1,) * n, padding, "pooling", "pool_size")
        return pool, strides, (1,) * n, pads, out

    def lower(self, attrs, b, x):
        pool = [int(p) for p in attrs["pool_size"]]
        n = len(pool)
        strides = [int(s) for s in attrs.get("strides", pool)]
        pads = _onnx_pads(b, attrs, pool, (1,) * n)
        padded = pads is None and not same_upper_exact(pool, strides, (1,) * n)
        pad_attrs = (
            {"pads": pads, "auto_pad": "NOTSET"} if pads is not None else {"auto_pad": "SAME_UPPER"}
        )
        if padded:
            pad_attrs = {"pads": [0] * (2 * n), "auto_pad": "NOTSET"}
        average = self.onnx_type == "AveragePool"
        extra = {"count_include_pad": 0} if average else {"storage_order": 0}

        def pool_op(xt):
            return b.op(
                self.onnx_type,
                xt,
                kernel_shape=pool,
                strides=strides,
                ceil_mode=0,
                **extra,
                **pad_attrs,
            )

        def make(xt):
            if not padded:
                return pool_op(xt)
            if not average:
                return pool_op(same_padding(b, xt, pool, strides, (1,) * n, fill=-np.inf))
            # Keras averages over the input elements only: the window sums of the padded
            # input over the window counts, both as means over the whole window.
            sums = pool_op(same_padding(b, xt, pool, strides, (1,) * n))
            shape = b.op(
                "Concat",
                b.const(np.ones(2, dtype=np.int64)),
                b.op(
                    "Slice",
                    b.op("Shape", xt),
                    b.const(np.asarray([2], dtype=np.int64)),
                    b.const(np.asarray([2 + n], dtype=np.int64)),
                ),
                axis=0,
            )
            ones = b.op("Expand", b.scalar(1.0), shape)
            counts = pool_op(same_padding(b, ones, pool, strides, (1,) * n))
            return b.op("Div", sums, counts)

        return lower_windowed(b, attrs, x, n, make)


class MaxPool(_Pool):
    """Max over each window; the gradient goes to the first maximum of a window (row-major
    order), as TensorFlow and PyTorch do."""

    name = "max_pool"
    onnx_type = "MaxPool"
    vjp_reads_outputs = True  # the maxima, to find where they came from
    kernel_returns_fresh = vjp_returns_fresh = True

    def kernel(self, attrs, x, *, ctx):
        fmt = attrs.get("data_format", "channels_last")
        x = _to_last(x, fmt)
        pool, strides, _, pads, out = self._geometry(attrs, x)
        xp = _pad(x, pads, -np.inf)
        # One np.maximum per window offset over (N, *out, C) strided slices: far cheaper
        # than reducing a (N, *out, *pool, C) window view. The first one makes y.
        slices = list(_offset_slices(pool, strides, out))
        if len(slices) == 1:
            return _from_last(xp[slices[0]].copy(), fmt)
        y = np.empty(xp[slices[0]].shape, dtype=x.dtype)

        def part(lo, hi):  # a piece of the batch (in_pieces)
            np.maximum(xp[slices[0]][lo:hi], xp[slices[1]][lo:hi], out=y[lo:hi])
            for sl in slices[2:]:
                np.maximum(y[lo:hi], xp[sl][lo:hi], out=y[lo:hi])

        in_pieces(part, y.shape[0], size=y.size)
        return _from_last(y, fmt)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        fmt = attrs.get("data_format", "channels_last")
        x = _to_last(xs[0], fmt)
        g = _to_last(gys[0], fmt)
        pool, strides, _, pads, out = self._geometry(attrs, x)
        n = len(pool)
        xp = _pad(x, pads, -np.inf)
        y = _to_last(ys[0], fmt)
        slices = list(_offset_slices(pool, strides, out))
        # Offsets in row-major window order; each window's first maximum takes it all.
        if all(s == k for s, k in zip(strides, pool)):
            # Windows that tile the input write each element once: only the rows and
            # columns past the last window need zeros first.
            gxp = _tiled_grad(xp.shape, g.dtype, [o * k for o, k in zip(out, pool)])
        else:
            gxp = np.zeros(xp.shape, dtype=g.dtype)
        # Windows that do not overlap write each input element at most once.
        disjoint = all(s >= k for s, k in zip(strides, pool))

        def part(lo, hi):  # a piece of the batch (in_pieces)
            yh, gh = y[lo:hi], g[lo:hi]
            free = np.ones(yh.shape, dtype=bool)
            hit = np.empty(yh.shape, dtype=bool)
            for sl in slices:
                np.equal(xp[sl][lo:hi], yh, out=hit)
                hit &= free
                free ^= hit
                if disjoint:
                    np.multiply(gh, hit, out=gxp[sl][lo:hi])
                else:
                    gxp[sl][lo:hi] += gh * hit

        in_pieces(part, y.shape[0], size=y.size)
        return (_from_last(_unpad(gxp, pads, x.shape[1 : 1 + n]), fmt),)


def _tiled_grad(shape, dtype, covered):
    """An uninitialised gradient of the padded input ``shape`` whose spatial part past
    ``covered`` (what the windows tile) is zero."""
    gxp = np.empty(shape, dtype=dtype)
    for axis, c in enumerate(covered, start=1):
        if c < shape[axis]:
            tail = [slice(None)] * len(shape)
            tail[axis] = slice(c, None)
            gxp[tuple(tail)] = 0
    return gxp


def _offset_slices(window, strides, out):
    """The strided ``(N, *out, C)`` slice each window offset reads (row-major order)."""
    for _, sl in _window_slices(window, strides, (1,) * len(window), out):
        yield sl


class AvgPool(_Pool):
    """Mean over each window; with "same" padding over the input elements only."""

    name = "avg_pool"
    onnx_type = "AveragePool"

    @staticmethod
    def _counts(pool, strides, pads, out, spatial, dtype):
        """How many input elements each output window covers, shaped ``(1, *out, 1)``."""
        counts = np.ones((1,) * (len(pool) + 2), dtype=dtype)
        for i, (k, s, (before, _), o, size) in enumerate(zip(pool, strides, pads, out, spatial)):
            start = np.arange(o) * s - before
            c = np.minimum(start + k, size) - np.maximum(start, 0)
            shape = [1] * (len(pool) + 2)
            shape[i + 1] = o
            counts = counts * c.reshape(shape).astype(dtype)
        return counts

    def kernel(self, attrs, x, *, ctx):
        fmt = attrs.get("data_format", "channels_last")
        x = _to_last(x, fmt)
        pool, strides, _, pads, out = self._geometry(attrs, x)
        xp = _pad(x, pads, 0)
        y = None
        for sl in _offset_slices(pool, strides, out):
            y = xp[sl].copy() if y is None else np.add(y, xp[sl], out=y)
        y /= self._counts(pool, strides, pads, out, x.shape[1:-1], x.dtype)
        return _from_last(y, fmt)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        fmt = attrs.get("data_format", "channels_last")
        x = _to_last(xs[0], fmt)
        g = _to_last(gys[0], fmt)
        pool, strides, _, pads, out = self._geometry(attrs, x)
        n = len(pool)
        share = g / self._counts(pool, strides, pads, out, x.shape[1:-1], g.dtype)
        padded = (x.shape[0], *(s + b + a for s, (b, a) in zip(x.shape[1:-1], pads)), x.shape[-1])
        gxp = np.zeros(padded, dtype=g.dtype)
        disjoint = all(s >= k for s, k in zip(strides, pool))
        for sl in _offset_slices(pool, strides, out):
            if disjoint:
                gxp[sl] = share
            else:
                gxp[sl] += share
        return (_from_last(_unpad(gxp, pads, x.shape[1 : 1 + n]), fmt),)


# ---- global pooling --------------------------------------------------------------------
class _GlobalPool(Op):
    def infer(self, attrs, x):
        if len(x.shape) < 3:
            raise ShapeError(
                f"global pooling expects an input of rank >= 3 (batch, "
                f"*spatial, channels), got {format_shape(x.shape)}"
            )
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        n = len(x.shape) - 2
        first = _first(attrs)
        keep = attrs.get("keepdims", False)
        if first:
            shape = (x.shape[0], x.shape[1]) + ((1,) * n if keep else ())
        else:
            shape = (x.shape[0],) + ((1,) * n if keep else ()) + (x.shape[-1],)
        return TensorType(shape, x.dtype)

    @staticmethod
    def _axes(attrs, ndim) -> tuple:
        return tuple(range(2, ndim)) if _first(attrs) else tuple(range(1, ndim - 1))

    def lower(self, attrs, b, x):
        types = getattr(b, "in_types", None) or []
        if not types:
            raise NotImplementedError("global pooling needs the input rank at export")
        axes = list(self._axes(attrs, len(types[0].shape)))
        keep = int(bool(attrs.get("keepdims", False)))
        if b.opset >= 18:
            return b.op(self.onnx_type, x, b.const(np.asarray(axes, dtype=np.int64)), keepdims=keep)
        return b.op(self.onnx_type, x, axes=axes, keepdims=keep)


class GlobalAvgPool(_GlobalPool):
    """Mean over the spatial axes (``GlobalAveragePooling1D/2D``)."""

    name = "global_avg_pool"
    onnx_type = "ReduceMean"

    def kernel(self, attrs, x, *, ctx):
        return x.mean(axis=self._axes(attrs, x.ndim), keepdims=attrs.get("keepdims", False))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        axes = self._axes(attrs, x.ndim)
        g = gys[0] if attrs.get("keepdims", False) else np.expand_dims(gys[0], axes)
        count = int(np.prod([x.shape[a] for a in axes]))
        return (np.broadcast_to(g / x.dtype.type(count), x.shape).copy(),)


class GlobalMaxPool(_GlobalPool):
    """Max over the spatial axes (``GlobalMaxPooling1D/2D``); tied maxima share the
    gradient equally, as TensorFlow's and PyTorch's ``reduce_max``/``amax``."""

    name = "global_max_pool"
    onnx_type = "ReduceMax"
    vjp_reads_outputs = True

    def kernel(self, attrs, x, *, ctx):
        return x.max(axis=self._axes(attrs, x.ndim), keepdims=attrs.get("keepdims", False))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        axes = self._axes(attrs, x.ndim)
        keep = attrs.get("keepdims", False)
        y = ys[0] if keep else np.expand_dims(ys[0], axes)
        g = gys[0] if keep else np.expand_dims(gys[0], axes)
        hit = x == y
        return (hit * (g / hit.sum(axis=axes, keepdims=True).astype(x.dtype)),)


# ---- public functions ------------------------------------------------------------------
def _pool_attrs(inputs, pool_size, strides, padding, data_format):
    n = len(inputs.shape) - 2
    if n < 1:
        raise ValueError(
            f"Pooling expects an input of rank >= 3, received shape "
            f"{format_shape(tuple(inputs.shape))}"
        )
    pool = _as_tuple(pool_size, n, "pool_size")
    return {
        "pool_size": pool,
        "strides": pool if strides is None else _as_tuple(strides, n, "strides"),
        "padding": str(padding).lower(),
        "data_format": _standard_format(data_format),
    }


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling as ``keras.ops.max_pool`` (channels-last unless ``data_format``)."""
    return apply(
        "max_pool", [inputs], **_pool_attrs(inputs, pool_size, strides, padding, data_format)
    )


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling as ``keras.ops.average_pool``; "same" averages the input elements
    inside each window only."""
    return apply(
        "avg_pool", [inputs], **_pool_attrs(inputs, pool_size, strides, padding, data_format)
    )


avg_pool = average_pool


def global_max_pool(inputs, data_format=None, keepdims=False):
    """Max over all spatial axes: ``(N, *spatial, C) -> (N, C)``."""
    return apply(
        "global_max_pool",
        [inputs],
        data_format=_standard_format(data_format),
        keepdims=bool(keepdims),
    )


def global_avg_pool(inputs, data_format=None, keepdims=False):
    """Mean over all spatial axes: ``(N, *spatial, C) -> (N, C)``."""
    return apply(
        "global_avg_pool",
        [inputs],
        data_format=_standard_format(data_format),
        keepdims=bool(keepdims),
    )


global_average_pool = global_avg_pool


class MaxUnpool(Op):
    """ONNX's ``MaxUnpool``: ``x`` ``(N, C, *D)`` scattered into zeros of shape
    ``(N, C, *attrs["unpooled"])`` at the flat positions ``indices`` (MaxPool's Indices
    output), then zero-extended to ``attrs["shape"]`` (the ``output_shape`` input, or the
    unpooled shape). The VJP gathers the output gradient back at ``indices``."""

    name = "max_unpool"
    vjp_reads_inputs = True

    def infer(self, attrs, x, indices):
        if not x.dtype.startswith("float") or indices.dtype != "int64":
            raise ShapeError(
                f"expected float values and int64 indices, got {x.dtype} and {indices.dtype}"
            )
        return TensorType((x.shape[0], x.shape[1], *tuple(attrs["shape"])[2:]), x.dtype)

    def kernel(self, attrs, x, indices, *, ctx):
        full = (x.shape[0], x.shape[1], *attrs["unpooled"])
        y = np.zeros(int(np.prod(full)), dtype=x.dtype)
        y[indices.reshape(-1)] = x.reshape(-1)
        y = y.reshape(full)
        shape = (x.shape[0], x.shape[1], *tuple(attrs["shape"])[2:])
        if shape == full:
            return y
        out = np.zeros(shape, dtype=x.dtype)
        out[tuple(slice(0, d) for d in full)] = y
        return out

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, indices = xs
        full = (x.shape[0], x.shape[1], *attrs["unpooled"])
        g = gys[0][tuple(slice(0, d) for d in full)].reshape(-1)
        return (g[indices.reshape(-1)].reshape(x.shape), None)

    def lower(self, attrs, b, x, indices):
        if b.opset < 11:
            raise NotImplementedError(f"max_unpool exports at opset 11 or newer, not {b.opset}")
        y = b.op(
            "MaxUnpool",
            x,
            indices,
            kernel_shape=list(attrs["kernel_shape"]),
            strides=list(attrs["strides"]),
            pads=list(attrs["pads"]),
        )
        # a larger output_shape: zeros after the unpooled block (runtimes differ on how
        # they read the indices against a larger output_shape, so it is spelled out)
        extra = [t - u for t, u in zip(tuple(attrs["shape"])[2:], attrs["unpooled"])]
        if not any(extra):
            return y
        pads = [0] * (2 + len(extra)) + [0, 0] + extra
        return b.op("Pad", y, b.const(np.asarray(pads, dtype=np.int64)))
