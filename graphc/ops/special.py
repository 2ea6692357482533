"""Elementwise functions beyond the basic ones (``keras.ops.tan``, ``sinh``, ``arccos``,
..., ``erf``, ``isnan``, ``isinf``) and a constant anchored to a tensor
(``constant_like``: what an imported ONNX graph computes from constants alone).

>>> import numpy as np
>>> from graphc import ops
>>> ops.arctan(np.array([0.0, 1.0])).round(4).tolist()
[0.0, 0.7854]
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply

__all__ = [
    "constant_like",
]


class ConstantLike(Op):
    """A constant (``value``: nested lists, ``dtype``) that a graph computes: its input
    only anchors it in the graph (an ONNX graph's output made of constants alone)."""

    name = "constant_like"
    vjp_reads_inputs = False

    def _value(self, attrs):
        from graphc.ops.masking import NARROW_DTYPES, narrow_dtype

        dt = attrs["dtype"]
        dt = narrow_dtype(dt) if dt in NARROW_DTYPES else np.dtype(dt)
        value = np.asarray(attrs["value"], dtype=np.float64 if dt.kind == "V" else dt)
        return value.reshape(attrs["shape"]).astype(dt)

    def infer(self, attrs, x):
        return TensorType(tuple(attrs["shape"]), attrs["dtype"])

    def kernel(self, attrs, x, *, ctx):
        return self._value(attrs)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("Identity", b.const(self._value(attrs)))


def constant_like(value, like):
    """``value`` (an array) as a tensor computed in the graph of ``like``."""
    value = np.asarray(value)
    return apply(
        "constant_like",
        [like],
        value=value.astype(np.float64).tolist() if value.dtype.kind == "V" else value.tolist(),
        dtype=value.dtype.name,
        shape=tuple(value.shape),
    )


class NonZero(Op):
    """ONNX ``NonZero``: the indices of the nonzero entries, ``(rank, count)`` int64
    (``np.nonzero`` stacked). No gradient."""

    name = "nonzero"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        return TensorType((len(x.shape), None), "int64")

    def kernel(self, attrs, x, *, ctx):
        return np.asarray(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("NonZero", x)


class BitCast(Op):
    """The same bits read as another dtype of the same width (``x.view(dtype)``, ONNX
    ``BitCast``). No gradient."""

    name = "bitcast"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        if np.dtype(x.dtype).itemsize != np.dtype(attrs["dtype"]).itemsize:
            raise ShapeError(f"bitcast from {x.dtype} to {attrs['dtype']} changes the width")
        return TensorType(x.shape, attrs["dtype"])

    def kernel(self, attrs, x, *, ctx):
        # (np.ascontiguousarray would make a scalar 1-D)
        return (x if x.flags.c_contiguous else x.copy()).view(attrs["dtype"])

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        from graphc.ops.lowering import onnx_dtype

        if b.opset < 26:
            raise NotImplementedError(
                f"bitcast lowers to ONNX BitCast, which needs opset 26 or newer; export "
                f"with a newer opset (asked for {b.opset})"
            )
        return b.op("BitCast", x, to=onnx_dtype(attrs["dtype"]))
