"""Image ops behind the augmentation layers (``RandomFlip``, ``RandomRotation``,
``RandomZoom``, ``RandomTranslation``).

- ``affine_transform(images, transform, ...)``: Keras 3's ``keras.ops.image.affine_transform``
  in NumPy (eager only): each output pixel ``(x, y)`` samples the input at
  ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y + 1``, with
  ``transform = [a0, a1, a2, b0, b1, b2, c0, c1]`` per image; fill modes "reflect",
  "wrap", "constant", "nearest", "mirror"; interpolation "bilinear" or "nearest".
- ``random_flip`` and ``random_affine``: graph ops that draw one transformation per sample
  from the executor's random generator in training mode and are the identity in inference
  mode (like ``dropout``). Their second output is what was drawn (flip flags, transform
  matrices): the VJP reads it, as the sampling is linear in the image. The ONNX lowering is
  the inference form (an Identity), and the export's inference-mode pass removes them.

>>> import numpy as np
>>> from graphc import ops
>>> img = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
>>> shift = [1, 0, 1, 0, 1, 0, 0, 0]  # sample one pixel to the right
>>> ops.affine_transform(img, shift, fill_mode="constant")[0, :, :, 0]
array([[1., 2., 0.],
       [4., 5., 0.],
       [7., 8., 0.]], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op, apply

__all__ = ["affine_transform"]

FILL_MODES = ("reflect", "wrap", "constant", "nearest")  # the layers' choices
AFFINE_FILL_MODES = FILL_MODES + ("mirror",)  # keras.ops.image.affine_transform's
INTERPOLATIONS = ("nearest", "bilinear")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


# ---- the deterministic transform (Keras's map_coordinates rules) -----------------------
def _mirror(index, size):
    s = size - 1  # half-wavelength of the triangular wave
    return np.abs((index + s) % (2 * s) - s) if s > 0 else np.zeros_like(index)


def _fix_index(index, size, fill_mode):
    """Where an out-of-range index reads from, per fill mode (Keras's index fixers);
    "constant" clips here and marks the point invalid in ``_corners``."""
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":  # (d c b a | a b c d | d c b a)
        return (_mirror(2 * index + 1, 2 * size + 1) - 1) // 2
    if fill_mode == "mirror":  # (c d c b | a b c d | c b a b)
        return _mirror(index, size)
    return np.clip(index, 0, size - 1)


def _corners(transform, height, width, interpolation, fill_mode, dtype):
    """The sampling plan: a list of ``(iy, ix, weight, valid)`` arrays shaped
    ``(batch, height, width)``, one entry per interpolation corner."""
    t = np.asarray(transform, dtype=dtype).reshape(-1, 8)
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, k, None, None] for k in range(8))
    y = np.arange(height, dtype=dtype)[None, :, None]
    x = np.arange(width, dtype=dtype)[None, None, :]
    k = c0 * x + c1 * y + 1
    src_x = (a0 * x + a1 * y + a2) / k
    src_y = (b0 * x + b1 * y + b2) / k
    if interpolation == "nearest":
        # np.rint rounds half to even, as torch.round in Keras's backend does
        per_axis = [[(np.rint(c).astype(np.int64), None)] for c in (src_y, src_x)]
    else:
        per_axis = []
        for c in (src_y, src_x):
            lower = np.floor(c)
            upper_w = c - lower
            lower = lower.astype(np.int64)
            per_axis.append([(lower, 1 - upper_w), (lower + 1, upper_w)])
    corners = []
    for iy, wy in per_axis[0]:
        for ix, wx in per_axis[1]:
            weight = wy * wx if wy is not None else None
            valid = (
                (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
                if fill_mode == "constant"
                else None
            )
            corners.append(
                (_fix_index(iy, height, fill_mode), _fix_index(ix, width, fill_mode), weight, valid)
            )
    return corners


def _check_transform_args(interpolation, fill_mode):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            "Invalid value for argument `interpolation`. Expected of one "
            f"{set(INTERPOLATIONS)}. Received: interpolation={interpolation}"
        )
    if fill_mode not in AFFINE_FILL_MODES:
        raise ValueError(
            f"Invalid value for argument `fill_mode`. Expected of one "
            f"{set(AFFINE_FILL_MODES)}. Received: fill_mode={fill_mode}"
        )


def _last(x, data_format):
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def _restore(x, data_format):
    return np.moveaxis(x, -1, 1) if data_format == "channels_first" else x


def _transform_batch(images, transform, interpolation, fill_mode, fill_value, data_format):
    """``affine_transform`` on a 4-D batch with one ``(8,)`` row per image."""
    x = _last(images, data_format)
    n, h, w, c = x.shape
    pixels = np.ascontiguousarray(x).reshape(n * h * w, c)
    base = (np.arange(n) * h)[:, None, None]
    out = np.zeros_like(x)
    for iy, ix, weight, valid in _corners(transform, h, w, interpolation, fill_mode, x.dtype):
        # one gather of whole pixels by flat index: cheaper than three index arrays
        v = pixels.take(((base + iy) * w + ix).ravel(), axis=0).reshape(x.shape)
        if valid is not None:
            v = np.where(valid[..., None], v, x.dtype.type(fill_value))
        out += v if weight is None else weight[..., None] * v
    return _restore(out, data_format)


def _transform_batch_vjp(g, transform, interpolation, fill_mode, data_format):
    """The VJP of ``_transform_batch`` in the image: a scatter-add of the output gradient
    with the same weights (filled points read no pixel, so they send nothing back)."""
    g = _last(g, data_format)
    n, h, w, c = g.shape
    gx = np.zeros((n * h * w, c), dtype=g.dtype)
    base = (np.arange(n) * h)[:, None, None]
    for iy, ix, weight, valid in _corners(transform, h, w, interpolation, fill_mode, g.dtype):
        contrib = g if weight is None else weight[..., None] * g
        if valid is not None:
            contrib = contrib * valid[..., None]
        np.add.at(gx, ((base + iy) * w + ix).ravel(), contrib.reshape(-1, c))
    return _restore(gx.reshape(n, h, w, c), data_format)


def affine_transform(
    images,
    transform,
    interpolation="bilinear",
    fill_mode="constant",
    fill_value=0,
    data_format=None,
):
    """``keras.ops.image.affine_transform`` on NumPy arrays: a 3-D image or a 4-D batch,
    with a transform ``(8,)`` or one row per image ``(batch, 8)``."""
    _check_transform_args(interpolation, fill_mode)
    data_format = data_format or "channels_last"
    images = np.asarray(images)
    transform = np.asarray(transform)
    if images.ndim not in (3, 4):
        raise ValueError(
            "Invalid images rank: expected rank 3 (single image) or rank 4 "
            "(batch of images). Received input with shape: "
            f"images.shape={images.shape}"
        )
    if transform.ndim not in (1, 2):
        raise ValueError(
            "Invalid transform rank: expected rank 1 (single transform) or "
            "rank 2 (batch of transforms). Received input with shape: "
            f"transform.shape={transform.shape}"
        )
    dtype = np.result_type(images.dtype, np.float32)
    batch = images[None] if images.ndim == 3 else images
    out = _transform_batch(
        batch.astype(dtype),
        transform.astype(dtype),
        interpolation,
        fill_mode,
        fill_value,
        data_format,
    )
    return (out[0] if images.ndim == 3 else out).astype(images.dtype)


# ---- the transforms the layers draw (Keras's formulas) ---------------------------------
def rotation_matrix(angles, height, width):
    """Rotation by ``angles`` (degrees, counter-clockwise) about the image centre:
    Keras's ``_compute_affine_matrix`` with no shear, scale or translation."""
    theta = np.asarray(angles) * (math.pi / 180.0)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin = np.cos(theta), np.sin(theta)
    zeros = np.zeros_like(theta)
    return np.stack(
        [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zeros, zeros],
        axis=1,
    )


def zoom_matrix(height_zoom, width_zoom, height, width):
    """Zoom about the image centre by the sampling factors (> 1 zooms out)."""
    hz, wz = np.asarray(height_zoom), np.asarray(width_zoom)
    zeros = np.zeros_like(hz)
    return np.stack(
        [
            wz,
            zeros,
            (width - 1.0) / 2.0 * (1.0 - wz),
            zeros,
            hz,
            (height - 1.0) / 2.0 * (1.0 - hz),
            zeros,
            zeros,
        ],
        axis=1,
    )


def translation_matrix(dy, dx):
    """Shift the content by ``dx`` pixels right and ``dy`` pixels down."""
    dy, dx = np.asarray(dy), np.asarray(dx)
    zeros, ones = np.zeros_like(dy), np.ones_like(dy)
    return np.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)


def draw_transforms(attrs, rng, n, height, width, dtype):
    """One ``(8,)`` transform per sample, drawn as the Keras layer of ``attrs["kind"]``
    does (uniform draws in the factor ranges)."""
    kind = attrs["kind"]
    if kind == "rotation":
        lo, hi = attrs["factor"]
        m = rotation_matrix(rng.uniform(lo * 360.0, hi * 360.0, n).astype(dtype), height, width)
    elif kind == "zoom":
        (hl, hu), wf = attrs["height_factor"], attrs.get("width_factor")
        hz = rng.uniform(1.0 + hl, 1.0 + hu, n).astype(dtype)
        wz = hz if wf is None else rng.uniform(1.0 + wf[0], 1.0 + wf[1], n).astype(dtype)
        m = zoom_matrix(hz, wz, height, width)
    elif kind == "translation":
        (hl, hu), (wl, wu) = attrs["height_factor"], attrs["width_factor"]
        dy = rng.uniform(hl, hu, n).astype(dtype) * height
        dx = rng.uniform(wl, wu, n).astype(dtype) * width
        m = translation_matrix(dy, dx)
    else:
        raise ValueError(f"unknown random_affine kind {kind!r}")
    return m.astype(dtype)


# ---- the graph ops ---------------------------------------------------------------------
def _spatial(attrs, shape):
    """(height, width) of a 4-D image batch type in the op's data format."""
    if attrs.get("data_format", "channels_last") == "channels_first":
        return shape[2], shape[3]
    return shape[1], shape[2]


def _check_images(x):
    if len(x.shape) != 4:
        raise ShapeError(
            "expected a 4-D batch of images (batch, height, width, channels) "
            f"(or channels first), got shape {format_shape(x.shape)}"
        )
    if not x.dtype.startswith("float"):
        raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")


def _active(attrs, ctx) -> bool:
    return bool(ctx.training or attrs.get("force_training"))


class RandomFlip(Op):
    """Flip each sample with probability 1/2 in training mode. In "horizontal_and_vertical"
    mode one draw decides both flips (Keras's rule: a sample is flipped both ways or not
    at all). Outputs ``(y, flips)``, ``flips`` 1.0/0.0 per sample."""

    name = "random_flip"
    training_only = True
    n_outputs = 2
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, x):
        _check_images(x)
        if attrs.get("mode", "horizontal_and_vertical") not in FLIP_MODES:
            raise ShapeError(f"mode must be one of {FLIP_MODES}, got {attrs['mode']!r}")
        return TensorType(x.shape, x.dtype), TensorType((x.shape[0],), x.dtype)

    @staticmethod
    def _flip(attrs, x, flips):
        first = attrs.get("data_format", "channels_last") == "channels_first"
        mode = attrs.get("mode", "horizontal_and_vertical")
        axes = []
        if mode in ("horizontal", "horizontal_and_vertical"):
            axes.append(3 if first else 2)
        if mode in ("vertical", "horizontal_and_vertical"):
            axes.append(2 if first else 1)
        return np.where(flips[:, None, None, None] > 0, np.flip(x, axis=axes), x)

    def kernel(self, attrs, x, *, ctx):
        if not _active(attrs, ctx):
            return x, None
        # Keras: uniform(...) <= 0.5 per sample
        flips = (ctx.rng.random(x.shape[0]) <= 0.5).astype(x.dtype)
        return self._flip(attrs, x, flips), flips

    def vjp(self, attrs, xs, ys, gys, needs, out):
        flips = ys[1]
        # a flip is its own inverse (and transpose)
        return (gys[0] if flips is None else self._flip(attrs, gys[0], flips),)

    def lower(self, attrs, b, x):
        return b.op("Identity", x), None


class RandomAffine(Op):
    """Resample each sample through a randomly drawn affine transform in training mode.

    ``kind`` is "rotation" (``factor``: (lower, upper) fractions of a full turn),
    "zoom" (``height_factor``, optional ``width_factor``: (lower, upper)) or "translation"
    (``height_factor``, ``width_factor``: (lower, upper) fractions of the size); plus
    ``fill_mode``, ``interpolation``, ``fill_value``, ``data_format``. Outputs
    ``(y, transforms)``, ``transforms`` shaped ``(batch, 8)``.
    """

    name = "random_affine"
    training_only = True
    n_outputs = 2
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, x):
        _check_images(x)
        try:
            _check_transform_args(
                attrs.get("interpolation", "bilinear"), attrs.get("fill_mode", "reflect")
            )
        except ValueError as e:
            raise ShapeError(str(e)) from None
        if attrs.get("kind") not in ("rotation", "zoom", "translation"):
            raise ShapeError(
                f"kind must be 'rotation', 'zoom' or 'translation', got {attrs.get('kind')!r}"
            )
        return TensorType(x.shape, x.dtype), TensorType((x.shape[0], 8), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        if not _active(attrs, ctx):
            return x, None
        h, w = _spatial(attrs, x.shape)
        t = draw_transforms(attrs, ctx.rng, x.shape[0], h, w, x.dtype)
        y = _transform_batch(
            x,
            t,
            attrs.get("interpolation", "bilinear"),
            attrs.get("fill_mode", "reflect"),
            attrs.get("fill_value", 0.0),
            attrs.get("data_format", "channels_last"),
        )
        return y, t

    def vjp(self, attrs, xs, ys, gys, needs, out):
        t = ys[1]
        if t is None:
            return (gys[0],)
        return (
            _transform_batch_vjp(
                gys[0],
                t,
                attrs.get("interpolation", "bilinear"),
                attrs.get("fill_mode", "reflect"),
                attrs.get("data_format", "channels_last"),
            ),
        )

    def lower(self, attrs, b, x):
        return b.op("Identity", x), None


def random_flip(x, mode="horizontal_and_vertical", data_format="channels_last", training=None):
    """Randomly flip each sample in training mode (always with ``training=True``)."""
    attrs = {"mode": mode, "data_format": data_format}
    if training:
        attrs["force_training"] = True
    return apply("random_flip", [x], **attrs)[0]


def random_affine(x, kind, training=None, **attrs):
    """Randomly rotate, zoom or translate each sample in training mode (see
    ``RandomAffine`` for the attributes)."""
    if training:
        attrs["force_training"] = True
    return apply("random_affine", [x], kind=kind, **attrs)[0]


def rgb_to_grayscale(images, data_format=None):
    """``keras.ops.image.rgb_to_grayscale``: the ITU-R 601 weighted sum of the channels
    (0.2989, 0.5870, 0.1140), keeping a channel axis of size 1."""
    from graphc.config import image_data_format
    from graphc.ops.arrays import sum as _sum

    data_format = data_format or image_data_format()
    nd = len(images.shape) if hasattr(images, "shape") else np.ndim(images)
    if nd not in (3, 4):
        raise ValueError(f"rgb_to_grayscale expects a 3-D or 4-D tensor, got rank {nd}")
    axis = -1 if data_format == "channels_last" else -3
    shape = [1] * nd
    shape[axis] = 3
    dtype = getattr(images, "dtype", "float32")
    w = np.asarray([0.2989, 0.5870, 0.1140], dtype=dtype).reshape(shape)
    return _sum(apply("multiply", [images, w]), axis=axis, keepdims=True)


# keras.ops.image's other functions, made of registered ops (graphc/ops/image_extra.py).
from graphc.ops.image_extra import (  # noqa: E402,F401
    crop_images,
    extract_patches,
    gaussian_blur,
    hsv_to_rgb,
    pad_images,
    resize,
    rgb_to_hsv,
)
