"""Op specs for graphc/ops/logic.py and graphc/ops/rounding.py (see the options at the
top of test_ops.py)."""

import numpy as np


def _pair(shape_a, shape_b, ints=False):
    def make(rng, dtype):
        if ints:
            return [rng.integers(0, 3, shape_a), rng.integers(0, 3, shape_b)]
        a = rng.integers(0, 3, shape_a).astype(dtype)
        return [a, rng.integers(0, 3, shape_b).astype(dtype)]

    return make


def _bools(*shapes):
    def make(rng, dtype):
        return [rng.random(s) < 0.5 for s in shapes]

    return make


def _where(shape):
    def make(rng, dtype):
        return [
            rng.random(shape) < 0.5,
            rng.uniform(-1, 1, shape).astype(dtype),
            rng.uniform(-1, 1, shape[-1:]).astype(dtype),
        ]

    return make


def _away_from_integers(shape):
    def make(rng, dtype):
        x = rng.uniform(-3, 3, shape)
        frac = x - np.floor(x)
        x = np.where(np.abs(frac - 0.5) < 0.1, x + 0.2, x)  # round's half points
        x = np.where((frac < 0.1) | (frac > 0.9), x + 0.3, x)
        return [x.astype(dtype)]

    return make


_CMP = [
    ({}, [(3, 4), (4,)], (0, 3), {"make": _pair((3, 4), (4,)), "no_grad": (0, 1)}),
    ({}, [(2, 3), (2, 3)], (0, 3), {"make": _pair((2, 3), (2, 3), ints=True), "no_grad": (0, 1)}),
]
_LOGIC = [({}, [(3, 4), (4,)], (0, 1), {"make": _bools((3, 4), (4,)), "no_grad": (0, 1)})]
_STEP = [({}, [(3, 4)], (-3, 3), {"make": _away_from_integers((3, 4))})]

SPECS = {
    "equal": _CMP,
    "less": _CMP,
    "less_equal": _CMP,
    "greater": _CMP,
    "greater_equal": _CMP,
    "logical_and": _LOGIC,
    "logical_or": _LOGIC,
    "logical_xor": _LOGIC,
    "logical_not": [({}, [(3, 4)], (0, 1), {"make": _bools((3, 4)), "no_grad": (0,)})],
    "where": [({}, [(3, 4), (3, 4), (4,)], (-1, 1), {"make": _where((3, 4)), "no_grad": (0,)})],
    "floor": _STEP,
    "ceil": _STEP,
    "round": _STEP,
    "sign": _STEP,
    "sin": [({}, [(3, 4)], (-3, 3))],
    "cos": [({}, [(3, 4)], (-3, 3))],
}


def _gather_elements(shape, axis, n):
    def make(rng, dtype):
        idx_shape = list(shape)
        idx_shape[axis] = n
        return [
            rng.uniform(-1, 1, shape).astype(dtype),
            rng.integers(-shape[axis], shape[axis], idx_shape).astype("int64"),
        ]

    return make


def _distinct(shape):
    def make(rng, dtype):
        return [rng.permutation(int(np.prod(shape))).reshape(shape).astype(dtype)]

    return make


def _mod_pair(shape):
    def make(rng, dtype):
        a = rng.uniform(-3, 3, shape)
        b = rng.choice([-1.7, 1.3, 2.1], size=shape)
        q = a / b
        a = np.where(np.abs(q - np.round(q)) < 0.1, a + 0.35, a)
        return [a.astype(dtype), b.astype(dtype)]

    return make


SPECS.update(
    {
        "mod": [
            ({"fmod": False}, [(3, 4), (3, 4)], (-3, 3), {"make": _mod_pair((3, 4))}),
            ({"fmod": True}, [(3, 4), (3, 4)], (-3, 3), {"make": _mod_pair((3, 4))}),
        ],
        "power": [({}, [(3, 4), (4,)], (0.5, 2))],
        "argmax": [
            (
                {"axis": 1, "keepdims": True},
                [(3, 4)],
                (0, 1),
                {"make": _distinct((3, 4)), "no_grad": (0,)},
            ),
            (
                {"axis": -1, "keepdims": False, "select_last_index": True},
                [(2, 3, 4)],
                (0, 1),
                {"make": _distinct((2, 3, 4)), "no_grad": (0,)},
            ),
        ],
        "argmin": [
            (
                {"axis": 0, "keepdims": False},
                [(3, 4)],
                (0, 1),
                {"make": _distinct((3, 4)), "no_grad": (0,), "batch": False},
            )
        ],
        "take_along_axis": [
            (
                {"axis": 1},
                [(3, 4), (3, 2)],
                (-1, 1),
                {"make": _gather_elements((3, 4), 1, 2), "no_grad": (1,)},
            )
        ],
    }
)
