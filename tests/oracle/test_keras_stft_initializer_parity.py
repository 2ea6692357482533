"""keras.initializers.STFT against Keras 3 (whose string windows need SciPy: the
comparison passes Keras the window as an array, NumPy's, which is SciPy's)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402

CASES = [
    ({}, {"window": np.hanning(16)}),
    ({"side": "imag"}, {"side": "imag", "window": np.hanning(16)}),
    (
        {"window": "hamming", "periodic": True, "scaling": "spectrum"},
        {"window": np.hamming(17)[:-1], "scaling": "spectrum"},
    ),
    ({"window": None}, {"window": None}),
    ({"window": "boxcar", "scaling": None}, {"window": np.ones(16), "scaling": None}),
]


@pytest.mark.parametrize("g_kwargs,k_kwargs", CASES)
def test_stft_kernel_matches_keras(g_kwargs, k_kwargs):
    want = keras.ops.convert_to_numpy(keras.initializers.STFT(**k_kwargs)((16, 1, 9)))
    got = graphc.initializers.STFT(**g_kwargs)((16, 1, 9))
    np.testing.assert_allclose(got, want, atol=1e-5)  # Keras computes in float32
    assert graphc.initializers.get("stft").__class__ is graphc.initializers.STFTInitializer
    config = graphc.initializers.STFT(**g_kwargs).get_config()
    assert set(config) == set(keras.initializers.STFT(window=None).get_config())
