"""Inference-mode rewrite: training-only behaviour leaves the graph."""

from __future__ import annotations

from graphc.ir import Graph, Node
from graphc.ops import get_op
from passes._base import Pass, PassResult
from passes.export._edit import GraphEditor, new_node

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
        edit = GraphEditor(graph)
        removed: dict[str, int] = {}
        kept: dict[str, int] = {}
        stripped: dict[str, int] = {}
        skipped = []
        for node in graph.nodes:
            op = get_op(node.op)
            if any(a in node.attrs for a in op.training_attrs):
                if self._strip_dropout(edit, node, skipped):
                    stripped[node.op] = stripped.get(node.op, 0) + 1
                continue
            if not op.training_only:
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
                kept[node.op] = kept.get(node.op, 0) + 1
            else:
                edit.rewire(y, x)
                edit.remove(node)
                removed[node.op] = removed.get(node.op, 0) + 1
        if not (removed or kept or stripped):
            reason = "; ".join(skipped) if skipped else "no dropout nodes"
            return PassResult(graph, False, reason)
        edit.commit()
        parts = [f"removed {n} {op} node(s)" for op, n in removed.items()]
        parts += [f"removed the dropout of {n} {op} node(s)" for op, n in stripped.items()]
        parts += [f"turned {n} {op} node(s) producing graph outputs into identity"
                  for op, n in kept.items()]
        parts += [f"skipped {s}" for s in skipped]
        return PassResult(graph, True, "; ".join(parts))

    @staticmethod
    def _strip_dropout(edit, node, skipped) -> bool:
        """Replace a recurrent ``node`` by the same op without dropout; its outputs keep
        their names. False (and a note in ``skipped``) when a mask output is read."""
        op = get_op(node.op)
        n_keep = op.n_outputs  # the plain op's outputs; masks come after
        masks = node.outputs[n_keep:]
        if any(edit.users(m) or edit.is_output(m) for m in masks):
            skipped.append(f"{node.where()}: its dropout masks are read by another node")
            return False
        attrs = {k: v for k, v in node.attrs.items() if k not in op.training_attrs}
        keep = node.outputs[:n_keep]
        plain = Node(node.op, node.inputs, [v.type for v in keep], attrs, node.scope,
                     names=[v.name for v in keep])
        for old, new in zip(keep, plain.outputs):
            new.name = old.name  # exactly (a new Value's name is made unique)
            edit.rewire(old, new)
        edit.replace(node, plain)
        return True
