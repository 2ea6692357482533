"""Layers that record a given op pattern, for the tests of the passes that rewrite it."""

from __future__ import annotations

import graphc
from graphc import layers


class MatMulAdd(layers.Layer):
    """``x @ W + b`` recorded as a matmul then an add, as a hand-written layer or an
    imported ONNX MatMul + Add records it (a Dense layer records one gemm on a rank-2
    input): what ``FuseMatMulAdd`` and the IR's editing methods work on."""

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = graphc.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight((input_shape[-1], self.units), name="kernel")
        self.bias = self.add_weight((self.units,), initializer="zeros", name="bias")

    def call(self, x):
        return self.activation(graphc.ops.add(graphc.ops.matmul(x, self.kernel), self.bias))
