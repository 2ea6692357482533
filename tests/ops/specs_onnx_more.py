"""Op specs for graphc/ops/bitwise.py, cumulative.py, selection.py and special.py (see
the options at the top of test_ops.py)."""

import numpy as np


def _ints(dtype, *shapes, lo=0, hi=16):
    def make(rng, _):
        return [rng.integers(lo, hi, s).astype(dtype) for s in shapes]

    return make


def _uniform(lo, hi, *shapes):
    def make(rng, dtype):
        return [rng.uniform(lo, hi, s).astype(dtype) for s in shapes]

    return make


def _special_floats(rng, dtype):
    x = rng.uniform(-2, 2, (3, 4)).astype(dtype)
    x[0, 0], x[1, 1], x[2, 2] = np.inf, -np.inf, np.nan
    return [x]


def _distinct(shape):
    def make(rng, dtype):
        n = int(np.prod(shape))
        return [(rng.permutation(n).reshape(shape) * 0.25 - 1).astype(dtype)]

    return make


def _scatter_elements(rng, dtype):
    data = rng.uniform(-1, 1, (4, 3)).astype(dtype)
    idx = np.array([[1, 0, 3], [2, 3, 0]], np.int64)  # distinct per column
    return [data, idx, rng.uniform(-1, 1, (2, 3)).astype(dtype)]


def _scatter_nd(rng, dtype):
    data = rng.uniform(-1, 1, (4, 3)).astype(dtype)
    idx = np.array([[2], [0]], np.int64)
    return [data, idx, rng.uniform(-1, 1, (2, 3)).astype(dtype)]


def _gather_nd(rng, dtype):
    data = rng.uniform(-1, 1, (4, 3, 2)).astype(dtype)
    return [data, np.array([[1, 2], [3, 0], [1, 2]], np.int64)]


def _compress(rng, dtype):
    return [rng.uniform(-1, 1, (4, 3)).astype(dtype), np.array([True, False, True])]


_NO_GRAD2 = {"no_grad": (0, 1)}
_BITS = [
    ({}, [(3, 4), (4,)], (0, 16), {"make": _ints(np.int32, (3, 4), (4,)), **_NO_GRAD2}),
    ({}, [(2, 3), (2, 3)], (0, 16), {"make": _ints(np.uint8, (2, 3), (2, 3)), **_NO_GRAD2}),
]
_BIT_OPTS = {"min_opset": 18}
_FLOAT = [({}, [(3, 4)], (-0.9, 0.9))]

SPECS = {
    # special.py (tan ... erf, isnan, isinf: specs_elementary.py)
    "isfinite": [({}, [(3, 4)], (0, 1), {"make": _special_floats, "no_grad": (0,)})],
    "constant_like": [
        (
            {"value": [[1, 2, 3]], "dtype": "int64", "shape": (1, 3)},
            [(2, 4)],
            (0, 1),
            {"no_grad": (0,), "batch": False},
        )
    ],
    # bitwise.py
    "bitwise_and": [(a, s, r, {**o, **_BIT_OPTS}) for a, s, r, o in _BITS],
    "bitwise_or": [(a, s, r, {**o, **_BIT_OPTS}) for a, s, r, o in _BITS],
    "bitwise_xor": [(a, s, r, {**o, **_BIT_OPTS}) for a, s, r, o in _BITS],
    "bitwise_not": [
        ({}, [(3, 4)], (0, 16), {"make": _ints(np.int16, (3, 4)), "no_grad": (0,), **_BIT_OPTS})
    ],
    "bit_shift": [
        (
            {"direction": "left"},
            [(3, 4), (4,)],
            (0, 8),
            {"make": _ints(np.uint8, (3, 4), (4,), hi=8), **_NO_GRAD2},
        ),
        (
            {"direction": "right"},
            [(3, 4), (3, 4)],
            (0, 8),
            {"make": _ints(np.uint32, (3, 4), (3, 4), hi=40), **_NO_GRAD2},
        ),
    ],
    "trunc_divide": [
        (
            {},
            [(3, 4), (4,)],
            (1, 9),
            {"make": lambda rng, _: [rng.integers(-20, 20, (3, 4)), rng.integers(1, 7, (4,))]}
            | _NO_GRAD2,
        )
    ],
    # cumulative.py
    "cumsum": [
        ({"axis": 1}, [(3, 4)], (-1, 1)),
        ({"axis": 0, "exclusive": True, "reverse": True}, [(3, 4)], (-1, 1)),
    ],
    "cumprod": [
        ({"axis": 1}, [(3, 4)], (-1.5, 1.5), {"min_opset": 26}),
        ({"axis": 1, "exclusive": True, "reverse": True}, [(3, 4)], (-1.5, 1.5), {"min_opset": 26}),
    ],
    # selection.py
    "top_k": [
        ({"k": 2, "axis": 1, "largest": True}, [(3, 4)], (0, 1), {"make": _distinct((3, 4))}),
        ({"k": 3, "axis": 1, "largest": False}, [(3, 4)], (0, 1), {"make": _distinct((3, 4))}),
    ],
    "one_hot": [
        (
            {"depth": 4, "axis": -1, "dtype": "float32", "on_value": 1, "off_value": 0},
            [(3,)],
            (0, 4),
            {"make": lambda rng, _: [np.array([0, 3, -1], np.int64)], "no_grad": (0,)},
        )
    ],
    "einsum": [
        ({"equation": "bij,jk->bik"}, [(2, 3, 4), (4, 5)], (-1, 1)),
        ({"equation": "bi,bi->b"}, [(3, 4), (3, 4)], (-1, 1)),
        ({"equation": "...ij->...j"}, [(2, 3, 4)], (-1, 1)),
    ],
    "scatter_elements": [
        (
            {"axis": 0, "reduction": "none"},
            [(4, 3), (2, 3), (2, 3)],
            (0, 1),
            {"make": _scatter_elements, "no_grad": (1,), "batch": False},
        ),
        (
            {"axis": 0, "reduction": "add"},
            [(4, 3), (2, 3), (2, 3)],
            (0, 1),
            {"make": _scatter_elements, "no_grad": (1,), "batch": False, "min_opset": 16},
        ),
    ],
    "scatter_nd": [
        (
            {"reduction": "none"},
            [(4, 3), (2, 1), (2, 3)],
            (0, 1),
            {"make": _scatter_nd, "no_grad": (1,), "batch": False},
        ),
        (
            {"reduction": "add"},
            [(4, 3), (2, 1), (2, 3)],
            (0, 1),
            {"make": _scatter_nd, "no_grad": (1,), "batch": False, "min_opset": 16},
        ),
    ],
    "gather_nd": [
        (
            {"batch_dims": 0},
            [(4, 3, 2), (3, 2)],
            (0, 1),
            {"make": _gather_nd, "no_grad": (1,), "batch": False},
        )
    ],
    "unique": [
        (
            {"axis": None, "sorted": True},
            [(6,)],
            (0, 1),
            {
                "make": lambda rng, dt: [np.array([2, 1, 1, 3, 4, 3], dt)],
                "vjp_raises": True,
                "batch": False,
            },
        )
    ],
    "compress": [
        ({"axis": 0}, [(4, 3), (3,)], (0, 1), {"make": _compress, "no_grad": (1,)}),
    ],
}

SPECS["nonzero"] = [
    (
        {},
        [(3, 4)],
        (0, 1),
        {
            "make": lambda rng, dt: [(rng.random((3, 4)) < 0.5).astype(dt)],
            "no_grad": (0,),
            "batch": False,
        },
    )
]
SPECS["bitcast"] = [
    ({"dtype": "int32"}, [(3, 4)], (-2, 2), {"no_grad": (0,), "min_opset": 26}),
]
