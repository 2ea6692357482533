"""Layer-level view of a graph: layer calls, their depth, Keras's layer order, and the
"Connected to" column. Everything is derived from node scopes."""

from __future__ import annotations

import itertools
import operator
import weakref

from graphc.ir import Graph
from graphc.layers.base import is_mask_value
from graphc.recording import any_mask_values


class LayerCall:
    """One call of a top-level layer inside a graph (an input layer counts as a call)."""

    __slots__ = ("layer", "index", "inputs", "outputs", "last")

    def __init__(self, layer, index):
        self.layer, self.index = layer, index
        self.inputs: list = []  # values read from outside the call, first-use order
        self.outputs: list = []  # values produced by the call and read outside it
        self.last = -1  # position of the call's last node in graph order


#: graph -> (its node list, inputs, outputs, whether masks existed, layer_calls' result):
#: a model's graph is walked for its layer calls when it is built, and again by its
#: summary and its files; a model's graph is read, never edited (passes edit clones).
_CALLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _calls_key(graph: Graph) -> tuple | None:
    if graph._edit is not None:
        return None
    return (graph._nodes, len(graph._nodes), tuple(graph.inputs), tuple(graph.outputs))


def layer_calls(graph: Graph):
    """The graph's layer calls in graph order, and the call producing each value (made
    once per graph while its node list is the same, unedited: callers only read them)."""
    key = _calls_key(graph)
    masks = any_mask_values()
    if key is not None:
        done = _CALLS.get(graph)
        if done is not None and done[0] == masks and _same_key(done[1], key):
            return done[2]
    result = _layer_calls(graph)
    key = _calls_key(graph)
    if key is not None:
        _CALLS[graph] = (masks, key, result)
    return result


def _same_key(a: tuple, b: tuple) -> bool:
    return a[0] is b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]


class ProducerCalls(dict):
    """The layer call producing each value: ``producer_call[v]``, ``.get(v)``, ``v in
    producer_call``. Keyed inside by the values' ids (unique), so that filling it and
    reading it here make no ``Value.__hash__`` call (a Python call) per value; index it
    by value (its keys are ids)."""

    __slots__ = ()

    def __getitem__(self, v):
        try:
            return dict.__getitem__(self, v._id)
        except KeyError:
            raise KeyError(v) from None

    def get(self, v, default=None):
        return dict.get(self, v._id, default)

    def __contains__(self, v):
        return dict.__contains__(self, v._id)


def _layer_calls(graph: Graph):
    calls: dict = {}
    producer_call = ProducerCalls()
    by_id = dict.get.__get__(producer_call)  # producer_call.get(v) is by_id(v._id)
    put = dict.__setitem__.__get__(producer_call)  # producer_call[v] = c is put(v._id, c)
    for v in graph.inputs:
        call = calls.setdefault((id(v.layer), 0), LayerCall(v.layer, 0))
        call.outputs.append(v)
        put(v._id, call)
    masks = any_mask_values()  # else no value is a mask: skip the test per input
    entry = call = None
    for pos, node in enumerate(graph.nodes):
        scope = node.scope
        top = scope[0] if scope else (None, 0)  # node.top
        if top is not entry:  # the nodes of one layer call share their scope's entry
            entry = top
            layer, index = top
            call = calls.get((id(layer), index))
            if call is None:
                call = calls[(id(layer), index)] = LayerCall(layer, index)
        call.last = pos
        for v in node.inputs:
            if masks and is_mask_value(v):
                continue  # a mask travels with its tensor: no edge of its own, as in Keras
            src = by_id(v._id)
            if src is not None and src is not call and v not in call.inputs:
                call.inputs.append(v)
        for v in node.outputs:
            put(v._id, call)
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
            src = by_id(v._id)
            if v not in src.outputs:
                src.outputs.append(v)
    for v in graph.outputs:
        src = producer_call.get(v)
        if src is not None and v not in src.outputs:
            src.outputs.append(v)
    return list(calls.values()), producer_call


def _keras_map(graph: Graph):
    """``keras.src.ops.function.map_graph`` over layer calls: the calls in Keras's
    post-order (``_build_map``: depth-first from each output in turn, inputs left to
    right), each call's depth and each layer's, and each layer's traversal index.

    Depths are computed as Keras computes them, walking the post-order backwards; a
    shared layer takes the largest depth seen so far, so the result depends on that walk
    and not only on the graph (which is why graph order will not do)."""
    calls, producer_call = layer_calls(graph)
    by_id = dict.__getitem__.__get__(producer_call)  # producer_call[v] is by_id(v._id)
    post: list = []
    finished: set = set()
    in_progress: set = set()
    index: dict = {}
    for out in graph.outputs:
        root = producer_call.get(out)
        if root is None or root in finished:
            continue
        # iterative form of _build_map_helper: (call, iterator over its inputs)
        stack = [(root, iter(root.inputs))]
        in_progress.add(root)
        index.setdefault(id(root.layer), len(index))
        while stack:
            call, rest = stack[-1]
            for v in rest:
                parent = by_id(v._id)
                if parent not in finished and parent not in in_progress:
                    index.setdefault(id(parent.layer), len(index))
                    in_progress.add(parent)
                    stack.append((parent, iter(parent.inputs)))
                    break
            else:
                stack.pop()
                in_progress.discard(call)
                finished.add(call)
                post.append(call)
    call_depth: dict = {}  # insertion order is Keras's nodes_by_depth order
    layer_depth: dict = {}
    for call in reversed(post):
        d = call_depth.setdefault(call, 0)
        key = id(call.layer)
        shared = layer_depth.get(key, 0)
        if shared > d:
            d = call_depth[call] = shared
        layer_depth[key] = d
        for v in call.inputs:
            parent = by_id(v._id)
            if call_depth.get(parent, -1) <= d:  # max(d + 1, its depth so far)
                call_depth[parent] = d + 1
    # Inputs no output reaches have no entry: depth 0 and index -1 below, as in Keras.
    return calls, call_depth, layer_depth, index


def execution_order(graph: Graph, keras_map=None) -> list:
    """The layer calls in the order Keras's ``Functional`` runs them
    (``_run_through_graph``): by decreasing depth, ties in ``nodes_by_depth`` order. The
    order matters where a call changes state that a later call of the same layer reads:
    a shared ``BatchNormalization`` updates its moving statistics once per call.
    ``keras_map``: ``_keras_map(graph)`` when the caller has it."""
    _, call_depth, _, _ = keras_map or _keras_map(graph)
    order = list(call_depth)
    # sorted(order, key=lambda c: (-call_depth[c], rank of c)), its keys made in one go
    keys = [(-d, i) for i, d in enumerate(call_depth.values())]
    return [order[i] for i in sorted(range(len(order)), key=keys.__getitem__)]


def ordered_layers(graph: Graph, keras_map=None) -> list:
    """Keras's ``model.layers`` order: by decreasing depth (``map_graph``'s depths), ties
    in traversal order (first visit of ``_build_map``'s depth-first walk).
    ``keras_map``: ``_keras_map(graph)`` when the caller has it."""
    calls, _, layer_depth, index = keras_map or _keras_map(graph)
    layers, seen = [], set()
    for call in calls:
        if id(call.layer) not in seen:
            seen.add(id(call.layer))
            layers.append(call.layer)
    # sorted(layers, key=lambda layer: (-depth, traversal index)), its keys made in one go
    keys = [(-layer_depth.get(i, 0), index.get(i, -1)) for i in map(id, layers)]
    return [layers[i] for i in sorted(range(len(layers)), key=keys.__getitem__)]


def keras_order_and_layers(graph: Graph) -> tuple[list, list]:
    """``(keras_node_order(graph), ordered_layers(graph after that order))``, walking the
    layer calls once when the Keras order is the order the graph has already (a chain,
    most models): the walk depends only on the nodes, their order and the outputs."""
    chain = _chain(graph)
    if chain is not None:
        # Keras's walk over a chain gives each call a depth one more than the next one's:
        # calls, runs and layers are all in the chain's order, the walk is not needed.
        order = _node_order(graph, chain)
        keras_map = None
    else:
        keras_map = _keras_map(graph)
        order = _node_order(graph, execution_order(graph, keras_map))
    before = graph.nodes
    same = order == before  # node by node identity (Node.__eq__ is identity): in C
    graph.nodes = order
    done = _CALLS.get(graph)
    if same and done is not None and done[1][0] is before:
        # The same nodes in the same order: the layer calls found on the way hold.
        _CALLS[graph] = (done[0], _calls_key(graph), done[2])
    if chain is not None:
        return order, [call.layer for call in chain]
    return order, ordered_layers(graph, keras_map if same else None)


def _chain(graph: Graph) -> list | None:
    """The layer calls when they make one chain (one input, one output, each call reading
    one value, made by the call before it, no layer called twice), else None."""
    calls, producer_call = layer_calls(graph)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        return None
    if producer_call.get(graph.outputs[0]) is not calls[-1]:
        return None
    before = calls[0]
    if before.inputs:
        return None
    for call in itertools.islice(calls, 1, None):
        ins = call.inputs
        if len(ins) != 1 or producer_call.get(ins[0]) is not before:
            return None
        before = call
    if len({id(call.layer) for call in calls}) != len(calls):
        return None
    return calls


def keras_node_order(graph: Graph, keras_map=None) -> list:
    """The graph's nodes, each layer call's together, the calls in
    :func:`execution_order` (a topological order; ties and any call Keras would skip keep
    recording order). Running the nodes in this order changes state in Keras's order.
    ``graph.nodes`` is a topological order, as a graph keeps them (``Graph.toposort``)."""
    return _node_order(graph, execution_order(graph, keras_map))


def _node_order(graph: Graph, calls: list) -> list:
    """:func:`keras_node_order` with the layer calls in the order they run."""
    import heapq

    rank = {(id(c.layer), c.index): i for i, c in enumerate(calls)}
    nodes = graph.nodes
    far = len(rank)
    # Each node's key, (rank of its layer call, id): made in one pass, the nodes of one
    # call sharing their scope's entry (and so their call's rank).
    keys = []
    entry = None
    r = far
    for n in nodes:
        scope = n.scope
        top = scope[0] if scope else (None, 0)  # n.top
        if top is not entry:
            entry = top
            r = rank.get((id(top[0]), top[1]), far)
        keys.append((r, n._id))
    if _in_key_order(keys):
        return list(nodes)
    members = set(nodes)
    key_of = {n: k for n, k in zip(nodes, keys)}
    indegree = {n: sum(1 for v in n.inputs if v.producer in members) for n in nodes}
    heap = [(key_of[n], n._id, n) for n, d in indegree.items() if d == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        *_, n = heapq.heappop(heap)
        order.append(n)
        for out in n.outputs:
            for user in out.uses:
                if user in members:
                    indegree[user] -= 1
                    if indegree[user] == 0:
                        heapq.heappush(heap, (key_of[user], user._id, user))
    return order if len(order) == len(nodes) else nodes


def _in_key_order(keys: list) -> bool:
    """Whether ``keys`` strictly increase: then a graph's nodes (a topological order, no
    node twice) along which they do are what Kahn's algorithm with a heap of keys gives
    (each next node is ready and has the smallest key left), found in one pass (a chain,
    and most models, are recorded in Keras's order)."""
    return all(map(operator.lt, keys, itertools.islice(keys, 1, None)))
