"""The intermediate representation: values, nodes and graphs.

A ``Value`` is a typed edge (shape, dtype) that knows the node producing it and the nodes
using it. A ``Node`` applies one registered op to input values and produces output values;
it remembers the layer scope that recorded it, so errors and summaries speak in layers.
A ``Graph`` is a set of nodes in topological order between graph inputs and outputs, with
the parameters and constants they read.

Every algorithm here is iterative (no recursion), so 10,000-layer models work.

Symbolic tensors in the functional API *are* Values: ``Input(shape=(64,))`` returns a Value
of kind ``"input"``; calling a layer on it records nodes and returns their output Values.
"""

from __future__ import annotations

import heapq
from typing import Callable, Iterable, Sequence

import numpy as np

from graphc.errors import GraphError
from graphc.recording import next_id, unique_value_name

__all__ = ["Value", "Parameter", "Node", "Graph", "format_shape", "TensorType"]

_LEAF_KINDS = ("param", "const")


_DTYPE_NAMES: dict = {}


def dtype_name(dtype) -> str:
    """``"float32"`` for any spelling of a dtype (``"string"`` for text); cached, as
    ``str(np.dtype(d))`` is slow and graphs create values by the thousand."""
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):
        # Text tensors (``Input(dtype="string")``, NumPy str/bytes arrays) are "string",
        # as in Keras; their data are NumPy str or object arrays.
        if isinstance(dtype, str) and dtype == "string":
            name = "string"
        else:
            np_dtype = np.dtype(dtype)
            name = "string" if np_dtype.kind in "US" else str(np_dtype)
        try:
            _DTYPE_NAMES[dtype] = name
        except TypeError:  # unhashable spelling
            pass
        return name


def format_shape(shape) -> str:
    """``(None, 64)`` as Keras prints it; symbolic dims print as their name."""
    if shape is None:
        return "?"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


class TensorType(tuple):
    """``(shape, dtype)``: what a shape rule returns for one output."""

    __slots__ = ()

    def __new__(cls, shape, dtype="float32"):
        return super().__new__(cls, (tuple(shape), dtype_name(dtype)))

    shape = property(lambda self: self[0])
    dtype = property(lambda self: self[1])

    def __repr__(self):
        return f"TensorType({format_shape(self[0])}, {self[1]})"


class Value:
    """A typed edge of the graph; in user code, a symbolic tensor.

    kind: ``"input"`` (a graph input made by ``Input``), ``"param"`` (a weight),
    ``"const"`` (a constant array) or ``"intermediate"`` (a node output). ``uses`` lists
    the nodes reading an input or intermediate value; weights and constants, shared across
    graphs, leave that to ``Graph.consumers``.
    """

    __slots__ = ("name", "shape", "dtype", "kind", "producer", "index", "uses", "layer",
                 "data", "_id", "__weakref__")

    # NumPy must hand ``array + value`` over to Value.__radd__ instead of broadcasting.
    __array_ufunc__ = None

    def __init__(self, shape, dtype="float32", kind="intermediate", name=None,
                 producer=None, index=0, data=None, layer=None):
        self.shape = tuple(shape)
        self.dtype = dtype_name(dtype)
        self.kind = kind
        self.name = unique_value_name(name or "value")
        self.producer = producer
        self.index = index
        self.uses: list[Node] = []
        self.layer = layer
        self.data = data
        self._id = next_id()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def type(self) -> TensorType:
        return TensorType(self.shape, self.dtype)

    def __repr__(self):
        return (f"<{type(self).__name__} {self.name} shape={format_shape(self.shape)} "
                f"dtype={self.dtype}>")

    def __hash__(self):
        return self._id

    def __eq__(self, other):
        return self is other

    def __bool__(self):
        return True

    # Arithmetic on symbolic tensors records ops, as on Keras tensors. The functions come
    # from ``OPERATORS``, which graphc.ops fills: the IR sits below the ops.
    def __add__(self, o): return OPERATORS["add"](self, o)
    def __radd__(self, o): return OPERATORS["add"](o, self)
    def __sub__(self, o): return OPERATORS["subtract"](self, o)
    def __rsub__(self, o): return OPERATORS["subtract"](o, self)
    def __mul__(self, o): return OPERATORS["multiply"](self, o)
    def __rmul__(self, o): return OPERATORS["multiply"](o, self)
    def __truediv__(self, o): return OPERATORS["divide"](self, o)
    def __rtruediv__(self, o): return OPERATORS["divide"](o, self)
    def __matmul__(self, o): return OPERATORS["matmul"](self, o)
    def __rmatmul__(self, o): return OPERATORS["matmul"](o, self)
    def __neg__(self): return OPERATORS["negative"](self)


#: The functions behind ``Value``'s arithmetic operators, by ``graphc.ops`` name.
OPERATORS: dict[str, Callable] = {}


class Parameter(Value):
    """A weight: a Value that holds its array. Plays the part of a Keras ``Variable``.

    ``data`` may become a view into the training backend's contiguous buffer, so it is
    only ever updated in place (``assign``).
    """

    __slots__ = ("short_name", "_trainable")

    def __init__(self, data: np.ndarray, name: str, layer=None, trainable=True):
        path = f"{layer.name}/{name}" if layer is not None else name
        super().__init__(data.shape, data.dtype, kind="param", name=path, data=data,
                         layer=layer)
        self.short_name = name
        self._trainable = trainable

    @property
    def path(self) -> str:
        return f"{self.layer.name}/{self.short_name}" if self.layer is not None else self.name

    @property
    def trainable(self) -> bool:
        """Trainable by itself and through its layer (``layer.trainable = False`` freezes)."""
        return self._trainable and (self.layer is None or self.layer.trainable)

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    @property
    def value(self) -> np.ndarray:
        return self.data

    def numpy(self) -> np.ndarray:
        return np.array(self.data, copy=True)

    def assign(self, value) -> None:
        value = np.asarray(value)
        if value.shape != self.data.shape:
            raise ValueError(
                f"Cannot assign to variable {self.path}: expected shape "
                f"{format_shape(self.data.shape)}, received {format_shape(value.shape)}.")
        self.data[...] = value

    def __repr__(self):
        return f"<Variable path={self.path}, shape={format_shape(self.shape)}, dtype={self.dtype}>"


class Node:
    """One op application. ``scope`` is the stack of ``(layer, call_index)`` that recorded
    it, outermost first: ``scope[0]`` is the layer a model summary shows, ``scope[-1]`` the
    layer that composed the op (named in error messages)."""

    __slots__ = ("op", "inputs", "outputs", "attrs", "scope", "_id", "__weakref__")

    def __init__(self, op: str, inputs: Sequence[Value], output_types: Sequence[TensorType],
                 attrs=None, scope=(), names: Sequence[str] | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs or {})
        self.scope = tuple(scope)
        self._id = next_id()
        prefix = "/".join(layer.name for layer, _ in self.scope)
        base = f"{prefix}/{op}" if prefix else op
        self.outputs = [
            Value(t.shape, t.dtype, producer=self, index=i,
                  name=(names[i] if names else (base if len(output_types) == 1 else f"{base}:{i}")))
            for i, t in enumerate(output_types)
        ]
        for v in self.inputs:
            # Weights and constants are shared by every graph that reads them (each call
            # of a shared layer, each clone); their readers are a graph's business
            # (``Graph.consumers``), so they keep no global list that would only grow.
            if v.kind not in _LEAF_KINDS:
                v.uses.append(self)

    @property
    def layer(self):
        """The layer whose ``call`` composed this op (innermost scope), or None."""
        return self.scope[-1][0] if self.scope else None

    @property
    def top(self):
        """``(layer, call_index)`` of the outermost scope, or ``(None, 0)``."""
        return self.scope[0] if self.scope else (None, 0)

    def where(self) -> str:
        """``dense_2 (matmul)``: how error messages name this node."""
        layer = self.layer
        return f"{layer.name} ({self.op})" if layer is not None else self.op

    def __hash__(self):
        return self._id

    def __eq__(self, other):
        return self is other

    def __repr__(self):
        return f"<Node {self.where()} -> {', '.join(v.name for v in self.outputs)}>"


class Graph:
    """Nodes in topological order between ``inputs`` and ``outputs``."""

    def __init__(self, inputs: Sequence[Value], outputs: Sequence[Value],
                 nodes: Iterable[Node], name: str = "graph"):
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.nodes = list(nodes)
        self._consumers = None

    @classmethod
    def from_outputs(cls, inputs: Sequence[Value], outputs: Sequence[Value],
                     name: str = "graph") -> "Graph":
        """Collect every node the outputs depend on, stopping at ``inputs``.

        Never fails: a leaf that is neither a graph input, a parameter nor a constant is
        left for the connectivity pass to report in the user's terms.
        """
        stop = set(inputs)
        seen_nodes: set[Node] = set()
        found: list[Node] = []
        stack = [v for v in outputs]
        seen_values: set[Value] = set()
        while stack:
            v = stack.pop()
            if v in seen_values:
                continue
            seen_values.add(v)
            if v in stop or v.producer is None:
                continue
            node = v.producer
            if node not in seen_nodes:
                seen_nodes.add(node)
                found.append(node)
                stack.extend(node.inputs)
        graph = cls(inputs, outputs, found, name=name)
        graph.nodes = graph.toposort()
        return graph

    # ---- queries -------------------------------------------------------------------
    def toposort(self) -> list[Node]:
        """Kahn's algorithm; ties keep recording order. Raises ``GraphError`` on a cycle."""
        members = set(self.nodes)
        indegree = {n: 0 for n in self.nodes}
        for n in self.nodes:
            for v in n.inputs:
                if v.producer in members:
                    indegree[n] += 1
        heap = [(n._id, n) for n, d in indegree.items() if d == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            _, n = heapq.heappop(heap)
            order.append(n)
            for out in n.outputs:
                for user in out.uses:
                    if user in members:
                        indegree[user] -= 1
                        if indegree[user] == 0:
                            heapq.heappush(heap, (user._id, user))
        if len(order) != len(self.nodes):
            # Leftover nodes are on a cycle or downstream of one; peel off the downstream
            # ones (no leftover node reads their outputs) to name only the cycle.
            left = {n for n in self.nodes if indegree[n] > 0}
            while True:
                read = {v for n in left for v in n.inputs}
                tails = {n for n in left if not any(o in read for o in n.outputs)}
                if not tails:
                    break
                left -= tails
            stuck = [n.where() for n in self.nodes if n in left]
            raise GraphError(
                f"Graph {self.name!r} has a cycle through {len(stuck)} node(s): "
                f"{', '.join(stuck[:5])}{' ...' if len(stuck) > 5 else ''}. "
                "A value cannot depend on itself; rebuild the graph without the loop.")
        return order

    def consumers(self, value: Value) -> list[Node]:
        """The nodes of *this* graph that read ``value``."""
        if self._consumers is None:
            table: dict[Value, list[Node]] = {}
            for n in self.nodes:
                for v in n.inputs:
                    table.setdefault(v, []).append(n)
            self._consumers = table
        return self._consumers.get(value, [])

    def invalidate(self) -> None:
        """Call after changing ``nodes`` in place (passes do)."""
        self._consumers = None

    def leaves(self, kind: str) -> list[Value]:
        """Non-node values read by the graph, of one kind, in first-use order."""
        seen, out = set(), []
        for n in self.nodes:
            for v in n.inputs:
                if v.kind == kind and v not in seen:
                    seen.add(v)
                    out.append(v)
        return out

    @property
    def parameters(self) -> list[Parameter]:
        return self.leaves("param")

    @property
    def constants(self) -> list[Value]:
        return self.leaves("const")

    # ---- invariants ----------------------------------------------------------------
    def lint(self) -> None:
        """Raise ``GraphError`` listing every broken invariant."""
        problems = []
        position = {}
        for i, n in enumerate(self.nodes):
            if n in position:
                problems.append(f"node {n.where()} appears twice")
            position[n] = i
        graph_inputs = set(self.inputs)
        for i, n in enumerate(self.nodes):
            for v in n.inputs:
                if v.producer is not None and v not in graph_inputs:
                    j = position.get(v.producer)
                    if j is None:
                        problems.append(f"{n.where()} reads {v.name}, produced outside the graph")
                    elif j >= i:
                        problems.append(f"{n.where()} reads {v.name} before it is produced")
                elif v.producer is None and v.kind in ("input", "intermediate") \
                        and v not in graph_inputs:
                    problems.append(f"{n.where()} reads {v.name}, which is not a graph input")
                if v.kind not in _LEAF_KINDS and n not in v.uses:
                    problems.append(f"{v.name} does not list {n.where()} among its uses")
            for k, out in enumerate(n.outputs):
                if out.producer is not n or out.index != k:
                    problems.append(f"{out.name} does not point back to {n.where()}")
        for v in self.outputs:
            if v.producer is not None and v.producer not in position and v not in graph_inputs:
                problems.append(f"output {v.name} is produced outside the graph")
        if problems:
            raise GraphError(f"Graph {self.name!r} is malformed: " + "; ".join(problems))

    # ---- copies and text -----------------------------------------------------------
    def clone(self) -> "Graph":
        """A deep copy of inputs, intermediates and nodes. Parameters and constants are
        shared (their arrays are not copied): passes replace them, never edit them."""
        mapping: dict[Value, Value] = {}
        new_inputs = []
        for v in self.inputs:
            c = Value(v.shape, v.dtype, kind=v.kind, name=v.name, layer=v.layer)
            c.name = v.name
            mapping[v] = c
            new_inputs.append(c)
        new_nodes = []
        for n in self.nodes:
            ins = [mapping.get(v, v) for v in n.inputs]
            c = Node(n.op, ins, [o.type for o in n.outputs], n.attrs, n.scope,
                     names=[o.name for o in n.outputs])
            for o, co in zip(n.outputs, c.outputs):
                co.name = o.name
                mapping[o] = co
            new_nodes.append(c)
        g = Graph(new_inputs, [mapping.get(v, v) for v in self.outputs], new_nodes, self.name)
        return g

    def __str__(self) -> str:
        def t(v):
            return f"{v.dtype}{list(v.shape)}".replace("'", "")
        lines = [f"graph {self.name}("]
        lines += [f"  %{v.name}: {t(v)}" for v in self.inputs]
        lines.append(") -> (" + ", ".join(f"%{v.name}" for v in self.outputs) + ") {")
        for p in self.parameters:
            lines.append(f"  param %{p.name}: {t(p)}")
        for n in self.nodes:
            outs = ", ".join(f"%{o.name}: {t(o)}" for o in n.outputs)
            ins = ", ".join(f"%{v.name}" for v in n.inputs)
            attrs = "".join(f", {k}={v!r}" for k, v in sorted(n.attrs.items()))
            lines.append(f"  {outs} = {n.op}({ins}{attrs})")
        lines.append("}")
        return "\n".join(lines)

    def __repr__(self):
        return (f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes, "
                f"{len(self.outputs)} outputs>")
