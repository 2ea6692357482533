"""Keras 3's generic ``RNN`` layer and its cells: ``SimpleRNNCell``, ``LSTMCell``,
``GRUCell``, ``StackedRNNCells`` and user-written cells.

A built-in cell holds Keras's weights (``kernel``, ``recurrent_kernel``, ``bias``: the
layouts of ``SimpleRNN``/``LSTM``/``GRU``, so ``RNN(LSTMCell(4))`` and ``LSTM(4)`` hold the
same weights). ``RNN`` over built-in cells (one, or a ``StackedRNNCells`` of them) runs
the whole-sequence ops (``graphc.ops.simple_rnn``/``lstm``/``gru``) once per cell: the
same numbers, dropout, masks, gradients and ONNX lowering (``RNN``/``LSTM``/``GRU``
operators) as the recurrent layers. A stack is run cell by cell over the whole sequence,
which equals Keras's step-by-step stack: a cell's step depends only on the step's output
of the cell below and its own state.

Any other cell (a ``Layer`` with ``state_size`` and ``call(inputs, states)`` returning
``(output, new_states)``, as in the keras.io guide "Working with RNNs"):

- when the number of time steps is known and short (``RNN.SCAN_ABOVE_STEPS``, 32, or
  less), or with ``unroll=True``, it is *unrolled*: the RNN calls the cell once per time
  step while recording, so the graph holds ``timesteps`` copies of the cell's ops sharing
  its weights; gradients are the ops' VJPs and the export is the unrolled graph;
- when it is unknown (``Input((None, features))``), or longer, the cell's step is
  recorded once, on symbolic per-step tensors, as the body of one ``scan`` node
  (``graphc/ops/control_flow.py``): the kernel loops over the time steps, the VJP is
  backpropagation through time over the body, and the export is ONNX ``Scan``. The
  outputs are those of the unrolled graph, bit for bit.

Masks follow Keras's ``backend.rnn`` either way: a masked step keeps the states and
repeats the previous output (zeros with ``zero_output_for_mask``).
"""

from __future__ import annotations

import inspect

import numpy as np

from graphc import activations, ops, recording
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers import serialization
from graphc.layers.base import (
    Layer,
    _track_sublayer,
    flatten_struct,
    to_snake_case,
)
from graphc.layers.recurrent import (
    CellWeights,
    _ForgetBiasInitializer,
    _time_mask,
)
from graphc.ops.control_flow import BodyTrace
from graphc.ops.registry import is_symbolic
from graphc.ops.shapes import known

__all__ = ["RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"]


# ---- built-in cells ----------------------------------------------------------------------
class _Cell(CellWeights, Layer):
    """What SimpleRNNCell, LSTMCell and GRUCell share."""

    _n_states = 1
    _op = "simple_rnn"

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
        self.output_size = self.units

    @property
    def state_size(self):
        return self.units if self._n_states == 1 else [self.units] * self._n_states

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2 or not known(input_shape[-1]):
            raise ShapeError(
                f"{self.name} ({type(self).__name__}): expected a step input of shape "
                f"(batch, features) with a known number of features, received "
                f"{format_shape(input_shape)}"
            )
        self._add_cell_weights(input_shape[-1])

    def get_initial_state(self, batch_size=None):
        return [np.zeros((batch_size, self.units), "float32") for _ in range(self._n_states)]

    # ---- the whole sequence at once (what RNN runs) --------------------------------
    def _dropout_args(self, training) -> dict:
        rates = self.dropout, self.recurrent_dropout
        if self._gates > 1:  # Keras's LSTM/GRU cells use a mask only for 0 < rate < 1
            rates = tuple(r if r < 1 else 0.0 for r in rates)
        if training is False or not any(rates):
            return {}
        out = {"dropout": rates[0], "recurrent_dropout": rates[1], "training": training}
        if self._gates > 1:
            out["gate_masks"] = self.recurrent_dropout != 0
        return out

    def _op_args(self) -> dict:
        out = {"activation": activations.serialize(self.activation)}
        if self._has_recurrent_activation:
            out["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        return out

    def _run_sequence(self, sequence, states, mask, training, go_backwards, zero_output):
        """``(sequence of outputs, *final states)`` over a whole ``(N, T, F)`` sequence."""
        extra = {"mask": mask, "zero_output_for_mask": zero_output} if mask is not None else {}
        fn = getattr(ops, self._op)
        return fn(
            sequence,
            self.kernel,
            self.recurrent_kernel,
            self.bias,
            initial_state=states,
            **extra,
            **self._dropout_args(training),
            **self._op_args(),
            go_backwards=go_backwards,
        )

    # ---- one step (a cell called directly, or inside a loop over a custom cell) ----
    def call(self, inputs, states, training=None):
        if training is not False and (self.dropout or self.recurrent_dropout):
            raise NotImplementedError(
                f"{self.name} ({type(self).__name__}): dropout/recurrent_dropout on a cell "
                "stepped one time step at a time (called directly, or in a "
                "StackedRNNCells with custom cells) is not supported by graphc (Keras "
                "reuses one mask over the steps); wrap only built-in cells in RNN, or "
                "call the cell with training=False"
            )
        single = not isinstance(states, (list, tuple))
        states = [states] if single else list(states)
        if len(states) != self._n_states:
            raise ValueError(
                f"{self.name} ({type(self).__name__}) expects {self._n_states} state "
                f"tensor(s), received {len(states)}"
            )
        seq = ops.expand_dims(inputs, 1)
        outs = self._run_sequence(seq, states, None, False, False, False)
        new = list(outs[1:])
        output = new[0]
        if self._n_states == 1:
            return output, (new[0] if single else new)
        return output, new

    def get_config(self):
        return {**super().get_config(), **self._cell_config()}


class SimpleRNNCell(_Cell):
    """``keras.layers.SimpleRNNCell``: ``h = activation(x @ kernel + h_prev @
    recurrent_kernel + bias)``; one state."""

    def __init__(self, units, **kwargs):
        if "recurrent_activation" in kwargs:
            raise TypeError(
                "SimpleRNNCell.__init__() got an unexpected keyword argument 'recurrent_activation'"
            )
        super().__init__(units, **kwargs)


class LSTMCell(_Cell):
    """``keras.layers.LSTMCell``: gates i, f, c, o; states ``[h, c]``."""

    _gates = 4
    _n_states = 2
    _has_recurrent_activation = True
    _op = "lstm"

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        self.__dict__["implementation"] = kwargs.pop("implementation", 2)
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        if self.recurrent_dropout != 0.0:
            self.implementation = 1

    def _bias_init(self):
        if self.unit_forget_bias:
            return _ForgetBiasInitializer(self.bias_initializer, self.units)
        return self.bias_initializer

    def get_config(self):
        config = super().get_config()
        out = {}
        for k, v in config.items():  # Keras's key order
            out[k] = v
            if k == "use_bias":
                out["unit_forget_bias"] = self.unit_forget_bias
        return out


class GRUCell(_Cell):
    """``keras.layers.GRUCell``: gates z, r, h; ``reset_after=True`` gives a ``(2, 3u)``
    bias as ``GRU``'s."""

    _gates = 3
    _has_recurrent_activation = True
    _op = "gru"

    def __init__(self, units, reset_after=True, **kwargs):
        self.__dict__["implementation"] = kwargs.pop("implementation", 2)
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _op_args(self):
        return {**super()._op_args(), "reset_after": self.reset_after}

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


def _builtin(cell) -> bool:
    return isinstance(cell, _Cell)


def _call_takes_training(cell) -> bool:
    try:
        return "training" in inspect.signature(cell.call).parameters
    except (TypeError, ValueError):
        return False


def _is_nested(x) -> bool:
    return isinstance(x, (list, tuple))


class StackedRNNCells(Layer):
    """``keras.layers.StackedRNNCells``: cells run one after the other at every step;
    the states are one entry per cell."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if "call" not in dir(cell):
                raise ValueError(
                    f"All cells must have a `call` method. Received cell without a "
                    f"`call` method: {cell}"
                )
            if "state_size" not in dir(cell):
                raise ValueError(
                    "All cells must have a `state_size` attribute. Received cell "
                    f"without a `state_size`: {cell}"
                )
        self.cells = list(cells)
        for cell in self.cells:
            if isinstance(cell, Layer):
                _track_sublayer(self, cell)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        if getattr(last, "output_size", None) is not None:
            return last.output_size
        size = last.state_size
        return size[0] if _is_nested(size) else size

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(shape)
                cell.built = True
            size = getattr(cell, "output_size", None)
            if size is None:
                size = cell.state_size[0] if _is_nested(cell.state_size) else cell.state_size
            shape = (shape[0],) + (tuple(size) if _is_nested(size) else (size,))

    def call(self, inputs, states, training=None):
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            state_is_list = _is_nested(cell_states)
            cell_states = list(cell_states) if state_is_list else [cell_states]
            kwargs = {"training": training} if _call_takes_training(cell) else {}
            inputs, cell_states = cell(inputs, cell_states, **kwargs)
            if not _is_nested(cell_states):
                cell_states = [cell_states]
            cell_states = list(cell_states)
            if len(cell_states) == 1 and not state_is_list:
                cell_states = cell_states[0]
            new_states.append(cell_states)
        if len(new_states) == 1:
            new_states = new_states[0]
        return inputs, new_states

    def _keras_children(self):
        """``(path, cell)`` as Keras's saving names the cells of its ``cells`` list:
        ``cells/<snake_case class name>``, numbered from the second of a class."""
        used: dict = {}
        out = []
        for cell in self.cells:
            base = to_snake_case(type(cell).__name__)
            if base in used:
                used[base] += 1
                name = f"{base}_{used[base]}"
            else:
                used[base] = 0
                name = base
            out.append((f"cells/{name}", cell))
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "cells": [serialization.serialize(c) for c in self.cells],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cells = [serialization.deserialize(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)


# ---- the RNN layer -----------------------------------------------------------------------
class _Leaf:
    """One state tensor's shape (without the batch axis) in a state template."""

    def __init__(self, shape):
        self.shape = tuple(int(d) for d in shape)


def _leaf(size):
    return _Leaf(tuple(size) if _is_nested(size) else (size,))


def _cell_template(cell):
    """The states one cell takes: a list of leaves, or one leaf (a custom cell with an
    integer ``state_size``, inside a stack)."""
    size = cell.state_size
    if isinstance(size, (int, np.integer)):
        return _leaf(size)
    return [_leaf(s) for s in size]


def _flatten_template(t) -> list:
    if isinstance(t, _Leaf):
        return [t]
    out = []
    for x in t:
        out += _flatten_template(x)
    return out


def _pack(template, flat, start=0):
    """``flat`` tensors packed as ``template``; returns ``(structure, next index)``."""
    if isinstance(template, _Leaf):
        return flat[start], start + 1
    out = []
    for t in template:
        x, start = _pack(t, flat, start)
        out.append(x)
    return out, start


def _cell_initial_state(cell, x0):
    """A cell's initial states for the batch of ``x0``: zeros of its ``state_size``, or
    what a custom cell's ``get_initial_state(batch_size)`` gives, computed for a batch of
    one and broadcast over the batch (graphc's batch size is known only at run time)."""
    template = _cell_template(cell)
    fn = getattr(cell, "get_initial_state", None)
    if _builtin(cell) or fn is None:
        flat = [_batch_zeros(x0, leaf.shape) for leaf in _flatten_template(template)]
        return _pack(template, flat)[0]
    try:
        with recording.eager():
            state = fn(batch_size=1)
        flat = [np.asarray(s, dtype="float32") for s in flatten_struct(state)]
        if any(a.ndim == 0 or a.shape[0] != 1 for a in flat):
            raise ValueError("the states must have a leading batch axis of size batch_size")
    except Exception as e:
        raise NotImplementedError(
            f"{type(cell).__name__}.get_initial_state(batch_size=1) must return arrays "
            f"with a leading batch axis for graphc to broadcast over the batch ({e}); "
            "or pass initial_state= to the RNN"
        ) from e
    out = [ops.add(_batch_zeros(x0, a.shape[1:]), a[0]) for a in flat]
    if not _is_nested(state):
        return out[0]
    return _pack_like(list(state), out)


def _batch_zeros(x0, shape):
    """Zeros of shape ``(batch,) + shape`` with ``x0``'s (possibly unknown) batch size."""
    rank = len(x0.shape)
    col = ops.sum(ops.multiply(x0, 0.0), axis=tuple(range(1, rank))) if rank > 1 else x0 * 0.0
    for _ in shape:
        col = ops.expand_dims(col, -1)
    return ops.add(col, np.zeros(shape, dtype="float32"))


def _bcast_mask(m, like):
    for _ in range(len(like.shape) - 1):
        m = ops.expand_dims(m, -1)
    return m


def _is_shape_list(x) -> bool:
    return all(d is None or isinstance(d, (int, np.integer)) for d in x)


class RNN(Layer):
    """``keras.layers.RNN(cell, return_sequences, return_state, go_backwards, stateful,
    unroll, zero_output_for_mask)``. ``cell`` is a built-in cell, a ``StackedRNNCells``, a
    list of cells (stacked) or a custom cell (unrolled over a few known time steps, a
    ``scan`` over unknown or many; see the module docstring).

    >>> y = RNN(LSTMCell(8), return_sequences=True)(x)
    >>> y = RNN([GRUCell(8), GRUCell(4)])(x)
    """

    _SUPPORTS_MASKING = True

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if "call" not in dir(cell):
            raise ValueError(f"Argument `cell` should have a `call` method. Received: cell={cell}")
        if "state_size" not in dir(cell):
            raise ValueError(
                "The RNN cell should have a `state_size` attribute (single integer or "
                "list of integers, one integer per RNN state). "
                f"Received: cell={cell}"
            )
        super().__init__(**kwargs)
        if stateful:
            raise NotImplementedError(
                f"{type(self).__name__}: stateful=True is not supported by graphc; "
                "pass the state explicitly with initial_state= and return_state=True"
            )
        state_size = getattr(cell, "state_size", None)
        if not isinstance(state_size, (list, tuple, int, np.integer)):
            raise ValueError(
                "state_size must be an integer, or a list/tuple of integers "
                "(one for each state tensor)."
            )
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    @property
    def state_size(self):
        s = self.cell.state_size
        return list(s) if _is_nested(s) else [s]

    # ---- states --------------------------------------------------------------------
    def _template(self):
        if isinstance(self.cell, StackedRNNCells):
            return [_cell_template(c) for c in self.cell.cells]
        t = _cell_template(self.cell)
        return [t] if isinstance(t, _Leaf) else t

    def _initial_states(self, sequence):
        x0 = ops.take(sequence, np.array(0, dtype=np.int64), axis=1)
        custom = getattr(self.cell, "_initial_states", None)
        if custom is not None:  # ConvLSTM's cell: states shaped by its convolution
            return custom(x0)
        if isinstance(self.cell, StackedRNNCells):
            return [_cell_initial_state(c, x0) for c in self.cell.cells]
        state = _cell_initial_state(self.cell, x0)
        return state if _is_nested(state) else [state]

    # ---- calling -------------------------------------------------------------------
    def __call__(self, inputs, initial_state=None, **kwargs):
        if initial_state is not None:
            states = flatten_struct(initial_state)
            inputs = [inputs, *states]
        return super().__call__(inputs, **kwargs)

    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and not _is_shape_list(input_shape):
            input_shape = input_shape[0]
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ShapeError(
                f"{self.name} ({type(self).__name__}): expected an input of rank 3 or "
                f"more (batch, timesteps, ...), received input of shape "
                f"{format_shape(input_shape)}"
            )
        step_shape = (input_shape[0],) + input_shape[2:]
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build(step_shape)
            self.cell.built = True

    def compute_mask(self, inputs, mask):
        mask = flatten_struct(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_size]
        return output_mask

    def _fast_cells(self):
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]
        return cells if all(_builtin(c) for c in cells) else None

    def call(self, inputs, training=None, mask=None):
        mask = _time_mask(mask)
        states = None
        if isinstance(inputs, (list, tuple)):
            inputs, flat = inputs[0], list(inputs[1:])
            if flat:
                n = len(_flatten_template(self._template()))
                if len(flat) != n:
                    raise ValueError(
                        f"{self.name} ({type(self).__name__}): expected {n} initial state "
                        f"tensor(s) for cell {type(self.cell).__name__}, received {len(flat)}"
                    )
                states = _pack(self._template(), flat)[0]
        cells = self._fast_cells()
        if cells is not None:
            output, finals = self._run_builtin(cells, inputs, states, mask, training)
        else:
            output, finals = self._run_unrolled(inputs, states, mask, training)
        if self.return_state:
            return (output, *finals)
        return output

    def _run_builtin(self, cells, inputs, states, mask, training):
        stacked = isinstance(self.cell, StackedRNNCells)
        per_cell = states if stacked else [states]
        if states is None:
            per_cell = [None] * len(cells)
        seq, finals, outs = inputs, [], None
        cell_mask = mask
        for i, cell in enumerate(cells):
            last = i == len(cells) - 1
            st = per_cell[i]
            if st is not None and not _is_nested(st):
                st = [st]
            outs = cell._run_sequence(
                seq,
                st,
                cell_mask,
                training,
                self.go_backwards and i == 0,
                self.zero_output_for_mask and last,
            )
            finals.append(list(outs[1:]) if len(outs) > 2 else outs[1])
            seq = outs[0]
            if i == 0 and self.go_backwards and mask is not None:
                cell_mask = ops.flip(mask, axis=1)  # the later cells run in processing order
        if self.return_sequences:
            output = outs[0]
        elif mask is None:
            output = outs[1]  # the last output is the top cell's final state
        else:
            # Keras's last output: a masked end repeats an earlier output, or zeros.
            output = ops.take(outs[0], np.array(-1, dtype=np.int64), axis=1)
        if not stacked:
            return output, flatten_struct(finals[0])
        return output, finals

    def _run_unrolled(self, inputs, states, mask, training):
        steps = inputs.shape[1]
        if states is None:
            states = self._initial_states(inputs)
        kwargs = {}
        if _call_takes_training(self.cell):
            kwargs["training"] = training
        begin = getattr(self.cell, "_begin_sequence", None)
        if begin is not None:  # a cell drawing its dropout masks once per call
            begin(ops.take(inputs, np.array(0, dtype=np.int64), axis=1), training)
        try:
            if self._use_scan(inputs):
                result = self._scan(inputs, states, mask, kwargs)
                if result is not None:
                    return result
            return self._unroll(inputs, states, mask, kwargs, steps)
        finally:
            end = getattr(self.cell, "_end_sequence", None)
            if end is not None:
                end()

    #: Known lengths above this run as a scan too (unless ``unroll=True``): measured
    #: (benchmarks/bench_scan.py), a scan trains as fast as the unrolled graph from about
    #: 32 steps on and predicts faster at any length, and its graph does not grow.
    SCAN_ABOVE_STEPS = 32

    def _use_scan(self, inputs) -> bool:
        """One ``scan`` node (the step recorded once) when the number of time steps is
        unknown, or long and ``unroll`` is off; the unrolled graph otherwise (see the
        module docstring)."""
        if not is_symbolic(inputs):
            return False
        steps = inputs.shape[1]
        if steps is not None and self._cell_penalised():
            return False  # the penalties need each step's outputs in the graph
        return steps is None or (not self.unroll and steps > self.SCAN_ABOVE_STEPS)

    def _cell_penalised(self) -> bool:
        cell = self.cell
        return isinstance(cell, Layer) and any(
            getattr(layer, "activity_regularizer", None) is not None for layer in cell._all_layers()
        )

    def _refuse_penalties(self, what: str):
        raise NotImplementedError(
            f"{self.name} ({type(self).__name__}): the cell {type(self.cell).__name__} "
            f"{what}, which graphc cannot apply inside the loop it runs over sequences of "
            "unknown length; give the Input a fixed number of time steps (the cell is "
            "then unrolled), or remove it"
        )

    def _scan(self, inputs, states, mask, kwargs):
        """The cell's step recorded once as the body of a ``scan`` node (Keras's
        ``backend.rnn`` loop, ``unroll=False``), with the masking of ``_unroll``. None
        when the cell adds losses at each step over a known length (unroll it then)."""
        import graphc.backends.numpy  # noqa: F401  (the scan op runs its body with it)

        if self._cell_penalised():
            self._refuse_penalties("has an activity_regularizer")
        sublayers = self.cell._all_layers() if isinstance(self.cell, Layer) else []
        added = [len(layer.__dict__.get("_symbolic_losses", ())) for layer in sublayers]
        tr = BodyTrace(name="scan")
        flat = flatten_struct(states)
        carried = [tr.carry(s) for s in flat]
        x_t = tr.sequence(inputs)
        out, new = self.cell(x_t, _pack_like(states, carried), **kwargs)
        if added != [len(layer.__dict__.get("_symbolic_losses", ())) for layer in sublayers]:
            for layer, n in zip(sublayers, added):  # forget the step's losses
                del layer.__dict__["_symbolic_losses"][n:]
            if inputs.shape[1] is not None:
                return None  # unrolled instead: each step's loss joins the graph
            self._refuse_penalties("calls add_loss")
        if not _is_nested(new):
            new = [new]
        new_flat = flatten_struct(new)
        if len(new_flat) != len(flat):
            raise ValueError(
                f"{self.name} ({type(self).__name__}): the cell {type(self.cell).__name__} "
                f"returned {len(new_flat)} state tensor(s) for {len(flat)} initial ones"
            )
        x0 = ops.take(inputs, np.array(0, dtype=np.int64), axis=1)
        last = None  # the carry holding the latest output (Keras's last output)
        if mask is not None:
            m_t = tr.sequence(mask)
            keep = _bcast_mask(m_t, out)
            if self.zero_output_for_mask:
                out = ops.where(keep, out, ops.zeros_like(out))
            else:
                last = tr.carry(_batch_zeros(x0, out.shape[1:]))
                out = ops.where(keep, out, last)
            new_flat = [ops.where(_bcast_mask(m_t, n), n, o) for n, o in zip(new_flat, carried)]
        carries_out = list(new_flat)
        if last is None and not self.return_sequences:
            last = tr.carry(_batch_zeros(x0, out.shape[1:]))
        if last is not None:
            carries_out.append(out)
        finals, stacked = tr.finish(
            carries_out, [out] if self.return_sequences else [], reverse=self.go_backwards
        )
        output = stacked[0] if self.return_sequences else finals[len(flat)]
        states_out = _pack_like(new, finals[: len(flat)])
        return output, list(states_out) if _is_nested(states_out) else [states_out]

    def _unroll(self, inputs, states, mask, kwargs, steps):
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs, prev, out = [], None, None
        for t in order:
            idx = np.array(t, dtype=np.int64)
            x_t = ops.take(inputs, idx, axis=1)
            out, new = self.cell(x_t, states, **kwargs)
            if not _is_nested(new):
                new = [new]
            if mask is not None:
                m_t = ops.take(mask, idx, axis=1)
                keep = _bcast_mask(m_t, out)
                if self.zero_output_for_mask:
                    out = ops.where(keep, out, ops.zeros_like(out))
                else:
                    out = ops.where(keep, out, prev if prev is not None else ops.zeros_like(out))
                old_flat, new_flat = flatten_struct(states), flatten_struct(new)
                merged = [ops.where(_bcast_mask(m_t, n), n, o) for n, o in zip(new_flat, old_flat)]
                new = _pack_like(new, merged)
            prev = out
            outputs.append(out)
            states = new
        if self.return_sequences:
            output = ops.stack(outputs, axis=1)
        else:
            output = out
        return output, list(states) if _is_nested(states) else [states]

    def get_config(self):
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "cell": serialization.serialize(self.cell),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cell = config.pop("cell")
        if isinstance(cell, dict):
            cell = serialization.deserialize(cell, custom_objects)
        elif isinstance(cell, list):
            cell = [serialization.deserialize(c, custom_objects) for c in cell]
        return cls(cell, **config)


def _pack_like(struct, flat):
    it = iter(flat)

    def rebuild(s):
        if _is_nested(s):
            return [rebuild(x) for x in s]
        return next(it)

    return rebuild(struct)
