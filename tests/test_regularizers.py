"""graphc.regularizers: Keras 3's formulas (checked by hand), gradients (against float64
finite differences), names, configs, serialization and errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers, ops, regularizers
from graphc.errors import TraceError
from graphc.models.regularization import activity_penalty, penalty_and_gradient

W = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]], dtype=np.float32)


def _numeric_grad(fn, x, eps=1e-6):
    x = x.astype(np.float64)
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        out[i] = (float(fn(x + e)) - float(fn(x - e))) / (2 * eps)
    return out


@pytest.mark.parametrize(
    "reg,expected",
    [
        (regularizers.L1(0.1), 0.1 * 8.0),
        (regularizers.L2(0.2), 0.2 * (1 + 4 + 0.25 + 9 + 2.25)),
        (regularizers.L1L2(l1=0.1, l2=0.2), 0.1 * 8.0 + 0.2 * 16.5),
        (regularizers.L1L2(l2=0.2), 0.2 * 16.5),
        (regularizers.Regularizer(), 0.0),
    ],
)
def test_penalties_by_hand(reg, expected):
    np.testing.assert_allclose(float(reg(W)), expected, rtol=1e-6)


def test_keras_docstring_example():
    assert float(regularizers.L2(2.0)(np.ones((5, 5), np.float32))) == 50.0


def test_orthogonal_by_hand():
    # Keras: factor * 0.5 * sum over i != j of |<n_i, n_j>| / (number of pairs i < j).
    # rows (1, 0), (1, 1)/sqrt2, (0, 1): |dots| 1/sqrt2, 0, 1/sqrt2 over 3 pairs
    x = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0]], np.float32)
    value = regularizers.OrthogonalRegularizer(0.3)(x)
    np.testing.assert_allclose(value, 0.3 * 0.5 * 2 * (2 / np.sqrt(2)) / 3, rtol=1e-6)
    cols = regularizers.OrthogonalRegularizer(0.3, mode="columns")(x)
    # columns (2, 1, 0) and (0, 1, 3): dot 1 / (sqrt5 sqrt10), one pair
    np.testing.assert_allclose(cols, 0.3 * 0.5 * 2 / np.sqrt(50), rtol=1e-6)
    with pytest.raises(ValueError, match=r"rank 2. Received: inputs.shape=\(3,\)"):
        regularizers.OrthogonalRegularizer()(np.ones(3, np.float32))


@pytest.mark.parametrize(
    "reg",
    [
        regularizers.L1(0.1),
        regularizers.L2(0.2),
        regularizers.L1L2(0.1, 0.2),
        regularizers.OrthogonalRegularizer(0.3),
        regularizers.OrthogonalRegularizer(0.3, "columns"),
    ],
    ids=lambda r: type(r).__name__ + getattr(r, "mode", ""),
)
def test_gradients_match_finite_differences(reg):
    np.testing.assert_allclose(reg.gradient(W), _numeric_grad(reg, W), rtol=1e-4, atol=1e-6)


def test_custom_regularizer_is_traced_through_graphc_ops():
    def my_l2(w):
        return ops.multiply(ops.sum(ops.multiply(w, w)), 0.3)

    value, grad = penalty_and_gradient(my_l2, W)
    np.testing.assert_allclose(value, 0.3 * 16.5, rtol=1e-6)
    np.testing.assert_allclose(grad, 0.6 * W, rtol=1e-6)

    class Sum(regularizers.Regularizer):  # only __call__, as Keras's docs show
        def __call__(self, x):
            return ops.sum(x)

    value, grad = penalty_and_gradient(Sum(), W)
    assert float(value) == pytest.approx(1.0) and np.all(grad == 1)


def test_custom_regularizer_with_numpy_is_refused_with_advice():
    with pytest.raises(TraceError, match="written with graphc.ops") as info:
        penalty_and_gradient(lambda w: 0.1 * np.sum(np.abs(w)), W)
    assert isinstance(info.value, TypeError)
    assert "define gradient(x)" in str(info.value) and "ops.square" in str(info.value)
    # its value alone is computed at once on the array, NumPy or not
    assert regularizers.penalty_value(lambda w: 0.1 * np.sum(np.abs(w)), W) == pytest.approx(0.8)


def test_activity_penalty_is_divided_by_the_batch_size():
    y = np.full((4, 3), 2.0, np.float32)
    value, grad = activity_penalty(regularizers.L2(0.5), y)
    np.testing.assert_allclose(value, 0.5 * 48 / 4)
    np.testing.assert_allclose(grad, np.full((4, 3), 0.5))
    assert regularizers.activity_penalty_value(regularizers.L2(0.5), y) == value

    # a custom one, recorded with a symbolic batch: one recording serves both sizes
    def half_l2(x):
        return ops.multiply(ops.sum(ops.square(x)), 0.5)

    for n in (4, 3):
        value, grad = activity_penalty(half_l2, y[:n])
        np.testing.assert_allclose(value, 0.5 * 12 * n / n)
        np.testing.assert_allclose(grad, np.full((n, 3), 2.0 / n), rtol=1e-6)
    from graphc.backends.numpy.trace import _CACHE

    assert len(_CACHE[half_l2]) == 1
    value, grad = activity_penalty(half_l2, y[:0])  # an empty batch: 0, as divide_no_nan
    assert value == 0 and grad.shape == (0, 3)


def test_names_and_defaults_as_keras():
    assert regularizers.get("l1").get_config() == {"l1": pytest.approx(0.01)}
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert regularizers.get("orthogonal_regularizer").get_config() == {
        "factor": pytest.approx(0.01),
        "mode": "rows",
    }
    assert isinstance(regularizers.get("L2"), regularizers.L2)
    assert regularizers.get(regularizers.L1).get_config()["l1"] == pytest.approx(0.01)
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.orthogonal_regularizer is regularizers.OrthogonalRegularizer
    # L1 keeps its factor as float32, as Keras does (its config shows the rounded value)
    assert regularizers.L1(0.01).get_config() == {"l1": float(np.float32(0.01))}
    assert regularizers.get(None) is None
    fn = lambda w: 0.0  # noqa: E731
    assert regularizers.get(fn) is fn


def test_serialize_round_trip_in_keras_format():
    reg = regularizers.L1L2(l1=0.1)
    config = regularizers.serialize(reg)
    assert config == {
        "module": "keras.regularizers",
        "class_name": "L1L2",
        "config": {"l1": 0.1, "l2": 0.0},
        "registered_name": None,
    }
    back = regularizers.deserialize(config)
    assert isinstance(back, regularizers.L1L2) and back.get_config() == reg.get_config()
    assert regularizers.get({"class_name": "l2", "config": {"l2": 0.3}}).l2 == 0.3
    assert regularizers.serialize("l2") == "l2"
    assert regularizers.serialize(None) is None
    orth = regularizers.OrthogonalRegularizer(0.5, "columns")
    assert regularizers.deserialize(regularizers.serialize(orth)).mode == "columns"


def test_custom_objects():
    class Mine(regularizers.L2):
        pass

    config = regularizers.serialize(Mine(0.4))
    with pytest.raises(ValueError, match="Unknown regularizer class 'Mine'"):
        regularizers.deserialize(config)
    assert regularizers.deserialize(config, custom_objects={"Mine": Mine}).l2 == 0.4


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: regularizers.get("l3"), "Could not interpret regularizer identifier: 'l3'"),
        (lambda: regularizers.get(3), "identifier: 3 .of type int"),
        (lambda: regularizers.L1(-1), r"non-negative float.Received: l1=-1"),
        (lambda: regularizers.L2("a"), r"Received: l2='a'"),
        (lambda: regularizers.L1L2(l2=float("nan")), r"l2=nan"),
        (lambda: regularizers.OrthogonalRegularizer(mode="diag"), r"Received: mode='diag'"),
        (lambda: layers.Dense(2, kernel_regularizer="l3"), "identifier: 'l3'"),
    ],
)
def test_errors_name_what_was_received(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_layer_losses_as_keras_docstring():
    # keras.regularizers.Regularizer's example: kernel 0.25, activity 5.0 (batch of 5)
    layer = layers.Dense(
        5,
        input_dim=5,
        kernel_initializer="ones",
        kernel_regularizer=regularizers.L1(0.01),
        activity_regularizer=regularizers.L2(0.01),
    )
    layer(np.full((5, 5), 2.0, np.float32))
    np.testing.assert_allclose(float(sum(layer.losses)), 5.25, rtol=1e-6)
    assert len(layer.losses) == 2


def test_unexpected_arguments_are_refused_as_keras():
    with pytest.raises(TypeError, match="kernel_regularizer"):
        layers.Flatten(kernel_regularizer="l2")
    layers.Flatten(activity_regularizer="l2")  # every Keras layer takes this one


def test_exported_from_graphc():
    assert graphc.regularizers is regularizers
    assert "regularizers" in graphc.__all__ and "constraints" in graphc.__all__
