"""The image augmentation layers of graphc/layers/image_augmentation.py against Keras 3
itself (torch backend): each transform given the parameters Keras drew (Keras's
``get_random_transformation`` then ``transform_images``), the inference outputs, the
configs; and the documented properties of graphc's own draws (ranges, shapes, dtypes,
seed reproducibility)."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc.ops import ExecContext, get_op  # noqa: E402
from graphc.ops.image_augment import apply_augment, draw_augment  # noqa: E402


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _images(shape, seed=0, high=255.0):
    return (np.random.default_rng(seed).random(shape) * high).astype("float32")


def _json(config):
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in ("dtype", "name")}))


def _params(transformation):
    if transformation is None:  # Equalization draws nothing
        return {}
    if not isinstance(transformation, dict):  # RandomGrayscale's is the tensor itself
        return {"should_apply": _np(transformation)}
    return {k: _np(v) for k, v in transformation.items() if k != "input_shape"}


# name, args, kwargs, value scale of the images
CASES = [
    ("RandomContrast", (0.4,), {}, 255.0),
    ("RandomContrast", ((0.2, 0.7),), {"value_range": (0, 1)}, 1.0),
    ("RandomContrast", (0.5,), {"data_format": "channels_first"}, 255.0),
    ("RandomBrightness", (0.3,), {}, 255.0),
    ("RandomBrightness", ((-0.5, 0.1),), {"value_range": (0, 1)}, 1.0),
    ("RandomGrayscale", (0.5,), {}, 255.0),
    ("RandomGrayscale", (1.0,), {"data_format": "channels_first"}, 255.0),
    ("RandomHue", (0.4,), {}, 255.0),
    ("RandomHue", ((0.1, 0.9),), {"value_range": (0, 1), "data_format": "channels_first"}, 1.0),
    ("RandomSaturation", (0.6,), {}, 255.0),
    ("RandomSaturation", ((0.2, 0.9),), {"value_range": (0, 1)}, 1.0),
    ("RandomColorDegeneration", (0.7,), {}, 255.0),
    ("RandomColorDegeneration", ((0.0, 1.0),), {"data_format": "channels_first"}, 255.0),
    ("RandomSharpness", (0.8,), {}, 255.0),
    ("RandomSharpness", ((0.1, 0.9),), {"data_format": "channels_first"}, 255.0),
    ("RandomInvert", (), {}, 255.0),
    ("RandomInvert", (0.5,), {"value_range": (0, 1)}, 1.0),
    ("RandomPosterization", (4,), {}, 255.0),
    ("RandomPosterization", ((2, 7),), {"value_range": (0, 1)}, 1.0),
    ("Solarization", (), {}, 255.0),
    ("Solarization", (0.3, (0.2, 0.8)), {"value_range": (0, 1)}, 1.0),
    ("Equalization", (), {}, 255.0),
    ("Equalization", (), {"value_range": (0, 1), "bins": 64, "data_format": "channels_first"}, 1.0),
    ("RandomGaussianBlur", (), {}, 255.0),
    ("RandomGaussianBlur", (0.5, (5, 5), (0.2, 0.9)), {}, 255.0),  # (Keras fails on (3, 5))
    ("RandomGaussianBlur", (1.0, 5, 0.8), {"data_format": "channels_first"}, 255.0),
    ("RandomErasing", (), {}, 255.0),
    ("RandomErasing", (0.7, (0.1, 0.5), 0.5), {"value_range": (0, 1)}, 1.0),
    ("RandomErasing", (1.0,), {"fill_value": [1, 2, 3]}, 255.0),
    ("MixUp", (), {}, 255.0),
    ("MixUp", (0.6,), {"data_format": "channels_first"}, 255.0),
    ("CutMix", (), {}, 255.0),
    ("CutMix", ((0.2, 0.8),), {"data_format": "channels_first"}, 255.0),
    ("RandomShear", (0.3, 0.2), {}, 255.0),
    ("RandomShear", ((0.1, 0.5), 0.0), {"fill_mode": "constant", "fill_value": 7.0}, 255.0),
    (
        "RandomShear",
        (0.4, 0.4),
        {"interpolation": "nearest", "data_format": "channels_first"},
        255.0,
    ),
]


def _layers(name, args, kwargs):
    return getattr(graphc.layers, name)(*args, **kwargs), getattr(keras.layers, name)(
        *args, **kwargs
    )


def _shape(kwargs, n=5):
    return (n, 3, 6, 7) if kwargs.get("data_format") == "channels_first" else (n, 6, 7, 3)


@pytest.mark.parametrize(
    "name,args,kwargs,scale", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_transform_given_keras_draws_matches_keras(name, args, kwargs, scale):
    keras.utils.set_random_seed(2)
    ours, theirs = _layers(name, args, kwargs)
    x = _images(_shape(kwargs), seed=1, high=scale)
    for _ in range(3):
        t = theirs.get_random_transformation(x, training=True)
        want = _np(theirs.transform_images(keras.ops.convert_to_tensor(x), t, training=True))
        got = apply_augment(ours.op_attrs(), x, _params(t))
        assert got.shape == x.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * scale)


@pytest.mark.parametrize(
    "name,args,kwargs,scale", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_config_and_inference_match_keras(name, args, kwargs, scale):
    ours, theirs = _layers(name, args, kwargs)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    twin = type(ours).from_config(ours.get_config())
    assert _json(twin.get_config()) == _json(ours.get_config())
    shape = _shape(kwargs)
    x = _images(shape, seed=2, high=scale)
    model = graphc.Sequential([graphc.Input(shape=shape[1:]), ours])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    np.testing.assert_array_equal(_np(theirs(x, training=False)), x)
    np.testing.assert_array_equal(ours(x, training=False), x)


def test_color_jitter_is_its_parts_in_order():
    kwargs = {"brightness_factor": 0.2, "contrast_factor": 0.5, "saturation_factor": 0.4,
              "hue_factor": 0.3, "value_range": (0, 1)}  # fmt: skip
    ours = graphc.layers.RandomColorJitter(**kwargs)
    theirs = keras.layers.RandomColorJitter(**kwargs)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    x = _images((4, 5, 6, 3), seed=3, high=1.0)
    params, y = {}, keras.ops.convert_to_tensor(x)
    for part, sub in [
        ("brightness", theirs.random_brightness),
        ("contrast", theirs.random_contrast),
        ("saturation", theirs.random_saturation),
        ("hue", theirs.random_hue),
    ]:
        t = sub.get_random_transformation(y, training=True)
        params.update({f"{part}/{k}": v for k, v in _params(t).items()})
        y = sub.transform_images(y, t, training=True)
    got = apply_augment(ours.op_attrs(), x, params)
    np.testing.assert_allclose(got, _np(y), rtol=1e-5, atol=1e-5)


# ---- graphc's draws ----------------------------------------------------------------------
class Uniform:
    """Counts the draws; each a fixed point of its range."""

    def __init__(self, at):
        self.at, self.calls = at, []

    def uniform(self, low, high, size):
        self.calls.append((low, high, size))
        return np.full(size, low + self.at * (high - low))

    def integers(self, low, high, size):
        self.calls.append((low, high, size))
        return np.full(size, low)


@pytest.mark.parametrize(
    "name,args,kwargs,scale", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_draw_ranges_are_keras_ranges(name, args, kwargs, scale):
    keras.utils.set_random_seed(0)  # (Keras's draws: repeatable)
    ours, theirs = _layers(name, args, kwargs)
    x = _images(_shape(kwargs, 64), seed=4, high=scale)
    rng = np.random.default_rng(0)
    drawn = draw_augment(ours.op_attrs(), rng, 64, x.shape)
    keras_drawn = _params(theirs.get_random_transformation(x, training=True))
    assert set(drawn) == set(keras_drawn)
    for key, values in drawn.items():
        want, values = keras_drawn[key].reshape(-1), values.reshape(-1)
        assert values.shape == want.shape, key
        if values.dtype == bool or len(values) < 8:
            continue
        lo, hi = float(np.min(want)), float(np.max(want))
        span = max(hi - lo, 1e-6)
        # both samples of 64 lie in the same range (each covers most of the other's)
        assert (
            values.min() >= lo - 0.35 * span - 1e-6 and values.max() <= hi + 0.35 * span + 1e-6
        ), key


def test_training_transforms_and_seed_reproducibility():
    x = _images((4, 6, 7, 3), seed=5)
    model = graphc.Sequential(
        [graphc.Input(shape=(6, 7, 3)), graphc.layers.RandomContrast(0.5),
         graphc.layers.RandomBrightness(0.2), graphc.layers.RandomHue(0.2)]
    )  # fmt: skip
    outs = []
    for _ in range(2):
        graphc.utils.set_random_seed(7)
        outs.append(model(x, training=True))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.allclose(outs[0], x)
    assert outs[0].min() >= 0 and outs[0].max() <= 255 and outs[0].dtype == np.float32
    # eagerly on one unbatched image, and on integer images (cast to float32 as Keras)
    one = graphc.layers.RandomInvert(factor=(1.0, 1.0))(x[0].astype("uint8"))
    np.testing.assert_allclose(one, 255 - x[0].astype("uint8"), rtol=0, atol=0)


def test_fit_runs_the_augmentations_and_export_drops_them(tmp_path):
    inputs = graphc.Input(shape=(6, 7, 3))
    y = graphc.layers.RandomGrayscale(0.5)(inputs)
    y = graphc.layers.RandomSharpness(0.5)(y)
    y = graphc.layers.Solarization(0.2)(y)
    out = graphc.layers.Dense(2)(graphc.layers.Flatten()(y))
    model = graphc.Model(inputs, out)
    model.compile("sgd", "mse")
    x = _images((8, 6, 7, 3), seed=6, high=1.0)
    model.fit(x, np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    path = tmp_path / "m.onnx"
    model.export(str(path), format="onnx")
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# ---- RandomCrop and AutoContrast ---------------------------------------------------------
@pytest.mark.parametrize(
    "shape,height,width,fmt",
    [
        ((3, 9, 11, 2), 4, 5, "channels_last"),
        ((3, 9, 11, 2), 9, 4, "channels_last"),
        ((3, 2, 9, 11), 4, 5, "channels_first"),
        ((3, 5, 6, 2), 8, 7, "channels_last"),  # smaller than the window: resize
    ],
)
def test_random_crop_matches_keras(shape, height, width, fmt):
    ours = graphc.layers.RandomCrop(height, width, seed=3, data_format=fmt)
    theirs = keras.layers.RandomCrop(height, width, seed=3, data_format=fmt)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    x = _images(shape, seed=7)
    # eagerly with training=False: the images unchanged, as Keras 3.15's code
    np.testing.assert_array_equal(_np(theirs(x, training=False)), x)
    np.testing.assert_array_equal(ours(x, training=False), x)
    # in a model: the centre window Keras's docstring (and its code for small images)
    # gives for inference, computed by Keras's own transform
    box = theirs.get_random_transformation(x, training=False)
    xt = keras.ops.convert_to_tensor(x)
    want = _np(theirs.transform_images(xt, box, training=True))
    model = graphc.Sequential([graphc.Input(shape=shape[1:]), ours])
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-3)
    # training: the window Keras drew
    t = theirs.get_random_transformation(x, training=True)
    want = _np(theirs.transform_images(keras.ops.convert_to_tensor(x), t, training=True))
    offsets = [float(_np(v)) + 0.5 for v in t]  # (the int32 Keras cast from its draw)

    class Replay:
        def uniform(self, low, high, size):
            return np.array([offsets.pop(0)])

    node = next(n for n in model.graph.nodes if n.op == "random_crop")
    centre = model.predict(x, verbose=0)
    got = get_op("random_crop").run(node.attrs, [centre, x], ExecContext(True, Replay()))
    got = got[0] if isinstance(got, tuple) else got
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_random_crop_training_windows_are_crops():
    x = np.arange(2 * 8 * 9 * 1, dtype="float32").reshape(2, 8, 9, 1)
    layer = graphc.layers.RandomCrop(3, 4)
    for _ in range(5):
        y = layer(x)
        assert y.shape == (2, 3, 4, 1)
        top, left = np.argwhere(x[0, :, :, 0] == y[0, 0, 0, 0])[0]
        np.testing.assert_array_equal(y, x[:, top : top + 3, left : left + 4])


@pytest.mark.parametrize(
    "value_range,fmt",
    [((0, 255), "channels_last"), ((0, 1), "channels_last"), ((0, 255), "channels_first")],
)
def test_auto_contrast_matches_keras(value_range, fmt):
    high = value_range[1]
    x = _images((3, 5, 6, 3), seed=8, high=high * 0.6) + 0.1 * high
    x[1, :, :, 0] = 0.3 * high  # a constant channel stays as it is
    ours = graphc.layers.AutoContrast(value_range=value_range, data_format=fmt)
    theirs = keras.layers.AutoContrast(value_range=value_range, data_format=fmt)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    want = _np(theirs(x))
    np.testing.assert_allclose(ours(x), want, rtol=1e-5, atol=1e-4 * high)
    model = graphc.Sequential([graphc.Input(shape=x.shape[1:]), ours])
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-4 * high)
    np.testing.assert_allclose(_np(theirs(x, training=False)), want)


def test_pipeline_matches_keras():
    def make(lib):
        return lib.layers.Pipeline(
            [lib.layers.AutoContrast(), lib.layers.RandomContrast(0.3), lib.layers.RandomInvert()],
            name="pipe",
        )

    ours, theirs = make(graphc), make(keras)
    got, want = ours.get_config(), theirs.get_config()
    assert got["name"] == want["name"] == "pipe"
    assert [c["class_name"] for c in got["layers"]] == [c["class_name"] for c in want["layers"]]
    for g, w in zip(got["layers"], want["layers"]):
        assert _json(g["config"]) == _json(w["config"])
    x = _images((3, 5, 6, 3), seed=9, high=200.0) + 20
    np.testing.assert_allclose(
        ours(x, training=False), _np(theirs(x, training=False)), rtol=1e-5, atol=1e-3
    )
    model = graphc.Sequential([graphc.Input(shape=(5, 6, 3)), ours])
    np.testing.assert_allclose(
        model.predict(x, verbose=0), _np(theirs(x, training=False)), rtol=1e-5, atol=1e-3
    )
    # the config rebuilds the pipeline, and Keras's config loads in graphc
    again = graphc.layers.Pipeline.from_config(json.loads(json.dumps(want)))
    assert [type(x).__name__ for x in again.layers] == [
        "AutoContrast",
        "RandomContrast",
        "RandomInvert",
    ]
    graphc.utils.set_random_seed(3)
    first = ours(x)
    graphc.utils.set_random_seed(3)
    np.testing.assert_array_equal(ours(x), first)
    assert first.shape == x.shape and not np.allclose(first, _np(theirs(x, training=False)))


@pytest.mark.parametrize("name,args", [("MixUp", (0.4,)), ("CutMix", ())])
def test_mixing_labels_like_keras(name, args):
    ours, theirs = _layers(name, args, {})
    x = _images((6, 5, 6, 3), seed=10)
    labels = np.eye(4, dtype="float32")[[0, 1, 2, 3, 0, 1]]
    t = theirs.get_random_transformation({"images": x, "labels": labels}, training=True)
    want = _np(theirs.transform_labels(keras.ops.convert_to_tensor(labels), t, training=True))
    from graphc.ops.image_augment import mix_labels

    np.testing.assert_allclose(mix_labels(labels, _params(t)), want, rtol=1e-5, atol=1e-6)
    # eagerly on a dict, as in a data pipeline
    out = ours({"images": x, "labels": labels})
    assert out["images"].shape == x.shape and out["labels"].shape == labels.shape
    np.testing.assert_allclose(out["labels"].sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_rand_augment_given_keras_draws(fmt):
    """Keras's draws for its eleven layers and its choice of two; graphc applies them
    (the choices of translation or rotation, whose draws Keras keeps in another form,
    are skipped: those layers are compared in test_keras_preprocessing_parity.py)."""
    from graphc.ops.image_augment import RAND_AUGMENT_OPS

    keras.utils.set_random_seed(1)
    kwargs = {"factor": 0.4, "value_range": (0, 255), "data_format": fmt}
    ours = graphc.layers.RandAugment(**kwargs)
    theirs = keras.layers.RandAugment(**kwargs)
    # On the torch backend Keras's RandomBrightness adds its delta in place
    # (`images += rgb_delta`), and RandAugment runs every layer's transform on the same
    # tensor, so the brightness change lands whichever layer is chosen: a Keras bug
    # (TensorFlow and JAX tensors are immutable). Compare with the intended behaviour.
    brightness = theirs.random_brightness.transform_images
    theirs.random_brightness.transform_images = lambda images, t, training=True: brightness(
        keras.ops.copy(images), t, training
    )
    assert _json(ours.get_config()) == _json(theirs.get_config())
    x = _images((4, 3, 6, 7) if fmt == "channels_first" else (4, 6, 7, 3), seed=11)
    xt = keras.ops.convert_to_tensor(x)
    compared = 0
    for _ in range(12):
        t = theirs.get_random_transformation(x, training=True)
        idx = _np(t["layer_idxes"]).reshape(-1)
        if any(RAND_AUGMENT_OPS[i] in ("translation", "rotation") for i in idx):
            continue
        params = {"layer_idxes": idx}
        for key, value in t["transforms"].items():
            name = key.replace("random_", "")
            params.update({f"{name}/{k}": v for k, v in _params(value).items()})
        want = _np(theirs.transform_images(xt, t, training=True))
        got = apply_augment(ours.op_attrs(), x, params)
        # two chained layers with thresholds (posterization's bits, solarization's
        # threshold, equalization's bins) turn float32 rounding differences of one
        # layer into a different step of the next at a rare pixel
        close = np.isclose(got, want, rtol=1e-4, atol=2e-2)
        assert close.mean() > 0.99, (RAND_AUGMENT_OPS[idx[0]], RAND_AUGMENT_OPS[idx[1]])
        compared += 1
    assert compared >= 2
    model = graphc.Sequential([graphc.Input(shape=x.shape[1:]), ours])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    y = ours(x)
    assert y.shape == x.shape and y.dtype == np.float32
