"""Attention ops: ``masked_softmax``, the softmax of attention logits over their last axis
with Keras's masking rules (boolean masks, a causal mask and a sliding window), and
``reshape_trailing``, a reshape that keeps the leading (batch, sequence) dimensions as they
are, known or not (splitting and merging attention heads).

Keras masks attention logits in two ways, which differ only on a row where every key is
masked (a padded query position):

- its ``Softmax`` layer (``MultiHeadAttention`` with dropout, or when it returns the
  scores): masked logits become -1e9, and masked probabilities are zeroed afterwards, so
  a fully masked row is all zeros (``zero_fully_masked=True``);
- ``keras.ops.dot_product_attention`` (``MultiHeadAttention`` otherwise): a bias of
  ``-0.7 * 3.38953e38`` is added to the masked logits, so a fully masked row is uniform
  (``zero_fully_masked=False``).

The gradient is the softmax's, ``y * (g - sum(g * y))`` from the final output ``y``, as
autograd computes it for both forms (so a uniform, fully masked row does pass gradient).

>>> import numpy as np
>>> from graphc import ops
>>> x = np.zeros((1, 2, 3), dtype="float32")
>>> ops.masked_softmax(x, [np.array([[[True, True, False]]])])[0, 0]
array([0.5, 0.5, 0. ], dtype=float32)
>>> ops.masked_softmax(x, causal=True)[0, 0]
array([1., 0., 0.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import dims_compatible, known, product

__all__ = ["masked_softmax"]

_SOFTMAX_FILL = -1e9  # keras.layers.Softmax's masked logits (float32)
_BIAS = 3.38953e38 * -0.7  # keras.ops.dot_product_attention's mask bias (float32)


def _band(attrs, t: int, s: int) -> np.ndarray | None:
    """The ``(t, s)`` causal / sliding-window mask, or None when there is neither."""
    causal, window = attrs.get("causal", False), attrs.get("sliding_window")
    if not causal and window is None:
        return None
    rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
    keep = np.ones((t, s), dtype=bool)
    if causal:
        keep &= rows >= cols
    if window is not None:
        keep &= np.abs(rows - cols) < window
    return keep


class MaskedSoftmax(Op):
    """``softmax(x, axis=-1)`` where the boolean ``masks`` (any number, each broadcasting
    to ``x``; they are and-ed) and the ``causal`` / ``sliding_window`` band (over the last
    two axes, query by key) allow; see the module docstring for ``zero_fully_masked``."""

    name = "masked_softmax"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, x, *masks):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected floating-point logits, got dtype {x.dtype}")
        band = attrs.get("causal", False) or attrs.get("sliding_window") is not None
        if band and len(x.shape) < 2:
            raise ShapeError(
                f"a causal or sliding-window mask needs logits of rank >= 2, "
                f"got {format_shape(x.shape)}"
            )
        window = attrs.get("sliding_window")
        if window is not None and (not isinstance(window, int) or window <= 0):
            raise ShapeError(f"sliding_window must be a positive integer, got {window!r}")
        for m in masks:
            if m.dtype != "bool":
                raise ShapeError(f"masks must be boolean, got dtype {m.dtype}")
            # Each mask dimension is 1 or the logits' own: the mask never widens them.
            tail = x.shape[len(x.shape) - len(m.shape) :] if m.shape else ()
            if len(m.shape) > len(x.shape) or any(
                d != 1 and not dims_compatible(d, xd) for d, xd in zip(m.shape, tail)
            ):
                raise ShapeError(
                    f"mask {format_shape(m.shape)} does not broadcast to the "
                    f"logits {format_shape(x.shape)}"
                )
        return TensorType(tuple(x.shape), x.dtype)

    def kernel(self, attrs, x, *masks, ctx):
        keep = None
        for m in masks:
            keep = m if keep is None else keep & m
        band = _band(attrs, x.shape[-2], x.shape[-1]) if x.ndim >= 2 else None
        if band is not None:
            keep = band if keep is None else keep & band
        if keep is None:
            logits = x
        elif attrs.get("zero_fully_masked", True):
            logits = np.where(keep, x, x.dtype.type(_SOFTMAX_FILL))
        else:
            logits = x + np.where(keep, x.dtype.type(0), x.dtype.type(_BIAS))
        e = logits - logits.max(axis=-1, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=-1, keepdims=True)
        if keep is not None and attrs.get("zero_fully_masked", True):
            e = np.where(keep, e, x.dtype.type(0))
        return e.astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        y, g = ys[0], gys[0]
        return (y * (g - (g * y).sum(axis=-1, keepdims=True)),) + (None,) * (len(xs) - 1)

    def lower(self, attrs, b, x, *masks):
        keep = None
        for m in masks:
            keep = m if keep is None else b.op("And", keep, m)
        band = self._lower_band(attrs, b, x)
        if band is not None:
            keep = band if keep is None else b.op("And", keep, band)
        if keep is None:
            return b.op("Softmax", x, axis=-1)
        if attrs.get("zero_fully_masked", True):
            y = b.op("Softmax", b.op("Where", keep, x, b.scalar(_SOFTMAX_FILL)), axis=-1)
            return b.op("Where", keep, y, b.scalar(0.0))
        bias = b.op("Where", keep, b.scalar(0.0), b.scalar(_BIAS))
        return b.op("Softmax", b.op("Add", x, bias), axis=-1)

    @staticmethod
    def _lower_band(attrs, b, x):
        """The band mask: a constant when both lengths are known, else built at run time
        from the logits' shape (``Range`` and comparisons, available from opset 11)."""
        if not attrs.get("causal", False) and attrs.get("sliding_window") is None:
            return None
        t, s = b.in_types[0].shape[-2:]
        if isinstance(t, int) and isinstance(s, int):
            return b.const(_band(attrs, t, s))

        def i64(v):
            return b.const(np.asarray(v, dtype=np.int64))

        shape = b.op("Shape", x)
        rank = len(b.in_types[0].shape)
        length = [b.op("Gather", shape, i64(rank + k), axis=0) for k in (-2, -1)]
        rows = b.op("Unsqueeze", b.op("Range", i64(0), length[0], i64(1)), i64([1]))
        cols = b.op("Range", i64(0), length[1], i64(1))
        keep = None
        if attrs.get("causal", False):
            keep = b.op("GreaterOrEqual", rows, cols)
        window = attrs.get("sliding_window")
        if window is not None:
            w = i64(int(window))
            near = b.op(
                "And",
                b.op("Less", b.op("Sub", rows, cols), w),
                b.op("Less", b.op("Sub", cols, rows), w),
            )
            keep = near if keep is None else b.op("And", keep, near)
        return keep


class ReshapeTrailing(Op):
    """Keep the first ``keep`` dimensions and reshape the rest to ``shape`` (one entry
    may be -1): ``(B, T, H * K) -> (B, T, H, K)`` with B and T unknown, which ``reshape``
    (one -1 at most) cannot say. ONNX ``Reshape`` with 0 ("copy this dimension")."""

    name = "reshape_trailing"

    def infer(self, attrs, x):
        keep, shape = int(attrs["keep"]), tuple(attrs["shape"])
        if not 0 <= keep <= len(x.shape):
            raise ShapeError(f"keep={keep} is out of range for a tensor of rank {len(x.shape)}")
        if sum(d == -1 for d in shape) > 1 or any(d < -1 or d == 0 for d in shape):
            raise ShapeError(
                f"the trailing shape takes positive entries and at most one -1, got {shape}"
            )
        total, fixed = product(x.shape[keep:]), product(d for d in shape if d != -1)
        if total is not None and (total % fixed if -1 in shape else total != fixed):
            raise ShapeError(
                f"cannot reshape the trailing dimensions of "
                f"{format_shape(x.shape)} ({total} values) into {shape}"
            )
        fill = total // fixed if known(total) else None
        return TensorType(
            tuple(x.shape[:keep]) + tuple(fill if d == -1 else d for d in shape), x.dtype
        )

    def kernel(self, attrs, x, *, ctx):
        return x.reshape(x.shape[: int(attrs["keep"])] + tuple(attrs["shape"]))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0].reshape(xs[0].shape),)

    def lower(self, attrs, b, x):
        target = [0] * int(attrs["keep"]) + [int(d) for d in attrs["shape"]]
        return b.op("Reshape", x, b.const(np.asarray(target, dtype=np.int64)))


def reshape_trailing(x, keep, shape):
    """``x`` with its first ``keep`` dimensions kept and the rest reshaped to ``shape``."""
    return apply("reshape_trailing", [x], keep=int(keep), shape=tuple(int(d) for d in shape))


def masked_softmax(x, masks=(), causal=False, sliding_window=None, zero_fully_masked=True):
    """Softmax over the last axis of attention logits ``x`` (``(..., queries, keys)``),
    keeping only where every boolean mask in ``masks`` is True, the causal band (query
    ``i`` sees keys ``j <= i``) when ``causal``, and ``|i - j| < sliding_window``."""
    attrs = {"causal": bool(causal), "zero_fully_masked": bool(zero_fully_masked)}
    if sliding_window is not None:
        attrs["sliding_window"] = int(sliding_window)
    return apply("masked_softmax", [x, *masks], **attrs)
