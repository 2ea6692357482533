"""Permute and RepeatVector: harness, numbers, errors, transposes cancelling on export,
ONNX parity; the repeat op's general ONNX form."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_layer

import graphc
from graphc import Input, Model, Sequential, layers, ops
from graphc.errors import ShapeError


@pytest.mark.parametrize(
    "dims,in_shape,out_shape",
    [
        ((2, 1), (None, 3, 4), (None, 4, 3)),
        ((1,), (None, 5), (None, 5)),
        ((3, 1, 2), (None, 2, 3, 4), (None, 4, 2, 3)),
        ((2, 3, 1), (None, 2, 3, 4), (None, 3, 4, 2)),
    ],
)
def test_permute(dims, in_shape, out_shape):
    r = check_layer(layers.Permute, {"dims": dims}, in_shape, out_shape, 0)
    np.testing.assert_array_equal(r.y, np.transpose(r.x, (0,) + dims))
    assert r.layer.get_config()["dims"] == list(dims)


def test_permute_errors():
    with pytest.raises(
        ValueError,
        match=r"must be consecutive and start from 1. "
        r"Received dims=\(0, 1\)",
    ):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match="Received dims"):
        layers.Permute((1, 3))
    with pytest.raises(
        ShapeError,
        match=r"permute_bad \(Permute\): expected an input of "
        r"rank 3",
    ):
        layers.Permute((2, 1), name="permute_bad")(Input(shape=(3, 4, 5)))


@pytest.mark.parametrize("n", [1, 3])
def test_repeat_vector(n):
    r = check_layer(layers.RepeatVector, {"n": n}, (None, 5), (None, n, 5), 0)
    np.testing.assert_array_equal(r.y, np.repeat(r.x[:, None, :], n, axis=1))
    assert r.layer.get_config()["n"] == n


def test_repeat_vector_errors():
    with pytest.raises(TypeError, match="Expected an integer value for `n`"):
        layers.RepeatVector(2.0)
    with pytest.raises(ValueError, match=r"Received: n=0"):
        layers.RepeatVector(0)
    with pytest.raises(ShapeError, match=r"expected an input of rank 2"):
        layers.RepeatVector(2)(Input(shape=(3, 4)))


def _seq2seq_like():
    """Encoder vector repeated per step, steps and features swapped and back (the
    transposes cancel on export), then a per-step Dense."""
    graphc.utils.set_random_seed(5)
    return Sequential(
        [
            Input(shape=(6,)),
            layers.Dense(4, activation="tanh"),
            layers.RepeatVector(3),
            layers.Permute((2, 1)),
            layers.Permute((2, 1)),
            layers.Dense(2),
            layers.Permute((2, 1)),
            layers.Flatten(),
        ]
    )


def test_repeat_and_permute_model_trains_and_exports():
    model = _seq2seq_like()
    assert model.output_shape == (None, 6)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.standard_normal((32, 6)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    proto = graphc.onnx.export(model)
    kinds = [n.op_type for n in proto.graph.node]
    assert "Expand" in kinds and kinds.count("Transpose") == 1  # one inverse pair cancelled
    assert_onnx_matches(model, [x[:1], x[:7]], proto=proto)


def test_export_without_passes_keeps_both_transposes():
    model = _seq2seq_like()
    proto = graphc.onnx.export(model, optimize=False)
    assert [n.op_type for n in proto.graph.node].count("Transpose") == 3


def test_repeat_op_general_onnx_form_with_unknown_dimensions():
    """np.repeat along an axis longer than 1 with an unknown trailing dimension: the
    ONNX form reads the shape at run time."""
    inp = Input(shape=(2, None), name="x")
    model = Model(inp, ops.repeat(inp, 3, axis=1))
    assert model.output_shape == (None, 6, None)
    runtime_proto = graphc.onnx.export(model)
    runtime = graphc.onnx.Runtime(runtime_proto)
    for shape in ((1, 2, 3), (4, 2, 5)):
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        np.testing.assert_array_equal(runtime.predict(x), np.repeat(x, 3, axis=1))
        np.testing.assert_array_equal(model.predict(x, verbose=0), np.repeat(x, 3, axis=1))
        assert_onnx_matches(model, [x], proto=runtime_proto)
