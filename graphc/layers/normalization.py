"""LayerNormalization (BatchNormalization lives in ``batch_normalization.py``).

>>> layer = graphc.layers.LayerNormalization()
>>> layer(graphc.Input(shape=(10, 64))).shape
(None, 10, 64)
>>> [w.shape for w in layer.get_weights()]
[(64,), (64,)]
"""

from __future__ import annotations

from graphc import initializers, ops
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.ops.shapes import known

__all__ = ["LayerNormalization"]


class LayerNormalization(Layer):
    """Normalises each sample over ``axis`` (an int or a list of axes):
    ``(x - mean) / sqrt(var + epsilon) * gamma + beta`` with the biased variance. Weights
    ``gamma`` (when ``scale``) then ``beta`` (when ``center``), each of shape
    ``input_shape[axis]``, as Keras 3."""

    _SUPPORTS_MASKING = True

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        rms_scaling = kwargs.pop("rms_scaling", False)
        super().__init__(**kwargs)
        if rms_scaling:
            raise NotImplementedError(
                "LayerNormalization(rms_scaling=True) is deprecated in Keras and not "
                "supported by graphc."
            )
        if isinstance(axis, (list, tuple)):
            if not all(isinstance(a, int) for a in axis):
                raise TypeError(
                    "Expected an int or a list/tuple of ints for the argument "
                    f"'axis', but received: {axis!r}"
                )
            axis = list(axis)
        elif not isinstance(axis, int):
            raise TypeError(
                "Expected an int or a list/tuple of ints for the argument 'axis', "
                f"but received: {axis!r}"
            )
        set_weight_options(
            self,
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
        )
        self.axis = axis
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _axes(self, input_shape) -> tuple:
        ndim = len(input_shape)
        raw = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in raw:
            if not -ndim <= a < ndim:
                raise ShapeError(
                    f"{self.name} (LayerNormalization): axis {a} is out of bounds "
                    f"for input shape {format_shape(input_shape)}. Received: "
                    f"axis={self.axis}"
                )
        return tuple(sorted({a % ndim for a in raw}))

    def build(self, input_shape):
        axes = self._axes(input_shape)
        shape = tuple(input_shape[a] for a in axes)
        if not all(known(d) for d in shape):
            raise ShapeError(
                f"{self.name} (LayerNormalization): the normalised axes must be "
                f"known to build gamma and beta, received input shape "
                f"{format_shape(input_shape)} for axis={self.axis}"
            )
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

    def call(self, inputs):
        return ops.layer_normalization(
            inputs,
            self.gamma,
            self.beta,
            axis=self._axes(inputs.shape),
            epsilon=float(self.epsilon),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            **weight_options_config(
                self, "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"
            ),
        }
