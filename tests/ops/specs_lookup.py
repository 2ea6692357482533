"""Cases of the lookup ops (graphc/ops/lookup.py): string or integer inputs, no
gradient, no ONNX."""

import numpy as np

_WORDS = np.array(["a", "b", "c", "zz", "", "d"])


def _strings(shape):
    def make(rng, dtype):
        return [_WORDS[rng.integers(0, len(_WORDS), shape)]]

    return make


def _ints(shape, high=6):
    def make(rng, dtype):
        return [rng.integers(0, high, shape).astype("int64")]

    return make


def _options(make, n=1, what="no ONNX lowering"):
    return {"make": make, "no_grad": tuple(range(n)), "onnx_raises": (NotImplementedError, what)}


_STRING = {"layer": "sl", "vocabulary_dtype": "string", "num_oov_indices": 1, "oov_token": "[UNK]"}
_INT = {"layer": "il", "vocabulary_dtype": "int64", "num_oov_indices": 1, "oov_token": -1}

SPECS = {
    "index_lookup": [
        ({**_STRING, "tokens": ("a", "b", "c")}, [(4, 3)], (0, 1), _options(_strings((4, 3)))),
        (
            {**_STRING, "tokens": ("a", "b"), "mask_token": "", "num_oov_indices": 2},
            [(5,)],
            (0, 1),
            _options(_strings((5,))),
        ),
        (
            {**_STRING, "tokens": ("a", "b", "d"), "output_mode": "multi_hot", "depth": 4},
            [(4, 3)],
            (0, 1),
            _options(_strings((4, 3))),
        ),
        (
            {**_INT, "tokens": (1, 3, 5), "output_mode": "one_hot", "depth": 4},
            [(4, 1)],
            (0, 1),
            _options(_ints((4, 1))),
        ),
        (
            {
                **_INT,
                "tokens": (1, 3),
                "output_mode": "tf_idf",
                "depth": 3,
                "idf_weights": (0.5, 1.0, 2.0),
            },
            [(4, 2)],
            (0, 1),
            _options(_ints((4, 2))),
        ),
        (
            # (a string vocabulary inverts to an object array of str, as Keras's)
            {**_INT, "tokens": (7, 9, 11), "invert": True},
            [(4, 2)],
            (0, 1),
            _options(_ints((4, 2))),
        ),
    ],
    "hashing": [
        (
            {"layer": "h", "num_bins": 5},
            [(4, 1)],
            (0, 1),
            _options(_strings((4, 1)), what="FarmHash"),
        ),
        (
            {"layer": "h", "num_bins": 3, "mask_value": "", "salt": (1, 2), "output_mode": "count"},
            [(4, 3)],
            (0, 1),
            _options(_strings((4, 3)), what="FarmHash"),
        ),
        (
            {"layer": "h", "num_bins": 4, "output_mode": "one_hot"},
            [(4, 1)],
            (0, 1),
            _options(_ints((4, 1), 100), what="FarmHash"),
        ),
    ],
    "hashed_crossing": [
        (
            {"layer": "hc", "num_bins": 7},
            [(4, 1), (4, 1)],
            (0, 1),
            {
                "make": lambda rng, dtype: [
                    _WORDS[rng.integers(0, 6, (4, 1))],
                    rng.integers(0, 9, (4, 1)),
                ],
                "no_grad": (0, 1),
                "onnx_raises": (NotImplementedError, "FarmHash"),
            },
        ),
        (
            {"layer": "hc", "num_bins": 3, "output_mode": "one_hot"},
            [(5,), (5,)],
            (0, 1),
            {
                "make": lambda rng, dtype: [rng.integers(0, 9, (5,)), rng.integers(0, 9, (5,))],
                "no_grad": (0, 1),
                "onnx_raises": (NotImplementedError, "FarmHash"),
            },
        ),
    ],
}
