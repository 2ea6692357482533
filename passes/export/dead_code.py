"""Dead-code elimination."""

from __future__ import annotations

from graphc.ir import Graph
from passes._base import Pass, PassResult
from passes.export._edit import GraphEditor

__all__ = ["EliminateDeadCode"]


class EliminateDeadCode(Pass):
    """Remove nodes none of whose outputs reaches a graph output.

    A model's own graph never has any (it is collected backwards from the outputs); other
    passes leave them behind, e.g. the first transpose of a cancelled pair.
    """

    name = "eliminate_dead_code"

    def run(self, graph: Graph) -> PassResult:
        live = set(graph.outputs)
        dead = []
        for node in reversed(graph.nodes):
            if any(v in live for v in node.outputs):
                live.update(node.inputs)
            else:
                dead.append(node)
        if not dead:
            return PassResult(graph, False, "every node reaches an output")
        edit = GraphEditor(graph)
        for node in dead:
            edit.remove(node)
        edit.commit()
        return PassResult(graph, True, f"removed {len(dead)} node(s) that reach no output")
