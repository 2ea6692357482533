"""The one random generator behind initialisation, dropout and shuffling."""

from __future__ import annotations

import random as _py_random

import numpy as np

__all__ = ["generator", "set_random_seed"]

_generator = np.random.default_rng()


def generator() -> np.random.Generator:
    return _generator


def set_random_seed(seed: int) -> None:
    """Make initialisation, dropout and shuffling repeatable (also seeds Python's and
    NumPy's global generators, as ``keras.utils.set_random_seed`` does)."""
    global _generator
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, received {type(seed).__name__}: {seed!r}")
    _generator = np.random.default_rng(int(seed))
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
