"""Rescaling and the random image layers against Keras 3 itself (torch backend): the same
predictions; ``affine_transform`` against ``keras.ops.image.affine_transform`` on the same
matrices; each random layer's training output against Keras's given the parameters Keras
drew; and the "Deep Learning with Python" ch. 8 cats-vs-dogs convnet (small input)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc.ops import ExecContext, get_op  # noqa: E402
from graphc.ops import image as image_ops  # noqa: E402


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _images(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32") * 255


def _without_dtype(config):
    """A config as JSON data (tuples become lists, as Keras's saving does)."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in ("dtype", "name")}))


# ---- Rescaling and inference identity -----------------------------------------------------
def _rescaled(lib):
    inputs = lib.Input(shape=(5, 4, 3))
    a = lib.layers.Rescaling(1.0 / 255)(inputs)
    b = lib.layers.Rescaling(1.0 / 127.5, offset=-1)(inputs)
    c = lib.layers.Rescaling([1.0, 0.5, 0.25], offset=[0.0, 1.0, 2.0])(inputs)
    return lib.Model(inputs, [a, b, c])


def test_rescaling_predictions_and_config_match_keras():
    x = _images((6, 5, 4, 3))
    got = graphc.Model.predict(_rescaled(graphc), x, verbose=0)
    want = _rescaled(keras).predict(x, verbose=0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    for args in [(1.0 / 255,), (0.5, -1.0), ([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])]:
        assert _without_dtype(graphc.layers.Rescaling(*args).get_config()) == _without_dtype(
            keras.layers.Rescaling(*args).get_config()
        )


def _augmenting(lib, fmt="channels_last"):
    kw = {"data_format": fmt}
    inputs = lib.Input(shape=(6, 7, 3) if fmt == "channels_last" else (3, 6, 7))
    x = lib.layers.RandomFlip(**kw)(inputs)
    x = lib.layers.RandomRotation(0.3, **kw)(x)
    x = lib.layers.RandomZoom(0.2, 0.3, **kw)(x)
    x = lib.layers.RandomTranslation(0.2, 0.1, **kw)(x)
    return lib.Model(inputs, x)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_random_layers_are_the_identity_in_predict_like_keras(fmt):
    x = _images((4, 6, 7, 3) if fmt == "channels_last" else (4, 3, 6, 7))
    got = _augmenting(graphc, fmt).predict(x, verbose=0)
    np.testing.assert_array_equal(got, _augmenting(keras, fmt).predict(x, verbose=0))
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.layers.RandomFlip("vertical", seed=3),
        lambda lib: lib.layers.RandomRotation((-0.2, 0.1), fill_mode="constant", fill_value=1.0),
        lambda lib: lib.layers.RandomZoom((-0.5, 0.2), 0.4, interpolation="nearest"),
        lambda lib: lib.layers.RandomTranslation(
            0.3, (-0.1, 0.2), fill_mode="wrap", data_format="channels_first"
        ),
    ],
)
def test_configs_match_keras(make):
    got = _without_dtype(make(graphc).get_config())
    want = _without_dtype(make(keras).get_config())
    assert got == want


# ---- the deterministic transform ---------------------------------------------------------
def _transforms(n, h, w, seed):
    """Rotations, zooms, shears and shifts about the centre: an affine part only."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lin = rng.uniform(-1.3, 1.3, (2, 2))
        shift = rng.uniform(-3, 3, 2)
        centre = np.array([(w - 1) / 2, (h - 1) / 2])
        offset = centre - lin @ centre + shift
        out.append([lin[0, 0], lin[0, 1], offset[0], lin[1, 0], lin[1, 1], offset[1], 0, 0])
    return np.asarray(out, dtype="float32")


@pytest.mark.parametrize(
    "fill_mode,interpolation",
    list(itertools.product(image_ops.AFFINE_FILL_MODES, image_ops.INTERPOLATIONS)),
)
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_affine_transform_matches_keras(fill_mode, interpolation, fmt):
    h, w = 7, 9
    x = _images((4, h, w, 2) if fmt == "channels_last" else (4, 2, h, w), seed=1)
    t = _transforms(4, h, w, seed=2)
    kwargs = {
        "interpolation": interpolation,
        "fill_mode": fill_mode,
        "fill_value": 3.5,
        "data_format": fmt,
    }
    got = image_ops.affine_transform(x, t, **kwargs)
    want = _np(keras.ops.image.affine_transform(x, t, **kwargs))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    # one image and one transform
    got = image_ops.affine_transform(x[0], t[0], **kwargs)
    np.testing.assert_allclose(got, want[0], rtol=1e-4, atol=1e-3)


def test_affine_transform_bad_arguments_like_keras():
    x, t = _images((1, 4, 4, 1)), np.eye(3).ravel()[:8].astype("float32")
    for kwargs in [{"interpolation": "bicubic"}, {"fill_mode": "mirror2"}]:
        with pytest.raises(ValueError) as k_err:
            keras.ops.image.affine_transform(x, t, **kwargs)
        with pytest.raises(ValueError) as g_err:
            image_ops.affine_transform(x, t, **kwargs)

        # the same text but for the order in which a set of choices prints
        def key(m):
            return sorted(m.replace("{", " ").replace("}", " ").replace(",", " ").split())

        assert key(str(g_err.value)) == key(str(k_err.value))
    with pytest.raises(ValueError, match="Invalid images rank"):
        image_ops.affine_transform(x[0, 0], t)
    with pytest.raises(ValueError, match="Invalid transform rank"):
        image_ops.affine_transform(x, t[None, None])


# ---- each random layer given Keras's draws -----------------------------------------------
class ReplayRng:
    """Stands in for the executor's generator: returns the values Keras drew, after
    checking that graphc asks for the same range."""

    def __init__(self, draws):
        self.draws = list(draws)

    def uniform(self, low, high, size):
        want_low, want_high, values = self.draws.pop(0)
        np.testing.assert_allclose([low, high], [want_low, want_high], rtol=1e-6)
        assert np.shape(values) == (size,)
        return np.asarray(values, dtype="float64")

    def random(self, size):
        flips = self.draws.pop(0)
        return np.where(flips, 0.25, 0.75)


def _layer_pair(name, args, kwargs):
    return getattr(graphc.layers, name)(*args, **kwargs), getattr(keras.layers, name)(
        *args, **kwargs
    )


def _our_training_output(layer, x, draws):
    """Run the op the layer records, in training mode, with Keras's draws."""
    model = graphc.Sequential([graphc.Input(shape=x.shape[1:]), layer])
    node = next(n for n in model.graph.nodes if n.op.startswith("random_"))
    return get_op(node.op).run(node.attrs, [x], ExecContext(True, ReplayRng(draws)))[0]


CASES = [
    ("RandomRotation", (0.25,), {}),
    ("RandomRotation", ((-0.1, 0.3),), {"fill_mode": "constant", "fill_value": 2.0}),
    (
        "RandomRotation",
        (0.2,),
        {"interpolation": "nearest", "fill_mode": "wrap", "data_format": "channels_first"},
    ),
    ("RandomZoom", (0.25,), {}),
    ("RandomZoom", ((-0.5, -0.1), (0.1, 0.6)), {"fill_mode": "nearest"}),
    ("RandomZoom", (0.3, 0.2), {"data_format": "channels_first", "fill_mode": "constant"}),
    ("RandomTranslation", (0.25, 0.25), {}),
    (
        "RandomTranslation",
        ((-0.3, 0.1), 0.4),
        {"fill_mode": "constant", "interpolation": "nearest"},
    ),
    (
        "RandomTranslation",
        (0.2, (0.0, 0.3)),
        {"fill_mode": "wrap", "data_format": "channels_first"},
    ),
    ("RandomFlip", ("horizontal",), {}),
    ("RandomFlip", ("vertical",), {"data_format": "channels_first"}),
    ("RandomFlip", (), {}),
]


def _keras_draws(name, k_layer, transformation, n):
    if name == "RandomRotation":
        lo, hi = k_layer.factor
        return [(lo * 360, hi * 360, _np(transformation["angle"]))]
    if name == "RandomFlip":
        return [_np(transformation["flips"]).reshape(n)]
    if name == "RandomZoom":
        draws = [
            (
                1 + k_layer.height_lower,
                1 + k_layer.height_upper,
                _np(transformation["height_zoom"]).reshape(n),
            )
        ]
        if k_layer.width_factor is not None:
            draws.append(
                (
                    1 + k_layer.width_lower,
                    1 + k_layer.width_upper,
                    _np(transformation["width_zoom"]).reshape(n),
                )
            )
        return draws
    h, w = k_layer_hw(k_layer, transformation["input_shape"])
    t = _np(transformation["translations"])  # (n, [dx, dy]) in pixels
    return [
        (k_layer.height_lower, k_layer.height_upper, t[:, 1] / h),
        (k_layer.width_lower, k_layer.width_upper, t[:, 0] / w),
    ]


def k_layer_hw(k_layer, shape):
    shape = tuple(int(d) for d in shape)
    return shape[-2:] if k_layer.data_format == "channels_first" else shape[-3:-1]


@pytest.mark.parametrize("name,args,kwargs", CASES)
def test_training_output_matches_keras_given_its_draws(name, args, kwargs):
    g_layer, k_layer = _layer_pair(name, args, kwargs)
    shape = (6, 3, 8, 10) if kwargs.get("data_format") == "channels_first" else (6, 8, 10, 3)
    x = _images(shape, seed=4)
    transformation = k_layer.get_random_transformation(x, training=True)
    want = _np(k_layer.transform_images(keras.ops.convert_to_tensor(x), transformation))
    got = _our_training_output(g_layer, x, _keras_draws(name, k_layer, transformation, 6))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
    assert not np.allclose(got, x) or name == "RandomFlip"


# ---- "Deep Learning with Python", ch. 8: cats vs dogs, small ------------------------------
def cats_vs_dogs(lib, size=32):
    data_augmentation = lib.Sequential(
        [
            lib.layers.RandomFlip("horizontal"),
            lib.layers.RandomRotation(0.1),
            lib.layers.RandomZoom(0.2),
        ]
    )
    inputs = lib.Input(shape=(size, size, 3))
    x = data_augmentation(inputs)
    x = lib.layers.Rescaling(1.0 / 255)(x)
    x = lib.layers.Conv2D(filters=32, kernel_size=3, activation="relu")(x)
    x = lib.layers.MaxPooling2D(pool_size=2)(x)
    x = lib.layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = lib.layers.MaxPooling2D(pool_size=2)(x)
    x = lib.layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = lib.layers.Flatten()(x)
    x = lib.layers.Dropout(0.5)(x)
    outputs = lib.layers.Dense(1, activation="sigmoid")(x)
    return lib.Model(inputs=inputs, outputs=outputs)


@pytest.mark.slow
def test_dlwp_cats_vs_dogs_trains_predicts_and_exports_like_keras(tmp_path):
    g_model, k_model = cats_vs_dogs(graphc), cats_vs_dogs(keras)
    assert g_model.count_params() == k_model.count_params() == 95_297
    g_model.set_weights(k_model.get_weights())
    x = _images((8, 32, 32, 3), seed=5)
    want = k_model.predict(x, verbose=0)
    np.testing.assert_allclose(g_model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)

    y = (np.arange(8) % 2).astype("float32")[:, None]
    g_model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    before = [w.copy() for w in g_model.get_weights()]
    history = g_model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(a, b) for a, b in zip(before, g_model.get_weights()))

    path = tmp_path / "cats_vs_dogs.onnx"
    g_model.export(str(path))
    runtime = graphc.onnx.Runtime(str(path))
    np.testing.assert_allclose(
        runtime.predict(x), g_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
