"""BatchNormalization, as Keras 3: batch statistics in training (moving averages updated
with ``momentum``), moving statistics in inference, and inference mode whenever the layer
is frozen (``trainable = False``)."""

from __future__ import annotations

import numpy as np

from graphc import initializers, ops
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.ops.registry import is_symbolic
from graphc.ops.shapes import known

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Weights in Keras's order: gamma, beta (trainable), moving_mean, moving_variance."""

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        set_weight_options(
            self,
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
        )
        self.axis = int(axis)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.synchronized = synchronized

    def build(self, input_shape):
        channels = input_shape[self.axis] if input_shape else None
        if not known(channels):
            raise ShapeError(
                f"{self.name} (BatchNormalization): axis {self.axis} of the input "
                f"must be known, received input shape {format_shape(input_shape)}"
            )
        shape = (channels,)
        # Without scale/center, constants stand in for gamma/beta: the op always has five
        # inputs, and Keras has no weight for them either.
        self.gamma = (
            self.add_weight(
                shape,
                self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                name="gamma",
            )
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(
                shape,
                self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                name="beta",
            )
            if self.center
            else None
        )
        self.moving_mean = self.add_weight(
            shape, self.moving_mean_initializer, name="moving_mean", trainable=False
        )
        self.moving_variance = self.add_weight(
            shape, self.moving_variance_initializer, name="moving_variance", trainable=False
        )
        self._channels = channels

    def call(self, inputs, training=None):
        c = self._channels
        gamma = self.gamma if self.gamma is not None else np.ones(c, dtype=self.dtype)
        beta = self.beta if self.beta is not None else np.zeros(c, dtype=self.dtype)
        y, _, _ = ops.batch_norm(
            inputs,
            gamma,
            beta,
            self.moving_mean,
            self.moving_variance,
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            # Keras: a frozen layer normalizes with its moving statistics. On data that
            # is decided now; in a graph the executor decides at run time (the layer
            # may be unfrozen before fit).
            inference=training is False
            or (training is True and not self.trainable and not is_symbolic(inputs)),
        )
        return y

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            **weight_options_config(
                self, "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"
            ),
            "synchronized": self.synchronized,
        }
