"""Layer-level view of a graph: layer calls, their depth, Keras's layer order, and the
"Connected to" column. Everything is derived from node scopes."""

from __future__ import annotations

from graphc.ir import Graph
from graphc.layers.base import is_mask_value


class LayerCall:
    """One call of a top-level layer inside a graph (an input layer counts as a call)."""

    __slots__ = ("layer", "index", "inputs", "outputs", "last")

    def __init__(self, layer, index):
        self.layer, self.index = layer, index
        self.inputs: list = []  # values read from outside the call, first-use order
        self.outputs: list = []  # values produced by the call and read outside it
        self.last = -1  # position of the call's last node in graph order


def layer_calls(graph: Graph):
    """The graph's layer calls in graph order, and the call producing each value."""
    calls: dict = {}
    producer_call: dict = {}
    for v in graph.inputs:
        call = calls.setdefault((id(v.layer), 0), LayerCall(v.layer, 0))
        call.outputs.append(v)
        producer_call[v] = call
    for pos, node in enumerate(graph.nodes):
        scope = node.scope
        layer, index = scope[0] if scope else (None, 0)  # node.top
        call = calls.get((id(layer), index))
        if call is None:
            call = calls[(id(layer), index)] = LayerCall(layer, index)
        call.last = pos
        for v in node.inputs:
            if is_mask_value(v):
                continue  # a mask travels with its tensor: no edge of its own, as in Keras
            src = producer_call.get(v)
            if src is not None and src is not call and v not in call.inputs:
                call.inputs.append(v)
        for v in node.outputs:
            producer_call[v] = call
    # A call's inputs in the order the layer was called with (Keras's order, which the
    # layer order and so the weight order follow), not the order its ops read them.
    for call in calls.values():
        if len(call.inputs) > 1 and call.layer is not None and call.index < len(call.layer._calls):
            args = call.layer._call_tensors(call.index)
            rank = {id(v): i for i, v in reversed(list(enumerate(args)))}
            call.inputs.sort(key=lambda v: rank.get(id(v), len(args)))
    # A call's outputs: what other calls or the graph outputs read.
    for call in calls.values():
        for v in call.inputs:
            src = producer_call[v]
            if v not in src.outputs:
                src.outputs.append(v)
    for v in graph.outputs:
        src = producer_call.get(v)
        if src is not None and v not in src.outputs:
            src.outputs.append(v)
    return list(calls.values()), producer_call


def ordered_layers(graph: Graph) -> list:
    """Keras's ``model.layers`` order: by decreasing depth (longest path to an output, in
    layer calls), ties in traversal order (pre-order from the outputs)."""
    calls, producer_call = layer_calls(graph)
    # Depth, from the outputs back (reverse graph order), as keras.src.ops.function does.
    call_depth: dict = {}
    layer_depth: dict = {}
    for call in sorted(calls, key=lambda c: c.last, reverse=True):
        d = max(call_depth.get(call, 0), layer_depth.get(id(call.layer), 0))
        call_depth[call] = d
        layer_depth[id(call.layer)] = d
        for v in call.inputs:
            parent = producer_call[v]
            call_depth[parent] = max(call_depth.get(parent, 0), d + 1)
    # Traversal order: depth-first pre-order from the outputs, inputs left to right.
    index: dict = {}
    stack = [producer_call[v] for v in reversed(graph.outputs) if v in producer_call]
    visited = set()
    while stack:
        call = stack.pop()
        if call in visited:
            continue
        visited.add(call)
        index.setdefault(id(call.layer), len(index))
        stack.extend(producer_call[v] for v in reversed(call.inputs))
    layers, seen = [], set()
    for call in calls:
        if id(call.layer) not in seen:
            seen.add(id(call.layer))
            layers.append(call.layer)
    # An input no output reaches has depth 0 and index -1, as in Keras.
    return sorted(
        layers, key=lambda layer: (-layer_depth.get(id(layer), 0), index.get(id(layer), -1))
    )
