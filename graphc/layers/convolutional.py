"""Convolution layers: Conv1D, Conv2D (Keras 3 arguments, defaults and weight layout).

>>> from graphc import Input, Model, layers
>>> x = Input(shape=(28, 28, 1))
>>> y = layers.Conv2D(32, 3, activation="relu")(x)
>>> y.shape
(None, 26, 26, 32)

The kernel is ``(*kernel_size, in_channels, filters)`` and the bias ``(filters,)``, in
both data formats, so ``set_weights(keras_layer.get_weights())`` works. The convolution,
bias and (for ONNX) the layout changes are one ``conv`` op; ``data_format=
"channels_first"`` is supported natively by that op (no transposes in NumPy or ONNX).
"""

from __future__ import annotations

from graphc import activations, initializers, ops
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer
from graphc.ops._shapes import known

__all__ = ["Conv1D", "Conv2D", "Convolution1D", "Convolution2D"]


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
        raise ValueError(f"{msg}, including values {bad} that do not satisfy "
                         f"`value {'>= 0' if allow_zero else '> 0'}`")
    return values


def standardize_padding(value, allow_causal=False) -> str:
    allowed = {"valid", "same", "causal"} if allow_causal else {"valid", "same"}
    padding = str(value).lower()
    if padding not in allowed:
        raise ValueError(f"The `padding` argument must be a list/tuple or one of "
                         f"{allowed}. Received: {value}")
    return padding


def standardize_data_format(data_format) -> str:
    if data_format is None:
        return "channels_last"  # Keras's image_data_format() default
    fmt = str(data_format).lower()
    if fmt not in {"channels_first", "channels_last"}:
        raise ValueError("The `data_format` argument must be one of "
                         "{'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")
    return fmt


def check_input_rank(layer, shape, ndim: int, exact: bool = True):
    """Keras's InputSpec message for an input of the wrong rank."""
    if exact and len(shape) != ndim or not exact and len(shape) < ndim:
        want = f"ndim={ndim}" if exact else f"min_ndim={ndim}"
        raise ShapeError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: '
                         f"expected {want}, found ndim={len(shape)}. Full shape received: "
                         f"{format_shape(tuple(shape))}")


class _Conv(Layer):
    rank = 0

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        rank = self.rank
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=rank == 1)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        self.filters = filters
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError("The number of groups must be a positive integer. "
                             f"Received: groups={groups}.")
        if filters % groups:
            raise ValueError("The number of filters must be evenly divisible by the number "
                             f"of groups. Received: groups={groups}, filters={filters}.")
        if groups != 1:
            raise NotImplementedError(
                f"{type(self).__name__}(groups={groups}): grouped convolutions are not "
                "supported by graphc yet; only groups=1 is.")
        self.groups = groups
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with "
                             f"`dilation_rate > 1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")

    def _channels(self, shape):
        return shape[1] if self.data_format == "channels_first" else shape[-1]

    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank + 2, exact=False)
        channels = self._channels(input_shape)
        if not known(channels):
            raise ShapeError(f"{self.name} ({type(self).__name__}): the channel dimension "
                             f"of the input must be known to build the kernel, received "
                             f"input shape {format_shape(tuple(input_shape))}")
        self.kernel = self.add_weight(self.kernel_size + (int(channels), self.filters),
                                      self.kernel_initializer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias")
        else:
            self.bias = None

    def call(self, inputs):
        check_input_rank(self, inputs.shape, self.rank + 2, exact=False)
        expected, got = self.kernel.shape[-2], self._channels(inputs.shape)
        if known(got) and got != expected:
            raise ShapeError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"axis {1 if self.data_format == 'channels_first' else -1} of input shape "
                f"to have value {expected}, but received input with shape "
                f"{format_shape(tuple(inputs.shape))}")
        x = ops.conv(inputs, self.kernel, strides=self.strides, padding=self.padding,
                     data_format=self.data_format, dilation_rate=self.dilation_rate,
                     bias=self.bias)
        return self.activation(x)

    def get_config(self):
        # Tuples as lists: a config is plain JSON data (Keras itself returns tuples).
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding`` may also be
    "causal" (left padding only), as Keras."""

    rank = 1


class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)``."""

    rank = 2


Convolution1D = Conv1D
Convolution2D = Conv2D
