"""Merge layers against Keras 3 itself: same builder code, weights copied, same outputs
and the same training losses."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
# slow: the tests here train models, most in both libraries (Keras on torch steps slowly)
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

from oracle_harness import assert_trains_alike, compile_both, pair  # noqa: E402


def two_towers(lib):
    a = lib.Input(shape=(4,))
    b = lib.Input(shape=(6,))
    x = lib.layers.concatenate(
        [lib.layers.Dense(8, activation="relu")(a), lib.layers.Dense(8, activation="tanh")(b)]
    )
    s = lib.layers.add([lib.layers.Dense(3)(x), lib.layers.Dense(3)(x)])
    m = lib.layers.multiply([s, lib.layers.Dense(3, activation="sigmoid")(x)])
    avg = lib.layers.average([m, lib.layers.maximum([s, m]), lib.layers.minimum([s, m])])
    out = lib.layers.subtract([avg, lib.layers.Dense(3)(b)])
    return lib.Model([a, b], out)


def test_merge_layers_match_keras():
    k_model, g_model = pair(two_towers, shapes=False)
    rng = np.random.default_rng(0)
    xs = [
        rng.standard_normal((64, 4)).astype("float32"),
        rng.standard_normal((64, 6)).astype("float32"),
    ]
    y = rng.standard_normal((64, 3)).astype("float32")
    np.testing.assert_allclose(
        g_model.predict(xs, verbose=0), k_model.predict(xs, verbose=0), rtol=1e-5, atol=1e-6
    )
    compile_both(k_model, g_model, lambda lib: lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(k_model, g_model, xs, y, epochs=3, batch_size=16)
