"""The intermediate representation: values, nodes and graphs.

A ``Value`` is a typed edge (shape, dtype) that knows the node producing it and the nodes
using it. A ``Node`` applies one registered op to input values and produces output values;
it remembers the layer scope that recorded it, so errors and summaries speak in layers.
A ``Graph`` is a set of nodes in topological order between graph inputs and outputs, with
the parameters and constants they read.

Passes edit graphs only through the graph: ``replace_all_uses``, ``erase``, ``insert``,
``replace_node``, ``replace_op``, ``fuse`` and ``commit`` keep ``Value.uses`` exact and
stay linear; what a pass derives about a node goes in ``Node.meta``.

Every algorithm here is iterative (no recursion), so 10,000-layer models work.

Symbolic tensors in the functional API *are* Values: ``Input(shape=(64,))`` returns a Value
of kind ``"input"``; calling a layer on it records nodes and returns their output Values.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import operator
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence, Union, cast

import numpy as np

from graphc.errors import GraphError, StateUpdateError
from graphc.recording import (
    _value_names,  # unique_value_name's counts (see Node)
    assign_mode,
    get_keras_mask,
    next_id,
    record_update,
    set_keras_mask,
    unique_value_name,
)

__all__ = [
    "Value",
    "Parameter",
    "Node",
    "Graph",
    "Fusion",
    "format_shape",
    "TensorType",
    "Dim",
    "Shape",
]

#: One dimension: a size, ``None`` (unknown, e.g. the batch) or a symbol such as ``"batch"``.
Dim = Union[int, str, None]
Shape = tuple[Dim, ...]

_LEAF_KINDS = ("param", "const")


_DTYPE_NAMES: dict[Any, str] = {}


def dtype_name(dtype: Any) -> str:
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


def format_shape(shape: Sequence[Dim] | None) -> str:
    """``(None, 64)`` as Keras prints it; symbolic dims print as their name."""
    if shape is None:
        return "?"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


class TensorType(tuple):
    """``(shape, dtype)``: what a shape rule returns for one output."""

    __slots__ = ()

    def __new__(cls, shape: Iterable[Dim], dtype: Any = "float32") -> TensorType:
        return super().__new__(cls, (tuple(shape), dtype_name(dtype)))

    @property
    def shape(self) -> Shape:
        return self[0]

    @property
    def dtype(self) -> str:
        return self[1]

    def __repr__(self) -> str:
        return f"TensorType({format_shape(self[0])}, {self[1]})"


class Value:
    """A typed edge of the graph; in user code, a symbolic tensor.

    kind: ``"input"`` (a graph input made by ``Input``), ``"param"`` (a weight),
    ``"const"`` (a constant array) or ``"intermediate"`` (a node output). ``uses`` lists
    the nodes reading an input or intermediate value; weights and constants, shared across
    graphs, leave that to ``Graph.consumers``.
    """

    __slots__ = (
        "name",
        "shape",
        "dtype",
        "kind",
        "producer",
        "index",
        "uses",
        "layer",
        "data",
        "_id",
        "__weakref__",
    )

    # NumPy must hand ``array + value`` over to Value.__radd__ instead of broadcasting.
    __array_ufunc__ = None

    def __init__(
        self,
        shape: Iterable[Dim],
        dtype: Any = "float32",
        kind: str = "intermediate",
        name: str | None = None,
        producer: Node | None = None,
        index: int = 0,
        data: Any = None,
        layer: Any = None,
    ) -> None:
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
    def ir_name(self) -> str:
        """The value's name in the IR, unique in the process (``dense/matmul``,
        ``dense/kernel_1``): what the text form, lint and errors call it. The same as
        ``name``, except a weight's, whose ``name`` is Keras's short one (``kernel``)."""
        return _VALUE_NAME.__get__(self)

    @property
    def type(self) -> TensorType:
        # shape is a tuple and dtype a name already: no need for TensorType's checks.
        return tuple.__new__(TensorType, (self.shape, self.dtype))

    @property
    def _keras_mask(self) -> Any:
        """The Keras mask attached to this symbolic tensor (``tensor._keras_mask``)."""
        return get_keras_mask(self)

    @_keras_mask.setter
    def _keras_mask(self, mask: Any) -> None:
        set_keras_mask(self, mask)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} shape={format_shape(self.shape)} "
            f"dtype={self.dtype}>"
        )

    def __hash__(self) -> int:
        return self._id

    def __eq__(self, other: object) -> bool:
        return self is other

    def __bool__(self) -> bool:
        return True

    # Arithmetic on symbolic tensors records ops, as on Keras tensors. The functions come
    # from ``OPERATORS``, which graphc.ops fills: the IR sits below the ops.
    def __add__(self, o: Any) -> Any:
        return OPERATORS["add"](self, o)

    def __radd__(self, o: Any) -> Any:
        return OPERATORS["add"](o, self)

    def __sub__(self, o: Any) -> Any:
        return OPERATORS["subtract"](self, o)

    def __rsub__(self, o: Any) -> Any:
        return OPERATORS["subtract"](o, self)

    def __mul__(self, o: Any) -> Any:
        return OPERATORS["multiply"](self, o)

    def __rmul__(self, o: Any) -> Any:
        return OPERATORS["multiply"](o, self)

    def __truediv__(self, o: Any) -> Any:
        return OPERATORS["divide"](self, o)

    def __rtruediv__(self, o: Any) -> Any:
        return OPERATORS["divide"](o, self)

    def __matmul__(self, o: Any) -> Any:
        return OPERATORS["matmul"](self, o)

    def __rmatmul__(self, o: Any) -> Any:
        return OPERATORS["matmul"](o, self)

    def __neg__(self) -> Any:
        return OPERATORS["negative"](self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return OPERATORS["abs"](self)

    def __pow__(self, o: Any) -> Any:
        return OPERATORS["power"](self, o)

    def __rpow__(self, o: Any) -> Any:
        return OPERATORS["power"](o, self)

    def __mod__(self, o: Any) -> Any:
        return OPERATORS["mod"](self, o)

    def __rmod__(self, o: Any) -> Any:
        return OPERATORS["mod"](o, self)

    def __floordiv__(self, o: Any) -> Any:
        return OPERATORS["floor_divide"](self, o)

    def __rfloordiv__(self, o: Any) -> Any:
        return OPERATORS["floor_divide"](o, self)

    # Comparisons record ops too (``==``/``!=`` stay identity: values key the graph's
    # dictionaries; use ops.equal / ops.not_equal).
    def __lt__(self, o: Any) -> Any:
        return OPERATORS["less"](self, o)

    def __le__(self, o: Any) -> Any:
        return OPERATORS["less_equal"](self, o)

    def __gt__(self, o: Any) -> Any:
        return OPERATORS["greater"](self, o)

    def __ge__(self, o: Any) -> Any:
        return OPERATORS["greater_equal"](self, o)

    def __and__(self, o: Any) -> Any:
        return OPERATORS["logical_and"](self, o)

    def __rand__(self, o: Any) -> Any:
        return OPERATORS["logical_and"](o, self)

    def __or__(self, o: Any) -> Any:
        return OPERATORS["logical_or"](self, o)

    def __ror__(self, o: Any) -> Any:
        return OPERATORS["logical_or"](o, self)

    def __xor__(self, o: Any) -> Any:
        return OPERATORS["logical_xor"](self, o)

    def __rxor__(self, o: Any) -> Any:
        return OPERATORS["logical_xor"](o, self)

    def __invert__(self) -> Any:
        return OPERATORS["logical_not"](self)

    def __getitem__(self, key: Any) -> Any:
        """``x[:, 0]``, ``x[..., None]``, ``x[:, 1::2]``: basic indexing, recorded."""
        return OPERATORS["get_item"](self, key)

    # Not iterable (Python would otherwise iterate through ``__getitem__`` forever over
    # an unknown batch dimension); ops.unstack splits a tensor.
    __iter__ = None


#: The functions behind ``Value``'s arithmetic operators, by ``graphc.ops`` name.
OPERATORS: dict[str, Callable[..., Any]] = {}


#: Weights' shapes, interned: a model's thousands of weights share a few shapes, and a
#: shared tuple is checked once by the shape rules' memo (``ops.registry._infer_key``).
#: Their dims are Python ints (an array's shape), so equal shapes are interchangeable.
_WEIGHT_SHAPES: dict[tuple, tuple] = {}


def _weight_shape(shape: tuple) -> tuple:
    if len(_WEIGHT_SHAPES) < 4096:
        _WEIGHT_SHAPES[shape] = shape
    return shape


#: A weight's ``uses``: none, ever. Weights are shared by every graph that reads them, so
#: their readers are a graph's business (``Graph.consumers``; the editing methods leave
#: leaf values' ``uses`` alone). One shared empty tuple instead of two empty lists per
#: Dense layer, which the cyclic garbage collector would walk again and again.
_NO_USES: Any = ()


#: ``Value``'s own ``name`` slot, under ``Parameter``'s Keras ``name``.
_VALUE_NAME: Any = Value.__dict__["name"]


class Parameter(Value):
    """A weight: a Value that holds its array. Plays the part of a Keras ``Variable``.

    ``data`` may become a view into the training backend's contiguous buffer, so it is
    only ever updated in place (``assign``).
    """

    __slots__ = ("short_name", "_trainable")

    shape: tuple[int, ...]  # a weight's dims are all known

    def __init__(
        self, data: np.ndarray, name: str, layer: Any = None, trainable: bool = True
    ) -> None:
        # Value.__init__(data.shape, data.dtype, kind="param", ...) spelled out, in its
        # order (the name, then the id): every layer makes its weights here.
        if data.__class__ is np.ndarray:  # its shape: a new tuple of ints, interned
            shape = data.shape
            self.shape = _WEIGHT_SHAPES.get(shape) or _weight_shape(shape)
        else:
            self.shape = tuple(data.shape)
        self.dtype = dtype_name(data.dtype)
        self.kind = "param"
        # unique_value_name(...), spelled out
        base = (f"{layer.name}/{name}" if layer is not None else name) or "value"
        k = _value_names.get(base, 0)
        _value_names[base] = k + 1
        # the IR's unique name, in Value's slot (``name`` is Keras's short one here)
        _VALUE_NAME.__set__(self, base if k == 0 else f"{base}_{k}")
        self.producer = None
        self.index = 0
        self.uses = _NO_USES
        self.layer = layer
        self.data = data
        self._id = next_id()
        self.short_name = name
        self._trainable = trainable

    @property
    def name(self) -> str:
        """Keras's ``Variable.name``: the weight's own name (``kernel``); ``path`` adds the
        layer's (``dense/kernel``), ``ir_name`` is unique in the process."""
        return self.short_name

    @name.setter
    def name(self, value: str) -> None:
        _VALUE_NAME.__set__(self, value)

    @property
    def path(self) -> str:
        return f"{self.layer.name}/{self.short_name}" if self.layer is not None else self.ir_name

    @property
    def trainable(self) -> bool:
        """Trainable by itself and through its layer (``layer.trainable = False`` freezes)."""
        return self._trainable and (self.layer is None or self.layer.trainable)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

    @property
    def value(self) -> np.ndarray:
        return self.data

    def numpy(self) -> np.ndarray:
        return np.array(self.data, copy=True)

    def assign(self, value: Any) -> Any:
        """``variable = value``, in place. Inside a layer's ``call`` recorded into a graph
        (a functional model, a subclassed model's trace) it records an ``assign`` node
        that updates the variable each time the model runs, as Keras does, and returns
        the assigned tensor; on arrays it changes the array now."""
        if self._records(value, "assign"):
            return self._record_assign(value)
        value = np.asarray(value)
        if value.shape != self.data.shape:
            raise ValueError(
                f"Cannot assign to variable {self.path}: expected shape "
                f"{format_shape(self.data.shape)}, received {format_shape(value.shape)}."
            )
        self.data[...] = value
        return None

    def _records(self, value: Any, what: str) -> bool:
        """Whether an assign records a node now (see ``recording.assign_mode``); raises
        where it could only be applied once, at tracing."""
        mode = assign_mode()
        if mode == "record":
            return True
        symbolic = isinstance(value, Value) and value.kind in ("input", "intermediate")
        if mode == "refuse" or symbolic:
            received = f"a symbolic tensor ({value.name})" if symbolic else "a value"
            raise StateUpdateError(
                f"Variable {self.path}: {what}() received {received} outside any layer's "
                "call being recorded (a subclassed model's own `call`, or a functional "
                "model's construction). graphc records variable updates made inside a "
                "layer's `call`, where they apply each time the model runs; applied here "
                "they would happen once. Move the update into a layer's `call` (a small "
                "layer holding the variable), or run it on arrays."
            )
        return False

    def _record_assign(self, value: Any) -> Any:
        out = OPERATORS["assign"](self, value)
        record_update(out)
        return out

    def assign_add(self, value: Any) -> Any:
        """``variable += value``, in place (Keras's ``Variable.assign_add``); recorded
        inside a symbolic ``call`` as ``assign``."""
        if self._records(value, "assign_add"):
            return self._record_assign(OPERATORS["add"](self, value))
        self.assign(self.data + np.asarray(value))
        return None

    def assign_sub(self, value: Any) -> Any:
        """``variable -= value``, in place (Keras's ``Variable.assign_sub``); recorded
        inside a symbolic ``call`` as ``assign``."""
        if self._records(value, "assign_sub"):
            return self._record_assign(OPERATORS["subtract"](self, value))
        self.assign(self.data - np.asarray(value))
        return None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.data, dtype=dtype)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={format_shape(self.shape)}, dtype={self.dtype}>"


class Node:
    """One op application. ``scope`` is the stack of ``(layer, call_index)`` that recorded
    it, outermost first: ``scope[0]`` is the layer a model summary shows, ``scope[-1]`` the
    layer that composed the op (named in error messages).

    ``meta`` holds what passes derive about the node, so a fact lives on the node it is
    about instead of in a pass's side table, and survives ``Graph.clone``. Keys in use:
    ``"types"``, the tuple of output ``TensorType``s that ``passes.InferShapes`` derived
    (the latest run on this graph).
    """

    __slots__ = ("op", "inputs", "outputs", "attrs", "scope", "meta", "_id", "__weakref__")

    def __init__(
        self,
        op: str,
        inputs: Sequence[Value],
        output_types: Sequence[TensorType],
        attrs: Mapping[str, Any] | None = None,
        scope: Iterable[tuple[Any, int]] = (),
        names: Sequence[str] | None = None,
    ) -> None:
        self.op = op
        self.inputs = ins = list(inputs)
        self.attrs = dict(attrs) if attrs else {}
        self.scope = scope = scope if scope.__class__ is tuple else tuple(scope)
        self._id = next_id()
        n_out = len(output_types)
        if names:
            out_names = names
        else:
            if not scope:
                base = op
            elif len(scope) == 1:
                base = f"{scope[0][0].name}/{op}"
            else:
                base = "/".join([layer.name for layer, _ in scope]) + "/" + op
            out_names = (base,) if n_out == 1 else [f"{base}:{i}" for i in range(n_out)]
        outputs: list[Value] = []
        self.outputs = outputs
        for i in range(n_out):
            t = output_types[i]
            if t.__class__ is TensorType:
                # Value(t[0], t[1], ...) spelled out: a TensorType's shape is a tuple and
                # its dtype a name already (two outputs per Dense layer are made here).
                v = _new_value(Value)
                v.shape, v.dtype = t
                v.kind = "intermediate"
                # unique_value_name(out_names[i] or "value"), spelled out
                base = out_names[i] or "value"
                k = _value_names.get(base, 0)
                _value_names[base] = k + 1
                v.name = base if k == 0 else f"{base}_{k}"
                v.producer = self
                v.index = i
                v.uses = []
                v.layer = None
                v.data = None
                v._id = next_id()
            else:
                v = Value(t[0], t[1], producer=self, index=i, name=out_names[i])
            outputs.append(v)
        for v in ins:
            # Weights and constants are shared by every graph that reads them (each call
            # of a shared layer, each clone); their readers are a graph's business
            # (``Graph.consumers``), so they keep no global list that would only grow.
            if v.kind not in _LEAF_KINDS:
                v.uses.append(self)
        self.meta: dict[str, Any] = {}

    @classmethod
    def with_outputs_like(
        cls,
        op: str,
        inputs: Sequence[Value],
        like: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        scope: Iterable[tuple[Any, int]] = (),
    ) -> Node:
        """A node whose outputs have the types and exact names of the values ``like``: the
        replacement for the node producing them (see ``Graph.replace_node``). The names
        matter to the exporter, which names ONNX tensors after values."""
        node = cls(op, inputs, [v.type for v in like], attrs, scope, names=[v.name for v in like])
        for v, out in zip(like, node.outputs):
            out.name = v.name  # exactly: a new Value's name is made unique ("x_1")
        return node

    @property
    def layer(self) -> Any:
        """The layer whose ``call`` composed this op (innermost scope), or None."""
        return self.scope[-1][0] if self.scope else None

    @property
    def top(self) -> tuple[Any, int]:
        """``(layer, call_index)`` of the outermost scope, or ``(None, 0)``."""
        return self.scope[0] if self.scope else (None, 0)

    def where(self) -> str:
        """``dense_2 (matmul)``: how error messages name this node."""
        layer = self.layer
        return f"{layer.name} ({self.op})" if layer is not None else self.op

    def __hash__(self) -> int:
        return self._id

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        return f"<Node {self.where()} -> {', '.join(v.name for v in self.outputs)}>"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold Python's cyclic garbage collector back while a whole graph is walked or
    rebuilt (model passes, summary, export). Those make many short-lived containers and
    no cyclic garbage worth collecting, and every full collection meanwhile would walk
    every object of the graph again: about a sixth of a 5,000-layer export. Reentrant;
    the collector runs again as before at the end."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_node_id = operator.attrgetter("_id")


def _sorted_if_topological(nodes: list[Node]) -> list[Node] | None:
    """``nodes`` sorted by id when that order has every producer before its readers (and
    no node twice), else None."""
    by_id = sorted(nodes, key=_node_id)
    # Sorted by id, a producer comes first exactly when its id is smaller: only a node
    # reading a later id needs the set of ids, to know whether that producer is one of
    # ``nodes`` (made then, so a recorded graph makes none).
    members: set[int] | None = None
    last = -1
    for n in by_id:
        i = n._id
        if i == last:  # the same node twice (sorted, a repeat comes next)
            return None
        last = i
        for v in n.inputs:
            p = v.producer
            if p is not None and p._id >= i:
                if members is None:
                    members = {m._id for m in by_id}
                if p._id in members:
                    return None
    return by_id


_new_value = object.__new__
_new_node = object.__new__


def _copy_value(v: Value, producer: Node | None, index: int) -> Value:
    """A new Value like ``v`` (same name, type, kind and layer; no uses, no data): what
    ``Graph.clone`` makes of graph inputs and node outputs."""
    c = Value.__new__(Value)
    c.shape = v.shape
    c.dtype = v.dtype
    c.kind = v.kind
    c.name = v.name
    c.producer = producer
    c.index = index
    c.uses = []
    c.layer = v.layer
    c.data = None
    c._id = next_id()
    return c


def _node_taking_outputs(
    old: Node,
    op: str,
    inputs: Sequence[Value],
    attrs: Mapping[str, Any] | None,
    scope: Iterable[tuple[Any, int]] | None,
) -> Node:
    """A new node applying ``op`` to ``inputs`` that takes ``old``'s output Values (the
    same objects: their readers read it with nothing rewired); ``scope`` defaults to
    ``old``'s. Only the node: its inputs' ``uses`` are the caller's business."""
    new = _new_node(Node)
    new.op = op
    new.inputs = list(inputs)
    new.attrs = dict(attrs) if attrs else {}
    new.scope = old.scope if scope is None else tuple(scope)
    new._id = next_id()
    new.outputs = outs = old.outputs
    old.outputs = []  # the values are the new node's now
    for v in outs:
        v.producer = new
    new.meta = {}
    return new


class Fusion(NamedTuple):
    """One match of a fusion pass, for ``Graph.fuse``: the ``nodes`` (the last one
    producing the values the rest of the graph reads) become one node applying ``op`` to
    ``inputs``; ``scope`` defaults to the last node's."""

    nodes: Sequence[Node]
    op: str
    inputs: Sequence[Value]
    attrs: Mapping[str, Any] | None = None
    scope: Iterable[tuple[Any, int]] | None = None


class _EditState:
    """The bookkeeping of one batch of edits on a graph (see ``Graph.commit``): which nodes
    belong to it now, and where inserted nodes go. Built in one pass over the nodes when
    the first edit or edit query comes, so that every later one costs O(1) per node it
    touches instead of a scan of the node list."""

    __slots__ = (
        "members",
        "dead",
        "before",
        "after",
        "appended",
        "inputs",
        "outputs",
        "reorder",
        "leaf_readers",
    )

    def __init__(self, graph: Graph) -> None:
        self.members: set[Node] = set(graph._nodes)
        self.dead: set[Node] = set()  # erased during this batch
        self.before: dict[Node, list[Node]] = {}  # anchor -> nodes inserted before it
        self.after: dict[Node, list[Node]] = {}  # anchor -> nodes inserted after it
        self.appended: list[Node] = []  # inserted with no anchor
        self.inputs: set[Value] = set(graph.inputs)
        self.outputs: set[Value] = set(graph.outputs)
        self.reorder = False  # whether commit must rebuild the order
        # Weights and constants keep no ``uses`` (they are shared across graphs); their
        # readers in this graph are tabled here, only if an edit needs them.
        self.leaf_readers: dict[Value, list[Node]] | None = None


class Graph:
    """Nodes in topological order between ``inputs`` and ``outputs``.

    Passes edit a graph in place with ``replace_all_uses``, ``erase``, ``insert``,
    ``replace_node`` and ``replace_op``. Each keeps every ``Value.uses`` exact at once and
    costs time proportional to what it touches; the node order is rebuilt once, by
    ``commit()`` or the next read of ``nodes``, so a pass making thousands of edits stays
    linear::

        for node in graph.nodes:
            if node.op == "identity":
                graph.replace_all_uses(node.outputs[0], node.inputs[0])
                graph.erase(node)
        graph.commit()

    During a batch, change the graph only through these methods (``graph.inputs``,
    ``graph.outputs`` and the list ``graph.nodes`` returned are not to be mutated by hand
    until ``commit``); assigning ``graph.nodes`` discards pending order changes.
    """

    def __init__(
        self,
        inputs: Sequence[Value],
        outputs: Sequence[Value],
        nodes: Iterable[Node],
        name: str = "graph",
    ) -> None:
        self.name = name
        self.inputs: list[Value] = list(inputs)
        self.outputs: list[Value] = list(outputs)
        self._nodes: list[Node] = list(nodes)
        self._edit: _EditState | None = None

    @property
    def nodes(self) -> list[Node]:
        """The nodes in topological order. Reading it applies pending edits (``commit``)."""
        if self._edit is not None:
            self.commit()
        return self._nodes

    @nodes.setter
    def nodes(self, nodes: Iterable[Node]) -> None:
        self._nodes = nodes if isinstance(nodes, list) else list(nodes)
        self._edit = None

    @classmethod
    def from_outputs(
        cls, inputs: Sequence[Value], outputs: Sequence[Value], name: str = "graph"
    ) -> "Graph":
        """Collect every node the outputs depend on, stopping at ``inputs``.

        Never fails: a leaf that is neither a graph input, a parameter nor a constant is
        left for the connectivity pass to report in the user's terms.
        """
        # Sets of ids, not of values and nodes: no ``__hash__`` call per value. A value
        # met again has its producer seen already (or is a stop or a leaf): skipped.
        stop = {v._id for v in inputs if isinstance(v, Value)}
        seen_nodes: set[int] = set()
        found: list[Node] = []
        stack = [v for v in outputs]
        while stack:
            v = stack.pop()
            node = v.producer
            if node is None or v._id in stop:
                continue
            if node._id not in seen_nodes:
                seen_nodes.add(node._id)
                found.append(node)
                stack.extend(node.inputs)
        graph = cls(inputs, outputs, found, name=name)
        graph.nodes = graph.toposort()
        return graph

    # ---- queries -------------------------------------------------------------------
    def toposort(self) -> list[Node]:
        """Kahn's algorithm; ties keep recording order. Raises ``GraphError`` on a cycle."""
        # A recorded graph is in order already once sorted by id (a node is made after
        # the values it reads); when that order is valid it is the one Kahn's algorithm
        # with id ties gives (the smallest in id order), so one check replaces the heap.
        by_id = _sorted_if_topological(self.nodes)
        if by_id is not None:
            return by_id
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
                "A value cannot depend on itself; rebuild the graph without the loop."
            )
        return order

    def consumers(self, value: Value) -> list[Node]:
        """The nodes of *this* graph that read ``value``, once per input slot (a node
        reading it twice is listed twice), in ``uses`` order (a weight's: graph order)."""
        # Answered from the edit state's set of nodes, made on the first query or edit and
        # kept until ``commit``. A table of every value's readers cost several times that
        # set on a 10,000-node graph, and the first edit, or ``is_output``, dropped it.
        e = self._editing()
        if value.kind in _LEAF_KINDS:
            return list(self._leaf_readers(e).get(value, ()))
        return [u for u in value.uses if u in e.members]

    def users(self, value: Value) -> list[Node]:
        """The nodes of *this* graph that read ``value``, each once, in ``uses`` order."""
        seen: set[Node] = set()
        out = []
        for n in self.consumers(value):
            if n not in seen:
                seen.add(n)
                out.append(n)
        return out

    def contains(self, node: Node) -> bool:
        """Whether ``node`` is in the graph now (erased nodes are not, inserted ones are)."""
        return node in self._editing().members

    def is_input(self, value: Value) -> bool:
        return value in self._editing().inputs

    def is_output(self, value: Value) -> bool:
        return value in self._editing().outputs

    def invalidate(self) -> None:
        """Call after changing the list ``nodes`` in place (assigning ``nodes`` and the
        editing methods need no call). Pending edits are committed first."""
        if self._edit is not None:
            self.commit()

    def leaves(self, kind: str) -> list[Value]:
        """Non-node values read by the graph, of one kind, in first-use order."""
        seen: set[Value] = set()
        out: list[Value] = []
        for n in self.nodes:
            for v in n.inputs:
                if v.kind == kind and v not in seen:
                    seen.add(v)
                    out.append(v)
        return out

    @property
    def parameters(self) -> list[Parameter]:
        return cast("list[Parameter]", self.leaves("param"))  # kind "param" is a Parameter

    @property
    def constants(self) -> list[Value]:
        return self.leaves("const")

    # ---- editing -------------------------------------------------------------------
    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Every node of this graph reading ``old`` reads ``new`` instead, and a graph
        output that was ``old`` becomes ``new``. Nodes of other graphs sharing ``old``
        keep reading it, and so does the node producing ``new`` (a node cannot read its
        own output: this is what lets a pass put a node after ``old`` and redirect the
        other readers to it). Costs time proportional to ``old``'s uses.

        ``new`` must have ``old``'s dtype and rank: readers' recorded types depend on it.
        """
        if old is new:
            return
        self._check_same_type(old, new, "replace_all_uses")
        e = self._editing()
        skip = new.producer
        moved: list[Node]  # one entry per input slot, as ``uses`` counts them
        if old.kind in _LEAF_KINDS:
            table = self._leaf_readers(e)
            readers = table.pop(old, [])
            moved = [u for u in readers if u is not skip]
            if len(moved) != len(readers):
                table[old] = [u for u in readers if u is skip]
        else:
            moved = []
            kept: list[Node] = []
            for u in old.uses:
                (moved if u in e.members and u is not skip else kept).append(u)
            old.uses[:] = kept
        done: set[Node] = set()
        for u in moved:
            if u not in done:
                done.add(u)
                u.inputs[:] = [new if x is old else x for x in u.inputs]
        if new.kind in _LEAF_KINDS:
            if e.leaf_readers is not None:
                e.leaf_readers.setdefault(new, []).extend(moved)
        else:
            new.uses.extend(moved)
        if old in e.outputs:
            self.outputs = [new if v is old else v for v in self.outputs]
            e.outputs.discard(old)
            e.outputs.add(new)

    def erase(self, node: Node) -> None:
        """Drop ``node`` from the graph; it stops counting as a use of its inputs. Its
        outputs must be unread by the graph's other nodes and not be graph outputs:
        ``replace_all_uses`` them, or erase their readers, first. Costs time proportional
        to the uses of its inputs."""
        e = self._editing()
        if node not in e.members:
            why = (
                "it was erased already"
                if node in e.dead
                else f"it is not a node of graph {self.name!r}"
            )
            raise GraphError(f"Cannot erase {node.where()}: {why}.")
        for out in node.outputs:
            if out in e.outputs:
                raise GraphError(
                    f"Cannot erase {node.where()}: its output {out.name} is an output of "
                    f"graph {self.name!r}. Call graph.replace_all_uses({out.name}, ...) with "
                    "the value that should take its place first."
                )
            for u in out.uses:
                if u in e.members and u is not node:
                    raise GraphError(
                        f"Cannot erase {node.where()}: {u.where()} still reads its output "
                        f"{out.name}. Call graph.replace_all_uses({out.name}, ...) or erase "
                        f"{u.where()} first."
                    )
        e.members.discard(node)
        e.dead.add(node)
        e.reorder = True
        for v in node.inputs:  # a value read twice is filtered twice: the same result
            if v.kind in _LEAF_KINDS:
                if e.leaf_readers is not None and v in e.leaf_readers:
                    e.leaf_readers[v][:] = [u for u in e.leaf_readers[v] if u is not node]
            else:
                v.uses[:] = [u for u in v.uses if u is not node]

    def insert(self, node: Node, *, before: Node | None = None, after: Node | None = None) -> None:
        """Add ``node`` (already built on its inputs, which lists it in their ``uses``)
        just before or just after an ``anchor`` node of this graph, or at the end when
        neither is given. Nodes inserted on the same side of one anchor keep the order of
        the calls. The anchor may be erased in the same batch: its place remains, which
        is how ``replace_node`` works."""
        e = self._editing()
        if before is not None and after is not None:
            raise GraphError(f"insert({node.where()}) takes before= or after=, not both.")
        if node in e.members:
            raise GraphError(f"Cannot insert {node.where()}: it is already in graph {self.name!r}.")
        if node in e.dead:
            raise GraphError(
                f"Cannot insert {node.where()}: it was erased from graph "
                f"{self.name!r}; build a new node instead."
            )
        anchor = before if before is not None else after
        if anchor is not None and anchor not in e.members and anchor not in e.dead:
            raise GraphError(
                f"Cannot insert {node.where()} next to {anchor.where()}: that "
                f"node is not in graph {self.name!r}."
            )
        e.members.add(node)
        e.reorder = True
        if before is not None:
            e.before.setdefault(before, []).append(node)
        elif after is not None:
            e.after.setdefault(after, []).append(node)
        else:
            e.appended.append(node)
        if e.leaf_readers is not None:
            for v in node.inputs:
                if v.kind in _LEAF_KINDS:
                    e.leaf_readers.setdefault(v, []).append(node)

    def replace_node(self, old: Node, new: Node) -> None:
        """``new`` (already built on its inputs) takes ``old``'s place: its position, and
        the readers of its outputs pairwise (``old.outputs[i]`` -> ``new.outputs[i]``,
        graph outputs included). Outputs of ``old`` beyond ``new``'s must be unread.
        ``Node.with_outputs_like`` builds a ``new`` whose outputs keep the old names."""
        e = self._editing()
        if old not in e.members:
            raise GraphError(
                f"Cannot replace {old.where()}: it is not a node of graph {self.name!r}."
            )
        if len(new.outputs) > len(old.outputs):
            raise GraphError(
                f"Cannot replace {old.where()} ({len(old.outputs)} outputs) by "
                f"{new.where()} ({len(new.outputs)} outputs): the new node "
                "would have outputs nothing reads."
            )
        for o, n in zip(old.outputs, new.outputs):
            self._check_same_type(o, n, "replace_node")
        self.insert(new, before=old)
        for o, n in zip(old.outputs, new.outputs):
            self.replace_all_uses(o, n)
        self.erase(old)

    def replace_op(
        self,
        old: Node,
        op: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        scope: Iterable[tuple[Any, int]] | None = None,
    ) -> Node:
        """A new node applying ``op`` to ``inputs`` takes ``old``'s place and its output
        Values themselves (the same objects, names and types), so every reader of them,
        graph outputs included, reads the new node with nothing rewired: what a fusion
        does, in time proportional to the nodes' inputs. ``op`` must give ``old``'s
        output types from ``inputs`` (shape inference checks that). ``scope`` defaults
        to ``old``'s. Returns the new node; ``old`` leaves the graph."""
        e = self._editing()
        if old not in e.members:
            raise GraphError(
                f"Cannot replace {old.where()}: it is not a node of graph {self.name!r}."
            )
        new = _node_taking_outputs(old, op, inputs, attrs, scope)
        ins = new.inputs
        leaf_readers = e.leaf_readers
        for v in old.inputs:  # a value read twice is filtered twice: the same result
            if v.kind in _LEAF_KINDS:
                if leaf_readers is not None and v in leaf_readers:
                    leaf_readers[v][:] = [u for u in leaf_readers[v] if u is not old]
            else:
                v.uses[:] = [u for u in v.uses if u is not old]
        for v in ins:
            if v.kind in _LEAF_KINDS:
                if leaf_readers is not None:
                    leaf_readers.setdefault(v, []).append(new)
            else:
                v.uses.append(new)
        e.members.discard(old)
        e.dead.add(old)
        e.members.add(new)
        e.before.setdefault(old, []).append(new)
        e.reorder = True
        return new

    def fuse(self, fusions: Iterable[Fusion]) -> list[Node]:
        """Apply every ``Fusion`` at once, in one walk of the node list: each group of
        nodes becomes one new node that takes the place and the output Values of the
        group's last node (as ``replace_op`` does); the group's other nodes leave the
        graph, and their outputs must be read by the group alone, not be graph outputs.
        What a fusion pass does with all the matches it found: a ``replace_op`` and an
        ``erase`` per match keep a batch's bookkeeping (membership sets, insertion
        anchors) up to date at every edit, and ``commit`` walks it again; here one check
        of the groups and one walk do. Pending edits are committed first. Returns the new
        nodes, in ``fusions`` order."""
        self.commit()
        fusions = list(fusions)
        # Keyed by ``_id``: Node.__hash__ is a Python call, reading the slot is not.
        in_graph = {n._id for n in self._nodes}
        outputs = {v._id for v in self.outputs}
        # Checked before any change, so a refused fusion leaves the graph as it was.
        group_of: dict[int, int] = {}  # each fused node -> the index of its fusion
        for i, f in enumerate(fusions):
            group, op = f.nodes, f.op
            for n in group:
                if n._id not in in_graph or n._id in group_of:
                    why = (
                        "it is in another fusion" if n._id in group_of else "it is not in the graph"
                    )
                    raise GraphError(f"Cannot fuse {n.where()} into {op}: {why}.")
                group_of[n._id] = i
            # The inner nodes' outputs are read by this group alone (registered above; a
            # reader in a later fusion is not registered yet, and outside this one too).
            for k in range(len(group) - 1):
                n = group[k]
                for out in n.outputs:
                    if out._id in outputs:
                        self._refuse(op, n, out, "a graph output")
                    for u in out.uses:
                        if u._id in in_graph and group_of.get(u._id) != i:
                            self._refuse(op, n, out, u.where())
        place: dict[int, Node | None] = dict.fromkeys(group_of)  # -> the new node there
        made: list[Node] = []
        for group, op, inputs, attrs, scope in fusions:
            for n in group:
                for v in n.inputs:
                    if v.kind not in _LEAF_KINDS:
                        uses = v.uses
                        if len(uses) == 1 and uses[0] is n:  # read by n alone: the usual
                            v.uses = []
                        else:  # a value read twice is filtered twice: the same result
                            uses[:] = [u for u in uses if u._id not in place]
            last = group[-1]
            new = _node_taking_outputs(last, op, inputs, attrs, scope)
            for v in new.inputs:
                if v.kind not in _LEAF_KINDS:
                    v.uses.append(new)
            place[last._id] = new
            made.append(new)
        if made:
            get = place.get
            order = [get(n._id, n) for n in self._nodes]  # None: fused away
            self._nodes = [n for n in order if n is not None]
        return made

    @staticmethod
    def _refuse(op: str, node: Node, out: Value, reader: str) -> None:
        raise GraphError(
            f"Cannot fuse {node.where()} into {op}: its output {out.name} is read outside "
            f"the fusion ({reader}). Fuse only nodes whose results the group's last node "
            "alone passes on."
        )

    def commit(self) -> Graph:
        """Apply the batch's order changes in one pass: erased nodes leave ``nodes`` and
        inserted ones take their places. Returns the graph."""
        e, self._edit = self._edit, None
        if e is None or not e.reorder:
            return self
        order: list[Node] = []
        stack: list[tuple[Node, bool]] = []
        members, before, after = e.members, e.before, e.after
        for root in itertools.chain(self._nodes, e.appended):
            if root not in before and root not in after:  # the usual node: no insertions
                if root in members:
                    order.append(root)
                continue
            first, then = before.get(root, ()), after.get(root, ())
            if not any(n in before or n in after for n in itertools.chain(first, then)):
                # Nodes inserted next to this one, none an anchor itself (a fusion's
                # node): the order the iterative walk below gives, without its stack.
                order.extend([n for n in first if n in members])
                if root in members:
                    order.append(root)
                order.extend([n for n in then if n in members])
                continue
            # Iterative: a node inserted next to an inserted node is placed next to it.
            stack.append((root, False))
            while stack:
                n, expanded = stack.pop()
                if expanded:
                    if n in e.members:
                        order.append(n)
                    continue
                stack.extend((a, False) for a in reversed(e.after.get(n, ())))
                stack.append((n, True))
                stack.extend((b, False) for b in reversed(e.before.get(n, ())))
        if len(order) != len(e.members):
            raise GraphError(
                f"Graph {self.name!r}: {len(e.members) - len(order)} node(s) of the edit "
                "batch have no place in the order: graph.nodes was changed in place during "
                "the batch. Edit through the graph's methods, or commit() first."
            )
        self._nodes = order
        return self

    def _editing(self) -> _EditState:
        if self._edit is None:
            self._edit = _EditState(self)
        return self._edit

    def _leaf_readers(self, e: _EditState) -> dict[Value, list[Node]]:
        if e.leaf_readers is None:
            table: dict[Value, list[Node]] = {}
            inserted = itertools.chain(*e.before.values(), *e.after.values(), e.appended)
            for n in itertools.chain(self._nodes, inserted):
                if n in e.members:
                    for v in n.inputs:
                        if v.kind in _LEAF_KINDS:
                            table.setdefault(v, []).append(n)
            e.leaf_readers = table
        return e.leaf_readers

    @staticmethod
    def _check_same_type(old: Value, new: Value, what: str) -> None:
        if old.dtype != new.dtype or len(old.shape) != len(new.shape):
            raise GraphError(
                f"{what}: {new.name} ({format_shape(new.shape)} {new.dtype}) cannot stand in "
                f"for {old.name} ({format_shape(old.shape)} {old.dtype}): the dtype and rank "
                "must match, as the readers' recorded types depend on them. Insert a cast "
                "or reshape node and use its output instead."
            )

    # ---- invariants ----------------------------------------------------------------
    def lint(self) -> None:
        """Raise ``GraphError`` listing every broken invariant."""
        problems = []
        nodes = self.nodes
        # Keyed by id(): Node.__hash__ and Value.__hash__ are Python calls, id() is not.
        position = {id(n): i for i, n in enumerate(nodes)}  # a node listed twice: its last
        if len(position) != len(nodes):
            seen: set[int] = set()
            for n in nodes:
                if id(n) in seen:
                    problems.append(f"node {n.where()} appears twice")
                seen.add(id(n))
        graph_inputs = {id(v) for v in self.inputs}
        get = position.get
        for i, n in enumerate(nodes):
            for v in n.inputs:
                p = v.producer
                if p is not None and id(v) not in graph_inputs:
                    j = get(id(p))
                    if j is None:
                        problems.append(
                            f"{n.where()} reads {v.ir_name}, produced outside the graph"
                        )
                    elif j >= i:
                        problems.append(f"{n.where()} reads {v.ir_name} before it is produced")
                elif (
                    p is None and v.kind in ("input", "intermediate") and id(v) not in graph_inputs
                ):
                    problems.append(f"{n.where()} reads {v.ir_name}, which is not a graph input")
                if v.kind not in _LEAF_KINDS and n not in v.uses:
                    problems.append(f"{v.ir_name} does not list {n.where()} among its uses")
            for k, out in enumerate(n.outputs):
                if out.producer is not n or out.index != k:
                    problems.append(f"{out.name} does not point back to {n.where()}")
        for v in self.outputs:
            if (
                v.producer is not None
                and id(v.producer) not in position
                and id(v) not in graph_inputs
            ):
                problems.append(f"output {v.name} is produced outside the graph")
        if problems:
            raise GraphError(f"Graph {self.name!r} is malformed: " + "; ".join(problems))

    # ---- copies and text -----------------------------------------------------------
    def clone(self) -> "Graph":
        """A deep copy of inputs, intermediates and nodes. Parameters and constants are
        shared (their arrays are not copied): passes replace them, never edit them."""
        # Keyed by id(): Value.__hash__ is a Python call, id() is not.
        mapping: dict[int, Value] = {}
        new_inputs = []
        for v in self.inputs:
            c = _copy_value(v, None, v.index)
            mapping[id(v)] = c
            new_inputs.append(c)
        new_nodes = []
        get = mapping.get
        new_node = Node.__new__
        new_value = Value.__new__
        for n in self.nodes:
            # Node.__init__ spelled out without its checks and name-making: the copy keeps
            # every name, and a clone of a 10,000-node graph is made per export.
            cn = new_node(Node)
            cn.op = n.op
            cn.inputs = ins = []
            for v in n.inputs:  # a loop, not a comprehension: faster on two inputs
                v = get(id(v), v)
                ins.append(v)
                if v.kind not in _LEAF_KINDS:
                    v.uses.append(cn)
            cn.attrs = {**n.attrs}
            cn.scope = n.scope
            cn._id = next_id()
            cn.outputs = outs = []
            for o in n.outputs:
                # _copy_value(o, cn, o.index), inline
                co = new_value(Value)
                co.shape = o.shape
                co.dtype = o.dtype
                co.kind = o.kind
                co.name = o.name
                co.producer = cn
                co.index = o.index
                co.uses = []
                co.layer = o.layer
                co.data = None
                co._id = next_id()
                mapping[id(o)] = co
                outs.append(co)
            cn.meta = {**n.meta}  # shallow: passes store immutable facts (TensorTypes)
            new_nodes.append(cn)
        outputs = [get(id(v), v) for v in self.outputs]
        return Graph(new_inputs, outputs, new_nodes, self.name)

    def __str__(self) -> str:
        def t(v: Value) -> str:
            return f"{v.dtype}{list(v.shape)}".replace("'", "")

        lines = [f"graph {self.name}("]
        lines += [f"  %{v.name}: {t(v)}" for v in self.inputs]
        lines.append(") -> (" + ", ".join(f"%{v.ir_name}" for v in self.outputs) + ") {")
        for p in self.parameters:
            lines.append(f"  param %{p.ir_name}: {t(p)}")
        for n in self.nodes:
            outs = ", ".join(f"%{o.name}: {t(o)}" for o in n.outputs)
            ins = ", ".join(f"%{v.ir_name}" for v in n.inputs)
            attrs = "".join(f", {k}={v!r}" for k, v in sorted(n.attrs.items()))
            lines.append(f"  {outs} = {n.op}({ins}{attrs})")
        lines.append("}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes, "
            f"{len(self.outputs)} outputs>"
        )
