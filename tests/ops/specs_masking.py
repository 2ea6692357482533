"""Op specs for the mask ops (graphc/ops/masking.py): not_equal, any, cast, expand_dims."""


def _ints(shape, lo, hi, dtype="int64"):
    def make(rng, _dtype):
        return [rng.integers(lo, hi, shape).astype(dtype)]

    return make


def _bools(shape):
    def make(rng, _dtype):
        return [rng.random(shape) < 0.4]

    return make


def _with_value(shape, value):
    """Floats with some entries exactly ``value`` (Masking's padding)."""

    def make(rng, dtype):
        x = rng.uniform(-1, 1, shape).astype(dtype)
        x[rng.random(shape) < 0.3] = value
        return [x]

    return make


_NO_GRAD = {"no_grad": (0,)}

SPECS = {
    "not_equal": [
        ({"value": 0}, [(3, 5)], (0, 3), {**_NO_GRAD, "make": _ints((3, 5), 0, 3)}),
        ({"value": 1}, [(2, 4)], (0, 3), {**_NO_GRAD, "make": _ints((2, 4), 0, 3, "int32")}),
        ({"value": 0.5}, [(2, 3, 4)], (-1, 1), {**_NO_GRAD, "make": _with_value((2, 3, 4), 0.5)}),
    ],
    "any": [
        (
            {"axis": -1, "keepdims": False},
            [(3, 4, 5)],
            (0, 1),
            {**_NO_GRAD, "make": _bools((3, 4, 5))},
        ),
        ({"axis": 1, "keepdims": True}, [(3, 4)], (0, 1), {**_NO_GRAD, "make": _bools((3, 4))}),
    ],
    "cast": [
        (
            {"dtype": "float32", "from_dtype": "bool"},
            [(3, 4)],
            (0, 1),
            {**_NO_GRAD, "make": _bools((3, 4))},
        ),
        (
            {"dtype": "int64", "from_dtype": "bool"},
            [(3, 4)],
            (0, 1),
            {**_NO_GRAD, "make": _bools((3, 4))},
        ),
        # float -> float: the gradient is cast back (the spec runs in one float dtype).
        ({"dtype": "float64", "from_dtype": "float64"}, [(3, 4)], (-1, 1)),
    ],
    "expand_dims": [
        ({"axis": -1}, [(3, 4)], (-1, 1)),
        ({"axis": 1}, [(3, 4)], (-1, 1)),
        ({"axis": 2}, [(3, 4)], (0, 1), {**_NO_GRAD, "make": _bools((3, 4))}),
    ],
}
