"""Weight constraints with Keras 3's names, defaults, formulas and configs.

A constraint maps a weight to its projection; training applies it to the weight after
every optimizer step, as Keras's optimizer does:

>>> graphc.constraints.MaxNorm(2.0)(np.full((4, 1), 3.0)).ravel()
array([1., 1., 1., 1.])
>>> layer = graphc.layers.Dense(16, kernel_constraint=graphc.constraints.MaxNorm(2))
"""

from __future__ import annotations

import numpy as np

from graphc._serialization import deserialize_named, serialize_object
from graphc.config import EPSILON as _EPSILON

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "unit_norm",
    "get",
    "serialize",
    "deserialize",
]

_MODULE = "keras.constraints"


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=_axis(axis), keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (the base returns ``w``)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    """Rescale each weight vector along ``axis`` (0: each unit's incoming weights of a
    Dense kernel; ``[0, 1, 2]`` for a Conv2D filter) to a norm of at most ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return (w * (desired / (_EPSILON + norms))).astype(w.dtype)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights become 0."""

    def __call__(self, w):
        return np.maximum(np.asarray(w), 0)


class UnitNorm(Constraint):
    """Each weight vector along ``axis`` divided by its norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        return (w / (_EPSILON + _norms(w, self.axis))).astype(w.dtype)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Rescale each weight vector along ``axis`` to a norm of
    ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = (
            self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        )
        return (w * (desired / (_EPSILON + norms))).astype(w.dtype)

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


# Keras exports the classes under snake-case names too.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_CLASSES = {c.__name__: c for c in (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
_NAMES = {
    "constraint": Constraint,
    "max_norm": MaxNorm,
    "min_max_norm": MinMaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
}


def serialize(constraint):
    """Keras's config dict; a name stays a name, a function becomes ``"function"``."""
    if constraint is None:
        return None
    return serialize_object(constraint, Constraint, _MODULE, "constraint")


def deserialize(config, custom_objects=None):
    """The inverse of ``serialize``; ``custom_objects`` maps names to classes/functions."""
    return deserialize_named(config, "constraint", {**_CLASSES, **_NAMES}, custom_objects)


def get(identifier):
    """A constraint from None, a name (``"max_norm"``, ``"non_neg"``, ``"unit_norm"``,
    ``"min_max_norm"``), a config dict, a class, an instance or a function ``w -> w'``."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret constraint identifier: {identifier!r} (of type "
        f"{type(identifier).__name__}); expected a name such as 'max_norm', a "
        "Constraint, a config dict or a function of the weight."
    )
