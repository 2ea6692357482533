"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, and the
Keras 2 lower-case functions (``layers.add([a, b])``) that tutorials still use."""

from __future__ import annotations

from graphc import ops
from graphc.errors import ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer
from graphc.ops import masking as mask_ops
from graphc.ops.shapes import dims_compatible, known

__all__ = [
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "add",
    "subtract",
    "multiply",
    "average",
    "maximum",
    "minimum",
    "concatenate",
]


def _mask_or(masks):
    """Elementwise OR of same-shaped boolean masks."""
    if len(masks) == 1:
        return masks[0]
    stacked = ops.concatenate([mask_ops.expand_dims(m, -1) for m in masks], axis=-1)
    return mask_ops.any(stacked, axis=-1)


class _Merge(Layer):
    """Combines a list of tensors elementwise (with broadcasting) by ``_merge``. Masks
    (Keras 3): the output's mask is the OR of the inputs' masks, none if one has none."""

    min_inputs = 1
    _SUPPORTS_MASKING = True

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            raise ValueError(f"`mask` should be a list. Received: mask={mask}")
        if any(m is None for m in mask):
            return None
        return _mask_or(list(mask))

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self.min_inputs:
            raise ValueError(
                f"A {type(self).__name__} layer should be called on a list of at "
                f"least {self.min_inputs} input(s). Received: inputs={inputs!r}"
            )
        return list(inputs)

    def call(self, inputs):
        inputs = self._check(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = self._merge(out, x)
        return out


class Add(_Merge):
    _merge = staticmethod(ops.add)


class Multiply(_Merge):
    _merge = staticmethod(ops.multiply)


class Maximum(_Merge):
    _merge = staticmethod(ops.maximum)


class Minimum(_Merge):
    _merge = staticmethod(ops.minimum)


class Average(_Merge):
    _merge = staticmethod(ops.add)

    def call(self, inputs):
        return ops.multiply(super().call(inputs), 1.0 / len(self._check(inputs)))


class Subtract(_Merge):
    min_inputs = 2

    def call(self, inputs):
        inputs = self._check(inputs)
        if len(inputs) != 2:
            raise ValueError(
                f"A Subtract layer should be called on exactly 2 inputs. "
                f"Received: {len(inputs)} inputs"
            )
        return ops.subtract(inputs[0], inputs[1])


class Concatenate(_Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        return ops.concatenate(self._check(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        """Keras 3: along the feature axis, the OR of the masks (an input without a mask
        counts as all True, which makes the result all True: returned as no mask, the
        same to every layer that reads masks); along time, the masks concatenated."""
        if mask is None or all(m is None for m in mask):
            return None
        rank = len(inputs[0].shape)
        axis = self.axis % rank
        if axis == rank - 1:
            return None if any(m is None for m in mask) else _mask_or(list(mask))
        if any(m is None for m in mask) or any(len(m.shape) != rank - 1 for m in mask):
            raise NotImplementedError(
                f"{self.name} (Concatenate): concatenating along axis {self.axis} inputs of "
                "which only some carry a mask is not supported by graphc"
            )
        return ops.concatenate(list(mask), axis=axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


# ---- Dot ---------------------------------------------------------------------------------
# Added with the array ops (transpose, sum); composed of ops like every merge layer.
__all__ += ["Dot", "dot"]


class Dot(_Merge):
    """Dot product of two tensors along ``axes`` (an int, or one axis per input), per
    sample, as Keras's ``batch_dot``: two ``(batch, d)`` inputs give ``(batch, 1)``; with
    ``normalize=True`` both are L2-normalised first (cosine proximity)."""

    min_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, (list, tuple)):
                raise TypeError(
                    f"Invalid type for argument `axes`: it should be a list or an "
                    f"int. Received: axes={axes}"
                )
            if len(axes) != 2:
                raise ValueError(
                    f"Invalid format for argument `axes`: it should contain two "
                    f"elements. Received: axes={axes}"
                )
            if not isinstance(axes[0], int) or not isinstance(axes[1], int):
                raise ValueError(  # noqa: TRY004 - Keras raises ValueError here
                    f"Invalid format for argument `axes`: list elements should be integers. "
                    f"Received: axes={axes}"
                )
            axes = list(axes)
        self.axes = axes
        self.normalize = normalize

    def _pair(self, ranks):
        """Non-negative axes, one per input, as Keras resolves them."""
        if isinstance(self.axes, int):
            return [self.axes % r if self.axes < 0 else self.axes for r in ranks]
        return [a % r if a < 0 else a for a, r in zip(self.axes, ranks)]

    def call(self, inputs):
        inputs = self._check(inputs)
        if len(inputs) != 2:
            raise ValueError(
                f"A `Dot` layer should be called on exactly 2 inputs. "
                f"Received: {len(inputs)} inputs"
            )
        x, y = inputs
        xs, ys = tuple(x.shape), tuple(y.shape)
        a0, a1 = self._pair((len(xs), len(ys)))
        where = f"{self.name} (Dot)"
        if len(xs) < 2 or len(ys) < 2:
            raise ShapeError(
                f"{where}: cannot do batch_dot on inputs with rank < 2. "
                f"Received inputs with shapes {format_shape(xs)} and "
                f"{format_shape(ys)}."
            )
        if a0 >= len(xs) or a1 >= len(ys):
            raise ShapeError(
                f"{where}: axes {self.axes} out of range for inputs of shapes "
                f"{format_shape(xs)} and {format_shape(ys)}"
            )
        if 0 in (a0, a1):
            raise ShapeError(
                f"{where}: cannot perform batch_dot over axis 0 (the batch), axes={self.axes}"
            )
        if not dims_compatible(xs[a0], ys[a1]):
            raise ShapeError(
                f"{where}: incompatible input shapes: axis values {xs[a0]} (at "
                f"axis {a0}) != {ys[a1]} (at axis {a1}). Full input shapes: "
                f"{format_shape(xs)}, {format_shape(ys)}"
            )
        if self.normalize:
            x = ops.normalize(x, axis=a0)
            y = ops.normalize(y, axis=a1)
        return _batch_dot(x, y, a0, a1, xs, ys, where)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _batch_dot(x, y, a0, a1, xs, ys, where):
    """Keras's ``batch_dot`` from transpose, reshape and matmul (multiply and sum for two
    matrices)."""
    if len(xs) == 2 and len(ys) == 2:
        return ops.sum(ops.multiply(x, y), axis=1, keepdims=True)
    if not all(known(d) for d in xs[1:] + ys[1:]):
        raise ShapeError(
            f"{where}: inputs of rank > 2 need known dimensions besides the "
            f"batch, received {format_shape(xs)} and {format_shape(ys)}"
        )
    # Contracted axis last in x, second (after the batch) in y; then one batched matmul.
    xperm = [i for i in range(len(xs)) if i != a0] + [a0]
    yperm = [0, a1] + [i for i in range(1, len(ys)) if i != a1]
    if xperm != list(range(len(xs))):
        x = ops.transpose(x, xperm)
    if yperm != list(range(len(ys))):
        y = ops.transpose(y, yperm)
    x_mid = [int(xs[i]) for i in xperm[1:-1]]  # x's kept dimensions
    y_tail = [int(ys[i]) for i in yperm[2:]]  # y's kept dimensions
    k = int(xs[a0])
    x3 = ops.reshape(x, (-1, _prod(x_mid), k)) if len(x_mid) != 1 else x
    y3 = ops.reshape(y, (-1, k, _prod(y_tail))) if len(y_tail) != 1 else y
    out = ops.matmul(x3, y3)  # (batch, prod(x_mid), prod(y_tail))
    shape = x_mid + y_tail
    if len(shape) == 2 and len(x_mid) == 1:
        return out
    # Keras squeezes the axis a rank-2 input added; a lone dimension stays (batch, n).
    return ops.reshape(out, (-1,) + tuple(shape if shape else [1]))


def _prod(dims):
    p = 1
    for d in dims:
        p *= d
    return p


def dot(inputs, axes=-1, **kwargs):
    """``Dot(axes=axes)(inputs)``, the Keras 2 function."""
    return Dot(axes=axes, **kwargs)(inputs)
