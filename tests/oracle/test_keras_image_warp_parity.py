"""graphc/ops/image_warp.py and graphc/layers/image_warping.py against Keras 3 (torch
backend): map_coordinates, affine_transform, perspective_transform, sobel_edges, ssim,
extract_patches_3d and scale_and_translate to 1e-5 (eager and recorded in a model, with
the ONNX export of the composed ones); map_coordinates' gradients against torch's
autograd through Keras's; elastic_transform's field by its statistics; RandomPerspective
given Keras's draws; both layers' configs, inference identity and draws."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc import ops  # noqa: E402
from graphc.ops import ExecContext, get_op  # noqa: E402

R = np.random.default_rng(0)
IM = R.random((2, 7, 9, 3)).astype("float32")
IM_CF = IM.transpose(0, 3, 1, 2).copy()
BIG = R.random((2, 16, 18, 3)).astype("float32")
VOL = R.random((2, 6, 7, 8, 2)).astype("float32")
X2 = R.random((5, 6)).astype("float32")
X3 = R.random((5, 6, 3)).astype("float32")
C2 = (R.random((2, 4, 7)) * np.array([9, 10])[:, None, None] - 2).astype("float32")
C3 = (R.random((3, 11)) * np.array([9, 10, 5])[:, None] - 2).astype("float32")
START = np.array([[0, 0], [8, 0], [0, 6], [8, 6]], "float32")
END = (START + R.uniform(-1.5, 1.5, (2, 4, 2))).astype("float32")
# (affine only: Keras's torch backend does not divide by c0 x + c1 y + 1, as graphc's
# affine_transform and perspective_transform do)
T = np.array([[1.1, 0.1, -1, 0.05, 0.9, 0.5, 0, 0], [0.9, -0.2, 1, 0.1, 1.0, -0.5, 0, 0]])
FILLS = ("constant", "nearest", "wrap", "mirror", "reflect")


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


CASES = (
    [("map_coordinates", (X2, C2, 1), {"fill_mode": f, "fill_value": 0.5}) for f in FILLS]
    + [("map_coordinates", (X3, C3, 0), {"fill_mode": f}) for f in FILLS]
    + [("map_coordinates", (X3, list(C3), 1), {})]
    + [
        ("affine_transform", (IM, T.astype("float32")), {"fill_mode": f, "fill_value": 0.2})
        for f in FILLS
    ]
    + [
        (
            "affine_transform",
            (IM_CF[:1], T[0].astype("float32")),
            {"interpolation": "nearest", "data_format": "channels_first"},
        ),
        ("perspective_transform", (IM, np.stack([START, START]), END), {}),
        (
            "perspective_transform",
            (IM, np.stack([START, START]), END),
            {"interpolation": "nearest", "fill_value": 0.3},
        ),
        ("perspective_transform", (IM[0], START, END[1]), {}),
        (
            "perspective_transform",
            (IM_CF, np.stack([START, START]), END),
            {"data_format": "channels_first"},
        ),
        ("sobel_edges", (IM,), {"data_format": "channels_last"}),
        ("sobel_edges", (IM_CF,), {"data_format": "channels_first"}),
        ("ssim", (BIG, np.clip(BIG + 0.2 * R.random(BIG.shape) - 0.1, 0, 1)), {}),
        ("ssim", (BIG[0], BIG[1]), {"filter_size": 7, "filter_sigma": 1.0, "max_val": 2.0}),
        (
            "ssim",
            (BIG.transpose(0, 3, 1, 2), BIG[::-1].transpose(0, 3, 1, 2)),
            {"data_format": "channels_first", "k1": 0.02, "k2": 0.05},
        ),
        ("extract_patches_3d", (VOL, 2), {}),
        ("extract_patches", (VOL, (2, 2, 2)), {}),  # (Keras: a 3-tuple means volumes)
        ("extract_patches_3d", (VOL[0], (2, 3, 2)), {"strides": (1, 2, 3)}),
        ("extract_patches_3d", (VOL, 3), {"strides": 2, "padding": "same"}),
        ("extract_patches_3d", (VOL, 2), {"strides": 1, "dilation_rate": 2}),
        (
            "extract_patches_3d",
            (VOL.transpose(0, 4, 1, 2, 3), 2),
            {"data_format": "channels_first"},
        ),
    ]  # fmt: skip
    + [
        (
            "scale_and_translate",
            (IM, shape, np.array(s, "float32"), np.array(t, "float32"), (1, 2), method),
            {"antialias": aa},
        )
        for method in ("linear", "bicubic", "lanczos3", "lanczos5")
        for shape, s, t in (
            ((2, 4, 5, 3), (0.6, 0.5), (0.3, -0.2)),
            ((2, 10, 13, 3), (1.5, 1.4), (0.1, 0.2)),
        )
        for aa in (True, False)
    ]  # fmt: skip
    + [
        (
            "scale_and_translate",
            (
                np.arange(9, dtype="float32").reshape(3, 3),
                (5, 5),
                np.array([2.0, 2.0], "float32"),
                np.array([-0.5, -0.5], "float32"),
                (0, 1),
                "linear",
            ),
            {},
        ),
        (
            "scale_and_translate",
            (
                VOL[0, :, :, :, 0],
                (4, 9, 3),
                np.array([0.7, 1.3, 0.4], "float32"),
                np.zeros(3, "float32"),
                (0, 1, 2),
                "trilinear",
            ),
            {},
        ),
    ]  # fmt: skip
)


def _keras_args(args):
    return [
        keras.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) and a.ndim > 1 else a
        for a in args
    ]


@pytest.mark.parametrize(
    "name,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_image_op_matches_keras(name, args, kwargs):
    want = _np(getattr(keras.ops.image, name)(*_keras_args(args), **kwargs))
    got = np.asarray(getattr(ops.image, name)(*args, **kwargs))
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_integer_images_round_as_keras():
    x = (IM * 255).astype("uint8")
    args = (x, (2, 10, 13, 3), np.array([1.5, 1.4], "float32"), np.array([0.1, 0.2], "float32"))
    want = _np(keras.ops.image.scale_and_translate(*args, (1, 2), "bicubic"))
    got = ops.image.scale_and_translate(*args, (1, 2), "bicubic")
    assert got.dtype == np.uint8
    # rounding at .5 may differ by the summation order: one level, rarely
    assert np.abs(got.astype(int) - want).max() <= 1
    assert np.mean(got != want) < 0.01
    y = (X2 * 100).astype("int32")
    want = _np(keras.ops.image.map_coordinates(y, C2, 1))
    np.testing.assert_array_equal(ops.image.map_coordinates(y, C2, 1), want)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", FILLS)
def test_map_coordinates_gradients_match_torch_autograd(order, fill_mode):
    import torch

    x = torch.tensor(X2, requires_grad=True)
    c = torch.tensor(C2 + 0.01, requires_grad=True)  # (off integer points)
    y = keras.ops.image.map_coordinates(x, c, order, fill_mode=fill_mode, fill_value=0.5)
    g = torch.tensor(R.standard_normal(tuple(y.shape)).astype("float32"))
    (y * g).sum().backward()
    op = get_op("map_coordinates")
    attrs = {"order": order, "fill_mode": fill_mode, "fill_value": 0.5}
    xs = [X2, C2 + np.float32(0.01)]
    gx, gc = op.gradients(attrs, xs, [op.run(attrs, xs)], [g.numpy()])
    np.testing.assert_allclose(gx, x.grad.numpy(), rtol=1e-5, atol=1e-5)
    want_c = c.grad.numpy() if c.grad is not None else np.zeros_like(gc)
    np.testing.assert_allclose(gc, want_c, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_ops_record_run_and_export(tmp_path):
    inp = graphc.Input((16, 18, 3))
    composed = {
        "sobel": lambda x: ops.image.sobel_edges(x),
        "ssim": lambda x: ops.image.ssim(x, x * 0.5 + 0.1),
        "scale": lambda x: ops.image.scale_and_translate(
            x,
            (2, 8, 12, 3),
            np.array([0.5, 0.6], "float32"),
            np.array([0.2, 0.0], "float32"),
            (1, 2),
            "lanczos3",
        ),  # fmt: skip
    }
    ort = pytest.importorskip("onnxruntime")
    for key, fn in composed.items():
        model = graphc.Model(inp, fn(inp))
        want = np.asarray(fn(BIG))
        np.testing.assert_allclose(model.predict(BIG, verbose=0), want, rtol=1e-5, atol=1e-6)
        path = tmp_path / f"{key}.onnx"
        model.export(str(path), format="onnx")
        session = ort.InferenceSession(str(path))
        got = session.run(None, {session.get_inputs()[0].name: BIG})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=key)
    vol = graphc.Input((6, 7, 8, 2))
    model = graphc.Model(vol, ops.image.extract_patches_3d(vol, 3, strides=2, padding="same"))
    np.testing.assert_array_equal(
        model.predict(VOL, verbose=0),
        ops.image.extract_patches_3d(VOL, 3, strides=2, padding="same"),
    )
    # the sampling ops record, run as eagerly, train and export (GatherND)
    small = graphc.Input((7, 9, 3))
    warped = ops.image.perspective_transform(small, START, END[0])
    warped = ops.image.map_coordinates(warped, np.stack(np.meshgrid(
        np.arange(2), np.arange(7), np.arange(9), np.arange(3), indexing="ij")).astype("float32")
        + 0.3, 1)  # fmt: skip
    out = graphc.layers.Dense(1)(graphc.layers.Flatten()(warped))
    model = graphc.Model(small, out)
    model.compile("sgd", "mse")
    history = model.fit(IM, np.ones((2, 1), "float32"), epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0]
    model.export(str(tmp_path / "w.onnx"), format="onnx")
    session = ort.InferenceSession(str(tmp_path / "w.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: IM})[0]
    np.testing.assert_allclose(got, model.predict(IM, verbose=0), rtol=1e-4, atol=1e-5)
    # elastic_transform draws a field: no ONNX form, and the export says so
    model = graphc.Model(small, ops.image.elastic_transform(small, seed=1))
    with pytest.raises(ValueError, match="no ONNX lowering"):  # graphc's ExportError
        model.export(str(tmp_path / "e.onnx"), format="onnx")


def _ramp(n, h, w):
    """Images whose value is the column index: a sample's value is where it read."""
    return np.broadcast_to(np.arange(w, dtype="float32")[None, None, :, None], (n, h, w, 1)).copy()


def test_elastic_transform_is_keras_field_in_distribution():
    # alpha = 0: no displacement, the identity (as Keras)
    np.testing.assert_array_equal(ops.image.elastic_transform(IM, alpha=0.0, sigma=2.0), IM)
    still = keras.ops.image.elastic_transform(IM, alpha=0.0, sigma=2.0, data_format="channels_last")
    np.testing.assert_array_equal(_np(still), IM)
    # the horizontal displacement of interior pixels: same spread as Keras's
    x = _ramp(16, 32, 32)
    kw = {"alpha": 4.0, "sigma": 2.0, "fill_mode": "nearest"}
    keras.utils.set_random_seed(0)
    theirs = _np(keras.ops.image.elastic_transform(x, data_format="channels_last", **kw)) - x
    ours = ops.image.elastic_transform(x, seed=0, **kw) - x
    inner = (slice(None), slice(6, -6), slice(6, -6))
    s_ours, s_theirs = ours[inner].std(), theirs[inner].std()
    assert abs(s_ours - s_theirs) < 0.15 * s_theirs, (s_ours, s_theirs)
    assert abs(ours[inner].mean()) < 0.2 * s_theirs
    # int seeds repeat, None draws anew; unbatched and channels-first agree in shape
    np.testing.assert_array_equal(
        ops.image.elastic_transform(IM, seed=5), ops.image.elastic_transform(IM, seed=5)
    )
    assert not np.array_equal(ops.image.elastic_transform(IM), ops.image.elastic_transform(IM))
    assert ops.image.elastic_transform(IM[0], seed=1).shape == IM[0].shape
    cf = ops.image.elastic_transform(IM_CF, seed=1, data_format="channels_first")
    np.testing.assert_allclose(cf, ops.image.elastic_transform(IM, seed=1).transpose(0, 3, 1, 2),
                               rtol=1e-6, atol=1e-6)  # fmt: skip


# ---- the layers ----------------------------------------------------------------------------
def _json(config):
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in ("dtype", "name")}))


LAYER_CASES = [
    ("RandomPerspective", {}),
    (
        "RandomPerspective",
        {
            "factor": (0.3, 0.9),
            "scale": 0.4,
            "interpolation": "nearest",
            "fill_value": 2.0,
            "seed": 3,
        },
    ),  # fmt: skip
    ("RandomPerspective", {"factor": 0.5, "data_format": "channels_first"}),
    ("RandomElasticTransform", {}),
    (
        "RandomElasticTransform",
        {
            "factor": (0.2, 0.7),
            "scale": 0.4,
            "value_range": (0, 1),
            "fill_mode": "constant",
            "fill_value": 0.5,
        },
    ),  # fmt: skip
    (
        "RandomElasticTransform",
        {
            "scale": (0.1, 0.3),
            "data_format": "channels_first",
            "interpolation": "nearest",
            "seed": 2,
        },
    ),  # fmt: skip
]


def _shape(kwargs, n=4):
    return (n, 3, 8, 10) if kwargs.get("data_format") == "channels_first" else (n, 8, 10, 3)


@pytest.mark.parametrize("name,kwargs", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_config_and_inference_match_keras(name, kwargs):
    ours, theirs = getattr(graphc.layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    twin = type(ours).from_config(ours.get_config())
    assert _json(twin.get_config()) == _json(ours.get_config())
    x = (np.random.default_rng(1).random(_shape(kwargs)) * 255).astype("float32")
    model = graphc.Sequential([graphc.Input(shape=x.shape[1:]), ours])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    np.testing.assert_array_equal(_np(theirs(x, training=False)), x)
    np.testing.assert_array_equal(ours(x, training=False), x)


class _Replay:
    """A generator that returns given draws in order (Keras's, read back)."""

    def __init__(self, draws):
        self.draws = list(draws)

    def uniform(self, low, high, size=None):
        return self.draws.pop(0)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"scale": 0.6, "fill_value": 3.0}, {"interpolation": "nearest", "scale": 0.3},
     {"data_format": "channels_first", "factor": 0.8}],
)  # fmt: skip
def test_random_perspective_given_keras_draws_matches_keras(kwargs):
    keras.utils.set_random_seed(4)
    ours = graphc.layers.RandomPerspective(**kwargs)
    theirs = keras.layers.RandomPerspective(**kwargs)
    x = (np.random.default_rng(2).random(_shape(kwargs, 6)) * 255).astype("float32")
    for _ in range(3):
        t = theirs.get_random_transformation(x, training=True)
        want = _np(theirs.transform_images(keras.ops.convert_to_tensor(x), t, training=True))
        start, end = _np(t["start_points"]), _np(t["end_points"])
        shift = np.divide(end - start, start, out=np.zeros_like(start), where=start != 0)
        applied = _np(t["apply_perspective"])
        draws = [np.ones(len(x)), np.where(applied, 0.0, 1.0), shift]
        attrs = {"kind": "perspective", "fill_mode": "constant", "factor": ours.factor,
                 "scale": ours.scale, "interpolation": ours.interpolation,
                 "fill_value": float(ours.fill_value), "data_format": ours.data_format}  # fmt: skip
        ctx = ExecContext(training=True, rng=_Replay(draws))
        got = get_op("random_affine").run(attrs, [x], ctx)[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_random_perspective_draws_and_training():
    layer = graphc.layers.RandomPerspective(factor=(0.5, 0.5), scale=0.5)
    x = (np.random.default_rng(3).random((400, 6, 7, 1)) * 255).astype("float32")
    graphc.utils.set_random_seed(1)
    y = layer(x)
    changed = np.any(y != x, axis=(1, 2, 3))
    assert 0.4 < changed.mean() < 0.6  # probability 0.5 against a uniform threshold
    assert np.array_equal(y[:, 0, 0], x[:, 0, 0])  # the top-left corner never moves
    graphc.utils.set_random_seed(1)
    np.testing.assert_array_equal(layer(x), y)
    # Keras's draws have the same law: about half applied, shifts within scale / 2
    keras.utils.set_random_seed(1)
    theirs = keras.layers.RandomPerspective(factor=(0.5, 0.5), scale=0.5)
    t = theirs.get_random_transformation(x, training=True)
    assert 0.4 < _np(t["apply_perspective"]).mean() < 0.6
    # gradients flow to the input through the warp
    inp = graphc.Input((6, 7, 1))
    out = graphc.layers.Dense(1)(graphc.layers.Flatten()(graphc.layers.RandomPerspective()(inp)))
    model = graphc.Model(inp, out)
    model.compile("sgd", "mse")
    model.fit(x[:8], np.zeros((8, 1), "float32"), epochs=1, verbose=0)


def test_random_elastic_transform_training():
    x = _ramp(64, 20, 24) * 10.0
    layer = graphc.layers.RandomElasticTransform(
        factor=(1.0, 1.0), scale=(0.5, 0.5), fill_mode="nearest", value_range=(0, 1000)
    )
    graphc.utils.set_random_seed(3)
    ours = layer(x) - x
    keras.utils.set_random_seed(3)
    theirs = keras.layers.RandomElasticTransform(
        factor=(1.0, 1.0), scale=(0.5, 0.5), fill_mode="nearest", value_range=(0, 1000)
    )
    theirs = _np(theirs(x, training=True)) - x
    inner = (slice(None), slice(5, -5), slice(5, -5))
    s_ours, s_theirs = ours[inner].std(), theirs[inner].std()
    assert abs(s_ours - s_theirs) < 0.15 * s_theirs, (s_ours, s_theirs)
    # clipped to value_range; factor (0, 0) or scale 0 leave the images alone
    clipped = graphc.layers.RandomElasticTransform(factor=(1.0, 1.0), value_range=(0, 100))(x)
    assert clipped.min() >= 0 and clipped.max() <= 100
    none = graphc.layers.RandomElasticTransform(factor=0.0)
    np.testing.assert_array_equal(none(x), x)
    # fit runs it; the export drops it
    inp = graphc.Input((20, 24, 1))
    y = graphc.layers.RandomElasticTransform(value_range=(0, 1))(inp)
    model = graphc.Model(inp, graphc.layers.Dense(2)(graphc.layers.Flatten()(y)))
    model.compile("sgd", "mse")
    data = x[:8] / 240.0
    model.fit(data, np.zeros((8, 2), "float32"), epochs=1, verbose=0)


def test_keras_files_round_trip(tmp_path):
    def build(lib):
        return lib.Sequential(
            [
                lib.Input((8, 9, 3)),
                lib.layers.RandomPerspective(scale=0.4, seed=2),
                lib.layers.RandomElasticTransform(value_range=(0, 1), fill_mode="nearest"),
                lib.layers.Flatten(),
                lib.layers.Dense(2),
            ]
        )

    theirs = build(keras)
    theirs.save(str(tmp_path / "k.keras"))
    ours = graphc.saving.load_model(str(tmp_path / "k.keras"))
    assert [type(layer).__name__ for layer in ours.layers][:2] == [
        "RandomPerspective",
        "RandomElasticTransform",
    ]
    x = np.random.default_rng(5).random((2, 8, 9, 3)).astype("float32")
    want = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    ours.save(str(tmp_path / "g.keras"))
    again = keras.saving.load_model(str(tmp_path / "g.keras"))
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-6, atol=1e-7)


def test_scale_and_translate_with_symbolic_scale():
    """A scale computed in the model builds the weight matrices with ops (as Keras)."""
    inp, sc = graphc.Input((7, 9, 3)), graphc.Input((2,))
    shift = np.array([0.3, -0.2], "float32")
    y = ops.image.scale_and_translate(
        inp, (2, 4, 5, 3), ops.take(sc, 0, axis=0), shift, (1, 2), "lanczos3"
    )
    model = graphc.Model([inp, sc], y)
    scale = np.array([0.6, 0.5], "float32")
    got = model.predict([IM, np.stack([scale, scale])], verbose=0)
    want = _np(
        keras.ops.image.scale_and_translate(IM, (2, 4, 5, 3), scale, shift, (1, 2), "lanczos3")
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
