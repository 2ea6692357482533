"""Layers made of existing ops, as Keras 3's: ``Cropping1D/2D/3D``, ``UpSampling3D``,
``UnitNormalization``, ``RMSNormalization``, ``PReLU``, ``SpatialDropout1D/2D/3D``,
the noise layers ``GaussianNoise``, ``GaussianDropout``, ``AlphaDropout`` and ``Lambda``.

>>> graphc.layers.Cropping2D(((1, 1), (2, 0)))(graphc.Input(shape=(6, 6, 3))).shape
(None, 4, 4, 3)
"""

from __future__ import annotations

import numpy as np

from graphc import initializers, ops
from graphc.config import standardize_data_format
from graphc.errors import ArgumentValueError, ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.layers.convolutional import check_input_rank
from graphc.ops.registry import apply
from graphc.ops.shapes import known

__all__ = [
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "UpSampling3D",
    "UnitNormalization",
    "RMSNormalization",
    "PReLU",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "Lambda",
]


def _pairs(cropping, n: int, name: str) -> tuple:
    """``n`` ``(before, after)`` pairs from an int, ``n`` ints or ``n`` pairs."""
    if isinstance(cropping, int):
        return ((cropping, cropping),) * n
    cropping = tuple(cropping)
    if n == 1 and len(cropping) == 2 and all(isinstance(c, int) for c in cropping):
        return (tuple(cropping),)
    if len(cropping) != n:
        raise ValueError(f"`{name}` should have {n} elements. Received: {name}={cropping}")
    out = []
    for c in cropping:
        out.append((c, c) if isinstance(c, int) else tuple(int(v) for v in c))
    return tuple(out)


class _Cropping(Layer):
    _RANK = 1

    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, self._RANK, "cropping")
        if any(v < 0 for p in self.cropping for v in p):
            raise ValueError(f"`cropping` cannot be negative. Received: cropping={cropping}")
        self.data_format = (
            "channels_last" if self._RANK == 1 else standardize_data_format(data_format)
        )

    def call(self, inputs):
        check_input_rank(self, inputs.shape, self._RANK + 2)
        first = 2 if self.data_format == "channels_first" else 1
        x = inputs
        for i, (before, after) in enumerate(self.cropping):
            axis = first + i
            size = x.shape[axis]
            if not known(size):
                raise ShapeError(
                    f"{self.name} ({type(self).__name__}): the cropped axes must "
                    f"be known, received input shape {format_shape(inputs.shape)}"
                )
            if before + after >= size:
                raise ValueError(
                    f"{self.name}: cropping {(before, after)} leaves nothing of "
                    f"an axis of size {size} (input shape "
                    f"{format_shape(inputs.shape)})"
                )
            if before or after:
                x = ops.take(x, np.arange(before, size - after, dtype=np.int64), axis=axis)
        return x

    def get_config(self):
        cropping = list(self.cropping[0]) if self._RANK == 1 else [list(p) for p in self.cropping]
        config = {**super().get_config(), "cropping": cropping}
        if self._RANK > 1:
            config["data_format"] = self.data_format
        return config


class Cropping1D(_Cropping):
    """Crops ``(before, after)`` steps of a ``(batch, steps, features)`` sequence."""

    _RANK = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    _RANK = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    _RANK = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class UpSampling3D(Layer):
    """Repeats the three spatial axes ``size`` times (nearest)."""

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.size = (int(size),) * 3 if isinstance(size, int) else tuple(int(s) for s in size)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        check_input_rank(self, inputs.shape, 5)
        first = 2 if self.data_format == "channels_first" else 1
        x = inputs
        for i, s in enumerate(self.size):
            x = ops.repeat(x, s, axis=first + i)
        return x

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format}


class UnitNormalization(Layer):
    """Divides each sample by its L2 norm over ``axis`` (Keras's epsilon 1e-12)."""

    _SUPPORTS_MASKING = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def call(self, inputs):
        axis = self.axis
        if isinstance(axis, list):
            sq = ops.sum(ops.square(inputs), axis=tuple(axis), keepdims=True)
            return ops.multiply(inputs, ops.rsqrt(ops.maximum(sq, 1e-24)))
        return ops.normalize(inputs, axis=axis, order=2, epsilon=1e-12)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class RMSNormalization(Layer):
    """``x / sqrt(mean(x**2 over axis) + epsilon) * scale``, ``scale`` a weight of ones."""

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def build(self, input_shape):
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        shape = tuple(input_shape[a] for a in sorted(axes))
        if not all(known(d) for d in shape):
            raise ShapeError(
                f"{self.name} (RMSNormalization): the normalised axes must be "
                f"known, received input shape {format_shape(input_shape)}"
            )
        self.scale = self.add_weight(shape, initializers.get("ones"), name="scale")

    def call(self, inputs):
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        axis = tuple(axes) if len(axes) > 1 else axes[0]
        scale = self.scale
        if len(axes) == 1 and (axes[0] % len(inputs.shape)) != len(inputs.shape) - 1:
            shape = [1] * len(inputs.shape)
            shape[axes[0]] = -1
            scale = ops.reshape(scale, tuple(shape[1:]))
        return ops.rms_normalization(inputs, scale=scale, axis=axis, epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class PReLU(Layer):
    """``relu(x) - alpha * relu(-x)`` with a learned ``alpha`` per entry of a sample
    (shared along ``shared_axes``)."""

    def __init__(
        self,
        alpha_initializer="Zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        set_weight_options(
            self, alpha_regularizer=alpha_regularizer, alpha_constraint=alpha_constraint
        )
        if shared_axes is None or isinstance(shared_axes, (list, tuple)):
            self.shared_axes = None if shared_axes is None else list(shared_axes)
        else:
            self.shared_axes = [shared_axes]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            shape[a - 1] = 1
        if not all(known(d) for d in shape):
            raise ShapeError(
                f"{self.name} (PReLU): the non-shared axes must be known, "
                f"received input shape {format_shape(input_shape)}"
            )
        self.alpha = self.add_weight(
            tuple(shape),
            self.alpha_initializer,
            name="alpha",
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )

    def call(self, inputs):
        pos = ops.relu(inputs)
        neg = ops.multiply(ops.negative(self.alpha), ops.relu(ops.negative(inputs)))
        return ops.add(pos, neg)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            **weight_options_config(self, "alpha_regularizer", "alpha_constraint"),
            "shared_axes": self.shared_axes,
        }


class _SpatialDropout(Layer):
    _RANK = 1

    def __init__(self, rate, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float "
                f"value between 0 and 1. Received: rate={rate}"
            )
        self.rate, self.seed = float(rate), seed
        self.data_format = (
            "channels_last" if self._RANK == 1 else standardize_data_format(data_format)
        )

    def call(self, inputs, training=None):
        check_input_rank(self, inputs.shape, self._RANK + 2)
        if training is False or self.rate == 0:
            return inputs
        if self.data_format == "channels_first":
            noise = (None, inputs.shape[1]) + (1,) * self._RANK
        else:
            noise = (None,) + (1,) * self._RANK + (inputs.shape[-1],)
        return ops.dropout(inputs, self.rate, noise_shape=noise, training=training)

    def get_config(self):
        config = {**super().get_config(), "rate": self.rate, "seed": self.seed}
        if self._RANK > 1:
            config["data_format"] = self.data_format
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops whole feature maps (channels) of a sequence, in training."""

    _RANK = 1


class SpatialDropout2D(_SpatialDropout):
    _RANK = 2


class SpatialDropout3D(_SpatialDropout):
    _RANK = 3


def _check_fraction(name, value):
    if not 0 <= value <= 1:
        raise ArgumentValueError(
            f"Invalid value received for argument `{name}`. Expected a float value "
            f"between 0 and 1. Received: {name}={value}"
        )
    return float(value)


class _Noise(Layer):
    """A training-only random transform (the ``random_noise`` op); identity in inference,
    and where ``training=False`` is passed or the amount is 0."""

    _SUPPORTS_MASKING = True
    _KIND = ""
    _AMOUNT = "rate"

    def _noise(self, inputs, training, **attrs):
        amount = getattr(self, self._AMOUNT)
        if training is False or amount == 0:
            return inputs
        if training:
            attrs["force_training"] = True
        attrs[self._AMOUNT] = amount
        return apply("random_noise", [inputs], kind=self._KIND, **attrs)[0]


class GaussianNoise(_Noise):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev``, in training."""

    _KIND, _AMOUNT = "gaussian_noise", "stddev"

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = _check_fraction("stddev", stddev), seed

    def call(self, inputs, training=None):
        return self._noise(inputs, training)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """Multiplies by Gaussian noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))``, in training."""

    _KIND = "gaussian_dropout"

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = _check_fraction("rate", rate), seed

    def call(self, inputs, training=None):
        if self.rate == 1 and training is not False:
            raise ArgumentValueError(
                "GaussianDropout(rate=1) has infinite noise; use a rate below 1"
            )
        return self._noise(inputs, training)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(_Noise):
    """Dropout that keeps SELU's self-normalisation: dropped entries take SELU's negative
    saturation value, then an affine map restores the mean and variance (training only)."""

    _KIND = "alpha_dropout"

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.noise_shape, self.seed = _check_fraction("rate", rate), noise_shape, seed

    def call(self, inputs, training=None):
        if self.rate == 1 and training is not False:
            raise ArgumentValueError("AlphaDropout(rate=1) drops everything; use a rate below 1")
        attrs = {} if self.noise_shape is None else {"noise_shape": tuple(self.noise_shape)}
        return self._noise(inputs, training, **attrs)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
        }


class Lambda(Layer):
    """Wraps a function of tensors (written with ``graphc.ops``). Saved configs name the
    function; loading needs it in ``custom_objects`` (graphc never unpickles code)."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable, received {function!r}")
        self.function = function
        self.output_shape_arg = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})

    def call(self, inputs, mask=None):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask if self.mask is not None else mask

    def get_config(self):
        name = getattr(self.function, "__name__", None)
        if not name or name == "<lambda>":
            raise NotImplementedError(
                f"{self.name} (Lambda) wraps an anonymous function, which graphc cannot "
                "save (it never stores code): use a named function and pass it in "
                "custom_objects when loading, or a Layer subclass"
            )
        return {
            **super().get_config(),
            "function": {"class_name": "function", "config": name},
            "arguments": self.arguments,
        }

    @classmethod
    def from_config(cls, config):
        from graphc.layers.serialization import _SCOPES

        config = dict(config)
        fn = config.pop("function")
        name = fn["config"] if isinstance(fn, dict) else fn
        table: dict = {}
        for scope in _SCOPES:
            table.update(scope)
        if name not in table:
            raise ValueError(
                f"Lambda function {name!r} is unknown: pass "
                f"custom_objects={{{name!r}: {name}}} when loading"
            )
        return cls(table[name], **config)


class _ZeroPadding(Layer):
    _RANK = 1

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self._RANK, "padding")
        if any(v < 0 for p in self.padding for v in p):
            raise ValueError(f"`padding` cannot be negative. Received: padding={padding}")
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        check_input_rank(self, inputs.shape, self._RANK + 2)
        spatial = list(self.padding)
        widths = [(0, 0)] + (
            spatial + [(0, 0)] if self.data_format == "channels_last" else [(0, 0)] + spatial
        )
        return ops.pad(inputs, widths)

    def get_config(self):
        padding = list(self.padding[0]) if self._RANK == 1 else [list(p) for p in self.padding]
        return {**super().get_config(), "padding": padding, "data_format": self.data_format}


class ZeroPadding1D(_ZeroPadding):
    """Adds ``(before, after)`` zero steps to a ``(batch, steps, features)`` sequence."""

    _RANK = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    _RANK = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    _RANK = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


__all__ += ["ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"]


class ActivityRegularization(Layer):
    """The identity, adding ``l1 * sum(|x|) + l2 * sum(x^2)`` of its output to the
    model's loss (Keras's ``ActivityRegularization``)."""

    _SUPPORTS_MASKING = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        from graphc import regularizers

        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def call(self, inputs):
        return ops.identity(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}


__all__ += ["ActivityRegularization"]
