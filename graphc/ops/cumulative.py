"""Running sums and products and the product reduction (``keras.ops.cumsum``,
``cumprod``, ``prod``).

``cumsum``/``cumprod`` run along one axis, optionally ``exclusive`` (each entry leaves
itself out) and ``reverse`` (from the end), as ONNX's ``CumSum``. Their gradients are
exact, zeros included (a product's gradient is the product of the others, never a
division).

>>> import numpy as np
>>> from graphc import ops
>>> ops.cumsum(np.array([1.0, 2.0, 3.0])).tolist()
[1.0, 3.0, 6.0]
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.arrays import _axes, _axis_attr, reduce_lowering, reduced_shape
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import normalize_axis

__all__ = ["cumsum", "cumprod"]  # keras.ops.prod: sorting.prod (Keras's dtype rules)


def scan(x, axis, exclusive, reverse, product):
    """The running sum (or product) of ``x`` along ``axis``, ONNX ``CumSum``'s flags."""
    if reverse:
        x = np.flip(x, axis)
    y = (np.cumprod if product else np.cumsum)(x, axis=axis, dtype=x.dtype)
    if exclusive:
        first = np.full_like(np.take(y, [0], axis=axis), 1 if product else 0)
        rest = np.take(y, np.arange(y.shape[axis] - 1), axis=axis)
        y = np.concatenate([first, rest], axis=axis)
    if reverse:
        y = np.flip(y, axis)
    return np.ascontiguousarray(y)


class _Scan(Op):
    product = False

    def infer(self, attrs, x):
        if np.dtype(x.dtype).kind not in "iuf":
            raise ShapeError(f"expected a numeric tensor, got dtype {x.dtype}")
        normalize_axis(attrs["axis"], max(len(x.shape), 1))
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        axis = normalize_axis(attrs["axis"], x.ndim)
        return scan(
            x, axis, attrs.get("exclusive", False), attrs.get("reverse", False), self.product
        )


class CumSum(_Scan):
    name = "cumsum"
    vjp_reads_inputs = False

    def vjp(self, attrs, xs, ys, gys, needs, out):
        g = gys[0]
        axis = normalize_axis(attrs["axis"], g.ndim)
        # the transpose of a running sum is the running sum the other way
        return (
            scan(g, axis, attrs.get("exclusive", False), not attrs.get("reverse", False), False),
        )

    def lower(self, attrs, b, x):
        axis = normalize_axis(attrs["axis"], len(b.in_types[0].shape))
        return b.op(
            "CumSum",
            x,
            b.const(np.asarray(axis, np.int64)),
            exclusive=int(attrs.get("exclusive", False)),
            reverse=int(attrs.get("reverse", False)),
        )


class CumProd(_Scan):
    name = "cumprod"
    product = True

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, g = xs[0], gys[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        ex, rev = attrs.get("exclusive", False), attrs.get("reverse", False)
        xm = np.moveaxis(x, axis, -1)
        gm = np.moveaxis(g, axis, -1)
        n = xm.shape[-1]
        grad = np.zeros_like(xm)
        eye = np.eye(n, dtype=np.int64)
        for i in range(n):
            # d y[j] / d x[i] = the product without x[i], where x[i] takes part in y[j]
            without = xm.copy()
            without[..., i] = 1
            part = scan(eye[i], 0, ex, rev, False) > 0
            grad[..., i] = (gm * scan(without, -1, ex, rev, True) * part).sum(axis=-1)
        return (np.moveaxis(grad, -1, axis),)

    def lower(self, attrs, b, x):
        axis = normalize_axis(attrs["axis"], len(b.in_types[0].shape))
        if b.opset < 26:
            raise NotImplementedError(
                f"cumprod lowers to ONNX CumProd, which needs opset 26 or newer; "
                f"export with a newer opset (asked for {b.opset})"
            )
        return b.op(
            "CumProd",
            x,
            b.const(np.asarray(axis, np.int64)),
            exclusive=int(attrs.get("exclusive", False)),
            reverse=int(attrs.get("reverse", False)),
        )


class Prod(Op):
    """``np.prod(x, axis, keepdims)``; the product of an empty set is 1."""

    name = "prod"

    def infer(self, attrs, x):
        if np.dtype(x.dtype).kind not in "iuf":
            raise ShapeError(f"expected a numeric tensor, got dtype {x.dtype}")
        return TensorType(reduced_shape(x.shape, attrs), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        axes = _axes(attrs.get("axis"), x.ndim)
        return np.asarray(
            np.prod(x, axis=axes, keepdims=attrs.get("keepdims", False), dtype=x.dtype)
        )

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, g = xs[0], gys[0]
        axes = _axes(attrs.get("axis"), x.ndim)
        if not attrs.get("keepdims", False):
            g = np.expand_dims(g, axes)
        rest = [i for i in range(x.ndim) if i not in axes]
        perm = rest + list(axes)
        xt = np.transpose(x, perm)
        flat = xt.reshape(xt.shape[: len(rest)] + (-1,))
        # the product of the others: running products from the left and from the right
        left = scan(flat, -1, True, False, True)
        right = scan(flat, -1, True, True, True)
        others = (left * right).reshape(xt.shape)
        others = np.transpose(others, np.argsort(perm))
        return ((np.broadcast_to(g, x.shape) * others).astype(x.dtype, copy=False),)

    def lower(self, attrs, b, x):
        return reduce_lowering(b, "ReduceProd", x, attrs.get("axis"), attrs.get("keepdims", False))


def _cum(name, x, axis, dtype):
    if dtype is not None:
        from graphc.ops.masking import cast

        x = cast(x, dtype)
    if axis is None:
        x = apply("reshape", [x], shape=(-1,))
        axis = 0
    return apply(name, [x], axis=int(axis))


def cumsum(x, axis=None, dtype=None):
    """``keras.ops.cumsum``: the running sum along ``axis`` (None: of the flattened
    tensor)."""
    return _cum("cumsum", x, axis, dtype)


def cumprod(x, axis=None, dtype=None):
    """``keras.ops.cumprod``: the running product along ``axis`` (None: flattened)."""
    return _cum("cumprod", x, axis, dtype)


def prod(x, axis=None, keepdims=False, dtype=None):
    """``keras.ops.prod``: the product over ``axis`` (an int, a tuple, or None)."""
    if dtype is not None:
        from graphc.ops.masking import cast

        x = cast(x, dtype)
    return apply("prod", [x], axis=_axis_attr(axis), keepdims=bool(keepdims))
