"""Cases of the text op (graphc/ops/text.py): string inputs, no gradient, no ONNX."""

import numpy as np

_TEXTS = ["The cat sat.", "a DOG, a cat", "", "unknown words only"]


def _texts(rng, dtype):
    # (batch, 1) strings, as from Input(shape=(1,), dtype="string"); dtype is unused.
    return [np.array(_TEXTS, dtype=str)[rng.permutation(len(_TEXTS))][:, None]]


_NO_ONNX = (NotImplementedError, "Export the model that takes the vectorized integers")
_OPTIONS = {"make": _texts, "no_grad": (0,), "onnx_raises": _NO_ONNX}
_BASE = {
    "layer": "tv",
    "max_tokens": None,
    "standardize": "lower_and_strip_punctuation",
    "split": "whitespace",
    "ngrams": None,
    "pad_to_max_tokens": False,
    "encoding": "utf-8",
}

SPECS = {
    "text_vectorization": [
        (
            {
                **_BASE,
                "output_mode": "int",
                "output_sequence_length": 3,
                "vocabulary": ["", "[UNK]", "a", "cat", "the", "sat", "dog"],
            },
            [(4, 1)],
            (0, 1),
            _OPTIONS,
        ),
        (
            {
                **_BASE,
                "output_mode": "int",
                "output_sequence_length": None,
                "ngrams": 2,
                "vocabulary": ["", "[UNK]", "a", "cat", "a cat"],
            },
            [(4, 1)],
            (0, 1),
            _OPTIONS,
        ),
        (
            {
                **_BASE,
                "output_mode": "multi_hot",
                "output_sequence_length": None,
                "vocabulary": ["[UNK]", "a", "cat", "the"],
            },
            [(4, 1)],
            (0, 1),
            _OPTIONS,
        ),
        (
            {
                **_BASE,
                "output_mode": "tf_idf",
                "output_sequence_length": None,
                "max_tokens": 6,
                "pad_to_max_tokens": True,
                "vocabulary": ["[UNK]", "a", "cat"],
                "idf_weights": [0.5, 1.0, 2.0],
            },
            [(4, 1)],
            (0, 1),
            _OPTIONS,
        ),
    ],
}
