"""Op specs for the sampling ops of graphc/ops/image_warp.py (see the options at the top
of test_ops.py): map_coordinates (gradients to the input and, at order 1, to the
coordinates), affine_transform (to the images), the homography of perspective_transform
(no gradient), elastic_transform (a fixed map once the generator is seeded) and the
training-only op of RandomElasticTransform (no gradient: it stands on the data). The
sampling ops have no ONNX lowering and say so."""

import numpy as np

_NO_ONNX = {"onnx_raises": (NotImplementedError, "no ONNX lowering")}


def _coords(shape, out, order):
    def make(rng, dtype):
        x = rng.uniform(-1, 1, shape).astype(dtype)
        c = rng.uniform(-1.5, 1.0, (len(shape),) + out) * (np.array(shape) + 1).reshape(
            (-1,) + (1,) * len(out)
        )
        if order == 0:  # away from the .5 ties of rounding
            c = np.floor(c) + rng.uniform(0.1, 0.4, c.shape)
        return x, c.astype(dtype)

    return make


def _int_coords(rng, dtype):
    x = rng.uniform(-1, 1, (4, 5)).astype(dtype)
    return x, rng.integers(-3, 8, (2, 6)).astype("int32")


def _mc(order, fill, fill_value=0.0):
    return {"order": order, "fill_mode": fill, "fill_value": fill_value}


def _affine(interp="bilinear", fill="constant", fmt="channels_last"):
    return {"interpolation": interp, "fill_mode": fill, "fill_value": 0.25, "data_format": fmt}


def _transforms(shape, n):
    def make(rng, dtype):
        x = rng.uniform(-1, 1, shape).astype(dtype)
        t = np.tile(np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]), (n, 1))
        t += rng.uniform(-0.3, 0.3, t.shape) * np.array([0.3, 0.3, 3, 0.3, 0.3, 3, 0.02, 0.02])
        return x, t.astype(dtype)

    return make


def _points(rng, dtype):
    start = np.tile(np.array([[0.0, 0.0], [7.0, 0.0], [0.0, 5.0], [7.0, 5.0]]), (2, 1, 1))
    return start.astype(dtype), (start + rng.uniform(-1, 1, start.shape)).astype(dtype)


def _elastic(fmt="channels_last", interp="bilinear", fill="reflect", seed=None):
    return {"alpha": 2.0, "sigma": 1.0, "interpolation": interp, "fill_mode": fill,
            "fill_value": 0.5, "seed": seed, "data_format": fmt}  # fmt: skip


def _random_elastic(fmt="channels_last", fill="reflect"):
    return {"factor": (0.0, 1.0), "scale": (0.5, 1.0), "interpolation": "bilinear",
            "fill_mode": fill, "fill_value": 0.0, "value_range": (0.0, 1.0),
            "data_format": fmt}  # fmt: skip


SPECS = {
    "map_coordinates": [
        (
            _mc(1, fill),
            [(4, 5), (2, 3, 4)],
            (0, 1),
            {"make": _coords((4, 5), (3, 4), 1), "batch": False},
        )
        for fill in ("constant", "nearest", "wrap", "mirror", "reflect")
    ]
    + [
        (
            _mc(0, "constant", 0.5),
            [(3, 4, 2), (3, 6)],
            (0, 1),
            {"make": _coords((3, 4, 2), (6,), 0), "batch": False},
        ),
        (
            _mc(0, "reflect"),
            [(3, 4, 2), (3, 6)],
            (0, 1),
            {"make": _coords((3, 4, 2), (6,), 0), "batch": False},
        ),
        (  # an axis of size 1: every index reads it
            _mc(1, "mirror"),
            [(1, 5), (2, 4)],
            (0, 1),
            {"make": _coords((1, 5), (4,), 1), "batch": False},
        ),
        (
            _mc(1, "constant", 0.5),
            [(4, 5), (2, 6)],
            (0, 1),
            {"make": _int_coords, "batch": False, "no_grad": (1,)},
        ),
    ],  # fmt: skip
    "affine_transform": [
        (
            _affine(),
            [(2, 5, 6, 2), (2, 8)],
            (0, 1),
            {"make": _transforms((2, 5, 6, 2), 2), "no_grad": (1,)},
        ),
        (
            _affine("nearest", "wrap"),
            [(2, 5, 6, 2), (1, 8)],
            (0, 1),
            {"make": _transforms((2, 5, 6, 2), 1), "no_grad": (1,)},
        ),
        (
            _affine("bilinear", "mirror", "channels_first"),
            [(2, 2, 5, 6), (2, 8)],
            (0, 1),
            {"make": _transforms((2, 2, 5, 6), 2), "no_grad": (1,)},
        ),
    ],  # fmt: skip
    "homography": [
        ({}, [(2, 4, 2), (2, 4, 2)], (0, 1), {"make": _points, "vjp_raises": True, **_NO_ONNX}),
    ],  # fmt: skip
    "elastic_transform": [
        (_elastic(), [(2, 5, 6, 2)], (0, 1), _NO_ONNX),
        (
            _elastic("channels_first", "nearest", "constant", seed=3),
            [(2, 2, 5, 6)],
            (0, 1),
            _NO_ONNX,
        ),
        (_elastic(fill="wrap", seed=1), [(1, 6, 5, 1)], (0, 1), _NO_ONNX),
    ],  # fmt: skip
    "random_elastic_transform": [
        (_random_elastic(), [(3, 5, 6, 2)], (0, 1), {"vjp_raises": True}),
        (
            _random_elastic("channels_first", "constant"),
            [(3, 2, 5, 6)],
            (0, 1),
            {"vjp_raises": True},
        ),
    ],  # fmt: skip
}
