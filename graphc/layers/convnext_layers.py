"""The two layers Keras defines in ``keras/src/applications/convnext.py``, adapted from it
(Apache License 2.0): ``StochasticDepth`` and ``LayerScale``. They live here, with the
layers, so that a ConvNeXt saved by Keras (whose config names them) loads without
importing ``graphc.applications``; Keras does not export them as ``keras.layers``, and
neither does graphc."""

from __future__ import annotations

from graphc import initializers, ops
from graphc.layers.base import Layer
from graphc.layers.serialization import register_builtin

__all__: list = []


class StochasticDepth(Layer):
    """Stochastic Depth module.

    It performs batch-wise dropping rather than sample-wise. In libraries like
    `timm`, it's similar to `DropPath` layers that drops residual paths
    sample-wise.

    References:
    - https://github.com/rwightman/pytorch-image-models

    Args:
      drop_path_rate (float): Probability of dropping paths. Should be within
        [0, 1].

    Returns:
      Tensor either with the residual path dropped or kept.
    """

    #: Where Keras's saved configs say the class lives (graphc imports nothing from it).
    _keras_module = "keras.src.applications.convnext"

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def call(self, x, training=None):
        # Keras's floor(keep_prob + U[0, 1)) / keep_prob, one draw per sample: dropout with
        # a noise shape of (batch, 1, ..., 1), the identity outside training.
        if training is False or not self.drop_path_rate:
            return x
        noise_shape = (None,) + (1,) * (len(x.shape) - 1)
        return ops.dropout(x, self.drop_path_rate, noise_shape=noise_shape, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"drop_path_rate": self.drop_path_rate})
        return config


class LayerScale(Layer):
    """Layer scale module.

    References:

    - https://arxiv.org/abs/2103.17239

    Args:
        init_values (float): Initial value for layer scale. Should be within
            [0, 1].
        projection_dim (int): Projection dimensionality.

    Returns:
        Tensor multiplied to the scale.
    """

    _keras_module = "keras.src.applications.convnext"

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, _):
        self.gamma = self.add_weight(
            shape=(self.projection_dim,),
            initializer=initializers.Constant(self.init_values),
            trainable=True,
        )

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "init_values": self.init_values,
                "projection_dim": self.projection_dim,
            }
        )
        return config


register_builtin("StochasticDepth", StochasticDepth)
register_builtin("LayerScale", LayerScale)
