"""``graphc.ops.elementwise.relu`` (the ReLU kernel and the compiled plans' inline step)
compares with an array of zeros instead of the scalar 0, NumPy's fast loop: the result
must be ``np.maximum(x, 0)`` bit for bit."""

import numpy as np
import pytest

from graphc.ops import elementwise
from graphc.ops.elementwise import relu


def _special(n, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(n).astype(dtype)
    x[::7] = -0.0
    x[::11] = 0.0
    x[::13] = np.nan  # (x[13] gets the other sign below)
    x[::17] = np.inf
    x[::19] = -np.inf
    x[::23] = np.finfo(dtype).tiny / 4  # subnormal
    x[::29] = -np.finfo(dtype).tiny / 4
    x[13:14] = -x[13:14]  # a NaN of the other sign
    return x


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 5, 1023, 1024, 70_000])
def test_relu_is_np_maximum_bit_for_bit(dtype, n):
    x = _special(n, dtype)
    want = np.maximum(x, 0)
    got = relu(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def test_relu_shapes_views_and_out():
    x = _special(256 * 1024, np.float32).reshape(256, 1024)
    for v in (x, x.T, x[::2, 1::3], x[:, :10]):
        assert relu(v).tobytes() == np.maximum(v, 0).tobytes()
    y = x.copy()
    r = relu(y, out=y)  # in place, as the compiled forward pass writes it
    assert r is y and y.tobytes() == np.maximum(x, 0).tobytes()
    assert relu(np.float32(-2.0)) == 0 and relu(np.array(-3.0, np.float32)) == 0


def test_relu_leaves_its_zeros_alone_and_falls_back_beyond_them():
    big = _special(elementwise._RELU_MAX + 3, np.float32)  # above the cap: the scalar form
    assert relu(big).tobytes() == np.maximum(big, 0).tobytes()
    ints = np.arange(-5000, 5000)
    assert relu(ints).tobytes() == np.maximum(ints, 0).tobytes()
    relu(np.ones(2048, np.float32))
    z = elementwise._zeros[np.dtype(np.float32)]
    assert not z.flags.writeable and not z.any()
