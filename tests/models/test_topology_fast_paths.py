"""The one-pass paths of the layer topology give what the general walks give: Keras's
node order without the heap when the graph is in that order already, and the layer order
from one walk of the layer calls."""

from __future__ import annotations

import graphc
from graphc import layers
from graphc.models import _topology


def _models():
    inp = graphc.Input(shape=(4,))
    x = inp
    for _ in range(5):
        x = layers.Dense(4)(x)
    yield inp, x
    # shared layers, branches and a merge: calls out of recording order
    a, b = graphc.Input(shape=(4,)), graphc.Input(shape=(4,))
    shared = layers.Dense(4)
    bn = layers.BatchNormalization()
    left = bn(shared(a))
    right = bn(layers.Dense(4)(shared(b)))
    yield [a, b], layers.Add()([layers.Dense(4)(left), right])


def test_same_order_and_layers_as_the_general_walks(monkeypatch):
    for inputs, outputs in _models():
        fast = graphc.Model(inputs, outputs)
        monkeypatch.setattr(_topology, "_in_key_order", lambda keys: False)
        monkeypatch.setattr(
            _topology,
            "keras_order_and_layers",
            lambda g: (_nodes(g), _topology.ordered_layers(g)),
        )
        slow = graphc.Model(inputs, outputs)
        monkeypatch.undo()
        assert [n.op for n in fast.graph.nodes] == [n.op for n in slow.graph.nodes]
        assert [n.outputs[0].name for n in fast.graph.nodes] == [
            n.outputs[0].name for n in slow.graph.nodes
        ]
        assert [la.name for la in fast.layers] == [la.name for la in slow.layers]


def _nodes(graph):
    graph.nodes = _topology.keras_node_order(graph)
    return graph.nodes
