"""Contrast-limited adaptive histogram equalization: the ``clahe`` op behind
``keras.layers.ContrastLimitedAdaptiveHistogramEqualization``.

Keras 3.15's algorithm (``clahe.py``), in float32 as Keras computes it: the images
(channels last, values on a 0-255 scale) are padded symmetrically at the bottom and
right to a whole number of tiles; each tile's 256-bin histogram of each channel (of the
values cast to integers, clipped to [0, 255]) is clipped at ``clip_limit * tile_pixels /
256`` with the excess spread evenly over the bins; the normalised CDFs, their grid
extended by one tile on each side (edge copies), are interpolated bilinearly between the
four tiles around each pixel, at the pixel's value. The kernel counts with
``np.bincount`` (Keras sums a one-hot tensor); the ONNX lowering counts with
``ScatterElements`` (opset 16 and later) or ``OneHot`` (before).

The output is piecewise constant in the input (values enter only through their integer
bin), so its gradient is zero: the VJP returns zeros.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.arrays import reduce_lowering
from graphc.ops.registry import Op, apply

__all__ = ["clahe"]


def _geometry(h, w, grid):
    gh, gw = (int(g) for g in grid)
    th, tw = -(-h // gh), -(-w // gw)
    return gh, gw, th, tw, th * gh, tw * gw


def _axis_positions(length, tile, grid):
    """Keras's interpolation grid along one axis: the two tile indices (in the grid
    extended by one tile each side) and the weight of the second, per pixel."""
    r = np.arange(length, dtype="float32")
    g = (r - np.float32(tile / 2.0)) / np.float32(tile)
    g = g + np.float32(1.0)
    lo = np.floor(g)
    hi = lo + np.float32(1.0)
    weight = g - lo
    lo = np.clip(lo, 0, grid + 1).astype("int64")
    hi = np.clip(hi, 0, grid + 1).astype("int64")
    return lo, hi, weight


def _symmetric_index(length, pad):
    return np.pad(np.arange(length), (0, pad), mode="symmetric")


def clahe_nhwc(x, clip_limit, tile_grid_size):
    """Keras's ``_clahe`` on a float batch ``(n, h, w, c)`` on a 0-255 scale."""
    x = np.asarray(x, dtype="float32")
    n, h, w, c = x.shape
    gh, gw, th, tw, hp, wp = _geometry(h, w, tile_grid_size)
    if hp != h or wp != w:
        x = x[:, _symmetric_index(h, hp - h)][:, :, _symmetric_index(w, wp - w)]
    tiles = x.reshape(n, gh, th, gw, tw, c).transpose(0, 1, 3, 5, 2, 4)
    ints = np.clip(np.trunc(tiles).astype("int64"), 0, 255).reshape(-1, th * tw)
    rows = ints.shape[0]
    flat = ints + (np.arange(rows, dtype="int64") * 256)[:, None]
    hist = np.bincount(flat.ravel(), minlength=rows * 256).astype("float32")
    hist = hist.reshape(n, gh, gw, c, 256)
    if clip_limit > 0:
        limit = np.float32(clip_limit * (th * tw) / 256.0)
        clipped = np.clip(hist, np.float32(0), limit)
        excess = np.sum(hist - clipped, axis=-1, keepdims=True, dtype="float32")
        hist = clipped + excess / np.float32(256.0)
    cdf = np.cumsum(hist, axis=-1, dtype="float32")
    cdf_min = cdf.min(axis=-1, keepdims=True)
    numerator = (cdf - cdf_min) * np.float32(255.0)
    denominator = np.float32(th * tw) - cdf_min
    denominator = np.where(denominator == 0, np.float32(1.0), denominator)
    lut = np.clip(numerator / denominator, np.float32(0), np.float32(255))
    lut = np.pad(lut, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)), mode="edge")
    y0, y1, wy = _axis_positions(hp, th, gh)
    x0, x1, wx = _axis_positions(wp, tw, gw)
    pixels = np.clip(x, 0, 255).astype("int64")
    b = np.arange(n)[:, None, None, None]
    ch = np.arange(c)[None, None, None, :]
    wy, wx = wy[None, :, None, None], wx[None, None, :, None]
    y0, y1 = y0[None, :, None, None], y1[None, :, None, None]
    x0, x1 = x0[None, None, :, None], x1[None, None, :, None]
    nw, ne = lut[b, y0, x0, ch, pixels], lut[b, y0, x1, ch, pixels]
    sw, se = lut[b, y1, x0, ch, pixels], lut[b, y1, x1, ch, pixels]
    one = np.float32(1.0)
    top = nw * (one - wx) + ne * wx
    bottom = sw * (one - wx) + se * wx
    out = top * (one - wy) + bottom * wy
    return np.ascontiguousarray(out[:, :h, :w, :])


class Clahe(Op):
    """``clahe(x)``: Keras's CLAHE of a channels-last float batch on a 0-255 scale
    (``clip_limit``, ``tile_grid_size``); the same shape and dtype out."""

    name = "clahe"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        if len(x.shape) != 4:
            raise ShapeError(
                "expected a 4-D batch of images (batch, height, width, channels), got shape "
                f"{format_shape(x.shape)}"
            )
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        if any(d is None for d in x.shape[1:]):
            raise ShapeError(
                "CLAHE needs a known height, width and channel count; got shape "
                f"{format_shape(x.shape)}"
            )
        grid = attrs.get("tile_grid_size", (8, 8))
        if len(grid) != 2 or any(int(g) < 1 for g in grid):
            raise ShapeError(f"tile_grid_size must be two positive integers, got {grid}")
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        y = clahe_nhwc(x, float(attrs.get("clip_limit", 4.0)), attrs.get("tile_grid_size", (8, 8)))
        return y.astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (np.zeros_like(gys[0]) if needs[0] else None,)

    def lower(self, attrs, b, x):
        h, w, c = (int(d) for d in b.in_types[0].shape[1:])
        gh, gw, th, tw, hp, wp = _geometry(h, w, attrs.get("tile_grid_size", (8, 8)))
        clip_limit = float(attrs.get("clip_limit", 4.0))
        i64 = lambda v: b.const(np.asarray(v, dtype="int64"))  # noqa: E731
        f32 = lambda v: b.const(np.asarray(v, dtype="float32"))  # noqa: E731
        if b.in_types[0].dtype != "float32":
            x = b.op("Cast", x, to=1)
        if hp != h:
            x = b.op("Gather", x, i64(_symmetric_index(h, hp - h)), axis=1)
        if wp != w:
            x = b.op("Gather", x, i64(_symmetric_index(w, wp - w)), axis=2)
        tiles = b.op("Reshape", x, i64([-1, gh, th, gw, tw, c]))
        tiles = b.op("Transpose", tiles, perm=[0, 1, 3, 5, 2, 4])
        ints = b.op("Cast", b.op("Reshape", tiles, i64([-1, th * tw])), to=7)  # int64
        ints = b.op("Clip", ints, i64(0), i64(255))
        if b.opset >= 16:
            rows = b.op("Slice", b.op("Shape", ints), i64([0]), i64([1]))
            zeros = b.op("Expand", f32(0.0), b.op("Concat", rows, i64([256]), axis=0))
            ones = b.op("Expand", f32(1.0), b.op("Shape", ints))
            hist = b.op("ScatterElements", zeros, ints, ones, axis=1, reduction="add")
        else:
            hot = b.op("OneHot", ints, i64([256]), f32([0.0, 1.0]), axis=-1)
            hist = reduce_lowering(b, "ReduceSum", hot, (1,), False)
        hist = b.op("Reshape", hist, i64([-1, gh, gw, c, 256]))
        if clip_limit > 0:
            limit = f32(np.float32(clip_limit * (th * tw) / 256.0))
            clipped = b.op("Clip", hist, f32(0.0), limit)
            excess = reduce_lowering(b, "ReduceSum", b.op("Sub", hist, clipped), (-1,), True)
            hist = b.op("Add", clipped, b.op("Div", excess, f32(256.0)))
        cdf = b.op("CumSum", hist, i64(-1))
        cdf_min = reduce_lowering(b, "ReduceMin", cdf, (-1,), True)
        numerator = b.op("Mul", b.op("Sub", cdf, cdf_min), f32(255.0))
        denominator = b.op("Sub", f32(float(th * tw)), cdf_min)
        denominator = b.op("Where", b.op("Equal", denominator, f32(0.0)), f32(1.0), denominator)
        lut = b.op("Clip", b.op("Div", numerator, denominator), f32(0.0), f32(255.0))
        edge_y = np.concatenate([[0], np.arange(gh), [gh - 1]])
        edge_x = np.concatenate([[0], np.arange(gw), [gw - 1]])
        lut = b.op("Gather", lut, i64(edge_y), axis=1)
        lut = b.op("Gather", lut, i64(edge_x), axis=2)
        lut = b.op("Reshape", lut, i64([-1, (gh + 2) * (gw + 2) * c * 256]))
        pixels = b.op("Cast", b.op("Clip", x, f32(0.0), f32(255.0)), to=7)
        y0, y1, wy = _axis_positions(hp, th, gh)
        x0, x1, wx = _axis_positions(wp, tw, gw)
        stride_x = c * 256
        stride_y = stride_x * (gw + 2)
        channel = (np.arange(c) * 256)[None, None, :]

        def corner(ys, xs):
            offset = ys[:, None, None] * stride_y + xs[None, :, None] * stride_x + channel
            idx = b.op("Add", pixels, i64(offset))
            idx = b.op("Reshape", idx, i64([-1, hp * wp * c]))
            v = b.op("GatherElements", lut, idx, axis=1)
            return b.op("Reshape", v, i64([-1, hp, wp, c]))

        wx_, wy_ = wx[None, :, None], wy[:, None, None]
        one = np.float32(1.0)

        def lerp(a, c_, weight, complement):
            return b.op("Add", b.op("Mul", a, f32(complement)), b.op("Mul", c_, f32(weight)))

        top = lerp(corner(y0, x0), corner(y0, x1), wx_, one - wx_)
        bottom = lerp(corner(y1, x0), corner(y1, x1), wx_, one - wx_)
        out = lerp(top, bottom, wy_, one - wy_)
        if hp != h or wp != w:
            out = b.op("Slice", out, i64([0, 0]), i64([h, w]), i64([1, 2]))
        if b.out_types[0].dtype != "float32":
            out = b.op("Cast", out, to=11 if b.out_types[0].dtype == "float64" else 10)
        return out


def clahe(x, clip_limit=4.0, tile_grid_size=(8, 8)):
    """CLAHE of a channels-last float batch on a 0-255 scale (see ``Clahe``)."""
    return apply(
        "clahe",
        [x],
        clip_limit=float(clip_limit),
        tile_grid_size=tuple(int(g) for g in tile_grid_size),
    )
