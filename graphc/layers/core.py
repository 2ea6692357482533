"""Core layers: Dense, EinsumDense, Activation, Dropout, Flatten, Reshape, Identity,
Masking."""

from __future__ import annotations

import re

from graphc import activations, initializers, ops
from graphc.errors import ShapeError
from graphc.ir import Value, format_shape
from graphc.layers.base import (
    Layer,
    is_symbolic,
    set_keras_mask,
    set_weight_options,
    weight_options_config,
)
from graphc.ops import masking as mask_ops
from graphc.ops.registry import apply
from graphc.ops.shapes import known, product

__all__ = [
    "Dense",
    "EinsumDense",
    "Activation",
    "Dropout",
    "Flatten",
    "Reshape",
    "Identity",
    "Masking",
]


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``; kernel ``(in, units)``, bias ``(units,)``."""

    _SUPPORTS_MASKING = True

    def __init__(
        self,
        units,
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
        if not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"Received an invalid value for `units`, expected a positive "
                f"integer. Received: units={units!r}"
            )
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_weight_options(
            self,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )

    def build(self, input_shape):
        in_dim = input_shape[-1] if input_shape else None
        if not known(in_dim):
            raise ShapeError(
                f"{self.name} (Dense): the last dimension of the input must be "
                f"known to build the kernel, received input shape "
                f"{format_shape(input_shape)}"
            )
        self.kernel = self.add_weight(
            (in_dim, self.units),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                (self.units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def call(self, inputs):
        expected, got = self.kernel.shape[0], inputs.shape[-1] if inputs.shape else None
        if got != expected and known(got):
            raise ShapeError(
                f"{self.name} (Dense): expected an input whose last dimension is {expected} "
                f"(the layer was built for (..., {expected})), received an input of shape "
                f"{format_shape(inputs.shape)}. A layer instance keeps the shape it was first "
                "called with; create a new Dense for this input."
            )
        kernel = self.kernel
        bias = self.bias if self.use_bias else None
        if (
            bias is not None
            and type(inputs) is Value  # recorded (an array runs matmul and add at once)
            and len(inputs.shape) == 2
            and inputs.dtype == kernel.dtype == bias.dtype
        ):
            # One gemm node where Keras's Dense calls matmul then add: half the nodes for
            # shape inference, the summary and the export (it is ONNX's Gemm). The NumPy
            # plan runs it as that matmul and that add (backends/numpy/executor.py), so
            # training computes the same numbers, with the same generated code.
            x = apply("gemm", [inputs, kernel, bias])
        else:
            # ops.matmul and ops.add, one call less each
            x = apply("matmul", [inputs, kernel])
            if bias is not None:
                x = apply("add", [x, bias])
        activation = self.activation
        return x if activation is activations.linear else activation(x)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(
                self,
                "kernel_regularizer",
                "bias_regularizer",
                "kernel_constraint",
                "bias_constraint",
            ),
        }


def analyze_einsum_string(equation, bias_axes, input_shape, output_shape):
    """Keras's EinsumDense shapes: ``(kernel_shape, bias_shape, full_output_shape,
    input_axes, output_axes)`` for ``equation`` ("ab,bc->ac", "...b,bc->...c" or
    "abc...,cd->abd...") on ``input_shape`` with the partial ``output_shape``."""
    dotted = equation.replace("...", "0")
    for pattern, left in (
        ("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", False),
        ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", True),
        ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", False),
    ):
        match = re.match(pattern, dotted)
        if match:
            return _analyze_split(*match.groups(), bias_axes, input_shape, output_shape, left)
    raise ValueError(
        f"Invalid einsum equation '{equation}'. Equations must be in the form "
        "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...."
    )


def _analyze_split(input_spec, weight_spec, output_spec, bias_axes, input_shape, partial, left):
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(input_spec)
    output_shape = [input_shape[0], *partial]
    if elided > 0 and left:
        for i in range(1, elided):
            output_shape.insert(1, input_shape[i])
    elif elided > 0:
        output_shape.extend(input_shape[len(input_shape) - elided :])
    if left:
        input_map = {d: i + elided - len(input_shape) for i, d in enumerate(input_spec)}
        output_map = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        input_map = {d: i for i, d in enumerate(input_spec)}
        output_map = {d: i for i, d in enumerate(output_spec)}
    for d in input_spec:
        if d in output_map:
            want, got = input_shape[input_map[d]], output_shape[output_map[d]]
            if got is not None and got != want:
                raise ValueError(
                    f"Input shape and output shape do not match at shared dimension '{d}'. "
                    f"Input shape is {want}, and output shape is {got}."
                )
    for d in output_spec:
        if d not in input_spec and d not in weight_spec:
            raise ValueError(
                f"Dimension '{d}' was specified in the output '{output_spec}' but has no "
                f"corresponding dim in the input spec '{input_spec}' or weight spec "
                f"'{weight_spec}'"
            )
    kernel_shape, input_axes, output_axes = [], [], []
    for i, d in enumerate(weight_spec):
        if d in output_map:
            kernel_shape.append(output_shape[output_map[d]])
            output_axes.append(i)
        elif d in input_map:
            kernel_shape.append(input_shape[input_map[d]])
            input_axes.append(i)
        else:
            raise ValueError(
                f"Weight dimension '{d}' did not have a match in either the input spec "
                f"'{input_spec}' or the output spec '{output_spec}'. For this layer, the "
                "weight must be fully specified."
            )
    bias_shape = None
    if bias_axes is not None:
        offset = elided if left else 0
        sizes = {d: output_shape[i + offset] for i, d in enumerate(output_spec)}
        for d in bias_axes:
            if d not in output_spec:
                raise ValueError(
                    f"Bias dimension '{d}' was requested, but is not part of the output "
                    f"spec '{output_spec}'"
                )
        first = min(output_spec.find(d) for d in bias_axes)
        bias_shape = [sizes[d] if d in bias_axes else 1 for d in output_spec[first:]]
        if not left:
            bias_shape += [1] * max(elided, 0)
    return kernel_shape, bias_shape, output_shape, input_axes, output_axes


class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``, as Keras's: the kernel's
    shape comes from the equation and ``output_shape`` (the output without its batch
    dimension); ``bias_axes`` names the output axes that get a bias. A variance-scaling
    kernel initializer counts its fans on the kernel's input and output axes, as Keras 3.
    """

    def __init__(
        self,
        equation,
        output_shape,
        activation=None,
        bias_axes=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        for unsupported in ("lora_rank", "lora_alpha", "gptq_unpacked_column_size"):
            if kwargs.pop(unsupported, None) is not None:
                raise NotImplementedError(f"EinsumDense({unsupported}=...) is not supported")
        if kwargs.pop("quantization_config", None) is not None:
            raise NotImplementedError("EinsumDense(quantization_config=...) is not supported")
        super().__init__(**kwargs)
        self.equation = equation
        self.partial_output_shape = (
            (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        )
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_weight_options(
            self,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        self.bias = None

    def _analyze(self, input_shape):
        return analyze_einsum_string(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape
        )

    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = self._analyze(input_shape)
        if not all(known(d) for d in kernel_shape):
            raise ShapeError(
                f"{self.name} (EinsumDense): the kernel's dimensions must be known, got "
                f"{format_shape(tuple(kernel_shape))} from input shape "
                f"{format_shape(tuple(input_shape))}; give the input's feature dimensions"
            )
        init = self.kernel_initializer
        if isinstance(init, initializers.VarianceScaling):
            # Keras 3 counts the fans on the kernel's input and output axes: draw the
            # (independent) values as a (fan_in, fan_out) matrix, then shape them.
            fan_in = product([kernel_shape[i] for i in input_axes])
            fan_out = product([kernel_shape[i] for i in output_axes])

            def init(shape, dtype="float32", base=self.kernel_initializer):
                return base((fan_in, fan_out), dtype=dtype).reshape(shape)

        self.kernel = self.add_weight(
            tuple(kernel_shape),
            init,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        if bias_shape is not None:
            self.bias = self.add_weight(
                tuple(bias_shape),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def compute_output_shape(self, input_shape):
        return tuple(self._analyze(input_shape)[2])

    def call(self, inputs):
        x = ops.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x)

    def get_config(self):
        return {
            **super().get_config(),
            "output_shape": list(self.partial_output_shape),
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
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
            "quantization_config": None,
        }


class Activation(Layer):
    _SUPPORTS_MASKING = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Inverted dropout, active in training only (``training=True`` forces it on)."""

    _SUPPORTS_MASKING = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float "
                f"value between 0 and 1. Received: rate={rate}"
            )
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed

    def call(self, inputs, training=None):
        if training is False or self.rate == 0:
            return inputs
        return ops.dropout(inputs, self.rate, noise_shape=self.noise_shape, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }


class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format

    def call(self, inputs):
        if self.data_format == "channels_first" and len(inputs.shape) > 2:
            raise NotImplementedError("Flatten(data_format='channels_first') is not supported")
        return ops.flatten(inputs)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (the batch dimension is kept)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, inputs):
        target = self.target_shape
        per_sample = product(inputs.shape[1:])
        rest = product(d for d in target if d != -1)
        if per_sample is not None and (per_sample % rest if -1 in target else per_sample != rest):
            holds = f"{rest} values" + (" times a free dimension" if -1 in target else "")
            raise ShapeError(
                f"{self.name} (Reshape): cannot reshape input of shape "
                f"{format_shape(inputs.shape)} ({per_sample} values per sample) to target "
                f"shape {target} ({holds})."
            )
        if -1 in target and per_sample is not None:
            target = tuple(per_sample // rest if d == -1 else d for d in target)
        return ops.reshape(inputs, (-1,) + target)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Identity(Layer):
    _SUPPORTS_MASKING = True

    def call(self, inputs):
        return ops.identity(inputs)


class Masking(Layer):
    """Masks the time steps whose features all equal ``mask_value`` (Keras 3): they are
    set to zero and the output's mask is False there, so recurrent layers skip them.

    >>> x = Input((None, 8))
    >>> y = LSTM(16)(Masking(mask_value=0.0)(x))
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise TypeError(
                f"Masking: `mask_value` must be a number, received "
                f"{type(mask_value).__name__}: {mask_value!r}"
            )
        self.mask_value = mask_value

    def compute_mask(self, inputs, mask=None):
        return mask_ops.any(mask_ops.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        keep = mask_ops.any(mask_ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        # Keras: where(keep, inputs, 0); the product is the same for finite inputs.
        outputs = ops.multiply(inputs, mask_ops.cast(keep, inputs.dtype))
        if is_symbolic(outputs):
            set_keras_mask(outputs, mask_ops.any(keep, axis=-1))
        return outputs

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
