"""Normalization ops: layer normalization (Keras 3's LayerNormalization) and L2
normalization (``keras.ops.normalize``, what ``Dot(normalize=True)`` uses).

>>> import numpy as np
>>> from graphc import ops
>>> ops.layer_normalization(np.arange(5, dtype="float32"), epsilon=1e-3).round(3)
array([-1.414, -0.707,  0.   ,  0.707,  1.414], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from graphc.config import EPSILON
from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.arrays import reduce_lowering
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import known, normalize_axis, shapes_compatible

__all__ = ["layer_normalization", "normalize"]

#: Keras's ``backend.epsilon()``: the default of ``keras.ops`` functions (the
#: LayerNormalization layer passes its own 1e-3).
BACKEND_EPSILON = EPSILON


def _norm_axes(axis, ndim: int) -> tuple:
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = tuple(sorted(normalize_axis(int(a), ndim) for a in axes))
    if len(set(out)) != len(out):
        raise ShapeError(f"axis {tuple(axes)} repeats an axis")
    return out


def _bshape(shape, axes, ndim):
    """Broadcast shape of a parameter spanning ``axes``."""
    out = [1] * ndim
    for a, d in zip(axes, shape):
        out[a] = d
    return tuple(out)


# ---- layer normalization ---------------------------------------------------------------
class LayerNorm(Op):
    """Inputs ``x`` then ``gamma`` when ``scale`` and ``beta`` when ``center`` (attrs),
    each of shape ``x.shape[axis]``. Over ``axis`` (a tuple of axes):
    ``(x - mean) / sqrt(var + epsilon) * gamma + beta`` with the biased variance.

    ONNX: ``LayerNormalization`` from opset 17 when the axes are the trailing ones,
    otherwise ReduceMean/Sub/Mul/Sqrt nodes.
    """

    name = "layer_norm"

    @staticmethod
    def _parts(attrs, params):
        it = iter(params)
        gamma = next(it) if attrs.get("scale", True) else None
        beta = next(it) if attrs.get("center", True) else None
        return gamma, beta

    def infer(self, attrs, x, *params):
        n_params = int(attrs.get("scale", True)) + int(attrs.get("center", True))
        if len(params) != n_params:
            raise ShapeError(
                f"expects {n_params} parameter input(s) (scale="
                f"{attrs.get('scale', True)}, center={attrs.get('center', True)})"
                f", got {len(params)}"
            )
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        ndim = len(x.shape)
        axes = _norm_axes(attrs.get("axis", (-1,)), ndim)
        want = tuple(x.shape[a] for a in axes)
        for p, what in zip(
            params,
            [
                w
                for w, on in (
                    ("gamma", attrs.get("scale", True)),
                    ("beta", attrs.get("center", True)),
                )
                if on
            ],
        ):
            if not shapes_compatible(p.shape, want):
                raise ShapeError(
                    f"{what} must have shape {format_shape(want)} for axis "
                    f"{attrs.get('axis', (-1,))} of {format_shape(x.shape)}, "
                    f"got {format_shape(p.shape)}"
                )
            if p.dtype != x.dtype:
                raise ShapeError(f"{what} has dtype {p.dtype}, the input {x.dtype}")
        return TensorType(x.shape, x.dtype)

    @staticmethod
    def _normalized(attrs, x):
        axes = _norm_axes(attrs.get("axis", (-1,)), x.ndim)
        mean = x.mean(axis=axes, keepdims=True)
        d = x - mean
        var = np.mean(d * d, axis=axes, keepdims=True)
        inv = 1.0 / np.sqrt(var + x.dtype.type(attrs.get("epsilon", 1e-3)))
        return axes, d * inv, inv

    def kernel(self, attrs, x, *params, ctx):
        gamma, beta = self._parts(attrs, params)
        axes, y, _ = self._normalized(attrs, x)
        if gamma is not None:
            y *= gamma.reshape(_bshape(gamma.shape, axes, x.ndim))
        if beta is not None:
            y += beta.reshape(_bshape(beta.shape, axes, x.ndim))
        return y

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, params = xs[0], xs[1:]
        gamma, beta = self._parts(attrs, params)
        g = gys[0]
        axes, xhat, inv = self._normalized(attrs, x)
        others = tuple(i for i in range(x.ndim) if i not in axes)
        grads = []
        if gamma is not None:
            grads.append((g * xhat).sum(axis=others).reshape(gamma.shape))
            gh = g * gamma.reshape(_bshape(gamma.shape, axes, x.ndim))
        else:
            gh = g
        if beta is not None:
            grads.append(g.sum(axis=others).reshape(beta.shape))
        gx = inv * (
            gh
            - gh.mean(axis=axes, keepdims=True)
            - xhat * (gh * xhat).mean(axis=axes, keepdims=True)
        )
        return (gx, *grads)

    def lower(self, attrs, b, x, *params):
        gamma, beta = self._parts(attrs, params)
        types = b.in_types
        ndim = len(types[0].shape)
        axes = _norm_axes(attrs.get("axis", (-1,)), ndim)
        eps = float(attrs.get("epsilon", 1e-3))
        pshape = tuple(types[0].shape[a] for a in axes)
        trailing = axes == tuple(range(axes[0], ndim))
        if b.opset >= 17 and trailing and (gamma is not None or all(known(d) for d in pshape)):
            scale = gamma if gamma is not None else b.const(np.ones(pshape, dtype=b.float_dtype))
            inputs = [x, scale] + ([beta] if beta is not None else [])
            # stash_type=1: statistics in float32 (ONNX's default, written out).
            return b.op("LayerNormalization", *inputs, axis=int(axes[0]), epsilon=eps, stash_type=1)
        mean = reduce_lowering(b, "ReduceMean", x, axes, True)
        d = b.op("Sub", x, mean)
        var = reduce_lowering(b, "ReduceMean", b.op("Mul", d, d), axes, True)
        inv = b.op("Reciprocal", b.op("Sqrt", b.op("Add", var, b.scalar(eps))))
        y = b.op("Mul", d, inv)
        for p, t, onnx_type in zip(
            params,
            types[1:],
            [op for op, on in (("Mul", gamma is not None), ("Add", beta is not None)) if on],
        ):
            if not trailing:
                shape = _bshape(t.shape, axes, ndim)
                p = b.op("Reshape", p, b.const(np.asarray(shape, dtype=np.int64)))
            y = b.op(onnx_type, y, p)
        return y


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None):
    """``keras.ops.layer_normalization``: normalise over ``axis`` (an int or a tuple),
    then scale by ``gamma`` and shift by ``beta`` (each optional, of shape
    ``x.shape[axis]``). ``epsilon`` defaults to 1e-7 as in Keras (the layer uses 1e-3)."""
    axis = tuple(int(a) for a in axis) if isinstance(axis, (tuple, list)) else (int(axis),)
    eps = BACKEND_EPSILON if epsilon is None else float(epsilon)
    inputs = [x] + [p for p in (gamma, beta) if p is not None]
    return apply(
        "layer_norm",
        inputs,
        axis=axis,
        epsilon=eps,
        scale=gamma is not None,
        center=beta is not None,
    )


# ---- L2 normalization ------------------------------------------------------------------
class L2Normalize(Op):
    """``x / max(||x||_2, epsilon)`` over ``axis`` (a tuple), which is Keras's
    ``x * min(rsqrt(sum(x**2)), 1 / epsilon)``."""

    name = "l2_normalize"

    def infer(self, attrs, x):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        _norm_axes(attrs.get("axis", (-1,)), len(x.shape))
        return TensorType(x.shape, x.dtype)

    @staticmethod
    def _norm(attrs, x):
        axes = _norm_axes(attrs.get("axis", (-1,)), x.ndim)
        n = np.sqrt(np.sum(x * x, axis=axes, keepdims=True))
        return axes, n, x.dtype.type(attrs.get("epsilon", BACKEND_EPSILON))

    def kernel(self, attrs, x, *, ctx):
        _, n, eps = self._norm(attrs, x)
        return x / np.maximum(n, eps)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, g = xs[0], gys[0]
        axes, n, eps = self._norm(attrs, x)
        big = n > eps
        den = np.maximum(n, eps)
        y = x / den
        inside = (g - y * np.sum(g * y, axis=axes, keepdims=True)) / den
        return (np.where(big, inside, g / eps),)

    def lower(self, attrs, b, x):
        ndim = len(b.in_types[0].shape)
        axes = _norm_axes(attrs.get("axis", (-1,)), ndim)
        eps = float(attrs.get("epsilon", BACKEND_EPSILON))
        n = b.op("Sqrt", reduce_lowering(b, "ReduceSumSquare", x, axes, True))
        return b.op("Div", x, b.op("Max", n, b.scalar(eps)))


def normalize(x, axis=-1, order=2, epsilon=None):
    """``keras.ops.normalize`` for ``order=2``: ``x`` divided by its L2 norm over
    ``axis`` (at least ``epsilon``, 1e-7 by default)."""
    if order != 2:
        raise NotImplementedError(f"normalize: only order=2 is supported, got order={order}")
    axis = tuple(int(a) for a in axis) if isinstance(axis, (tuple, list)) else (int(axis),)
    eps = BACKEND_EPSILON if epsilon is None else float(epsilon)
    return apply("l2_normalize", [x], axis=axis, epsilon=eps)
