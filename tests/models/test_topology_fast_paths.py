"""The one-pass paths of the layer topology give what the general walks give: Keras's
node order without the heap when the graph is in that order already, the layer order
from one walk of the layer calls, and a chain's orders without Keras's walk."""

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
    # chains of layers of several nodes, op layers, a layer reading one tensor twice, a
    # rank-3 Dense (matmul + add) and a model called as a layer
    inp = graphc.Input(shape=(3, 4))
    x = layers.Dense(4, activation="relu")(inp)
    x = layers.Dropout(0.5)(x * 2.0)
    x = layers.Add()([x, x])
    inner_in = graphc.Input(shape=(3, 4))
    inner = graphc.Model(inner_in, layers.Dense(4)(layers.LayerNormalization()(inner_in)))
    yield inp, layers.Flatten()(inner(x))
    # a layer called twice in a chain is no chain
    inp = graphc.Input(shape=(4,))
    twice = layers.Dense(4)
    yield inp, layers.Dense(2)(twice(twice(inp)))
    # shared layers, branches and a merge: calls out of recording order
    a, b = graphc.Input(shape=(4,)), graphc.Input(shape=(4,))
    shared = layers.Dense(4)
    bn = layers.BatchNormalization()
    left = bn(shared(a))
    right = bn(layers.Dense(4)(shared(b)))
    yield [a, b], layers.Add()([layers.Dense(4)(left), right])


def test_same_order_and_layers_as_the_general_walks(monkeypatch):
    chains = []
    for inputs, outputs in _models():
        fast = graphc.Model(inputs, outputs)
        chains.append(_topology._chain(fast.graph) is not None)
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
        assert [la.name for la in fast.operations] == [la.name for la in slow.operations]
    assert chains == [True, True, False, False]  # the chain path was taken where it holds


def _nodes(graph):
    graph.nodes = _topology.keras_node_order(graph)
    return graph.nodes
