"""The layers of graphc/layers/image_preprocessing_extra.py against Keras 3 itself (torch
backend): ``ContrastLimitedAdaptiveHistogramEqualization`` output on several images and
configurations (eager, in a model, exported to ONNX); ``AugMix`` given Keras's own draws
(its chains' choices and each layer's parameters), its configs and its inference
identity, and the distribution of graphc's draws; ``MaxNumBoundingBoxes`` on Keras's
data dicts.

Keras's CLAHE on the torch backend departs from its own code in two places, which its
TensorFlow, JAX and NumPy backends follow: ``backend.nn.one_hot`` gives int64 on torch
(float32 on the others), so the clip limit ``clip_limit * tile_pixels / 256`` is cast to
an integer (4.0 on 8x8 tiles gives 1; on 4x4 tiles 0, which flattens every histogram);
and torch's ``pad(mode="symmetric")`` pads by edge copies. graphc follows the code (a
float limit, symmetric padding); the tests compare with Keras with those two backend
functions given the other backends' behaviour, and with plain Keras on the torch backend
where the two agree (an integer limit, no padding)."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc.ops.aug_mix import AUG_MIX_OPS_ALL, apply_aug_mix, draw_aug_mix  # noqa: E402
from graphc.ops.image import translation_matrix  # noqa: E402

CLAHE = "ContrastLimitedAdaptiveHistogramEqualization"


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _json(config):
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in ("dtype", "name")}))


def _images(shape, seed=0, high=255.0):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 0.7 * high + 0.1 * high).astype("float32")


@pytest.fixture
def keras_clahe_as_written(monkeypatch):
    """Keras's torch backend with float one-hot histograms and true symmetric padding
    (what its TensorFlow, JAX and NumPy backends do)."""
    import torch
    from keras.src.backend.torch import nn as torch_nn
    from keras.src.backend.torch import numpy as torch_numpy

    one_hot, pad = torch_nn.one_hot, torch_numpy.pad

    def float_one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
        return one_hot(x, num_classes, axis=axis, dtype=dtype or "float32", sparse=sparse)

    def symmetric_pad(x, pad_width, mode="constant", constant_values=None):
        if mode == "symmetric":
            return torch.as_tensor(np.pad(np.asarray(x), pad_width, mode="symmetric"))
        return pad(x, pad_width, mode=mode, constant_values=constant_values)

    monkeypatch.setattr(torch_nn, "one_hot", float_one_hot)
    monkeypatch.setattr(torch_numpy, "pad", symmetric_pad)


# shape, kwargs: padded and unpadded grids, fractional limits, no clipping, both formats
CLAHE_CASES = [
    ((2, 16, 16, 3), {}),
    ((2, 10, 13, 3), {}),
    ((3, 20, 17, 2), {"tile_grid_size": (3, 4), "clip_limit": 2.0}),
    ((2, 3, 12, 9), {"data_format": "channels_first", "tile_grid_size": (2, 2)}),
    ((2, 9, 9, 3), {"value_range": (0, 1), "tile_grid_size": (4, 4)}),
    ((1, 40, 50, 3), {"clip_limit": 1.5}),
    ((2, 7, 6, 1), {"clip_limit": 0.0, "tile_grid_size": (2, 3)}),
    ((2, 2, 5, 6), {"value_range": (-1, 1), "data_format": "channels_first", "clip_limit": 8}),
]


@pytest.mark.parametrize("shape,kwargs", CLAHE_CASES)
def test_clahe_matches_keras(shape, kwargs, keras_clahe_as_written):
    high = kwargs.get("value_range", (0, 255))[1]
    low = kwargs.get("value_range", (0, 255))[0]
    x = _images(shape, seed=sum(shape), high=high - low) + np.float32(low)
    ours = getattr(graphc.layers, CLAHE)(**kwargs)
    theirs = getattr(keras.layers, CLAHE)(**kwargs)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    want = _np(theirs(x))
    tol = {"rtol": 1e-5, "atol": 1e-5 * (high - low)}
    np.testing.assert_allclose(ours(x), want, **tol)
    np.testing.assert_allclose(ours(x, training=True), want, **tol)
    model = graphc.Sequential([graphc.Input(shape=shape[1:]), ours])
    np.testing.assert_allclose(model.predict(x, verbose=0), want, **tol)
    # one unbatched image
    np.testing.assert_allclose(ours(x[0]), _np(theirs(x[0])), **tol)


@pytest.mark.parametrize(
    "shape,kwargs",
    [
        ((2, 64, 64, 3), {}),  # 8x8 tiles: the limit is 1 either way
        ((1, 32, 48, 2), {"tile_grid_size": (2, 3), "clip_limit": 1.0}),  # limit 4
        ((2, 3, 16, 16), {"tile_grid_size": (2, 2), "data_format": "channels_first"}),
    ],
)
def test_clahe_matches_plain_keras_torch_where_its_backend_agrees(shape, kwargs):
    x = _images(shape, seed=3)
    ours = getattr(graphc.layers, CLAHE)(**kwargs)
    theirs = getattr(keras.layers, CLAHE)(**kwargs)
    np.testing.assert_allclose(ours(x), _np(theirs(x)), rtol=1e-5, atol=1e-3)


def test_clahe_integer_images_export_and_errors(tmp_path, keras_clahe_as_written):
    x = np.random.default_rng(4).integers(0, 256, (3, 12, 10, 3)).astype("uint8")
    layer = getattr(graphc.layers, CLAHE)(tile_grid_size=(3, 2))
    got = layer(x)
    # graphc keeps float32 (as its other image layers); Keras casts back to uint8
    assert got.dtype == np.float32
    want = _np(getattr(keras.layers, CLAHE)(tile_grid_size=(3, 2))(x))
    assert want.dtype == np.uint8
    # (a value a float32 rounding away from an integer may truncate to the one below)
    assert np.abs(np.trunc(got).astype("int64") - want).max() <= 1
    np.testing.assert_allclose(got, want, atol=1.0)
    # in a model with an unknown batch, exported to ONNX
    inputs = graphc.Input(shape=(12, 10, 3), dtype="uint8")
    model = graphc.Model(inputs, layer(inputs))
    np.testing.assert_allclose(model.predict(x, verbose=0), got, rtol=1e-6)
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "clahe.onnx"
    model.export(str(path), format="onnx")
    session = ort.InferenceSession(str(path))
    onnx_out = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(onnx_out, got, rtol=1e-5, atol=1e-3)
    with pytest.raises(graphc.errors.ArgumentValueError, match="tile_grid_size"):
        getattr(graphc.layers, CLAHE)(tile_grid_size=8)
    with pytest.raises(graphc.errors.ArgumentValueError, match="tile_grid_size"):
        getattr(graphc.layers, CLAHE)(tile_grid_size=(0, 2))


# ---- AugMix ------------------------------------------------------------------------------
AUGMIX_CASES = [
    {},
    {"value_range": (0, 1), "num_chains": 2, "chain_depth": 4, "factor": 0.6, "alpha": 0.5},
    {"all_ops": False, "interpolation": "nearest", "data_format": "channels_first"},
]


def _shape(kwargs, n=4):
    return (n, 3, 6, 7) if kwargs.get("data_format") == "channels_first" else (n, 6, 7, 3)


def _step_params(name, t, shape, fmt):
    """graphc's parameters of one step from Keras's transformation."""
    if t is None:
        return {}
    if name == "translation":  # Keras's translations: (dx, dy) per image, in pixels
        tr = _np(t["translations"])
        return {"transforms": translation_matrix(tr[:, 1], tr[:, 0]).astype("float32")}
    if name == "rotation":
        matrix = np.array(_np(t["rotation_matrix"]), dtype="float32", copy=True)
        return {"transforms": matrix.reshape(-1, 8)}
    return {k: np.array(_np(v), copy=True) for k, v in t.items() if k != "input_shape"}


def _keras_params(t, shape, fmt):
    """graphc's AugMix parameters from Keras's ``get_random_transformation``."""
    chains = []
    for chain in t["chain_transforms"]:
        steps = []
        for step in chain:
            name = step["layer_name"].replace("random_", "")
            steps.append((name, _step_params(name, step["transformation"], shape, fmt)))
        chains.append(steps)
    return {
        "chain_mixing_weights": _np(t["chain_mixing_weights"]),
        "weight_sample": _np(t["weight_sample"]),
        "chains": chains,
    }


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", AUGMIX_CASES)
def test_aug_mix_given_keras_draws_matches_keras(kwargs):
    keras.utils.set_random_seed(5)
    ours, theirs = graphc.layers.AugMix(**kwargs), keras.layers.AugMix(**kwargs)
    high = kwargs.get("value_range", (0, 255))[1]
    x = _images(_shape(kwargs), seed=6, high=high)
    xt = keras.ops.convert_to_tensor(x)
    seen = set()
    for _ in range(8):
        t = theirs.get_random_transformation(x, training=True)
        # (before Keras's transform: its torch affine_transform edits the matrix in place)
        params = _keras_params(t, x.shape, ours.data_format)
        want = _np(theirs.transform_images(xt, t, training=True))
        seen.update(name for chain in params["chains"] for name, _ in chain)
        got = apply_aug_mix(ours.op_attrs(), x, params)
        assert got.shape == x.shape and got.dtype == np.float32
        # chained steps with thresholds (equalization's bins over the whole batch,
        # solarization's threshold, posterization's bits) turn a float32 rounding
        # difference of a resampling step into a different level at a rare pixel
        # (each step alone: test_aug_mix_one_step_at_a_time_to_1e5)
        close = np.isclose(got, want, rtol=1e-5, atol=1e-4 * high)
        assert close.mean() > 0.98, params["chains"]
        np.testing.assert_allclose(got.mean(), want.mean(), rtol=1e-3)
    assert len(seen) >= 5, seen


@pytest.mark.slow
def test_aug_mix_one_step_at_a_time_to_1e5():
    """Each of Keras's eleven steps alone (one chain, one step), given Keras's draws."""
    keras.utils.set_random_seed(8)
    kwargs = {"num_chains": 1, "chain_depth": 1, "factor": 0.5}
    ours, theirs = graphc.layers.AugMix(**kwargs), keras.layers.AugMix(**kwargs)
    x = _images((4, 6, 7, 3), seed=9)
    xt = keras.ops.convert_to_tensor(x)
    done = set()
    for _ in range(200):
        t = theirs.get_random_transformation(x, training=True)
        if not t["chain_transforms"][0]:
            continue
        name = t["chain_transforms"][0][0]["layer_name"].replace("random_", "")
        if name in done:
            continue
        params = _keras_params(t, x.shape, "channels_last")
        want = _np(theirs.transform_images(xt, t, training=True))
        got = apply_aug_mix(ours.op_attrs(), x, params)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3, err_msg=name)
        done.add(name)
        if len(done) == len(AUG_MIX_OPS_ALL):
            break
    assert done == set(AUG_MIX_OPS_ALL)


@pytest.mark.parametrize("kwargs", AUGMIX_CASES)
def test_aug_mix_config_and_inference_match_keras(kwargs):
    ours, theirs = graphc.layers.AugMix(**kwargs), keras.layers.AugMix(**kwargs)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    twin = graphc.layers.AugMix.from_config(ours.get_config())
    assert _json(twin.get_config()) == _json(ours.get_config())
    x = _images(_shape(kwargs), seed=10, high=kwargs.get("value_range", (0, 255))[1])
    np.testing.assert_array_equal(_np(theirs(x, training=False)), x)
    np.testing.assert_array_equal(ours(x, training=False), x)
    model = graphc.Sequential([graphc.Input(shape=x.shape[1:]), ours])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


class _Counting:
    """A generator that records the choices."""

    def __init__(self, seed):
        self.rng, self.choices = np.random.default_rng(seed), []

    def integers(self, low, high, size=None):
        out = self.rng.integers(low, high, size)
        if size is None:
            self.choices.append(int(out))
        return out

    def __getattr__(self, name):
        return getattr(self.rng, name)


def test_aug_mix_draws_have_keras_distributions():
    layer = graphc.layers.AugMix(num_chains=4, chain_depth=3, alpha=2.0)
    attrs = layer.op_attrs()
    rng = _Counting(0)
    weights, samples, steps = [], [], []
    for _ in range(300):
        p = draw_aug_mix(attrs, rng, 2, (2, 6, 7, 3))
        weights.append(p["chain_mixing_weights"])
        samples.append(p["weight_sample"])
        steps.append(sum(len(c) for c in p["chains"]))
        assert len(p["chains"]) == 4 and all(len(c) <= 3 for c in p["chains"])
    weights = np.array(weights)
    # Dirichlet(2, 2, 2, 2): sums to 1, mean 1/4; Beta(2, 2): mean 1/2, in [0, 1]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(weights.mean(axis=0), 0.25, atol=0.03)
    assert 0.0 <= min(samples) and max(samples) <= 1.0
    assert abs(np.mean(samples) - 0.5) < 0.05
    # each of the 11 layers and "nothing" equally likely: 11/12 of the steps are kept
    counts = np.bincount(rng.choices, minlength=12)
    assert len(rng.choices) == 300 * 12
    assert counts.min() > 0.7 * len(rng.choices) / 12
    assert abs(np.mean(steps) - 12 * 11 / 12) < 0.4
    # Keras's own draws: the same shapes and ranges
    keras.utils.set_random_seed(1)
    t = keras.layers.AugMix(num_chains=4, chain_depth=3, alpha=2.0).get_random_transformation(
        _images((2, 6, 7, 3)), training=True
    )
    assert _np(t["chain_mixing_weights"]).shape == (4,)
    assert len(t["chain_transforms"]) == 4 and all(len(c) <= 3 for c in t["chain_transforms"])


def test_aug_mix_training_seed_fit_and_export(tmp_path):
    x = _images((4, 6, 7, 3), seed=11)
    layer = graphc.layers.AugMix()
    graphc.utils.set_random_seed(3)
    first = layer(x)
    graphc.utils.set_random_seed(3)
    np.testing.assert_array_equal(layer(x), first)
    assert first.shape == x.shape and first.dtype == np.float32
    assert not np.allclose(first, x) and first.min() >= 0 and first.max() <= 255
    one = layer(x[0].astype("uint8"))  # one unbatched integer image
    assert one.shape == (6, 7, 3) and one.dtype == np.float32
    inputs = graphc.Input(shape=(6, 7, 3))
    out = graphc.layers.Dense(2)(graphc.layers.Flatten()(layer(inputs)))
    model = graphc.Model(inputs, out)
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "augmix.onnx"
    model.export(str(path), format="onnx")
    session = ort.InferenceSession(str(path))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    with pytest.raises(graphc.errors.ShapeError, match="3 channels"):
        graphc.layers.AugMix()(graphc.Input(shape=(6, 7, 1)))
    assert graphc.layers.AugMix(all_ops=False)(x[..., :1]).shape == (4, 6, 7, 1)


# ---- MaxNumBoundingBoxes -------------------------------------------------------------------
@pytest.mark.parametrize("max_number,n_boxes,batched", [(5, 3, True), (2, 3, True), (4, 2, False)])
def test_max_num_bounding_boxes_matches_keras(max_number, n_boxes, batched):
    rng = np.random.default_rng(12)
    images = _images((2, 8, 8, 3), seed=12)
    boxes = rng.integers(0, 8, (2, n_boxes, 4)).astype("float32")
    labels = rng.integers(0, 5, (2, n_boxes)).astype("int32")
    if not batched:
        images, boxes, labels = images[0], boxes[0], labels[0]

    def data():
        return {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}

    kwargs = {"fill_value": -1, "bounding_box_format": "xyxy"}
    ours = graphc.layers.MaxNumBoundingBoxes(max_number, **kwargs)
    theirs = keras.layers.MaxNumBoundingBoxes(max_number, **kwargs)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    got, want = ours(data()), theirs(data())
    np.testing.assert_array_equal(got["images"], _np(want["images"]))
    for key in ("boxes", "labels"):
        np.testing.assert_array_equal(
            got["bounding_boxes"][key], _np(want["bounding_boxes"][key]), err_msg=key
        )
    np.testing.assert_array_equal(ours(images), images)
    with pytest.raises(graphc.errors.InputDataError, match="boxes"):
        ours({"images": images, "bounding_boxes": {"boxes": boxes}})
    with pytest.raises(ValueError, match="bounding_box_format"):
        theirs_plain = keras.layers.MaxNumBoundingBoxes(max_number)
        theirs_plain(data())
    with pytest.raises(graphc.errors.ArgumentValueError, match="bounding_box_format"):
        graphc.layers.MaxNumBoundingBoxes(max_number)(data())
