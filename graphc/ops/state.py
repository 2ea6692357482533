"""Variable updates recorded in a graph: ``Variable.assign`` inside a layer's ``call``.

Keras runs a layer's ``call`` each time the model runs, so ``self.count.assign_add(1)``
or ``self.mean.assign(0.9 * self.mean + 0.1 * ops.mean(x))`` takes effect on every call:
in ``fit``, ``evaluate``, ``predict`` and ``model(x)``. graphc records ``call`` once, so
an assign on a symbolic call becomes a node:

- ``assign(variable, value)``: a stateful op, as ``batch_norm`` is (its ``update_state``
  writes the value into the weight in place, right after the kernel, in the executor's
  order: the same mechanism as batch norm's moving statistics). Unlike batch norm it
  declares ``update_in_inference``: the update applies in every mode, as Keras's assign
  does (the layer decides through its own ``training`` argument). A node recorded in one
  mode's branch of a ``call`` (``attrs["phase"]``: ``"training"`` or ``"inference"``)
  updates in that mode only.
  Its output is the assigned value (Keras's ``assign`` returns it); its gradient goes to
  that value, never to the variable (the update itself is not differentiated).
- ``phase_select(inference, training)``: a user's layer whose ``call`` branches on
  ``training`` (``if training: self.mean.assign(...)``) is recorded once per mode
  (``Layer._record_both_modes``); the run's mode picks the output.
- ``after_updates(x, *updates)``: ``x``, once the update nodes ran. The layer whose call
  recorded assigns passes each of its outputs through it, so the updates are part of
  every graph that reads the layer's output, in the layer's place in the order.

The update is made in place where the node runs, so what reads the variable later in
the run sees the new value (as in Keras, where the assign runs at that point of ``call``).
A gradient whose VJP reads the variable through an op recorded *before* the assign
(``y = x * scale`` then ``scale.assign(...)``) is taken at the old value: the executor
keeps a copy for it (``Executor._plan_snapshots``; Keras's torch backend refuses that
graph, its other backends agree). Not for a trainable variable assigned in call: there
the gradient sees the new value.

ONNX graphs hold no variables: an ``assign`` left in the inference graph refuses to
lower (naming the layer and the variable) rather than export a model that silently
stops updating; a training-only assign leaves the inference graph with the training
branch (``passes/export/inference_mode.py``).
"""

from __future__ import annotations

import numpy as np

from graphc import recording
from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import shapes_compatible

__all__: list[str] = []


class Assign(Op):
    """Inputs ``(variable, value)``; output the value cast to the variable's dtype.
    ``update_state`` writes it into the variable."""

    name = "assign"
    vjp_reads_inputs = False
    update_in_inference = True

    def infer(self, attrs, var, value):
        if not shapes_compatible(var.shape, value.shape):
            raise ShapeError(
                "the shape of the target variable and the shape of the value in "
                f"`variable.assign(value)` must match: variable {format_shape(var.shape)}, "
                f"value {format_shape(value.shape)}"
            )
        return TensorType(var.shape, var.dtype)

    def kernel(self, attrs, var, value, *, ctx):
        value = np.asarray(value)
        if value.shape != var.shape:
            raise ValueError(
                "the shape of the target variable and the shape of the value in "
                f"`variable.assign(value)` must match: variable {format_shape(var.shape)}, "
                f"value {format_shape(value.shape)}"
            )
        return value.astype(var.dtype, copy=True)

    def update_state(self, attrs, xs, ys):
        xs[0][...] = ys[0]

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return None, (gys[0] if needs[1] else None)

    def lower(self, attrs, b, var, value):
        raise NotImplementedError(
            f"it assigns the variable {var!r} each time the model runs, and an ONNX graph "
            "holds no variables: the exported model would silently stop updating it. "
            "Assign it only in training (`if training: ...` in call) to export the "
            "inference graph, or export a model whose layers do not assign"
        )


class AfterUpdates(Op):
    """Inputs ``(x, *updates)``; output ``x``. Orders the update nodes before the
    layer's output and keeps them in every graph that reads it."""

    name = "after_updates"
    vjp_reads_inputs = False

    def infer(self, attrs, x, *updates):
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *updates, ctx):
        return x

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0] if needs[0] else None,) + (None,) * (len(xs) - 1)

    def lower(self, attrs, b, x, *updates):
        return b.op("Identity", x)


class PhaseSelect(Op):
    """Inputs ``(inference, training)``: the two recordings of a layer's call that
    branches on ``training``; output the one of the run's mode. ``training_only``: in
    inference it is its first input (the export keeps that branch and drops the other,
    with the updates recorded there)."""

    name = "phase_select"
    training_only = True
    vjp_reads_inputs = True
    vjp_reads_outputs = True

    def infer(self, attrs, inference, training):
        if not shapes_compatible(inference.shape, training.shape):
            raise ShapeError(
                "call() returned tensors of different shapes with training=False "
                f"({format_shape(inference.shape)}) and training=True "
                f"({format_shape(training.shape)}); graphc records both branches of a call "
                "that branches on `training`, so their shapes must agree"
            )
        return TensorType(inference.shape, inference.dtype)

    def kernel(self, attrs, inference, training, *, ctx):
        return training if ctx.training else inference

    def vjp(self, attrs, xs, ys, gys, needs, out):
        # the gradient goes to the branch the forward pass took
        if ys[0] is xs[1] and ys[0] is not xs[0]:
            return None, (gys[0] if needs[1] else None)
        return (gys[0] if needs[0] else None), None

    def lower(self, attrs, b, inference, training):
        return b.op("Identity", inference)


def assign(variable, value):
    """Record ``variable.assign(value)`` (see ``Assign``); returns the assigned value.
    Recorded in one mode's branch of a layer's call, it updates in that mode only."""
    phase = recording.current_phase()
    attrs = {"phase": phase} if phase else {}
    return apply("assign", [variable, value], **attrs)


def after_updates(x, updates):
    """``x``, once ``updates`` (outputs of ``assign`` nodes) ran."""
    return apply("after_updates", [x, *updates]) if updates else x
