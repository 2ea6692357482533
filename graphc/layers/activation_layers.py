"""Activation layers: ReLU, LeakyReLU, Softmax, ELU (Keras 3 arguments and defaults).

>>> graphc.layers.ReLU(max_value=6.0)(np.array([-1.0, 3.0, 9.0], dtype="float32"))
array([0., 3., 6.], dtype=float32)
"""

from __future__ import annotations

import warnings

from graphc import ops
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer
from graphc.ops.shapes import known, normalize_axis, product

__all__ = ["ELU", "LeakyReLU", "ReLU", "Softmax"]


class ReLU(Layer):
    """Keras's ``relu(x, negative_slope, max_value, threshold)``: ``x`` above
    ``threshold`` (else 0), clipped at ``max_value``, plus
    ``-negative_slope * relu(threshold - x)`` below the threshold."""

    _SUPPORTS_MASKING = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError(
                "max_value of a ReLU layer cannot be a negative value. "
                f"Received: max_value={max_value}"
            )
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError(
                "negative_slope of a ReLU layer cannot be None or a negative "
                f"value. Received: negative_slope={negative_slope}"
            )
        if threshold is None or threshold < 0.0:
            raise ValueError(
                "threshold of a ReLU layer cannot be None or a negative value. "
                f"Received: threshold={threshold}"
            )
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold

    def call(self, inputs):
        slope, top, t = float(self.negative_slope), self.max_value, float(self.threshold)
        if slope != 0.0 and top is None and t == 0.0:
            return ops.leaky_relu(inputs, negative_slope=slope)
        x = ops.thresholded_relu(inputs, theta=t) if t != 0.0 else ops.relu(inputs)
        if top is not None:
            x = ops.minimum(x, float(top))  # x >= 0 already: Keras's clip(x, 0, max_value)
        if slope != 0.0:
            below = (
                ops.relu(ops.subtract(t, inputs)) if t != 0.0 else ops.relu(ops.negative(inputs))
            )
            x = ops.subtract(x, ops.multiply(below, slope))
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Layer):
    """``x`` for ``x >= 0``, else ``negative_slope * x``. The layer's default slope is
    0.3 (the function ``activations.leaky_relu`` uses 0.2), as in Keras; the Keras 2
    argument name ``alpha`` is accepted."""

    _SUPPORTS_MASKING = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2
            )
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(
                "The negative_slope value of a Leaky ReLU layer cannot be None "
                "or negative value. Expected a float. Received: "
                f"negative_slope={negative_slope}"
            )
        self.negative_slope = negative_slope

    def call(self, inputs):
        return ops.leaky_relu(inputs, negative_slope=float(self.negative_slope))

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax over ``axis`` (an int, or a list of axes normalised together)."""

    _SUPPORTS_MASKING = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if not axis or not all(isinstance(a, int) for a in axis):
                raise TypeError(
                    f"`axis` must be an int or a non-empty list of ints. Received: axis={axis}"
                )
            axis = list(axis)
        elif not isinstance(axis, int):
            raise TypeError(f"`axis` must be an int or a list of ints. Received: axis={axis}")
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is not None:
            raise NotImplementedError(
                f"{self.name} (Softmax): a mask reached this layer; graphc does not yet "
                "apply masks inside Softmax (Keras sets the masked logits to a large "
                "negative number). Use Dense(..., activation='softmax') or remove the mask "
                "(Embedding(mask_zero=False))."
            )
        ndim = len(inputs.shape)
        if isinstance(self.axis, int) or len(self.axis) == 1:
            axis = self.axis if isinstance(self.axis, int) else self.axis[0]
            return ops.softmax(inputs, axis=axis)
        return self._multi_axis(inputs, ndim)

    def _multi_axis(self, x, ndim):
        """Softmax over several axes: move them last, merge them, softmax, and back."""
        try:
            axes = sorted({normalize_axis(a, ndim) for a in self.axis})
        except ShapeError as e:
            raise ShapeError(f"{self.name} (Softmax): {e} (axis={self.axis})") from None
        if 0 in axes or not all(known(d) for d in x.shape[1:]):
            raise NotImplementedError(
                f"{self.name} (Softmax): a softmax over several axes needs known dimensions "
                f"besides the batch and cannot include the batch axis, got axis={self.axis} "
                f"for input shape {format_shape(x.shape)}"
            )
        rest = [i for i in range(ndim) if i not in axes]
        perm = tuple(rest + axes)
        moved = ops.transpose(x, perm)
        kept = tuple(int(x.shape[i]) for i in rest[1:])
        flat = ops.reshape(moved, (-1,) + kept + (product(x.shape[a] for a in axes),))
        y = ops.reshape(
            ops.softmax(flat, axis=-1), (-1,) + kept + tuple(int(x.shape[a]) for a in axes)
        )
        inverse = tuple(sorted(range(ndim), key=lambda i: perm[i]))
        return ops.transpose(y, inverse)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class ELU(Layer):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    _SUPPORTS_MASKING = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs):
        return ops.elu(inputs, alpha=float(self.alpha))

    def get_config(self):
        # Keras 3's ELU leaves alpha out of its config (it comes back as 1.0); graphc
        # keeps every constructor argument.
        return {**super().get_config(), "alpha": self.alpha}
