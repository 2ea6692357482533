"""Differentiate a Python function of tensors by recording it with ``graphc.ops``.

Custom losses and custom regularizers are plain Python functions. To differentiate one,
graphc calls it once on symbolic stand-ins of its arguments (graph inputs,
``Value(kind="input")``), so that every ``graphc.ops`` call records a node exactly as in a
layer's ``call``; the recorded graph is compiled into an :class:`Executor`, whose backward
pass runs the ops' VJPs. This is the one way graphc differentiates code: model code,
losses and regularizers all go through the op registry's VJPs.

    from graphc.backends.numpy.trace import value_and_pullback

    def my_loss(y_true, y_pred):
        return ops.mean(ops.square(y_pred - y_true), axis=-1)

    values, pullback = value_and_pullback(my_loss, [y_true, y_pred], wrt=(1,),
                                          batched=(0, 1))
    (d_y_pred,) = pullback(np.ones_like(values))   # d sum(values) / d y_pred

A recording is kept per owner (the function, or the object passed as ``owner``) and per
signature: the arguments' dtypes and shapes, the batch dimension of the ``batched``
arguments left symbolic so that a smaller last batch reuses it. A function that needs its
batch size as a number is recorded again per size. As with ``tf.function``, Python values
the function reads (an attribute such as ``self.scale``) are frozen into the recording.

A function that cannot be recorded (it calls NumPy on the symbolic tensor, say) raises
:class:`graphc.errors.TraceError`, naming what failed and how to fix it.
"""

from __future__ import annotations

import weakref

import numpy as np

from graphc import ops
from graphc.backends.numpy.executor import Executor
from graphc.errors import GraphcError, TraceError
from graphc.ir import Graph, Value, format_shape
from graphc.recording import ExecContext, scope

__all__ = ["TracedFunction", "trace", "value_and_pullback", "clear_cache"]


class _Scope:
    """The stand-in layer the ops of a traced function are recorded under: nodes and
    error messages say ``loss (log)`` or ``regularizer (sum)``."""

    trainable = True

    def __init__(self, name: str):
        self.name = name


class TracedFunction:
    """One recording of a function: its graph inputs and the executor over its graph.

    ``run(args)`` returns ``(value, pullback)``; ``pullback(output_grad)`` returns the
    gradients of ``sum(value * output_grad)`` with respect to the ``wrt`` arguments, one
    array each, in the arguments' shapes and dtypes. A pullback may be called once (the
    backward pass frees the activations as it goes).
    """

    __slots__ = ("inputs", "wrt", "executor", "constant")

    def __init__(self, inputs, wrt, executor, constant):
        self.inputs, self.wrt = inputs, wrt
        self.executor = executor  # None: the output does not depend on the arguments
        self.constant = constant

    def run(self, args):
        args = [np.asarray(a) for a in args]
        if self.executor is None:
            value = np.array(self.constant)

            def zero_pullback(output_grad):
                return [np.zeros_like(args[i]) for i in self.wrt]

            return value, zero_pullback
        outputs, env = self.executor.forward(
            args, ExecContext(training=False), keep_for_backward=True
        )
        value = outputs[0]

        def pullback(output_grad):
            grads = {self.inputs[i]: np.zeros_like(args[i]) for i in self.wrt}
            g = np.asarray(output_grad, dtype=value.dtype)
            if g.shape != value.shape:
                g = np.array(np.broadcast_to(g, value.shape))
            self.executor.backward(env, [g], grads)
            return [grads[self.inputs[i]] for i in self.wrt]

        return value, pullback


# owner -> {signature: TracedFunction, or None for "the symbolic-batch recording failed"}
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_STRONG: dict = {}  # id(owner) -> (owner, table), for owners that take no weak reference


def clear_cache() -> None:
    """Forget every recording (they are otherwise kept as long as their owner lives)."""
    _CACHE.clear()
    _STRONG.clear()


def _table(owner) -> dict:
    try:
        return _CACHE.setdefault(owner, {})
    except TypeError:  # no weak reference (a builtin, a __slots__ callable) or unhashable
        entry = _STRONG.get(id(owner))
        if entry is None or entry[0] is not owner:
            entry = _STRONG[id(owner)] = (owner, {})
        return entry[1]


def _signature(args, batched, symbolic: bool) -> tuple:
    sig = []
    for i, a in enumerate(args):
        shape = tuple(a.shape)
        if symbolic and i in batched and shape:
            shape = (None,) + shape[1:]
        sig.append((shape, str(a.dtype)))
    return tuple(sig)


def _batch_is_shared(args, batched) -> bool:
    """The batched arguments share one leading dimension (else it stays concrete, so
    that a mismatch surfaces as the shape error it is)."""
    firsts = {args[i].shape[0] for i in batched if i < len(args) and args[i].ndim}
    return len(firsts) == 1


def trace(
    fn, args, *, wrt=(), batched=(), owner=None, what="function", names=None, label=None, advice=""
) -> TracedFunction:
    """The recording of ``fn(*args)`` (made on first use, then cached; see the module
    docstring). ``wrt`` are the positions of the arguments to differentiate, ``batched``
    those whose first dimension is the batch. ``what`` names the function in errors and
    nodes (``"loss"``), ``label`` in errors (default: ``fn``'s name); ``names`` names the
    graph inputs; ``advice`` ends the error message of a function that cannot be
    recorded."""
    args = [np.asarray(a) for a in args]
    wrt, batched = tuple(wrt), tuple(batched)
    table = _table(fn if owner is None else owner)
    symbolic = bool(batched) and _batch_is_shared(args, batched)
    keys = []
    if symbolic:
        keys.append((wrt, _signature(args, batched, True)))
    keys.append((wrt, _signature(args, batched, False)))
    for key in keys:
        if key not in table:
            try:
                table[key] = _record(fn, key[1], wrt, what, names, label or _describe(fn), advice)
            except Exception:
                if key is keys[-1]:
                    raise
                # The function needs a concrete batch size: record per size instead.
                table[key] = None
        if table[key] is not None:
            return table[key]
    raise AssertionError("unreachable: the concrete signature is always recorded")


def value_and_pullback(fn, args, **kwargs):
    """``trace(fn, args, **kwargs).run(args)``: the value of ``fn(*args)`` and its
    pullback (see :class:`TracedFunction`)."""
    return trace(fn, args, **kwargs).run(args)


def _record(fn, signature, wrt, what, names, label, advice) -> TracedFunction:
    names = list(names or [f"arg{i}" for i in range(len(signature))])
    inputs = [
        Value(shape, dtype, kind="input", name=f"{what}/{name}")
        for (shape, dtype), name in zip(signature, names)
    ]
    stand_in = _Scope(what)
    received = ", ".join(f"{format_shape(s)} {d}" for s, d in signature)
    with scope(stand_in, -1):
        try:
            out = fn(*inputs)
        except GraphcError:
            raise  # a shape or dtype error of graphc's own ops: the user's to fix as is
        except Exception as e:
            raise TraceError(
                f"The {what} {label} could not be differentiated: called on "
                f"symbolic tensors ({received}) it raised {type(e).__name__}: {e}. It must "
                f"be written with graphc.ops, not NumPy. {advice}".rstrip()
            ) from e
        if isinstance(out, Value) and out.kind == "input":
            out = ops.identity(out)  # an argument returned as is: give it a node
    if isinstance(out, Value) and out.producer is not None:
        graph = Graph.from_outputs(inputs, [out], name=what)
        executor = Executor(graph, trainable=[inputs[i] for i in wrt])
        return TracedFunction(inputs, wrt, executor, None)
    constant = out.data if isinstance(out, Value) else out
    arr = np.asarray(constant) if not isinstance(constant, (list, tuple)) else None
    if arr is None or arr.dtype == object:
        raise TraceError(
            f"The {what} {label} could not be differentiated: called on symbolic "
            f"tensors ({received}) it returned {type(out).__name__} {out!r:.80}, not a "
            f"tensor made by graphc.ops (a NumPy call on a symbolic tensor gives such "
            f"objects). {advice}".rstrip()
        )
    return TracedFunction(inputs, wrt, None, arr)  # independent of the arguments


def _describe(fn) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return repr(name) if name else repr(fn)
