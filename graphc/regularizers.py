"""Weight and activity regularizers with Keras 3's names, defaults, formulas and configs.

A regularizer maps an array to a scalar penalty that training adds to the loss:

>>> graphc.regularizers.L2(2.0)(np.ones((5, 5)))
50.0
>>> layer = graphc.layers.Dense(16, kernel_regularizer=graphc.regularizers.l2(0.002))

The built-in ones also give the penalty's gradient in NumPy (``gradient(x)``), so the
trainer adds it to the weights' gradients without a graph. A custom regularizer (a
``Regularizer`` subclass overriding ``__call__`` only, or a plain function) written with
``graphc.ops`` is differentiated by tracing it once per weight.
"""

from __future__ import annotations

import math

import numpy as np

from graphc._serialization import deserialize_named, serialize_object
from graphc.config import EPSILON as _EPSILON
from graphc.ir import Value

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "l1l2", "orthogonal_regularizer", "get", "serialize", "deserialize"]

_MODULE = "keras.regularizers"


def validate_float_arg(value, name):
    """Keras's check: a finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (float, int)) or \
            math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float."
                         f"Received: {name}={value!r}")
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
            raise ValueError('Invalid value for argument `mode`. Expected one of '
                             f'{{"rows", "columns"}}. Received: mode={mode!r}')
        self.mode = mode

    def _parts(self, x):
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError("Inputs to OrthogonalRegularizer must have rank 2. Received: "
                             f"inputs.shape={x.shape}")
        v = x if self.mode == "rows" else x.T  # the vectors to decorrelate, one per row
        inv = np.minimum(1.0 / np.sqrt(np.sum(np.square(v), axis=1, keepdims=True)),
                         1.0 / _EPSILON).astype(x.dtype)
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
        d_product = scale * np.sign(product)       # the diagonal is already zero
        d_n = (d_product + d_product.T) @ n
        # n = v * inv with inv = 1/|v| (unless clipped at 1/epsilon, where it is constant)
        unclipped = inv < 1.0 / _EPSILON
        d_v = d_n * inv - np.where(unclipped, n * np.sum(d_n * n, axis=1, keepdims=True)
                                   * inv, 0.0)
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
_NAMES = {"regularizer": Regularizer, "l1": L1, "l2": L2, "l1l2": L1L2,
          "l1_l2": _l1_l2_shortcut, "orthogonal_regularizer": OrthogonalRegularizer}


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
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r} (of type "
                     f"{type(identifier).__name__}); expected a name such as 'l2', a "
                     "Regularizer, a config dict or a function of the weight.")


# ---- penalties and their gradients, for training ------------------------------------------

def penalty_and_gradient(regularizer, weight, need_grad=True):
    """``(penalty, d penalty / d weight or None)`` for a weight (a ``Parameter``) or an
    array. Built-in regularizers compute both in NumPy; any other callable is traced
    once through graphc's ops and differentiated by the executor."""
    data = weight.data if isinstance(weight, Value) else np.asarray(weight)
    if isinstance(regularizer, Regularizer):
        try:
            grad = regularizer.gradient(data) if need_grad else None
        except NotImplementedError:
            pass  # a subclass that only defines __call__: traced below
        else:
            return np.asarray(regularizer(data), dtype=data.dtype), grad
    return _traced(regularizer, data, need_grad)


def activity_penalty(regularizer, y, need_grad=True):
    """Keras's activity penalty on a layer output ``y``: the regularizer's value divided
    by the batch size (the first dimension) for outputs of rank > 0, and its gradient."""
    value, grad = penalty_and_gradient(regularizer, y, need_grad)
    if np.ndim(y) > 0:
        n = y.shape[0]
        # Keras's divide_no_nan: an empty batch gives 0
        value = value / value.dtype.type(n) if n else np.zeros_like(value)
        if grad is not None:
            grad = grad / grad.dtype.type(n) if n else np.zeros_like(grad)
    return value, grad


_TRACES: dict = {}


def _traced(regularizer, data, need_grad):
    """Run (and differentiate) a custom regularizer recorded with graphc's ops on a
    stand-in weight of ``data``'s shape; the recording is kept per regularizer and shape."""
    from graphc.backends.numpy import Executor
    from graphc.ir import Graph, Parameter
    from graphc.recording import ExecContext, scope

    key = (id(regularizer), data.shape, str(data.dtype))
    entry = _TRACES.get(key)
    if entry is None or entry[0] is not regularizer:
        holder = Parameter(np.array(data), "regularized_weight")
        with scope(_TraceScope, -1):
            try:
                out = regularizer(holder)
            except Exception as e:
                raise TypeError(
                    f"The regularizer {regularizer!r} could not be differentiated: it must "
                    "be written with graphc.ops (e.g. 0.01 * graphc.ops.sum(graphc.ops."
                    "multiply(w, w))), or subclass graphc.regularizers.Regularizer and "
                    f"define gradient(x). Calling it on a weight raised {type(e).__name__}: "
                    f"{e}") from e
        if isinstance(out, Value) and out.producer is not None:
            executor = Executor(Graph.from_outputs([], [out]), [holder])
        else:
            executor = None  # no dependence on the weight: a constant penalty
        entry = _TRACES[key] = (regularizer, holder, executor, out)
    _, holder, executor, out = entry
    if executor is None:
        value = np.asarray(out.data if isinstance(out, Value) else out, dtype=data.dtype)
        return np.sum(value), (np.zeros_like(data) if need_grad else None)
    holder.data = data
    outputs, env = executor.forward([], ExecContext(training=False), keep_for_backward=True)
    value = np.asarray(outputs[0], dtype=data.dtype)
    grad = None
    if need_grad:
        grad = np.zeros_like(data)
        executor.backward(env, [np.ones_like(value)], {holder: grad})
    return np.sum(value), grad


class _TraceScope:
    """The scope custom regularizers are recorded under (named in error messages)."""
    name = "regularizer"
    trainable = True
