"""LayerNormalization (BatchNormalization lives in ``batch_normalization.py``).

>>> layer = graphc.layers.LayerNormalization()
>>> layer(graphc.Input(shape=(10, 64))).shape
(None, 10, 64)
>>> [w.shape for w in layer.get_weights()]
[(64,), (64,)]
"""

from __future__ import annotations

from graphc import constraints, initializers, ops, regularizers
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.ops.shapes import known

__all__ = ["LayerNormalization", "GroupNormalization"]


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


class GroupNormalization(Layer):
    """``keras.layers.GroupNormalization`` (Wu & He, 2018): the channels on ``axis`` in
    ``groups`` groups, each normalised over its channels and the other non-batch axes;
    then ``gamma`` and ``beta`` per channel."""

    def __init__(
        self,
        groups=32,
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
        super().__init__(**kwargs)
        if not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(
                "Invalid value for `groups`. Expected a positive integer or -1. "
                f"Received: groups={groups}"
            )
        self.groups, self.axis, self.epsilon = groups, axis, epsilon
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self.axis % rank
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension")
        if self.groups == -1:
            self.groups = channels
        if channels < self.groups:
            raise ValueError(
                f"Number of groups ({self.groups}) cannot be more than the number of "
                f"channels ({channels})."
            )
        if channels % self.groups != 0:
            raise ValueError(
                f"Number of groups ({self.groups}) must be a multiple of the number of "
                f"channels ({channels})."
            )
        self._axis = axis
        self.gamma = (
            self.add_weight(
                shape=(channels,), name="gamma", initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
            )
            if self.scale
            else None
        )  # fmt: skip
        self.beta = (
            self.add_weight(
                shape=(channels,), name="beta", initializer=self.beta_initializer,
                regularizer=self.beta_regularizer, constraint=self.beta_constraint,
            )
            if self.center
            else None
        )  # fmt: skip

    def call(self, inputs):
        shape = tuple(inputs.shape)
        axis = self._axis
        channels = shape[axis]
        group_shape = [-1] + [d for d in shape[1:]]
        group_shape[axis] = channels // self.groups
        group_shape.insert(axis, self.groups)
        if any(d is None for d in group_shape[1:]):
            raise ValueError(f"GroupNormalization needs static non-batch sizes; got {shape}")
        x = ops.reshape(inputs, tuple(group_shape))
        reduce = [i for i in range(1, len(group_shape)) if i != axis]
        mean, var = ops.moments(x, axes=reduce, keepdims=True)
        inv = ops.rsqrt(ops.add(var, self.epsilon))
        bshape = [1] * len(shape)
        bshape[axis] = channels // self.groups
        bshape.insert(axis, self.groups)
        if self.scale:
            inv = ops.multiply(inv, ops.reshape(self.gamma, tuple(bshape)))
        res = ops.multiply(ops.negative(mean), inv)
        if self.center:
            res = ops.add(res, ops.reshape(self.beta, tuple(bshape)))
        out = ops.add(ops.multiply(x, inv), res)
        return ops.reshape(out, (-1,) + tuple(shape[1:]))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
