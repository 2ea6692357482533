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
        return [rng.random(shape) < 0.5, rng.uniform(-1, 1, shape).astype(dtype),
                rng.uniform(-1, 1, shape[-1:]).astype(dtype)]
    return make


def _away_from_integers(shape):
    def make(rng, dtype):
        x = rng.uniform(-3, 3, shape)
        frac = x - np.floor(x)
        x = np.where(np.abs(frac - 0.5) < 0.1, x + 0.2, x)  # round's half points
        x = np.where((frac < 0.1) | (frac > 0.9), x + 0.3, x)
        return [x.astype(dtype)]
    return make


_CMP = [({}, [(3, 4), (4,)], (0, 3), {"make": _pair((3, 4), (4,)), "no_grad": (0, 1)}),
        ({}, [(2, 3), (2, 3)], (0, 3), {"make": _pair((2, 3), (2, 3), ints=True),
                                         "no_grad": (0, 1)})]
_LOGIC = [({}, [(3, 4), (4,)], (0, 1), {"make": _bools((3, 4), (4,)), "no_grad": (0, 1)})]
_STEP = [({}, [(3, 4)], (-3, 3), {"make": _away_from_integers((3, 4))})]

SPECS = {
    "equal": _CMP, "less": _CMP, "less_equal": _CMP, "greater": _CMP, "greater_equal": _CMP,
    "logical_and": _LOGIC, "logical_or": _LOGIC, "logical_xor": _LOGIC,
    "logical_not": [({}, [(3, 4)], (0, 1), {"make": _bools((3, 4)), "no_grad": (0,)})],
    "where": [({}, [(3, 4), (3, 4), (4,)], (-1, 1), {"make": _where((3, 4)),
                                                     "no_grad": (0,)})],
    "floor": _STEP, "ceil": _STEP, "round": _STEP, "sign": _STEP,
    "sin": [({}, [(3, 4)], (-3, 3))], "cos": [({}, [(3, 4)], (-3, 3))],
}
