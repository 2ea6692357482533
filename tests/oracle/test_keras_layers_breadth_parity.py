"""The layers of issue 9's second batch against Keras 3 (torch backend): 3-D pooling and
convolution, adaptive pooling, ActivityRegularization: the same outputs with Keras's
weights, the same configs, and (through tests/layers/harness.check_layer) shapes,
parameters, config round trips and eager/model agreement."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import assert_onnx_matches, pair  # noqa: E402

import graphc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers"))
from harness import check_layer  # noqa: E402

R = np.random.default_rng(0)

CASES = [
    # name, kwargs, input shape (no batch)
    ("MaxPooling3D", {"pool_size": 2}, (6, 6, 6, 3)),
    # (same padding with mixed odd/even pool sizes: Keras's torch backend pads differently
    # from TensorFlow's rule, which graphc follows; uniform sizes agree)
    ("AveragePooling3D", {"pool_size": (2, 2, 2), "strides": 1, "padding": "same"}, (6, 5, 4, 2)),
    ("MaxPool3D", {"pool_size": 3, "strides": 2, "data_format": "channels_first"}, (2, 7, 7, 7)),
    ("AvgPool3D", {"pool_size": 2}, (4, 4, 4, 1)),
    ("GlobalMaxPooling3D", {}, (3, 4, 5, 2)),
    ("GlobalAveragePooling3D", {"keepdims": True}, (3, 4, 5, 2)),
    ("GlobalMaxPool3D", {"data_format": "channels_first"}, (2, 3, 4, 5)),
    ("GlobalAvgPool3D", {}, (3, 4, 5, 2)),
    ("AdaptiveAveragePooling1D", {"output_size": 4}, (10, 3)),
    ("AdaptiveAveragePooling2D", {"output_size": (3, 4)}, (7, 9, 2)),
    ("AdaptiveAveragePooling3D", {"output_size": 2}, (5, 4, 3, 2)),
    ("AdaptiveMaxPooling1D", {"output_size": 3, "data_format": "channels_first"}, (2, 10)),
    ("AdaptiveMaxPooling2D", {"output_size": 2}, (7, 5, 3)),
    ("AdaptiveMaxPooling3D", {"output_size": (2, 3, 2)}, (5, 6, 4, 1)),
    ("Conv3D", {"filters": 4, "kernel_size": 2}, (5, 5, 5, 3)),
    (
        "Conv3D",
        {
            "filters": 2,
            "kernel_size": (3, 1, 2),
            "strides": 2,
            "padding": "same",
            "activation": "relu",
        },
        (6, 5, 4, 2),
    ),
    (
        "Convolution3D",
        {"filters": 3, "kernel_size": 2, "dilation_rate": 2, "use_bias": False},
        (6, 6, 6, 1),
    ),
    ("ActivityRegularization", {"l1": 0.01, "l2": 0.1}, (4,)),
]


def _build(lib, name, kwargs, shape):
    inp = lib.layers.Input(shape)
    return lib.Model(inp, getattr(lib.layers, name)(**kwargs)(inp))


@pytest.mark.parametrize(
    "name,kwargs,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_layer_matches_keras(name, kwargs, shape):
    k, g = pair(lambda lib: _build(lib, name, kwargs, shape))
    x = R.standard_normal((2,) + shape).astype("float32")
    np.testing.assert_allclose(
        g.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
    k_config = k.layers[-1].get_config()
    g_config = g.layers[-1].get_config()
    for key in set(k_config) - {"name", "dtype"}:
        want, got = k_config[key], g_config[key]
        if isinstance(want, dict):  # initializers
            assert got["class_name"] == want["class_name"], key
        else:
            assert got == want or list(got) == list(want), key
    layer = getattr(graphc.layers, name)
    want_shape = tuple(k.output_shape)
    check_layer(layer, kwargs, (None,) + shape, want_shape, int(k.count_params()))


def test_conv3d_exports_to_onnx():
    g = _build(graphc, "Conv3D", {"filters": 2, "kernel_size": 2}, (4, 4, 4, 1))
    assert_onnx_matches(g, [R.standard_normal((2, 4, 4, 4, 1)).astype("float32")])


def test_activity_regularization_adds_keras_penalty():
    k, g = pair(lambda lib: _build(lib, "ActivityRegularization", {"l1": 0.01, "l2": 0.1}, (4,)))
    x = R.standard_normal((8, 4)).astype("float32")
    y = np.zeros((8, 4), "float32")
    for m in (k, g):
        m.compile(optimizer="sgd", loss="mse")
    np.testing.assert_allclose(g.evaluate(x, y, verbose=0), k.evaluate(x, y, verbose=0), rtol=1e-5)
