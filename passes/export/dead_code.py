"""Dead-code elimination."""

from __future__ import annotations

from graphc.ir import Graph, Node
from passes._base import Pass, PassResult

__all__ = ["EliminateDeadCode"]


class EliminateDeadCode(Pass):
    """Remove nodes none of whose outputs reaches a graph output.

    A model's own graph never has any (it is collected backwards from the outputs); other
    passes leave them behind, e.g. the first transpose of a cancelled pair.
    """

    name = "eliminate_dead_code"

    def run(self, graph: Graph) -> PassResult:
        # A node is live when it produces a graph output or an input of a live node: the
        # ids of live nodes, found backwards. Keyed by id(): Node.__hash__ is a Python call.
        live = {id(v.producer) for v in graph.outputs}
        dead: list[Node] = []
        for node in reversed(graph.nodes):
            if id(node) in live:
                for v in node.inputs:
                    live.add(id(v.producer))  # a leaf's (None) is no node's
            else:
                dead.append(node)
        if not dead:
            return PassResult(graph, False, "every node reaches an output")
        for node in dead:  # readers first (reverse order), so each erased node is unread
            graph.erase(node)
        graph.commit()
        return PassResult(graph, True, f"removed {len(dead)} node(s) that reach no output")
