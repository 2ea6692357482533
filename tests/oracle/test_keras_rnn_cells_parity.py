"""keras.layers.RNN with SimpleRNNCell/LSTMCell/GRUCell, StackedRNNCells and user-written
cells against Keras 3: Keras's weights copied, the same predictions, a short fit, masks,
initial and returned states, configs, ONNX, and the .keras round trip."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import (  # noqa: E402
    assert_onnx_matches,
    assert_same_predictions,
    assert_trains_alike,
    compile_both,
    pair,
)

import graphc  # noqa: E402

N, T, F = 16, 5, 3
RNG = np.random.default_rng(0)
X = RNG.standard_normal((N, T, F)).astype("float32")
Y_SEQ = np.tanh(np.cumsum(X[..., :2], axis=1) / 2).astype("float32")


def minimal_cell(lib):
    """The keras.io "Working with RNNs" MinimalRNNCell, for either library."""

    class MinimalRNNCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(
                shape=(input_shape[-1], self.units), initializer="uniform", name="kernel"
            )
            self.recurrent_kernel = self.add_weight(
                shape=(self.units, self.units), initializer="uniform", name="recurrent_kernel"
            )

        def call(self, inputs, states):
            prev_output = states[0]
            h = lib.ops.matmul(inputs, self.kernel)
            output = lib.ops.tanh(h + lib.ops.matmul(prev_output, self.recurrent_kernel))
            return output, [output]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return MinimalRNNCell


def two_state_cell(lib):
    """A user cell with two states of different sizes (a running sum and a gated state)."""

    class TwoStateCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, 2]
            self.output_size = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
            self.u = self.add_weight(shape=(2, self.units), name="u")

        def call(self, inputs, states):
            h, s = states
            out = lib.ops.sigmoid(lib.ops.matmul(inputs, self.w) + lib.ops.matmul(s, self.u))
            out = out * h + out
            s = s + inputs[:, :2]
            return out, [out, s]

    return TwoStateCell


CASES = {
    "lstm_cell_last": lambda L: L.RNN(L.LSTMCell(4)),
    "lstm_cell_seq_backwards": lambda L: L.RNN(
        L.LSTMCell(4), return_sequences=True, go_backwards=True
    ),
    "gru_cell_seq": lambda L: L.RNN(L.GRUCell(4), return_sequences=True),
    "gru_cell_reset_before": lambda L: L.RNN(L.GRUCell(4, reset_after=False)),
    "simple_cell_seq": lambda L: L.RNN(L.SimpleRNNCell(4), return_sequences=True),
    "stacked_list": lambda L: L.RNN([L.LSTMCell(4), L.GRUCell(3)], return_sequences=True),
    "stacked_backwards_last": lambda L: L.RNN(
        L.StackedRNNCells([L.SimpleRNNCell(4), L.LSTMCell(3)]), go_backwards=True
    ),
}


def model_of(make, T=T, F=F, dense=True):
    def build(lib):
        x = lib.Input((T, F))
        y = make(lib)(x)
        if dense:
            y = lib.layers.Dense(2)(y)
        return lib.Model(x, y)

    return build


def _target(model):
    return Y_SEQ if len(model.output.shape) == 3 else Y_SEQ[:, -1]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_builtin_cells_predict_and_train_like_keras(name):
    k, g = pair(model_of(lambda lib: CASES[name](lib.layers)))
    assert [w.name for w in k.weights] == [w.path.split("/")[-1] for w in g.weights]
    assert_same_predictions(k, g, X)
    compile_both(k, g, lambda lib: lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(k, g, X, _target(k), epochs=2, batch_size=8)
    assert_onnx_matches(g, [X[:3]])


def test_rnn_lstm_cell_holds_the_lstm_layers_weights():
    k, g = pair(model_of(lambda lib: lib.layers.RNN(lib.layers.LSTMCell(4))))
    ref = graphc.Sequential([graphc.Input((T, F)), graphc.layers.LSTM(4), graphc.layers.Dense(2)])
    ref.set_weights(g.get_weights())
    np.testing.assert_allclose(ref.predict(X, verbose=0), g.predict(X, verbose=0), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["minimal", "two_state", "stack_mixed"])
def test_user_cells_predict_and_train_like_keras(cell):
    def make(lib):
        if cell == "minimal":
            return lib.layers.RNN(minimal_cell(lib)(4), return_sequences=True)
        if cell == "two_state":
            return lib.layers.RNN(two_state_cell(lib)(3), go_backwards=True)
        return lib.layers.RNN([minimal_cell(lib)(4), lib.layers.GRUCell(3)])

    k, g = pair(model_of(make))
    assert_same_predictions(k, g, X)
    compile_both(k, g, lambda lib: lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(k, g, X, _target(k), epochs=2, batch_size=8)
    assert_onnx_matches(g, [X[:3]])


def _masked_inputs():
    ids = RNG.integers(1, 9, size=(N, T))
    ids[:4, 3:] = 0  # padded ends
    ids[4:6, :2] = 0  # padded starts
    ids[6, :] = 0  # a fully padded row
    return ids.astype("int32")


@pytest.mark.parametrize(
    "cell,seq,zero",
    [
        ("lstm", False, False),
        ("lstm", True, True),
        ("stack", True, False),
        ("stack_backwards", False, False),
        ("stack_backwards", True, True),
        ("minimal", False, False),
        ("minimal", True, True),
        ("minimal_backwards", True, False),
    ],
)
def test_masks_as_keras(cell, seq, zero):
    def build(lib):
        L = lib.layers
        x = lib.Input((T,), dtype="int32")
        e = L.Embedding(10, 3, mask_zero=True)(x)
        c = {
            "lstm": lambda: L.LSTMCell(4),
            "stack": lambda: [L.GRUCell(4), L.SimpleRNNCell(3)],
            "stack_backwards": lambda: [L.LSTMCell(4), L.GRUCell(3)],
            "minimal": lambda: minimal_cell(lib)(4),
            "minimal_backwards": lambda: minimal_cell(lib)(4),
        }[cell]()
        y = L.RNN(
            c,
            return_sequences=seq,
            zero_output_for_mask=zero,
            go_backwards=cell.endswith("backwards"),
        )(e)
        return lib.Model(x, y)

    k, g = pair(build)
    assert_same_predictions(k, g, _masked_inputs())


@pytest.mark.parametrize("kind", ["lstm", "stack", "minimal"])
def test_initial_and_returned_states_match_keras(kind):
    def build(lib):
        L = lib.layers
        x = lib.Input((T, F))
        if kind == "lstm":
            h0 = lib.Input((4,))
            c0 = lib.Input((4,))
            outs = L.RNN(L.LSTMCell(4), return_state=True)(x, initial_state=[h0, c0])
            return lib.Model([x, h0, c0], list(outs))
        if kind == "stack":
            outs = L.RNN([L.LSTMCell(4), L.GRUCell(3)], return_state=True)(x)
            flat = [outs[0], *outs[1], outs[2]]
            return lib.Model(x, flat)
        h0 = lib.Input((4,))
        outs = L.RNN(minimal_cell(lib)(4), return_state=True)(x, initial_state=[h0])
        return lib.Model([x, h0], list(outs))

    k, g = pair(build)
    data = [X] + [RNG.standard_normal((N, 4)).astype("float32") for _ in k.inputs[1:]]
    assert_same_predictions(k, g, data if len(data) > 1 else X)


def test_configs_round_trip_and_match_keras_keys():
    for make in (
        lambda L: L.RNN(L.LSTMCell(4, dropout=0.1), return_sequences=True),
        lambda L: L.RNN([L.GRUCell(3), L.SimpleRNNCell(2)]),
    ):
        kl, gl = make(keras.layers), make(graphc.layers)
        kc, gc = kl.get_config(), gl.get_config()
        assert set(gc) == set(kc)
        kcell, gcell = kc["cell"]["config"], gc["cell"]["config"]
        assert set(gcell) == set(kcell)
        again = graphc.layers.RNN.from_config(gc)
        assert again.get_config()["cell"] == gc["cell"]
    for cls in ("SimpleRNNCell", "LSTMCell", "GRUCell"):
        kc = getattr(keras.layers, cls)(3).get_config()
        gc = getattr(graphc.layers, cls)(3).get_config()
        assert set(gc) == set(kc), cls
        assert type(getattr(graphc.layers, cls).from_config(gc)).__name__ == cls


def test_keras_file_round_trip(tmp_path):
    k, g = pair(model_of(lambda lib: lib.layers.RNN(lib.layers.LSTMCell(4))))
    path = str(tmp_path / "rnn.keras")
    g.save(path)
    back = keras.saving.load_model(path)
    np.testing.assert_allclose(back.predict(X, verbose=0), g.predict(X, verbose=0), atol=1e-5)
    path2 = str(tmp_path / "rnn_keras.keras")
    k.save(path2)
    again = graphc.saving.load_model(path2)
    np.testing.assert_allclose(again.predict(X, verbose=0), k.predict(X, verbose=0), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["minimal", "two_state_backwards", "stack_mixed"])
def test_user_cells_on_unknown_length_predict_and_train_like_keras(cell):
    """Input((None, F)): graphc records the cell's step once, as a scan node."""

    def build(lib):
        L = lib.layers
        x = lib.Input((None, F))
        if cell == "minimal":
            y = L.RNN(minimal_cell(lib)(4), return_sequences=True)(x)
        elif cell == "two_state_backwards":
            y = L.RNN(two_state_cell(lib)(3), go_backwards=True)(x)
        else:
            y = L.RNN([minimal_cell(lib)(4), L.GRUCell(3)], return_sequences=True)(x)
        return lib.Model(x, L.Dense(2)(y))

    k, g = pair(build)
    assert "scan" in [n.op for n in g.graph.nodes]
    assert_same_predictions(k, g, X, rtol=1e-5, atol=1e-5)
    assert_same_predictions(k, g, X[:, :2], rtol=1e-5, atol=1e-5)  # another length
    compile_both(k, g, lambda lib: lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(k, g, X, _target(k), epochs=2, batch_size=8)
    assert_onnx_matches(g, [X[:3], X[:2, :3]])


def test_user_cell_with_mask_on_unknown_length_as_keras():
    def build(lib):
        L = lib.layers
        x = lib.Input((None,), dtype="int32")
        e = L.Embedding(10, 3, mask_zero=True)(x)
        y = L.RNN(minimal_cell(lib)(4), return_sequences=True, go_backwards=True)(e)
        return lib.Model(x, L.Dense(2)(y))

    k, g = pair(build)
    ids = _masked_inputs()
    assert_same_predictions(k, g, ids, rtol=1e-5, atol=1e-5)
    compile_both(k, g, lambda lib: lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(k, g, ids, Y_SEQ, epochs=2, batch_size=8)


def test_builtin_cells_with_unknown_length_export():
    def build(lib):
        x = lib.Input((None, F))
        return lib.Model(x, lib.layers.RNN(lib.layers.GRUCell(3))(x))

    k, g = pair(build)
    assert_same_predictions(k, g, X)
    assert_onnx_matches(g, [X[:2], X[:3, :2]])


def test_cell_called_directly_is_one_step():
    kc, gc = keras.layers.LSTMCell(3), graphc.layers.LSTMCell(3)
    x = X[:, 0]
    h = [np.zeros((N, 3), "float32")] * 2
    ko, ks = kc(x, h)
    gc(x, h)
    gc.set_weights([np.asarray(w) for w in kc.get_weights()])
    go, gs = gc(x, h)
    np.testing.assert_allclose(np.asarray(go), keras.ops.convert_to_numpy(ko), atol=1e-6)
    np.testing.assert_allclose(np.asarray(gs[1]), keras.ops.convert_to_numpy(ks[1]), atol=1e-6)


@pytest.mark.slow
def test_stacked_cells_and_bidirectional_rnn_keras_files(tmp_path):
    def build(lib):
        L = lib.layers
        x = lib.Input((T, F))
        y = L.RNN([L.LSTMCell(4), L.LSTMCell(3), L.GRUCell(2)])(x)
        z = L.Bidirectional(L.RNN(L.GRUCell(2), return_sequences=True))(x)
        return lib.Model(x, [y, z])

    k, g = pair(build)
    assert_same_predictions(k, g, X)
    path = str(tmp_path / "g.keras")
    g.save(path)
    back = keras.saving.load_model(path)
    for a, b in zip(back.predict(X, verbose=0), g.predict(X, verbose=0)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    path2 = str(tmp_path / "k.keras")
    k.save(path2)
    again = graphc.saving.load_model(path2)
    for a, b in zip(again.predict(X, verbose=0), k.predict(X, verbose=0)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_user_cell_get_initial_state_as_keras():
    def build(lib):
        base = minimal_cell(lib)

        class OnesStart(base):
            def get_initial_state(self, batch_size=None):
                return [lib.ops.ones((batch_size, self.units)) * 0.5]

        x = lib.Input((T, F))
        return lib.Model(x, lib.layers.RNN(OnesStart(4), return_sequences=True)(x))

    k, g = pair(build)
    assert_same_predictions(k, g, X)
