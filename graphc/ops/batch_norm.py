"""Batch normalization: one op for training (batch statistics, moving averages updated)
and inference (moving statistics), as Keras 3's BatchNormalization computes it."""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import dims_compatible, normalize_axis

__all__ = ["batch_norm"]


def _axes(attrs, ndim):
    axis = normalize_axis(attrs.get("axis", -1), ndim)
    return axis, tuple(i for i in range(ndim) if i != axis)


def _bcast(v, axis, ndim):
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


class BatchNorm(Op):
    """Inputs ``(x, gamma, beta, moving_mean, moving_variance)``, each parameter of shape
    ``(C,)`` for the channel ``axis``. Outputs ``(y, batch_mean, batch_variance)``; in
    inference mode the statistics are the moving ones and the last two outputs are None.

    Training: ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta`` with the biased
    batch variance, and ``moving = moving * momentum + batch * (1 - momentum)``. A node
    with ``attrs["phase"] == "inference"`` (the layer called with ``training=False``)
    runs in inference in every mode.
    """

    name = "batch_norm"
    n_outputs = 3
    vjp_reads_outputs = True
    frozen_means_inference = True

    def infer(self, attrs, x, gamma, beta, mean, var):
        axis, _ = _axes(attrs, len(x.shape))
        channels = x.shape[axis]
        for t, what in (
            (gamma, "gamma"),
            (beta, "beta"),
            (mean, "moving_mean"),
            (var, "moving_variance"),
        ):
            if len(t.shape) != 1 or not dims_compatible(t.shape[0], channels):
                raise ShapeError(
                    f"{what} must have shape ({channels},) for axis "
                    f"{attrs.get('axis', -1)} of {format_shape(x.shape)}, got "
                    f"{format_shape(t.shape)}"
                )
        stat = TensorType((channels,), x.dtype)
        return TensorType(x.shape, x.dtype), stat, stat

    def kernel(self, attrs, x, gamma, beta, mean, var, *, ctx):
        axis, red = _axes(attrs, x.ndim)
        eps = attrs.get("epsilon", 1e-3)
        if ctx.training and attrs.get("phase") != "inference":
            batch_mean = x.mean(axis=red)
            batch_var = x.var(axis=red)  # biased, as Keras's ops.moments
            inv = 1.0 / np.sqrt(batch_var + x.dtype.type(eps))
            y = (x - _bcast(batch_mean, axis, x.ndim)) * _bcast(inv * gamma, axis, x.ndim)
            return (
                (y + _bcast(beta, axis, x.ndim)).astype(x.dtype, copy=False),
                batch_mean,
                batch_var,
            )
        inv = 1.0 / np.sqrt(var + x.dtype.type(eps))
        y = (x - _bcast(mean, axis, x.ndim)) * _bcast(inv * gamma, axis, x.ndim)
        return (y + _bcast(beta, axis, x.ndim)).astype(x.dtype, copy=False), None, None

    def update_state(self, attrs, xs, ys):
        momentum = attrs.get("momentum", 0.99)
        for moving, batch in ((xs[3], ys[1]), (xs[4], ys[2])):
            moving *= momentum
            moving += (1 - momentum) * batch

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, gamma = xs[0], xs[1]
        g = gys[0]
        axis, red = _axes(attrs, x.ndim)
        eps = x.dtype.type(attrs.get("epsilon", 1e-3))
        training = ys[1] is not None
        mean, var = (ys[1], ys[2]) if training else (xs[3], xs[4])
        inv = 1.0 / np.sqrt(var + eps)
        xhat = (x - _bcast(mean, axis, x.ndim)) * _bcast(inv, axis, x.ndim)
        dbeta = g.sum(axis=red)
        dgamma = (g * xhat).sum(axis=red)
        dxhat = g * _bcast(gamma, axis, x.ndim)
        if training:
            m = x.size // x.shape[axis]
            dx = _bcast(inv / m, axis, x.ndim) * (
                m * dxhat
                - _bcast(dxhat.sum(axis=red), axis, x.ndim)
                - xhat * _bcast((dxhat * xhat).sum(axis=red), axis, x.ndim)
            )
        else:
            dx = dxhat * _bcast(inv, axis, x.ndim)
        return dx.astype(x.dtype, copy=False), dgamma, dbeta, None, None

    def lower(self, attrs, b, x, gamma, beta, mean, var):
        """Inference form: ONNX's own BatchNormalization (epsilon written out: ONNX's
        default is 1e-5, Keras's 1e-3), which normalises axis 1; the channels on another
        axis are moved there and back by Transposes (which cancel against a channels-last
        conv's), so runtimes can fuse it into the preceding Conv or Gemm."""
        eps = float(attrs.get("epsilon", 1e-3))
        # (momentum means nothing in inference; onnx's reference evaluator fills in its
        # default at opsets 9-13 anyway: onnx_reference.EXCLUDED)
        norm = {"epsilon": eps, "momentum": float(attrs.get("momentum", 0.99))}
        rank = len(b.in_types[0].shape)
        axis = int(attrs.get("axis", -1)) % max(rank, 1)
        if rank < 2:
            # (x - mean) * (gamma / sqrt(var + eps)) + beta, the parameters broadcasting.
            scale = b.op("Div", gamma, b.op("Sqrt", b.op("Add", var, b.scalar(eps))))
            return b.op("Add", b.op("Mul", b.op("Sub", x, mean), scale), beta), None, None
        if axis == 1:
            return b.op("BatchNormalization", x, gamma, beta, mean, var, **norm), None, None
        perm = [0, axis, *(i for i in range(1, rank) if i != axis)]
        if axis == 0:
            perm = [1, 0, *range(2, rank)]
        inverse = [perm.index(i) for i in range(rank)]
        xt = b.op("Transpose", x, perm=perm)
        y = b.op("BatchNormalization", xt, gamma, beta, mean, var, **norm)
        return b.op("Transpose", y, perm=inverse), None, None


def batch_norm(
    x,
    gamma,
    beta,
    moving_mean,
    moving_variance,
    axis=-1,
    momentum=0.99,
    epsilon=1e-3,
    inference=False,
):
    """Returns ``(y, batch_mean, batch_variance)``; see ``BatchNorm``. ``inference``:
    the moving statistics in every mode (Keras's ``training=False``)."""
    extra = {"phase": "inference"} if inference else {}
    return apply(
        "batch_norm",
        [x, gamma, beta, moving_mean, moving_variance],
        axis=int(axis),
        momentum=float(momentum),
        epsilon=float(epsilon),
        **extra,
    )
