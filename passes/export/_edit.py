"""In-place graph surgery shared by the export passes.

Every edit keeps ``Value.uses`` consistent and costs time proportional to what it touches,
so a pass over a 10,000-node graph stays linear. Node order is rebuilt once, in ``commit``.
"""

from __future__ import annotations

from graphc.ir import Graph, Node, Value

__all__ = ["GraphEditor"]


class GraphEditor:
    """Rewire, remove and replace nodes of ``graph``; call ``commit()`` when done."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.alive: set[Node] = set(graph.nodes)
        self.inputs: set[Value] = set(graph.inputs)
        self.outputs: set[Value] = set(graph.outputs)
        self._placed: dict[Node, Node] = {}  # removed node -> node taking its position
        self.edits = 0

    # ---- queries ---------------------------------------------------------------------
    def users(self, v: Value) -> list[Node]:
        """The live nodes of this graph reading ``v`` (once each)."""
        seen, out = set(), []
        for n in v.uses:
            if n in self.alive and n not in seen:
                seen.add(n)
                out.append(n)
        return out

    def is_output(self, v: Value) -> bool:
        return v in self.outputs

    def can_become_output(self, v: Value) -> bool:
        """Whether ``v`` can stand in for a graph output: the exporter then gives ``v``'s
        tensor the output's name. A graph input or another output cannot be renamed, and a
        weight is not a node output."""
        return (v.producer is not None and v.producer in self.alive
                and v not in self.inputs and v not in self.outputs)

    # ---- edits -----------------------------------------------------------------------
    def rewire(self, old: Value, new: Value) -> None:
        """Every node of the graph reading ``old`` reads ``new`` instead; an output that
        was ``old`` becomes ``new``."""
        for n in self.users(old):
            k = sum(1 for x in n.inputs if x is old)
            n.inputs = [new if x is old else x for x in n.inputs]
            old.uses[:] = [u for u in old.uses if u is not n]
            new.uses.extend([n] * k)
        if old in self.outputs:
            self.graph.outputs = [new if v is old else v for v in self.graph.outputs]
            self.outputs.discard(old)
            self.outputs.add(new)
        self.edits += 1

    def remove(self, node: Node) -> None:
        """Drop ``node``: it no longer counts as a use of its inputs."""
        self.alive.discard(node)
        for v in set(node.inputs):
            v.uses[:] = [u for u in v.uses if u is not node]
        self.edits += 1

    def replace(self, old: Node, new: Node) -> None:
        """Put ``new`` (already constructed on its inputs) where ``old`` was."""
        self.remove(old)
        self.alive.add(new)
        self._placed[old] = new

    def commit(self) -> Graph:
        order = []
        for n in self.graph.nodes:
            while n in self._placed:
                n = self._placed[n]
            if n in self.alive:
                order.append(n)
        self.graph.nodes = order
        self.graph.invalidate()
        self._placed.clear()
        return self.graph


def new_node(op: str, inputs, like: Value, scope, attrs=None) -> Node:
    """A node whose one output has ``like``'s type and exact name (a replacement)."""
    node = Node(op, inputs, [like.type], attrs or {}, scope, names=[like.name])
    node.outputs[0].name = like.name
    return node
