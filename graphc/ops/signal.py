"""Fourier transforms and framing, as ``keras.ops``: ``fft``, ``fft2``, ``ifft2``,
``rfft``, ``irfft``, ``stft``, ``istft`` and ``extract_sequences``.

graphc's tensors are real, so complex values travel as Keras's ``(real, imag)`` pairs.
``rfft`` (and so ``stft``) is an op of its own (``spectral.RealFFT``): NumPy's FFT,
``O(n log n)``. The others are products with constant DFT matrices (``matmul``), whose
cost is ``O(n^2)`` per transform, which suits the short signals models use. All work on
symbolic tensors, differentiate, and export to ONNX; the lengths must be static.

>>> import numpy as np
>>> from graphc import ops
>>> re, im = ops.rfft(np.float32([1, 0, 0, 0]))
>>> re.tolist(), im.tolist()
([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ArgumentValueError
from graphc.ops.arrays import take, transpose
from graphc.ops.elementary import _to_float
from graphc.ops.registry import apply
from graphc.ops.spectral import dft_matrices

__all__ = [
    "fft",
    "fft2",
    "ifft2",
    "rfft",
    "irfft",
    "stft",
    "istft",
    "extract_sequences",
]


def _dt(x) -> str:
    return str(np.dtype(x.dtype))


def _len(x, what) -> int:
    n = tuple(x.shape)[-1]
    if n is None:
        raise ArgumentValueError(f"{what} needs a static length along the last axis")
    return int(n)


def _pair(x, what):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ArgumentValueError(
            f"{what} takes a tuple of two tensors, (real, imag); received {type(x).__name__}"
        )
    re, im = _to_float(x[0]), _to_float(x[1])
    if tuple(re.shape) != tuple(im.shape):
        raise ArgumentValueError(
            f"{what}: real and imaginary parts differ in shape: {re.shape} and {im.shape}"
        )
    return re, im


def _mm(x, m):
    return apply("matmul", [x, m.astype(_dt(x))]) if len(x.shape) >= 2 else _vec_mm(x, m)


def _vec_mm(x, m):
    out = apply("matmul", [apply("reshape", [x], shape=(1, -1)), m.astype(_dt(x))])
    return apply("reshape", [out], shape=(m.shape[1],))


def _fit(x, n):
    """``x`` cut or zero-padded to length ``n`` along the last axis."""
    m = _len(x, "fft")
    if m == n:
        return x
    if m > n:
        return take(x, np.arange(n), axis=-1)
    from graphc.ops.padding import pad

    return pad(x, [(0, 0)] * (len(x.shape) - 1) + [(0, n - m)])


def _cfft(re, im, inverse=False):
    n = _len(re, "fft")
    C, S = dft_matrices(n, n, n)
    if inverse:
        r = apply("subtract", [_mm(re, C), _mm(im, S)])
        i = apply("add", [_mm(im, C), _mm(re, S)])
        return apply("divide", [r, float(n)]), apply("divide", [i, float(n)])
    return (
        apply("add", [_mm(re, C), _mm(im, S)]),
        apply("subtract", [_mm(im, C), _mm(re, S)]),
    )


def fft(x):
    """``keras.ops.fft``: the DFT along the last axis of ``(real, imag)``."""
    return _cfft(*_pair(x, "fft"))


def _swap(x):
    nd = len(x.shape)
    return transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _cfft2(re, im, inverse):
    if len(re.shape) < 2:
        raise ArgumentValueError(f"fft2 needs rank >= 2; received shape {tuple(re.shape)}")
    re, im = _cfft(re, im, inverse)
    re, im = _cfft(_swap(re), _swap(im), inverse)
    return _swap(re), _swap(im)


def fft2(x):
    """``keras.ops.fft2``: the 2-D DFT over the last two axes of ``(real, imag)``."""
    return _cfft2(*_pair(x, "fft2"), inverse=False)


def ifft2(x):
    """``keras.ops.ifft2``: the inverse 2-D DFT over the last two axes."""
    return _cfft2(*_pair(x, "ifft2"), inverse=True)


def rfft(x, fft_length=None):
    """``keras.ops.rfft``: the DFT of a real signal, ``fft_length // 2 + 1`` bins (the
    signal cut or zero-padded to ``fft_length``)."""
    x = _to_float(x)
    n = _len(x, "rfft") if fft_length is None else int(fft_length)
    return apply("rfft", [_fit(x, n)])


def irfft(x, fft_length=None):
    """``keras.ops.irfft``: the real signal of length ``fft_length`` (default
    ``2 * (bins - 1)``) whose ``rfft`` is ``(real, imag)``."""
    re, im = _pair(x, "irfft")
    bins = _len(re, "irfft")
    n = 2 * (bins - 1) if fft_length is None else int(fft_length)
    half = n // 2 + 1
    re, im = _fit(re, half), _fit(im, half)
    k = np.arange(half)
    w = np.where((k == 0) | ((n % 2 == 0) & (k == n // 2)), 1.0, 2.0)[:, None] / n
    C, S = dft_matrices(half, n, n)
    return apply("subtract", [_mm(re, w * C), _mm(im, w * S)])


def extract_sequences(x, sequence_length, sequence_stride):
    """``keras.ops.extract_sequences``: frames of ``sequence_length`` every
    ``sequence_stride`` along the last axis: ``(..., frames, sequence_length)``."""
    n = _len(x, "extract_sequences")
    length, stride = int(sequence_length), int(sequence_stride)
    frames = (n - (length - stride)) // stride
    if frames <= 0:
        raise ArgumentValueError(
            f"extract_sequences: a signal of length {n} has no frame of length {length}"
        )
    idx = np.arange(frames)[:, None] * stride + np.arange(length)[None, :]
    return take(x, idx.astype(np.int64), axis=-1)


def _window(window, sequence_length, fft_length, dtype):
    if window is None:
        win = np.ones(sequence_length)
    elif isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ArgumentValueError(
                f'window must be "hann", "hamming", an array or None; received {window!r}'
            )
        t = 2 * np.pi * np.arange(sequence_length) / sequence_length  # periodic
        win = 0.5 - 0.5 * np.cos(t) if window == "hann" else 0.54 - 0.46 * np.cos(t)
    else:
        win = np.asarray(window, dtype=np.float64)
        if win.shape != (sequence_length,):
            raise ArgumentValueError(
                f"the window's shape must be ({sequence_length},); received {win.shape}"
            )
    left = (fft_length - sequence_length) // 2
    return np.pad(win, (left, fft_length - sequence_length - left)).astype(dtype)


def _reflect(x, p):
    """``x`` padded by ``p`` on both sides of the last axis in NumPy's "reflect" mode."""
    n = _len(x, "stft")
    idx = np.abs(np.arange(-p, n + p))
    idx = np.where(idx >= n, 2 * (n - 1) - idx, idx)
    return take(x, idx.astype(np.int64), axis=-1)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """``keras.ops.stft``: ``(real, imag)`` of shape ``(..., frames, fft_length // 2 +
    1)``: the ``rfft`` of each windowed frame (``center`` pads the signal by reflection
    by ``fft_length // 2`` on both sides)."""
    if np.dtype(_dt(x)).kind != "f":
        raise ArgumentValueError(f"stft takes a float32 or float64 signal; received {_dt(x)}")
    if fft_length < sequence_length:
        raise ArgumentValueError(
            f"fft_length must be >= sequence_length; received sequence_length="
            f"{sequence_length}, fft_length={fft_length}"
        )
    if center:
        x = _reflect(x, fft_length // 2)
    frames = extract_sequences(x, fft_length, sequence_stride)
    win = _window(window, int(sequence_length), int(fft_length), _dt(x))
    return rfft(apply("multiply", [frames, win]), fft_length)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """``keras.ops.istft``: the signal whose ``stft`` is ``x = (real, imag)``: the
    inverse transforms of the frames, weighted by the window over its overlapped squares
    (TensorFlow's ``inverse_stft_window_fn``, as Keras), overlap-added and trimmed."""
    re, im = _pair(x, "istft")
    frames_n = tuple(re.shape)[-2]
    if frames_n is None:
        raise ArgumentValueError("istft needs a static number of frames")
    L, stride = int(fft_length), int(sequence_stride)
    frames = irfft((re, im), L)  # (..., F, L)
    if window is not None:
        win = _window(window, int(sequence_length), L, "float64")
        overlaps = -(-L // stride)
        denom = np.pad(win**2, (0, overlaps * stride - L)).reshape(overlaps, stride).sum(0)
        denom = np.tile(denom, overlaps)[:L]
        frames = apply("multiply", [frames, (win / denom).astype(_dt(re))])
    total = L + stride * (frames_n - 1)
    scatter = np.zeros((frames_n * L, total), dtype=_dt(re))
    for f in range(frames_n):
        scatter[f * L + np.arange(L), f * stride + np.arange(L)] = 1
    lead = tuple(-1 if d is None else d for d in tuple(re.shape)[:-2])
    flat = apply("reshape", [frames], shape=lead + (frames_n * L,))
    out = _mm(flat, scatter)
    start = L // 2 if center else 0
    if length is not None:
        end = start + int(length)
    elif center:
        end = total - L // 2
    else:
        end = total
    return take(out, np.arange(start, min(end, total)).astype(np.int64), axis=-1)
