"""Op specs for graphc/ops/control_flow.py: ``scan`` over a traced body (a tanh RNN step,
N=2, T=3, F=3, U=4), forwards; and backwards with a boolean mask sequence, two carries
and two stacked outputs (Keras's masked step: a masked step keeps the state and repeats
the previous output). The ``keras.ops.scan`` layout (``axis=0``: time leading, outputs
stacked in the sequences' order under ``reverse``) over the same step, forwards and
backwards. ``while`` (``keras.ops.while_loop`` on a symbolic condition): a tanh step with
a step counter, stopped by the condition or by ``maximum_iterations``."""

import numpy as np

import graphc.backends.numpy  # noqa: F401  (the scan op runs its body with the executor)
import graphc.layers  # noqa: F401  (ops on symbolic tensors outside a layer need OpLayer)
from graphc import ops
from graphc.ir import Parameter, Value
from graphc.ops.control_flow import BodyTrace

N, T, F, U = 2, 3, 3, 4


def _weights(rng, dtype):
    return (
        rng.uniform(-1, 1, (F, U)).astype(dtype),
        rng.uniform(-0.5, 0.5, (U, U)).astype(dtype),
    )


def _rnn_attrs(masked: bool, reverse: bool) -> dict:
    w = Parameter(np.zeros((F, U), "float32"), "w")
    u = Parameter(np.zeros((U, U), "float32"), "u")
    seq = Value((None, None, F), "float32", kind="input", name="seq")
    h0 = Value((None, U), "float32", kind="input", name="h0")
    tr = BodyTrace()
    h = tr.carry(h0)
    x = tr.sequence(seq)
    h_new = ops.tanh(ops.add(ops.matmul(x, w), ops.matmul(h, u)))
    if not masked:
        (final,), _ = tr.finish([h_new], [h_new], reverse=reverse)
    else:
        mask = Value((None, None), "bool", kind="input", name="mask")
        prev = tr.carry(h0)
        m = ops.expand_dims(tr.sequence(mask), -1)
        out = ops.where(m, h_new, prev)
        h_kept = ops.where(m, h_new, h)
        (final, _), _ = tr.finish([h_kept, out], [out, ops.multiply(out, 2.0)], reverse=reverse)
    return final.producer.attrs


def _leading_attrs(reverse: bool) -> dict:
    """``graphc.ops.scan``'s node: sequences ``(time, batch, F)``, two stacked outputs."""
    w = Parameter(np.zeros((F, U), "float32"), "w")
    u = Parameter(np.zeros((U, U), "float32"), "u")
    seq = Value((None, None, F), "float32", kind="input", name="seq")
    h0 = Value((None, U), "float32", kind="input", name="h0")
    tr = BodyTrace(axis=0)
    h = tr.carry(h0)
    x = tr.sequence(seq)
    h_new = ops.tanh(ops.add(ops.matmul(x, w), ops.matmul(h, u)))
    (final,), _ = tr.finish([h_new], [h_new, ops.square(x)], reverse=reverse, index_order=True)
    return final.producer.attrs


def _leading(rng, dtype):
    w, u = _weights(rng, dtype)
    h0 = rng.uniform(-1, 1, (N, U)).astype(dtype)
    seq = rng.uniform(-1, 1, (T, N, F)).astype(dtype)
    return [h0, seq, w, u]


def _while_attrs(maximum_iterations) -> dict:
    u = Parameter(np.zeros((U, U), "float32"), "u")
    h0 = Value((None, U), "float32", kind="input", name="h0")
    k0 = Value((), "int32", kind="input", name="k0")
    tr = BodyTrace(axis=0)
    h, k = tr.carry(h0), tr.carry(k0)
    h_new = ops.tanh(ops.add(ops.matmul(h, u), ops.multiply(h, 0.5)))
    k_new = ops.add(k, np.array(1, "int32"))
    go = ops.less(k_new, np.array(3, "int32"))
    cond0 = Value((), "bool", kind="input", name="cond0")
    (final, _) = tr.finish_while([h_new, k_new], go, cond0, maximum_iterations)
    return final.producer.attrs


def _while_inputs(rng, dtype):
    h0 = rng.uniform(-1, 1, (N, U)).astype(dtype)
    u = rng.uniform(-0.5, 0.5, (U, U)).astype(dtype)
    return [h0, np.array(0, "int32"), np.array(True), u]


def _plain(rng, dtype):
    w, u = _weights(rng, dtype)
    h0 = rng.uniform(-1, 1, (N, U)).astype(dtype)
    seq = rng.uniform(-1, 1, (N, T, F)).astype(dtype)
    return [h0, seq, w, u]


def _masked(rng, dtype):
    w, u = _weights(rng, dtype)
    h0 = rng.uniform(-1, 1, (N, U)).astype(dtype)
    prev = np.zeros((N, U), dtype)
    seq = rng.uniform(-1, 1, (N, T, F)).astype(dtype)
    mask = np.array([[1, 0, 1], [0, 1, 1]], bool)
    return [h0, prev, seq, mask, w, u]


SPECS = {
    "scan": [
        (
            _rnn_attrs(masked=False, reverse=False),
            [],
            (-1, 1),
            {"make": _plain, "batched_inputs": (0, 1)},
        ),
        (
            _rnn_attrs(masked=True, reverse=True),
            [],
            (-1, 1),
            {"make": _masked, "batched_inputs": (0, 1, 2, 3), "no_grad": (3,)},
        ),
        (
            _leading_attrs(reverse=False),
            [],
            (-1, 1),
            {"make": _leading, "batched_inputs": (0,)},
        ),
        (
            _leading_attrs(reverse=True),
            [],
            (-1, 1),
            {"make": _leading, "batched_inputs": (0,)},
        ),
    ],
    "while": [
        (
            _while_attrs(None),
            [],
            (-1, 1),
            {"make": _while_inputs, "batched_inputs": (0,), "no_grad": (1, 2)},
        ),
        (
            _while_attrs(2),
            [],
            (-1, 1),
            {"make": _while_inputs, "batched_inputs": (0,), "no_grad": (1, 2)},
        ),
    ],
}
