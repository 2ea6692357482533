"""keras.utils: the interactive-logging switch: progress bars and callback messages go to
stdout by default and to the ``"graphc"`` logger when disabled."""

from __future__ import annotations

import logging

import numpy as np

import graphc


def test_disabled_interactive_logging_goes_to_the_logger(capsys, caplog):
    model = graphc.Sequential([graphc.layers.Input((2,)), graphc.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 2), "float32")
    assert graphc.utils.is_interactive_logging_enabled()
    graphc.utils.disable_interactive_logging()
    try:
        assert not graphc.utils.is_interactive_logging_enabled()
        with caplog.at_level(logging.INFO, logger="graphc"):
            model.fit(x, x[:, :1], epochs=1, verbose=2)
        assert capsys.readouterr().out == ""
        assert any("loss" in r.getMessage() for r in caplog.records)
    finally:
        graphc.utils.enable_interactive_logging()
    model.fit(x, x[:, :1], epochs=1, verbose=2)
    assert "loss" in capsys.readouterr().out


def test_sparsemax_activation_by_name():
    f = graphc.activations.get("sparsemax")
    out = f(np.array([[1.0, 2.0, 0.1]], "float32"))
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-6)
    assert out[0, 2] == 0.0


def test_get_source_inputs_finds_the_inputs_in_order():
    a = graphc.layers.Input((3,), name="src_a")
    b = graphc.layers.Input((3,), name="src_b")
    y = graphc.layers.Dense(2)(graphc.layers.Add()([a, b]))
    assert graphc.utils.get_source_inputs(y) == [a, b]
    assert graphc.utils.get_source_inputs(a) == [a]
