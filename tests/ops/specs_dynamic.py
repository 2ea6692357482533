"""Op specs for the dynamic-shape ops (graphc/ops/dynamic.py): shape, range.

Neither has a gradient; ``range``'s length is unknown to its shape rule, so its cases
say ``batch: False`` (there is no batch dimension to keep)."""

import numpy as np


def _floats(shape, dtype="float32"):
    def make(rng, _dtype):
        return [rng.uniform(-1, 1, shape).astype(dtype)]

    return make


def _scalars(*values, dtypes=("int64", "int64", "int64")):
    def make(rng, _dtype):
        return [np.asarray(v, dtype=d) for v, d in zip(values, dtypes)]

    return make


_NONE = {"no_grad": (0,), "batch": False}
_NONE3 = {"no_grad": (0, 1, 2), "batch": False}

SPECS = {
    "shape": [
        ({"axis": -1}, [(3, 5)], (0, 1), {**_NONE, "make": _floats((3, 5))}),
        ({"axis": 0}, [(2, 3, 4)], (0, 1), {**_NONE, "make": _floats((2, 3, 4), "int64")}),
        ({"axis": 1}, [(2, 3, 4)], (0, 1), {**_NONE, "make": _floats((2, 3, 4))}),
    ],
    "range": [
        # positions: arange(0, T, 1) in Keras's int32, with T read by `shape` (int64)
        ({"dtype": "int32"}, [(), (), ()], (0, 1), {**_NONE3, "make": _scalars(0, 7, 1)}),
        ({"dtype": "int64"}, [(), (), ()], (0, 1), {**_NONE3, "make": _scalars(2, 11, 3)}),
        ({"dtype": "int64"}, [(), (), ()], (0, 1), {**_NONE3, "make": _scalars(5, 0, -2)}),
        (
            {"dtype": "float32"},
            [(), (), ()],
            (0, 1),
            {**_NONE3, "make": _scalars(0.5, 3.0, 0.5, dtypes=("float32",) * 3)},
        ),
        # an empty range
        ({"dtype": "int32"}, [(), (), ()], (0, 1), {**_NONE3, "make": _scalars(3, 3, 1)}),
    ],
}
