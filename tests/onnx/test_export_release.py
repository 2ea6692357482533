"""The export frees the graph it cloned by reference counting (``_release``), leaving
the model's own graph as it was."""

from __future__ import annotations

import gc
import weakref

import pytest

pytest.importorskip("onnx")

import graphc  # noqa: E402
import graphc.onnx  # noqa: E402
from graphc import layers  # noqa: E402
from graphc.ir import Graph  # noqa: E402


def test_the_clone_is_freed_without_the_collector_and_the_model_is_untouched(monkeypatch):
    x = graphc.Input(shape=(4,))
    model = graphc.Model(x, layers.Dense(2)(layers.Dense(3, activation="relu")(x)))
    first = graphc.onnx.export(model).SerializeToString()
    clones = []
    clone = Graph.clone

    def watched(self):
        g = clone(self)
        clones.append([weakref.ref(n) for n in g.nodes])
        return g

    monkeypatch.setattr(Graph, "clone", watched)
    enabled = gc.isenabled()
    gc.disable()
    try:
        again = graphc.onnx.export(model).SerializeToString()
        assert clones and all(ref() is None for ref in clones[0])
    finally:
        if enabled:
            gc.enable()
    assert again == first
    model.graph.lint()
    assert all(v.producer is n for n in model.graph.nodes for v in n.outputs)
