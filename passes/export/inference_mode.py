"""Inference-mode rewrite: training-only behaviour leaves the graph."""

from __future__ import annotations

from graphc.ir import Graph
from passes._base import Pass, PassResult
from passes.export._edit import GraphEditor, new_node

__all__ = ["InferenceMode"]


class InferenceMode(Pass):
    """Rewrite the graph into its inference form: a ``dropout`` node becomes its input.

    Uses of the dropout's output read its input instead and the node goes. When that output
    is a graph output that its input cannot take over (the input is a graph input or
    another output), the node becomes an ``identity`` instead, which keeps the output's name.
    Batch normalization will get its inference form here too.
    """

    name = "inference_mode"

    def run(self, graph: Graph) -> PassResult:
        edit = GraphEditor(graph)
        removed = kept = 0
        skipped = []
        for node in graph.nodes:
            if node.op != "dropout":
                continue
            x, y = node.inputs[0], node.outputs[0]
            masks = node.outputs[1:]
            if any(edit.users(m) or edit.is_output(m) for m in masks):
                skipped.append(f"{node.where()}: its mask is read by another node")
                continue
            if edit.is_output(y) and not edit.can_become_output(x):
                ident = new_node("identity", [x], y, node.scope)
                edit.rewire(y, ident.outputs[0])
                edit.replace(node, ident)
                kept += 1
            else:
                edit.rewire(y, x)
                edit.remove(node)
                removed += 1
        if not (removed or kept):
            reason = "; ".join(skipped) if skipped else "no dropout nodes"
            return PassResult(graph, False, reason)
        edit.commit()
        parts = [f"removed {removed} dropout node(s)"] if removed else []
        if kept:
            parts.append(f"turned {kept} dropout node(s) producing graph outputs into "
                         "identity")
        parts += [f"skipped {s}" for s in skipped]
        return PassResult(graph, True, "; ".join(parts))
