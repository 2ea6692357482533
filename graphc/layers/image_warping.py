"""Keras 3's warping augmentation layers: ``RandomPerspective`` and
``RandomElasticTransform``, built on ``ops.image.perspective_transform`` and
``ops.image.elastic_transform``'s sampling.

As the other random image layers: each transforms while training (in ``fit``, or an eager
call with ``training`` unset or True) and is the identity in ``predict``/``evaluate`` and
in exported ONNX models. The draws come from graphc's generator
(``graphc.utils.set_random_seed``) with Keras's distributions and order; ``seed`` is
kept in the config only. Arguments, defaults, factor rules and configs are Keras 3.15's.

- ``RandomPerspective``: each image is transformed with a probability drawn in
  ``factor`` (Keras's rule: a number ``f`` gives ``[0, f]``, so the default 1.0
  transforms about half the images); its corners other than the top-left move by up to
  ``scale / 2`` of their coordinates; the rest is filled with ``fill_value``. The
  gradient flows to the input (the sampling is linear in the image).
- ``RandomElasticTransform``: per batch a distortion ``d`` drawn in ``scale``
  (``alpha = 0.1 d max(h, w)``, ``sigma = 0.05 d min(h, w)``), per image a probability
  drawn in ``factor``; the result is clipped to ``value_range``. No gradient flows to its
  input (put it on the data, as Keras recommends).

>>> import numpy as np
>>> x = np.full((2, 8, 8, 3), 100.0, "float32")
>>> RandomPerspective(seed=1)(x, training=False) is x
True
>>> RandomElasticTransform(factor=(1.0, 1.0))(x).shape
(2, 8, 8, 3)
"""

from __future__ import annotations

from graphc.errors import ArgumentValueError
from graphc.layers.image_augmentation import _set_factor
from graphc.layers.preprocessing import _RandomImageLayer
from graphc.ops import image as image_ops
from graphc.ops.image_warp import random_elastic_transform

__all__ = ["RandomPerspective", "RandomElasticTransform"]

_INTERPOLATIONS = ("nearest", "bilinear")


def _check_interpolation(interpolation):
    if interpolation not in _INTERPOLATIONS:
        raise NotImplementedError(
            f"Unknown `interpolation` {interpolation}. Expected of one {_INTERPOLATIONS}."
        )


class RandomPerspective(_RandomImageLayer):
    """``keras.layers.RandomPerspective``: a random perspective warp of each image (with
    a probability drawn in ``factor``), its corners shifted by up to ``scale / 2`` of
    their coordinates, outside points filled with ``fill_value``."""

    def __init__(
        self,
        factor=1.0,
        scale=1.0,
        interpolation="bilinear",
        fill_value=0.0,
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _set_factor(factor, (0, 1))
        if scale < 0.0 or scale > 1.0:
            raise ArgumentValueError(
                f"The `scale` argument should be a number in the range [0,1]. Received: "
                f"scale={scale}"
            )
        _check_interpolation(interpolation)
        self.scale, self.interpolation, self.fill_value = scale, interpolation, fill_value

    def _augment(self, x, training):
        return image_ops.random_affine(
            x,
            "perspective",
            training=training,
            fill_mode="constant",
            interpolation=self.interpolation,
            fill_value=float(self.fill_value),
            data_format=self.data_format,
            factor=tuple(float(f) for f in self.factor),
            scale=float(self.scale),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "scale": self.scale,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }


def _set_scale(scale):
    """Keras's ``_set_factor_by_name(scale, "scale")`` with bounds [0, 1]."""
    message = (
        "The `scale` argument should be a number (or a list of two numbers) in the range "
        f"[0, 1]. Received: factor={scale}"
    )
    if isinstance(scale, (tuple, list)):
        if len(scale) != 2 or scale[0] > 1 or scale[1] < 0:
            raise ArgumentValueError(message)
        return tuple(sorted(scale))
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        if scale < 0 or scale > 1:
            raise ArgumentValueError(message)
        return (max(-abs(scale), 0), abs(scale))
    raise ArgumentValueError(message)


class RandomElasticTransform(_RandomImageLayer):
    """``keras.layers.RandomElasticTransform``: an elastic deformation of each image
    (with a probability drawn in ``factor``), its strength drawn per batch in ``scale``,
    resampled with ``interpolation`` and ``fill_mode``, clipped to ``value_range``."""

    _FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")

    def __init__(
        self,
        factor=1.0,
        scale=1.0,
        interpolation="bilinear",
        fill_mode="reflect",
        fill_value=0.0,
        value_range=(0, 255),
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _set_factor(factor, (0, 1))
        self.scale = _set_scale(scale)
        _check_interpolation(interpolation)
        if fill_mode not in self._FILL_MODES:
            raise NotImplementedError(
                f"Unknown `fill_mode` {fill_mode}. Expected of one {set(self._FILL_MODES)}."
            )
        self.interpolation, self.fill_mode = interpolation, fill_mode
        self.fill_value, self.value_range = fill_value, value_range

    def _augment(self, x, training):
        return random_elastic_transform(
            x,
            training=training,
            layer=self.name,
            factor=tuple(float(f) for f in self.factor),
            scale=tuple(float(s) for s in self.scale),
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=float(self.fill_value),
            value_range=tuple(float(v) for v in self.value_range),
            data_format=self.data_format,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "scale": list(self.scale),
            "interpolation": self.interpolation,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "value_range": list(self.value_range),
        }
