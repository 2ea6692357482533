"""Op specs for graphc/ops/arrays.py (see the options at the top of test_ops.py)."""

import numpy as np


def _gather(table_shape, index_shape, float_indices=False):
    def make(rng, dtype):
        table = rng.uniform(-1, 1, table_shape).astype(dtype)
        idx = rng.integers(0, table_shape[0], index_shape)
        idx.flat[0] = idx.flat[-1]  # a repeated row: its gradient must add up
        return [table, idx.astype(np.float32 if float_indices else np.int64)]

    return make


def _away_from(theta, shape):
    def make(rng, dtype):
        x = rng.uniform(-3, 3, shape)
        x = np.where(np.abs(x - theta) < 0.05, x + 0.1, x)
        return [x.astype(dtype)]

    return make


_GATHER = {"no_grad": (1,), "batched_inputs": (1,)}

SPECS = {
    "gather": [
        ({}, [(6, 4), (3, 5)], (0, 1), {**_GATHER, "make": _gather((6, 4), (3, 5))}),
        ({}, [(5, 2, 3), (4,)], (0, 1), {**_GATHER, "make": _gather((5, 2, 3), (4,))}),
        (
            {},
            [(7, 3), (2, 4)],
            (0, 1),
            {**_GATHER, "make": _gather((7, 3), (2, 4), float_indices=True)},
        ),
    ],
    "transpose": [
        ({"perm": (0, 2, 1)}, [(2, 3, 4)], (-1, 1)),
        ({"perm": (1, 0)}, [(3, 5)], (-1, 1), {"batch": False}),
        ({"perm": (0, 3, 1, 2)}, [(2, 3, 4, 5)], (-1, 1)),
    ],
    "repeat": [
        ({"repeats": 3, "axis": 1}, [(2, 1, 4)], (-1, 1)),  # RepeatVector: one Expand
        ({"repeats": 2, "axis": 1}, [(2, 3, 4)], (-1, 1)),
        ({"repeats": 3, "axis": -1}, [(3, 2)], (-1, 1)),
        ({"repeats": 2, "axis": 0}, [(3, 2)], (-1, 1), {"batch": False}),
    ],
    "sum": [
        ({"axis": (1,), "keepdims": False}, [(3, 4)], (-1, 1)),
        ({"axis": (1, 2), "keepdims": True}, [(2, 3, 4)], (-1, 1)),
        ({"axis": (-1,), "keepdims": False}, [(2, 3, 4)], (-1, 1)),
        ({"axis": None, "keepdims": False}, [(3, 4)], (-1, 1), {"batch": False}),
        ({"axis": (0,), "keepdims": True}, [(3, 4)], (-1, 1), {"batch": False}),
    ],
    "mean": [
        ({"axis": (1,), "keepdims": False}, [(3, 4)], (-1, 1)),
        ({"axis": (1, 2), "keepdims": True}, [(2, 3, 4)], (-1, 1)),
        ({"axis": (1,), "keepdims": False}, [(2, 3, 4)], (-1, 1)),
        ({"axis": None, "keepdims": True}, [(3, 4)], (-1, 1), {"batch": False}),
    ],
    "thresholded_relu": [
        ({"theta": 1.0}, [(3, 4)], (-3, 3), {"make": _away_from(1.0, (3, 4))}),
        ({"theta": 0.0}, [(3, 4)], (-3, 3), {"make": _away_from(0.0, (3, 4))}),
    ],
}
