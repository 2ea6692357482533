"""graphc.utils.bounding_boxes and graphc.utils.Config against Keras 3's own
(``keras.utils.bounding_boxes`` on the torch backend, ``keras.utils.Config``): the same
numbers to 1e-5 for every format pair and every function, the same errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from graphc import utils  # noqa: E402
from graphc.errors import ArgumentValueError  # noqa: E402

kbb = keras.utils.bounding_boxes
gbb = utils.bounding_boxes
FORMATS = gbb.SUPPORTED_FORMATS


def np_(x):
    if isinstance(x, dict):
        return {k: np_(v) for k, v in x.items()}
    return np.asarray(keras.ops.convert_to_numpy(x))


def close(g, k, tol=1e-5):
    if isinstance(k, dict):
        assert set(g) == set(k)
        for key in k:
            close(g[key], k[key], tol)
        return
    k = np_(k)
    assert isinstance(g, np.ndarray)
    assert g.shape == k.shape
    np.testing.assert_allclose(g, k, rtol=tol, atol=tol)


def _xyxy(rng, shape, size=100.0):
    a = rng.uniform(0, size, shape + (2,))
    b = rng.uniform(0, size, shape + (2,))
    lo, hi = np.minimum(a, b), np.maximum(a, b) + 1.0
    return np.concatenate([lo, hi], axis=-1).astype("float32")


def test_public_names_match_keras():
    names = sorted(n for n in dir(kbb) if not n.startswith("_"))
    assert names == sorted(gbb.__all__)


@pytest.mark.parametrize("source", FORMATS)
def test_convert_format_every_pair(source):
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0.05, 0.9, (2, 5, 4)).astype("float32") * (
        1.0 if source.startswith("rel_") else 120.0
    )
    for target in FORMATS:
        g = gbb.convert_format(boxes, source, target, height=96, width=128)
        k = kbb.convert_format(boxes, source, target, height=96, width=128)
        close(g, k)
        assert g.dtype == np.float32
    # unbatched, integer input, upper case names
    ints = rng.integers(0, 50, (3, 4))
    close(
        gbb.convert_format(ints, source.upper(), "center_yxhw", height=50, width=60),
        kbb.convert_format(ints, source.upper(), "center_yxhw", height=50, width=60),
    )


def test_convert_format_dict_and_errors():
    boxes = np.array([[10, 20, 30, 40], [50, 60, 70, 80]])
    gd = {"boxes": boxes, "labels": np.array([1, 2])}
    kd = {"boxes": boxes, "labels": np.array([1, 2])}
    g = gbb.convert_format(gd, "xyxy", "xywh")
    k = kbb.convert_format(kd, "xyxy", "xywh")
    assert g is gd  # converted in place, as Keras does
    close(g["boxes"], k["boxes"])
    np.testing.assert_array_equal(g["labels"], np_(k["labels"]))
    for args, kwargs in [
        ((np.zeros((2, 3)), "xyxy", "xywh"), {}),
        ((boxes, "xyxy", "polar"), {}),
        ((boxes, "xyxy", "rel_xyxy"), {"height": 10}),
    ]:
        with pytest.raises(ValueError):
            kbb.convert_format(*args, **kwargs)
        with pytest.raises(ArgumentValueError):
            gbb.convert_format(*args, **kwargs)


@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy"])
def test_clip_to_image_size(fmt):
    boxes = np.array(
        [[-10, -20, 150, 160], [50, 40, 70, 80], [130, 10, 140, 20], [5, 5, 5, 9]], "float32"
    )
    if fmt == "rel_xyxy":
        boxes = boxes / 100.0
    labels = np.array([0, 1, 2, 3])
    kw = {"height": 100, "width": 120, "bounding_box_format": fmt}
    g = gbb.clip_to_image_size({"boxes": boxes, "labels": labels}, **kw)
    k = kbb.clip_to_image_size({"boxes": boxes, "labels": labels}, **kw)
    close(g["boxes"], k["boxes"])
    np.testing.assert_array_equal(g["labels"], np_(k["labels"]))
    batched = np.stack([boxes, boxes[::-1]])
    g = gbb.clip_to_image_size({"boxes": batched}, **kw)
    k = kbb.clip_to_image_size({"boxes": batched}, **kw)
    close(g, k)


def test_crop_and_pad():
    rng = np.random.default_rng(1)
    for boxes in (_xyxy(rng, (6,)), _xyxy(rng, (2, 6))):
        close(gbb.crop(boxes, 10, 20, 40, 30), kbb.crop(boxes, 10, 20, 40, 30))
        close(gbb.pad(boxes, 7, 3), kbb.pad(boxes, 7, 3))
        close(gbb.pad(boxes, 7, 3, height=5, width=6), kbb.pad(boxes, 7, 3, height=5, width=6))
    ints = np.array([[10, 20, 50, 60], [70, 80, 100, 120]])
    close(gbb.crop(ints, top=10, left=20, height=40, width=30), kbb.crop(ints, 10, 20, 40, 30))
    for fn in (gbb.crop, gbb.pad):
        with pytest.raises(NotImplementedError):
            fn(ints, 1, 1, 1, 1, bounding_box_format="yxyx")


@pytest.mark.parametrize("centre", [None, 0.3])
def test_affine_transform(centre):
    rng = np.random.default_rng(2)
    boxes = _xyxy(rng, (3, 5), size=60.0)

    def f32(*v):
        return np.array(v, "float32")

    args = (
        f32(15.0, -30.0, 0.0),  # angle
        f32(0.1, 0.0, -0.2),  # translate_x
        f32(0.0, 0.05, 0.1),  # translate_y
        f32(1.0, 1.2, 0.8),  # scale
        f32(0.0, 10.0, -5.0),  # shear_x
        f32(5.0, 0.0, 0.0),  # shear_y
    )
    kw = {"height": 64, "width": 80, "center_x": centre, "center_y": centre}
    g = gbb.affine_transform(boxes, *args, **kw)
    k = kbb.affine_transform(boxes, *args, **kw)
    close(g, k, tol=1e-4)  # coordinates ~100: float32 rounding of Keras's own order
    # one image's boxes without a batch axis: the same as batched with one entry
    one = gbb.affine_transform(boxes[0], *(a[:1] for a in args), **kw)
    close(one, np_(kbb.affine_transform(boxes[:1], *(a[:1] for a in args), **kw))[0], tol=1e-4)


@pytest.mark.parametrize("fmt", ["xyxy", "yxyx", "center_xywh", "rel_xyxy"])
def test_compute_iou(fmt):
    rng = np.random.default_rng(3)
    shape = (64, 64, 3)
    b1 = gbb.convert_format(_xyxy(rng, (2, 5), 50), "xyxy", fmt, height=64, width=64)
    b2 = gbb.convert_format(_xyxy(rng, (2, 7), 50), "xyxy", fmt, height=64, width=64)
    b1[0, 1] = -1.0  # a padded box, masked with use_masking
    for x, y in ((b1, b2), (b1[0], b2[0]), (b1, b2[0]), (b1[1], b2)):
        # Keras's masking transposes boxes2's mask by boxes1's rank: equal ranks only
        for masking in (False, True) if x.ndim == y.ndim else (False,):
            kw = {"use_masking": masking, "mask_val": -2, "image_shape": shape}
            close(gbb.compute_iou(x, y, fmt, **kw), kbb.compute_iou(x, y, fmt, **kw))


def test_compute_ciou():
    rng = np.random.default_rng(4)
    b1, b2 = _xyxy(rng, (2, 6)), _xyxy(rng, (2, 6))
    b2[0, 0] = b1[0, 0]  # identical boxes: CIoU 1
    close(gbb.compute_ciou(b1, b2, "xyxy"), kbb.compute_ciou(b1, b2, "xyxy"))
    c1 = gbb.convert_format(b1, "xyxy", "center_xywh")
    c2 = gbb.convert_format(b2, "xyxy", "center_xywh")
    close(gbb.compute_ciou(c1, c2, "center_xywh"), kbb.compute_ciou(c1, c2, "center_xywh"))
    with pytest.raises(ValueError):
        gbb.compute_ciou(b1, b2, "rel_xyxy")


@pytest.mark.parametrize("encoding", ["center_yxhw", "center_xywh"])
@pytest.mark.parametrize("variance", [None, [0.1, 0.1, 0.2, 0.2]])
def test_encode_decode_deltas(encoding, variance):
    rng = np.random.default_rng(5)
    anchors = _xyxy(rng, (8,), 60)
    boxes = _xyxy(rng, (2, 8), 60)
    kw = {"variance": variance}
    g = gbb.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding, **kw)
    k = kbb.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding, **kw)
    close(g, k)
    gd = gbb.decode_deltas_to_boxes(anchors, g, "xyxy", "xywh", encoding, **kw)
    # Keras multiplies the deltas with its own tensors: it needs a tensor, not an array
    kd = kbb.decode_deltas_to_boxes(anchors, k, "xyxy", "xywh", encoding, **kw)
    close(gd, kd, tol=1e-4)
    # relative formats through image_shape, and a dict of levels
    rel = {"p3": anchors / 64.0, "p4": anchors[:4] / 64.0}
    deltas = {"p3": g[0], "p4": g[0, :4]}
    kw["image_shape"] = (64, 64, 3)
    close(
        gbb.decode_deltas_to_boxes(rel, deltas, "rel_xyxy", "xyxy", encoding, **kw),
        kbb.decode_deltas_to_boxes(
            rel,
            {lvl: keras.ops.convert_to_tensor(d) for lvl, d in deltas.items()},
            "rel_xyxy",
            "xyxy",
            encoding,
            **kw,
        ),
        tol=1e-4,
    )
    with pytest.raises(ValueError):
        gbb.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", "xyxy")
    with pytest.raises(ValueError):
        gbb.decode_deltas_to_boxes(anchors, g, "xyxy", "xyxy", variance=[1, 2])


# ---- Config ---------------------------------------------------------------------------------
def _exercise(Config):
    """The same script on either class; returns what it observed."""
    seen = []
    c = Config(learning_rate=0.1, momentum=0.9)
    c.use_ema = True
    c["seed"] = 123
    seen += [c.seed, c["learning_rate"], c.use_ema, len(c), list(c), "seed" in c]
    seen += [sorted(c.keys()), sorted(map(str, c.values())), sorted(c.items())]
    seen += [c.get("nope", 7), c.pop("use_ema"), json.loads(c.to_json()), c.as_dict(), repr(c)]
    c.update(extra=1)
    del c["extra"]
    try:
        c.learning_rat  # noqa: B018
    except AttributeError as e:
        seen.append(str(e))
    c.freeze()
    seen.append(c.frozen)
    for change in (
        lambda: setattr(c, "foo", 1),
        lambda: c.__setitem__("foo", 1),
        lambda: c.pop("seed"),
        lambda: c.update(a=1),
        lambda: c.__delitem__("seed"),
    ):
        try:
            change()
            seen.append("changed")
        except ValueError as e:
            seen.append(str(e).split(".")[0])
    c.unfreeze()
    c.foo = 2
    seen += [c.frozen, c.foo, c.as_dict()]
    return seen


def test_config_matches_keras():
    assert _exercise(utils.Config) == _exercise(keras.utils.Config)
