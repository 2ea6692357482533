"""Rescaling and the random image layers: config, shapes, inference identity, training
geometry (flips, a known rotation, zoom, translation, fill modes), gradients, ONNX export
and argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_layer

import graphc
from graphc import Input, Model, layers
from graphc.errors import ShapeError
from graphc.utils import set_random_seed

RANDOM_LAYERS = [
    (layers.RandomFlip, {"mode": "vertical", "seed": 4}),
    (layers.RandomRotation, {"factor": (-0.2, 0.3), "fill_mode": "constant", "fill_value": 1.5}),
    (
        layers.RandomZoom,
        {"height_factor": 0.2, "width_factor": (-0.1, 0.3), "interpolation": "nearest"},
    ),
    (
        layers.RandomTranslation,
        {
            "height_factor": 0.1,
            "width_factor": 0.2,
            "fill_mode": "wrap",
            "data_format": "channels_first",
        },
    ),
]


def _images(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32")


# ---- Rescaling -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": 1.0 / 255},
        {"scale": 0.5, "offset": -1.0},
        {"scale": [1.0, 2.0, 3.0], "offset": [0.0, 0.5, 1.0]},
    ],
)
def test_rescaling_harness_numbers_and_onnx(kwargs, tmp_path):
    checked = check_layer(layers.Rescaling, kwargs, (None, 4, 5, 3), (None, 4, 5, 3), 0)
    want = checked.x * np.asarray(kwargs["scale"]) + np.asarray(kwargs.get("offset", 0.0))
    np.testing.assert_allclose(checked.y, want, rtol=1e-6, atol=1e-6)
    path = tmp_path / "rescaling.onnx"
    checked.model.export(str(path))
    import onnx

    ops_used = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops_used == (["Mul", "Add"] if kwargs.get("offset") else ["Mul"])
    assert_onnx_matches(checked.model, [checked.x], proto=str(path), rtol=1e-6, atol=1e-6)


# ---- the random layers: config, shapes, inference ------------------------------------------
@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS)
def test_config_round_trip_shapes_and_no_params(cls, kwargs):
    layer = cls(**kwargs)
    config = layer.get_config()
    assert cls.from_config(config).get_config() == config
    shape = (None, 3, 6, 7) if kwargs.get("data_format") == "channels_first" else (None, 6, 7, 3)
    out = layer(Input(batch_shape=shape))
    assert out.shape == shape
    assert layer.compute_output_shape(shape) == shape
    assert layer.count_params() == 0


@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS)
def test_identity_in_predict_evaluate_and_with_training_false(cls, kwargs):
    first = kwargs.get("data_format") == "channels_first"
    x = _images((5, 3, 6, 7) if first else (5, 6, 7, 3))
    model = graphc.Sequential([Input(shape=x.shape[1:]), cls(**kwargs)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    np.testing.assert_array_equal(np.asarray(model(x)), x)
    model.compile(loss="mse")
    assert model.evaluate(x, x, verbose=0) == 0.0
    np.testing.assert_array_equal(cls(**kwargs)(x, training=False), x)


@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS)
def test_export_drops_them_and_agrees_with_predict(cls, kwargs, tmp_path):
    import onnx

    first = kwargs.get("data_format") == "channels_first"
    inputs = Input(shape=(3, 6, 7) if first else (6, 7, 3))
    x = cls(**kwargs)(inputs)
    x = layers.Rescaling(2.0)(x)
    model = Model(inputs, layers.Flatten()(x))
    path = tmp_path / "aug.onnx"
    model.export(str(path))
    assert "Identity" not in [n.op_type for n in onnx.load(str(path)).graph.node]
    data = _images((4, *inputs.shape[1:]))
    assert_onnx_matches(model, [data], proto=str(path), rtol=1e-6, atol=0)


def test_eager_call_augments_by_default_as_keras():
    set_random_seed(0)
    x = _images((4, 6, 6, 1))
    assert not np.allclose(layers.RandomRotation(0.2)(x), x)
    one = layers.RandomRotation(0.2)(x[0])  # an unbatched image
    assert one.shape == x[0].shape and not np.allclose(one, x[0])


# ---- training geometry ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "mode,fmt",
    [
        ("horizontal", "channels_last"),
        ("vertical", "channels_last"),
        ("horizontal_and_vertical", "channels_last"),
        ("horizontal", "channels_first"),
    ],
)
def test_flips_happen_about_half_the_time_per_sample(mode, fmt):
    set_random_seed(1)
    x = _images((400, 2, 3, 4))
    h_axis, w_axis = (2, 3) if fmt == "channels_first" else (1, 2)
    axes = {
        "horizontal": (w_axis,),
        "vertical": (h_axis,),
        "horizontal_and_vertical": (h_axis, w_axis),
    }[mode]
    y = layers.RandomFlip(mode, data_format=fmt)(x, training=True)
    same = np.all(y == x, axis=(1, 2, 3))
    flipped = np.all(y == np.flip(x, axis=axes), axis=(1, 2, 3))
    assert np.all(same ^ flipped)  # each sample one or the other
    assert 150 < flipped.sum() < 250


def _ramp(h, w, along):
    grid = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")[1 if along == "x" else 0]
    return grid.astype("float32")[None, :, :, None]


def test_rotation_by_a_quarter_turn_is_rot90_counter_clockwise():
    x = _images((3, 5, 5, 2))
    y = layers.RandomRotation((0.25, 0.25))(x, training=True)
    np.testing.assert_allclose(y, np.rot90(x, k=1, axes=(1, 2)), atol=1e-5)
    y = layers.RandomRotation((-0.5, -0.5), data_format="channels_first")(
        x.transpose(0, 3, 1, 2), training=True
    )
    np.testing.assert_allclose(y, np.rot90(x, k=2, axes=(1, 2)).transpose(0, 3, 1, 2), atol=1e-5)


def test_zoom_geometry():
    ramp = _ramp(5, 9, "x")  # value == column
    # height factor -0.5: zoom in twice about the centre column 4 (same zoom both ways)
    y = layers.RandomZoom((-0.5, -0.5))(ramp, training=True)
    np.testing.assert_allclose(y[0, 2, :, 0], 0.5 * np.arange(9) + 2, atol=1e-6)
    # width 0 leaves columns alone while the height zooms
    y = layers.RandomZoom((0.4, 0.4), width_factor=(0.0, 0.0))(ramp, training=True)
    np.testing.assert_allclose(y, ramp, atol=1e-6)
    rows = _ramp(5, 9, "y")
    y = layers.RandomZoom((-0.5, -0.5), width_factor=(0.0, 0.0))(rows, training=True)
    np.testing.assert_allclose(y[0, :, 0, 0], 0.5 * np.arange(5) + 1, atol=1e-6)


def test_translation_geometry():
    x = _images((2, 5, 5, 1))
    y = layers.RandomTranslation((0.2, 0.2), (0.4, 0.4), fill_mode="constant")(
        x, training=True
    )  # one pixel down, two right
    want = np.zeros_like(x)
    want[:, 1:, 2:] = x[:, :-1, :-2]
    np.testing.assert_allclose(y, want, atol=1e-6)


@pytest.mark.parametrize(
    "fill_mode,want",
    [
        ("reflect", [2, 1, 1, 2]),
        ("wrap", [3, 4, 1, 2]),
        ("nearest", [1, 1, 1, 2]),
        ("constant", [9, 9, 1, 2]),
    ],
)
def test_fill_modes_as_keras_documents_them(fill_mode, want):
    row = np.array([1, 2, 3, 4], dtype="float32").reshape(1, 1, 4, 1)
    layer = layers.RandomTranslation(0.0, (0.5, 0.5), fill_mode=fill_mode, fill_value=9.0)
    np.testing.assert_allclose(layer(row, training=True)[0, 0, :, 0], want)


def test_fit_augments_and_gradient_flows_through_to_a_trainable_layer_before():
    set_random_seed(2)
    inputs = Input(shape=(8, 8, 2))
    x = layers.Conv2D(3, 3, padding="same")(inputs)
    for layer in (
        layers.RandomFlip(),
        layers.RandomRotation(0.2),
        layers.RandomZoom(0.2),
        layers.RandomTranslation(0.1, 0.1),
    ):
        x = layer(x)
    model = Model(inputs, layers.Dense(1)(layers.Flatten()(x)))
    model.compile(optimizer="sgd", loss="mse")
    kernel = model.get_weights()[0].copy()
    data, target = _images((8, 8, 8, 2)), _images((8, 1))
    model.fit(data, target, batch_size=8, epochs=1, verbose=0)
    assert not np.allclose(model.get_weights()[0], kernel)
    # training sees augmented images: the training-mode output differs from predict
    from graphc.ops import ExecContext, get_op

    node = next(n for n in model.graph.nodes if n.op == "random_affine")
    y, _ = get_op(node.op).run(node.attrs, [data], ExecContext(training=True))
    assert not np.allclose(y, data)


def test_unknown_batch_and_a_sequential_inside_a_functional_model():
    augment = graphc.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.2)]
    )
    inputs = Input(shape=(12, 12, 3))
    out = layers.Rescaling(1.0 / 255)(augment(inputs))
    assert out.shape == (None, 12, 12, 3)
    model = Model(inputs, out)
    x = _images((3, 12, 12, 3)) * 255
    np.testing.assert_allclose(model.predict(x, verbose=0), x / 255, rtol=1e-6)


# ---- bad arguments -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make,error,match",
    [
        (
            lambda: layers.RandomRotation(1.5),
            ValueError,
            (
                r"should be a number \(or a list of two numbers\) in the range \[-1, 1\]\. "
                r"Received: factor=1.5"
            ),
        ),
        (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), ValueError, r"Received: factor=\(0.1"),
        (lambda: layers.RandomRotation("a"), ValueError, "Received: factor=a"),
        (
            lambda: layers.RandomZoom(-1.0),
            ValueError,
            r"in the range \(-1.0, 1.0\]\. Received: input_number=-1.0",
        ),
        (lambda: layers.RandomZoom(0.1, (0.1,)), ValueError, r"Received: width_factor=\(0.1,\)"),
        (
            lambda: layers.RandomTranslation(0.1, 1.5),
            ValueError,
            r"in the range \[-1.0, 1.0\]\. Received: input_number=1.5",
        ),
        (
            lambda: layers.RandomZoom(0.1, fill_mode="mirror"),
            NotImplementedError,
            (
                r"Unknown `fill_mode` mirror. Expected of one \('reflect', 'wrap', 'constant', "
                r"'nearest'\)"
            ),
        ),
        (
            lambda: layers.RandomRotation(0.1, interpolation="bicubic"),
            NotImplementedError,
            "Unknown `interpolation` bicubic",
        ),
        (
            lambda: layers.RandomFlip("diagonal"),
            ValueError,
            "Expected one of .*horizontal.*Received: mode='diagonal'",
        ),
        (lambda: layers.RandomFlip(data_format="nhwc"), ValueError, "Received: data_format=nhwc"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_rank_3_symbolic_input_is_refused_clearly():
    with pytest.raises(ShapeError, match="expected ndim=4, found ndim=3"):
        layers.RandomFlip()(Input(shape=(8, 8)))


# ---- Normalization ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,params",
    [
        ({"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]}, 0),
        ({"axis": -1}, 7),  # mean (3), variance (3), count (): Keras's weights
        ({"axis": None, "mean": 2.0, "variance": 4.0, "invert": True}, 0),
    ],
)
def test_normalization_harness(kwargs, params):
    checked = check_layer(layers.Normalization, kwargs, (None, 4, 5, 3), (None, 4, 5, 3), params)
    if "mean" in kwargs:
        mean, var = np.asarray(kwargs["mean"]), np.asarray(kwargs["variance"])
        want = (
            checked.x * np.sqrt(var) + mean
            if kwargs.get("invert")
            else (checked.x - mean) / np.sqrt(var)
        )
        np.testing.assert_allclose(checked.y, want, rtol=1e-5, atol=1e-6)


def test_normalization_adapt_and_weights():
    data = np.random.default_rng(0).normal(3.0, 2.0, (50, 4, 3)).astype("float32")
    layer = layers.Normalization(axis=(1, 2))
    layer.adapt(data)
    assert [w.path.split("/")[-1] for w in layer.weights] == ["mean", "variance", "count"]
    assert layer.weights[2].dtype == "int32"  # Keras's, which adapt leaves at 0
    y = np.asarray(layer(data))
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)
