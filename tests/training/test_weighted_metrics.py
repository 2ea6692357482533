"""``compile(weighted_metrics=...)``: as in Keras 3 these metrics receive the sample and
class weights (``metrics=`` do not), an output's mask reaches both, and their log keys
follow Keras's ``CompileMetrics`` (a name already taken becomes ``weighted_<name>``).
Values against hand computation here; against Keras itself in
tests/oracle/test_keras_metric_names_parity.py."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers

RNG = np.random.default_rng(3)
N = 24
X = RNG.standard_normal((N, 5)).astype("float32")
LABELS = RNG.integers(0, 3, N)
Y = np.eye(3, dtype="float32")[LABELS]
SW = np.linspace(0.1, 2.0, N).astype("float32")


def _classifier(seed=0):
    graphc.utils.set_random_seed(seed)
    inputs = graphc.Input(shape=(5,))
    return graphc.Model(inputs, layers.Dense(3, activation="softmax")(inputs))


def _weighted_mean(values, w):
    return float(np.sum(values * w) / np.sum(w))


def test_weighted_and_unweighted_values_by_hand():
    model = _classifier()
    model.compile(
        "sgd",
        "categorical_crossentropy",
        metrics=["accuracy", "mae"],
        weighted_metrics=["accuracy", "mae"],
    )
    ev = model.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert list(ev) == ["accuracy", "loss", "mae", "weighted_accuracy", "weighted_mae"]
    p = model.predict(X, verbose=0)
    hit = (p.argmax(-1) == LABELS).astype(float)
    mae = np.abs(p - Y).mean(-1)
    assert ev["accuracy"] == pytest.approx(hit.mean())
    assert ev["weighted_accuracy"] == pytest.approx(_weighted_mean(hit, SW), rel=1e-6)
    assert ev["mae"] == pytest.approx(mae.mean(), rel=1e-5)
    assert ev["weighted_mae"] == pytest.approx(_weighted_mean(mae, SW), rel=1e-5)
    assert ev["weighted_accuracy"] != pytest.approx(ev["accuracy"])
    # without weights the two agree
    plain = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert plain["weighted_mae"] == pytest.approx(plain["mae"])


def test_a_weighted_metric_alone_keeps_its_name_and_class_weights_reach_it():
    model = _classifier()
    model.compile("sgd", "categorical_crossentropy", weighted_metrics=["acc"])
    cw = {0: 0.5, 1: 3.0, 2: 1.0}
    p = model.predict(X, verbose=0)  # before the step: logs are the batch's, pre-update
    logs = model.train_on_batch(X, Y, class_weight=cw, return_dict=True)
    assert list(logs) == ["acc", "loss"]
    hit = (p.argmax(-1) == LABELS).astype(float)
    w = np.array([cw[c] for c in LABELS])
    assert logs["acc"] == pytest.approx(_weighted_mean(hit, w), rel=1e-6)


def test_fit_history_keys_and_weighted_running_mean():
    model = _classifier()
    model.compile("sgd", "categorical_crossentropy", metrics=["mae"], weighted_metrics=["mae"])
    hist = model.fit(
        X,
        Y,
        sample_weight=SW,
        batch_size=N,
        epochs=1,
        shuffle=False,
        validation_data=(X, Y, SW[::-1]),
        verbose=0,
    ).history
    assert sorted(hist) == [
        "loss",
        "mae",
        "val_loss",
        "val_mae",
        "val_weighted_mae",
        "weighted_mae",
    ]
    p = model.predict(X, verbose=0)
    mae = np.abs(p - Y).mean(-1)
    assert hist["val_weighted_mae"][0] == pytest.approx(_weighted_mean(mae, SW[::-1]), rel=1e-5)
    assert hist["val_mae"][0] == pytest.approx(mae.mean(), rel=1e-5)


def test_names_with_repeats_and_multiple_outputs():
    graphc.utils.set_random_seed(1)
    inputs = graphc.Input(shape=(5,))
    age = layers.Dense(1, name="age")(inputs)
    income = layers.Dense(3, activation="softmax", name="income")(inputs)
    model = graphc.Model(inputs, [age, income])
    model.compile(
        "sgd",
        ["mse", "categorical_crossentropy"],
        metrics={"age": ["mae", "mae"], "income": ["accuracy"]},
        weighted_metrics=[["mae", "mae"], ["accuracy", "mse"]],
    )
    y_age = RNG.random((N, 1)).astype("float32")
    ev = model.evaluate(X, [y_age, Y], sample_weight=SW, verbose=0, return_dict=True)
    # Keras's CompileMetrics.result: repeats get _1, a taken name weighted_<name>, and
    # a repeated weighted one weighted_<name>_1
    assert sorted(ev) == sorted(
        [
            "loss",
            "age_loss",
            "income_loss",
            "age_mae",
            "age_mae_1",
            "income_accuracy",
            "age_weighted_mae",
            "age_weighted_mae_1",
            "income_weighted_accuracy",
            "income_mse",
        ]
    )
    a, inc = model.predict(X, verbose=0)
    mae = np.abs(a - y_age)[:, 0]
    assert ev["age_mae"] == ev["age_mae_1"] == pytest.approx(mae.mean(), rel=1e-5)
    assert ev["age_weighted_mae"] == pytest.approx(_weighted_mean(mae, SW), rel=1e-5)
    assert ev["income_mse"] == pytest.approx(
        _weighted_mean(((inc - Y) ** 2).mean(-1), SW), rel=1e-5
    )
    # the list: loss, the output losses, then the other keys sorted (Keras's order)
    values = model.evaluate(X, [y_age, Y], sample_weight=SW, verbose=0)
    rest = sorted(k for k in ev if k not in ("loss", "age_loss", "income_loss"))
    assert values == [ev[k] for k in ["loss", "age_loss", "income_loss"] + rest]


def test_weighted_metrics_with_a_masked_output():
    tokens = np.array([[3, 1, 2, 0], [5, 0, 0, 0], [1, 2, 3, 4]])
    mask = tokens != 0
    labels = RNG.integers(0, 4, tokens.shape)
    sw = np.array([0.5, 2.0, 1.0], dtype="float32")
    graphc.utils.set_random_seed(2)
    x = graphc.Input(shape=(None,), dtype="int64")
    h = layers.Embedding(6, 3, mask_zero=True)(x)
    model = graphc.Model(x, layers.Dense(4, activation="softmax")(h))
    model.compile(
        "sgd",
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy"],
    )
    ev = model.evaluate(tokens, labels, sample_weight=sw, verbose=0, return_dict=True)
    hit = (model.predict(tokens, verbose=0).argmax(-1) == labels).astype(float)
    assert ev["accuracy"] == pytest.approx(hit[mask].mean())
    # each sample's weight applies to its valid steps
    w = sw[:, None] * mask
    assert ev["weighted_accuracy"] == pytest.approx(float((hit * w).sum() / w.sum()))


def test_bad_weighted_metrics_argument():
    model = _classifier()
    with pytest.raises(ValueError, match="weighted_metrics.*list, tuple, or dict"):
        model.compile("sgd", "mse", weighted_metrics="accuracy")


def test_save_and_load_keep_weighted_metrics(tmp_path):
    model = _classifier()
    model.compile(
        "sgd",
        "categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy", "mae"],
    )
    model.fit(X, Y, sample_weight=SW, epochs=1, verbose=0)
    path = tmp_path / "m.graphc"
    model.save(str(path))
    loaded = graphc.models.load_model(str(path))
    want = model.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    got = loaded.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert list(got) == list(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-6)
