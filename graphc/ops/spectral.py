"""Spectral ops: ``dft``, ONNX's ``DFT`` on real tensors whose last axis holds one (real)
or two (real, imaginary) components.

The kernel is NumPy's FFT in complex128, as onnx's reference computes it; the transform is
linear, so the VJP applies the transposed real matrix of the 1-D transform (built by
transforming the basis vectors).

>>> import numpy as np
>>> from graphc.ops.registry import get_op
>>> x = np.array([[1.0], [0.0], [0.0], [0.0]], "float32")[None]
>>> get_op("dft").run({"axis": 1}, [x])[0, :, 0]
array([1., 1., 1., 1.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op

__all__: list[str] = []


def _length(attrs, size):
    n = attrs.get("dft_length")
    if n is not None:
        return int(n)
    if attrs.get("inverse") and attrs.get("onesided"):
        return 2 * (size - 1)
    return size


def _dft(attrs, x, axis):
    """ONNX DFT of ``x`` (last axis: 1 or 2 components) along ``axis``."""
    n = _length(attrs, x.shape[axis])
    if x.shape[-1] == 1:
        signal = x[..., 0].astype(np.complex128)
    else:
        signal = x[..., 0] + 1j * x[..., 1]
    if attrs.get("inverse"):
        if attrs.get("onesided"):
            return np.fft.irfft(signal, n=n, axis=axis)[..., None]
        z = np.fft.ifft(signal, n=n, axis=axis)
    else:
        z = np.fft.fft(signal, n=n, axis=axis)
        if attrs.get("onesided"):
            z = np.take(z, np.arange(n // 2 + 1), axis=axis)
    return np.stack([z.real, z.imag], axis=-1)


class DFT(Op):
    """ONNX's ``DFT`` with a static ``axis`` (of the signal, not the component axis),
    ``inverse``, ``onesided`` and ``dft_length`` (None: the axis's size)."""

    name = "dft"
    vjp_reads_inputs, vjp_reads_outputs = True, False

    def infer(self, attrs, x):
        rank = len(x.shape)
        axis = int(attrs.get("axis", 1))
        if not x.dtype.startswith("float") or rank < 2 or x.shape[-1] not in (1, 2, None):
            raise ShapeError(
                f"expected a float tensor whose last axis has 1 or 2 components, got "
                f"{format_shape(x.shape)} {x.dtype}"
            )
        if not 0 <= axis < rank - 1:
            raise ShapeError(f"axis {axis} must name a signal axis of a rank-{rank} input")
        if attrs.get("onesided") and not attrs.get("inverse") and x.shape[-1] == 2:
            raise ShapeError("a one-sided (forward) DFT takes a real input (one component)")
        shape = list(x.shape)
        size = shape[axis]
        n = None if size is None and attrs.get("dft_length") is None else _length(attrs, size)
        if attrs.get("inverse") and attrs.get("onesided"):
            shape[axis], shape[-1] = n, 1
        else:
            shape[axis] = n if n is None or not attrs.get("onesided") else n // 2 + 1
            shape[-1] = 2
        return TensorType(tuple(shape), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return _dft(attrs, x, int(attrs.get("axis", 1))).astype(x.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, g = xs[0], gys[0]
        axis = int(attrs.get("axis", 1))
        size, parts = x.shape[axis], x.shape[-1]
        basis = np.eye(size * parts).reshape(size * parts, size, parts)
        a = _dft(attrs, basis, 1)  # (size * parts, out_len, out_parts): the real matrix
        a = a.reshape(size, parts, *a.shape[1:])
        gm = np.moveaxis(g, axis, -2)  # (..., out_len, out_parts)
        gx = np.tensordot(gm, a, axes=([-2, -1], [2, 3]))  # (..., size, parts)
        return (np.moveaxis(gx, -2, axis).astype(x.dtype),)

    def lower(self, attrs, b, x):
        if b.opset < 17:
            raise NotImplementedError(f"dft exports as ONNX DFT (opset 17 or newer), not {b.opset}")
        axis = int(attrs.get("axis", 1))
        flags = {
            "inverse": int(bool(attrs.get("inverse"))),
            "onesided": int(bool(attrs.get("onesided"))),
        }
        n = attrs.get("dft_length")
        length = "" if n is None else b.const(np.asarray(int(n), dtype=np.int64))
        if b.opset >= 20:
            ins = [x, length, b.const(np.asarray(axis, dtype=np.int64))]
            return b.op("DFT", *ins, **flags)
        ins = [x] + ([length] if length else [])
        return b.op("DFT", *ins, axis=axis, **flags)


def dft_matrices(n_in: int, n_out: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``cos`` and ``sin`` of ``2 pi k t / n`` for ``t < n_in``, ``k < n_out`` (float64)."""
    k = np.arange(n_in)[:, None] * np.arange(n_out)[None, :]
    ang = 2 * np.pi * (k % n) / n
    return np.cos(ang), np.sin(ang)


class RealFFT(Op):
    """``keras.ops.rfft`` along the last axis, whose length ``n`` is the transform's:
    outputs ``(real, imag)`` of the ``n // 2 + 1`` bins. The kernel is NumPy's FFT
    (``O(n log n)``); the gradient is ``n * Re(ifft(g))``, the adjoint; the export is the
    product with the constant DFT matrices (``MatMul``, every opset)."""

    name = "rfft"
    n_outputs = 2
    vjp_reads_inputs, vjp_reads_outputs = True, False  # x: the length n and the dtype

    def infer(self, attrs, x):
        if not x.dtype.startswith("float") or len(x.shape) < 1 or x.shape[-1] is None:
            raise ShapeError(
                f"rfft takes a float tensor with a static last axis, got "
                f"{format_shape(x.shape)} {x.dtype}"
            )
        shape = tuple(x.shape[:-1]) + (x.shape[-1] // 2 + 1,)
        return TensorType(shape, x.dtype), TensorType(shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        z = np.fft.rfft(x.astype(np.float64, copy=False), axis=-1)
        return z.real.astype(x.dtype), z.imag.astype(x.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        n = x.shape[-1]
        g_re, g_im = (0.0 if g is None else g.astype(np.float64) for g in gys)
        gx = np.fft.ifft(g_re + 1j * g_im, n=n, axis=-1).real * n
        return (gx.astype(x.dtype),)

    def lower(self, attrs, b, x):
        n = b.in_types[0].shape[-1]
        dtype = np.dtype(b.in_types[0].dtype)
        c, s = dft_matrices(n, n // 2 + 1, n)
        return b.op("MatMul", x, b.const(c.astype(dtype))), b.op(
            "MatMul", x, b.const((-s).astype(dtype))
        )
