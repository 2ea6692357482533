"""ConvLSTM1D/2D/3D against Keras 3: Keras's weights copied, the same predictions, a short
fit, masks, states, configs, ONNX (the unrolled graph in onnxruntime; ONNX Scan on
sequences of unknown length) and .keras files."""

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

RNG = np.random.default_rng(0)

CASES = {
    "1d_same_seq": (lambda L: L.ConvLSTM1D(3, 3, padding="same", return_sequences=True), (4, 7, 2)),
    "1d_dilated_backwards": (
        lambda L: L.ConvLSTM1D(2, 2, dilation_rate=2, go_backwards=True),
        (3, 7, 2),
    ),
    "2d_strided_last": (lambda L: L.ConvLSTM2D(3, (3, 2), strides=2), (3, 6, 5, 2)),
    "2d_relu_no_bias_seq": (
        lambda L: L.ConvLSTM2D(
            2, 3, padding="same", activation="relu", use_bias=False, return_sequences=True
        ),
        (3, 5, 4, 1),
    ),
    "3d_valid": (lambda L: L.ConvLSTM3D(2, 2), (3, 4, 4, 3, 2)),
}


def model_of(name):
    make, shape = CASES[name]

    def build(lib):
        x = lib.Input(shape)
        y = make(lib.layers)(x)
        y = lib.layers.Flatten()(y)
        return lib.Model(x, lib.layers.Dense(2)(y))

    return build, shape


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_conv_lstm_predicts_and_trains_like_keras(name):
    build, shape = model_of(name)
    k, g = pair(build)
    assert [w.name for w in k.weights] == ["kernel", "recurrent_kernel", "bias"][
        : len(k.weights) - 2
    ] + ["kernel", "bias"]
    x = RNG.standard_normal((8,) + shape).astype("float32")
    y = RNG.standard_normal((8, 2)).astype("float32")
    assert_same_predictions(k, g, x)
    compile_both(k, g, lambda lib: lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(k, g, x, y, epochs=2, batch_size=4)
    assert_onnx_matches(g, [x[:2]])


def test_conv_lstm_states_and_initial_state_match_keras():
    def build(lib):
        x = lib.Input((3, 5, 2))
        h0 = lib.Input((5, 4))
        c0 = lib.Input((5, 4))
        outs = lib.layers.ConvLSTM1D(4, 3, padding="same", return_state=True)(
            x, initial_state=[h0, c0]
        )
        return lib.Model([x, h0, c0], list(outs))

    k, g = pair(build)
    data = [RNG.standard_normal((4,) + s).astype("float32") for s in ((3, 5, 2), (5, 4), (5, 4))]
    assert_same_predictions(k, g, data)


def test_conv_lstm_masks_as_keras():
    def build(lib):
        x = lib.Input((4, 5, 2))
        mask = lib.Input((4,), dtype="bool")
        y = lib.layers.ConvLSTM1D(3, 2, return_sequences=True)(x, mask=mask)
        return lib.Model([x, mask], y)

    k, g = pair(build)
    x = RNG.standard_normal((5, 4, 5, 2)).astype("float32")
    mask = np.ones((5, 4), bool)
    mask[0, 2:] = False
    mask[1, :1] = False
    mask[2] = False
    assert_same_predictions(k, g, [x, mask])


def test_conv_lstm_config_matches_keras():
    for cls, kw in (("ConvLSTM1D", {}), ("ConvLSTM2D", {"strides": 2}), ("ConvLSTM3D", {})):
        kl = getattr(keras.layers, cls)(4, 3, dropout=0.2, **kw)
        gl = getattr(graphc.layers, cls)(4, 3, dropout=0.2, **kw)
        kc, gc = kl.get_config(), gl.get_config()
        assert set(gc) == set(kc), set(gc) ^ set(kc)
        for key in ("filters", "kernel_size", "strides", "padding", "dilation_rate", "dropout"):
            assert tuple(np.atleast_1d(gc[key])) == tuple(np.atleast_1d(kc[key])), key
        again = getattr(graphc.layers, cls).from_config(gc)
        assert again.get_config() == gc
        # and Keras reads graphc's config
        getattr(keras.layers, cls).from_config(gc)


@pytest.mark.slow
def test_conv_lstm_keras_file_round_trip(tmp_path):
    build, shape = model_of("2d_strided_last")
    k, g = pair(build)
    x = RNG.standard_normal((3,) + shape).astype("float32")
    path = str(tmp_path / "g.keras")
    g.save(path)
    back = keras.saving.load_model(path)
    np.testing.assert_allclose(back.predict(x, verbose=0), g.predict(x, verbose=0), atol=1e-5)
    path2 = str(tmp_path / "k.keras")
    k.save(path2)
    again = graphc.saving.load_model(path2)
    np.testing.assert_allclose(again.predict(x, verbose=0), k.predict(x, verbose=0), atol=1e-5)


def test_conv_lstm_dropout_trains_and_is_off_in_inference():
    x = RNG.standard_normal((4, 3, 5, 2)).astype("float32")
    m = graphc.Sequential(
        [
            graphc.Input((3, 5, 2)),
            graphc.layers.ConvLSTM1D(3, 3, dropout=0.3, recurrent_dropout=0.3),
            graphc.layers.Flatten(),
            graphc.layers.Dense(1),
        ]
    )
    m.compile("adam", "mse")
    m.fit(x, np.ones((4, 1), "float32"), epochs=1, verbose=0)
    a = m.predict(x, verbose=0)
    np.testing.assert_array_equal(a, m.predict(x, verbose=0))
    assert not np.allclose(np.asarray(m(x, training=True)), a)


def test_bidirectional_conv_lstm_matches_keras():
    def build(lib):
        x = lib.Input((3, 5, 2))
        y = lib.layers.Bidirectional(lib.layers.ConvLSTM1D(2, 2, return_sequences=True))(x)
        return lib.Model(x, y)

    k, g = pair(build)
    assert_same_predictions(k, g, RNG.standard_normal((4, 3, 5, 2)).astype("float32"))


@pytest.mark.slow
def test_channels_first_matches_keras_and_exports():
    def build(lib):
        x = lib.Input((3, 2, 6, 5))
        y = lib.layers.ConvLSTM2D(
            3, 3, padding="same", data_format="channels_first", return_sequences=True
        )(x)
        return lib.Model(x, y)

    k, g = pair(build)
    x = RNG.standard_normal((4, 3, 2, 6, 5)).astype("float32")
    assert_same_predictions(k, g, x)
    assert_onnx_matches(g, [x[:2]])


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["ConvLSTM1D", "ConvLSTM2D"])
def test_unknown_length_predicts_and_trains_like_keras(cls):
    """Input((None, ...)): graphc records the cell's step once, as a scan node."""
    spatial = (5, 2) if cls == "ConvLSTM1D" else (4, 4, 1)

    def build(lib):
        x = lib.Input((None, *spatial))
        y = getattr(lib.layers, cls)(2, 3, padding="same", go_backwards=True)(x)
        return lib.Model(x, lib.layers.Dense(2)(lib.layers.Flatten()(y)))

    k, g = pair(build)
    assert "scan" in [n.op for n in g.graph.nodes]
    x = RNG.standard_normal((8, 4, *spatial)).astype("float32")
    y = RNG.standard_normal((8, 2)).astype("float32")
    assert_same_predictions(k, g, x, rtol=1e-5, atol=1e-5)
    assert_same_predictions(k, g, x[:, :2], rtol=1e-5, atol=1e-5)
    compile_both(k, g, lambda lib: lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(k, g, x, y, epochs=2, batch_size=4)
    assert_onnx_matches(g, [x[:2], x[:3, :3]])
