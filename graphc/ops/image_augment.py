"""Keras 3's random image augmentations in NumPy: the ``image_augment`` op (colour and
value transforms: brightness, contrast, grayscale, hue, saturation, colour degeneration,
colour jitter, invert, posterization, solarization, sharpness) and ``random_crop``.

Each ``kind`` has a draw (the per-image parameters Keras's ``get_random_transformation``
draws, in its order, from the executor's generator) and an apply (Keras's
``transform_images`` given those parameters), so a test can give the apply Keras's own
draws. Both ops are the identity in inference (``training_only``; the export pass drops
them); ``random_crop`` takes its inference output (Keras's centre crop and resize, made
of ordinary ops) as its first input and returns it outside training.

No gradient flows through the random transforms to their input (they stand first in a
model, on the data); a model that needs one raises a clear error.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.image import _transform_batch, draw_transforms
from graphc.ops.image_extra import _band, _gauss
from graphc.ops.registry import Op, apply

__all__ = [
    "image_augment",
    "random_crop",
    "AUGMENT_KINDS",
    "apply_augment",
    "draw_augment",
    "mix_labels",
]

_EPS = 1e-7  # keras.config.epsilon()


def _nhwc(x, data_format):
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def _back(y, data_format):
    return np.moveaxis(y, -1, 1) if data_format == "channels_first" else y


def _to_range(x, source, target):
    """Keras's ``_transform_value_range``."""
    if source[0] == target[0] and source[1] == target[1]:
        return x
    x = (x - np.float32(source[0])) / (np.float32(source[1]) - np.float32(source[0]))
    return x * (np.float32(target[1]) - np.float32(target[0])) + np.float32(target[0])


def rgb_to_hsv(x):
    """Keras's ``ops.image.rgb_to_hsv`` (dm_pix's formulas), channels last."""
    eps = np.finfo(x.dtype).eps
    x = np.where(np.abs(x) < eps, np.zeros((), x.dtype), x)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    minimum = np.minimum(np.minimum(r, g), b)
    range_ = value - minimum
    safe_value = np.where(value > 0, value, np.ones((), x.dtype))
    safe_range = np.where(range_ > 0, range_, np.ones((), x.dtype))
    saturation = np.where(value > 0, range_ / safe_value, np.zeros((), x.dtype))
    norm = np.float32(1.0) / (np.float32(6.0) * safe_range)
    hue = np.where(
        value == g, norm * (b - r) + np.float32(2.0 / 6.0), norm * (r - g) + np.float32(4.0 / 6.0)
    )
    hue = np.where(value == r, norm * (g - b), hue)
    hue = np.where(range_ > 0, hue, np.zeros((), x.dtype)) + (hue < 0).astype(x.dtype)
    return np.stack([hue, saturation, value], axis=-1).astype(x.dtype, copy=False)


def hsv_to_rgb(x):
    """Keras's ``ops.image.hsv_to_rgb``, channels last."""
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    dh = np.remainder(h, np.float32(1.0)) * np.float32(6.0)
    dr = np.clip(np.abs(dh - 3) - 1, 0, 1)
    dg = np.clip(2 - np.abs(dh - 2), 0, 1)
    db = np.clip(2 - np.abs(dh - 4), 0, 1)
    one_minus_s = 1 - s
    rgb = [v * (one_minus_s + s * d) for d in (dr, dg, db)]
    return np.stack(rgb, axis=-1).astype(x.dtype, copy=False)


def _grayscale(x):
    """Keras's ``rgb_to_grayscale`` (channels last, one channel kept)."""
    w = np.array([0.2989, 0.5870, 0.1140], dtype=x.dtype)
    return np.tensordot(x, w, axes=([-1], [0]))[..., None].astype(x.dtype, copy=False)


def _col(v, n=4):
    """Per-image values ``(n,)`` shaped to broadcast against ``(n, h, w, c)``."""
    return np.asarray(v).reshape((-1,) + (1,) * (n - 1))


# ---- the draws (Keras's get_random_transformation, in order) -----------------------------
def _u(rng, low, high, n):
    return np.asarray(rng.uniform(low, high, n), dtype="float64")


def draw_augment(attrs, rng, n: int, shape=None) -> dict:
    """The parameters of ``n`` images (``shape``: the batch's, for the kinds that
    draw per pixel) as Keras's ``get_random_transformation`` draws them."""
    kind = attrs["kind"]
    f = attrs.get("factor")
    if kind in ("equalization", "auto_contrast"):
        return {}
    if kind == "gaussian_blur":
        probability = _u(rng, f[0], f[1], n)
        apply_blur = _u(rng, 0.0, 1.0, n) < probability
        sigma = attrs["sigma"]
        blur = _u(rng, sigma[0], sigma[1], 2).astype("float32") + np.float32(1e-6)
        return {"should_apply_blur": apply_blur, "blur_factor": blur}
    if kind == "erasing":
        return _draw_erasing(attrs, rng, n, shape)
    if kind == "shear":
        invert = np.where(_u(rng, 0.0, 1.0, (n, 1)) > 0.5, -1.0, 1.0)
        yf, xf = attrs["y_factor"], attrs["x_factor"]
        sy = _u(rng, yf[0], yf[1], (n, 1))
        sx = _u(rng, xf[0], xf[1], (n, 1))
        return {"shear_factor": (np.concatenate([sx, sy], axis=1) * invert).astype("float32")}
    if kind == "rand_augment":
        idx = np.asarray(rng.integers(0, len(RAND_AUGMENT_OPS), attrs.get("num_ops", 2)))
        out = {"layer_idxes": idx}
        for name, sub in _rand_augment_parts(attrs):
            if name in ("translation", "rotation"):
                h, w = (
                    (shape[2], shape[3]) if sub["data_format"] == "channels_first" else shape[1:3]
                )
                t = draw_transforms(sub, rng, n, h, w, "float32")
                out.update({f"{name}/transforms": t})
            else:
                out.update({f"{name}/{k}": v for k, v in draw_augment(sub, rng, n, shape).items()})
        return out
    if kind == "mix_up":
        perm = np.asarray(rng.permutation(n), dtype="int64")
        alpha = attrs["alpha"]
        return {"permutation_order": perm, "mix_weight": np.asarray(rng.beta(alpha, alpha, n))}
    if kind == "cut_mix":
        return _draw_cut_mix(attrs, rng, n, shape)
    if kind == "brightness":
        vr = attrs["value_range"]
        return {"rgb_delta": _u(rng, f[0], f[1], n) * (vr[1] - vr[0])}
    if kind == "contrast":
        return {"contrast_factor": _u(rng, 1.0 - f[0], 1.0 + f[1], n)}
    if kind == "grayscale":
        return {"should_apply": _u(rng, 0.0, 1.0, n) < f}
    if kind == "hue":
        invert = np.where(_u(rng, 0.0, 1.0, n) > 0.5, -1.0, 1.0)
        return {"factor": invert * _u(rng, f[0], f[1], n) * 0.5}
    if kind == "saturation":
        factor = _u(rng, f[0], f[1], n).astype("float32")
        return {"factor": factor / (1 - factor + np.float32(_EPS))}
    if kind in ("color_degeneration", "sharpness"):
        return {"factor": _u(rng, f[0], f[1], n)}
    if kind == "invert":
        probability = _u(rng, f[0], f[1], n)
        return {"apply_inversion": _u(rng, 0.0, 1.0, n) < probability}
    if kind == "posterization":
        if f[0] != f[1]:
            factor = np.asarray(rng.integers(int(f[0]), int(f[1]), n), dtype="uint8")
        else:
            factor = np.full(n, int(f[0]), dtype="uint8")
        return {"shift_factor": (8 - factor).astype("uint8")}
    if kind == "solarization":
        a, t = attrs["addition_factor"], attrs["threshold_factor"]
        return {
            "additions": _u(rng, a[0], a[1] * 255, n),
            "thresholds": _u(rng, t[0], t[1] * 255, n),
        }
    if kind == "color_jitter":
        out = {}
        for sub in _jitter_parts(attrs):
            out.update({f"{sub['kind']}/{k}": v for k, v in draw_augment(sub, rng, n).items()})
        return out
    raise ShapeError(f"unknown image_augment kind {kind!r}")


def _draw_erasing(attrs, rng, n, shape):
    first = attrs.get("data_format") == "channels_first"
    h, w = (shape[2], shape[3]) if first else (shape[1], shape[2])
    scale, f = attrs["scale"], attrs["factor"]
    weight = np.sqrt(_u(rng, scale[0], scale[1], (n, 2)).astype("float32"))

    def bounds(length, ratio):
        crop = (ratio * np.float32(length)).astype("float32")
        start = _u(rng, 0.0, 1.0, n).astype("float32") * (np.float32(length) - crop)
        return start, start + crop

    x0, x1 = bounds(w, weight[:, 0])
    y0, y1 = bounds(h, weight[:, 1])
    mask = _box_mask(first, shape, x0, x1, y0, y1)
    probability = _u(rng, f[0], f[1], n)
    apply_erasing = _u(rng, 0.0, 1.0, n) < probability
    vr = attrs["value_range"]
    fill = attrs.get("fill_value")
    if fill is None:
        fill = np.asarray(rng.standard_normal(shape), "float32") * np.float32(vr[1])
    else:
        fill = np.broadcast_to(np.asarray(fill, "float32"), shape)
        if first and np.ndim(attrs.get("fill_value")) == 1:
            fill = np.broadcast_to(np.asarray(attrs["fill_value"], "float32")[:, None, None], shape)
    fill = np.clip(fill, vr[0], vr[1])
    return {"apply_erasing": apply_erasing, "batch_masks": mask, "fill_value": fill}


def _box_mask(first, shape, x0, x1, y0, y1):
    h, w = (shape[2], shape[3]) if first else (shape[1], shape[2])
    gy, gx = np.meshgrid(
        np.arange(h, dtype="float32"), np.arange(w, dtype="float32"), indexing="ij"
    )
    c = _col
    mask = (gx >= c(x0, 3)) & (gx < c(x1, 3)) & (gy >= c(y0, 3)) & (gy < c(y1, 3))
    if first:
        return np.repeat(mask[:, None], shape[1], axis=1)
    return np.repeat(mask[..., None], shape[3], axis=3)


def _draw_cut_mix(attrs, rng, n, shape):
    first = attrs.get("data_format") == "channels_first"
    h, w = (shape[2], shape[3]) if first else (shape[1], shape[2])
    f = attrs["factor"]
    alpha = np.float32(_u(rng, f[0], f[1], 1)[0]) + np.float32(1e-6)
    mix = np.asarray(rng.beta(alpha, alpha, n), dtype="float32")
    ratio = np.sqrt(np.float32(1.0) - mix)

    def bounds(length):
        crop = (ratio * np.float32(length)).astype("float32")
        start = _u(rng, 0.0, 1.0, n).astype("float32") * (np.float32(length) - crop)
        return start, start + crop

    x0, x1 = bounds(w)
    y0, y1 = bounds(h)
    mask = _box_mask(first, shape, x0, x1, y0, y1)
    weight = np.float32(1.0) - (x1 - x0) * (y1 - y0) / np.float32(w * h)
    perm = np.asarray(rng.permutation(n), dtype="int64")
    return {"permutation_order": perm, "batch_masks": mask, "mix_weight": weight}


def mix_labels(labels, params):
    """MixUp's and CutMix's ``transform_labels``: each label blended with its partner's
    by the image's mixing weight."""
    labels = np.asarray(labels)
    w = (
        np.asarray(params["mix_weight"])
        .reshape(-1, 1)
        .astype(labels.dtype if labels.dtype.kind == "f" else "float32")
    )
    return w * labels + (1.0 - w) * np.take(labels, params["permutation_order"], axis=0)


#: RandAugment's layers, in Keras's order.
RAND_AUGMENT_OPS = (
    "shear",
    "translation",
    "rotation",
    "brightness",
    "color_degeneration",
    "contrast",
    "sharpness",
    "posterization",
    "solarization",
    "auto_contrast",
    "equalization",
)


def _rand_augment_parts(attrs) -> list:
    """``(name, attrs)`` of RandAugment's layers, built as Keras builds them from
    ``factor`` (a pair) and ``value_range``."""
    f, vr, fmt = tuple(attrs["factor"]), tuple(attrs["value_range"]), attrs.get("data_format")
    interpolation = attrs.get("interpolation", "bilinear")
    affine = {"interpolation": interpolation, "fill_mode": "reflect", "fill_value": 0.0}
    sorted_vr = tuple(sorted(vr))
    parts = {
        "shear": {"kind": "shear", "x_factor": f, "y_factor": f, **affine},
        "translation": {"kind": "translation", "height_factor": f, "width_factor": f, **affine},
        "rotation": {"kind": "rotation", "factor": f, **affine},
        "brightness": {"kind": "brightness", "factor": f, "value_range": sorted_vr},
        "color_degeneration": {"kind": "color_degeneration", "factor": f, "value_range": sorted_vr},
        "contrast": {"kind": "contrast", "factor": f, "value_range": vr},
        "sharpness": {"kind": "sharpness", "factor": f, "value_range": sorted_vr},
        "posterization": {
            "kind": "posterization",
            "factor": (1, max(1, int(8 * f[1]))),
            "value_range": sorted_vr,
        },
        "solarization": {
            "kind": "solarization",
            "addition_factor": f,
            "threshold_factor": f,
            "value_range": sorted_vr,
        },
        "auto_contrast": {"kind": "auto_contrast", "value_range": sorted_vr},
        "equalization": {"kind": "equalization", "value_range": sorted_vr, "bins": 256},
    }
    return [(name, {**parts[name], "data_format": fmt}) for name in RAND_AUGMENT_OPS]


def auto_contrast(x, vr):
    """Keras's ``AutoContrast.transform_images`` on a batch (axes 1 and 2 reduced, as
    Keras does whatever the data format)."""
    y = _to_range(x, vr, (0, 255)).astype(x.dtype, copy=False)
    low = y.min(axis=(1, 2), keepdims=True)
    high = y.max(axis=(1, 2), keepdims=True)
    flat = high <= low
    scale = np.float32(255.0) / np.where(flat, np.ones((), x.dtype), high - low)
    out = np.clip(y * scale + (-low * scale), 0, 255)
    out = _to_range(out, (0, 255), vr).astype(x.dtype, copy=False)
    return np.where(flat | np.isnan(out), x, out)


def _rand_augment_apply(attrs, x, p):
    parts = dict(_rand_augment_parts(attrs))
    for i in np.asarray(p["layer_idxes"]).reshape(-1):
        name = RAND_AUGMENT_OPS[int(i)]
        sub = parts[name]
        prefix = name + "/"
        sp = {k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)}
        if name in ("translation", "rotation"):
            x = _transform_batch(
                x, sp["transforms"], sub["interpolation"], "reflect", 0.0, sub["data_format"]
            ).astype(x.dtype, copy=False)
        elif name == "auto_contrast":
            x = auto_contrast(x, sub["value_range"])
        else:
            x = apply_augment(sub, x, sp)
    return x


def _jitter_parts(attrs) -> list:
    """RandomColorJitter's sub-layers, in Keras's order (each on channels last: Keras
    builds them without the jitter's data format)."""
    vr = attrs["value_range"]
    parts = []
    for kind in ("brightness", "contrast", "saturation", "hue"):
        factor = attrs.get(f"{kind}_factor")
        if factor is not None:
            parts.append({"kind": kind, "factor": factor, "value_range": vr})
    return parts


# ---- the transforms (Keras's transform_images, given the draws) ----------------------------
def apply_augment(attrs, x, params):
    """``x`` (a batch, ``attrs["data_format"]``) transformed with the drawn ``params``."""
    fmt = attrs.get("data_format", "channels_last")
    if attrs["kind"] == "erasing":  # the masks are in the layer's data format
        erased = np.where(params["batch_masks"], params["fill_value"], x)
        return np.where(_col(params["apply_erasing"]), erased, x).astype(x.dtype, copy=False)
    if attrs["kind"] == "shear":
        s = np.asarray(params["shear_factor"], "float32").reshape(-1, 2)
        one, zero = np.ones(len(s), "float32"), np.zeros(len(s), "float32")
        t = np.stack([one, s[:, 0], zero, s[:, 1], one, zero, zero, zero], axis=1)
        return _transform_batch(
            x,
            t,
            attrs.get("interpolation", "bilinear"),
            attrs.get("fill_mode", "reflect"),
            attrs.get("fill_value", 0.0),
            fmt,
        ).astype(x.dtype, copy=False)
    if attrs["kind"] == "rand_augment":
        return _rand_augment_apply(attrs, np.asarray(x), params).astype(x.dtype, copy=False)
    if attrs["kind"] == "mix_up":
        w = _col(params["mix_weight"]).astype(x.dtype)
        other = np.take(x, params["permutation_order"], axis=0)
        return (w * x + (1 - w) * other).astype(x.dtype, copy=False)
    if attrs["kind"] == "cut_mix":
        other = np.take(x, params["permutation_order"], axis=0)
        return np.where(params["batch_masks"], other, x).astype(x.dtype, copy=False)
    y = _apply_nhwc(attrs, _nhwc(np.asarray(x), fmt), params)
    return np.ascontiguousarray(_back(y, fmt)).astype(x.dtype, copy=False)


def _apply_nhwc(attrs, x, p):
    kind = attrs["kind"]
    vr = attrs.get("value_range", (0, 255))
    dt = x.dtype
    if kind == "brightness":
        return np.clip(x + _col(p["rgb_delta"]).astype(dt), vr[0], vr[1])
    if kind == "contrast":
        mean = x.mean(axis=1, keepdims=True, dtype=dt).mean(axis=2, keepdims=True, dtype=dt)
        y = (x - mean) * _col(p["contrast_factor"]).astype(dt) + mean
        return np.clip(y, vr[0], vr[1])
    if kind == "grayscale":
        return np.where(_col(p["should_apply"]), _grayscale(x), x)
    if kind == "hue":
        y = _to_range(x.astype("float32"), vr, (0, 1))
        hsv = rgb_to_hsv(y)
        h = hsv[..., 0] + _col(p["factor"], 3).astype(y.dtype)
        h = np.where(h > 1.0, h - 1.0, h)
        h = np.where(h < 0.0, h + 1.0, h)
        y = hsv_to_rgb(np.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1))
        return _to_range(np.clip(y, 0, 1), (0, 1), vr)
    if kind == "saturation":
        hsv = rgb_to_hsv(x)
        s = np.clip(hsv[..., 1] * _col(p["factor"], 3).astype(dt), vr[0], vr[1])
        return hsv_to_rgb(np.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1))
    if kind == "color_degeneration":
        y = x + _col(p["factor"]).astype(dt) * (_grayscale(x) - x)
        return np.clip(y, vr[0], vr[1])
    if kind == "sharpness":
        factor = _col(p["factor"] * 2).astype(dt)
        a, b = dt.type(1.0 / 13.0), dt.type(5.0 / 13.0)
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        h, w = x.shape[1], x.shape[2]
        smoothed = np.zeros_like(x)
        for i in range(3):
            for j in range(3):
                smoothed += (b if i == j == 1 else a) * padded[:, i : i + h, j : j + w]
        y = x + (1 - factor) * (smoothed - x)
        return np.clip(y, vr[0], vr[1])
    if kind == "invert":
        return np.where(_col(p["apply_inversion"]), np.float32(vr[1]) - x, x)
    if kind == "posterization":
        shift = _col(p["shift_factor"]).astype("uint8")
        y = _to_range(x, vr, (0, 255))
        y = _saturate_uint8(y)
        y = np.left_shift(np.right_shift(y, shift), shift).astype(dt)
        return _to_range(y, (0, 255), vr)
    if kind == "solarization":
        y = _to_range(x, vr, (0, 255))
        y = np.clip(y + _col(p["additions"]).astype(dt), 0, 255)
        y = np.where(y < _col(p["thresholds"]).astype(dt), y, 255 - y)
        return _to_range(y, (0, 255), vr)
    if kind == "equalization":
        return np.stack(
            [_equalize(x[..., i], vr, attrs.get("bins", 256)) for i in range(x.shape[-1])], axis=-1
        )
    if kind == "gaussian_blur":
        ks = attrs["kernel_size"]
        sigma = p["blur_factor"]
        kx, ky = _gauss(int(ks[0]), float(sigma[0])), _gauss(int(ks[1]), float(sigma[1]))
        blurred = np.einsum("ij,njwc->niwc", _band(x.shape[1], ky), x.astype("float64"))
        blurred = np.einsum("ij,nhjc->nhic", _band(x.shape[2], kx), blurred).astype(dt)
        y = np.where(_col(p["should_apply_blur"]), blurred, x)
        return np.clip(y, vr[0], vr[1])
    if kind == "color_jitter":
        for sub in _jitter_parts(attrs):
            prefix = sub["kind"] + "/"
            sp = {k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)}
            x = _apply_nhwc(sub, x, sp).astype(dt, copy=False)
        return x
    raise ShapeError(f"unknown image_augment kind {kind!r}")


def _equalize(channel, vr, bins):
    """Keras's ``Equalization._equalize_channel``: one channel of the whole batch."""
    scale = np.float32(255.0 / (vr[1] - vr[0]))
    channel = channel * scale + np.float32(0 - vr[0] * scale)
    scaled = (channel - np.float32(0)) * np.float32(bins - 1) / np.float32(255)
    idx = np.clip(np.trunc(scaled).astype("int64"), 0, bins - 1)
    hist = np.bincount(idx.reshape(-1), minlength=bins)
    if np.count_nonzero(hist) > 1:
        cdf = np.cumsum(hist)
        cdf_min = cdf[np.nonzero(cdf)[0][0]]
        den = cdf[-1] - cdf_min
        den = 1 if den == 0 else den
        lut = ((cdf - cdf_min) * 255).astype("float32") / np.float32(den)
        lut = np.clip(np.round(lut), 0, 255)
        where = np.clip((channel / np.float32(255.0)) * np.float32(bins - 1), 0, bins - 1)
        channel = lut[where.astype("int64")].astype(channel.dtype)
    back = np.float32((vr[1] - vr[0]) / 255.0)
    return channel * back + np.float32(vr[0] - 0 * back)


def _saturate_uint8(y):
    """``cast(y, "uint8")`` as torch does for the values images hold: truncation toward
    zero (values are in [0, 255] here)."""
    return np.clip(np.trunc(y), 0, 255).astype("uint8")


AUGMENT_KINDS = (
    "brightness",
    "contrast",
    "grayscale",
    "hue",
    "saturation",
    "color_degeneration",
    "sharpness",
    "invert",
    "posterization",
    "solarization",
    "color_jitter",
    "equalization",
    "gaussian_blur",
    "erasing",
    "mix_up",
    "cut_mix",
    "shear",
    "rand_augment",
)
_RGB_KINDS = ("grayscale", "hue", "saturation", "color_degeneration", "color_jitter")


def _check_batch(x, kind):
    if len(x.shape) != 4:
        raise ShapeError(
            "expected a 4-D batch of images (batch, height, width, channels) (or channels "
            f"first), got shape {format_shape(x.shape)}"
        )
    if not x.dtype.startswith("float"):
        raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
    if kind not in AUGMENT_KINDS:
        raise ShapeError(f"kind must be one of {AUGMENT_KINDS}, got {kind!r}")


def _no_gradient(name, attrs):
    layer = attrs.get("layer", name)
    raise NotImplementedError(
        f"{name} ({layer!r}): no gradient flows through a random image augmentation to "
        "its input in graphc. Put the augmentation first in the model, on the data (as "
        "Keras recommends), where no gradient is needed."
    )


def _active(attrs, ctx) -> bool:
    return bool(ctx.training or attrs.get("force_training"))


class ImageAugment(Op):
    """A random colour/value transform of each image in training mode (``kind`` and its
    parameters: see ``draw_augment``/``apply_augment``); the identity otherwise."""

    name = "image_augment"
    training_only = True
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        _check_batch(x, attrs.get("kind"))
        if attrs["kind"] in _RGB_KINDS:
            c = x.shape[1] if attrs.get("data_format") == "channels_first" else x.shape[-1]
            if c is not None and c != 3:
                raise ShapeError(
                    f"Input images must have 3 channels, but received images with {c} channels."
                )
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        if not _active(attrs, ctx):
            return x
        params = draw_augment(attrs, ctx.rng, x.shape[0], x.shape)
        return apply_augment(attrs, x, params)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        if needs[0]:
            _no_gradient("image_augment", attrs)
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("Identity", x)


def image_augment(x, kind, training=None, **attrs):
    """Record (or run) a random image augmentation (see ``ImageAugment``)."""
    if training:
        attrs["force_training"] = True
    return apply("image_augment", [x], kind=kind, **attrs)


# ---- RandomCrop ------------------------------------------------------------------------
class RandomCrop(Op):
    """Keras's ``RandomCrop`` in training: one ``height x width`` window at a random
    offset for the whole batch (Keras draws one offset per call) when the images are
    larger than it; otherwise, and outside training, the first input (the layer's centre
    crop to the aspect ratio, resized)."""

    name = "random_crop"
    training_only = True
    vjp_reads_inputs = False

    def infer(self, attrs, centre, x):
        _check_batch(x, "brightness")
        return TensorType(centre.shape, centre.dtype)

    def kernel(self, attrs, centre, x, *, ctx):
        if not _active(attrs, ctx):
            return centre
        first = attrs.get("data_format", "channels_last") == "channels_first"
        h_axis = 2 if first else 1
        h, w = x.shape[h_axis], x.shape[h_axis + 1]
        th, tw = attrs["height"], attrs["width"]
        if not (h > th and w > tw):
            return centre
        top = int(_u(ctx.rng, 0, float(h - th + 1), 1)[0])
        left = int(_u(ctx.rng, 0, float(w - tw + 1), 1)[0])
        if first:
            return np.ascontiguousarray(x[:, :, top : top + th, left : left + tw])
        return np.ascontiguousarray(x[:, top : top + th, left : left + tw, :])

    def vjp(self, attrs, xs, ys, gys, needs, out):
        if needs[0] or needs[1]:
            _no_gradient("random_crop", attrs)
        return (None, None)

    def lower(self, attrs, b, centre, x):
        return b.op("Identity", centre)


def random_crop(centre, x, height, width, training=None, **attrs):
    if training:
        attrs["force_training"] = True
    return apply("random_crop", [centre, x], height=int(height), width=int(width), **attrs)
