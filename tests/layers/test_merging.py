"""Merge layers: shapes, numbers against NumPy, errors, config round trip, the lower-case
functions, gradients through a trained model, and ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches

import graphc
from graphc import Input, Model, layers
from graphc.errors import ShapeError

RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 3)).astype("float32")
B = RNG.standard_normal((5, 3)).astype("float32")
C = RNG.standard_normal((5, 3)).astype("float32")

CASES = [
    (layers.Add, {}, [A, B, C], A + B + C),
    (layers.Subtract, {}, [A, B], A - B),
    (layers.Multiply, {}, [A, B, C], A * B * C),
    (layers.Average, {}, [A, B, C], (A + B + C) / 3),
    (layers.Maximum, {}, [A, B, C], np.maximum(np.maximum(A, B), C)),
    (layers.Minimum, {}, [A, B], np.minimum(A, B)),
    (layers.Concatenate, {}, [A, B[:, :2]], np.concatenate([A, B[:, :2]], axis=-1)),
    (layers.Concatenate, {"axis": 0}, [A, B], np.concatenate([A, B], axis=0)),
]


@pytest.mark.parametrize(
    "cls,kwargs,arrays,expected", CASES, ids=[f"{c[0].__name__}{c[1]}" for c in CASES]
)
def test_merge_layer_numbers_symbolic_and_eager(cls, kwargs, arrays, expected):
    layer = cls(**kwargs)
    eager = layer(arrays)
    np.testing.assert_allclose(eager, expected, rtol=1e-6)
    inputs = [Input(shape=a.shape[1:]) for a in arrays]
    out = cls(**kwargs)(inputs)
    model = Model(inputs, out)
    np.testing.assert_allclose(model.predict(arrays, verbose=0), expected, rtol=1e-6)
    assert cls.from_config(layer.get_config()).get_config() == layer.get_config()


def test_concatenate_shape_and_summary_connections():
    a, b = Input(shape=(4,), name="mg_a"), Input(shape=(6,), name="mg_b")
    out = layers.concatenate([a, b], name="mg_cat")
    assert out.shape == (None, 10)
    lines = []
    Model([a, b], out).summary(print_fn=lines.append)
    row = next(i for i, line in enumerate(lines) if line.startswith("mg_cat (Concatenate)"))
    assert "mg_a[0][0]" in lines[row] and "mg_b[0][0]" in lines[row + 1]


def test_lower_case_functions_make_layers():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    for fn, cls in (
        (layers.add, layers.Add),
        (layers.subtract, layers.Subtract),
        (layers.multiply, layers.Multiply),
        (layers.average, layers.Average),
        (layers.maximum, layers.Maximum),
        (layers.minimum, layers.Minimum),
        (layers.concatenate, layers.Concatenate),
    ):
        out = fn([a, b])
        assert isinstance(out.producer.top[0], cls)


def test_merge_errors_name_the_layer_and_shapes():
    a, b = Input(shape=(3,)), Input(shape=(4,))
    with pytest.raises(ShapeError, match=r"\(add\): shapes cannot be broadcast"):
        layers.Add(name="mg_bad_add")([a, b])
    with pytest.raises(ShapeError, match="must match on every axis but 0"):
        layers.Concatenate(axis=0)([a, b])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([a, a, a])
    with pytest.raises(ValueError, match="list of at least"):
        layers.Add()(a)


def test_two_branch_model_trains_saves_and_exports(tmp_path):
    graphc.utils.set_random_seed(3)
    a, b = Input(shape=(4,), name="left"), Input(shape=(6,), name="right")
    x = layers.concatenate(
        [layers.Dense(3, activation="relu")(a), layers.Dense(5, activation="tanh")(b)]
    )
    y = layers.average([layers.Dense(2)(x), layers.Dense(2)(x)])
    model = Model([a, b], y)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(4)
    xs = [rng.random((64, 4), dtype=np.float32), rng.random((64, 6), dtype=np.float32)]
    target = rng.random((64, 2), dtype=np.float32)
    history = model.fit(xs, target, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "two_branch.graphc"
    model.save(path)
    loaded = graphc.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0))
    assert_onnx_matches(model, [xs])
