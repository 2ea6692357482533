"""Weight and activity regularizers with Keras 3's names, defaults, formulas and configs.

A regularizer maps an array to a scalar penalty that training adds to the loss:

>>> graphc.regularizers.L2(2.0)(np.ones((5, 5)))
50.0
>>> layer = graphc.layers.Dense(16, kernel_regularizer=graphc.regularizers.l2(0.002))

The built-in ones also give the penalty's gradient in NumPy (``gradient(x)``), so the
trainer adds it to the weights' gradients without a graph. A custom regularizer (a
``Regularizer`` subclass overriding ``__call__`` only, or a plain function) written with
``graphc.ops`` is differentiated by recording it once per weight shape and running the
ops' VJPs (``graphc.models.regularization``, through ``graphc.backends.numpy.trace``).
"""

from __future__ import annotations

import math

import numpy as np

from graphc._serialization import deserialize_named, serialize_object
from graphc.config import EPSILON as _EPSILON
from graphc.ir import Value

__all__ = [
    "Regularizer",
    "L1",
    "L2",
    "L1L2",
    "OrthogonalRegularizer",
    "l1",
    "l2",
    "l1_l2",
    "l1l2",
    "orthogonal_regularizer",
    "get",
    "serialize",
    "deserialize",
]

_MODULE = "keras.regularizers"


def validate_float_arg(value, name):
    """Keras's check: a finite, non-negative number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (float, int))
        or math.isinf(value)
        or math.isnan(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float."
            f"Received: {name}={value!r}"
        )
    return float(value)


def _f32(value: float) -> float:
    # Keras keeps these factors as float32 tensors: configs show the rounded value.
    return float(np.float32(value))


class Regularizer:
    """Base class: ``__call__(x)`` returns a scalar penalty (0 for the base class).

    Subclasses overriding ``__call__`` may also override ``gradient(x)`` (the penalty's
    gradient as an array of ``x``'s shape); without it graphc traces ``__call__``.
    """

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        """d(penalty)/dx; subclasses that only define ``__call__`` are traced instead."""
        if type(self).__call__ is not Regularizer.__call__:
            raise NotImplementedError
        return np.zeros_like(x)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``. ``L1L2()`` (and the name ``"l1l2"``) has
    both factors 0; the name ``"l1_l2"`` gives ``l1=0.01, l2=0.01``, as Keras documents."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = validate_float_arg(0.0 if l1 is None else l1, name="l1")
        self.l2 = validate_float_arg(0.0 if l2 is None else l2, name="l2")

    def __call__(self, x):
        x = np.asarray(x)
        out = np.zeros((), dtype=x.dtype)
        if self.l1:
            out = out + x.dtype.type(self.l1) * np.sum(np.abs(x))
        if self.l2:
            out = out + x.dtype.type(self.l2) * np.sum(np.square(x))
        return out

    def gradient(self, x):
        x = np.asarray(x)
        g = np.zeros_like(x)
        if self.l1:
            g += x.dtype.type(self.l1) * np.sign(x)
        if self.l2:
            g += x.dtype.type(2 * self.l2) * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``; the string ``"l1"`` gives ``l1=0.01``."""

    def __init__(self, l1=0.01):
        self.l1 = _f32(validate_float_arg(0.01 if l1 is None else l1, name="l1"))

    def __call__(self, x):
        x = np.asarray(x)
        return x.dtype.type(self.l1) * np.sum(np.abs(x))

    def gradient(self, x):
        x = np.asarray(x)
        return x.dtype.type(self.l1) * np.sign(x)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x**2)``; the string ``"l2"`` gives ``l2=0.01``."""

    def __init__(self, l2=0.01):
        self.l2 = validate_float_arg(0.01 if l2 is None else l2, name="l2")

    def __call__(self, x):
        x = np.asarray(x)
        return x.dtype.type(self.l2) * np.sum(np.square(x))

    def gradient(self, x):
        x = np.asarray(x)
        return x.dtype.type(2 * self.l2) * x

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """``factor * 0.5 * mean |<r_i, r_j>|`` over pairs ``i < j`` of L2-normalised rows
    (``mode="rows"``) or columns (``mode="columns"``) of a rank-2 weight."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _f32(validate_float_arg(factor, name="factor"))
        if mode not in ("rows", "columns"):
            raise ValueError(
                "Invalid value for argument `mode`. Expected one of "
                f'{{"rows", "columns"}}. Received: mode={mode!r}'
            )
        self.mode = mode

    def _parts(self, x):
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(
                "Inputs to OrthogonalRegularizer must have rank 2. Received: "
                f"inputs.shape={x.shape}"
            )
        v = x if self.mode == "rows" else x.T  # the vectors to decorrelate, one per row
        inv = np.minimum(
            1.0 / np.sqrt(np.sum(np.square(v), axis=1, keepdims=True)), 1.0 / _EPSILON
        ).astype(x.dtype)
        n = v * inv
        size = v.shape[0]
        product = (n @ n.T) * (1.0 - np.eye(size, dtype=x.dtype))
        with np.errstate(divide="ignore"):  # one vector: no pairs, nan as in Keras
            scale = x.dtype.type(np.float64(self.factor * 0.5) / (size * (size - 1.0) / 2.0))
        return v, inv, n, product, scale

    def __call__(self, x):
        with np.errstate(divide="ignore"):
            _, _, _, product, scale = self._parts(x)
        return scale * np.sum(np.abs(product))

    def gradient(self, x):
        with np.errstate(divide="ignore"):
            _, inv, n, product, scale = self._parts(x)
        d_product = scale * np.sign(product)  # the diagonal is already zero
        d_n = (d_product + d_product.T) @ n
        # n = v * inv with inv = 1/|v| (unless clipped at 1/epsilon, where it is constant)
        unclipped = inv < 1.0 / _EPSILON
        d_v = d_n * inv - np.where(unclipped, n * np.sum(d_n * n, axis=1, keepdims=True) * inv, 0.0)
        d_v = d_v.astype(np.asarray(x).dtype)
        return d_v if self.mode == "rows" else d_v.T

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras exports the classes under their lower-case names too.
l1, l2, l1_l2, l1l2, orthogonal_regularizer = L1, L2, L1L2, L1L2, OrthogonalRegularizer


def _l1_l2_shortcut(l1=0.01, l2=0.01):
    # Keras documents kernel_regularizer="l1_l2" as l1=0.01, l2=0.01 (Keras 3.x itself
    # only knows "l1l2", which is L1L2() with both factors 0).
    return L1L2(l1=l1, l2=l2)


_CLASSES = {c.__name__: c for c in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)}
_NAMES = {
    "regularizer": Regularizer,
    "l1": L1,
    "l2": L2,
    "l1l2": L1L2,
    "l1_l2": _l1_l2_shortcut,
    "orthogonal_regularizer": OrthogonalRegularizer,
}


def serialize(regularizer):
    """Keras's config dict (``{"module", "class_name", "config", "registered_name"}``); a
    name stays a name, a function becomes ``class_name="function"``."""
    if regularizer is None:
        return None
    return serialize_object(regularizer, Regularizer, _MODULE, "regularizer")


def deserialize(config, custom_objects=None):
    """The inverse of ``serialize``; ``custom_objects`` maps names to classes/functions."""
    return deserialize_named(config, "regularizer", {**_CLASSES, **_NAMES}, custom_objects)


def get(identifier):
    """A regularizer from None, a name (``"l1"``, ``"l2"``, ``"l1_l2"``,
    ``"orthogonal_regularizer"``), a config dict, a class, an instance or a function."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret regularizer identifier: {identifier!r} (of type "
        f"{type(identifier).__name__}); expected a name such as 'l2', a "
        "Regularizer, a config dict or a function of the weight."
    )


# ---- penalty values ------------------------------------------------------------------------
# Their gradients, for training, are made by graphc.models.regularization (hand-written
# ``gradient`` for the built-ins, the recorded ops' VJPs for custom regularizers); this
# module stays at the layers' rank and imports no backend.


def penalty_value(regularizer, weight):
    """The penalty of a weight (a ``Parameter``) or an array, as a NumPy scalar of its
    dtype. A custom regularizer written with ``graphc.ops`` runs at once on the array;
    a penalty that is not a scalar is summed."""
    data = weight.data if isinstance(weight, Value) else np.asarray(weight)
    value = np.asarray(regularizer(data), dtype=data.dtype)
    return value if value.ndim == 0 else np.sum(value)


def per_batch_size(penalty, y):
    """Keras's activity rule: a penalty of a layer output ``y`` (or its gradient) is
    divided by the batch size, the first dimension, for outputs of rank > 0; an empty
    batch gives 0 (``divide_no_nan``)."""
    if np.ndim(y) == 0 or penalty is None:
        return penalty
    n = np.shape(y)[0]
    return penalty / penalty.dtype.type(n) if n else np.zeros_like(penalty)


def activity_penalty_value(regularizer, y):
    """Keras's activity penalty of a layer output ``y``: the regularizer's value divided
    by the batch size (see :func:`per_batch_size`)."""
    return per_batch_size(penalty_value(regularizer, y), y)
