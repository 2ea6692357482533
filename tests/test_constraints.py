"""graphc.constraints: Keras 3's formulas (checked by hand), defaults, names, configs,
serialization and errors."""

from __future__ import annotations

import numpy as np
import pytest

from graphc import constraints, layers

EPS = 1e-7  # keras.backend.epsilon()


def test_max_norm_by_hand():
    w = np.array([[3.0, 0.3], [4.0, 0.4]], np.float32)  # column norms 5 and 0.5
    out = constraints.MaxNorm(2.0)(w)
    np.testing.assert_allclose(out[:, 0], w[:, 0] * 2.0 / (5.0 + EPS), rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], w[:, 1] * 0.5 / (0.5 + EPS), rtol=1e-6)
    rows = constraints.MaxNorm(1.0, axis=1)(w)  # row norms ~3.015 and ~4.02
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), [1, 1], rtol=1e-5)
    assert out.dtype == np.float32


def test_max_norm_on_conv_filters():
    w = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype(np.float32) * 3
    out = constraints.MaxNorm(1.5, axis=[0, 1, 2])(w)
    np.testing.assert_allclose(np.linalg.norm(out.reshape(-1, 4), axis=0), [1.5] * 4, rtol=1e-5)


def test_non_neg_unit_norm_min_max_norm_by_hand():
    w = np.array([[3.0, -0.3], [-4.0, 0.4]], np.float32)
    np.testing.assert_array_equal(constraints.NonNeg()(w), np.float32([[3.0, 0.0], [0.0, 0.4]]))
    np.testing.assert_allclose(
        constraints.UnitNorm()(w), w / (np.array([5.0, 0.5]) + EPS), rtol=1e-6
    )
    # min 1, max 2, rate 0.5: column 0 norm 5 -> 0.5 * 2 + 0.5 * 5 = 3.5; column 1: 0.5 -> 0.75
    out = constraints.MinMaxNorm(1.0, 2.0, rate=0.5)(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [3.5, 0.75], rtol=1e-5)
    np.testing.assert_array_equal(constraints.Constraint()(w), w)


def test_defaults_and_names_as_keras():
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert constraints.get("unit_norm").get_config() == {"axis": 0}
    assert constraints.get("min_max_norm").get_config() == {
        "min_value": 0.0,
        "max_value": 1.0,
        "rate": 1.0,
        "axis": 0,
    }
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert isinstance(constraints.get("MaxNorm"), constraints.MaxNorm)
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.non_neg is constraints.NonNeg
    assert constraints.unit_norm is constraints.UnitNorm
    assert constraints.min_max_norm is constraints.MinMaxNorm
    assert constraints.get(None) is None


def test_serialize_round_trip_in_keras_format():
    config = constraints.serialize(constraints.MaxNorm(3, axis=[0, 1, 2]))
    assert config == {
        "module": "keras.constraints",
        "class_name": "MaxNorm",
        "config": {"max_value": 3, "axis": [0, 1, 2]},
        "registered_name": None,
    }
    assert constraints.deserialize(config).axis == [0, 1, 2]
    assert constraints.serialize(constraints.NonNeg())["config"] == {}
    assert constraints.get({"class_name": "unit_norm", "config": {"axis": 1}}).axis == 1


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: constraints.get("nonneg"), "Could not interpret constraint identifier: 'nonneg'"),
        (lambda: constraints.get(3), "identifier: 3 .of type int"),
        (
            lambda: constraints.deserialize({"class_name": "Clip", "config": {}}),
            "Unknown constraint class 'Clip'",
        ),
        (lambda: layers.Dense(2, kernel_constraint="maxnorm"), "identifier: 'maxnorm'"),
    ],
)
def test_errors_name_what_was_received(make, match):
    with pytest.raises(ValueError, match=match):
        make()
