"""TimeDistributed and InputSpec against Keras 3 (torch backend)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import assert_onnx_matches, pair  # noqa: E402

import graphc  # noqa: E402

R = np.random.default_rng(0)


@pytest.mark.parametrize(
    "inner,shape",
    [
        (lambda lib: lib.layers.Dense(4, activation="relu"), (5, 3)),
        (lambda lib: lib.layers.Conv2D(2, 3), (4, 6, 6, 1)),
    ],
    ids=["dense", "conv2d"],
)
def test_time_distributed_matches_keras(inner, shape):
    def build(lib):
        inp = lib.layers.Input(shape)
        return lib.Model(inp, lib.layers.TimeDistributed(inner(lib))(inp))

    k, g = pair(build)
    x = R.standard_normal((3,) + shape).astype("float32")
    np.testing.assert_allclose(
        g.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
    assert g.output_shape == tuple(k.output_shape)
    config = g.layers[-1].get_config()
    assert config["layer"]["class_name"] == k.layers[-1].get_config()["layer"]["class_name"]
    clone = graphc.layers.TimeDistributed.from_config(config)
    assert type(clone.layer) is type(g.layers[-1].layer)
    for m in (k, g):
        m.compile(optimizer="sgd", loss="mse")
    y = np.zeros(g.output_shape[1:], "float32")[None].repeat(3, 0)
    np.testing.assert_allclose(
        g.fit(x, y, epochs=2, verbose=0).history["loss"],
        k.fit(x, y, epochs=2, verbose=0).history["loss"],
        rtol=1e-4,
    )
    assert_onnx_matches(g, [x])


def test_input_spec_checks_calls_like_keras():
    class Needs3D(graphc.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.input_spec = graphc.InputSpec(ndim=3, axes={-1: 4})

        def call(self, x):
            return x * 2.0

    layer = Needs3D(name="needs")
    assert layer(graphc.layers.Input((5, 4))).shape == (None, 5, 4)
    with pytest.raises(
        ValueError, match='Input 0 of layer "needs" is incompatible.*expected ndim=3'
    ):
        layer(graphc.layers.Input((4,)))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        layer(np.zeros((2, 5, 3), "float32"))
    spec = graphc.layers.InputSpec(shape=(None, 3), dtype="float32")
    k_spec = keras.InputSpec(shape=(None, 3), dtype="float32")
    assert spec.get_config() == {**k_spec.get_config(), "axes": {}} or spec.ndim == k_spec.ndim
    assert repr(graphc.InputSpec(ndim=2)) == "InputSpec(ndim=2)"
