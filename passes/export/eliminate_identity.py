"""Identity removal."""

from __future__ import annotations

from graphc.ir import Graph
from passes._base import Pass, PassResult
from passes.export._edit import GraphEditor

__all__ = ["EliminateIdentity"]


class EliminateIdentity(Pass):
    """Remove ``identity`` nodes by rewiring their users to their input.

    An identity producing a graph output is removed only when its input can take over the
    output's name (the exporter renames that tensor). One reading a graph input, or
    another output, stays: without it the output would need an Identity anyway.
    """

    name = "eliminate_identity"

    def run(self, graph: Graph) -> PassResult:
        edit = GraphEditor(graph)
        removed, kept = 0, []
        for node in graph.nodes:
            if node.op != "identity":
                continue
            x, y = node.inputs[0], node.outputs[0]
            if edit.is_output(y) and not edit.can_become_output(x):
                what = "graph input" if x in edit.inputs else \
                    "another output" if edit.is_output(x) else "weight"
                kept.append(f"{node.where()} produces output {y.name!r} from {what} "
                            f"{x.name!r}")
                continue
            edit.rewire(y, x)
            edit.remove(node)
            removed += 1
        if not removed:
            reason = "no identity nodes" if not kept else \
                "kept every identity node: " + "; ".join(kept)
            return PassResult(graph, False, reason)
        edit.commit()
        reason = f"removed {removed} identity node(s)"
        if kept:
            reason += f"; kept {len(kept)}: " + "; ".join(kept)
        return PassResult(graph, True, reason)
