"""Issue 13, item 9: metric names are Keras's (spelled exactly) and nothing else. Before,
any function of ``graphc.losses`` was accepted as a metric name, private helpers
included (``"_apply_mask"``, ``"get"``, ``"serialize"``...)."""

import numpy as np
import pytest

import graphc
from graphc import layers, losses, metrics

REFUSED = [
    # private helpers and plumbing of graphc.losses
    *[
        name
        for name in dir(losses)
        if name.startswith("_")
        and callable(getattr(losses, name))
        and not isinstance(getattr(losses, name), type)
    ][:8],
    "get",
    "serialize",
    "deserialize",
    # loss-only names Keras has no metric for, and spellings Keras refuses
    "huber",
    "Mse",
    "Mae",
    "meanSquaredError",
    "crossentropy",
    "ce",
    "no_such_metric",
    "accuracyy",
]


@pytest.mark.parametrize("name", REFUSED)
def test_name_that_is_not_a_keras_metric_is_refused(name):
    with pytest.raises(ValueError, match="Unknown metric") as info:
        metrics.get(name)
    assert repr(name) in str(info.value) or name in str(info.value)


@pytest.mark.parametrize(
    "name,suggestion",
    [
        ("Mse", "'mse'"),
        ("Mae", "'mae'"),
        ("accuracyy", "'accuracy'"),
        ("mean_squared_errors", "'mean_squared_error'"),
        ("BinaryAcuracy", "'BinaryAccuracy'"),
    ],
)
def test_refusal_lists_close_matches(name, suggestion):
    with pytest.raises(ValueError) as info:
        metrics.get(name)
    assert "Did you mean" in str(info.value) and suggestion in str(info.value)


def test_private_helper_is_refused_in_compile():
    private = next(
        n
        for n in dir(losses)
        if n.startswith("_")
        and callable(getattr(losses, n))
        and not isinstance(getattr(losses, n), type)
        and not n.startswith("__")
    )
    inp = graphc.Input(shape=(3,))
    model = graphc.Model(inp, layers.Dense(2)(inp))
    model.compile(optimizer="sgd", loss="mse", metrics=[private])
    with pytest.raises(ValueError, match="Unknown metric"):
        model.fit(np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)


@pytest.mark.parametrize(
    "name",
    [
        "accuracy",
        "acc",
        "ACC",
        "mae",
        "MAE",
        "mse",
        "MSE",
        "mape",
        "msle",
        "bce",
        "binary_accuracy",
        "BinaryAccuracy",
        "categorical_crossentropy",
        "kl_divergence",
        "KLDivergence",
        "poisson",
        "hinge",
        "squared_hinge",
        "categorical_hinge",
        "cosine_similarity",
        "top_k_categorical_accuracy",
        "root_mean_squared_error",
        "log_cosh_error",
        "mean_absolute_percentage_error",
    ],
)
def test_keras_names_are_accepted(name):
    m = metrics.get(name, y_true_shape=(None,), y_pred_shape=(None, 3))
    assert m.name == name


def test_functions_and_objects_are_still_accepted():
    assert metrics.get(losses.huber).name == "huber"
    assert metrics.get(metrics.MeanAbsoluteError()).name == "mean_absolute_error"


def test_cosine_similarity_is_keras_metric_not_the_negated_loss():
    """Before, metrics=["cosine_similarity"] wrapped the loss (``-cos``): -1 where Keras's
    metric gives +1."""
    y_true = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], np.float32)
    y_pred = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], np.float32)
    m = metrics.get("cosine_similarity")
    assert type(m).__name__ == "CosineSimilarity" and m._direction == "up"
    m.update_state(y_true, y_pred, sample_weight=[0.2, 0.5, 0.3])
    want = (0.0 * 0.2 + 1.0 * 0.5 - 1.0 * 0.3) / 1.0
    assert m.result() == pytest.approx(want, abs=1e-6)
    keras = pytest.importorskip("keras")
    k = keras.metrics.CosineSimilarity()
    k.update_state(y_true, y_pred, sample_weight=np.array([0.2, 0.5, 0.3], np.float32))
    assert m.result() == pytest.approx(float(k.result()), abs=1e-6)
