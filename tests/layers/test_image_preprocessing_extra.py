"""ContrastLimitedAdaptiveHistogramEqualization, AugMix and MaxNumBoundingBoxes without
Keras: shapes, configs, the zero gradient of CLAHE, errors (their Keras parity:
tests/oracle/test_keras_image_preprocessing_extra_parity.py)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.errors import ArgumentTypeError, ArgumentValueError, ShapeError
from tests.layers.harness import check_layer

CLAHE = layers.ContrastLimitedAdaptiveHistogramEqualization


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        ({"tile_grid_size": (2, 3), "clip_limit": 2.0}, (2, 7, 8, 3)),
        ({"data_format": "channels_first", "value_range": (-3, 3)}, (2, 1, 5, 9)),
    ],
)
def test_clahe_layer(kwargs, shape):
    check_layer(CLAHE, kwargs, shape, shape, 0)


def test_clahe_properties():
    rng = np.random.default_rng(0)
    x = (rng.random((2, 12, 12, 3)) * 100 + 50).astype("float32")
    y = CLAHE(tile_grid_size=(3, 3))(x)
    assert y.min() >= 0 and y.max() <= 255 and y.std() > x.std()  # more contrast
    # a value's rank within its tile survives (the mappings are increasing)
    one = CLAHE(tile_grid_size=(1, 1))(x[:1, :, :, :1])[0, :, :, 0]
    order = np.argsort(x[0, :, :, 0], axis=None)
    assert np.all(np.diff(one.reshape(-1)[order]) >= -1e-4)
    # in training too, and no weights
    np.testing.assert_array_equal(CLAHE(tile_grid_size=(3, 3))(x, training=True), y)


def test_clahe_gradient_is_zero_and_fit_runs():
    inputs = graphc.Input(shape=(6, 6, 1))
    h = layers.Dense(1)(inputs)
    out = layers.Dense(1)(layers.Flatten()(CLAHE(tile_grid_size=(2, 2))(h)))
    model = graphc.Model(inputs, out)
    model.compile("sgd", "mse")
    before = model.layers[1].get_weights()[0].copy()
    x = np.random.default_rng(1).random((4, 6, 6, 1)).astype("float32") * 255
    model.fit(x, np.ones((4, 1), "float32"), epochs=1, verbose=0)
    # the Dense before CLAHE gets a zero gradient (CLAHE is piecewise constant)
    np.testing.assert_array_equal(model.layers[1].get_weights()[0], before)


def test_clahe_errors():
    with pytest.raises(ArgumentValueError, match=r"tile_grid_size=\(8, 8\)"):
        CLAHE(tile_grid_size=(8,))
    with pytest.raises(ArgumentTypeError, match="clip_limit"):
        CLAHE(clip_limit="4")
    with pytest.raises(ArgumentValueError, match="value_range"):
        CLAHE(value_range=255)
    with pytest.raises(ShapeError, match="known height"):
        CLAHE()(graphc.Input(shape=(None, 8, 3)))


def test_aug_mix_layer_and_errors():
    x = np.random.default_rng(2).random((3, 5, 6, 3)).astype("float32")
    layer = layers.AugMix(value_range=(0, 1), num_chains=2, chain_depth=2)
    y = layer(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert layer(x, training=False) is x
    assert layer.get_config()["factor"] == [0, 0.3]
    with pytest.raises(ArgumentValueError, match="num_chains"):
        layers.AugMix(num_chains=0)
    with pytest.raises(ArgumentValueError, match="alpha"):
        layers.AugMix(alpha=0)
    with pytest.raises(ValueError, match="factor"):
        layers.AugMix(factor=1.5)
    with pytest.raises(NotImplementedError, match="interpolation"):
        layers.AugMix(interpolation="bicubic")


def test_max_num_bounding_boxes_pads_and_truncates():
    boxes = np.arange(24, dtype="float32").reshape(2, 3, 4)
    labels = np.array([[1, 2, 3], [4, 5, 6]])
    layer = layers.MaxNumBoundingBoxes(4, bounding_box_format="xyxy")
    data = {"images": np.zeros((2, 4, 4, 3)), "bounding_boxes": {"boxes": boxes, "labels": labels}}
    out = layer(data)
    assert out["bounding_boxes"]["boxes"].shape == (2, 4, 4)
    assert out["bounding_boxes"]["labels"].tolist() == [[1, 2, 3, -1], [4, 5, 6, -1]]
    short = layers.MaxNumBoundingBoxes(2, fill_value=0, bounding_box_format="xyxy")
    out = short({"bounding_boxes": {"boxes": boxes, "labels": labels}})
    assert out["bounding_boxes"]["labels"].tolist() == [[1, 2], [4, 5]]
