"""Image ops behind the augmentation layers (``RandomFlip``, ``RandomRotation``,
``RandomZoom``, ``RandomTranslation``, ``RandomPerspective``).

- ``affine_transform(images, transform, ...)``: Keras 3's ``keras.ops.image.affine_transform``
  in NumPy (on symbolic tensors, the ``affine_transform`` op of
  ``graphc/ops/image_warp.py``, which also holds the rest of ``keras.ops.image``'s
  sampling ops): each output pixel ``(x, y)`` samples the input at
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
    elif kind == "perspective":
        m = _draw_perspective(attrs, rng, n, height, width)
    else:
        raise ValueError(f"unknown random_affine kind {kind!r}")
    return m.astype(dtype)


IDENTITY_TRANSFORM = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


def _draw_perspective(attrs, rng, n, height, width):
    """Keras's ``RandomPerspective`` draws, in its order: a probability per image in
    ``factor``, a threshold per image (transformed when below it), the corners' shifts
    ``(n, 4, 2)`` in ``+-scale / 2`` of their coordinates; then the homography taking the
    shifted corners to the image's (float32). Images left alone get the identity."""
    lo, hi = attrs["factor"]
    scale = float(attrs["scale"])
    probability = rng.uniform(lo, hi, n)
    apply_perspective = rng.uniform(0.0, 1.0, n) < probability
    shift = rng.uniform(-0.5 * scale, 0.5 * scale, (n, 4, 2)).astype("float32")
    w1, h1 = float(width - 1), float(height - 1)
    start = np.array([[0.0, 0.0], [w1, 0.0], [0.0, h1], [w1, h1]], "float32")
    start = np.repeat(start[None], n, axis=0)
    m = compute_homography_matrix(start, start + start * shift)
    return np.where(apply_perspective[:, None], m, np.asarray(IDENTITY_TRANSFORM, "float32"))


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
    "zoom" (``height_factor``, optional ``width_factor``: (lower, upper)), "translation"
    (``height_factor``, ``width_factor``: (lower, upper) fractions of the size) or
    "perspective" (``factor``: (lower, upper) probability, ``scale``: corner shift); plus
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
        if attrs.get("kind") not in ("rotation", "zoom", "translation", "perspective"):
            raise ShapeError(
                "kind must be 'rotation', 'zoom', 'translation' or 'perspective', got "
                f"{attrs.get('kind')!r}"
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


# ---- ONNX Resize: separable, one (output x input) matrix per resized axis -----------------
RESIZE_MODES = ("nearest", "linear", "cubic")
RESIZE_COORDINATES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_crop_and_resize",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _resize_coeffs(attrs, ratio, scale):
    """The interpolation weights of one output position (onnx's reference rules)."""
    mode = attrs.get("mode", "nearest")
    if mode == "nearest":
        if float(ratio).is_integer():
            return np.array([0.0, 1.0])
        rule = attrs.get("nearest_mode", "round_prefer_floor")
        pick = {
            "round_prefer_floor": ratio > 0.5,
            "round_prefer_ceil": ratio >= 0.5,
            "floor": False,
            "ceil": True,
        }[rule]
        return np.array([0.0, 1.0]) if pick else np.array([1.0, 0.0])
    antialias = attrs.get("antialias", 0)
    if mode == "linear":
        if not antialias:
            return np.array([1 - ratio, ratio])
        s = min(scale, 1.0)
        start = int(np.floor(-1 / s) + 1)
        args = (np.arange(start, 2 - start) - ratio) * s
        c = np.clip(1 - np.abs(args), 0, 1)
        return c / c.sum()
    a = float(attrs.get("cubic_coeff_a", -0.75))
    if not antialias:
        r = ratio
        return np.array(
            [
                ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                ((a + 2) * r - (a + 3)) * r * r + 1,
                ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a,
            ]
        )
    s = min(scale, 1.0)
    start = int(np.floor(-2 / s) + 1)
    x = np.abs(s * (np.arange(start, 2 - start) - ratio))
    c = np.where(
        x <= 1,
        (a + 2) * x**3 - (a + 3) * x**2 + 1,
        np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0),
    )
    return c / c.sum()


def _resize_matrix(attrs, size_in, size_out, scale, roi):
    """(W, extrapolated): output = W @ input along the axis, then the extrapolated rows
    (tf_crop_and_resize outside the input) set to ``extrapolation_value``."""
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    y = np.arange(size_out, dtype=np.float64)
    width = scale * size_in
    extrapolated = None
    if ctm == "align_corners":
        x = np.zeros(size_out) if width == 1 else y * (size_in - 1) / (width - 1)
    elif ctm == "asymmetric":
        x = y / scale
    elif ctm == "tf_crop_and_resize":
        lo, hi = roi
        if width == 1:
            x = np.full(size_out, (hi - lo) * (size_in - 1) / 2)
        else:
            x = y * (hi - lo) * (size_in - 1) / (width - 1)
        x = x + lo * (size_in - 1)
        extrapolated = (x < 0) | (x > size_in - 1)
    elif ctm == "pytorch_half_pixel":
        x = np.full(size_out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    else:  # half_pixel_symmetric
        offset = size_in / 2 * (1 - size_out / width)
        x = offset + (y + 0.5) / scale - 0.5
    base = np.floor(x)
    ratios = np.where(x == base, 1.0, x - base)
    w = np.zeros((size_out, size_in))
    for i in range(size_out):
        c = _resize_coeffs(attrs, float(ratios[i]), scale)
        n = len(c)
        pad = int(np.ceil(n / 2))
        xp = x[i] + pad
        p = np.floor(xp)
        frac = xp - p
        if n % 2 == 0:
            off = -(n // 2) if frac == 0 else -(n // 2) + 1
        else:
            off = -((n - 1) // 2) + (0 if frac <= 0.5 else 1)
        idx = int(p) + off + np.arange(n) - pad
        if attrs.get("exclude_outside", 0):
            c = np.where((idx < 0) | (idx >= size_in), 0.0, c)
            total = c.sum()
            c = c / (total if total != 0 else 1.0)
        np.add.at(w[i], np.clip(idx, 0, size_in - 1), c)
    if extrapolated is not None:
        w[extrapolated] = 0.0
    return w, extrapolated


def _resize_plan(attrs, shape):
    """Per resized axis ``(axis, size_in, size_out, scale, roi)``, as onnx's reference
    derives the output size and scale from ``scales`` or ``sizes``."""
    rank = len(shape)
    axes = tuple(attrs.get("axes") or range(rank))
    scales, sizes, roi = attrs.get("scales"), attrs.get("sizes"), attrs.get("roi")
    if sizes is not None:
        scale = [sizes[i] / shape[a] for i, a in enumerate(axes)]
        out = list(sizes)
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            s = min(scale) if policy == "not_larger" else max(scale)
            scale = [s] * len(axes)
            out = [int(s * shape[a] + 0.5) for a in axes]
    else:
        scale = list(scales)
        out = [int(s * shape[a]) for s, a in zip(scales, axes)]
    plan = []
    for i, a in enumerate(axes):
        r = None if roi is None else (roi[i], roi[len(axes) + i])
        same = math.isclose(scale[i], 1.0) and out[i] == shape[a]
        if same and (r is None or (math.isclose(r[0], 0.0) and math.isclose(r[1], 1.0))):
            continue
        plan.append((a, int(shape[a]), int(out[i]), float(scale[i]), r))
    return plan


def _along(w, x, axis):
    return np.moveaxis(np.tensordot(w, x, axes=([1], [axis])), 0, axis)


class Resize(Op):
    """ONNX's ``Resize`` on one tensor: attributes ``axes`` (the resized axes), ``scales``
    or ``sizes`` (one per axis), ``roi`` (tf_crop_and_resize), ``mode``, ``nearest_mode``,
    ``coordinate_transformation_mode``, ``cubic_coeff_a``, ``exclude_outside``,
    ``extrapolation_value``, ``antialias``, ``keep_aspect_ratio_policy``. Every mode is
    linear in the input (one ``(out, in)`` matrix per axis, computed in float64 from the
    sizes), so the VJP applies the transposed matrices."""

    name = "resize"
    vjp_reads_inputs, vjp_reads_outputs = True, False

    def infer(self, attrs, x):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"resize takes floating-point tensors, got dtype {x.dtype}")
        rank = len(x.shape)
        axes = tuple(attrs.get("axes") or range(rank))
        if any(not 0 <= a < rank for a in axes):
            raise ShapeError(f"axes {axes} out of range for rank {rank}")
        if attrs.get("mode", "nearest") not in RESIZE_MODES:
            raise ShapeError(f"mode must be one of {RESIZE_MODES}, got {attrs.get('mode')!r}")
        ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
        if ctm not in RESIZE_COORDINATES:
            raise ShapeError(
                f"coordinate_transformation_mode must be one of {RESIZE_COORDINATES}, got {ctm!r}"
            )
        if (attrs.get("scales") is None) == (attrs.get("sizes") is None):
            raise ShapeError("resize needs exactly one of scales and sizes")
        shape = list(x.shape)
        if all(isinstance(shape[a], int) for a in axes):
            for a, _, out, _, _ in _resize_plan(attrs, [d if d is not None else 1 for d in shape]):
                shape[a] = out
        else:
            for a in axes:
                shape[a] = None
        return TensorType(tuple(shape), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        y = x.astype(np.float64)
        fill = float(attrs.get("extrapolation_value", 0.0))
        for a, n_in, n_out, scale, roi in _resize_plan(attrs, x.shape):
            w, extra = _resize_matrix(attrs, n_in, n_out, scale, roi)
            y = _along(w, y, a)
            if extra is not None and extra.any():
                shape = [1] * y.ndim
                shape[a] = n_out
                y = np.where(extra.reshape(shape), fill, y)
        return y.astype(x.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        g = gys[0].astype(np.float64)
        for a, n_in, n_out, scale, roi in reversed(_resize_plan(attrs, xs[0].shape)):
            w, _ = _resize_matrix(attrs, n_in, n_out, scale, roi)
            g = _along(w.T, g, a)
        return (g.astype(xs[0].dtype),)

    def lower(self, attrs, b, x):
        rank = len(b.in_types[0].shape)
        axes = tuple(attrs.get("axes") or range(rank))
        full = axes == tuple(range(rank))
        if b.opset < 18 and (
            not full
            or attrs.get("antialias")
            or attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch"
        ):
            raise NotImplementedError(
                "resize with axes, antialias or keep_aspect_ratio_policy exports as ONNX "
                f"Resize-18 or newer (exporting at opset {b.opset})"
            )
        if b.opset < 13:
            raise NotImplementedError(f"resize exports at opset 13 or newer, not {b.opset}")
        roi = attrs.get("roi")
        roi_name = b.const(np.asarray(roi if roi is not None else [], dtype=b.float_dtype))
        ins = [x, roi_name]
        if attrs.get("scales") is not None:
            ins.append(b.const(np.asarray(attrs["scales"], dtype=np.float32)))
        else:
            ins += ["", b.const(np.asarray(attrs["sizes"], dtype=np.int64))]
        onnx_attrs = {
            k: attrs[k]
            for k in (
                "mode",
                "nearest_mode",
                "coordinate_transformation_mode",
                "cubic_coeff_a",
                "exclude_outside",
                "extrapolation_value",
                "antialias",
                "keep_aspect_ratio_policy",
            )
            if k in attrs and (b.opset >= 18 or k not in ("antialias", "keep_aspect_ratio_policy"))
        }
        if not full:
            onnx_attrs["axes"] = list(axes)
        return b.op("Resize", *ins, **onnx_attrs)


def onnx_resize(x, scales=None, sizes=None, axes=None, roi=None, **attrs):
    """ONNX ``Resize`` of ``x`` by ``scales`` or to ``sizes`` (one per axis in ``axes``,
    default every axis); the other attributes are ONNX's."""
    a = dict(attrs)
    if axes is not None:
        a["axes"] = tuple(int(v) for v in axes)
    if scales is not None:
        a["scales"] = tuple(float(v) for v in scales)
    if sizes is not None:
        a["sizes"] = tuple(int(v) for v in sizes)
    if roi is not None:
        a["roi"] = tuple(float(v) for v in roi)
    return apply("resize", [x], **a)


# ---- ONNX GridSample -------------------------------------------------------------------
GRID_MODES = ("nearest", "linear", "cubic")
GRID_PADDINGS = ("zeros", "border", "reflection")


def _reflect(x, lo, hi):
    """Reflect ``x`` by the near border until it lies in ``[lo, hi]`` (onnx's rule)."""
    span = hi - lo
    below, above = x < lo, x > hi
    dx = np.where(below, lo - x, np.where(above, x - hi, 0.0))
    n = np.floor(dx / span) if span > 0 else np.zeros_like(dx)
    r = dx - n * span
    even = n % 2 == 0
    low = np.where(even, lo + r, hi - r)
    high = np.where(even, hi - r, lo + r)
    return np.where(below, low, np.where(above, high, x))


def _cubic_weights(t, a=-0.75):
    t = np.abs(t)
    return [
        ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
    ]


def _grid_taps(attrs, dims, grid):
    """(flat indices, weights), each ``(N, P, T)``: output position p of image n is
    ``sum_t weights * x_flat[indices]``: the sampling is linear in the input."""
    mode = attrs.get("mode", "linear")
    padding = attrs.get("padding_mode", "zeros")
    align = bool(attrs.get("align_corners", 0))
    nd = len(dims)
    n = grid.shape[0]
    coords = grid.reshape(n, -1, nd)[..., ::-1]
    per_dim = []
    for d, size in enumerate(dims):
        g = coords[..., d]
        x = (g + 1) / 2.0 * (size - 1) if align else ((g + 1) * size - 1) / 2.0
        x = x.astype(np.float32).astype(np.float64)
        lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
        if mode == "nearest":
            x = np.rint(x)
        out = (x < lo) | (x > hi)
        if padding == "border":
            x = np.where(out, np.clip(x, 0, size - 1), x)
        elif padding == "reflection":
            x = np.where(out, _reflect(x, lo, hi), x)
        if mode == "nearest":
            taps = [(np.trunc(x).astype(np.int64), np.ones_like(x))]
        elif mode == "linear":
            x0 = np.floor(x)
            f = x - x0
            taps = [(x0.astype(np.int64), 1 - f), (x0.astype(np.int64) + 1, f)]
        else:
            x0 = np.floor(x)
            w = _cubic_weights(x - x0)
            taps = [(x0.astype(np.int64) + k - 1, w[k]) for k in range(4)]
        fixed = []
        for i, w in taps:
            if padding == "zeros":
                w = np.where((i >= 0) & (i < size), w, 0.0)
            elif padding == "border":
                i = np.clip(i, 0, size - 1)
            else:
                i = np.clip(np.trunc(_reflect(i.astype(np.float64), lo, hi)), 0, size - 1)
            fixed.append((np.clip(i, 0, size - 1).astype(np.int64), w))
        per_dim.append(fixed)
    index = np.zeros(coords.shape[:2] + (1,), dtype=np.int64)
    weight = np.ones(coords.shape[:2] + (1,))
    for d, size in enumerate(dims):
        i = np.stack([t[0] for t in per_dim[d]], axis=-1)
        w = np.stack([t[1] for t in per_dim[d]], axis=-1)
        index = (index[..., :, None] * size + i[..., None, :]).reshape(n, index.shape[1], -1)
        weight = (weight[..., :, None] * w[..., None, :]).reshape(n, weight.shape[1], -1)
    return index, weight


class GridSample(Op):
    """ONNX's ``GridSample``: ``x`` ``(N, C, *D)`` sampled at ``grid`` ``(N, *D_out,
    len(D))`` (normalised coordinates in [-1, 1], last axis x first). Attributes ``mode``
    (nearest, linear, cubic), ``padding_mode`` (zeros, border, reflection),
    ``align_corners``. The VJP gives the input's gradient; the grid gets none (an error
    says so when it is asked for)."""

    name = "grid_sample"
    vjp_reads_inputs, vjp_reads_outputs = True, False

    def infer(self, attrs, x, grid):
        if not x.dtype.startswith("float") or not grid.dtype.startswith("float"):
            raise ShapeError(f"grid_sample takes float tensors, got {x.dtype} and {grid.dtype}")
        nd = len(x.shape) - 2
        if nd < 1 or len(grid.shape) != nd + 2 or grid.shape[-1] not in (None, nd):
            raise ShapeError(
                f"expected x (N, C, *D) and grid (N, *D_out, len(D)), got "
                f"{format_shape(x.shape)} and {format_shape(grid.shape)}"
            )
        if attrs.get("mode", "linear") not in GRID_MODES:
            raise ShapeError(f"mode must be one of {GRID_MODES}, got {attrs.get('mode')!r}")
        if attrs.get("padding_mode", "zeros") not in GRID_PADDINGS:
            raise ShapeError(
                f"padding_mode must be one of {GRID_PADDINGS}, got {attrs.get('padding_mode')!r}"
            )
        return TensorType((x.shape[0], x.shape[1], *grid.shape[1:-1]), x.dtype)

    def kernel(self, attrs, x, grid, *, ctx):
        n, c = x.shape[:2]
        out = grid.shape[1:-1]
        if n * c * int(np.prod(out)) == 0:
            return np.zeros((n, c, *out), dtype=x.dtype)
        index, weight = _grid_taps(attrs, x.shape[2:], grid)
        flat = x.reshape(n, c, -1)
        p, t = index.shape[1:]
        taken = np.take_along_axis(flat, index.reshape(n, 1, p * t), axis=2).reshape(n, c, p, t)
        y = (taken * weight[:, None].astype(x.dtype)).sum(axis=-1)
        return y.reshape(n, c, *out).astype(x.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, grid = xs
        if needs[1]:
            raise NotImplementedError(
                "grid_sample: the gradient with respect to the grid is not implemented "
                "(differentiate the sampled input only)"
            )
        if not needs[0]:
            return (None, None)
        n, c = x.shape[:2]
        index, weight = _grid_taps(attrs, x.shape[2:], grid)
        g = gys[0].reshape(n, c, -1)
        gx = np.zeros((n, c, int(np.prod(x.shape[2:]))), dtype=np.float64)
        for k in range(n):
            vals = g[k][:, :, None] * weight[k][None]
            np.add.at(gx[k], (slice(None), index[k].ravel()), vals.reshape(c, -1))
        return (gx.reshape(x.shape).astype(x.dtype), None)

    def lower(self, attrs, b, x, grid):
        mode = attrs.get("mode", "linear")
        nd = len(b.in_types[0].shape) - 2
        if b.opset >= 20:
            return b.op("GridSample", x, grid, mode=mode, **_grid_onnx_attrs(attrs))
        if b.opset >= 16 and nd == 2 and mode != "cubic":  # bicubic-16: not checked
            old = {"linear": "bilinear"}.get(mode, mode)
            return b.op("GridSample", x, grid, mode=old, **_grid_onnx_attrs(attrs))
        raise NotImplementedError(
            f"grid_sample on {nd}-D images (mode {mode!r}) exports as ONNX GridSample, which "
            f"needs opset {20 if nd != 2 or mode == 'cubic' else 16} or newer (exporting at "
            f"opset {b.opset})"
        )


def _grid_onnx_attrs(attrs):
    return {
        "padding_mode": attrs.get("padding_mode", "zeros"),
        "align_corners": int(attrs.get("align_corners", 0)),
    }


# ---- ONNX NonMaxSuppression --------------------------------------------------------------
def _iou_suppresses(a, b, center, threshold):
    """Whether box ``b`` suppresses box ``a`` (onnx's reference rule, strict ``>``)."""
    if center:
        ax0, ax1 = a[0] - a[2] / 2, a[0] + a[2] / 2
        bx0, bx1 = b[0] - b[2] / 2, b[0] + b[2] / 2
        ay0, ay1 = a[1] - a[3] / 2, a[1] + a[3] / 2
        by0, by1 = b[1] - b[3] / 2, b[1] + b[3] / 2
    else:
        ax0, ax1 = sorted((a[1], a[3]))
        bx0, bx1 = sorted((b[1], b[3]))
        ay0, ay1 = sorted((a[0], a[2]))
        by0, by1 = sorted((b[0], b[2]))
    ix = min(ax1, bx1) - max(ax0, bx0)
    iy = min(ay1, by1) - max(ay0, by0)
    if ix <= 0 or iy <= 0:
        return False
    inter = ix * iy
    area_a, area_b = (ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0)
    union = area_a + area_b - inter
    if area_a <= 0 or area_b <= 0 or union <= 0:
        return False
    return inter / union > threshold


class NonMaxSuppression(Op):
    """ONNX's ``NonMaxSuppression``: ``boxes`` ``(B, N, 4)`` and ``scores`` ``(B, C, N)``
    give the selected ``(batch, class, box)`` indices, ``(K, 3)`` int64 (K known only
    from the data). Attributes ``max_output_boxes_per_class``, ``iou_threshold``,
    ``score_threshold`` (None: none), ``center_point_box``. A selection: no gradient
    flows to the boxes or the scores (the VJP gives None)."""

    name = "non_max_suppression"
    vjp_reads_inputs = False

    def infer(self, attrs, boxes, scores):
        if len(boxes.shape) != 3 or len(scores.shape) != 3 or boxes.shape[-1] not in (4, None):
            raise ShapeError(
                f"expected boxes (B, N, 4) and scores (B, C, N), got "
                f"{format_shape(boxes.shape)} and {format_shape(scores.shape)}"
            )
        return TensorType((None, 3), "int64")

    def kernel(self, attrs, boxes, scores, *, ctx):
        limit = max(int(attrs.get("max_output_boxes_per_class", 0)), 0)
        iou = float(attrs.get("iou_threshold") or 0.0)
        floor = attrs.get("score_threshold")
        center = int(attrs.get("center_point_box", 0))
        picked = []
        for b in range(boxes.shape[0]):
            for c in range(scores.shape[1]):
                s = scores[b, c]
                order = [i for i in range(s.shape[0]) if floor is None or s[i] > floor]
                # highest score first; among equal scores the lower index first
                order.sort(key=lambda i: (-s[i], i))
                kept: list = []
                for i in order:
                    if len(kept) >= limit:
                        break
                    if not any(
                        _iou_suppresses(boxes[b, i], boxes[b, j], center, iou) for j in kept
                    ):
                        kept.append(i)
                        picked.append((b, c, i))
        return np.asarray(picked, dtype=np.int64).reshape(-1, 3)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None, None)

    def lower(self, attrs, b, boxes, scores):
        if b.opset < 11:
            raise NotImplementedError(
                f"non_max_suppression exports at opset 11 or newer, not {b.opset}"
            )
        ins = [
            boxes,
            scores,
            b.const(np.asarray([int(attrs.get("max_output_boxes_per_class", 0))], np.int64)),
            b.const(np.asarray([float(attrs.get("iou_threshold") or 0.0)], np.float32)),
        ]
        if attrs.get("score_threshold") is not None:
            ins.append(b.const(np.asarray([float(attrs["score_threshold"])], np.float32)))
        return b.op(
            "NonMaxSuppression", *ins, center_point_box=int(attrs.get("center_point_box", 0))
        )


# ---- ONNX RoiAlign -----------------------------------------------------------------------
def _roi_plan(attrs, height, width, roi):
    """For one region: the flat pixel indices ``(P, S, 4)`` and bilinear weights of every
    sample point of every output bin (P bins, S samples each), onnx's reference rules."""
    oh, ow = int(attrs["output_height"]), int(attrs["output_width"])
    scale = float(attrs.get("spatial_scale", 1.0))
    half = attrs.get("coordinate_transformation_mode", "half_pixel") == "half_pixel"
    off = 0.5 if half else 0.0
    x0, y0, x1, y1 = (float(v) * scale - off for v in roi)
    rw, rh = x1 - x0, y1 - y0
    if not half:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    bh, bw = rh / oh, rw / ow
    ratio = int(attrs.get("sampling_ratio", 0))
    gh = ratio if ratio > 0 else int(np.ceil(rh / oh))
    gw = ratio if ratio > 0 else int(np.ceil(rw / ow))
    pos = np.zeros((oh * ow, gh * gw, 4), dtype=np.int64)
    wts = np.zeros((oh * ow, gh * gw, 4))
    for ph in range(oh):
        for pw in range(ow):
            for iy in range(gh):
                y = y0 + ph * bh + (iy + 0.5) * bh / gh
                for ix in range(gw):
                    x = x0 + pw * bw + (ix + 0.5) * bw / gw
                    if y < -1.0 or y > height or x < -1.0 or x > width:
                        continue
                    y, x = max(y, 0.0), max(x, 0.0)
                    yl, xl = int(y), int(x)
                    if yl >= height - 1:
                        yh = yl = height - 1
                        y = float(yl)
                    else:
                        yh = yl + 1
                    if xl >= width - 1:
                        xh = xl = width - 1
                        x = float(xl)
                    else:
                        xh = xl + 1
                    ly, lx = y - yl, x - xl
                    hy, hx = 1.0 - ly, 1.0 - lx
                    p, s = ph * ow + pw, iy * gw + ix
                    pos[p, s] = (yl * width + xl, yl * width + xh, yh * width + xl, yh * width + xh)
                    wts[p, s] = (hy * hx, hy * lx, ly * hx, ly * lx)
    return pos, wts, max(gh * gw, 1)


class RoiAlign(Op):
    """ONNX's ``RoiAlign``: ``x`` ``(N, C, H, W)``, ``rois`` ``(R, 4)`` (x1, y1, x2, y2),
    ``batch_indices`` ``(R,)`` give ``(R, C, output_height, output_width)``. Attributes
    ``mode`` (avg, max), ``output_height``, ``output_width``, ``sampling_ratio``,
    ``spatial_scale``, ``coordinate_transformation_mode``. The VJP gives the input's
    gradient in avg mode (the regions get none, as in torchvision); max mode is not
    differentiable in graphc (its VJP raises)."""

    name = "roi_align"
    vjp_reads_inputs = True

    def infer(self, attrs, x, rois, index):
        if len(x.shape) != 4 or len(rois.shape) != 2 or len(index.shape) != 1:
            raise ShapeError(
                f"expected x (N, C, H, W), rois (R, 4) and batch_indices (R,), got "
                f"{format_shape(x.shape)}, {format_shape(rois.shape)}, {format_shape(index.shape)}"
            )
        if attrs.get("mode", "avg") not in ("avg", "max"):
            raise ShapeError(f"mode must be 'avg' or 'max', got {attrs.get('mode')!r}")
        oh, ow = int(attrs["output_height"]), int(attrs["output_width"])
        return TensorType((rois.shape[0], x.shape[1], oh, ow), x.dtype)

    def kernel(self, attrs, x, rois, index, *, ctx):
        n, c, h, w = x.shape
        oh, ow = int(attrs["output_height"]), int(attrs["output_width"])
        y = np.zeros((rois.shape[0], c, oh * ow), dtype=np.float64)
        flat = x.reshape(n, c, h * w).astype(np.float64)
        for r in range(rois.shape[0]):
            pos, wts, count = _roi_plan(attrs, h, w, rois[r])
            vals = flat[int(index[r])][:, pos] * wts  # (C, P, S, 4)
            if attrs.get("mode", "avg") == "avg":
                y[r] = vals.sum(axis=(2, 3)) / count
            else:
                y[r] = vals.max(axis=3).max(axis=2)
        return y.reshape(rois.shape[0], c, oh, ow).astype(x.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, rois, index = xs
        if not needs[0]:
            return (None, None, None)
        if attrs.get("mode", "avg") != "avg":
            raise NotImplementedError("roi_align: mode='max' has no gradient in graphc")
        n, c, h, w = x.shape
        gx = np.zeros((n, c, h * w))
        g = gys[0].reshape(rois.shape[0], c, -1)
        for r in range(rois.shape[0]):
            pos, wts, count = _roi_plan(attrs, h, w, rois[r])
            vals = g[r][:, :, None, None] * (wts / count)[None]  # (C, P, S, 4)
            np.add.at(gx[int(index[r])], (slice(None), pos.ravel()), vals.reshape(c, -1))
        return (gx.reshape(x.shape).astype(x.dtype), None, None)

    def lower(self, attrs, b, x, rois, index):
        if b.opset < 16:  # RoiAlign-10's results are not checked against graphc's
            raise NotImplementedError(
                f"roi_align exports as ONNX RoiAlign-16, at opset 16 or newer, not {b.opset}"
            )
        onnx_attrs = {
            "mode": attrs.get("mode", "avg"),
            "output_height": int(attrs["output_height"]),
            "output_width": int(attrs["output_width"]),
            "sampling_ratio": int(attrs.get("sampling_ratio", 0)),
            "spatial_scale": float(attrs.get("spatial_scale", 1.0)),
        }
        if b.opset >= 16:
            onnx_attrs["coordinate_transformation_mode"] = attrs.get(
                "coordinate_transformation_mode", "half_pixel"
            )
        return b.op("RoiAlign", x, rois, index, **onnx_attrs)


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

# ... and the sampling ones (graphc/ops/image_warp.py); ``affine_transform`` becomes the
# version that also records on symbolic tensors (eager arrays still run the one above).
from graphc.ops.image_warp import (  # noqa: E402,F401
    affine_transform,  # noqa: E402,F401,F811
    compute_homography_matrix,
    elastic_transform,
    extract_patches_3d,
    map_coordinates,
    perspective_transform,
    scale_and_translate,
    sobel_edges,
    ssim,
)
