"""Training parity with Keras 3 itself (torch backend): the same builder code for both,
Keras's initial weights copied across, both fitted with shuffle=False; per-epoch losses
and final weights must agree."""

from __future__ import annotations

import functools

import numpy as np
import pytest

keras = pytest.importorskip("keras")
# slow: the tests here train models, most in both libraries (Keras on torch steps slowly)
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

from oracle_harness import assert_same_training, train_both  # noqa: E402

EPOCHS = 4


def seed_model(lib, hidden_activation="relu"):
    """The seed tutorial's functional model, written once for either library."""
    inputs = lib.Input(shape=(64,))
    x = lib.layers.Dense(32, activation=hidden_activation)(inputs)
    x = lib.layers.Dense(32, activation="tanh")(x)
    outputs = lib.layers.Dense(10, activation="softmax")(x)
    return lib.Model(inputs, outputs)


def two_headed_model(lib):
    """A multi-output model (the book's age/income/gender example, shrunk)."""
    inputs = lib.Input(shape=(16,), name="posts")
    x = lib.layers.Dense(24, activation="relu")(inputs)
    age = lib.layers.Dense(1, name="age")(x)
    income = lib.layers.Dense(5, activation="softmax", name="income")(x)
    gender = lib.layers.Dense(1, activation="sigmoid", name="gender")(x)
    return lib.Model(inputs, [age, income, gender])


_train_both = functools.partial(train_both, epochs=EPOCHS, batch_size=128)


@pytest.fixture
def seed_data():
    rng = np.random.default_rng(0)
    return rng.random((1000, 64)).astype("float32"), rng.random((1000, 10)).astype("float32")


OPTIMIZERS = {
    "rmsprop": lambda lib: lib.optimizers.RMSprop(learning_rate=0.001),
    "adam": lambda lib: lib.optimizers.Adam(learning_rate=0.01),
    "sgd_nesterov": lambda lib: lib.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_seed_model_trains_like_keras(name, seed_data):
    x, y = seed_data
    k_model, g_model, k_hist, g_hist = _train_both(
        seed_model, OPTIMIZERS[name], {"loss": "categorical_crossentropy"}, x, y
    )
    assert_same_training(k_model, g_model, k_hist, g_hist)
    # and the seed's loss level: un-normalised random targets give about 11.6
    assert 10.5 < g_hist["loss"][0] < 12.5


def test_metrics_and_evaluate_match_keras(seed_data):
    x, y = seed_data
    labels = y.argmax(axis=1)
    onehot = np.eye(10, dtype="float32")[labels]
    k_model, g_model, k_hist, g_hist = _train_both(
        seed_model,
        OPTIMIZERS["adam"],
        {"loss": "categorical_crossentropy", "metrics": ["accuracy", "mae"]},
        x,
        onehot,
    )
    assert_same_training(k_model, g_model, k_hist, g_hist)
    k_eval = k_model.evaluate(x, onehot, verbose=0, return_dict=True)
    g_eval = g_model.evaluate(x, onehot, verbose=0, return_dict=True)
    assert set(k_eval) == set(g_eval)
    for key in k_eval:
        np.testing.assert_allclose(g_eval[key], k_eval[key], rtol=1e-4, err_msg=key)
    # After 4 epochs of Adam at lr 0.01, float32 rounding differences (BLAS threading)
    # are amplified; the tolerance is the same as for the weights.
    np.testing.assert_allclose(
        g_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-3, atol=1e-5
    )


def test_multi_output_with_loss_weights_matches_keras():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((512, 16)).astype("float32")
    y = [
        rng.standard_normal((512, 1)).astype("float32"),
        np.eye(5, dtype="float32")[rng.integers(0, 5, 512)],
        (rng.random((512, 1)) > 0.5).astype("float32"),
    ]
    compile_kwargs = {
        "loss": {
            "age": "mse",
            "income": "categorical_crossentropy",
            "gender": "binary_crossentropy",
        },
        "loss_weights": {"age": 0.25, "income": 1.0, "gender": 10.0},
    }
    k_model, g_model, k_hist, g_hist = _train_both(
        two_headed_model, OPTIMIZERS["rmsprop"], compile_kwargs, x, y, batch_size=64
    )
    assert_same_training(k_model, g_model, k_hist, g_hist)
    assert {"loss", "age_loss", "income_loss", "gender_loss"} <= set(g_hist)
