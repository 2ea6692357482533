"""The 8x8 handwritten digits (UCI, CC BY 4.0; see DIGITS_LICENSE.txt): 1,797 samples."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

_PATH = Path(__file__).with_name("digits.csv.gz")


def load_data(test_split: float = 0.2, seed: int = 113):
    """``(x_train, y_train), (x_test, y_test)`` like ``keras.datasets``: images
    ``(n, 8, 8)`` uint8 in 0..16, labels ``(n,)`` uint8; a seeded shuffle, then the split."""
    with gzip.open(_PATH, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    x, y = table[:, :64].reshape(-1, 8, 8), table[:, 64]
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    at = int(len(y) * (1 - test_split))
    return (x[:at], y[:at]), (x[at:], y[at:])
