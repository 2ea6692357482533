"""Op specs for graphc/ops/elementary.py, sorting.py and the linalg decompositions (see the
options at the top of test_ops.py)."""

import numpy as np

_NO_ONNX = (NotImplementedError, "has no ONNX lowering")


def _ints(*shapes, lo=1, hi=30, signed=False):
    def make(rng, dtype):
        out = [rng.integers(lo, hi, s).astype("int32") for s in shapes]
        if signed:
            out = [
                np.where(rng.random(s) < 0.5, -x, x).astype("int32") for x, s in zip(out, shapes)
            ]
        return out

    return make


def _spd(shape):
    def make(rng, dtype):
        a = rng.uniform(-1, 1, shape)
        n = shape[-1]
        return [(a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)]

    return make


def _well(*shapes):
    """Square matrices kept away from singular (random + 3 I), then right-hand sides."""

    def make(rng, dtype):
        a = rng.uniform(-1, 1, shapes[0]) + 3 * np.eye(shapes[0][-1])
        return [a.astype(dtype)] + [rng.uniform(-1, 1, s).astype(dtype) for s in shapes[1:]]

    return make


def _away_from_ints(shape):
    def make(rng, dtype):
        x = rng.uniform(-3, 3, shape)
        frac = x - np.floor(x)
        return [np.where((frac < 0.1) | (frac > 0.9), x + 0.3, x).astype(dtype)]

    return make


def _apart(shape):
    """Two operands that are never close (fmax/fmin pick one clearly), with NaNs."""

    def make(rng, dtype):
        a = rng.uniform(-2, 2, shape)
        b = a + np.where(rng.random(shape) < 0.5, -1, 1) * rng.uniform(0.2, 1, shape)
        return [a.astype(dtype), b.astype(dtype)]

    return make


SPECS = {
    "tan": [({}, [(3, 4)], (-1.2, 1.2))],
    "sinh": [({}, [(3, 4)], (-2, 2))],
    "cosh": [({}, [(3, 4)], (-2, 2))],
    "arcsin": [({}, [(3, 4)], (-0.9, 0.9))],
    "arccos": [({}, [(3, 4)], (-0.9, 0.9))],
    "arctan": [({}, [(3, 4)], (-3, 3))],
    "arcsinh": [({}, [(3, 4)], (-3, 3))],
    "arccosh": [({}, [(3, 4)], (1.2, 4))],
    "arctanh": [({}, [(3, 4)], (-0.9, 0.9))],
    "erf": [({}, [(3, 4)], (-2, 2))],
    "erfinv": [({}, [(3, 4)], (-0.9, 0.9), {"onnx_raises": _NO_ONNX})],
    "cbrt": [({}, [(3, 4)], (0.2, 3)), ({}, [(3, 4)], (-3, -0.2))],
    "sinc": [({}, [(3, 4)], (-2, 2))],
    "i0": [({}, [(3, 4)], (-3, 3), {"onnx_raises": _NO_ONNX})],
    "trunc": [({}, [(3, 4)], (-3, 3), {"make": _away_from_ints((3, 4))})],
    "isnan": [({}, [(3, 4)], (-2, 2), {"no_grad": (0,)})],
    "isinf": [
        ({"sign": 0}, [(3, 4)], (-2, 2), {"no_grad": (0,)}),
        ({"sign": 1}, [(3, 4)], (-2, 2), {"no_grad": (0,)}),
        ({"sign": -1}, [(3, 4)], (-2, 2), {"no_grad": (0,)}),
    ],
    "signbit": [({}, [(3, 4)], (-2, 2), {"no_grad": (0,)})],
    "stop_gradient": [({}, [(3, 4)], (-2, 2), {"no_grad": (0,)})],
    "arctan2": [({}, [(3, 4), (3, 4)], (-2, 2)), ({}, [(3, 4), (4,)], (0.2, 2))],
    "fmax": [({}, [(3, 4), (3, 4)], (-2, 2), {"make": _apart((3, 4))})],
    "fmin": [({}, [(3, 4), (3, 4)], (-2, 2), {"make": _apart((3, 4))})],
    "floor_divide": [
        ({}, [(3, 4), (3, 4)], (0.5, 3), {"make": _apart((3, 4))}),
        ({}, [(3, 4), (4,)], (1, 9), {"make": _ints((3, 4), (4,), signed=True), "no_grad": (0, 1)}),
    ],
    "gcd": [
        (
            {},
            [(3, 4), (4,)],
            (1, 30),
            {"make": _ints((3, 4), (4,)), "no_grad": (0, 1), "onnx_raises": _NO_ONNX},
        )
    ],
    "lcm": [
        (
            {},
            [(3, 4), (4,)],
            (1, 30),
            {"make": _ints((3, 4), (4,)), "no_grad": (0, 1), "onnx_raises": _NO_ONNX},
        )
    ],
    "nextafter": [({}, [(3, 4), (3, 4)], (-2, 2), {"onnx_raises": _NO_ONNX})],
    "sort": [({"axis": -1}, [(3, 5)], (-2, 2)), ({"axis": 0}, [(4, 3)], (-2, 2), {"batch": False})],
    "argsort": [({"axis": -1}, [(3, 5)], (-2, 2), {"no_grad": (0,)})],
    "prod": [
        ({"axis": (1,), "keepdims": False}, [(3, 4)], (0.5, 1.5)),
        ({"axis": (1, 2), "keepdims": True}, [(2, 3, 4)], (-1.5, 1.5)),
        ({"axis": None, "keepdims": False}, [(2, 3)], (-1.5, 1.5), {"batch": False}),
    ],
    "cholesky": [
        (
            {"upper": False},
            [(2, 3, 3)],
            (-1, 1),
            {"make": _spd((2, 3, 3)), "onnx_raises": _NO_ONNX},
        ),
        (
            {"upper": True},
            [(3, 3)],
            (-1, 1),
            {"make": _spd((3, 3)), "onnx_raises": _NO_ONNX, "batch": False},
        ),
    ],
    "inv": [({}, [(2, 3, 3)], (-1, 1), {"make": _well((2, 3, 3)), "onnx_raises": _NO_ONNX})],
    "det": [({}, [(2, 3, 3)], (-1, 1), {"make": _well((2, 3, 3))})],
    "slogdet": [({}, [(2, 3, 3)], (-1, 1), {"make": _well((2, 3, 3)), "onnx_raises": _NO_ONNX})],
    "solve": [
        (
            {},
            [(2, 3, 3), (2, 3, 2)],
            (-1, 1),
            {"make": _well((2, 3, 3), (2, 3, 2)), "onnx_raises": _NO_ONNX},
        ),
        (
            {},
            [(2, 3, 3), (2, 3)],
            (-1, 1),
            {
                "make": _well((2, 3, 3), (2, 3)),
                "onnx_raises": _NO_ONNX,
                "batched_inputs": (0, 1),
            },
        ),
    ],
    "solve_triangular": [
        (
            {"lower": True},
            [(2, 3, 3), (2, 3, 2)],
            (-1, 1),
            {"make": _well((2, 3, 3), (2, 3, 2)), "onnx_raises": _NO_ONNX},
        ),
        (
            {"lower": False},
            [(2, 3, 3), (2, 3)],
            (-1, 1),
            {
                "make": _well((2, 3, 3), (2, 3)),
                "onnx_raises": _NO_ONNX,
                "batched_inputs": (0, 1),
            },
        ),
    ],
    "eigh": [
        (
            {},
            [(2, 3, 3)],
            (-1, 1),
            {"make": _spd((2, 3, 3)), "no_grad": (0,), "onnx_raises": _NO_ONNX},
        )
    ],
    "qr": [
        ({"mode": "reduced"}, [(2, 4, 3)], (-1, 1), {"no_grad": (0,), "onnx_raises": _NO_ONNX}),
        ({"mode": "complete"}, [(2, 4, 3)], (-1, 1), {"no_grad": (0,), "onnx_raises": _NO_ONNX}),
    ],
    "svd": [
        ({"full_matrices": True}, [(2, 4, 3)], (-1, 1), {"no_grad": (0,), "onnx_raises": _NO_ONNX}),
        (
            {"full_matrices": False},
            [(2, 4, 3)],
            (-1, 1),
            {"no_grad": (0,), "onnx_raises": _NO_ONNX},
        ),
    ],
    "pinv": [({"rcond": 1e-15}, [(2, 4, 3)], (-1, 1), {"no_grad": (0,), "onnx_raises": _NO_ONNX})],
    "lu_factor": [({}, [(2, 3, 3)], (-1, 1), {"no_grad": (0,), "onnx_raises": _NO_ONNX})],
}
