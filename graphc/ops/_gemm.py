"""GEMM shapes that NumPy's BLAS runs slowly, reshaped into ones it runs fast.

Weight gradients are ``a.T @ b`` with a long reduction (every position of a batch: ``K``
in the thousands) and a small result (``M x N``: a kernel's size). OpenBLAS, as NumPy
ships it, runs that shape at a third of its speed on square products; the same product
cut into row blocks of ``_BLOCK`` and summed runs 2-3x faster (measured on the CNN's
and the LSTM's weight gradients: (7744 x 288).T @ (7744 x 64) in 23 -> 9.5 ms, (3200 x
96).T @ (3200 x 256) in 16 -> 5.3 ms). The sum changes only the order of float32
additions.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 128
# Below this many result elements a block's product is too small to pay for its call:
# one BLAS call is faster (e.g. a 3x3 kernel over one input channel, 9 x 32).
_MIN_RESULT = 4096


def matmul_tn(a, b, out=None):
    """``a.T @ b`` for ``a`` ``(K, M)`` and ``b`` ``(K, N)``, into ``out`` ``(M, N)``
    when given (C-contiguous, of the result's dtype)."""
    k = a.shape[0]
    if a.shape[1] * b.shape[1] < _MIN_RESULT or k <= 2 * _BLOCK:
        return np.matmul(a.T, b, out=out)
    out = np.matmul(a[:_BLOCK].T, b[:_BLOCK], out=out)
    part = np.empty_like(out)
    for start in range(_BLOCK, k, _BLOCK):
        np.matmul(a[start : start + _BLOCK].T, b[start : start + _BLOCK], out=part)
        out += part
    return out
