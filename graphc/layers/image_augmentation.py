"""Keras 3's image augmentation layers beyond the geometric four of
``graphc.layers.preprocessing``: ``RandomCrop``, ``RandomContrast``, ``RandomBrightness``,
``RandomGrayscale``, ``RandomHue``, ``RandomSaturation``, ``RandomColorDegeneration``,
``RandomColorJitter``, ``RandomInvert``, ``RandomPosterization``, ``Solarization``,
``RandomSharpness`` and the deterministic ``AutoContrast``.

As Keras's: each random layer transforms while training (in ``fit``, or an eager call
with ``training`` unset or True) and is the identity in ``predict``/``evaluate`` and in
exported ONNX models, except ``RandomCrop``, which outside training crops the centre to
the target's aspect ratio and resizes (Keras's rule). The per-image parameters are drawn
from graphc's generator (``graphc.utils.set_random_seed``) with Keras's distributions and
order; ``seed`` is kept in the config only. Arguments, defaults, factor rules and
configs are Keras 3.15's.

>>> import numpy as np
>>> x = np.full((2, 4, 4, 3), 100.0, "float32")
>>> RandomBrightness(0.2)(x, training=False) is x
True
>>> RandomInvert(factor=(1.0, 1.0))(x)[0, 0, 0].tolist()  # inverts every image
[155.0, 155.0, 155.0]
"""

from __future__ import annotations

import random

import numpy as np

from graphc import ops
from graphc.config import standardize_data_format
from graphc.layers.base import Layer
from graphc.layers.convolutional import check_input_rank
from graphc.layers.preprocessing import _RandomImageLayer, float_images
from graphc.ops import image as image_ops
from graphc.ops.image_augment import image_augment, random_crop
from graphc.ops.registry import is_symbolic

__all__ = [
    "RandomCrop",
    "RandomContrast",
    "RandomBrightness",
    "RandomGrayscale",
    "RandomHue",
    "RandomSaturation",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomInvert",
    "RandomPosterization",
    "Solarization",
    "RandomSharpness",
    "AutoContrast",
    "Equalization",
    "RandomGaussianBlur",
    "RandomErasing",
    "Pipeline",
    "MixUp",
    "CutMix",
    "RandomShear",
    "RandAugment",
]

_VALUE_RANGE_ERROR = "The `value_range` argument should be a list of two numbers. "


def _set_factor(factor, bounds, name="factor"):
    """Keras's ``BaseImagePreprocessingLayer._set_factor`` (and ``_set_factor_by_name``:
    RandomGaussianBlur's ``sigma``, RandomErasing's ``scale``): a number ``f`` (within
    ``bounds``) means ``(max(-|f|, low), |f|)``; a pair is sorted."""
    message = (
        f"The `{name}` argument should be a number (or a list of two numbers) in the range "
        f"[{bounds[0]}, {bounds[1]}]. Received: {name}={factor}"
    )
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(message)
        lower, upper = sorted(factor)
    elif isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if factor < bounds[0] or factor > bounds[1]:
            raise ValueError(message)
        factor = abs(factor)
        lower, upper = max(-factor, bounds[0]), factor
    else:
        raise ValueError(message)
    return lower, upper


def _unit_factor(factor, message, symmetric):
    """Solarization's and RandomShear's factor: a pair of numbers in [0, 1] (sorted), or
    a number ``f`` in [0, 1] meaning ``(-f, f)`` when ``symmetric``, else ``(0, f)``."""

    def check(v):
        if v > 1.0 or v < 0:
            raise ValueError(message + f"Received: input_number={v}")

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(message + f"Received: factor={factor}")
        check(factor[0])
        check(factor[1])
        return tuple(sorted(factor))
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        check(factor)
        return (-abs(factor), abs(factor)) if symmetric else (0, factor)
    raise ValueError(message + f"Received: factor={factor}")


def _sorted_value_range(value_range):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError(_VALUE_RANGE_ERROR + f"Received: value_range={value_range}")
    return sorted(value_range)


class _Augment(_RandomImageLayer):
    """A random colour/value layer recording one ``image_augment`` node of ``kind``."""

    kind = ""
    _FACTOR_BOUNDS = (-1, 1)
    _SORT_VALUE_RANGE = True

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _set_factor(factor, self._FACTOR_BOUNDS)
        self.value_range = (
            _sorted_value_range(value_range) if self._SORT_VALUE_RANGE else value_range
        )

    def _attrs(self) -> dict:
        return {
            "layer": self.name,
            "factor": tuple(float(f) for f in self.factor),
            "value_range": tuple(float(v) for v in self.value_range),
            "data_format": self.data_format,
        }

    def op_attrs(self) -> dict:
        """The ``image_augment`` node's attributes: ``kind`` and the layer's options."""
        return {"kind": self.kind, **self._attrs()}

    def call(self, inputs, training=None):
        inputs = float_images(inputs)
        if training is False:
            return inputs
        eager = not is_symbolic(inputs)
        if eager and training is None:
            training = True
        attrs = self._attrs()
        if eager:
            x = inputs
            if x.ndim == 3:
                return image_augment(x[None], self.kind, training, **attrs)[0]
            return image_augment(x, self.kind, training, **attrs)
        check_input_rank(self, inputs.shape, 4)
        return image_augment(inputs, self.kind, training, **attrs)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "value_range": list(self.value_range),
        }


class RandomContrast(_Augment):
    """Scale each image's deviation from its per-channel mean by a random factor in
    ``[1 - lower, 1 + upper]`` (``factor`` in [0, 1]: a number ``f`` gives ``[1, 1 + f]``,
    as Keras's rule does), clipped to ``value_range``."""

    kind = "contrast"
    _FACTOR_BOUNDS = (0, 1)
    _SORT_VALUE_RANGE = False


class RandomBrightness(_Augment):
    """Add a random delta, ``factor`` (in [-1, 1]) times the width of ``value_range``, to
    each image, clipped to ``value_range``."""

    kind = "brightness"


class RandomHue(_Augment):
    """Shift each image's hue by a random amount (half of a factor drawn in ``factor``,
    with a random sign); ``value_range`` is the images' range."""

    kind = "hue"
    _FACTOR_BOUNDS = (0, 1)
    _SORT_VALUE_RANGE = False

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)


class RandomSaturation(_Augment):
    """Scale each image's saturation by ``f / (1 - f)``, ``f`` drawn in ``factor``
    (0.5 keeps it, 1 saturates fully, 0 gives grayscale)."""

    kind = "saturation"

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)


class RandomColorDegeneration(_Augment):
    """Blend each image toward its grayscale version by a random factor in ``factor``,
    clipped to ``value_range``."""

    kind = "color_degeneration"

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)


class RandomSharpness(_Augment):
    """Blend each image with a 3x3-smoothed version of itself by ``1 - 2 f``, ``f`` drawn
    in ``factor`` (in [0, 1]), clipped to ``value_range``."""

    kind = "sharpness"
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)


class RandomPosterization(_Augment):
    """Keep the top ``bits`` bits of each 8-bit channel value, ``bits`` drawn in
    ``[lower, upper)`` of ``factor`` (in [1, 8]; a number ``f`` gives ``[1, f)``)."""

    kind = "posterization"
    _FACTOR_BOUNDS = (1, 8)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)

    def _attrs(self):
        return {**super()._attrs(), "factor": tuple(int(f) for f in self.factor)}


class RandomInvert(_Augment):
    """Invert each image (``value_range[1] - x``) with a probability drawn in ``factor``
    (default 1.0: a probability uniform in [0, 1])."""

    kind = "invert"
    _FACTOR_BOUNDS = (0, 1)
    _SORT_VALUE_RANGE = False

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)


class RandomGrayscale(_Augment):
    """Turn each image to grayscale (kept with 3 channels) with probability ``factor``."""

    kind = "grayscale"

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        _RandomImageLayer.__init__(self, seed=seed, data_format=data_format, **kwargs)
        if factor < 0 or factor > 1:
            raise ValueError(f"`factor` should be between 0 and 1. Received: factor={factor}")
        self.factor = factor

    def _attrs(self):
        return {"layer": self.name, "factor": float(self.factor), "data_format": self.data_format}

    def get_config(self):
        config = Layer.get_config(self)
        return {**config, "data_format": self.data_format, "factor": self.factor}


class Solarization(_Augment):
    """Add a random amount (``addition_factor`` times 255) to each image on a 0-255
    scale, then invert the values above a random threshold (``threshold_factor`` times
    255). With the defaults (0, 0) every value is inverted."""

    kind = "solarization"
    _MESSAGE = (
        "The `addition_factor` and `threshold_factor` arguments should be a number (or a "
        "list of two numbers) in the range [0, 1]. "
    )

    def __init__(
        self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs
    ):
        _RandomImageLayer.__init__(self, seed=seed, **kwargs)
        self.addition_factor = _unit_factor(addition_factor, self._MESSAGE, symmetric=False)
        self.threshold_factor = _unit_factor(threshold_factor, self._MESSAGE, symmetric=False)
        self.value_range = _sorted_value_range(value_range)

    def _attrs(self):
        return {
            "layer": self.name,
            "addition_factor": tuple(float(f) for f in self.addition_factor),
            "threshold_factor": tuple(float(f) for f in self.threshold_factor),
            "value_range": tuple(float(v) for v in self.value_range),
            "data_format": self.data_format,
        }

    def get_config(self):
        return {
            **Layer.get_config(self),
            "data_format": self.data_format,
            "value_range": list(self.value_range),
            "addition_factor": list(self.addition_factor),
            "threshold_factor": list(self.threshold_factor),
            "seed": self.seed,
        }


class RandomColorJitter(_Augment):
    """``RandomBrightness``, ``RandomContrast``, ``RandomSaturation`` and ``RandomHue``
    in turn, each only if its factor is given (their factor rules apply)."""

    kind = "color_jitter"

    def __init__(
        self,
        value_range=(0, 255),
        brightness_factor=None,
        contrast_factor=None,
        saturation_factor=None,
        hue_factor=None,
        seed=None,
        data_format=None,
        **kwargs,
    ):
        _RandomImageLayer.__init__(self, seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        bounds = {"brightness": (-1, 1), "contrast": (0, 1), "saturation": (-1, 1), "hue": (0, 1)}
        self._factors = {
            kind: None if f is None else _set_factor(f, bounds[kind])
            for kind, f in [
                ("brightness", brightness_factor),
                ("contrast", contrast_factor),
                ("saturation", saturation_factor),
                ("hue", hue_factor),
            ]
        }
        for kind in ("brightness", "saturation"):  # those sub-layers check value_range
            if self._factors[kind] is not None:
                _sorted_value_range(value_range)

    def _attrs(self):
        attrs = {
            "layer": self.name,
            "value_range": tuple(float(v) for v in self.value_range),
            "data_format": self.data_format,
        }
        for kind, f in self._factors.items():
            if f is not None:
                attrs[f"{kind}_factor"] = tuple(float(v) for v in f)
        return attrs

    def get_config(self):
        return {
            **Layer.get_config(self),
            "data_format": self.data_format,
            "value_range": list(self.value_range),
            "brightness_factor": self.brightness_factor,
            "contrast_factor": self.contrast_factor,
            "saturation_factor": self.saturation_factor,
            "hue_factor": self.hue_factor,
            "seed": self.seed,
        }


class RandomCrop(Layer):
    """Crop a random ``height x width`` window while training (one offset per batch, as
    Keras); when the images are not larger than the window, crop the centre to the
    window's aspect ratio and resize to it (Keras's rule).

    Outside training: an eager call with ``training=False`` returns the images unchanged,
    as Keras 3.15's code does; in a model (``predict``, ``evaluate``, ONNX) the output
    has the declared ``height x width`` shape, so graphc applies there what Keras's code
    does for images smaller than the window: the window at the offset of the centred
    box of the target's aspect ratio, resized if the image cuts it short. (Keras 3.15's
    ``predict`` returns the uncropped images, against its own output shape, which breaks
    the layers after it.)"""

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.height, self.width = height, width
        # Keras's backend.random.make_default_seed(): a seed is always stored
        self.seed = seed if seed is not None else random.randint(1, int(1e9))
        self.data_format = standardize_data_format(data_format)

    def _centre(self, x):
        first = self.data_format == "channels_first"
        rank = len(x.shape)
        h_axis = rank - 2 if first else rank - 3
        h, w = x.shape[h_axis], x.shape[h_axis + 1]
        if h is None or w is None:
            raise ValueError(
                "RandomCrop requires the input to have a fully defined height and width. "
                f"Received: images.shape={tuple(x.shape)}"
            )
        crop_h = max(min(h, int(float(w * self.height) / self.width)), 1)
        crop_w = max(min(w, int(float(h * self.width) / self.height)), 1)
        top, left = int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)
        # Keras's transform_images then slices a window of the target size from there
        # (cut short by the image's edge) and resizes what it got if that is not the
        # target size
        got_h, got_w = min(self.height, h - top), min(self.width, w - left)
        y = image_ops.crop_images(
            x, top, left, target_height=got_h, target_width=got_w, data_format=self.data_format
        )
        if (got_h, got_w) != (self.height, self.width):
            y = image_ops.resize(y, (self.height, self.width), data_format=self.data_format)
        return y

    def call(self, inputs, training=None):
        eager = not is_symbolic(inputs)
        if eager and training is None:
            training = True
        x = float_images(inputs)
        if eager:
            if training is False:
                return x  # Keras 3.15's transform_images: only `if training`
            if x.ndim == 3:
                return self.call(x[None], training=training)[0]
        else:
            check_input_rank(self, x.shape, 4)
        centre = self._centre(x)
        if training is False:
            return centre
        return random_crop(
            centre, x, self.height, self.width, training, data_format=self.data_format,
            layer=self.name,
        )  # fmt: skip

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "height": self.height,
            "width": self.width,
            "seed": self.seed,
        }


class AutoContrast(Layer):
    """Stretch each image's values, per channel, to the whole ``value_range`` (its
    minimum to the range's low end, its maximum to the high end), in training and
    inference alike; a constant channel is left as it is."""

    def __init__(self, value_range=(0, 255), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.value_range = _sorted_value_range(value_range)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        lo, hi = (float(v) for v in self.value_range)
        x = inputs
        if not is_symbolic(inputs):
            x = np.asarray(inputs)
            if not np.issubdtype(x.dtype, np.floating):
                x = x.astype("float32")
        y = x
        if (lo, hi) != (0.0, 255.0):
            y = ops.multiply(ops.divide(ops.subtract(x, lo), hi - lo), 255.0)
        # Keras reduces axes (1, 2) of the batch whatever the data format (height and
        # width channels last; channels and height channels first)
        axes = (1, 2) if len(x.shape) == 4 else (0, 1)
        low = ops.min(y, axis=axes, keepdims=True)
        high = ops.max(y, axis=axes, keepdims=True)
        flat = ops.less_equal(high, low)
        span = ops.where(flat, ops.ones_like(high), ops.subtract(high, low))
        scale = ops.divide(255.0, span)
        offset = ops.multiply(ops.negative(low), scale)
        y = ops.clip(ops.add(ops.multiply(y, scale), offset), 0.0, 255.0)
        if (lo, hi) != (0.0, 255.0):
            y = ops.add(ops.multiply(ops.divide(y, 255.0), hi - lo), lo)
        # Keras: the NaNs of a constant channel (0 / 0) give back the original values
        return ops.where(ops.logical_or(flat, ops.isnan(y)), x, y)

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "value_range": list(self.value_range),
        }


class Equalization(_Augment):
    """Equalize the histogram of each channel (over the whole batch, as Keras) while
    training, with ``bins`` bins over ``value_range``; the identity in inference."""

    kind = "equalization"

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        _RandomImageLayer.__init__(self, data_format=data_format, **kwargs)
        self.bins = bins
        self.value_range = _sorted_value_range(value_range)

    def _attrs(self):
        return {
            "layer": self.name,
            "bins": int(self.bins),
            "value_range": tuple(float(v) for v in self.value_range),
            "data_format": self.data_format,
        }

    def get_config(self):
        return {
            **Layer.get_config(self),
            "data_format": self.data_format,
            "bins": self.bins,
            "value_range": list(self.value_range),
        }


class RandomGaussianBlur(_Augment):
    """Blur each image with probability drawn in ``factor`` by a Gaussian of
    ``kernel_size`` (odd) and a standard deviation drawn in ``sigma`` (one pair per
    batch, as Keras), clipped to ``value_range``."""

    kind = "gaussian_blur"
    _FACTOR_BOUNDS = (0, 1)
    _SORT_VALUE_RANGE = False

    def __init__(
        self,
        factor=1.0,
        kernel_size=3,
        sigma=1.0,
        value_range=(0, 255),
        data_format=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)
        self.kernel_size = self._kernel_size(kernel_size)
        self.sigma = _set_factor(sigma, (0, 1), "sigma")

    @staticmethod
    def _kernel_size(k):
        message = (
            "The `kernel_size` argument should be a number (or a list of two numbers) "
            f"that is odd. Received: kernel_size={k}"
        )
        if isinstance(k, (tuple, list)):
            if len(k) != 2 or k[0] % 2 == 0 or k[1] % 2 == 0:
                raise ValueError(message)
            return (k[0], k[1])
        if isinstance(k, (int, float)) and not isinstance(k, bool):
            if k % 2 == 0:
                raise ValueError(message)
            return (k, k)
        raise ValueError(message)

    def _attrs(self):
        return {
            **super()._attrs(),
            "kernel_size": tuple(int(k) for k in self.kernel_size),
            "sigma": tuple(float(s) for s in self.sigma),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": list(self.kernel_size),
            "sigma": list(self.sigma),
        }


class RandomErasing(_Augment):
    """Erase a random box (its sides the square roots of fractions drawn in ``scale``)
    of each image with probability drawn in ``factor``, filled with ``fill_value`` (a
    number or one per channel; by default Gaussian noise times ``value_range[1]``),
    clipped to ``value_range``."""

    kind = "erasing"
    _FACTOR_BOUNDS = (0, 1)
    _SORT_VALUE_RANGE = False

    def __init__(
        self,
        factor=1.0,
        scale=(0.02, 0.33),
        fill_value=None,
        value_range=(0, 255),
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)
        self.scale = _set_factor(scale, (0, 1), "scale")
        if fill_value is not None and not (
            isinstance(fill_value, (int, float))
            or (isinstance(fill_value, (tuple, list)) and len(fill_value) == 3)
        ):
            raise ValueError(
                "The `fill_value` argument should be a number (or a list of three numbers). "
                f"Received: fill_value={fill_value}"
            )
        self.fill_value = fill_value

    def _attrs(self):
        fill = self.fill_value
        return {
            **super()._attrs(),
            "scale": tuple(float(s) for s in self.scale),
            "fill_value": tuple(fill) if isinstance(fill, list) else fill,
        }

    def get_config(self):
        return {**super().get_config(), "scale": list(self.scale), "fill_value": self.fill_value}


class Pipeline(Layer):
    """Apply ``layers`` in turn (Keras 3's ``keras.layers.Pipeline``: unlike a
    ``Sequential`` model, not a model; ``training`` goes to each layer)."""

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._pipeline_layers = list(layers)

    @property
    def layers(self):
        return self._pipeline_layers

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._pipeline_layers:
            takes_training = "training" in _call_parameters(layer)
            if takes_training and training is not None:
                x = layer(x, training=training)
            else:
                x = layer(x)
        return x

    def get_config(self):
        from graphc.layers import serialization

        return {
            "layers": [serialization.serialize(x) for x in self._pipeline_layers],
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        from graphc.layers import serialization

        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(
                "`Pipeline` config must contain a `layers` key mapping to a list of "
                f"serialized layers. Received config with layers={layers}."
            )
        config = {**config, "layers": [serialization.deserialize(_plain_dtype(x)) for x in layers]}
        return cls(**config)


def _plain_dtype(spec):
    """A layer spec from Keras's file: its DTypePolicy dict as the policy's name."""
    if isinstance(spec, dict) and isinstance(spec.get("config"), dict):
        dtype = spec["config"].get("dtype")
        if isinstance(dtype, dict):
            name = dtype.get("config", {}).get("name")
            spec = {**spec, "config": {**spec["config"], "dtype": name}}
    return spec


def _call_parameters(layer) -> set:
    import inspect

    try:
        return set(inspect.signature(layer.call).parameters)
    except (TypeError, ValueError):
        return set()


class _Mixing(_Augment):
    """MixUp and CutMix: images mixed with others of the batch; called eagerly on a dict
    ``{"images": ..., "labels": ...}`` (Keras's data-pipeline use), the labels are
    mixed by the same weights."""

    def call(self, inputs, training=None):
        if isinstance(inputs, dict):
            return self._call_dict(inputs, training)
        return super().call(inputs, training)

    def _call_dict(self, data, training):
        from graphc.ops.image_augment import apply_augment, draw_augment, mix_labels
        from graphc.rng import generator

        if training is False:
            return data
        images = np.asarray(data["images"])
        if not np.issubdtype(images.dtype, np.floating):
            images = images.astype("float32")
        if images.ndim == 3:  # Keras: CutMix leaves one image alone; MixUp mixes it with itself
            return {**data, "images": images}
        params = draw_augment(self.op_attrs(), generator(), images.shape[0], images.shape)
        out = {**data, "images": apply_augment(self.op_attrs(), images, params)}
        if "labels" in data:
            out["labels"] = mix_labels(data["labels"], params)
        return out


class MixUp(_Mixing):
    """Blend each image with another of the batch (a random permutation) by a weight
    drawn from ``Beta(alpha, alpha)`` (Keras 3's ``keras.layers.MixUp``)."""

    kind = "mix_up"

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        _RandomImageLayer.__init__(self, seed=seed, data_format=data_format, **kwargs)
        self.alpha = alpha

    def _attrs(self):
        return {"layer": self.name, "alpha": float(self.alpha), "data_format": self.data_format}

    def get_config(self):
        return {
            **Layer.get_config(self),
            "data_format": self.data_format,
            "alpha": self.alpha,
            "seed": self.seed,
        }


class CutMix(_Mixing):
    """Paste a random box of another image of the batch into each image; the box covers
    ``1 - w`` of the image, ``w`` drawn from ``Beta(a, a)`` with ``a`` drawn in
    ``factor`` (Keras 3's ``keras.layers.CutMix``)."""

    kind = "cut_mix"
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        _RandomImageLayer.__init__(self, seed=seed, data_format=data_format, **kwargs)
        self.factor = _set_factor(factor, self._FACTOR_BOUNDS)

    def _attrs(self):
        return {
            "layer": self.name,
            "factor": tuple(float(f) for f in self.factor),
            "data_format": self.data_format,
        }

    def get_config(self):
        return {
            **Layer.get_config(self),
            "data_format": self.data_format,
            "factor": list(self.factor),
            "seed": self.seed,
        }


class RandomShear(_Augment):
    """Shear each image along x and y by random amounts drawn in ``x_factor`` and
    ``y_factor`` (numbers ``f`` in [0, 1] mean ``[-f, f]``), with one random sign per
    image for both, resampled with ``interpolation`` and ``fill_mode`` as
    ``ops.image.affine_transform``."""

    kind = "shear"
    _MESSAGE = (
        "The `factor` argument should be a number (or a list of two numbers) in the range "
        "[0, 1.0]. "
    )
    _FILL_MODES = ("reflect", "wrap", "constant", "nearest")
    _INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(
        self,
        x_factor=0.0,
        y_factor=0.0,
        interpolation="bilinear",
        fill_mode="reflect",
        fill_value=0.0,
        data_format=None,
        seed=None,
        **kwargs,
    ):
        _RandomImageLayer.__init__(self, seed=seed, data_format=data_format, **kwargs)
        self.x_factor = _unit_factor(x_factor, self._MESSAGE, symmetric=True)
        self.y_factor = _unit_factor(y_factor, self._MESSAGE, symmetric=True)
        if fill_mode not in self._FILL_MODES:
            raise NotImplementedError(
                f"Unknown `fill_mode` {fill_mode}. Expected of one {self._FILL_MODES}."
            )
        if interpolation not in self._INTERPOLATIONS:
            raise NotImplementedError(
                f"Unknown `interpolation` {interpolation}. Expected of one {self._INTERPOLATIONS}."
            )
        self.fill_mode, self.fill_value = fill_mode, fill_value
        self.interpolation = interpolation

    def _attrs(self):
        return {
            "layer": self.name,
            "x_factor": tuple(float(f) for f in self.x_factor),
            "y_factor": tuple(float(f) for f in self.y_factor),
            "interpolation": self.interpolation,
            "fill_mode": self.fill_mode,
            "fill_value": float(self.fill_value),
            "data_format": self.data_format,
        }

    @classmethod
    def from_config(cls, config):
        # A number f is stored as (-f, f), which the constructor's [0, 1] check refuses
        # (Keras's own from_config fails there): give the number back.
        config = dict(config)
        for key in ("x_factor", "y_factor"):
            f = config.get(key)
            if isinstance(f, (list, tuple)) and len(f) == 2 and f[0] < 0 and f[0] == -f[1]:
                config[key] = f[1]
        return cls(**config)

    def get_config(self):
        return {
            **Layer.get_config(self),
            "data_format": self.data_format,
            "x_factor": list(self.x_factor),
            "y_factor": list(self.y_factor),
            "interpolation": self.interpolation,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "seed": self.seed,
        }


class RandAugment(_Augment):
    """``num_ops`` times, one of Keras's eleven RandAugment layers (shear, translation,
    rotation, brightness, colour degeneration, contrast, sharpness, posterization,
    solarization, auto-contrast, equalization), drawn uniformly per batch, each built
    from ``factor`` and ``value_range`` as Keras builds them (Keras 3's
    ``keras.layers.RandAugment``)."""

    kind = "rand_augment"
    _FACTOR_BOUNDS = (0, 1)
    _SORT_VALUE_RANGE = False

    def __init__(
        self,
        value_range=(0, 255),
        num_ops=2,
        factor=0.5,
        interpolation="bilinear",
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)
        self.num_ops, self.interpolation = num_ops, interpolation

    def _attrs(self):
        return {
            **super()._attrs(),
            "num_ops": int(self.num_ops),
            "interpolation": self.interpolation,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "num_ops": self.num_ops,
            "interpolation": self.interpolation,
        }
