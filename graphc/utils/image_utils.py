"""Image files to NumPy arrays and back, as Keras 3's ``keras.utils`` image helpers
(``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``), with Pillow.

>>> img = load_img("cat.jpg", target_size=(180, 180))   # a PIL image
>>> x = img_to_array(img)                                # float32, (180, 180, 3)

``resize_image`` is the resize behind ``image_dataset_from_directory``: ``"bilinear"``
(the default) and ``"nearest"`` are computed in NumPy with TensorFlow's half-pixel rule
and no antialiasing, as Keras does; the other methods go through Pillow's filters.
"""

from __future__ import annotations

import io
import pathlib
import warnings

import numpy as np

from graphc.config import standardize_data_format

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]

# Keras's ``load_img`` names -> Pillow filters.
PIL_INTERPOLATION_METHODS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
# ``image_dataset_from_directory``'s names (TensorFlow's), in Keras's order.
RESIZE_INTERPOLATIONS = (
    "bilinear",
    "nearest",
    "bicubic",
    "area",
    "lanczos3",
    "lanczos5",
    "gaussian",
    "mitchellcubic",
)
# The methods graphc approximates with a Pillow filter (there is no TF resize here).
_PIL_FOR_RESIZE = {
    "bicubic": "BICUBIC",
    "area": "BOX",
    "lanczos3": "LANCZOS",
    "lanczos5": "LANCZOS",
    "gaussian": "HAMMING",
    "mitchellcubic": "BICUBIC",
}


def pil_image():
    """The ``PIL.Image`` module, or an ImportError saying how to install it."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Pillow is in the test extra
        raise ImportError(
            "Reading and writing images needs Pillow: `pip install pillow` "
            "(or `pip install graphc[images]`)."
        ) from e
    return Image


def _resample(name):
    image = pil_image()
    return getattr(getattr(image, "Resampling", image), name.upper())


def load_img(
    path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False
):
    """Load an image file as a PIL image (Keras's ``keras.utils.load_img``).

    ``color_mode`` is ``"rgb"``, ``"rgba"`` or ``"grayscale"``; ``target_size`` is
    ``(height, width)`` or None; ``keep_aspect_ratio`` crops the centre to the target's
    aspect ratio before resizing.
    """
    image = pil_image()
    if isinstance(path, io.BytesIO):
        img = image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:  # read whole: the file is closed before returning
            img = image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    img = _convert_mode(img, color_mode)
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            if interpolation not in PIL_INTERPOLATION_METHODS:
                raise ValueError(
                    f"Invalid interpolation method {interpolation} specified. "
                    "Supported methods are "
                    f"{', '.join(PIL_INTERPOLATION_METHODS)}"
                )
            resample = _resample(interpolation)
            if keep_aspect_ratio:
                width, height = img.size
                crop_h, crop_w, h0, w0 = _crop_box(height, width, target_size)
                img = img.resize(width_height, resample, box=[w0, h0, w0 + crop_w, h0 + crop_h])
            else:
                img = img.resize(width_height, resample)
    return img


def _convert_mode(img, color_mode):
    if color_mode == "grayscale":
        # 8-, 16- and 32-bit grayscale stay as they are, as in Keras.
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif color_mode == "rgb":
        if img.mode != "RGB":
            img = img.convert("RGB")
    else:
        raise ValueError(
            f'color_mode must be "grayscale", "rgb", or "rgba". Received: color_mode={color_mode}'
        )
    return img


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a 3-D NumPy array (float32 unless ``dtype``), channels last
    unless ``data_format="channels_first"``."""
    data_format = standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[None] if data_format == "channels_first" else x[:, :, None]
    elif x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    else:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array as a PIL image; ``scale`` stretches the values to [0, 255] first."""
    data_format = standardize_data_format(data_format)
    image = pil_image()
    x = np.array(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(
            f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}"
        )
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return image.fromarray(x.astype("uint8"), "RGB" if channels == 3 else "RGBA")
    if channels == 1:
        if np.max(x) > 255:  # 32-bit signed integer grayscale, PIL mode "I"
            return image.fromarray(x[:, :, 0].astype("int32"), "I")
        return image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Save a 3-D array as an image file (format from the extension unless
    ``file_format``); RGBA saved as JPEG drops alpha with a warning, as in Keras."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn(
            "The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2
        )
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def _crop_box(height, width, target_size):
    """Keras's largest centred window with the target's aspect ratio (smart_resize)."""
    target_h, target_w = target_size
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return crop_h, crop_w, int(float(height - crop_h) / 2), int(float(width - crop_w) / 2)


def _half_pixel_sources(in_size, out_size):
    """TensorFlow's bilinear source taps for one axis (half-pixel centres, no
    antialiasing): the lower and upper input index and the weight of the upper one."""
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    floor = np.floor(src)
    lower = np.clip(floor, 0, in_size - 1).astype(np.intp)
    upper = np.clip(np.ceil(src), 0, in_size - 1).astype(np.intp)
    return lower, upper, (src - floor).astype(np.float32)


def _resize_bilinear(x, size):
    lo, hi, w = _half_pixel_sources(x.shape[0], size[0])
    x = x[lo] + (x[hi] - x[lo]) * w[:, None, None]
    lo, hi, w = _half_pixel_sources(x.shape[1], size[1])
    return x[:, lo] + (x[:, hi] - x[:, lo]) * w[None, :, None]


def _resize_nearest(x, size):
    # TF2's nearest neighbour: floor((out + 0.5) * scale), clipped.
    rows = np.minimum(
        np.floor((np.arange(size[0]) + 0.5) * (x.shape[0] / size[0])), x.shape[0] - 1
    ).astype(np.intp)
    cols = np.minimum(
        np.floor((np.arange(size[1]) + 0.5) * (x.shape[1] / size[1])), x.shape[1] - 1
    ).astype(np.intp)
    return x[rows][:, cols]


def _resize_pil(x, size, interpolation):
    image = pil_image()
    resample = _resample(_PIL_FOR_RESIZE[interpolation])
    # Channel by channel in Pillow's 32-bit float mode: no rounding to uint8.
    return np.stack(
        [
            np.asarray(image.fromarray(x[:, :, c], "F").resize((size[1], size[0]), resample))
            for c in range(x.shape[2])
        ],
        axis=-1,
    )


def resize_image(
    x, size, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False
):
    """Resize one float32 ``(height, width, channels)`` image to ``size``, as Keras's
    ``ops.image.resize`` (the crop or zero padding to the target aspect ratio first)."""
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            "Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`."
        )
    height, width = x.shape[:2]
    if crop_to_aspect_ratio:
        crop_h, crop_w, h0, w0 = _crop_box(height, width, size)
        x = x[h0 : h0 + crop_h, w0 : w0 + crop_w]
    elif pad_to_aspect_ratio:
        pad_h = max(height, int(float(width * size[0]) / size[1]))
        pad_w = max(width, int(float(height * size[1]) / size[0]))
        h0, w0 = int(float(pad_h - height) / 2), int(float(pad_w - width) / 2)
        # Keras pads the same amount on both sides (so an odd gap loses a row).
        x = np.pad(x, ((h0, h0), (w0, w0), (0, 0)))
    if tuple(x.shape[:2]) == tuple(size):
        return np.ascontiguousarray(x, dtype=np.float32)
    if interpolation == "bilinear":
        out = _resize_bilinear(x, size)
    elif interpolation == "nearest":
        out = _resize_nearest(x, size)
    else:
        out = _resize_pil(x, size, interpolation)
    return out.astype(np.float32, copy=False)
