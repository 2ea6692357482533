"""BatchNormalization against Keras 3 itself: same builder code, weights copied; outputs,
training losses, weights and moving statistics agree, frozen or not."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
# slow: the tests here train models, most in both libraries (Keras on torch steps slowly)
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

from oracle_harness import assert_trains_alike, compile_both, pair  # noqa: E402


def mlp_bn(lib):
    # No bias before a batch norm in training mode: its gradient is zero up to rounding,
    # so Adam's normalised steps would turn float noise into differences between libraries.
    inp = lib.Input(shape=(8,))
    x = lib.layers.Dense(16, use_bias=False)(inp)
    x = lib.layers.BatchNormalization(momentum=0.9)(x)
    x = lib.layers.Activation("relu")(x)
    x = lib.layers.Dense(16, use_bias=False)(x)
    x = lib.layers.BatchNormalization(center=False, epsilon=1e-2)(x)
    return lib.Model(inp, lib.layers.Dense(3, activation="softmax")(x))


def _data():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((128, 8)) * 2 + 1).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 128)]
    return x, y


@pytest.mark.parametrize("freeze", [False, True])
def test_batchnorm_trains_like_keras(freeze):
    k_model, g_model = pair(mlp_bn, shapes=False)
    if freeze:
        for model in (k_model, g_model):
            next(
                layer for layer in model.layers if "batch_normalization" in layer.name
            ).trainable = False
    x, y = _data()
    np.testing.assert_allclose(
        g_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6
    )
    compile_both(
        k_model, g_model, lambda lib: lib.optimizers.Adam(0.01), loss="categorical_crossentropy"
    )
    assert_trains_alike(k_model, g_model, x, y, epochs=3, batch_size=32)
    np.testing.assert_allclose(
        g_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), rtol=1e-3
    )


@pytest.mark.parametrize("trainable", [True, False])
def test_eager_call_with_training_normalizes_and_updates_like_keras(trainable):
    # Keras: `bn(x, training=True)` on data normalizes with the batch's statistics and
    # moves the moving ones (a frozen layer uses and keeps its moving statistics); the
    # same through a model called on data with training=True.
    import graphc

    x, _ = _data()
    k_bn, g_bn = (
        keras.layers.BatchNormalization(momentum=0.9),
        graphc.layers.BatchNormalization(momentum=0.9),
    )
    for layer in (k_bn, g_bn):
        layer.build((None, 8))
        layer.trainable = trainable
    for step in range(3):
        batch = x[32 * step : 32 * (step + 1)]
        got = np.asarray(g_bn(batch, training=True))
        want = keras.ops.convert_to_numpy(k_bn(batch, training=True))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for name in ("moving_mean", "moving_variance"):
        want = keras.ops.convert_to_numpy(getattr(k_bn, name))
        np.testing.assert_allclose(np.asarray(getattr(g_bn, name)), want, rtol=1e-6)
    moved = not np.allclose(np.asarray(g_bn.moving_mean), 0.0)
    assert moved == trainable
    k_model, g_model = pair(mlp_bn, shapes=False)
    for model in (k_model, g_model):
        model(x[:32], training=True)
    np.testing.assert_allclose(
        g_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
