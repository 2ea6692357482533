"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, and the
Keras 2 lower-case functions (``layers.add([a, b])``) that tutorials still use."""

from __future__ import annotations

from graphc import ops
from graphc.layers.base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]


class _Merge(Layer):
    """Combines a list of tensors elementwise (with broadcasting) by ``_merge``."""

    min_inputs = 1

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self.min_inputs:
            raise ValueError(f"A {type(self).__name__} layer should be called on a list of at "
                             f"least {self.min_inputs} input(s). Received: inputs={inputs!r}")
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
            raise ValueError(f"A Subtract layer should be called on exactly 2 inputs. "
                             f"Received: {len(inputs)} inputs")
        return ops.subtract(inputs[0], inputs[1])


class Concatenate(_Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        return ops.concatenate(self._check(inputs), axis=self.axis)

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
