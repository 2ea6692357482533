"""Dimension arithmetic for shape rules. A dimension is an int, ``None`` (unknown) or a
string (a symbol such as ``"batch"``); two symbols are equal only if their names are."""

from __future__ import annotations

from typing import Iterable, Union

import numpy as np

from graphc.errors import ShapeError

#: A dimension: a size, None (unknown) or a symbol's name.
Dim = Union[int, None, str]


def known(d: Dim) -> bool:
    return isinstance(d, (int, np.integer))


def dims_compatible(a: Dim, b: Dim) -> bool:
    return not (known(a) and known(b)) or a == b


def shapes_compatible(a: tuple, b: tuple) -> bool:
    """Same rank, and every pair of dimensions compatible."""
    return len(a) == len(b) and all(dims_compatible(x, y) for x, y in zip(a, b))


def merge_dim(a: Dim, b: Dim) -> Dim:
    """The more precise of two compatible dimensions."""
    if known(a):
        return a
    if known(b):
        return b
    return a if a == b else None


def broadcast_shapes(a: tuple, b: tuple) -> tuple:
    """NumPy broadcasting on partially known shapes."""
    if a == b:
        return tuple(a)  # what the loop below gives, dimension by dimension
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif dims_compatible(x, y):
            out.append(merge_dim(x, y))
        else:
            raise ShapeError(f"shapes cannot be broadcast together: dimension {x} vs {y}")
    return tuple(out)


def product(dims: Iterable[Dim]) -> int | None:
    """Product of dims, or None when any is unknown."""
    p = 1
    for d in dims:
        if not isinstance(d, (int, np.integer)):  # known(d), spelled out for mypy
            return None
        p *= int(d)
    return p


def normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` down to ``shape``: the VJP of NumPy broadcasting."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g
