"""Convolution layers: Conv1D, Conv2D (with ``groups``), DepthwiseConv1D/2D and
SeparableConv1D/2D (Keras 3 arguments, defaults and weight layout).

>>> from graphc import Input, Model, layers
>>> x = Input(shape=(28, 28, 1))
>>> y = layers.Conv2D(32, 3, activation="relu")(x)
>>> y.shape
(None, 26, 26, 32)

The kernel is ``(*kernel_size, in_channels, filters)`` and the bias ``(filters,)``, in
both data formats, so ``set_weights(keras_layer.get_weights())`` works. The convolution,
bias and (for ONNX) the layout changes are one ``conv`` op; ``data_format=
"channels_first"`` is supported natively by that op (no transposes in NumPy or ONNX).

Depthwise and separable layers keep Keras's weights too: ``kernel (*k, C_in,
depth_multiplier)`` (output channel ``c * depth_multiplier + j``) and ``depthwise_kernel``,
``pointwise_kernel (1, ..., C_in * depth_multiplier, filters)``, ``bias``. They are
``ops.depthwise_conv`` / ``ops.separable_conv``: a ``conv`` with ``groups = C_in`` on the
reshaped kernel (then a 1x1 ``conv``), so no backend code of their own.

>>> y = layers.SeparableConv2D(64, 3, padding="same", use_bias=False)(x)
>>> y.shape
(None, 28, 28, 64)
"""

from __future__ import annotations

from graphc import activations, initializers, ops
from graphc.config import standardize_data_format
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.ops.shapes import known

__all__ = [
    "Conv1D",
    "Conv2D",
    "Convolution1D",
    "Convolution2D",
    "Conv3D",
    "Convolution3D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
]


def standardize_tuple(value, n: int, name: str, allow_zero: bool = False) -> tuple:
    """Keras's ``standardize_tuple``: an int or ``n`` ints, positive (or >= 0), with
    Keras's ``ValueError`` text otherwise."""
    msg = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, int) and not isinstance(value, bool):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(msg) from None
        if len(values) != n:
            raise ValueError(msg)
        for v in values:
            try:
                int(v)
            except (ValueError, TypeError):
                raise ValueError(f"{msg}including element {v} of type {type(v)}") from None
        values = tuple(int(v) for v in values)
    bad = {v for v in values if (v < 0 if allow_zero else v <= 0)}
    if bad:
        raise ValueError(
            f"{msg}, including values {bad} that do not satisfy "
            f"`value {'>= 0' if allow_zero else '> 0'}`"
        )
    return values


def standardize_padding(value, allow_causal=False) -> str:
    allowed = {"valid", "same", "causal"} if allow_causal else {"valid", "same"}
    padding = str(value).lower()
    if padding not in allowed:
        raise ValueError(
            f"The `padding` argument must be a list/tuple or one of {allowed}. Received: {value}"
        )
    return padding


def check_input_rank(layer, shape, ndim: int, exact: bool = True):
    """Keras's InputSpec message for an input of the wrong rank."""
    if exact and len(shape) != ndim or not exact and len(shape) < ndim:
        want = f"ndim={ndim}" if exact else f"min_ndim={ndim}"
        raise ShapeError(
            f'Input 0 of layer "{layer.name}" is incompatible with the layer: '
            f"expected {want}, found ndim={len(shape)}. Full shape received: "
            f"{format_shape(tuple(shape))}"
        )


def _positive_int(value, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(message)
    return value


class _BaseConv(Layer):
    """What the convolution layers share: the window arguments (validated as Keras),
    the activation and bias flag, and the input's channel checks."""

    rank = 0
    allow_causal = False

    def _window_args(
        self, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias
    ):
        rank = self.rank
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=self.allow_causal)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)

    def _bias_weight(self, size):
        """The bias (``size``,) with its regularizer and constraint, or None."""
        if not self.use_bias:
            return None
        return self.add_weight(
            (size,),
            self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
            name="bias",
        )

    def _channels(self, shape):
        return shape[1] if self.data_format == "channels_first" else shape[-1]

    def _input_channels(self, input_shape) -> int:
        """The input's channel count at build time (it sizes the kernel)."""
        check_input_rank(self, input_shape, self.rank + 2, exact=False)
        channels = self._channels(input_shape)
        if not known(channels):
            raise ShapeError(
                f"{self.name} ({type(self).__name__}): the channel dimension "
                f"of the input must be known to build the kernel, received "
                f"input shape {format_shape(tuple(input_shape))}"
            )
        return int(channels)

    def _check_input(self, inputs, expected: int):
        """Keras's InputSpec check against the channel count the layer was built for."""
        check_input_rank(self, inputs.shape, self.rank + 2, exact=False)
        got = self._channels(inputs.shape)
        if known(got) and got != expected:
            raise ShapeError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"axis {1 if self.data_format == 'channels_first' else -1} of input shape "
                f"to have value {expected}, but received input with shape "
                f"{format_shape(tuple(inputs.shape))}"
            )

    def _window_config(self) -> dict:
        # Tuples as lists: a config is plain JSON data (Keras itself returns tuples).
        return {
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }


class _Conv(_BaseConv):
    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._window_args(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias
        )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_weight_options(
            self,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        self.filters = _positive_int(
            filters,
            "Invalid value for argument `filters`. Expected a strictly positive "
            f"value. Received filters={filters}.",
        )
        self.groups = _positive_int(
            groups, f"The number of groups must be a positive integer. Received: groups={groups}."
        )
        if filters % groups:
            raise ValueError(
                "The number of filters must be evenly divisible by the number "
                f"of groups. Received: groups={groups}, filters={filters}."
            )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with "
                f"`dilation_rate > 1`. Received: strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}"
            )

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                "The number of input channels must be evenly divisible by the number of "
                f"groups. Received groups={self.groups}, but the input has {channels} "
                f"channels (full input shape is {format_shape(tuple(input_shape))})."
            )
        self.kernel = self.add_weight(
            self.kernel_size + (channels // self.groups, self.filters),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.bias = self._bias_weight(self.filters)

    def call(self, inputs):
        self._check_input(inputs, self.kernel.shape[-2] * self.groups)
        x = ops.conv(
            inputs,
            self.kernel,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            bias=self.bias,
            groups=self.groups,
        )
        return self.activation(x)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            **self._window_config(),
            "groups": self.groups,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(
                self,
                "kernel_regularizer",
                "bias_regularizer",
                "activity_regularizer",
                "kernel_constraint",
                "bias_constraint",
            ),
        }


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding`` may also be
    "causal" (left padding only), as Keras."""

    rank = 1
    allow_causal = True


class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)``; ``groups`` splits the
    channels into blocks convolved separately (kernel ``(*kernel_size, in_channels //
    groups, filters)``)."""

    rank = 2


def _depth_multiplier(value) -> int:
    return _positive_int(
        value,
        "Invalid value for argument `depth_multiplier`. Expected a "
        f"strictly positive value. Received depth_multiplier={value}.",
    )


class _DepthwiseConv(_BaseConv):
    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        set_weight_options(
            self,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
        )
        self._window_args(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias
        )
        self.depth_multiplier = _depth_multiplier(depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.kernel = self.add_weight(
            self.kernel_size + (channels, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
            name="kernel",
        )
        self.bias = self._bias_weight(channels * self.depth_multiplier)

    def call(self, inputs):
        self._check_input(inputs, self.kernel.shape[-2])
        x = ops.depthwise_conv(
            inputs,
            self.kernel,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            bias=self.bias,
        )
        return self.activation(x)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            **self._window_config(),
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(
                self,
                "depthwise_regularizer",
                "bias_regularizer",
                "activity_regularizer",
                "depthwise_constraint",
                "bias_constraint",
            ),
        }


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution: each input channel convolved with its own
    ``depth_multiplier`` filters (kernel ``(kernel_size, in_channels, depth_multiplier)``,
    output channel ``c * depth_multiplier + j``)."""

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution (kernel ``(*kernel_size, in_channels,
    depth_multiplier)``).

    >>> from graphc import Input, layers
    >>> layers.DepthwiseConv2D(3, depth_multiplier=2)(Input(shape=(8, 8, 4))).shape
    (None, 6, 6, 8)
    """

    rank = 2


class _SeparableConv(_BaseConv):
    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        set_weight_options(
            self,
            depthwise_regularizer=depthwise_regularizer,
            pointwise_regularizer=pointwise_regularizer,
            bias_regularizer=bias_regularizer,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
            bias_constraint=bias_constraint,
        )
        self._window_args(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias
        )
        self.depth_multiplier = _depth_multiplier(depth_multiplier)
        self.filters = _positive_int(
            filters,
            "Invalid value for argument `filters`. Expected a strictly positive "
            f"value. Received filters={filters}.",
        )
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            self.kernel_size + (channels, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
            name="depthwise_kernel",
        )
        self.pointwise_kernel = self.add_weight(
            (1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
            name="pointwise_kernel",
        )
        self.bias = self._bias_weight(self.filters)

    def call(self, inputs):
        self._check_input(inputs, self.depthwise_kernel.shape[-2])
        x = ops.separable_conv(
            inputs,
            self.depthwise_kernel,
            self.pointwise_kernel,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            bias=self.bias,
        )
        return self.activation(x)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "filters": self.filters,
            **self._window_config(),
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(
                self,
                "depthwise_regularizer",
                "pointwise_regularizer",
                "bias_regularizer",
                "activity_regularizer",
                "depthwise_constraint",
                "pointwise_constraint",
                "bias_constraint",
            ),
        }


class SeparableConv1D(_SeparableConv):
    """Depthwise separable 1-D convolution: a depthwise convolution (with the strides,
    padding and dilation) then a pointwise (size-1) convolution to ``filters``."""

    rank = 1


class SeparableConv2D(_SeparableConv):
    """Depthwise separable 2-D convolution, as in Xception ("Deep Learning with Python",
    ch. 9): weights ``depthwise_kernel``, ``pointwise_kernel``, ``bias``."""

    rank = 2


Convolution1D = Conv1D
Convolution2D = Conv2D


class Conv3D(_Conv):
    """3-D convolution over ``(batch, depth, height, width, channels)``."""

    rank = 3


Convolution3D = Conv3D
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
