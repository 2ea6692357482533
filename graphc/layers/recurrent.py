"""Recurrent layers: SimpleRNN, LSTM, GRU and the Bidirectional wrapper (Keras 3).

Each layer runs one whole-sequence op (``graphc.ops.simple_rnn``/``lstm``/``gru``), so the
NumPy backend and the ONNX exporter need nothing layer-specific. Weights, their order,
shapes and gate layouts are Keras 3's: ``kernel (features, gates*units)``,
``recurrent_kernel (units, gates*units)``, ``bias`` (LSTM ``(4u,)`` gates i, f, c, o;
GRU ``(2, 3u)`` with ``reset_after=True``, else ``(3u,)``, gates z, r, h).

Masks (``Embedding(mask_zero=True)``, ``Masking``) work as in Keras 3: a masked step keeps
the states and repeats the previous output (zeros with ``zero_output_for_mask``, which
Bidirectional sets when returning sequences); ``return_sequences=True`` passes the mask on.

``dropout``/``recurrent_dropout`` as in Keras 3: in training only, one mask per call for the
inputs ``(batch, features)`` and one for the recurrent state ``(batch, units)``, reused at
every step; LSTM and GRU with ``recurrent_dropout`` draw one mask per gate (Keras's
``implementation=1``). Rates are clipped to [0, 1] as Keras does; a rate of 1 is off for
LSTM/GRU (Keras applies their masks only for ``0 < rate < 1``) and drops everything for
SimpleRNN. Inference and the ONNX export are those of the layer without dropout.
"""

from __future__ import annotations

import numpy as np

from graphc import activations, initializers, ops
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers import serialization
from graphc.layers.base import Layer, flatten_struct, set_weight_options, weight_options_config
from graphc.ops import masking as mask_ops
from graphc.ops.recurrent import RECURRENT_ACTIVATIONS
from graphc.ops.shapes import known

__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]


def _activation(layer, argument, value):
    fn = activations.get(value)
    name = getattr(fn, "__name__", None)
    try:
        ok = activations.serialize(fn) in RECURRENT_ACTIVATIONS
    except ValueError:
        ok = False
    if not ok:
        raise NotImplementedError(
            f"{layer}: {argument}={name or value!r} is not supported by graphc's recurrent "
            f"ops (they lower to ONNX's RNN/LSTM/GRU); use one of "
            f"{', '.join(RECURRENT_ACTIVATIONS)}"
        )
    return fn


class _ForgetBiasInitializer:
    """LSTM ``unit_forget_bias``: the bias initializer, with ones for the forget gate."""

    def __init__(self, base, units):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return np.concatenate(
            [
                np.asarray(self.base((u,), dtype=dtype), dtype=dtype),
                np.ones((u,), dtype=dtype),
                np.asarray(self.base((2 * u,), dtype=dtype), dtype=dtype),
            ]
        )


def _time_mask(mask):
    """The mask a recurrent layer uses: a boolean ``(batch, timesteps)`` tensor or None.
    A list is the mask Keras-style propagation gave ``[sequence, *initial_states]``:
    Keras fills ``mask`` only when the sequence is the only tensor argument, so with
    initial states the steps are not masked (pass ``mask=`` explicitly to mask them)."""
    if mask is None or isinstance(mask, (list, tuple)):
        return None
    if mask.dtype != "bool":
        mask = mask_ops.not_equal(mask, 0)
    return mask


class CellWeights:
    """The options and weights a recurrent layer and its cell share (SimpleRNN and
    SimpleRNNCell, LSTM and LSTMCell, GRU and GRUCell): Keras gives them the same
    arguments, the same ``kernel``/``recurrent_kernel``/``bias`` and the same config."""

    _gates = 1
    _has_recurrent_activation = False

    def _set_cell_options(
        self,
        units,
        activation,
        recurrent_activation,
        use_bias,
        kernel_initializer,
        recurrent_initializer,
        bias_initializer,
        dropout,
        recurrent_dropout,
        seed,
        **weight_options,
    ):
        cls = type(self).__name__
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a "
                f"positive integer, got {units}."
            )
        set_weight_options(self, **weight_options)
        self.units = int(units)
        self.activation = _activation(cls, "activation", activation)
        if self._has_recurrent_activation:
            self.recurrent_activation = _activation(
                cls, "recurrent_activation", recurrent_activation
            )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        # Keras clips the rates (a rate that cannot be compared raises its TypeError).
        self.dropout = float(min(1.0, max(0.0, dropout)))
        self.recurrent_dropout = float(min(1.0, max(0.0, recurrent_dropout)))
        self.seed = seed  # graphc draws from the executor's generator (set_random_seed)

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def _add_cell_weights(self, features):
        g, u = self._gates, self.units
        self.kernel = self.add_weight(
            (features, g * u),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            (u, g * u),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
            name="recurrent_kernel",
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                self._bias_shape(),
                self._bias_init(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def _cell_config(self, *more_options) -> dict:
        """The shared config entries in Keras's order (``more_options``: other weight
        options, e.g. the layer's ``activity_regularizer``, after ``bias_regularizer``)."""
        config = {"units": self.units, "activation": activations.serialize(self.activation)}
        if self._has_recurrent_activation:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        return {
            **config,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(
                self,
                "kernel_regularizer",
                "recurrent_regularizer",
                "bias_regularizer",
                *more_options,
                "kernel_constraint",
                "recurrent_constraint",
                "bias_constraint",
            ),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }


class _RNN(CellWeights, Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights, outputs, config."""

    _SUPPORTS_MASKING = True

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._set_cell_options(
            units,
            activation,
            recurrent_activation,
            use_bias,
            kernel_initializer,
            recurrent_initializer,
            bias_initializer,
            dropout,
            recurrent_dropout,
            seed,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        if stateful:
            raise NotImplementedError(
                f"{type(self).__name__}: stateful=True is not supported by graphc; "
                "pass the state explicitly with initial_state= and "
                "return_state=True"
            )
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)  # graphc's recurrences are loops either way
        self.zero_output_for_mask = bool(zero_output_for_mask)

    # ---- weights -------------------------------------------------------------------
    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and not _is_shape(input_shape):
            input_shape = input_shape[0]  # [sequence, *initial_states]
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or not known(input_shape[-1]):
            raise ShapeError(
                f"{self.name} ({type(self).__name__}): expected a 3-D input (batch, "
                f"timesteps, features) with a known number of features, received input of "
                f"shape {format_shape(input_shape)}"
            )
        self._add_cell_weights(input_shape[-1])

    # ---- calling -------------------------------------------------------------------
    def __call__(self, inputs, initial_state=None, **kwargs):
        # Initial states travel with the sequence as one input list ([x, h0(, c0)], the
        # Keras 2 form), so model configs record them as inputs of this call.
        if initial_state is not None:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            inputs = [inputs, *states]
        return super().__call__(inputs, **kwargs)

    def _run(self, sequence, states, mask, training=None):
        raise NotImplementedError

    def _mask_args(self, mask) -> dict:
        return {"mask": mask, "zero_output_for_mask": self.zero_output_for_mask}

    def _dropout_args(self, training) -> dict:
        """The op's dropout arguments (none at all without dropout or with
        ``training=False``, so the graph is the plain one)."""
        rates = self.dropout, self.recurrent_dropout
        if self._gates > 1:  # Keras's LSTM/GRU cells use a mask only for 0 < rate < 1
            rates = tuple(r if r < 1 else 0.0 for r in rates)
        if training is False or not any(rates):
            return {}
        out = {"dropout": rates[0], "recurrent_dropout": rates[1], "training": training}
        if self._gates > 1:
            # recurrent_dropout makes Keras's LSTM/GRU cells use implementation 1: one
            # mask per gate, for the inputs too.
            out["gate_masks"] = self.recurrent_dropout != 0
        return out

    def compute_mask(self, inputs, mask):
        mask = flatten_struct(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * (2 if self._gates == 4 else 1)
        return output_mask

    def call(self, inputs, training=None, mask=None):
        mask = _time_mask(mask)
        states = None
        if isinstance(inputs, (list, tuple)):
            inputs, states = inputs[0], list(inputs[1:]) or None
        expected, got = self.kernel.shape[0], inputs.shape[-1]
        if known(got) and got != expected:
            raise ShapeError(
                f"{self.name} ({type(self).__name__}): expected sequences with {expected} "
                f"features (the layer was built for (None, None, {expected})), received "
                f"input of shape {format_shape(inputs.shape)}"
            )
        outs = self._run(inputs, states, mask, training)
        if self.return_sequences:
            output = outs[0]
        elif mask is None or (states is None and not self.zero_output_for_mask):
            output = outs[1]  # the last output is the final state
        else:
            # Keras returns the last output, which a masked end or a fully masked row
            # (zeros, not the initial state) makes differ from the final state.
            output = ops.take(outs[0], np.array(-1, dtype=np.int64), axis=1)
        if self.return_state:
            return (output,) + tuple(outs[1:])
        return output

    def get_config(self):
        config = {
            **super().get_config(),
            **self._cell_config("activity_regularizer"),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        return config


def _is_shape(x) -> bool:
    return all(d is None or isinstance(d, (int, np.integer)) for d in x)


class SimpleRNN(_RNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel
    + bias)``.

    >>> model = Sequential([Input((10, 8)), SimpleRNN(16), Dense(1)])
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        if "recurrent_activation" in kwargs:
            raise TypeError(
                "SimpleRNN.__init__() got an unexpected keyword argument 'recurrent_activation'"
            )
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )

    def _run(self, sequence, states, mask, training=None):
        return ops.simple_rnn(
            sequence,
            self.kernel,
            self.recurrent_kernel,
            self.bias,
            initial_state=states,
            **self._mask_args(mask),
            **self._dropout_args(training),
            activation=activations.serialize(self.activation),
            go_backwards=self.go_backwards,
        )


def _check_use_cudnn(value):
    """graphc has no cuDNN; the argument is checked as Keras does and kept for configs."""
    if value not in ("auto", True, False):
        raise ValueError(
            "Invalid valid received for argument `use_cudnn`. Expected one "
            f"of {{'auto', True, False}}. Received: use_cudnn={value}"
        )


class LSTM(_RNN):
    """Long Short-Term Memory (Hochreiter 1997), Keras 3's formulas and gate order
    (i, f, c, o). ``return_state=True`` gives ``(output, h, c)``.

    >>> model = Sequential([Input((None,), dtype="int32"), Embedding(10000, 32), LSTM(32),
    ...                     Dense(1, activation="sigmoid")])
    """

    _gates = 4
    _has_recurrent_activation = True

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        use_cudnn="auto",
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        _check_use_cudnn(use_cudnn)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.use_cudnn = use_cudnn

    def _bias_init(self):
        if self.unit_forget_bias:
            return _ForgetBiasInitializer(self.bias_initializer, self.units)
        return self.bias_initializer

    def _run(self, sequence, states, mask, training=None):
        return ops.lstm(
            sequence,
            self.kernel,
            self.recurrent_kernel,
            self.bias,
            initial_state=states,
            **self._mask_args(mask),
            **self._dropout_args(training),
            activation=activations.serialize(self.activation),
            recurrent_activation=activations.serialize(self.recurrent_activation),
            go_backwards=self.go_backwards,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "unit_forget_bias": self.unit_forget_bias,
            "use_cudnn": self.use_cudnn,
        }


class GRU(_RNN):
    """Gated Recurrent Unit (Cho 2014), Keras 3's formulas and gate order (z, r, h):
    ``h = z * h_prev + (1 - z) * hh``. ``reset_after=True`` (the default, ONNX's
    ``linear_before_reset=1``) has a ``(2, 3u)`` bias: input and recurrent rows.

    >>> model = Sequential([Input((None, 14)), GRU(32), Dense(1)])
    """

    _gates = 3
    _has_recurrent_activation = True

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        reset_after=True,
        use_cudnn="auto",
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        _check_use_cudnn(use_cudnn)
        self.reset_after = bool(reset_after)
        self.use_cudnn = use_cudnn

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, sequence, states, mask, training=None):
        return ops.gru(
            sequence,
            self.kernel,
            self.recurrent_kernel,
            self.bias,
            initial_state=states,
            **self._mask_args(mask),
            **self._dropout_args(training),
            activation=activations.serialize(self.activation),
            recurrent_activation=activations.serialize(self.recurrent_activation),
            go_backwards=self.go_backwards,
            reset_after=self.reset_after,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "reset_after": self.reset_after,
            "use_cudnn": self.use_cudnn,
        }


# ---- Bidirectional -----------------------------------------------------------------------
_MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def _copy_layer(layer, **overrides):
    config = dict(layer.get_config())
    config.pop("batch_input_shape", None)  # the wrapper takes the input shape
    config.update(overrides)
    return type(layer).from_config(config)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the same sequence
    and merges the two outputs (Keras 3): ``merge_mode`` "concat" (default), "sum",
    "mul", "ave" or None (a pair). The backward output sequence is put back in input
    order. Weights: the forward layer's, then the backward layer's. A mask goes to both
    directions; when returning sequences both use ``zero_output_for_mask``, as in Keras.

    >>> y = Bidirectional(LSTM(32, return_sequences=True))(x)   # (None, T, 64)
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, Layer):  # ValueError, as Keras
            raise ValueError(
                "Please initialize `Bidirectional` layer with a "
                f"`keras.layers.Layer` instance. Received: {layer}"
            )
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError(
                "`backward_layer` need to be a `keras.layers.Layer` "
                f"instance. Received: {backward_layer}"
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Invalid merge mode. Received: {merge_mode}. Merge mode should "
                'be one of {"sum", "mul", "ave", "concat", None}'
            )
        if getattr(layer, "_batch_input_shape", None) is not None and not any(
            k in kwargs for k in ("input_shape", "batch_input_shape", "input_dim")
        ):
            # Keras 2 spelling: Bidirectional(LSTM(8, input_shape=(10, 4)))
            kwargs["batch_input_shape"] = layer._batch_input_shape
        super().__init__(**kwargs)
        self.forward_layer = _copy_layer(
            layer, name=f"forward_{layer.name.removeprefix('forward_')}"
        )
        if backward_layer is None:
            self.backward_layer = _copy_layer(
                layer, go_backwards=True, name=f"backward_{layer.name.removeprefix('backward_')}"
            )
        else:
            self.backward_layer = backward_layer
        fwd, bwd = self.forward_layer, self.backward_layer
        if getattr(fwd, "go_backwards", None) == getattr(bwd, "go_backwards", None):
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` "
                f"value. Received: forward_layer.go_backwards {fwd.go_backwards}, "
                f"backward_layer.go_backwards={bwd.go_backwards}"
            )
        for a in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, a, None) != getattr(bwd, a, None):
                raise ValueError(
                    "Forward layer and backward layer are expected to have the same value "
                    f'for attribute "{a}", got "{getattr(fwd, a, None)}" for forward layer '
                    f'and "{getattr(bwd, a, None)}" for backward layer'
                )
        for sub in (fwd, bwd):  # Keras's force_zero_output_for_mask
            if getattr(sub, "zero_output_for_mask", None) is not None:
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.stateful = getattr(layer, "stateful", False)
        self.return_sequences = getattr(layer, "return_sequences", False)
        self.return_state = getattr(layer, "return_state", False)
        self._initial_weights = list(weights) if weights else None

    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and not _is_shape(input_shape):
            input_shape = input_shape[0]
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(tuple(input_shape))
                layer.built = True
        if self._initial_weights is not None:
            n = len(self._initial_weights)
            self.forward_layer.set_weights(self._initial_weights[: n // 2])
            self.backward_layer.set_weights(self._initial_weights[n // 2 :])
            self._initial_weights = None

    def __call__(self, inputs, initial_state=None, **kwargs):
        if initial_state is not None:
            inputs = [inputs, *list(initial_state)]
        return super().__call__(inputs, **kwargs)

    _SUPPORTS_MASKING = True

    def compute_mask(self, inputs, mask):
        mask = flatten_struct(mask)[0] if mask is not None else None
        if self.return_sequences:
            return mask if self.merge_mode else [mask, mask]
        return None if self.merge_mode else [None, None]

    def call(self, inputs, training=None, mask=None):
        mask = _time_mask(mask)
        fwd_state = bwd_state = None
        if isinstance(inputs, (list, tuple)):
            inputs, states = inputs[0], list(inputs[1:])
            if states:
                half = len(states) // 2
                fwd_state, bwd_state = states[:half], states[half:]
        y = self.forward_layer(inputs, initial_state=fwd_state, mask=mask, training=training)
        y_rev = self.backward_layer(inputs, initial_state=bwd_state, mask=mask, training=training)
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.reverse_sequence(y_rev)
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = ops.add(y, y_rev)
        elif self.merge_mode == "ave":
            output = ops.multiply(ops.add(y, y_rev), 0.5)  # exactly (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = ops.multiply(y, y_rev)
        else:
            output = (y, y_rev)
        if self.return_state:
            return (output + states) if self.merge_mode is None else (output,) + states
        return output

    def get_config(self):
        return {
            **super().get_config(),
            "layer": serialization.serialize(self.forward_layer),
            "merge_mode": self.merge_mode,
            "backward_layer": serialization.serialize(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = serialization.deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = serialization.deserialize(config["backward_layer"])
        return cls(**config)
