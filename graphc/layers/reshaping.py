"""Permute and RepeatVector.

>>> x = graphc.Input(shape=(10, 64))
>>> graphc.layers.Permute((2, 1))(x).shape
(None, 64, 10)
>>> graphc.layers.RepeatVector(3)(graphc.Input(shape=(32,))).shape
(None, 3, 32)
"""

from __future__ import annotations

from graphc import ops
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer
from graphc.ops.shapes import known

__all__ = ["Permute", "RepeatVector"]


def _check_rank(layer, inputs, ndim):
    got = len(inputs.shape)
    if got != ndim:
        raise ShapeError(
            f"{layer.name} ({type(layer).__name__}): expected an input of rank "
            f"{ndim} (ndim={ndim}, batch included), received shape "
            f"{format_shape(inputs.shape)} (ndim={got})"
        )


class Permute(Layer):
    """Permutes the dimensions of each sample: ``dims`` are 1-based and leave the batch
    dimension out, as in Keras (``Permute((2, 1))`` swaps the two axes of a sequence)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                "Invalid permutation argument `dims` for Permute Layer. The set "
                "of indices in `dims` must be consecutive and start from 1. "
                f"Received dims={dims}"
            )
        self.dims = dims

    def call(self, inputs):
        _check_rank(self, inputs, len(self.dims) + 1)
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = n

    def call(self, inputs):
        _check_rank(self, inputs, 2)
        features = inputs.shape[1]
        if not known(features):
            raise ShapeError(
                f"{self.name} (RepeatVector): the feature dimension must be "
                f"known, received input shape {format_shape(inputs.shape)}"
            )
        # As Keras: a reshape to (batch, 1, features), then a repeat along axis 1.
        return ops.repeat(ops.reshape(inputs, (-1, 1, int(features))), self.n, axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}
