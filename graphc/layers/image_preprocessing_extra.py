"""Keras 3.15's ``AugMix``, ``ContrastLimitedAdaptiveHistogramEqualization`` and
``MaxNumBoundingBoxes``.

- ``AugMix`` is random, as its neighbours in ``graphc.layers.image_augmentation``: it
  transforms while training (in ``fit``, or an eager call with ``training`` unset or
  True) and is the identity in ``predict``/``evaluate`` and in exported ONNX models; its
  draws come from graphc's generator (``graphc.utils.set_random_seed``), ``seed`` is kept
  in the config only.
- ``ContrastLimitedAdaptiveHistogramEqualization`` is deterministic and applies in
  training and inference alike (Keras's ``transform_images`` ignores ``training``); it
  exports to ONNX.
- ``MaxNumBoundingBoxes`` pads or truncates the ``bounding_boxes`` of a Keras data dict
  (``{"images": ..., "bounding_boxes": {"boxes": ..., "labels": ...}}``, eagerly) to
  ``max_number`` boxes; images pass unchanged.

Integer images (``uint8`` from a decoder) become float32 first, as for the other image
layers (Keras's CLAHE casts its output back to the input's integer dtype; graphc keeps
float32, like its neighbours).

>>> import numpy as np
>>> x = np.full((1, 4, 4, 3), 100.0, "float32")
>>> AugMix()(x, training=False) is x
True
>>> ramp = np.arange(0, 160, 10, dtype="float32").reshape(1, 4, 4, 1)
>>> clahe = ContrastLimitedAdaptiveHistogramEqualization(clip_limit=0, tile_grid_size=(1, 1))
>>> clahe(ramp)[0, 0, :, 0].tolist()  # one tile, no clipping: histogram equalization
[0.0, 17.0, 34.0, 51.0]
"""

from __future__ import annotations

import numpy as np

from graphc import ops
from graphc._args import positive_int
from graphc.config import standardize_data_format
from graphc.errors import ArgumentTypeError, ArgumentValueError, InputDataError
from graphc.layers.base import Layer
from graphc.layers.convolutional import check_input_rank
from graphc.layers.image_augmentation import _set_factor
from graphc.layers.preprocessing import _RandomImageLayer, float_images
from graphc.ops.aug_mix import aug_mix
from graphc.ops.clahe import clahe
from graphc.ops.registry import is_symbolic

__all__ = ["AugMix", "ContrastLimitedAdaptiveHistogramEqualization", "MaxNumBoundingBoxes"]

_INTERPOLATIONS = ("nearest", "bilinear")


def _value_range(value_range, where):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ArgumentValueError(
            f"{where}: `value_range` must be a list of two numbers (low, high), received "
            f"value_range={value_range!r}; pass e.g. value_range=(0, 255)."
        )
    return value_range


class AugMix(_RandomImageLayer):
    """AugMix (Hendrycks et al.): ``num_chains`` chains of up to ``chain_depth`` random
    augmentations of strength ``factor`` (in [0, 1]), mixed with Dirichlet(``alpha``)
    weights and blended with the images by a Beta(``alpha``, ``alpha``) weight, while
    training; the identity in inference. ``all_ops`` adds brightness, colour
    degeneration, contrast and sharpness to the seven geometric and histogram ones
    (colour degeneration needs RGB images: with ``all_ops=True`` the images must have 3
    channels, as graphc's ``RandomColorDegeneration`` requires)."""

    def __init__(
        self,
        value_range=(0, 255),
        num_chains=3,
        chain_depth=3,
        factor=0.3,
        alpha=1.0,
        all_ops=True,
        interpolation="bilinear",
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, "AugMix")
        self.num_chains = positive_int(num_chains, "num_chains", "AugMix", "3")
        self.chain_depth = positive_int(chain_depth, "chain_depth", "AugMix", "3")
        self.factor = _set_factor(factor, (0, 1))
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ArgumentValueError(
                f"AugMix: `alpha` must be a positive number (the Beta and Dirichlet "
                f"concentration), received alpha={alpha!r}; pass e.g. alpha=1.0."
            )
        self.alpha, self.all_ops = alpha, bool(all_ops)
        if interpolation not in _INTERPOLATIONS:
            raise NotImplementedError(
                f"Unknown `interpolation` {interpolation}. Expected of one {_INTERPOLATIONS}."
            )
        self.interpolation = interpolation

    def op_attrs(self) -> dict:
        """The ``aug_mix`` node's attributes."""
        return {
            "layer": self.name,
            "factor": tuple(float(f) for f in self.factor),
            "value_range": tuple(float(v) for v in self.value_range),
            "num_chains": int(self.num_chains),
            "chain_depth": int(self.chain_depth),
            "alpha": float(self.alpha),
            "all_ops": self.all_ops,
            "interpolation": self.interpolation,
            "data_format": self.data_format,
        }

    def _augment(self, x, training):
        return aug_mix(x, training, **self.op_attrs())

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            "num_chains": self.num_chains,
            "chain_depth": self.chain_depth,
            "factor": list(self.factor),
            "alpha": self.alpha,
            "all_ops": self.all_ops,
            "interpolation": self.interpolation,
        }


class ContrastLimitedAdaptiveHistogramEqualization(Layer):
    """CLAHE: equalize the histogram of each tile of a ``tile_grid_size`` grid (per
    channel; the tiles' histograms clipped at ``clip_limit`` times the mean bin, the
    excess spread over all bins) and interpolate the tiles' mappings bilinearly, in
    training and inference alike. ``value_range`` is the images' range (the histograms
    have 256 bins over it).

    As Keras's code computes it (and its TensorFlow, JAX and NumPy backends): the clip
    limit ``clip_limit * tile_pixels / 256`` stays fractional and the images are padded
    symmetrically to whole tiles. Keras's torch backend departs from its code there (its
    ``one_hot`` gives integers, so the limit is truncated; its symmetric padding copies
    the edge); where neither matters the outputs agree to float32 rounding."""

    def __init__(
        self,
        value_range=(0, 255),
        clip_limit=4.0,
        tile_grid_size=(8, 8),
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        where = "ContrastLimitedAdaptiveHistogramEqualization"
        self.value_range = _value_range(value_range, where)
        if isinstance(clip_limit, bool) or not isinstance(clip_limit, (int, float)):
            raise ArgumentTypeError(
                f"{where}: `clip_limit` must be a number, received {clip_limit!r} of type "
                f"{type(clip_limit).__name__}; pass e.g. clip_limit=4.0."
            )
        self.clip_limit = clip_limit
        if not isinstance(tile_grid_size, (tuple, list)) or len(tile_grid_size) != 2:
            raise ArgumentValueError(
                f"{where}: `tile_grid_size` must be two positive integers (rows, columns), "
                f"received tile_grid_size={tile_grid_size!r}; pass e.g. tile_grid_size=(8, 8)."
            )
        for g in tile_grid_size:
            positive_int(g, "tile_grid_size", where, "(8, 8)")
        self.tile_grid_size = tile_grid_size
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs, training=None):  # (the same in training and inference)
        x = float_images(inputs)
        if not is_symbolic(x) and x.ndim == 3:  # one unbatched image
            return self.call(x[None], training)[0]
        check_input_rank(self, x.shape, 4)
        first = self.data_format == "channels_first"
        if first:
            x = ops.transpose(x, (0, 2, 3, 1))
        lo, hi = (float(v) for v in self.value_range)
        scaled = (lo, hi) != (0.0, 255.0)
        y = ops.multiply(ops.divide(ops.subtract(x, lo), hi - lo), 255.0) if scaled else x
        y = clahe(y, self.clip_limit, self.tile_grid_size)
        if scaled:  # Keras's _transform_value_range back from (0, 255)
            y = ops.add(ops.multiply(ops.divide(y, 255.0), hi - lo), lo)
        return ops.transpose(y, (0, 3, 1, 2)) if first else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "value_range": list(self.value_range),
            "clip_limit": self.clip_limit,
            "tile_grid_size": list(self.tile_grid_size),
        }


class MaxNumBoundingBoxes(Layer):
    """Pad (with ``fill_value``) or truncate the boxes and labels of a Keras data dict to
    ``max_number`` per image, eagerly; images (alone or in the dict) pass unchanged. As
    Keras's, a dict with ``bounding_boxes`` needs ``bounding_box_format`` (``"xyxy"``,
    ...), which this layer only checks is given (it does not move the boxes)."""

    def __init__(
        self, max_number, fill_value=-1, bounding_box_format=None, data_format=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.max_number = positive_int(max_number, "max_number", "MaxNumBoundingBoxes", "10")
        self.fill_value = int(fill_value)
        self.bounding_box_format = bounding_box_format
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            return float_images(inputs)
        out = dict(inputs)
        if "images" in out:
            out["images"] = float_images(out["images"])
        if "bounding_boxes" in out:
            if not self.bounding_box_format:
                raise ArgumentValueError(
                    "MaxNumBoundingBoxes: the data holds 'bounding_boxes' but the layer has "
                    "no bounding box format; pass e.g. bounding_box_format='xyxy' (Keras "
                    "requires it too)."
                )
            out["bounding_boxes"] = self._boxes(out["bounding_boxes"])
        return out

    def _boxes(self, bounding_boxes):
        if not isinstance(bounding_boxes, dict) or not {"boxes", "labels"} <= set(bounding_boxes):
            raise InputDataError(
                "MaxNumBoundingBoxes: `bounding_boxes` must be a dict with the keys 'boxes' "
                "(batch, boxes, 4) and 'labels' (batch, boxes), received "
                f"{bounding_boxes!r:.200}."
            )
        if any(is_symbolic(v) for v in bounding_boxes.values()):
            raise InputDataError(
                "MaxNumBoundingBoxes: the bounding boxes must be arrays (the layer runs in "
                "a data pipeline, eagerly), received symbolic tensors; call it on the data."
            )
        boxes = np.asarray(bounding_boxes["boxes"])
        labels = np.asarray(bounding_boxes["labels"])
        single = boxes.ndim == 2  # one image's boxes (Keras adds and removes a batch axis)
        if single:
            boxes, labels = boxes[None], labels[None]
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or labels.shape != boxes.shape[:2]:
            raise InputDataError(
                "MaxNumBoundingBoxes: expected boxes of shape (batch, boxes, 4) and labels "
                f"of shape (batch, boxes), received boxes {boxes.shape} and labels "
                f"{labels.shape}."
            )
        pad = max(self.max_number - boxes.shape[1], 0)
        boxes = np.pad(
            boxes[:, : self.max_number], ((0, 0), (0, pad), (0, 0)), constant_values=self.fill_value
        )
        labels = np.pad(
            labels[:, : self.max_number], ((0, 0), (0, pad)), constant_values=self.fill_value
        )
        if single:
            boxes, labels = boxes[0], labels[0]
        return {**bounding_boxes, "boxes": boxes, "labels": labels}

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        # (Keras leaves fill_value out of its config.)
        config = {
            **super().get_config(),
            "data_format": self.data_format,
            "max_number": self.max_number,
        }
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config
