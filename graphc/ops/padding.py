"""Constant padding (ONNX ``Pad`` in ``constant`` mode; ``keras.ops.pad``'s default).

``pad`` takes ``pads``, one ``(before, after)`` pair per axis, and a constant ``value``.
The ONNX importer uses it for convolutions and pooling with explicit (asymmetric) pads,
which the windowed ops' "valid"/"same" paddings cannot say.

>>> import numpy as np
>>> from graphc import ops
>>> ops.pad(np.ones((1, 2), "float32"), ((0, 0), (1, 2))).shape
(1, 5)
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import known

__all__ = ["pad"]


class Pad(Op):
    """``np.pad(x, pads, constant_values=value)`` with non-negative ``pads``."""

    name = "pad"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        pads = attrs["pads"]
        if len(pads) != len(x.shape):
            raise ShapeError(
                f"pads has {len(pads)} (before, after) pairs for a tensor of rank {len(x.shape)}"
            )
        if any(int(p) < 0 for pair in pads for p in pair):
            raise ShapeError(f"pads must be non-negative, got {tuple(map(tuple, pads))}")
        shape = tuple(d + int(b) + int(a) if known(d) else None for d, (b, a) in zip(x.shape, pads))
        return TensorType(shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.pad(
            x,
            [tuple(p) for p in attrs["pads"]],
            constant_values=np.asarray(attrs.get("value", 0)).astype(x.dtype),
        )

    def vjp(self, attrs, xs, ys, gys, needs, out):
        g = gys[0]
        index = tuple(slice(int(b), g.shape[i] - int(a)) for i, (b, a) in enumerate(attrs["pads"]))
        return (g[index],)

    def lower(self, attrs, b, x):
        pads = [int(p[0]) for p in attrs["pads"]] + [int(p[1]) for p in attrs["pads"]]
        dtype = b.in_types[0].dtype
        value = b.const(np.asarray(attrs.get("value", 0)).astype(dtype))
        return b.op("Pad", x, b.const(np.asarray(pads, dtype=np.int64)), value, mode="constant")


def pad(x, pad_width, mode="constant", constant_values=None):
    """``keras.ops.pad`` in constant mode: ``pad_width`` is one ``(before, after)`` pair
    per axis, or one pair (or one int) for every axis."""
    if mode != "constant":
        raise NotImplementedError(
            f"pad(mode={mode!r}) is not supported yet; only mode='constant' is"
        )
    nd = len(x.shape) if hasattr(x, "shape") else np.ndim(x)
    if isinstance(pad_width, (int, np.integer)):
        widths = [(int(pad_width), int(pad_width))] * nd
    else:
        widths = [tuple(int(v) for v in np.atleast_1d(p)) for p in pad_width]
        widths = [(p[0], p[0]) if len(p) == 1 else p for p in widths]
        if len(widths) == 1:
            widths = widths * nd
    if len(widths) != nd:
        raise ValueError(
            f"pad_width needs one (before, after) pair per axis ({nd}), got {pad_width}"
        )
    pads = tuple((int(b), int(a)) for b, a in widths)
    value = 0.0 if constant_values is None else float(constant_values)
    return apply("pad", [x], pads=pads, value=value)
