"""Pooling layers: the harness, numbers against direct NumPy formulas (TensorFlow's "same"
rules), Keras's defaults, aliases and errors, and ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_layer

import graphc
from graphc import Input, Model, layers
from graphc.errors import ShapeError

WINDOWED = [
    (layers.MaxPooling2D, {}, (None, 5, 5, 3), (None, 2, 2, 3)),
    (layers.MaxPooling2D, {"pool_size": 2, "padding": "same"}, (None, 5, 5, 3), (None, 3, 3, 3)),
    (layers.MaxPooling2D, {"pool_size": 3, "strides": 1}, (None, 5, 6, 2), (None, 3, 4, 2)),
    (
        layers.MaxPooling2D,
        {"pool_size": (3, 2), "strides": (2, 1), "padding": "same"},
        (None, 5, 5, 2),
        (None, 3, 5, 2),
    ),
    (layers.MaxPooling2D, {"data_format": "channels_first"}, (None, 3, 5, 4), (None, 3, 2, 2)),
    (layers.AveragePooling2D, {"pool_size": 2}, (None, 5, 5, 3), (None, 2, 2, 3)),
    (
        layers.AveragePooling2D,
        {"pool_size": 2, "padding": "same"},
        (None, 5, 5, 3),
        (None, 3, 3, 3),
    ),
    (
        layers.AveragePooling2D,
        {"pool_size": 3, "strides": 2, "padding": "same"},
        (None, 6, 5, 2),
        (None, 3, 3, 2),
    ),
    (
        layers.AveragePooling2D,
        {"pool_size": 2, "strides": 1, "padding": "same", "data_format": "channels_first"},
        (None, 2, 4, 5),
        (None, 2, 4, 5),
    ),
    (layers.MaxPooling1D, {}, (None, 7, 3), (None, 3, 3)),
    (
        layers.MaxPooling1D,
        {"pool_size": 3, "strides": 1, "padding": "same"},
        (None, 7, 3),
        (None, 7, 3),
    ),
    (
        layers.AveragePooling1D,
        {"pool_size": 3, "strides": 2, "padding": "same"},
        (None, 8, 3),
        (None, 4, 3),
    ),
    (
        layers.AveragePooling1D,
        {"pool_size": 2, "data_format": "channels_first"},
        (None, 3, 7),
        (None, 3, 3),
    ),
    # pads (1, 2): TensorFlow averages the input elements only; Keras 3 on torch differs
    # here (it replicates the edge, keras/src/backend/torch/nn.py `_apply_same_padding`)
    (
        layers.AveragePooling1D,
        {"pool_size": 4, "strides": 1, "padding": "same"},
        (None, 6, 2),
        (None, 6, 2),
    ),
    (
        layers.AveragePooling2D,
        {"pool_size": 4, "strides": 1, "padding": "same"},
        (None, 5, 6, 2),
        (None, 5, 6, 2),
    ),
]


def _reference(x, mode, pool, strides, padding):
    """Direct pooling (channels-last) with TensorFlow's "same": max ignores the padding,
    the average counts the input elements in each window only."""
    n = len(pool)
    pads, out = [], []
    for i in range(n):
        size = x.shape[1 + i]
        if padding == "valid":
            pads.append(0)
            out.append((size - pool[i]) // strides[i] + 1)
        else:
            o = -(-size // strides[i])
            pads.append(max((o - 1) * strides[i] + pool[i] - size, 0) // 2)
            out.append(o)
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    for pos in np.ndindex(*out):
        sl = tuple(
            slice(max(p * s - b, 0), min(p * s - b + k, x.shape[1 + i]))
            for i, (p, s, b, k) in enumerate(zip(pos, strides, pads, pool))
        )
        win = x[(slice(None), *sl)].reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None), *pos)] = win.max(axis=1) if mode == "max" else win.mean(axis=1)
    return y


@pytest.mark.parametrize(
    "cls,kwargs,shape,expected",
    WINDOWED,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(WINDOWED)],
)
def test_pooling_harness_and_numbers(cls, kwargs, shape, expected):
    checked = check_layer(cls, kwargs, shape, expected, 0)
    layer, x = checked.layer, checked.x.astype(np.float64)
    first = layer.data_format == "channels_first"
    mode = "max" if "Max" in cls.__name__ else "avg"
    ref = _reference(
        np.moveaxis(x, 1, -1) if first else x, mode, layer.pool_size, layer.strides, layer.padding
    )
    np.testing.assert_allclose(
        checked.y, np.moveaxis(ref, -1, 1) if first else ref, rtol=1e-6, atol=1e-6
    )


GLOBAL = [
    (layers.GlobalMaxPooling2D, {}, (None, 4, 5, 3), (None, 3)),
    (layers.GlobalMaxPooling2D, {"keepdims": True}, (None, 4, 5, 3), (None, 1, 1, 3)),
    (layers.GlobalAveragePooling2D, {}, (None, 4, 5, 3), (None, 3)),
    (
        layers.GlobalAveragePooling2D,
        {"data_format": "channels_first", "keepdims": True},
        (None, 3, 4, 5),
        (None, 3, 1, 1),
    ),
    (layers.GlobalMaxPooling1D, {"data_format": "channels_first"}, (None, 3, 6), (None, 3)),
    (layers.GlobalAveragePooling1D, {}, (None, 6, 3), (None, 3)),
    (layers.GlobalAveragePooling1D, {"keepdims": True}, (None, None, 3), (None, 1, 3)),
]


@pytest.mark.parametrize(
    "cls,kwargs,shape,expected", GLOBAL, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(GLOBAL)]
)
def test_global_pooling_harness_and_numbers(cls, kwargs, shape, expected):
    if None in shape[1:]:
        layer = cls(**kwargs)
        assert layer(Input(batch_shape=shape)).shape == expected
        return
    checked = check_layer(cls, kwargs, shape, expected, 0)
    layer, x = checked.layer, checked.x
    axes = (
        tuple(range(2, x.ndim))
        if layer.data_format == "channels_first"
        else tuple(range(1, x.ndim - 1))
    )
    fn = np.max if "Max" in cls.__name__ else np.mean
    np.testing.assert_allclose(checked.y, fn(x, axis=axes, keepdims=layer.keepdims), rtol=1e-6)


def test_keras_defaults_aliases_and_config():
    assert layers.MaxPooling2D().pool_size == (2, 2)
    assert layers.MaxPooling1D().pool_size == (2,)
    assert layers.MaxPooling2D(3).strides == (3, 3)  # strides default to pool_size
    with pytest.raises(TypeError):
        layers.AveragePooling2D()  # no default pool_size in Keras 3
    assert layers.MaxPool2D is layers.MaxPooling2D and layers.AvgPool1D is layers.AveragePooling1D
    assert layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D
    assert layers.GlobalMaxPool1D is layers.GlobalMaxPooling1D
    assert layers.MaxPooling2D().name.startswith("max_pooling2d")
    assert layers.GlobalAveragePooling2D().name.startswith("global_average_pooling2d")
    config = layers.AveragePooling2D(3, strides=1, padding="same").get_config()
    assert {k: config[k] for k in ("pool_size", "strides", "padding", "data_format")} == {
        "pool_size": [3, 3],
        "strides": [1, 1],
        "padding": "same",
        "data_format": "channels_last",
    }
    config = layers.GlobalMaxPooling1D(keepdims=True).get_config()
    assert config["keepdims"] is True and config["data_format"] == "channels_last"


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: layers.MaxPooling2D(0), "pool_size"),
        (lambda: layers.MaxPooling2D((2, 2, 2)), "pool_size"),
        (lambda: layers.MaxPooling2D(2, padding="full"), "padding"),
        (lambda: layers.MaxPooling1D(2, padding="causal"), "padding"),
        (lambda: layers.AveragePooling2D(2, data_format="nchw"), "data_format"),
        (lambda: layers.GlobalAveragePooling2D(data_format="nchw"), "data_format"),
    ],
)
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_pooling_shape_errors():
    with pytest.raises(ShapeError, match="expected ndim=4"):
        layers.MaxPooling2D()(Input(shape=(5, 3)))
    with pytest.raises(ShapeError, match="expected ndim=3"):
        layers.GlobalMaxPooling1D()(Input(shape=(5, 5, 3)))
    with pytest.raises(ShapeError, match="window does not fit"):
        layers.MaxPooling2D(3)(Input(shape=(2, 5, 1)))


def test_max_pool_gradient_goes_to_the_first_maximum():
    """TensorFlow and PyTorch give a tied window's gradient to its first maximum."""
    from graphc.ops import get_op

    op = get_op("max_pool")
    attrs = {
        "pool_size": (2, 2),
        "strides": (2, 2),
        "padding": "valid",
        "data_format": "channels_last",
    }
    x = np.ones((1, 2, 2, 1))
    (gx,) = op.gradients(attrs, [x], [op.run(attrs, [x])], [np.full((1, 1, 1, 1), 5.0)])
    np.testing.assert_array_equal(gx[0, :, :, 0], [[5, 0], [0, 0]])
    op = get_op("global_max_pool")  # reduce_max splits ties evenly instead
    attrs = {"data_format": "channels_last", "keepdims": False}
    (gx,) = op.gradients(attrs, [x], [op.run(attrs, [x])], [np.full((1, 1), 4.0)])
    np.testing.assert_array_equal(gx[0, :, :, 0], [[1, 1], [1, 1]])


def test_pooling_model_onnx_parity():
    graphc.utils.set_random_seed(11)
    inp = Input(shape=(9, 7, 2), name="img")
    cf = Input(shape=(2, 9, 7), name="img_cf")
    a = layers.MaxPooling2D(3, strides=2, padding="same")(inp)
    b = layers.AveragePooling2D(2, padding="same")(inp)
    c = layers.AveragePooling2D(3, strides=1, padding="same", data_format="channels_first")(cf)
    d = layers.MaxPooling1D(2, padding="same")(layers.Reshape((63, 2))(inp))
    outs = [
        layers.GlobalMaxPooling2D()(a),
        layers.GlobalAveragePooling2D(keepdims=True)(b),
        layers.GlobalAveragePooling2D(data_format="channels_first")(c),
        layers.GlobalMaxPooling1D(data_format="channels_first", keepdims=True)(d),
    ]
    model = Model([inp, cf], outs)
    batches = []
    for batch in (1, 4):
        x = np.random.default_rng(batch).standard_normal((batch, 9, 7, 2)).astype("float32")
        batches.append([x, np.moveaxis(x, -1, 1).copy()])
    assert len(model.outputs) == 4
    assert_onnx_matches(model, batches)
