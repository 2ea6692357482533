"""Layers made of existing ops (graphc/layers/simple.py): shapes, errors, masks, saving."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers


def _double(x):
    return x * 2


def test_shapes():
    assert layers.Cropping1D(2)(graphc.Input(shape=(7, 3))).shape == (None, 3, 3)
    assert layers.Cropping3D(1)(graphc.Input(shape=(4, 4, 4, 2))).shape == (None, 2, 2, 2, 2)
    assert layers.UpSampling3D(2)(graphc.Input(shape=(1, 2, 3, 4))).shape == (None, 2, 4, 6, 4)
    assert layers.SpatialDropout2D(0.3)(graphc.Input(shape=(4, 4, 2))).shape == (None, 4, 4, 2)


def test_errors():
    with pytest.raises(ValueError, match="leaves nothing"):
        layers.Cropping1D((3, 4))(graphc.Input(shape=(7, 3)))
    with pytest.raises(ValueError, match="negative"):
        layers.Cropping2D(-1)
    with pytest.raises(ValueError, match="rate"):
        layers.SpatialDropout1D(1.5)
    with pytest.raises(NotImplementedError, match="anonymous"):
        layers.Lambda(lambda x: x).get_config()


def test_spatial_dropout_drops_whole_channels_in_training_only():
    x = np.ones((2, 50, 8), "float32")
    layer = layers.SpatialDropout1D(0.5)
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    per_channel = y.std(axis=1)
    np.testing.assert_array_equal(per_channel, 0)  # a channel is kept or dropped whole
    assert set(np.unique(y)) <= {0.0, 2.0}


def test_prelu_and_rmsnorm_weights():
    inp = graphc.Input(shape=(4, 4, 3))
    layer = layers.PReLU(shared_axes=[1, 2])
    layer(inp)
    assert layer.get_weights()[0].shape == (1, 1, 3)
    norm = layers.RMSNormalization()
    norm(inp)
    np.testing.assert_array_equal(norm.get_weights()[0], np.ones(3))


def test_lambda_saves_by_name(tmp_path):
    inp = graphc.Input(shape=(3,))
    model = graphc.Model(inp, layers.Lambda(_double, name="twice")(layers.Dense(2)(inp)))
    path = tmp_path / "m.graphc"
    model.save(path)
    with pytest.raises(ValueError, match="custom_objects"):
        graphc.models.load_model(path)
    back = graphc.models.load_model(path, custom_objects={"_double": _double})
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unit_normalization_keeps_masks():
    inp = graphc.Input(shape=(3,))
    emb = layers.Embedding(5, 4, mask_zero=True)(inp)
    out = layers.UnitNormalization()(emb)
    assert graphc.recording.get_keras_mask(out) is not None
    x = np.array([[1, 2, 0]])
    y = graphc.Model(inp, out).predict(x, verbose=0)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 1, rtol=1e-5)


def test_zero_padding_shapes():
    assert layers.ZeroPadding1D(2)(graphc.Input(shape=(5, 3))).shape == (None, 9, 3)
    assert layers.ZeroPadding2D(((1, 2), (0, 1)))(graphc.Input(shape=(4, 4, 3))).shape == (
        None,
        7,
        5,
        3,
    )
    assert layers.ZeroPadding3D(1)(graphc.Input(shape=(2, 2, 2, 1))).shape == (None, 4, 4, 4, 1)
    with pytest.raises(ValueError, match="negative"):
        layers.ZeroPadding2D(-1)


@pytest.mark.parametrize(
    "layer",
    [layers.GaussianNoise(0.4), layers.GaussianDropout(0.3), layers.AlphaDropout(0.3)],
    ids=["GaussianNoise", "GaussianDropout", "AlphaDropout"],
)
def test_noise_layers_act_in_training_only(layer):
    x = np.full((4000, 6), 0.5, "float32")
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    y = layer(x, training=True)
    assert y.shape == x.shape and y.dtype == x.dtype and not np.array_equal(y, x)
    inp = graphc.Input(shape=(6,))
    model = graphc.Model(inp, layers.Dense(1)(layer(inp)))
    np.testing.assert_array_equal(model.predict(x[:3], verbose=0), model(x[:3]))
    model.compile(optimizer="sgd", loss="mse")
    loss = model.fit(x[:64], x[:64, :1], epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)


def test_noise_layers_use_keras_formulas():
    x = np.full((20000, 5), 0.5, "float32")
    y = layers.GaussianNoise(0.3)(x, training=True)
    assert abs(y.mean() - 0.5) < 0.01 and abs(y.std() - 0.3) < 0.01
    y = layers.GaussianDropout(0.2)(x, training=True)
    assert abs(y.mean() - 0.5) < 0.01 and abs(y.std() - 0.5 * 0.5) < 0.01  # sqrt(.2/.8)
    rate, alpha_p = 0.2, -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    b = -a * alpha_p * rate
    y = layers.AlphaDropout(rate, noise_shape=(None, 1))(x, training=True)
    np.testing.assert_allclose(np.unique(y), sorted([a * alpha_p + b, a * 0.5 + b]), rtol=1e-6)
    assert (y.std(axis=1) == 0).all()  # the noise shape broadcasts over the features
    assert abs((y == np.float32(a * alpha_p + b)).mean() - rate) < 0.02


def test_noise_layers_reject_bad_amounts():
    from graphc.errors import ArgumentValueError

    with pytest.raises(ArgumentValueError, match="stddev"):
        layers.GaussianNoise(1.5)
    with pytest.raises(ArgumentValueError, match="rate"):
        layers.AlphaDropout(-0.1)
    with pytest.raises(ArgumentValueError, match="below 1"):
        layers.GaussianDropout(1.0)(np.ones((2, 3), "float32"), training=True)
