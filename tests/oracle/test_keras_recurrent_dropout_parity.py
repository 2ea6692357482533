"""Recurrent dropout against Keras 3 itself. The two libraries cannot draw the same random
masks, so: (a) inference (predict) after copying Keras's weights must agree, dropout being
off; (b) a training step with the SAME masks on both sides: Keras's cells get them through
their ``get_dropout_mask``/``get_recurrent_dropout_mask`` (patched on the instance; Keras's
RNN asks the cell for its masks once per call), graphc's ops draw them from a generator
that hands out the uniforms the masks were made from. The training-mode outputs and the
weight gradients of a loss must then agree, which checks where each mask goes (inputs or
state, one for all gates or one per gate, GRU's reset_after variants) and the
``1 / (1 - rate)`` scaling."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import torch  # noqa: E402
from oracle_harness import pair  # noqa: E402

from graphc.backends.numpy import Executor  # noqa: E402
from graphc.ops import ExecContext  # noqa: E402

N, T, F = 5, 6, 3
RNG = np.random.default_rng(0)
X = RNG.standard_normal((N, T, F)).astype("float32")

# name -> f(layers module) making the recurrent layer under test
LAYERS = {
    "simple_rnn": lambda L: L.SimpleRNN(
        4, dropout=0.3, recurrent_dropout=0.4, return_sequences=True
    ),
    "simple_rnn_backwards_recurrent": lambda L: L.SimpleRNN(
        4, recurrent_dropout=0.5, go_backwards=True
    ),
    "lstm_dropout_only": lambda L: L.LSTM(4, dropout=0.4, return_sequences=True),
    "lstm_both": lambda L: L.LSTM(4, dropout=0.3, recurrent_dropout=0.5),
    "lstm_recurrent_backwards": lambda L: L.LSTM(
        4, recurrent_dropout=0.25, go_backwards=True, return_sequences=True
    ),
    "gru_dropout_only": lambda L: L.GRU(4, dropout=0.4),
    "gru_both": lambda L: L.GRU(4, dropout=0.3, recurrent_dropout=0.5, return_sequences=True),
    "gru_reset_before_both": lambda L: L.GRU(
        4, reset_after=False, dropout=0.2, recurrent_dropout=0.5
    ),
    "gru_reset_before_dropout_only": lambda L: L.GRU(
        4, reset_after=False, dropout=0.5, return_sequences=True
    ),
    "bidirectional_lstm": lambda L: L.Bidirectional(L.LSTM(3, recurrent_dropout=0.5)),
    "bidirectional_gru_seq": lambda L: L.Bidirectional(
        L.GRU(3, dropout=0.3, recurrent_dropout=0.3, return_sequences=True)
    ),
}


def _model(lib, make):
    x = lib.Input(shape=(T, F))
    return lib.Model(x, lib.layers.Dense(2)(make(lib.layers)(x)))


def _cells(k):
    """Keras's recurrent cells in call order (a Bidirectional's forward layer first)."""
    out = []
    for layer in k.layers:
        if hasattr(layer, "forward_layer"):
            out += [layer.forward_layer.cell, layer.backward_layer.cell]
        elif hasattr(layer, "cell"):
            out.append(layer.cell)
    return out


class _Uniforms:
    """A stand-in generator for graphc's ops: hands out the given uniforms in order."""

    def __init__(self, arrays):
        self.arrays = list(arrays)

    def random(self, shape, dtype=np.float32):
        u = self.arrays.pop(0)
        assert u.shape == tuple(shape)
        return u.astype(dtype)


def _inject(cell, rng):
    """Patch ``cell`` to use fixed masks; returns the uniforms graphc must draw, in the
    order its op draws them (input mask, then recurrent mask)."""
    k = getattr(cell, "dropout_mask_count", None)
    uniforms = []

    def masks(rate, width):
        if not rate:
            return None
        u = rng.random((k or 1, N, width), dtype=np.float32)
        uniforms.append(u)
        m = [torch.tensor((ui >= rate) / (1 - rate), dtype=torch.float32) for ui in u]
        return m if k else m[0]

    dp = masks(cell.dropout, F)
    rec = masks(cell.recurrent_dropout, cell.units)
    cell.get_dropout_mask = lambda step_input: dp
    cell.get_recurrent_dropout_mask = lambda step_input: rec
    return uniforms


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_predictions_match(name):
    k, g = pair(lambda lib: _model(lib, LAYERS[name]), shapes=False)
    np.testing.assert_allclose(
        g.predict(X, verbose=0), k.predict(X, verbose=0), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_training_step_with_the_same_masks(name):
    k, g = pair(lambda lib: _model(lib, LAYERS[name]), shapes=False)
    rng = np.random.default_rng(1)
    uniforms = [u for cell in _cells(k) for u in _inject(cell, rng)]
    w = RNG.standard_normal((N,) + g.output_shape[1:]).astype("float32")

    # Keras: training-mode forward and the gradients of sum(y * w)
    y_k = k(torch.tensor(X), training=True)
    (y_k * torch.tensor(w)).sum().backward()
    grads_k = [v.value.grad.detach().cpu().numpy() for v in k.trainable_weights]

    # graphc: the same, its masks made from the same uniforms
    ex = Executor(g.graph, g.trainable_weights)
    ctx = ExecContext(training=True, rng=_Uniforms(uniforms))
    (y_g,), env = ex.forward([X], ctx, keep_for_backward=True)
    grads = {p: np.zeros(p.shape, "float32") for p in g.trainable_weights}
    ex.backward(env, [w], grads)

    y_k = y_k.detach().cpu().numpy()
    np.testing.assert_allclose(y_g, y_k, rtol=1e-4, atol=1e-5)
    assert not np.allclose(y_k, k.predict(X, verbose=0), atol=1e-3)  # the masks mattered
    assert [tuple(v.shape) for v in k.trainable_weights] == [p.shape for p in g.trainable_weights]
    for p, want in zip(g.trainable_weights, grads_k):
        np.testing.assert_allclose(grads[p], want, rtol=1e-4, atol=1e-5, err_msg=p.path)
