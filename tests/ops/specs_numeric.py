"""Op specs for graphc/ops/numeric.py: log, sqrt, abs, square, clip, max; and rfft
(graphc/ops/spectral.py) (see the options at the top of test_ops.py)."""

import numpy as np


def _away_from(points, shape, lo=-2.0, hi=2.0):
    """Uniform inputs kept 0.05 away from kinks, where central differences mean nothing."""

    def make(rng, dtype):
        x = rng.uniform(lo, hi, shape)
        for p in points:
            x = np.where(np.abs(x - p) < 0.05, x + 0.1, x)
        return [x.astype(dtype)]

    return make


SPECS = {
    "log": [({}, [(3, 4)], (0.2, 3.0))],
    "sqrt": [({}, [(3, 4)], (0.2, 3.0))],
    "abs": [({}, [(3, 4)], (-2, 2), {"make": _away_from([0.0], (3, 4))})],
    "square": [({}, [(3, 4)], (-2, 2)), ({}, [(2, 3, 4)], (-2, 2))],
    "clip": [
        ({"min": -0.5, "max": 1.0}, [(3, 4)], (-2, 2), {"make": _away_from([-0.5, 1.0], (3, 4))}),
        (
            {"min": 1e-7, "max": 1 - 1e-7},
            [(2, 5)],
            (-0.5, 1.5),
            {"make": _away_from([0.0, 1.0], (2, 5), -0.5, 1.5)},
        ),
    ],
    "max": [
        ({"axis": (1,), "keepdims": False}, [(3, 4)], (-2, 2)),
        ({"axis": (1, 2), "keepdims": True}, [(2, 3, 4)], (-2, 2)),
        ({"axis": None, "keepdims": False}, [(3, 4)], (-2, 2), {"batch": False}),
    ],
    "rfft": [
        ({}, [(3, 8)], (-1, 1)),
        ({}, [(2, 3, 7)], (-1, 1)),
        ({}, [(5,)], (-1, 1), {"batch": False}),
    ],
}
