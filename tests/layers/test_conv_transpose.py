"""Conv1DTranspose / Conv2DTranspose / Conv3DTranspose: the harness, numbers against a
direct NumPy scatter loop, Keras's argument errors, channels_first, whole-model gradients
and ONNX parity (with the transposes between layers cancelled)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from harness import assert_onnx_matches, check_gradients, check_layer, randomize_weights

import graphc
from graphc import Input, Model, layers
from graphc.errors import ShapeError

CASES = [
    # (cls, kwargs, input shape, output shape, params); params = k*F*C + F
    (
        layers.Conv2DTranspose,
        {"filters": 4, "kernel_size": 3},
        (None, 4, 4, 3),
        (None, 6, 6, 4),
        112,
    ),
    (
        layers.Conv2DTranspose,
        {"filters": 4, "kernel_size": 3, "padding": "same"},
        (None, 4, 5, 3),
        (None, 4, 5, 4),
        112,
    ),
    (
        layers.Conv2DTranspose,
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
        (None, 4, 4, 3),
        (None, 8, 8, 4),
        112,
    ),
    (
        layers.Conv2DTranspose,
        {"filters": 2, "kernel_size": 3, "strides": 2},
        (None, 3, 4, 3),
        (None, 7, 9, 2),
        56,
    ),
    (
        layers.Conv2DTranspose,
        {"filters": 2, "kernel_size": 2, "strides": 3},
        (None, 3, 3, 3),
        (None, 9, 9, 2),
        26,
    ),  # stride > kernel: (in - 1) * s + max(k, s)
    (
        layers.Conv2DTranspose,
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": (0, 1)},
        (None, 3, 3, 3),
        (None, 5, 6, 2),
        56,
    ),
    (
        layers.Conv2DTranspose,
        {"filters": 2, "kernel_size": 3, "strides": 3, "output_padding": 2},
        (None, 2, 2, 1),
        (None, 8, 8, 2),
        20,
    ),
    (
        layers.Conv2DTranspose,
        {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "use_bias": False},
        (None, 3, 3, 2),
        (None, 7, 7, 2),
        36,
    ),
    (
        layers.Conv2DTranspose,
        {
            "filters": 4,
            "kernel_size": 3,
            "strides": 2,
            "padding": "same",
            "data_format": "channels_first",
        },
        (None, 3, 4, 5),
        (None, 4, 8, 10),
        112,
    ),
    (
        layers.Conv1DTranspose,
        {"filters": 4, "kernel_size": 3, "strides": 2},
        (None, 5, 3),
        (None, 11, 4),
        40,
    ),
    (
        layers.Conv1DTranspose,
        {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same", "activation": "tanh"},
        (None, 5, 3),
        (None, 10, 2),
        26,
    ),
    (
        layers.Conv1DTranspose,
        {"filters": 2, "kernel_size": 3, "data_format": "channels_first"},
        (None, 3, 4),
        (None, 2, 6),
        20,
    ),
    (
        layers.Conv3DTranspose,
        {"filters": 2, "kernel_size": 2, "strides": (2, 1, 2)},
        (None, 2, 3, 2, 3),
        (None, 4, 4, 4, 2),
        50,
    ),
]


def _reference(x, w, b, strides, padding, output_padding, dilation):
    """Direct scatter (channels-last): each input pixel adds ``x @ w[o].T`` at
    ``i * s + o * d`` of the full output, cropped/extended by Keras's rule (written out
    here from keras/src/backend/common/backend_utils.py, independently of the op)."""
    n = w.ndim - 2
    k = w.shape[:n]
    full = [(x.shape[1 + i] - 1) * strides[i] + (k[i] - 1) * dilation[i] + 1 for i in range(n)]
    y = np.zeros((x.shape[0], *full, w.shape[-2]))
    for pos in np.ndindex(*x.shape[1:-1]):
        for offs in np.ndindex(*k):
            idx = tuple(p * s + o * d for p, s, o, d in zip(pos, strides, offs, dilation))
            y[(slice(None), *idx)] += x[(slice(None), *pos)] @ w[offs].T
    crops = []
    for i in range(n):
        eff, s = (k[i] - 1) * dilation[i] + 1, strides[i]
        op = None if output_padding is None else output_padding[i]
        if padding == "valid":
            left, right = eff - 1, eff - 1 + (max(eff, s) - eff if op is None else op)
        else:
            total = s + eff - 2 if op is None else eff + eff % 2 - 2 + op
            left = min(total // 2 + total % 2, eff - 1)
            right = total - left
        crops.append((eff - 1 - left, eff - 1 - right))
    y = np.pad(y, [(0, 0)] + [(max(-a, 0), max(-c, 0)) for a, c in crops] + [(0, 0)])
    y = y[
        (
            slice(None),
            *(slice(max(a, 0), y.shape[1 + i] - max(c, 0)) for i, (a, c) in enumerate(crops)),
        )
    ]
    return y + (0 if b is None else b)


@pytest.mark.parametrize(
    "cls,kwargs,shape,expected,params",
    CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_conv_transpose_harness_and_numbers(cls, kwargs, shape, expected, params):
    checked = check_layer(cls, kwargs, shape, expected, params)
    layer, x, y = checked.layer, checked.x.astype(np.float64), checked.y
    w = layer.kernel.numpy().astype(np.float64)
    b = layer.bias.numpy().astype(np.float64) if layer.use_bias else None
    first = layer.data_format == "channels_first"
    xl = np.moveaxis(x, 1, -1) if first else x
    ref = _reference(
        xl, w, b, layer.strides, layer.padding, layer.output_padding, layer.dilation_rate
    )
    ref = layer.activation(ref) if layer.activation is not graphc.activations.linear else ref
    ref = np.moveaxis(ref, -1, 1) if first else ref
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_unknown_spatial_size_stays_unknown():
    layer = layers.Conv2DTranspose(4, 3, strides=2, padding="same")
    out = layer(Input(shape=(None, 5, 3)))
    assert out.shape == (None, None, 10, 4)
    assert layer.compute_output_shape((None, 6, 5, 3)) == (None, 12, 10, 4)
    assert layer(np.zeros((1, 3, 5, 3), "float32")).shape == (1, 6, 10, 4)


def test_weights_are_keras_layout_and_names():
    layer = layers.Conv2DTranspose(8, (3, 2), name="up")
    layer(Input(shape=(9, 9, 5)))
    assert [p.path for p in layer.weights] == ["up/kernel", "up/bias"]
    # filters before input channels: the reverse of Conv2D
    assert [w.shape for w in layer.get_weights()] == [(3, 2, 8, 5), (8,)]
    assert layers.Conv2DTranspose(2, 3).name.startswith("conv2d_transpose")
    assert layers.Conv1DTranspose(2, 3).name.startswith("conv1d_transpose")
    assert layers.Conv3DTranspose(2, 3).name.startswith("conv3d_transpose")
    assert layers.Convolution2DTranspose is layers.Conv2DTranspose
    assert layers.Convolution1DTranspose is layers.Conv1DTranspose
    assert layers.Convolution3DTranspose is layers.Conv3DTranspose


def test_config_is_keras_and_round_trips():
    layer = layers.Conv2DTranspose(
        4,
        3,
        strides=(2, 1),
        padding="SAME",
        activation="relu",
        output_padding=(1, 0),
        kernel_initializer="he_normal",
    )
    config = layer.get_config()
    for key, value in {
        "filters": 4,
        "kernel_size": [3, 3],
        "strides": [2, 1],
        "padding": "same",
        "output_padding": [1, 0],
        "data_format": "channels_last",
        "dilation_rate": [1, 1],
        "activation": "relu",
        "use_bias": True,
    }.items():
        assert config[key] == value, key
    assert "groups" not in config  # Keras's transposed convolutions have none
    assert json.loads(json.dumps(config)) == config
    assert layers.Conv2DTranspose.from_config(config).get_config() == config
    assert layers.Conv1DTranspose(2, 3).get_config()["output_padding"] is None


def test_saved_model_round_trip(tmp_path):
    graphc.utils.set_random_seed(4)
    inp = Input(shape=(4, 4, 2))
    out = layers.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1)(inp)
    model = Model(inp, out)
    path = tmp_path / "m.graphc"
    model.save(path)
    again = graphc.models.load_model(path)
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 2)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"filters": 0, "kernel_size": 3}, "filters=0"),
        ({"filters": 4, "kernel_size": (3, 3, 3)}, "kernel_size"),
        ({"filters": 4, "kernel_size": 0}, "kernel_size"),
        ({"filters": 4, "kernel_size": 3, "strides": 0}, "strides"),
        ({"filters": 4, "kernel_size": 3, "padding": "causal"}, "padding"),
        ({"filters": 4, "kernel_size": 3, "data_format": "nhwc"}, "data_format"),
        ({"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "dilation_rate"),
        ({"filters": 4, "kernel_size": 3, "output_padding": -1}, "output_padding"),
        (
            {"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 2},
            "At dimension 0, `output_padding` is 2 but `strides` is 2",
        ),
        ({"filters": 4, "kernel_size": 3, "output_padding": (0, 1)}, "strictly less"),
        ({"filters": 4, "kernel_size": 3, "activation": "nope"}, "nope"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Conv2DTranspose(**kwargs)


def test_unsupported_keras_arguments_say_so():
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: 'l3'"):
        layers.Conv2DTranspose(2, 3, kernel_regularizer="l3")


def test_shape_errors_name_the_layer():
    with pytest.raises(ShapeError, match="min_ndim=4"):
        layers.Conv2DTranspose(2, 3)(Input(shape=(5, 3)))
    up = layers.Conv2DTranspose(2, 3)
    up(Input(shape=(5, 5, 3)))
    with pytest.raises(ShapeError, match="expected axis -1 of input shape to have value 3"):
        up(Input(shape=(5, 5, 4)))
    with pytest.raises(ShapeError, match="channel dimension"):
        layers.Conv2DTranspose(2, 3)(Input(shape=(5, 5, None)))
    # "same" with an even kernel and no output_padding gives (in - 1) * s: empty for in=1
    with pytest.raises(ShapeError, match="output size 0"):
        layers.Conv1DTranspose(2, 2, padding="same", output_padding=0)(Input(shape=(1, 3)))


def test_channels_first_equals_channels_last_transposed():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 4, 3)).astype("float32")
    last = layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=(1, 0))
    first = layers.Conv2DTranspose(
        4, 3, strides=2, padding="same", output_padding=(1, 0), data_format="channels_first"
    )
    y_last = last(x)
    first(np.moveaxis(x, -1, 1))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(
        np.moveaxis(first(np.moveaxis(x, -1, 1)), 1, -1), y_last, rtol=1e-5, atol=1e-6
    )


def _segmentation(size=16, num_classes=3):
    """The DLwP (ch. 9) encoder-decoder, small."""
    graphc.utils.set_random_seed(5)
    inputs = Input(shape=(size, size, 3))
    x = layers.Conv2D(8, 3, strides=2, activation="relu", padding="same")(inputs)
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", padding="same", strides=2)(x)
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    return Model(inputs, outputs)


def test_segmentation_model_onnx_parity_and_transposes_cancelled():
    model = _segmentation()
    randomize_weights(model)
    proto = graphc.onnx.export(model)
    ops_ = [n.op_type for n in proto.graph.node]
    assert ops_.count("ConvTranspose") == 2
    # only the input's and the output's layout changes are left (kernels are folded)
    assert ops_.count("Transpose") == 2
    assert_onnx_matches(
        model,
        [
            np.random.default_rng(batch).standard_normal((batch, 16, 16, 3)).astype("float32")
            for batch in (1, 3)
        ],
        proto=proto,
    )


def test_onnx_with_unknown_spatial_size_and_1d():
    graphc.utils.set_random_seed(7)
    inp = Input(shape=(None, 4))
    y = layers.Conv1DTranspose(3, 4, strides=3, output_padding=2, activation="tanh")(inp)
    y = layers.Conv1DTranspose(2, 3, strides=2, padding="same")(y)
    model = Model(inp, y)
    randomize_weights(model)
    xs = [
        np.random.default_rng(steps).standard_normal((2, steps, 4)).astype("float32")
        for steps in (1, 4, 7)
    ]
    for x in xs:
        steps = x.shape[1]
        assert model.predict(x, verbose=0).shape == (2, ((steps - 1) * 3 + 6) * 2, 2)
    assert_onnx_matches(model, xs)


def test_whole_model_gradients_in_float64():
    """The executor's reverse pass (with its needs/out fast path) against central
    differences, through conv, transposed convs (one with output_padding) and a head."""
    graphc.utils.set_random_seed(3)
    inp = Input(shape=(4, 4, 2))
    x = layers.Conv2D(2, 3, strides=2, padding="same", activation="tanh")(inp)
    x = layers.Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh")(x)
    x = layers.Conv2DTranspose(2, 2, strides=2, output_padding=1, activation="tanh")(x)
    model = Model(inp, layers.Dense(2)(layers.Flatten()(x)))
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 4, 4, 2))]
    check_gradients(model, xs, [rng.standard_normal((2, 2))])


# ---- UpSampling1D / UpSampling2D (nearest) -------------------------------------------------
@pytest.mark.parametrize(
    "cls,kwargs,shape,expected,axes",
    [
        (layers.UpSampling1D, {}, (None, 4, 2), (None, 8, 2), {1: 2}),
        (layers.UpSampling1D, {"size": 3}, (None, 4, 2), (None, 12, 2), {1: 3}),
        (layers.UpSampling2D, {}, (None, 3, 4, 2), (None, 6, 8, 2), {1: 2, 2: 2}),
        (layers.UpSampling2D, {"size": (2, 3)}, (None, 3, 4, 2), (None, 6, 12, 2), {1: 2, 2: 3}),
        (
            layers.UpSampling2D,
            {"size": (3, 1), "data_format": "channels_first"},
            (None, 2, 3, 4),
            (None, 2, 9, 4),
            {2: 3, 3: 1},
        ),
    ],
)
def test_upsampling_harness_and_numbers(cls, kwargs, shape, expected, axes):
    checked = check_layer(cls, kwargs, shape, expected, 0)
    want = checked.x
    for axis, n in axes.items():
        want = np.repeat(want, n, axis=axis)
    np.testing.assert_array_equal(checked.y, want)


def test_upsampling_config_unknown_sizes_and_names():
    up = layers.UpSampling2D((2, 3), interpolation="NEAREST")
    assert up.name.startswith("up_sampling2d")
    assert layers.UpSampling1D().name.startswith("up_sampling1d")
    config = up.get_config()
    assert {k: config[k] for k in ("size", "data_format", "interpolation")} == {
        "size": [2, 3],
        "data_format": "channels_last",
        "interpolation": "nearest",
    }
    assert json.loads(json.dumps(config)) == config
    assert layers.UpSampling2D.from_config(config).get_config() == config
    assert up(Input(shape=(None, 5, 2))).shape == (None, None, 15, 2)
    assert layers.UpSampling1D(2).get_config()["size"] == 2


def test_upsampling_bad_arguments():
    with pytest.raises(TypeError, match="integer value for `size`"):
        layers.UpSampling1D(2.0)
    with pytest.raises(ValueError, match="size=0"):
        layers.UpSampling1D(0)
    with pytest.raises(ValueError, match="size"):
        layers.UpSampling2D((2, 2, 2))
    with pytest.raises(ValueError, match="interpolation=cubic"):
        layers.UpSampling2D(interpolation="cubic")
    with pytest.raises(NotImplementedError, match="bilinear"):
        layers.UpSampling2D(interpolation="bilinear")
    with pytest.raises(ShapeError, match="expected ndim=4, found ndim=3"):
        layers.UpSampling2D()(Input(shape=(4, 2)))
    with pytest.raises(ShapeError, match="expected ndim=3, found ndim=4"):
        layers.UpSampling1D()(Input(shape=(4, 4, 2)))


def test_upsampling_onnx_parity_and_gradient():
    graphc.utils.set_random_seed(8)
    inp = Input(shape=(4, 4, 2))
    x = layers.Conv2D(3, 3, strides=2, padding="same", activation="relu")(inp)
    x = layers.UpSampling2D()(x)
    x = layers.Conv2D(2, 3, padding="same")(x)
    model = Model(inp, layers.UpSampling2D((1, 2), data_format="channels_first")(x))
    randomize_weights(model)
    x = np.random.default_rng(0).standard_normal((3, 4, 4, 2)).astype("float32")
    assert_onnx_matches(model, [x])
    seq = Input(shape=(None, 3))
    m1 = Model(seq, layers.UpSampling1D(3)(seq))
    r1 = graphc.onnx.Runtime(graphc.onnx.export(m1))
    s = np.random.default_rng(1).standard_normal((2, 5, 3)).astype("float32")
    np.testing.assert_array_equal(r1.predict(s), np.repeat(s, 3, axis=1))
    assert_onnx_matches(m1, [s])
    # the gradient of a repeat sums the copies: training moves the conv below it
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()[0].copy()
    model.fit(x, np.zeros((3, 4, 4, 4), "float32"), epochs=1, verbose=0)
    assert not np.allclose(model.get_weights()[0], before)
