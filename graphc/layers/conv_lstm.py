"""``ConvLSTM1D``, ``ConvLSTM2D`` and ``ConvLSTM3D`` (Keras 3): an LSTM whose input and
recurrent transformations are convolutions.

Weights as Keras's ``ConvLSTMCell``: ``kernel (*kernel_size, channels, 4 * filters)``,
``recurrent_kernel (*kernel_size, filters, 4 * filters)``, ``bias (4 * filters,)`` (gates
i, f, c, o; ``unit_forget_bias`` puts ones on the forget gate). A step is

    x = conv(x_t, kernel, strides, padding, dilation_rate) + bias
    r = conv(h, recurrent_kernel, strides 1, padding "same")
    i, f, c~, o = split(x + r);  c = sig(f) * c + sig(i) * tanh(c~);  h = sig(o) * tanh(c)

The layer is an ``RNN`` over the cell: unrolled over known time steps (the graph holds
one pair of ``conv`` ops per step, so gradients are the ops' VJPs and the ONNX export is
the unrolled graph, ``Conv`` nodes), and one ``scan`` node over unknown ones (the step
recorded once; ONNX ``Scan`` with ``Conv`` nodes in its body). ``dropout`` and
``recurrent_dropout`` draw one mask per gate for the call, reused at every step, as
Keras's cell does.
"""

from __future__ import annotations

import numpy as np

from graphc import activations, initializers, ops
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.layers.recurrent import _ForgetBiasInitializer
from graphc.layers.rnn_cells import RNN, _batch_zeros, _Leaf

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


def _tuple(value, rank, name):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(
            f"The `{name}` argument must be a tuple of {rank} integers. Received {name}={value}"
        )
    return value


def _out_dim(n, k, s, d, padding):
    if padding == "same":
        return -(-n // s)
    return (n - d * (k - 1) - 1) // s + 1


class ConvLSTMCell(Layer):
    """One step of a ConvLSTM (Keras's ``ConvLSTMCell``; not a public Keras layer)."""

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rank = int(rank)
        if not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(
                f"Invalid value for argument `filters`. Expected a strictly positive "
                f"value. Received filters={filters}."
            )
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        padding = str(padding).lower()
        if padding not in ("valid", "same"):
            raise ValueError(
                f"The `padding` argument must be one of 'valid', 'same'. Received: {padding}"
            )
        self.padding = padding
        from graphc import config

        self.data_format = data_format or config.image_data_format()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "The `data_format` argument must be one of 'channels_first', "
                f"'channels_last'. Received: data_format={data_format}"
            )
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        set_weight_options(
            self,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        self.dropout = float(min(1.0, max(0.0, dropout)))
        self.recurrent_dropout = float(min(1.0, max(0.0, recurrent_dropout)))
        self.seed = seed
        self.state_size = -1  # as Keras: the states' shape comes from the convolution
        self._masks = None

    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(
                f"{self.name}: expected a step input of rank {self.rank + 2}, received "
                f"{format_shape(input_shape)}"
            )
        if self.data_format == "channels_first":
            self.spatial_dims = input_shape[2:]
        else:
            self.spatial_dims = input_shape[1:-1]
        if None in self.spatial_dims:
            raise ValueError(
                "ConvLSTM layers only support static input shapes for the spatial "
                f"dimension. Received invalid input shape: input_shape={input_shape}"
            )
        input_dim = input_shape[self._channel_axis()]
        if input_dim is None:
            raise ValueError(
                "The channel dimension of the inputs (last axis) should be defined. "
                f"Found None. Full input shape received: input_shape={input_shape}"
            )
        self.input_dim = int(input_dim)
        f4 = self.filters * 4
        self.kernel = self.add_weight(
            self.kernel_size + (self.input_dim, f4),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            self.kernel_size + (self.filters, f4),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
            name="recurrent_kernel",
        )
        self.bias = None
        if self.use_bias:
            init = self.bias_initializer
            if self.unit_forget_bias:
                init = _ForgetBiasInitializer(self.bias_initializer, self.filters)
            self.bias = self.add_weight(
                (f4,),
                init,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def state_shape(self):
        dims = tuple(
            _out_dim(n, k, s, d, self.padding)
            for n, k, s, d in zip(
                self.spatial_dims, self.kernel_size, self.strides, self.dilation_rate
            )
        )
        if self.data_format == "channels_first":
            return (self.filters,) + dims
        return dims + (self.filters,)

    def _initial_states(self, x0):
        shape = self.state_shape()
        return [_batch_zeros(x0, shape), _batch_zeros(x0, shape)]

    def _begin_sequence(self, x0, training):
        """Draw the call's dropout masks (one per gate), reused at every step."""
        self._masks = None
        rates = [r if 0 < r < 1 else 0.0 for r in (self.dropout, self.recurrent_dropout)]
        if training is False or not any(rates):
            return
        ones_x = ops.add(ops.multiply(x0, 0.0), 1.0)
        ones_h = _batch_zeros(x0, self.state_shape())
        ones_h = ops.add(ones_h, 1.0)
        kw = {"training": True} if training else {}
        self._masks = (
            [ops.dropout(ones_x, rates[0], **kw) for _ in range(4)] if rates[0] else None,
            [ops.dropout(ones_h, rates[1], **kw) for _ in range(4)] if rates[1] else None,
        )

    def _end_sequence(self):
        self._masks = None

    def _conv(self, x, w, b, strides, padding, dilation):
        y = ops.conv(
            x, w, strides=strides, padding=padding, data_format=self.data_format,
            dilation_rate=dilation,
        )  # fmt: skip
        if b is not None:
            if self.data_format == "channels_first":
                b = ops.reshape(b, (-1,) + (1,) * self.rank)
            y = ops.add(y, b)
        return y

    def call(self, inputs, states, training=None):
        h, c = states[0], states[1]
        axis = self.rank + 1
        ones = (1,) * self.rank
        x_masks, h_masks = self._masks if self._masks is not None else (None, None)
        if x_masks is None and h_masks is None:
            z = ops.add(
                self._conv(inputs, self.kernel, self.bias, self.strides, self.padding,
                           self.dilation_rate),
                self._conv(h, self.recurrent_kernel, None, ones, "same", ones),
            )  # fmt: skip
            zi, zf, zc, zo = ops.split(z, 4, axis=self._channel_axis())
        else:
            ks = ops.split(self.kernel, 4, axis=axis)
            rks = ops.split(self.recurrent_kernel, 4, axis=axis)
            bs = ops.split(self.bias, 4) if self.bias is not None else [None] * 4
            gates = []
            for g in range(4):
                xg = inputs if x_masks is None else ops.multiply(inputs, x_masks[g])
                hg = h if h_masks is None else ops.multiply(h, h_masks[g])
                gates.append(
                    ops.add(
                        self._conv(
                            xg, ks[g], bs[g], self.strides, self.padding, self.dilation_rate
                        ),
                        self._conv(hg, rks[g], None, ones, "same", ones),
                    )  # fmt: skip
                )
            zi, zf, zc, zo = gates
        i = self.recurrent_activation(zi)
        f = self.recurrent_activation(zf)
        c = ops.add(ops.multiply(f, c), ops.multiply(i, self.activation(zc)))
        o = self.recurrent_activation(zo)
        h = ops.multiply(o, self.activation(c))
        return h, [h, c]


class _ConvLSTM(RNN):
    _rank = 2

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
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
        **kwargs,
    ):
        cell = ConvLSTMCell(
            rank=self._rank,
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            name="conv_lstm_cell",
            dtype=kwargs.get("dtype"),
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )

    def _template(self):
        shape = self.cell.state_shape()
        return [_Leaf(shape), _Leaf(shape)]

    @property
    def state_size(self):
        return [-1, -1]

    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], tuple):
            input_shape = input_shape[0]
        input_shape = tuple(input_shape)
        if len(input_shape) != self._rank + 3:
            raise ShapeError(
                f"{self.name} ({type(self).__name__}): expected an input of rank "
                f"{self._rank + 3} (batch, time, {self._rank} spatial dims and channels), "
                f"received input of shape {format_shape(input_shape)}"
            )
        super().build(input_shape)

    def __getattr__(self, name):
        # Keras's ConvLSTM exposes the cell's arguments as its own attributes.
        if name in _CELL_ATTRS:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_config(self):
        cell = self.cell
        config = {
            "filters": cell.filters,
            "kernel_size": list(cell.kernel_size),
            "strides": list(cell.strides),
            "padding": cell.padding,
            "data_format": cell.data_format,
            "dilation_rate": list(cell.dilation_rate),
            "activation": activations.serialize(cell.activation),
            "recurrent_activation": activations.serialize(cell.recurrent_activation),
            "use_bias": cell.use_bias,
            "kernel_initializer": initializers.serialize(cell.kernel_initializer),
            "recurrent_initializer": initializers.serialize(cell.recurrent_initializer),
            "bias_initializer": initializers.serialize(cell.bias_initializer),
            "unit_forget_bias": cell.unit_forget_bias,
            **weight_options_config(
                cell,
                "kernel_regularizer",
                "recurrent_regularizer",
                "bias_regularizer",
                "kernel_constraint",
                "recurrent_constraint",
                "bias_constraint",
            ),
            **weight_options_config(self, "activity_regularizer"),
            "dropout": cell.dropout,
            "recurrent_dropout": cell.recurrent_dropout,
            "seed": cell.seed,
        }
        base = super().get_config()
        del base["cell"]
        return {**base, **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


_CELL_ATTRS = {
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "data_format",
    "dilation_rate",
    "activation",
    "recurrent_activation",
    "use_bias",
    "unit_forget_bias",
    "dropout",
    "recurrent_dropout",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
}


class ConvLSTM1D(_ConvLSTM):
    """``keras.layers.ConvLSTM1D``: input ``(batch, time, steps, channels)``."""

    _rank = 1


class ConvLSTM2D(_ConvLSTM):
    """``keras.layers.ConvLSTM2D``: input ``(batch, time, rows, cols, channels)``.

    >>> y = ConvLSTM2D(8, 3, padding="same", return_sequences=True)(x)
    """

    _rank = 2


class ConvLSTM3D(_ConvLSTM):
    """``keras.layers.ConvLSTM3D``: input ``(batch, time, d1, d2, d3, channels)``."""

    _rank = 3
