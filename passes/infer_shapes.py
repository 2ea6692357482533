"""Shape inference: re-derive every value's type from the inputs through the op rules.

The result lives on the nodes: ``node.meta["types"]`` is the tuple of the node's output
types (``TensorType``), written by the latest run on that graph and copied by
``Graph.clone``. What ``run`` returns is a read-only view over them.
"""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence

from graphc.errors import GraphError
from graphc.ir import Graph, Node, TensorType, Value, format_shape
from graphc.ops.registry import _INFERRED, REGISTRY, _infer_key, get_op, infer_types
from graphc.ops.shapes import dims_compatible
from passes._base import Pass

__all__ = ["InferShapes", "InferredTypes", "TYPES"]

#: The ``Node.meta`` key under which the pass stores a node's output types.
TYPES = "types"
_new_type = tuple.__new__  # TensorType((shape, dtype)) from a value's checked fields


class InferredTypes(Mapping[Value, TensorType]):
    """``{value: TensorType}`` for the graph inputs and every node output, as one run of
    ``InferShapes`` derived them. Node outputs are read from ``node.meta["types"]``, so a
    later run on the same graph (other input shapes) shows through; the graph inputs'
    types, which have no node to live on, are kept here."""

    def __init__(
        self, inputs: dict[Value, TensorType], nodes: list[Node], done: Sequence[Node]
    ) -> None:
        self._inputs = inputs
        self._nodes = nodes
        self._done = done  # the nodes the run typed (made a set when first asked)
        self._member_set: set[Node] | None = None

    @property
    def _members(self) -> set[Node]:
        if self._member_set is None:
            self._member_set = set(self._done)
        return self._member_set

    def __getitem__(self, v: Value) -> TensorType:
        t = self._inputs.get(v)
        if t is not None:
            return t
        p = v.producer
        if p is not None and p in self._members:
            types: tuple[TensorType, ...] = p.meta[TYPES]
            return types[v.index]
        raise KeyError(v)

    def __iter__(self) -> Iterator[Value]:
        yield from self._inputs
        for n in self._nodes:
            yield from n.outputs

    def __len__(self) -> int:
        return len(self._inputs) + sum(len(n.outputs) for n in self._nodes)

    def __repr__(self) -> str:
        return f"<InferredTypes of {len(self)} values>"


class InferShapes(Pass):
    """Writes every node's output types into ``node.meta["types"]`` and returns them as
    ``{value: TensorType}`` (an ``InferredTypes`` view).

    ``input_shapes`` (input name -> shape) re-infers for other input shapes, e.g. a fixed
    batch size; without it the pass checks that every recorded type still follows from
    the op rules (after transforms, or for hand-built graphs).
    """

    name = "infer_shapes"

    def __init__(self, input_shapes: Mapping[str, tuple] | None = None) -> None:
        self.input_shapes = dict(input_shapes or {})

    def run(self, graph: Graph) -> InferredTypes:
        inputs: dict[Value, TensorType] = {}
        for v in graph.inputs:
            shape = self.input_shapes.get(v.name, v.shape)
            if len(shape) != len(v.shape):
                raise GraphError(
                    f"input {v.name}: rank {len(v.shape)} expected, got shape {format_shape(shape)}"
                )
            inputs[v] = TensorType(shape, v.dtype)
        nodes = graph.nodes

        # The types this run derived: the graph inputs' and every output of the nodes
        # done so far, by value id (no ``Value.__hash__`` call per look-up). Any other
        # value (a weight, a constant, a value produced outside the graph) has its
        # recorded type.
        typed: dict[int, TensorType] = {v._id: t for v, t in inputs.items()}
        get = typed.get
        # The rule's result for an op without attributes by the identity of its input
        # types' shapes and their dtypes: a model repeats a few layers many times, whose
        # nodes read the same shape objects (a rule's memoised result, a weight's
        # interned shape), all alive while the run lasts. Pure rules only (those
        # ``_infer_key`` keys), so a hit is what the rule gives.
        same: dict[tuple, tuple[TensorType, ...]] = {}
        found: list[tuple[TensorType, ...]] = []  # each node's, written when all are done
        check = not self.input_shapes
        for node in nodes:
            attrs = node.attrs
            out_types = ids = None
            if not attrs:
                parts: list = [node.op]
                for v in node.inputs:
                    t = get(v._id)
                    if t is None:
                        parts += (id(v.shape), v.dtype)
                    else:
                        parts += (id(t[0]), t[1])
                out_types = same.get(ids := tuple(parts))
            if out_types is None:
                in_types = []  # a loop, not a comprehension: no call per node
                for v in node.inputs:
                    in_types.append(get(v._id) or _new_type(TensorType, (v.shape, v.dtype)))
                # infer_types(op, attrs, in_types, node.where), its memo looked up here
                op = REGISTRY.get(node.op) or get_op(node.op)
                key = _infer_key(op, attrs, in_types)
                out_types = _INFERRED.get(key) if key is not None else None
                if out_types is None:
                    out_types = infer_types(op, attrs, in_types, node.where, key)
                if key is not None and ids is not None:
                    same[ids] = out_types
            outputs = node.outputs
            if len(out_types) != len(outputs):
                raise GraphError(
                    f"{node.where()}: the shape rule gave {len(out_types)} "
                    f"outputs, the node has {len(outputs)}"
                )
            if check:
                for v, t in zip(outputs, out_types):
                    if t[0] == v.shape and t[1] == v.dtype:
                        continue  # the recorded type, the usual case
                    if (
                        t.dtype != v.dtype
                        or len(t.shape) != len(v.shape)
                        or not all(dims_compatible(a, b) for a, b in zip(t.shape, v.shape))
                    ):
                        raise GraphError(
                            f"{node.where()}: {v.ir_name} is recorded as "
                            f"{format_shape(v.shape)} {v.dtype} but the op rule gives "
                            f"{format_shape(t.shape)} {t.dtype}"
                        )
            found.append(out_types)
            for v, t in zip(outputs, out_types):
                typed[v._id] = t
        # Written once the run got through every node: a run failing part-way leaves each
        # node what the previous run wrote.
        for node, out_types in zip(nodes, found):
            node.meta[TYPES] = out_types
        return InferredTypes(inputs, nodes, list(nodes))
