"""``keras.layers.Wrapper`` (a layer around another layer) and ``TimeDistributed`` (the
wrapped layer applied to every time step with the same weights), and ``InputSpec``
(what a layer accepts, checked when it is called).

>>> import graphc
>>> x = graphc.layers.Input((10, 8))
>>> graphc.layers.TimeDistributed(graphc.layers.Dense(4))(x).shape
(None, 10, 4)
"""

from __future__ import annotations

import numpy as np

from graphc import ops, recording
from graphc.layers import serialization
from graphc.layers.base import Layer
from graphc.ops.registry import is_symbolic
from graphc.ops.spectral_norm import spectral_normalize

__all__ = ["Wrapper", "TimeDistributed", "InputSpec", "SpectralNormalization"]


class Wrapper(Layer):
    """Base class of the layers that wrap another layer (``self.layer``)."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Layer {layer} supplied to Wrapper isn't a supported layer type. "
                "Please ensure wrapped layer is a valid Keras layer."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True

    def get_config(self):
        return {**super().get_config(), "layer": serialization.serialize(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = serialization.deserialize(config["layer"])
        return cls(**config)


class TimeDistributed(Wrapper):
    """``keras.layers.TimeDistributed``: ``layer`` applied to each slice ``inputs[:, t]``
    (the same weights for every step); the time axis (axis 1) must have a known size."""

    _SUPPORTS_MASKING = True

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError(
                "`TimeDistributed` Layer should be passed an `input_shape` with at least "
                f"3 dimensions, received: {input_shape}"
            )
        super().build((input_shape[0],) + input_shape[2:])

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((input_shape[0],) + tuple(input_shape[2:]))
        return (inner[0], input_shape[1]) + tuple(inner[1:])

    def call(self, inputs, training=None, mask=None):
        shape = tuple(inputs.shape)
        steps = shape[1]
        if steps is None:
            raise ValueError(
                "TimeDistributed needs the number of time steps (axis 1) to be known; "
                f"received shape {shape}"
            )
        kwargs = {"training": training} if training is not None else {}
        # One call per step, sharing the weights (graphc's reshape keeps the batch axis,
        # so the steps are not folded into it); the outputs are stacked back on axis 1.
        outs = [self.layer(ops.take(inputs, t, axis=1), **kwargs) for t in range(steps)]
        return ops.stack(outs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return mask


class InputSpec:
    """``keras.InputSpec``: the rank, dtype, shape and axis sizes a layer accepts. A
    layer whose ``input_spec`` is set checks its inputs against it when called (a
    ``ValueError`` naming the layer, what it expected and what it received)."""

    def __init__(
        self,
        dtype=None,
        shape=None,
        ndim=None,
        max_ndim=None,
        min_ndim=None,
        axes=None,
        allow_last_axis_squeeze=False,
        name=None,
        optional=False,
    ):
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(self.shape) if shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.name = name
        self.optional = optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            self.axes = {int(k): v for k, v in (axes or {}).items()}
        except (ValueError, TypeError) as e:
            raise TypeError(
                f"Argument `axes` must be a dict with integer keys. Received: axes={axes}"
            ) from e
        if self.axes and (self.ndim is not None or self.min_ndim is not None):
            max_dim = (self.ndim if self.ndim else self.min_ndim) - 1
            if max(self.axes) > max_dim:
                raise ValueError(
                    f"Axis {max(self.axes)} is greater than the maximum allowed value: {max_dim}"
                )

    def __repr__(self):
        spec = [
            f"{k}={v}"
            for k, v in (
                ("dtype", self.dtype),
                ("shape", self.shape),
                ("ndim", self.ndim),
                ("max_ndim", self.max_ndim),
                ("min_ndim", self.min_ndim),
                ("axes", self.axes or None),
            )
            if v is not None
        ]
        return f"InputSpec({', '.join(spec)})"

    def get_config(self):
        return {
            "dtype": self.dtype,
            "shape": self.shape,
            "ndim": self.ndim,
            "max_ndim": self.max_ndim,
            "min_ndim": self.min_ndim,
            "axes": self.axes,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def assert_input_compatibility(input_spec, inputs, layer_name):
    """Raise ``ValueError`` where ``inputs`` (a list of tensors or arrays) break
    ``input_spec`` (an InputSpec or a list of them), as Keras's check does."""
    specs = input_spec if isinstance(input_spec, (list, tuple)) else [input_spec]
    specs = [s for s in specs if s is not None]
    if not specs:
        return
    if len(inputs) != len(specs):
        raise ValueError(
            f'Layer "{layer_name}" expects {len(specs)} input(s), but it received '
            f"{len(inputs)} input tensors."
        )
    for i, (spec, x) in enumerate(zip(specs, inputs)):
        shape = tuple(getattr(x, "shape", ()))
        ndim = len(shape)
        where = f'Input {i} of layer "{layer_name}" is incompatible with the layer'
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
            raise ValueError(
                f"{where}: expected ndim={spec.ndim}, found ndim={ndim}. "
                f"Full shape received: {shape}"
            )
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(f"{where}: expected max_ndim={spec.max_ndim}, found ndim={ndim}")
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(
                f"{where}: expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
                f"Full shape received: {shape}"
            )
        dtype = str(getattr(x, "dtype", ""))
        if spec.dtype is not None and dtype and dtype != spec.dtype:
            raise ValueError(f"{where}: expected dtype={spec.dtype}, found dtype={dtype}")
        for axis, value in spec.axes.items():
            if value is None:
                continue
            a = axis if axis >= 0 else ndim + axis
            if not 0 <= a < ndim or shape[a] not in (value, None):
                raise ValueError(
                    f"{where}: expected axis {axis} of input shape to have value {value}, "
                    f"but received input with shape {shape}"
                )
        if spec.shape is not None and ndim == len(spec.shape):
            for want, got in zip(spec.shape, shape):
                if want is not None and got is not None and want != got:
                    raise ValueError(f"{where}: expected shape={spec.shape}, found shape={shape}")


class SpectralNormalization(Wrapper):
    """``keras.layers.SpectralNormalization``: divides the wrapped layer's ``kernel`` (or
    ``embeddings``) by its spectral norm, estimated by ``power_iterations`` steps of power
    iteration with the persistent non-trainable vector ``vector_u`` ``(1, out)``.

    As in Keras 3, in training the normalized kernel and the new ``vector_u`` are
    *assigned* to the weights (``graphc.ops.spectral_normalize``, a stateful op) before
    the wrapped layer runs, and the optimizer then updates the normalized kernel; in
    inference the layer runs with its kernel as it is.

    >>> y = SpectralNormalization(Dense(16))(x)
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if power_iterations <= 0:
            raise ValueError(
                "`power_iterations` should be greater than zero. Received: "
                f"`power_iterations={power_iterations}`"
            )
        self.power_iterations = power_iterations

    def build(self, input_shape):
        from graphc import initializers

        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        if getattr(self.layer, "kernel", None) is not None:
            self._kernel_attr = "kernel"
        elif getattr(self.layer, "embeddings", None) is not None:
            self._kernel_attr = "embeddings"
        else:
            raise ValueError(
                f"{type(self.layer).__name__} object has no attribute 'kernel' nor 'embeddings'"
            )
        self.kernel = getattr(self.layer, self._kernel_attr)
        # Keras tracks the kernel as the wrapper's own variable too (assigned as an
        # attribute): it comes first in `weights` and is saved with the wrapper's vars.
        self._params.append(self.kernel)
        self.kernel_shape = tuple(self.kernel.shape)
        self.vector_u = self.add_weight(
            shape=(1, self.kernel_shape[-1]),
            initializer=initializers.TruncatedNormal(stddev=0.02),
            trainable=False,
            name="vector_u",
            dtype=str(self.kernel.dtype),
        )

    def call(self, inputs, training=None):
        if training is False:
            return self.layer(inputs)
        if not is_symbolic(inputs) and not recording.is_recording():
            # Called on data: assign now, as Keras's training call does.
            ctx = recording.current_eager_context()
            if training or (training is None and ctx is not None and ctx.training):
                kernel, u = spectral_normalize(
                    self.kernel.data, self.vector_u.data, self.power_iterations, training=True
                )
                self.kernel.assign(np.asarray(kernel))
                self.vector_u.assign(np.asarray(u))
            return self.layer(inputs)
        kernel, _ = spectral_normalize(
            self.kernel, self.vector_u, self.power_iterations, training=training
        )
        # The wrapped layer reads its kernel attribute: the normalized value, for this call.
        attr = self._kernel_attr
        self.layer.__dict__[attr] = kernel
        try:
            return (
                self.layer(inputs, training=training)
                if _takes_training(self.layer)
                else self.layer(inputs)
            )
        finally:
            self.layer.__dict__[attr] = self.kernel

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


def _takes_training(layer) -> bool:
    import inspect

    try:
        return "training" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False
