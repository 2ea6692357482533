"""Image preprocessing and augmentation layers, as Keras 3's: ``Rescaling``,
``RandomFlip``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation``.

The random layers transform each sample with its own drawn parameters while training (in
``fit``) and are the identity in ``predict``/``evaluate`` and in exported ONNX models; an
eager call on arrays transforms (Keras's default ``training=True``) unless
``training=False`` is passed. Draws come from graphc's random generator
(``graphc.utils.set_random_seed``); ``seed`` is kept in the config only.

>>> import graphc
>>> from graphc import layers
>>> augment = graphc.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
...                              layers.RandomZoom(0.2)])
>>> inputs = graphc.Input(shape=(32, 32, 3))
>>> x = layers.Rescaling(1.0 / 255)(augment(inputs))
>>> x.shape
(None, 32, 32, 3)
"""

from __future__ import annotations

import numpy as np

from graphc import ops
from graphc.config import standardize_data_format
from graphc.layers.base import Layer
from graphc.layers.convolutional import check_input_rank
from graphc.ops import image as image_ops
from graphc.ops.registry import is_symbolic

__all__ = [
    "Rescaling",
    "Normalization",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "Resizing",
    "CenterCrop",
    "CategoryEncoding",
    "Discretization",
]


def _plain(value):
    """Scale/offset as Keras serializes them: a number or a (nested) list."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


class Rescaling(Layer):
    """``inputs * scale + offset``, in training and inference alike. ``scale`` and
    ``offset`` may be per-channel lists (broadcast against the last axis).

    >>> import numpy as np
    >>> Rescaling(1.0 / 127.5, offset=-1)(np.array([[0.0, 255.0]], "float32"))
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _plain(scale), _plain(offset)

    def call(self, inputs):
        x = ops.multiply(inputs, np.asarray(self.scale, dtype="float32"))
        offset = np.asarray(self.offset, dtype="float32")
        # x * s + 0 == x * s exactly: leave the Add out of the graph.
        return x if not offset.any() else ops.add(x, offset)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def float_images(inputs):
    """Images as the random image layers take them: integer pixels (``uint8`` from a
    decoder) become float32 first, in training and inference alike, as Keras's image
    preprocessing layers cast to their compute dtype."""
    if is_symbolic(inputs):
        if np.issubdtype(np.dtype(inputs.dtype), np.floating):
            return inputs
        return ops.cast(inputs, "float32")
    x = np.asarray(inputs)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype("float32")


class _RandomImageLayer(Layer):
    """Shared by the random image layers: data format, rank check, and the training rule
    (identity when ``training=False``; forced on when ``training=True`` or when called
    eagerly on arrays with ``training`` unset, as Keras's ``call(data, training=True)``)."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs, training=None):
        inputs = float_images(inputs)
        if training is False:
            return inputs
        eager = not is_symbolic(inputs)
        if eager and training is None:
            training = True
        if eager and inputs.ndim == 3:  # one unbatched image
            return self._augment(inputs[None], training)[0]
        check_input_rank(self, inputs.shape, 4)
        return self._augment(inputs, training)

    def _augment(self, x, training):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "seed": self.seed}


class RandomFlip(_RandomImageLayer):
    """Flip each image with probability 1/2 while training. ``mode`` is "horizontal"
    (left-right), "vertical" (top-bottom) or "horizontal_and_vertical" (as Keras, one draw
    per image decides both flips)."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in image_ops.FLIP_MODES:
            raise ValueError(
                f"Invalid value for argument `mode`. Expected one of "
                f"{image_ops.FLIP_MODES}. Received: mode={mode!r}"
            )
        self.mode = mode

    def _augment(self, x, training):
        return image_ops.random_flip(x, self.mode, self.data_format, training=training)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _check_fill_and_interpolation(fill_mode, interpolation):
    # Keras raises NotImplementedError for these two.
    if fill_mode not in image_ops.FILL_MODES:
        raise NotImplementedError(
            f"Unknown `fill_mode` {fill_mode}. Expected of one {image_ops.FILL_MODES}."
        )
    if interpolation not in image_ops.INTERPOLATIONS:
        raise NotImplementedError(
            f"Unknown `interpolation` {interpolation}. Expected of one {image_ops.INTERPOLATIONS}."
        )


def _factor_range(factor, name, message, check):
    """Keras's ``_set_factor`` of RandomZoom/RandomTranslation: a number ``f`` means
    ``(-|f|, |f|)``, a pair is sorted; ``check`` validates each number."""
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{message}Received: {name}={factor}")
        check(factor[0])
        check(factor[1])
        return tuple(float(f) for f in sorted(factor))
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        check(factor)
        return -abs(float(factor)), abs(float(factor))
    raise ValueError(f"{message}Received: {name}={factor}")


class _RandomAffineLayer(_RandomImageLayer):
    kind = ""

    def __init__(
        self,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        _check_fill_and_interpolation(fill_mode, interpolation)
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = fill_value

    def _ranges(self) -> dict:
        raise NotImplementedError

    def _augment(self, x, training):
        return image_ops.random_affine(
            x,
            self.kind,
            training=training,
            fill_mode=self.fill_mode,
            interpolation=self.interpolation,
            fill_value=float(self.fill_value),
            data_format=self.data_format,
            **self._ranges(),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
        }


class RandomRotation(_RandomAffineLayer):
    """Rotate each image about its centre by a random angle while training: ``factor`` is
    a fraction of a full turn, a number ``f`` meaning ``[-f, f]`` or a pair
    ``(lower, upper)``; positive angles turn counter-clockwise."""

    kind = "rotation"

    def __init__(
        self,
        factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        message = (
            "The `factor` argument should be a number (or a list of two numbers) "
            f"in the range [-1, 1]. Received: factor={factor}"
        )
        # Keras's BaseImagePreprocessingLayer._set_factor with bounds (-1, 1)
        if isinstance(factor, (tuple, list)):
            if len(factor) != 2 or factor[0] > 1 or factor[1] < -1:
                raise ValueError(message)
            lower, upper = sorted(factor)
        elif isinstance(factor, (int, float)) and not isinstance(factor, bool):
            if not -1 <= factor <= 1:
                raise ValueError(message)
            lower, upper = max(-abs(factor), -1), abs(factor)
        else:
            raise ValueError(message)
        self.factor = (float(lower), float(upper))

    def _ranges(self):
        return {"factor": self.factor}

    def get_config(self):
        # Keras stores the sorted (lower, upper) pair; as JSON, a list
        return {**super().get_config(), "factor": list(self.factor)}


class RandomZoom(_RandomAffineLayer):
    """Zoom each image about its centre by a random factor while training.
    ``height_factor`` (and ``width_factor``, else the same zoom keeps the aspect ratio):
    a number ``f`` means ``[-f, f]``, or a pair; each in ``(-1, 1]``. Positive values
    zoom out, negative zoom in (a factor of 0.2 samples 1.2 times the extent)."""

    kind = "zoom"
    _MESSAGE = (
        "The `height_factor` and `width_factor` arguments should be a number (or a "
        "list of two numbers) in the range (-1.0, 1.0]. "
    )

    def __init__(
        self,
        height_factor,
        width_factor=None,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_range(height_factor, "height_factor", self._MESSAGE, self._check)
        self._width = (
            None
            if width_factor is None
            else _factor_range(width_factor, "width_factor", self._MESSAGE, self._check)
        )

    def _check(self, number):
        if number > 1.0 or number <= -1.0:
            raise ValueError(f"{self._MESSAGE}Received: input_number={number}")

    def _ranges(self):
        ranges = {"height_factor": self._height}
        if self._width is not None:
            ranges["width_factor"] = self._width
        return ranges

    def get_config(self):
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


class RandomTranslation(_RandomAffineLayer):
    """Shift each image by a random fraction of its height and width while training:
    each factor a number ``f`` meaning ``[-f, f]`` or a pair, in ``[-1, 1]``; positive
    values shift down / right."""

    kind = "translation"
    _MESSAGE = (
        "The `factor` argument should be a number (or a list of two numbers) in the "
        "range [-1.0, 1.0]. "
    )

    def __init__(
        self,
        height_factor,
        width_factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_range(height_factor, "height_factor", self._MESSAGE, self._check)
        self._width = _factor_range(width_factor, "width_factor", self._MESSAGE, self._check)

    def _check(self, number):
        if number > 1.0 or number < -1.0:
            raise ValueError(f"{self._MESSAGE}Received: input_number={number}")

    def _ranges(self):
        return {"height_factor": self._height, "width_factor": self._width}

    def get_config(self):
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


class Resizing(Layer):
    """``keras.layers.Resizing``: images resized to ``(height, width)`` with
    ``ops.image.resize`` (bilinear or nearest; crop or pad to the aspect ratio)."""

    def __init__(
        self,
        height,
        width,
        interpolation="bilinear",
        crop_to_aspect_ratio=False,
        pad_to_aspect_ratio=False,
        fill_mode="constant",
        fill_value=0.0,
        antialias=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode, self.fill_value = fill_mode, fill_value
        self.antialias = antialias
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        return image_ops.resize(
            inputs,
            (self.height, self.width),
            interpolation=self.interpolation,
            antialias=self.antialias,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_value=self.fill_value,
            data_format=self.data_format,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
            "data_format": self.data_format,
        }


class CenterCrop(Layer):
    """``keras.layers.CenterCrop``: the central ``height x width`` box; an image smaller
    than that is resized to it (cropped to the aspect ratio first), as Keras's
    ``smart_resize``."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        first = self.data_format == "channels_first"
        h_axis = len(inputs.shape) - (2 if first else 3)
        h, w = inputs.shape[h_axis], inputs.shape[h_axis + 1]
        if h >= self.height and w >= self.width:
            top, left = (h - self.height) // 2, (w - self.width) // 2
            return image_ops.crop_images(
                inputs, top, left, target_height=self.height, target_width=self.width,
                data_format=self.data_format,
            )  # fmt: skip
        return image_ops.resize(
            inputs, (self.height, self.width), crop_to_aspect_ratio=True,
            data_format=self.data_format,
        )  # fmt: skip

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "data_format": self.data_format,
        }


class CategoryEncoding(Layer):
    """``keras.layers.CategoryEncoding``: integer ids to "one_hot", "multi_hot" or
    "count" vectors of ``num_tokens`` (float32)."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise ValueError(f"Unknown arg for output_mode: {output_mode}")
        if num_tokens is None:
            raise ValueError("num_tokens must be set to use this layer.")
        if num_tokens < 1:
            raise ValueError(f"`num_tokens` must be >= 1. Received: num_tokens={num_tokens}.")
        if sparse:
            raise ValueError("CategoryEncoding(sparse=True) is not supported: graphc is dense")
        self.num_tokens, self.output_mode, self.sparse = num_tokens, output_mode, sparse

    def call(self, inputs, count_weights=None):
        x = ops.cast(inputs, "int32")
        rank = len(x.shape)
        if self.output_mode == "one_hot":
            if rank >= 1 and x.shape[-1] == 1 and rank > 1:
                x = ops.squeeze(x, axis=-1)
            return ops.one_hot(x, self.num_tokens)
        if rank == 1:
            x = ops.expand_dims(x, 0) if rank == 1 and not is_symbolic(inputs) else x
        hot = ops.one_hot(x, self.num_tokens)  # (..., n, tokens)
        if self.output_mode == "count":
            if count_weights is not None:
                hot = ops.multiply(hot, ops.expand_dims(ops.cast(count_weights, "float32"), -1))
            out = ops.sum(hot, axis=-2)
        else:
            out = ops.max(hot, axis=-2)
        return ops.squeeze(out, axis=0) if rank == 1 and not is_symbolic(inputs) else out

    def get_config(self):
        return {
            **super().get_config(),
            "num_tokens": self.num_tokens,
            "output_mode": self.output_mode,
        }


class Discretization(Layer):
    """``keras.layers.Discretization``: the bucket of each value among
    ``bin_boundaries`` (``bins[i - 1] <= x < bins[i]``), as "int" ids or one-hot,
    multi-hot or count vectors. ``adapt(data)`` with ``num_bins`` sets the boundaries
    to the data's quantiles (exact quantiles; Keras approximates them)."""

    def __init__(
        self,
        bin_boundaries=None,
        num_bins=None,
        epsilon=0.01,
        output_mode="int",
        sparse=False,
        dtype=None,
        name=None,
    ):
        super().__init__(name=name)
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"Unknown output_mode: {output_mode!r}")
        if sparse:
            raise ValueError("Discretization(sparse=True) is not supported: graphc is dense")
        if num_bins is not None and num_bins < 0:
            raise ValueError(f"`num_bins` must be greater than or equal to 0. Received: {num_bins}")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                "Both `num_bins` and `bin_boundaries` should not be set. Received: "
                f"num_bins={num_bins} and bin_boundaries={bin_boundaries}"
            )
        self.bin_boundaries = list(bin_boundaries) if bin_boundaries is not None else None
        self.num_bins, self.epsilon = num_bins, epsilon
        self.output_mode, self.sparse = output_mode, sparse
        self._out_dtype = dtype or ("int64" if output_mode == "int" else "float32")

    @property
    def input_dtype(self):
        return "float32"

    def adapt(self, data, steps=None):
        """Boundaries at the ``num_bins`` quantiles of ``data``."""
        if self.num_bins is None:
            raise ValueError(
                "Cannot adapt a Discretization layer that was built with bin_boundaries"
            )
        values = np.asarray(data, dtype="float64").reshape(-1)
        qs = np.linspace(0, 1, self.num_bins + 1)[1:-1]
        self.bin_boundaries = [float(v) for v in np.quantile(values, qs)]

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(
                "Discretization has no bin boundaries: pass bin_boundaries or call adapt() first"
            )
        x = inputs if np.dtype(str(inputs.dtype)).kind == "f" else ops.cast(inputs, "float32")
        ids = ops.digitize(x, np.asarray(self.bin_boundaries, "float32"))
        if self.output_mode == "int":
            return ops.cast(ids, self._out_dtype)
        n = len(self.bin_boundaries) + 1
        return (
            CategoryEncoding(n, self.output_mode)(ids)
            if not is_symbolic(inputs)
            else (CategoryEncoding(n, self.output_mode).call(ids))
        )

    def get_config(self):
        return {
            **super().get_config(),
            "bin_boundaries": self.bin_boundaries,
            "num_bins": self.num_bins,
            "epsilon": self.epsilon,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        return cls(**config)


class Normalization(Layer):
    """Keras's ``Normalization``: ``(x - mean) / max(sqrt(variance), epsilon)`` per
    position of ``axis`` (``invert=True``: the inverse). ``mean`` and ``variance`` are
    either given (constants, no weights) or the layer's non-trainable weights ``mean``,
    ``variance`` and ``count``, as Keras's, set by ``adapt`` or loaded from a file
    (``count`` is kept for Keras's files only: Keras's ``adapt`` leaves it at 0 too).

    >>> import numpy as np
    >>> Normalization(mean=3.0, variance=2.0)(np.array([[1.0], [3.0]], "float32"))
    array([[-1.4142135],
           [ 0.       ]], dtype=float32)
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int):
            axis = (axis,)
        else:
            axis = tuple(axis)
        self.axis = axis
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self._build_input_shape = None
        if (mean is not None) != (variance is not None):
            raise ValueError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={mean} and variance={variance}"
            )
        if mean is not None and np.shape(mean) != np.shape(variance):
            raise ValueError(
                "When setting values directly, `mean` and `variance` must have the same "
                f"shape. Received: mean shape {np.shape(mean)} and variance shape "
                f"{np.shape(variance)}"
            )

    def build(self, input_shape):
        ndim = len(input_shape)
        self._build_input_shape = tuple(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                "All `axis` values must be in the range [-ndim, ndim). "
                f"Received inputs with ndim={ndim}, while axis={self.axis}"
            )
        self._keep_axis = tuple(sorted(d if d >= 0 else d + ndim for d in self.axis))
        for d in self._keep_axis:
            if input_shape[d] is None:
                raise ValueError(
                    "All `axis` values to be kept must have a known shape. Received "
                    f"axis={self.axis}, inputs.shape={tuple(input_shape)}, with unknown "
                    f"axis at index {d}"
                )
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = tuple(
            int(input_shape[d]) if d in self._keep_axis else 1 for d in range(ndim)
        )
        shape = tuple(int(input_shape[d]) for d in self._keep_axis)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(
                name="mean", shape=shape, initializer="zeros", trainable=False
            )
            self.adapt_variance = self.add_weight(
                name="variance", shape=shape, initializer="ones", trainable=False
            )
            self.count = self.add_weight(
                name="count", shape=(), dtype="int32", initializer="zeros", trainable=False
            )
        else:
            mean = np.asarray(self.input_mean, dtype="float32")
            variance = np.asarray(self.input_variance, dtype="float32")
            if mean.ndim:
                expanded = [1] * ndim
                for i in range(1, mean.ndim + 1):
                    expanded[self._keep_axis[-i]] = mean.shape[-i]
                mean, variance = mean.reshape(expanded), variance.reshape(expanded)
            self._mean = np.broadcast_to(mean, self._broadcast_shape).copy()
            self._variance = np.broadcast_to(variance, self._broadcast_shape).copy()

    def adapt(self, data):
        """Set ``mean`` and ``variance`` from ``data`` (an array, or an iterable of
        batches), reduced over every axis but ``axis``."""
        batches = [np.asarray(data)] if hasattr(data, "shape") else [np.asarray(b) for b in data]
        if not batches:
            raise ValueError("adapt() received no batches; pass an array or a list of arrays.")
        if not self.built:
            self._maybe_build_shape(batches[0].shape)
        if self.input_mean is not None:
            raise ValueError("adapt() needs a layer built without `mean` and `variance`.")
        x = np.concatenate([b.astype("float64") for b in batches], axis=0)
        self.adapt_mean.assign(np.mean(x, axis=self._reduce_axis).astype("float32"))
        self.adapt_variance.assign(np.var(x, axis=self._reduce_axis).astype("float32"))

    def _maybe_build_shape(self, shape):
        self.build(tuple(shape))
        self.built = True

    def call(self, inputs):
        from graphc.config import epsilon

        if self.input_mean is None:
            mean = ops.reshape(self.adapt_mean, self._broadcast_shape)
            variance = ops.reshape(self.adapt_variance, self._broadcast_shape)
            std = ops.maximum(ops.sqrt(variance), epsilon())
        else:
            mean = self._mean
            std = np.maximum(np.sqrt(self._variance), epsilon()).astype("float32")
        if self.invert:
            return ops.add(ops.multiply(inputs, std), mean)
        return ops.divide(ops.subtract(inputs, mean), std)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": list(self.axis),  # JSON data, as Keras's saved configs hold it
            "invert": self.invert,
            "mean": np.array(self.input_mean).tolist(),
            "variance": np.array(self.input_variance).tolist(),
        }
