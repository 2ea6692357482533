"""graphc.metrics: Keras 3 values (hand-computed), weighting, accumulation, lookup."""

import math

import numpy as np
import pytest

from graphc import losses, metrics


def test_mean_weighted_and_by_batch_size():
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    assert m.result() == pytest.approx(4.0)
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == pytest.approx(2.0)
    # the trainer's running loss: a scalar per batch weighted by the batch size
    tracker = metrics.Mean(name="loss")
    tracker.update_state(0.5, sample_weight=32)
    tracker.update_state(0.7, sample_weight=32)
    tracker.update_state(1.1, sample_weight=8)
    assert tracker.result() == pytest.approx((0.5 * 32 + 0.7 * 32 + 1.1 * 8) / 72)
    assert tracker.name == "loss"
    assert metrics.Mean().result() == 0.0  # empty: divide_no_nan


def test_mean_per_timestep_values_and_weights():
    m = metrics.Mean()
    # (2, 3) values with per-sample weights: values averaged per sample first
    m.update_state([[1, 2, 3], [4, 5, 6]], sample_weight=[1, 3])
    assert m.result() == pytest.approx((2 * 1 + 5 * 3) / 4)
    s = metrics.Sum()
    s.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert s.result() == pytest.approx(4.0)


def test_accuracy_family_hand_values():
    m = metrics.Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert m.result() == pytest.approx(0.75)

    m = metrics.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)
    # the threshold is strict: 0.5 is not > 0.5
    m = metrics.BinaryAccuracy(threshold=0.5)
    m.update_state([[1], [0]], [[0.5], [0.5]])
    assert m.result() == pytest.approx(0.5)

    m = metrics.CategoricalAccuracy()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state(
        [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3]
    )
    assert m.result() == pytest.approx(0.3)

    m = metrics.SparseCategoricalAccuracy()
    m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([2, 1], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)

    m = metrics.TopKCategoricalAccuracy(k=1)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m = metrics.TopKCategoricalAccuracy(k=2)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(1.0)

    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)


def test_top_k_ties_count_as_hits():
    # Keras's in_top_k: the target's score >= the k-th largest score
    acc = metrics.sparse_top_k_categorical_accuracy([0, 2], [[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]], k=1)
    np.testing.assert_array_equal(acc, [1.0, 1.0])


def test_accumulation_across_batches():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 50)
    p = rng.random((50, 4))
    w = rng.random(50)
    m = metrics.SparseCategoricalAccuracy()
    for a, b in ((0, 10), (10, 37), (37, 50)):
        m.update_state(y[a:b], p[a:b], sample_weight=w[a:b])
    hits = (np.argmax(p, -1) == y).astype(float)
    assert m.result() == pytest.approx(np.sum(hits * w) / np.sum(w), rel=1e-12)
    m.reset_state()
    m.update_state(y, p)
    assert m.result() == pytest.approx(hits.mean())


def test_regression_metrics():
    yt = np.array([[0, 1], [0, 0]], dtype=np.float32)
    yp = np.array([[1, 1], [0, 0]], dtype=np.float32)
    m = metrics.MeanSquaredError()
    m.update_state(yt, yp)
    assert m.result() == pytest.approx(0.25)
    m = metrics.MeanAbsoluteError()
    m.update_state(yt, yp, sample_weight=[1, 0])
    assert m.result() == pytest.approx(0.5)
    m = metrics.RootMeanSquaredError()
    m.update_state(yt, yp)
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state(yt, yp, sample_weight=[1, 0])
    assert m.result() == pytest.approx(math.sqrt(0.5))
    # two batches accumulate: (sum of squared errors) / (number of elements)
    m = metrics.MeanSquaredError()
    m.update_state([[1.0], [2.0]], [[2.0], [2.0]])
    m.update_state([[0.0]], [[3.0]])
    assert m.result() == pytest.approx((1 + 0 + 9) / 3)


def test_loss_wrapper_metrics_equal_the_loss_functions():
    rng = np.random.default_rng(3)
    yt = np.eye(5)[rng.integers(0, 5, 20)]
    yp = rng.random((20, 5)) + 0.01
    w = rng.random(20)
    for cls, fn, kw in [
        (metrics.CategoricalCrossentropy, losses.categorical_crossentropy, {}),
        (metrics.BinaryCrossentropy, losses.binary_crossentropy, {}),
        (metrics.KLDivergence, losses.kl_divergence, {}),
        (metrics.Poisson, losses.poisson, {}),
        (
            metrics.CategoricalCrossentropy,
            losses.categorical_crossentropy,
            {"label_smoothing": 0.1},
        ),
    ]:
        m = cls(**kw)
        m.update_state(yt[:7], yp[:7], sample_weight=w[:7])
        m.update_state(yt[7:], yp[7:], sample_weight=w[7:])
        values = fn(yt, yp, **kw)
        assert m.result() == pytest.approx(np.sum(values * w) / np.sum(w), rel=1e-6), cls
    m = metrics.SparseCategoricalCrossentropy()
    labels = np.argmax(yt, -1)
    m.update_state(labels, yp)
    assert m.result() == pytest.approx(np.mean(losses.categorical_crossentropy(yt, yp)), rel=1e-6)


def test_sparse_cce_metric_ignore_class_like_keras():
    p = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    y = np.array([1, 0, 1])
    per = -np.log([0.8, 0.6, 0.5])
    m = metrics.SparseCategoricalCrossentropy(ignore_class=0)
    m.update_state(y, p)
    # Keras 3 quirk: without sample weights the ignored entry counts as a 0 loss
    assert m.result() == pytest.approx((per[0] + per[2]) / 3, rel=1e-6)
    m.reset_state()
    m.update_state(y, p, sample_weight=[1.0, 1.0, 1.0])
    assert m.result() == pytest.approx((per[0] + per[2]) / 2, rel=1e-6)


@pytest.mark.parametrize(
    "y_true_shape, y_pred_shape, expected",
    [
        ((None, 1), (None, 1), metrics.BinaryAccuracy),
        ((None,), (None, 1), metrics.BinaryAccuracy),
        ((None,), (None, 10), metrics.SparseCategoricalAccuracy),
        ((None, 1), (None, 10), metrics.SparseCategoricalAccuracy),
        ((None, 10), (None, 10), metrics.CategoricalAccuracy),
        ((None, 5, 1), (None, 5, 7), metrics.SparseCategoricalAccuracy),
        # Keras 3 decides from shapes only: multi-label BCE outputs give categorical
        ((None, 3), (None, 3), metrics.CategoricalAccuracy),
    ],
)
def test_accuracy_resolution_from_shapes(y_true_shape, y_pred_shape, expected):
    for spelling in ("accuracy", "acc", "Accuracy"):
        m = metrics.get(
            spelling,
            loss="binary_crossentropy",
            y_true_shape=y_true_shape,
            y_pred_shape=y_pred_shape,
        )
        assert type(m) is expected
        assert m.name == spelling  # History key keeps the user's spelling


def test_accuracy_resolution_from_loss_without_shapes():
    assert type(metrics.get("acc", loss="binary_crossentropy")) is metrics.BinaryAccuracy
    assert type(metrics.get("acc", loss=losses.BinaryCrossentropy())) is metrics.BinaryAccuracy
    assert (
        type(metrics.get("accuracy", loss="sparse_categorical_crossentropy"))
        is metrics.SparseCategoricalAccuracy
    )
    assert (
        type(metrics.get("accuracy", loss=losses.sparse_categorical_crossentropy))
        is metrics.SparseCategoricalAccuracy
    )
    assert type(metrics.get("accuracy", loss="categorical_crossentropy")) is (
        metrics.CategoricalAccuracy
    )
    assert type(metrics.get("accuracy")) is metrics.CategoricalAccuracy
    # known prediction width 1 but unknown targets: binary
    assert type(metrics.get("accuracy", y_pred_shape=(None, 1))) is metrics.BinaryAccuracy


@pytest.mark.parametrize(
    "name, cls",
    [
        ("mae", metrics.MeanAbsoluteError),
        ("mse", metrics.MeanSquaredError),
        ("MAE", metrics.MeanAbsoluteError),
        ("mean_absolute_error", metrics.MeanAbsoluteError),
        ("mean_squared_error", metrics.MeanSquaredError),
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("categorical_accuracy", metrics.CategoricalAccuracy),
        ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
        ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
        ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
        ("root_mean_squared_error", metrics.RootMeanSquaredError),
        ("categorical_crossentropy", metrics.CategoricalCrossentropy),
        ("binary_crossentropy", metrics.BinaryCrossentropy),
        ("kl_divergence", metrics.KLDivergence),
        ("BinaryAccuracy", metrics.BinaryAccuracy),
    ],
)
def test_get_by_name_keeps_spelling(name, cls):
    m = metrics.get(name)
    assert type(m) is cls
    assert m.name == name


def test_get_other_identifiers():
    inst = metrics.BinaryAccuracy(threshold=0.3)
    assert metrics.get(inst) is inst
    assert type(metrics.get(metrics.MeanAbsoluteError)) is metrics.MeanAbsoluteError
    assert metrics.get(None) is None

    def my_metric(y_true, y_pred):
        return np.abs(np.asarray(y_true) - np.asarray(y_pred)).max(axis=-1)

    m = metrics.get(my_metric)
    assert isinstance(m, metrics.MeanMetricWrapper) and m.name == "my_metric"
    m.update_state([[0, 1], [2, 2]], [[0.5, 1], [2, 0]])
    assert m.result() == pytest.approx((0.5 + 2) / 2)
    m = metrics.get(losses.mean_squared_error)
    assert m.name == "mean_squared_error"
    m.update_state([[0.0, 1.0]], [[1.0, 1.0]])
    assert m.result() == pytest.approx(0.5)
    m = metrics.get(losses.huber)  # Keras has no "huber" metric name; the function works
    m.update_state([[0.0]], [[2.0]])
    assert m.result() == pytest.approx(1.5) and m.name == "huber"
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.get("no_such_metric")


def test_call_updates_and_returns_result():
    m = metrics.MeanAbsoluteError()
    assert m([[1.0]], [[3.0]]) == pytest.approx(2.0)
    assert m([[1.0]], [[1.0]]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "metric",
    [
        metrics.Mean(name="running"),
        metrics.BinaryAccuracy(threshold=0.3),
        metrics.CategoricalAccuracy(),
        metrics.TopKCategoricalAccuracy(k=3),
        metrics.MeanSquaredError(name="mse"),
        metrics.RootMeanSquaredError(),
        metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics.SparseCategoricalCrossentropy(ignore_class=3),
    ],
    ids=lambda m: type(m).__name__,
)
def test_config_round_trip(metric):
    config = metric.get_config()
    assert config["name"] == metric.name and config["dtype"] == "float32"
    clone = type(metric).from_config(config)
    assert clone.get_config() == config
    back = metrics.deserialize(metrics.serialize(metric))
    assert type(back) is type(metric) and back.get_config() == config


def test_config_matches_keras():
    assert metrics.BinaryAccuracy().get_config() == {
        "name": "binary_accuracy",
        "dtype": "float32",
        "threshold": 0.5,
    }
    assert metrics.TopKCategoricalAccuracy().get_config() == {
        "name": "top_k_categorical_accuracy",
        "dtype": "float32",
        "k": 5,
    }
    assert metrics.LogCoshError().name == "logcosh"
    assert metrics.Accuracy()._direction == "up"
    assert metrics.MeanSquaredError()._direction == "down"
