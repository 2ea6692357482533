"""Identity removal."""

from __future__ import annotations

from graphc.ir import Graph
from passes._base import Pass, PassResult
from passes.export._outputs import can_take_over_output

__all__ = ["EliminateIdentity"]


class EliminateIdentity(Pass):
    """Remove ``identity`` nodes by rewiring their users to their input.

    An identity producing a graph output is removed only when its input can take over the
    output's name (the exporter renames that tensor). One reading a graph input, or
    another output, stays: without it the output would need an Identity anyway.
    """

    name = "eliminate_identity"

    def run(self, graph: Graph) -> PassResult:
        removed, kept = 0, []
        for node in graph.nodes:
            if node.op != "identity":
                continue
            x, y = node.inputs[0], node.outputs[0]
            if graph.is_output(y) and not can_take_over_output(graph, x):
                what = (
                    "graph input"
                    if graph.is_input(x)
                    else "another output"
                    if graph.is_output(x)
                    else "weight"
                )
                kept.append(f"{node.where()} produces output {y.name!r} from {what} {x.ir_name!r}")
                continue
            graph.replace_all_uses(y, x)
            graph.erase(node)
            removed += 1
        if not removed:
            reason = (
                "no identity nodes" if not kept else "kept every identity node: " + "; ".join(kept)
            )
            return PassResult(graph, False, reason)
        graph.commit()
        reason = f"removed {removed} identity node(s)"
        if kept:
            reason += f"; kept {len(kept)}: " + "; ".join(kept)
        return PassResult(graph, True, reason)
