"""The keys and values of History and evaluate() as Keras 3 (torch backend) gives them:
``weighted_metrics`` (single and multi-output, sample and class weights, validation
weights) and subclassed models, whose outputs have no names (Keras names their loss keys
after the losses and drops the output prefix of their metric keys). The same builder code
for both libraries, Keras's initial weights copied, shuffle=False."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
# slow: the tests here train models, most in both libraries (Keras on torch steps slowly)
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

import graphc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from test_subclassed import ticket_data, ticket_model_class  # noqa: E402


def classifier(lib):
    inputs = lib.Input(shape=(8,))
    x = lib.layers.Dense(16, activation="relu")(inputs)
    return lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(x))


def two_headed(lib):
    inputs = lib.Input(shape=(8,), name="posts")
    x = lib.layers.Dense(16, activation="relu")(inputs)
    age = lib.layers.Dense(1, name="age")(x)
    income = lib.layers.Dense(4, activation="softmax", name="income")(x)
    return lib.Model(inputs, [age, income])


def single_subclassed(lib):
    class Classifier(lib.Model):
        def __init__(self):
            super().__init__()
            self.hidden = lib.layers.Dense(16, activation="relu")
            self.out = lib.layers.Dense(3, activation="softmax")

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    return Classifier()


def ticket(lib):
    return ticket_model_class(lib)(num_departments=4)


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype("float32")
    labels = rng.integers(0, 3, n)
    return x, np.eye(3, dtype="float32")[labels], labels


def _sample_weight(n):
    return np.linspace(0.2, 2.0, n).astype("float32")


def _both(builder, x, compile_kwargs):
    models = []
    for lib in (keras, graphc):
        model = builder(lib)
        model(x)  # builds a subclassed model
        if models:
            model.set_weights(models[0].get_weights())
        model.compile(optimizer=lib.optimizers.RMSprop(0.005), **compile_kwargs)
        models.append(model)
    return models


def _assert_same_logs(g_logs, k_logs):
    assert list(g_logs) == list(k_logs)  # the same keys, in the same (sorted) order
    for key in k_logs:
        np.testing.assert_allclose(g_logs[key], k_logs[key], rtol=1e-3, atol=1e-6, err_msg=key)


def _check(builder, x, y, compile_kwargs, expected_keys, fit_kwargs=(), eval_kwargs=()):
    """Fit and evaluate both; History and evaluate's dict and list must agree."""
    k_model, g_model = _both(builder, x, compile_kwargs)
    hists = [
        m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, **dict(fit_kwargs)).history
        for m in (k_model, g_model)
    ]
    _assert_same_logs(hists[1], hists[0])
    assert sorted(k for k in hists[0] if not k.startswith("val_")) == sorted(expected_keys)
    evals = [
        m.evaluate(x, y, verbose=0, return_dict=True, **dict(eval_kwargs))
        for m in (k_model, g_model)
    ]
    _assert_same_logs(evals[1], evals[0])
    lists = [m.evaluate(x, y, verbose=0, **dict(eval_kwargs)) for m in (k_model, g_model)]
    np.testing.assert_allclose(lists[1], lists[0], rtol=1e-3, atol=1e-6)
    return hists[1], evals[1], g_model


# ---- weighted_metrics ------------------------------------------------------------------
def test_weighted_metrics_single_output_with_sample_and_validation_weights():
    x, y, _ = _data()
    xv, yv, _ = _data(24, seed=1)
    sw = _sample_weight(len(x))
    hist, ev, _ = _check(
        classifier,
        x,
        y,
        dict(
            loss="categorical_crossentropy",
            metrics=["accuracy"],
            weighted_metrics=["accuracy", "mae"],
        ),
        ["loss", "accuracy", "weighted_accuracy", "mae"],
        fit_kwargs={
            "sample_weight": sw,
            "validation_data": (xv, yv, _sample_weight(len(xv))[::-1]),
        },
        eval_kwargs={"sample_weight": sw},
    )
    assert "val_weighted_accuracy" in hist
    assert ev["weighted_accuracy"] != ev["accuracy"]  # the weights made a difference


def test_weighted_metrics_with_class_weight():
    x, y, _ = _data()
    _check(
        classifier,
        x,
        y,
        dict(loss="categorical_crossentropy", weighted_metrics=["accuracy"]),
        ["loss", "accuracy"],
        fit_kwargs={"class_weight": {0: 0.5, 1: 2.0, 2: 1.0}},
    )


def test_weighted_metrics_multi_output():
    x, _, labels = _data()
    y = [np.abs(x[:, :1]), np.eye(4, dtype="float32")[labels]]
    _check(
        two_headed,
        x,
        y,
        dict(
            loss=["mse", "categorical_crossentropy"],
            metrics={"income": ["accuracy"]},
            weighted_metrics={"age": ["mae"], "income": ["accuracy", "mse"]},
        ),
        [
            "loss",
            "age_loss",
            "income_loss",
            "income_accuracy",
            "age_mae",
            "income_weighted_accuracy",
            "income_mse",
        ],
        fit_kwargs={"sample_weight": _sample_weight(len(x))},
        eval_kwargs={"sample_weight": _sample_weight(len(x))[::-1]},
    )


# ---- subclassed models -----------------------------------------------------------------
def test_ticket_model_loss_keys_are_named_after_the_losses():
    x, y = ticket_data()
    _check(
        ticket,
        x,
        y,
        dict(
            loss=["mean_squared_error", "categorical_crossentropy"],
            metrics=[["mean_absolute_error"], ["accuracy"]],
        ),
        [
            "loss",
            "mean_squared_error_loss",
            "categorical_crossentropy_loss",
            "mean_absolute_error",
            "accuracy",
        ],
    )


def test_ticket_model_with_repeated_metrics_and_weighted_metrics():
    x, y = ticket_data()
    _check(
        ticket,
        x,
        y,
        dict(
            loss=["mse", "categorical_crossentropy"],
            metrics=[["mae"], ["mae"]],
            weighted_metrics=[["mae"], ["accuracy"]],
        ),
        [
            "loss",
            "mse_loss",
            "categorical_crossentropy_loss",
            "mae",
            "mae_1",
            "weighted_mae",
            "accuracy",
        ],
        fit_kwargs={"sample_weight": _sample_weight(48)},
        eval_kwargs={"sample_weight": _sample_weight(48)},
    )


@pytest.mark.parametrize("loss", [["mse", "mse"], "mse"], ids=["list", "one-for-all"])
def test_two_outputs_with_the_same_loss_share_one_key(loss):
    x, y = ticket_data()
    _, ev, model = _check(
        ticket,
        x,
        y,
        dict(loss=loss, metrics=[["mae"], ["mae"]]),
        ["loss", "mse_loss", "mae", "mae_1"],
    )
    # the shared key holds the last output's loss (Keras's dict keeps the last value)
    department = model.predict(x, verbose=0)[1]
    np.testing.assert_allclose(ev["mse_loss"], np.mean((department - y[1]) ** 2), rtol=1e-5)


def test_single_output_subclassed_model():
    x, y, _ = _data()
    _check(
        single_subclassed,
        x,
        y,
        dict(loss="categorical_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"]),
        ["loss", "accuracy", "weighted_accuracy"],
        fit_kwargs={"sample_weight": _sample_weight(len(x))},
    )


def test_dict_losses_on_a_subclassed_model_are_refused_as_in_keras():
    x, y = ticket_data()
    for lib in (keras, graphc):
        model = ticket(lib)
        model(x)
        with pytest.raises(TypeError):  # graphc at compile (the model is built), Keras at fit
            model.compile(
                "rmsprop", loss={"output_1": "mse", "output_2": "categorical_crossentropy"}
            )
            model.fit(x, y, epochs=1, verbose=0)
