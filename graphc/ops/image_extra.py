"""More of ``keras.ops.image``, made of the registered ops: ``resize`` (bilinear and
nearest, with antialiasing), ``crop_images``, ``pad_images``, ``rgb_to_hsv``,
``hsv_to_rgb``, ``extract_patches`` and ``gaussian_blur``.

Resizing and blurring are separable: each is a product with a constant matrix along the
height and along the width (``matmul``), so they record, differentiate and export like
any op; sizes must be static.

>>> import numpy as np
>>> from graphc import ops
>>> ops.image.resize(np.ones((1, 4, 4, 3), "float32"), (2, 2)).shape
(1, 2, 2, 3)
"""

from __future__ import annotations

import numpy as np

from graphc.config import standardize_data_format
from graphc.errors import ArgumentValueError
from graphc.ops.arrays import take, transpose
from graphc.ops.registry import apply

__all__ = [
    "resize",
    "crop_images",
    "pad_images",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "extract_patches",
    "gaussian_blur",
]


def _dt(x) -> str:
    return str(np.dtype(x.dtype))


def _nhwc(images, data_format, what):
    """4-D channels-last images, and how to undo it."""
    rank = len(images.shape)
    if rank not in (3, 4):
        raise ArgumentValueError(
            f"{what} takes images of rank 3 (one image) or 4 (a batch); received shape "
            f"{tuple(images.shape)}"
        )
    single = rank == 3
    x = apply("expand_dims", [images], axis=0) if single else images
    first = standardize_data_format(data_format) == "channels_first"
    if first:
        x = transpose(x, (0, 2, 3, 1))

    def back(y):
        if first:
            y = transpose(y, (0, 3, 1, 2))
        return take(y, 0, axis=0) if single else y

    return x, back


def _static(x, axis, what):
    n = tuple(x.shape)[axis]
    if n is None:
        raise ArgumentValueError(f"{what} needs static image sizes; received {tuple(x.shape)}")
    return int(n)


def _along(x, axis, matrix):
    """``x`` with ``matrix`` (``out x in``) applied along ``axis`` (1: height, 2: width)."""
    m = np.ascontiguousarray(matrix.astype(_dt(x)))
    if axis == 2:  # (B, H, W, C) -> (B, H, C, W) @ (W, W') -> back
        y = apply("matmul", [transpose(x, (0, 1, 3, 2)), m.T.copy()])
        return transpose(y, (0, 1, 3, 2))
    y = apply("matmul", [transpose(x, (0, 2, 3, 1)), m.T.copy()])  # (B, W, C, H')
    return transpose(y, (0, 3, 1, 2))


def _resize_matrix(n_in, n_out, method, antialias):
    if method == "nearest":
        src = np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), np.minimum(src, n_in - 1)] = 1.0
        return m
    scale = n_out / n_in
    kernel_scale = max(1.0 / scale, 1.0) if antialias else 1.0
    sample = (np.arange(n_out) + 0.5) / scale - 0.5
    d = (np.arange(n_in)[None, :] - sample[:, None]) / kernel_scale
    w = np.maximum(0.0, 1.0 - np.abs(d))
    total = w.sum(axis=1, keepdims=True)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0)


def resize(
    images,
    size,
    interpolation="bilinear",
    antialias=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    fill_mode="constant",
    fill_value=0.0,
    data_format=None,
):
    """``keras.ops.image.resize`` to ``size = (height, width)``: "bilinear" (half-pixel
    centres; ``antialias`` widens the kernel when shrinking) or "nearest".
    ``crop_to_aspect_ratio`` centre-crops to the target's aspect ratio first;
    ``pad_to_aspect_ratio`` pads with ``fill_value`` instead."""
    if interpolation not in ("bilinear", "nearest"):
        raise ArgumentValueError(
            f'interpolation must be "bilinear" or "nearest" (graphc does not provide '
            f"{interpolation!r} yet); received {interpolation!r}"
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ArgumentValueError(
            "Only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True"
        )
    if len(size) != 2:
        raise ArgumentValueError(f"size must be (height, width); received {size!r}")
    th, tw = int(size[0]), int(size[1])
    x, back = _nhwc(images, data_format, "resize")
    h, w = _static(x, 1, "resize"), _static(x, 2, "resize")
    if crop_to_aspect_ratio:
        ch = max(min(h, int(float(w * th) / tw)), 1)
        cw = max(min(w, int(float(h * tw) / th)), 1)
        hs, ws = int(float(h - ch) / 2), int(float(w - cw) / 2)
        x = take(take(x, np.arange(hs, hs + ch), axis=1), np.arange(ws, ws + cw), axis=2)
        h, w = ch, cw
    elif pad_to_aspect_ratio:
        ph = max(h, int(float(w * th) / tw))
        pw = max(w, int(float(h * tw) / th))
        top, left = (ph - h) // 2, (pw - w) // 2
        x = _pad_value(x, top, ph - h - top, left, pw - w - left, fill_value)
        h, w = ph, pw
    if (h, w) != (th, tw):
        x = _along(x, 1, _resize_matrix(h, th, interpolation, antialias))
        x = _along(x, 2, _resize_matrix(w, tw, interpolation, antialias))
    return back(x)


def _pad_value(x, top, bottom, left, right, value=0.0):
    from graphc.ops.padding import pad

    return pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)], constant_values=value or None)


def _box(h, w, top, left, bottom, right, target_h, target_w, what, verb):
    """Keras's rule: two of the three of (top, bottom, target_height) and of (left,
    right, target_width) given; the third follows from the image size."""

    def solve(a, b, t, n, names):
        given = [v is not None for v in (a, b, t)]
        if sum(given) != 2:
            raise ArgumentValueError(
                f"{what}: give exactly two of {names[0]}, {names[1]} and {names[2]}; "
                f"received {names[0]}={a}, {names[1]}={b}, {names[2]}={t}"
            )
        if t is None:
            t = n - a - b if verb == "crop" else n + a + b
        elif a is None:
            a = (n - t - b) if verb == "crop" else (t - n - b)
        elif b is None:
            b = (n - t - a) if verb == "crop" else (t - n - a)
        if min(a, b, t) < 0 or (t <= 0):
            raise ArgumentValueError(
                f"{what}: {names[0]}={a}, {names[1]}={b} and {names[2]}={t} do not fit an "
                f"image of size {n}"
            )
        return int(a), int(b), int(t)

    ing = "cropping" if verb == "crop" else "padding"
    top, bottom, target_h = solve(
        top, bottom, target_h, h, (f"top_{ing}", f"bottom_{ing}", "target_height")
    )
    left, right, target_w = solve(
        left, right, target_w, w, (f"left_{ing}", f"right_{ing}", "target_width")
    )
    return top, bottom, target_h, left, right, target_w


def crop_images(
    images,
    top_cropping=None,
    left_cropping=None,
    bottom_cropping=None,
    right_cropping=None,
    target_height=None,
    target_width=None,
    data_format=None,
):
    """``keras.ops.image.crop_images``: the box ``target_height x target_width`` from
    ``(top_cropping, left_cropping)``."""
    x, back = _nhwc(images, data_format, "crop_images")
    h, w = _static(x, 1, "crop_images"), _static(x, 2, "crop_images")
    top, _, th, left, _, tw = _box(
        h, w, top_cropping, left_cropping, bottom_cropping, right_cropping,
        target_height, target_width, "crop_images", "crop",
    )  # fmt: skip
    x = take(take(x, np.arange(top, top + th), axis=1), np.arange(left, left + tw), axis=2)
    return back(x)


def pad_images(
    images,
    top_padding=None,
    left_padding=None,
    bottom_padding=None,
    right_padding=None,
    target_height=None,
    target_width=None,
    data_format=None,
):
    """``keras.ops.image.pad_images``: zeros around the images up to ``target_height x
    target_width``."""
    x, back = _nhwc(images, data_format, "pad_images")
    h, w = _static(x, 1, "pad_images"), _static(x, 2, "pad_images")
    top, bottom, _, left, right, _ = _box(
        h, w, top_padding, left_padding, bottom_padding, right_padding,
        target_height, target_width, "pad_images", "pad",
    )  # fmt: skip
    return back(_pad_value(x, top, bottom, left, right))


def _planes(images, data_format, what):
    from graphc.ops.composite import unstack

    if np.dtype(_dt(images)).kind != "f":
        raise ArgumentValueError(f"{what} takes float images; received dtype {_dt(images)}")
    if len(images.shape) not in (3, 4):
        raise ArgumentValueError(
            f"{what} takes images of rank 3 or 4; received shape {tuple(images.shape)}"
        )
    axis = -1 if standardize_data_format(data_format) == "channels_last" else -3
    return unstack(images, num=3, axis=axis), axis


def rgb_to_hsv(images, data_format=None):
    """``keras.ops.image.rgb_to_hsv`` (dm_pix's formula, as Keras): hue, saturation and
    value in ``[0, 1]``."""
    from graphc.ops import composite as c

    dt = _dt(images)
    eps = float(np.finfo(dt).eps)
    images = c.where(apply("less", [c.abs(images), eps]), np.asarray(0, dt), images)
    (r, g, b), axis = _planes(images, data_format, "rgb_to_hsv")
    value = apply("maximum", [apply("maximum", [r, g]), b])
    minimum = apply("minimum", [apply("minimum", [r, g]), b])
    rng = apply("subtract", [value, minimum])
    zero, one = np.asarray(0, dt), np.asarray(1, dt)
    safe_value = c.where(apply("greater", [value, 0.0]), value, one)
    safe_range = c.where(apply("greater", [rng, 0.0]), rng, one)
    saturation = c.where(apply("greater", [value, 0.0]), apply("divide", [rng, safe_value]), zero)
    norm = apply("divide", [1.0, apply("multiply", [safe_range, 6.0])])
    hue = c.where(
        apply("equal", [value, g]),
        apply("add", [apply("multiply", [norm, apply("subtract", [b, r])]), 2.0 / 6.0]),
        apply("add", [apply("multiply", [norm, apply("subtract", [r, g])]), 4.0 / 6.0]),
    )
    hue = c.where(
        apply("equal", [value, r]), apply("multiply", [norm, apply("subtract", [g, b])]), hue
    )
    hue = apply(
        "add",
        [c.where(apply("greater", [rng, 0.0]), hue, zero), c.cast(apply("less", [hue, 0.0]), dt)],
    )
    return c.stack([hue, saturation, value], axis=axis)


def hsv_to_rgb(images, data_format=None):
    """``keras.ops.image.hsv_to_rgb`` (dm_pix's formula, as Keras)."""
    from graphc.ops import composite as c

    (h, s, v), axis = _planes(images, data_format, "hsv_to_rgb")
    dh = apply("multiply", [apply("mod", [h, 1.0]), 6.0])
    dr = c.clip(apply("subtract", [c.abs(apply("subtract", [dh, 3.0])), 1.0]), 0.0, 1.0)
    dg = c.clip(apply("subtract", [2.0, c.abs(apply("subtract", [dh, 2.0]))]), 0.0, 1.0)
    db = c.clip(apply("subtract", [2.0, c.abs(apply("subtract", [dh, 4.0]))]), 0.0, 1.0)
    one_minus_s = apply("subtract", [1.0, s])

    def plane(d):
        return apply("multiply", [v, apply("add", [one_minus_s, apply("multiply", [s, d])])])

    return c.stack([plane(dr), plane(dg), plane(db)], axis=axis)


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """``keras.ops.image.extract_patches``: each ``size`` patch flattened into the
    channels, ``(batch, rows, cols, ph * pw * channels)``, ordered (row, column, channel)
    as Keras's identity-kernel convolution gives them."""
    from graphc.ops.padding import pad

    if not isinstance(size, int) and len(size) == 3:  # Keras: volumes' patches
        from graphc.ops.image_warp import extract_patches_3d

        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    ph, pw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    sh, sw = (
        (ph, pw)
        if strides is None
        else ((strides, strides) if isinstance(strides, int) else tuple(int(s) for s in strides))
    )
    dh, dw = (
        (dilation_rate, dilation_rate)
        if isinstance(dilation_rate, int)
        else tuple(int(d) for d in dilation_rate)
    )
    if padding not in ("valid", "same"):
        raise ArgumentValueError(f'padding must be "valid" or "same"; received {padding!r}')
    x, back = _nhwc(images, data_format, "extract_patches")
    h, w, ch = (_static(x, a, "extract_patches") for a in (1, 2, 3))
    eh, ew = (ph - 1) * dh + 1, (pw - 1) * dw + 1
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        th, tw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        x = pad(x, [(0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2), (0, 0)])
        h, w = h + th, w + tw
    oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
    rows = np.arange(oh)[:, None] * sh + np.arange(ph)[None, :] * dh  # (oh, ph)
    cols = np.arange(ow)[:, None] * sw + np.arange(pw)[None, :] * dw  # (ow, pw)
    x = take(x, rows, axis=1)  # (B, oh, ph, W, C)
    x = take(x, cols, axis=3)  # (B, oh, ph, ow, pw, C)
    x = transpose(x, (0, 1, 3, 2, 4, 5))  # (B, oh, ow, ph, pw, C)
    batch = tuple(x.shape)[0]
    x = apply("reshape", [x], shape=(-1 if batch is None else batch, oh, ow, ph * pw * ch))
    return back(x)


def _gauss(size, sigma):
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _band(n, kernel):
    """The ``n x n`` matrix of a "same" correlation with ``kernel`` and zero padding."""
    k = len(kernel)
    before = (k - 1) // 2
    m = np.zeros((n, n))
    for i in range(n):
        for t in range(k):
            j = i + t - before
            if 0 <= j < n:
                m[i, j] = kernel[t]
    return m


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """``keras.ops.image.gaussian_blur``: a separable Gaussian blur with zero padding
    ("same" size); ``kernel_size``/``sigma`` as Keras pairs them (the first entries
    along the width, the second along the height)."""
    if np.dtype(_dt(images)).kind != "f":
        raise ArgumentValueError(f"gaussian_blur takes float images; received {_dt(images)}")
    ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    sg = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)
    x, back = _nhwc(images, data_format, "gaussian_blur")
    h, w = _static(x, 1, "gaussian_blur"), _static(x, 2, "gaussian_blur")
    kx, ky = _gauss(int(ks[0]), float(sg[0])), _gauss(int(ks[1]), float(sg[1]))
    x = _along(x, 1, _band(h, ky))
    x = _along(x, 2, _band(w, kx))
    return back(x)
