"""Inference-mode rewrite: training-only behaviour leaves the graph."""

from __future__ import annotations

from graphc.ir import Graph, Node
from graphc.ops import get_op
from passes._base import Pass, PassResult
from passes.export._outputs import can_take_over_output

__all__ = ["InferenceMode"]


class InferenceMode(Pass):
    """Rewrite the graph into its inference form: a node of a ``training_only`` op
    (``dropout``, the random augmentations ``random_flip`` / ``random_affine``) becomes
    its input.

    Uses of the dropout's output read its input instead and the node goes. When that output
    is a graph output that its input cannot take over (the input is a graph input or
    another output), the node becomes an ``identity`` instead, which keeps the output's name.
    A node whose op declares ``training_attrs`` (the recurrent ops' dropout) and uses them
    becomes the same node without them: no dropout attributes, no mask outputs.
    Batch normalization will get its inference form here too.
    """

    name = "inference_mode"

    def run(self, graph: Graph) -> PassResult:
        removed: dict[str, int] = {}
        kept: dict[str, int] = {}
        stripped: dict[str, int] = {}
        skipped: list[str] = []
        # Most graphs have no training-only behaviour at all: asking each distinct op once
        # spares the walk below its per-node checks (a tenth of a 5,000-layer export's
        # passes).
        ops = [get_op(name) for name in {node.op: None for node in graph.nodes}]  # graph order
        if not any(op.training_only or op.training_attrs for op in ops):
            return PassResult(graph, False, "no dropout nodes")
        for node in graph.nodes:
            op = get_op(node.op)
            if any(a in node.attrs for a in op.training_attrs):
                if self._strip_dropout(graph, node, skipped):
                    stripped[node.op] = stripped.get(node.op, 0) + 1
                continue
            if not op.training_only:
                continue
            x, y = node.inputs[0], node.outputs[0]
            masks = node.outputs[1:]
            if any(graph.users(m) or graph.is_output(m) for m in masks):
                skipped.append(f"{node.where()}: its mask is read by another node")
                continue
            if graph.is_output(y) and not can_take_over_output(graph, x):
                ident = Node.with_outputs_like("identity", [x], [y], scope=node.scope)
                graph.replace_node(node, ident)
                kept[node.op] = kept.get(node.op, 0) + 1
            else:
                graph.replace_all_uses(y, x)
                graph.erase(node)
                removed[node.op] = removed.get(node.op, 0) + 1
        if not (removed or kept or stripped):
            reason = "; ".join(skipped) if skipped else "no dropout nodes"
            return PassResult(graph, False, reason)
        graph.commit()
        parts = [f"removed {n} {op} node(s)" for op, n in removed.items()]
        parts += [f"removed the dropout of {n} {op} node(s)" for op, n in stripped.items()]
        parts += [
            f"turned {n} {op} node(s) producing graph outputs into identity"
            for op, n in kept.items()
        ]
        parts += [f"skipped {s}" for s in skipped]
        return PassResult(graph, True, "; ".join(parts))

    @staticmethod
    def _strip_dropout(graph: Graph, node: Node, skipped: list[str]) -> bool:
        """Replace a recurrent ``node`` by the same op without dropout; its outputs keep
        their names. False (and a note in ``skipped``) when a mask output is read."""
        op = get_op(node.op)
        n_keep = op.n_outputs  # the plain op's outputs; masks come after
        masks = node.outputs[n_keep:]
        if any(graph.users(m) or graph.is_output(m) for m in masks):
            skipped.append(f"{node.where()}: its dropout masks are read by another node")
            return False
        attrs = {k: v for k, v in node.attrs.items() if k not in op.training_attrs}
        plain = Node.with_outputs_like(
            node.op, node.inputs, node.outputs[:n_keep], attrs, node.scope
        )
        graph.replace_node(node, plain)  # the masks beyond n_keep are unread (checked)
        return True
