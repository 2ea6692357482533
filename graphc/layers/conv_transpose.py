"""Transposed convolution layers: Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
(Keras 3 arguments, defaults, validation and weight layout); and the parameter-free
upsampling layers UpSampling1D and UpSampling2D (nearest neighbour: ``ops.repeat``).

>>> from graphc import Input, layers
>>> x = Input(shape=(16, 16, 64))
>>> layers.Conv2DTranspose(32, 3, strides=2, padding="same")(x).shape
(None, 32, 32, 32)

The kernel is ``(*kernel_size, filters, in_channels)`` — note filters before the input
channels, the reverse of ``Conv2D`` — and the bias ``(filters,)``, in both data formats,
so ``set_weights(keras_layer.get_weights())`` works. Transposed convolution, bias and
(for ONNX) the layout changes are one ``conv_transpose`` op.
"""

from __future__ import annotations

from graphc import activations, initializers, ops
from graphc.config import standardize_data_format
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.layers.convolutional import check_input_rank, standardize_padding, standardize_tuple
from graphc.ops.shapes import known

__all__ = [
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "Convolution1DTranspose",
    "Convolution2DTranspose",
    "Convolution3DTranspose",
    "UpSampling1D",
    "UpSampling2D",
]


class _ConvTranspose(Layer):
    rank = 0

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
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
        rank = self.rank
        # Keras's order of checks (keras/src/layers/convolutional/base_conv_transpose.py).
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding)
        self.output_padding = (
            None
            if output_padding is None
            else standardize_tuple(output_padding, rank, "output_padding", allow_zero=True)
        )
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_weight_options(
            self,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(
                "Invalid value for argument `filters`. Expected a strictly "
                f"positive value. Received filters={filters}."
            )
        self.filters = filters
        if self.output_padding is not None:
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(
                        "`output_padding` must be strictly less than `strides` for all "
                        f"dimensions. At dimension {i}, `output_padding` is {op} but "
                        f"`strides` is {s}. Received: output_padding={self.output_padding}"
                        f", strides={self.strides}"
                    )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with "
                f"`dilation_rate > 1`. Received: strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}"
            )

    def _channels(self, shape):
        return shape[1] if self.data_format == "channels_first" else shape[-1]

    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank + 2, exact=False)
        channels = self._channels(input_shape)
        if not known(channels):
            raise ShapeError(
                f"{self.name} ({type(self).__name__}): the channel dimension "
                f"of the input must be known to build the kernel, received "
                f"input shape {format_shape(tuple(input_shape))}"
            )
        self.kernel = self.add_weight(
            self.kernel_size + (self.filters, int(channels)),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                (self.filters,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
        else:
            self.bias = None

    def call(self, inputs):
        check_input_rank(self, inputs.shape, self.rank + 2, exact=False)
        expected, got = self.kernel.shape[-1], self._channels(inputs.shape)
        if known(got) and got != expected:
            raise ShapeError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"axis {1 if self.data_format == 'channels_first' else -1} of input shape "
                f"to have value {expected}, but received input with shape "
                f"{format_shape(tuple(inputs.shape))}"
            )
        x = ops.conv_transpose(
            inputs,
            self.kernel,
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            bias=self.bias,
        )
        return self.activation(x)

    def get_config(self):
        # Tuples as lists: a config is plain JSON data (Keras itself returns tuples).
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
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


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution over ``(batch, steps, channels)``."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution over ``(batch, height, width, channels)``: the
    upsampling half of an encoder-decoder such as DLwP's segmentation model."""

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """3-D transposed convolution over ``(batch, d1, d2, d3, channels)``."""

    rank = 3


Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose


# ---- upsampling --------------------------------------------------------------------------
class UpSampling1D(Layer):
    """Repeats each step ``size`` times along the time axis, as Keras.

    >>> UpSampling1D(2)(Input(shape=(5, 3))).shape
    (None, 10, 3)
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: size={size}")
        self.size = size

    def call(self, inputs):
        check_input_rank(self, inputs.shape, 3)
        return ops.repeat(inputs, self.size, axis=1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


# Keras's other resize methods; they need an image-resize op that graphc does not have.
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


class UpSampling2D(Layer):
    """Repeats rows and columns ``size`` times (``interpolation="nearest"``, Keras's
    default; the other methods are not supported yet).

    >>> UpSampling2D((2, 3))(Input(shape=(4, 4, 8))).shape
    (None, 8, 12, 8)
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.size = standardize_tuple(size, 2, "size")
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(
                "Invalid value for argument `interpolation`. Expected one of "
                f"{_INTERPOLATIONS}. Received: interpolation={interpolation}"
            )
        if self.interpolation != "nearest":
            raise NotImplementedError(
                f"UpSampling2D(interpolation={self.interpolation!r}) is not supported by "
                "graphc yet; only interpolation='nearest' is."
            )

    def call(self, inputs):
        check_input_rank(self, inputs.shape, 4)
        # Repeating the spatial axes in place: the same as Keras's transpose to
        # channels-last, repeat, transpose back.
        first = 2 if self.data_format == "channels_first" else 1
        x = ops.repeat(inputs, self.size[0], axis=first)
        return ops.repeat(x, self.size[1], axis=first + 1)

    def get_config(self):
        return {
            **super().get_config(),
            "size": list(self.size),
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }
