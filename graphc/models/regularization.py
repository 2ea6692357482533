"""Regularization penalties and their gradients, for training.

The trainer adds each weight's penalty gradient to the weight's gradient, and each
activity penalty's gradient to the gradient flowing into the penalised layer output.
Built-in regularizers give their gradient in NumPy (``Regularizer.gradient``); any other
callable -- a ``Regularizer`` subclass that only defines ``__call__``, or a plain
function -- is written with ``graphc.ops`` and differentiated by recording it
(``graphc.backends.numpy.trace``) and running the ops' VJPs, as model code is.
The values alone come from ``graphc.regularizers`` (``penalty_value``), which layers use
for ``layer.losses`` without any backend.
"""

from __future__ import annotations

import numpy as np

from graphc.backends.numpy.trace import value_and_pullback
from graphc.ir import Value
from graphc.regularizers import Regularizer, penalty_value, per_batch_size

__all__ = ["penalty_and_gradient", "activity_penalty"]

_ADVICE = (
    "For example 0.01 * ops.sum(ops.square(w)) instead of 0.01 * np.sum(w ** 2); or "
    "subclass graphc.regularizers.Regularizer and define gradient(x)."
)


def penalty_and_gradient(regularizer, weight, need_grad=True):
    """``(penalty, d penalty / d weight or None)`` for a weight (a ``Parameter``) or an
    array: the built-in regularizers' hand-written gradient, else the gradient of the
    regularizer recorded once per weight shape and dtype."""
    data = weight.data if isinstance(weight, Value) else np.asarray(weight)
    if not need_grad:
        return penalty_value(regularizer, data), None
    if isinstance(regularizer, Regularizer):
        try:
            grad = regularizer.gradient(data)
        except NotImplementedError:
            pass  # a subclass that only defines __call__: recorded below
        else:
            return penalty_value(regularizer, data), grad
    return _traced(regularizer, data, batched=())


def activity_penalty(regularizer, y, need_grad=True):
    """Keras's activity penalty on a layer output ``y`` (the regularizer's value divided
    by the batch size, see ``graphc.regularizers.per_batch_size``) and its gradient."""
    if not need_grad:
        return per_batch_size(penalty_value(regularizer, y), y), None
    data = np.asarray(y)
    if isinstance(regularizer, Regularizer):
        try:
            grad = regularizer.gradient(data)
        except NotImplementedError:
            pass
        else:
            return (
                per_batch_size(penalty_value(regularizer, data), data),
                per_batch_size(grad, data),
            )
    value, grad = _traced(regularizer, data, batched=(0,))
    return per_batch_size(value, data), per_batch_size(grad, data)


def _traced(regularizer, data, batched):
    """The penalty (summed, in ``data``'s dtype) and its gradient from the recording of
    ``regularizer``; a layer output's batch dimension is left symbolic (``batched``)."""
    value, pullback = value_and_pullback(
        regularizer,
        [data],
        wrt=(0,),
        batched=batched,
        what="regularizer",
        names=("x",),
        advice=_ADVICE,
    )
    value = np.asarray(value, dtype=data.dtype)
    (grad,) = pullback(np.ones_like(value))
    return (value if value.ndim == 0 else np.sum(value)), grad
