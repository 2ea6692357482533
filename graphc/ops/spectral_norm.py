"""``spectral_normalize``: Keras 3's ``SpectralNormalization`` step as one stateful op.

Inputs ``(kernel, vector_u)``: a weight of any rank (its last axis is the output axis)
and the ``(1, out)`` power-iteration vector. In training mode the kernel runs Keras's
power iteration on ``W = kernel.reshape(-1, out)``::

    v = normalize(u @ W.T); u = normalize(v @ W)      # power_iterations times
    sigma = v @ W @ u.T;    kernel' = kernel / sigma

(``normalize`` is Keras's ``x * min(rsqrt(sum(x**2)), 1 / 1e-7)``; an all-zero kernel is
left alone) and returns ``(kernel', u)``; ``update_state`` then writes both into the
weights, as Keras's ``assign``s do, so the optimizer updates the normalized kernel. In
inference both outputs are the inputs. The VJP passes the kernel's gradient straight
through (Keras assigns the kernel, so its gradient is the wrapped layer's gradient at the
normalized value); the ONNX lowering is the inference identity.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op, apply

__all__ = ["spectral_normalize"]

_EPS = 1e-7


def _normalize(x):
    inv = 1.0 / np.sqrt(np.sum(np.square(x)))
    return x * np.minimum(inv, x.dtype.type(1.0 / _EPS))


class SpectralNormalize(Op):
    name = "spectral_normalize"
    n_outputs = 2
    vjp_reads_inputs = False

    def infer(self, attrs, kernel, u):
        out = kernel.shape[-1] if kernel.shape else None
        if len(kernel.shape) < 1 or tuple(u.shape) != (1, out):
            raise ShapeError(
                f"expects a kernel of rank >= 1 and vector_u of shape (1, {out}), got "
                f"{format_shape(kernel.shape)} and {format_shape(u.shape)}"
            )
        return TensorType(kernel.shape, kernel.dtype), TensorType(u.shape, u.dtype)

    def kernel(self, attrs, kernel, u, *, ctx):
        if not (ctx.training or attrs.get("force_training")) or not np.any(kernel):
            return kernel, u
        w = kernel.reshape(-1, kernel.shape[-1])
        v = u
        for _ in range(int(attrs.get("power_iterations", 1))):
            v = _normalize(u @ w.T)
            u = _normalize(v @ w)
        sigma = (v @ w) @ u.T
        return (kernel / sigma.reshape(())).astype(kernel.dtype, copy=False), u.astype(
            kernel.dtype, copy=False
        )

    def update_state(self, attrs, xs, ys):
        if ys[0] is not xs[0]:
            xs[0][...] = ys[0]
            xs[1][...] = ys[1]

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0] if needs[0] else None), None

    def lower(self, attrs, b, kernel, u):
        return b.op("Identity", kernel), b.op("Identity", u)


def spectral_normalize(kernel, vector_u, power_iterations=1, training=None):
    """``(normalized kernel, new vector_u)`` in training; see ``SpectralNormalize``."""
    attrs = {"power_iterations": int(power_iterations)}
    if training:
        attrs["force_training"] = True
    return tuple(apply("spectral_normalize", [kernel, vector_u], **attrs))
