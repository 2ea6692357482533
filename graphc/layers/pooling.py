"""Pooling layers (Keras 3 names, arguments and defaults), channels-last by default.

>>> from graphc import Input, layers
>>> x = Input(shape=(26, 26, 32))
>>> layers.MaxPooling2D(2)(x).shape
(None, 13, 13, 32)
>>> layers.GlobalAveragePooling2D()(x).shape
(None, 32)

Average pooling with ``padding="same"`` averages over the input elements inside each
window only (TensorFlow's rule; ONNX ``count_include_pad=0``).
"""

from __future__ import annotations

from graphc import ops
from graphc.config import standardize_data_format
from graphc.layers.base import Layer
from graphc.layers.convolutional import check_input_rank, standardize_padding, standardize_tuple
from graphc.ops import masking as mask_ops

__all__ = [
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "MaxPooling3D",
    "AveragePooling3D",
    "MaxPool3D",
    "AvgPool3D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling3D",
    "GlobalMaxPool3D",
    "GlobalAvgPool3D",
    "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
]


class _Pooling(Layer):
    rank = 0
    pool_fn = None

    def __init__(
        self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = standardize_tuple(
            self.pool_size if strides is None else strides, self.rank, "strides"
        )
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        check_input_rank(self, inputs.shape, self.rank + 2)
        return type(self).pool_fn(
            inputs,
            self.pool_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
        )

    def get_config(self):
        # Tuples as lists: a config is plain JSON data (Keras itself returns tuples).
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "padding": self.padding,
            "strides": list(self.strides),
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling):
    rank, pool_fn = 1, ops.max_pool

    def __init__(
        self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs
    ):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class MaxPooling2D(_Pooling):
    rank, pool_fn = 2, ops.max_pool

    def __init__(
        self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs
    ):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling1D(_Pooling):
    """``pool_size`` has no default, as in Keras 3."""

    rank, pool_fn = 1, ops.average_pool


class AveragePooling2D(_Pooling):
    """``pool_size`` has no default, as in Keras 3."""

    rank, pool_fn = 2, ops.average_pool


class _GlobalPooling(Layer):
    rank = 0
    pool_fn = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)

    def call(self, inputs):
        check_input_rank(self, inputs.shape, self.rank + 2)
        return type(self).pool_fn(inputs, data_format=self.data_format, keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling):
    rank, pool_fn = 1, ops.global_max_pool


class GlobalMaxPooling2D(_GlobalPooling):
    rank, pool_fn = 2, ops.global_max_pool


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over time; with a mask, the mean over the unmasked steps (Keras 3; a
    fully masked row gives NaN, as there)."""

    rank, pool_fn = 1, ops.global_avg_pool
    _SUPPORTS_MASKING = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        check_input_rank(self, inputs.shape, 3)
        channels_last = self.data_format == "channels_last"
        steps = 1 if channels_last else 2
        weights = mask_ops.cast(mask_ops.expand_dims(mask, 2 if channels_last else 1), inputs.dtype)
        return ops.divide(
            ops.sum(ops.multiply(inputs, weights), axis=steps, keepdims=self.keepdims),
            ops.sum(weights, axis=steps, keepdims=self.keepdims),
        )

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalAveragePooling2D(_GlobalPooling):
    rank, pool_fn = 2, ops.global_avg_pool


MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D


class MaxPooling3D(_Pooling):
    """3-D max pooling over ``(batch, depth, height, width, channels)``."""

    rank, pool_fn = 3, ops.max_pool


class AveragePooling3D(_Pooling):
    """3-D average pooling over ``(batch, depth, height, width, channels)``."""

    rank, pool_fn = 3, ops.average_pool


class GlobalMaxPooling3D(_GlobalPooling):
    rank, pool_fn = 3, ops.global_max_pool


class GlobalAveragePooling3D(_GlobalPooling):
    rank, pool_fn = 3, ops.global_avg_pool


MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalMaxPool3D, GlobalAvgPool3D = GlobalMaxPooling3D, GlobalAveragePooling3D


class _AdaptivePooling(Layer):
    """Pooling to a fixed ``output_size`` whatever the input size (windows from
    ``floor(i * n / out)`` to ``ceil((i + 1) * n / out)``, as PyTorch and Keras 3)."""

    rank = 0
    pool_fn = None

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.output_size = standardize_tuple(output_size, self.rank, "output_size")
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        check_input_rank(self, inputs.shape, self.rank + 2)
        return type(self).pool_fn(inputs, self.output_size, data_format=self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "output_size": list(self.output_size),
            "data_format": self.data_format,
        }


class AdaptiveAveragePooling1D(_AdaptivePooling):
    rank, pool_fn = 1, ops.adaptive_average_pool


class AdaptiveAveragePooling2D(_AdaptivePooling):
    rank, pool_fn = 2, ops.adaptive_average_pool


class AdaptiveAveragePooling3D(_AdaptivePooling):
    rank, pool_fn = 3, ops.adaptive_average_pool


class AdaptiveMaxPooling1D(_AdaptivePooling):
    rank, pool_fn = 1, ops.adaptive_max_pool


class AdaptiveMaxPooling2D(_AdaptivePooling):
    rank, pool_fn = 2, ops.adaptive_max_pool


class AdaptiveMaxPooling3D(_AdaptivePooling):
    rank, pool_fn = 3, ops.adaptive_max_pool
