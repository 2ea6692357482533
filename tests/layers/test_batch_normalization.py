"""BatchNormalization: training vs inference formulas, moving averages, freezing, config,
ONNX export in inference form."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches

import graphc
from graphc import Input, Model, layers
from graphc.errors import ShapeError


def _model(shape=(6,), **kwargs):
    inp = Input(shape=shape)
    bn = layers.BatchNormalization(**kwargs)
    return Model(inp, bn(inp)), bn


def test_weights_in_keras_order_and_counts():
    model, bn = _model()
    assert [p.path.split("/")[-1] for p in bn.weights] == [
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ]
    assert [w.trainable for w in bn.weights] == [True, True, False, False]
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 12" in lines and "Non-trainable params: 12" in lines
    _, plain = _model(center=False, scale=False)
    assert [p.path.split("/")[-1] for p in plain.weights] == ["moving_mean", "moving_variance"]


def test_inference_uses_moving_statistics():
    model, bn = _model(epsilon=1e-3)
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 2, 6), rng.uniform(-1, 1, 6)
    mean, var = rng.uniform(-1, 1, 6), rng.uniform(0.5, 2, 6)
    bn.set_weights([gamma, beta, mean, var])
    x = rng.standard_normal((5, 6)).astype("float32")
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_training_normalises_with_the_batch_and_updates_moving_averages():
    model, bn = _model(momentum=0.9)
    model.compile(optimizer=graphc.optimizers.SGD(0.0), loss="mse")  # lr 0: only statistics
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 6)).astype("float32") * 3 + 2
    model.train_on_batch(x, np.zeros((8, 6), "float32"))
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    # The training-mode output is normalised by the batch: the loss is mean(y^2) ~ 1.
    loss = model.test_on_batch(x, np.zeros((8, 6), "float32"))
    assert loss > 1.5  # inference uses the (barely moved) moving statistics instead


def test_frozen_layer_runs_in_inference_mode_and_keeps_its_statistics():
    model, bn = _model()
    bn.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(2).standard_normal((16, 6)).astype("float32") + 5
    before = [w.copy() for w in bn.get_weights()]
    model.fit(x, np.zeros((16, 6), "float32"), epochs=2, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_channels_on_an_inner_axis_and_3d_inputs():
    model, bn = _model(shape=(4, 3), axis=-1)
    x = np.random.default_rng(3).standard_normal((2, 4, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 4, 3)
    inner, _ = _model(shape=(4, 3), axis=1)
    assert inner.count_params() == 16
    with pytest.raises(ShapeError, match="must be known"):
        layers.BatchNormalization()(Input(shape=(None,)))


def test_config_round_trip_and_save(tmp_path):
    model, bn = _model(momentum=0.9, epsilon=1e-2, center=False)
    again = layers.BatchNormalization.from_config(bn.get_config())
    assert again.get_config() == bn.get_config()
    path = tmp_path / "bn.graphc"
    model.save(path)
    loaded = graphc.models.load_model(path)
    x = np.random.default_rng(4).standard_normal((3, 6)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("shape", [(6,), (4, 6)])
@pytest.mark.parametrize("opset", [13, 18])
def test_onnx_export_is_the_inference_form(shape, opset):
    inp = Input(shape=shape)
    x = layers.Dense(6)(inp)
    bn = layers.BatchNormalization(epsilon=1e-3)
    model = Model(inp, layers.Activation("relu")(bn(x)))
    rng = np.random.default_rng(5)
    bn.set_weights(
        [
            rng.uniform(0.5, 2, 6),
            rng.uniform(-1, 1, 6),
            rng.uniform(-1, 1, 6),
            rng.uniform(0.5, 2, 6),
        ]
    )
    proto = graphc.onnx.export(model, opset=opset)
    # One BatchNormalization node with Keras's epsilon; the export passes fold it into the
    # Dense's Gemm when the Dense feeds only it.
    plain = graphc.onnx.export(model, opset=opset, optimize=False)
    node = next(n for n in plain.graph.node if n.op_type == "BatchNormalization")
    eps = next(a.f for a in node.attribute if a.name == "epsilon")
    assert eps == pytest.approx(1e-3)
    if len(shape) == 1:
        assert "BatchNormalization" not in [n.op_type for n in proto.graph.node]
    data = rng.standard_normal((7,) + shape).astype("float32")
    assert_onnx_matches(model, [data], proto=proto)
    assert_onnx_matches(model, [data], proto=plain)
