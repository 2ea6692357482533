"""Weights' names as Keras 3 gives them: ``Variable.name`` is the weight's own name
(``kernel``), ``Variable.path`` adds its layer's (``dense/kernel``). graphc's unique name
in the IR (``dense/kernel_1`` for a second layer ``dense`` in the process) is
``ir_name``."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402


def _model(lib):
    inputs = lib.Input(shape=(8, 8, 3))
    x = lib.layers.Conv2D(4, 3, name="conv")(inputs)
    x = lib.layers.BatchNormalization(name="norm")(x)
    x = lib.layers.Flatten()(x)
    x = lib.layers.Dense(5, name="hidden")(x)
    return lib.Model(inputs, lib.layers.Dense(2, use_bias=False, name="out")(x))


def test_weight_names_and_paths_are_keras_ones():
    k, g = _model(keras), _model(graphc)
    assert [w.name for w in g.weights] == [w.name for w in k.weights]
    assert [w.path for w in g.weights] == [w.path for w in k.weights]
    assert [w.name for w in g.weights][:2] == ["kernel", "bias"]


def test_the_ir_keeps_a_unique_name_beside_keras_short_one():
    first, second = _model(graphc), _model(graphc)  # two layers named "hidden"
    a = first.get_layer("hidden").kernel
    b = second.get_layer("hidden").kernel
    assert a.name == b.name == "kernel" and a.path == b.path == "hidden/kernel"
    assert a.ir_name != b.ir_name and b.ir_name.startswith("hidden/kernel")
    assert f"param %{b.ir_name}:" in str(second.graph)
