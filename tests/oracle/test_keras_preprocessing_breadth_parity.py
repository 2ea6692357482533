"""GroupNormalization, Resizing, CenterCrop, CategoryEncoding and Discretization
against Keras 3 (torch backend): outputs with Keras's weights, configs, and the layer
harness's checks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import pair  # noqa: E402

import graphc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers"))
from harness import check_layer  # noqa: E402

R = np.random.default_rng(0)
IDS = R.integers(0, 5, (4, 3)).astype("int32")

CASES = [
    # name, kwargs, input shape (no batch), input maker
    ("GroupNormalization", {"groups": 2}, (5, 4), None),
    ("GroupNormalization", {"groups": 3, "axis": 1}, (6, 4, 2), None),
    ("GroupNormalization", {"groups": -1, "center": False}, (3, 3, 4), None),
    ("Resizing", {"height": 4, "width": 6}, (7, 9, 3), None),
    (
        "Resizing",
        {"height": 5, "width": 5, "interpolation": "nearest", "crop_to_aspect_ratio": True},
        (7, 9, 3),
        None,
    ),
    ("CenterCrop", {"height": 4, "width": 5}, (7, 9, 3), None),
    ("CenterCrop", {"height": 8, "width": 8}, (7, 9, 3), None),
    ("CategoryEncoding", {"num_tokens": 5}, (3,), IDS),
    ("CategoryEncoding", {"num_tokens": 5, "output_mode": "count"}, (3,), IDS),
    ("CategoryEncoding", {"num_tokens": 5, "output_mode": "one_hot"}, (1,), IDS[:, :1]),
    ("Discretization", {"bin_boundaries": [-0.5, 0.0, 0.7]}, (4,), None),
    ("Discretization", {"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"}, (1,), None),
    ("Discretization", {"bin_boundaries": [0.0, 0.5], "output_mode": "multi_hot"}, (4,), None),
]


def _build(lib, name, kwargs, shape, ints):
    inp = lib.layers.Input(shape, dtype="int32" if ints is not None else "float32")
    return lib.Model(inp, getattr(lib.layers, name)(**kwargs)(inp))


@pytest.mark.parametrize(
    "name,kwargs,shape,data", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_layer_matches_keras(name, kwargs, shape, data):
    k, g = pair(lambda lib: _build(lib, name, kwargs, shape, data))
    x = data if data is not None else R.standard_normal((4,) + shape).astype("float32")
    np.testing.assert_allclose(
        g.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
    k_config, g_config = k.layers[-1].get_config(), g.layers[-1].get_config()
    for key in set(k_config) - {"name", "dtype", "trainable"}:
        want, got = k_config[key], g_config.get(key)
        if isinstance(want, dict):
            assert got["class_name"] == want["class_name"], key
        else:
            assert got == want or list(got) == list(want), key
    int_output = name == "Discretization" and kwargs.get("output_mode", "int") == "int"
    if data is None and not int_output:  # (the harness checks float outputs)
        check_layer(
            getattr(graphc.layers, name), kwargs, (None,) + shape, tuple(k.output_shape),
            int(k.count_params()),
        )  # fmt: skip


def test_discretization_adapt_sets_quantile_boundaries():
    data = np.arange(100, dtype="float32")
    layer = graphc.layers.Discretization(num_bins=4)
    layer.adapt(data)
    np.testing.assert_allclose(layer.bin_boundaries, np.quantile(data, [0.25, 0.5, 0.75]))
    np.testing.assert_array_equal(layer(np.float32([[0, 30, 60, 99]])), [[0, 1, 2, 3]])
