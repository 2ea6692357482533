"""Cancelling inverse transposes."""

from __future__ import annotations

from graphc.ir import Graph
from passes._base import Pass, PassResult
from passes.export._edit import GraphEditor

__all__ = ["CancelTransposes", "compose_perms"]


def _perm(node) -> tuple | None:
    perm = node.attrs.get("perm")
    if perm is None:
        rank = len(node.inputs[0].shape)
        return tuple(reversed(range(rank)))  # NumPy's and ONNX's default: reverse the axes
    return tuple(int(p) % max(len(perm), 1) for p in perm)


def compose_perms(first, second) -> tuple:
    """The single permutation equal to ``transpose(transpose(x, first), second)``."""
    return tuple(first[i] for i in second)


class CancelTransposes(Pass):
    """``transpose(transpose(x, p), q)`` with ``q`` the inverse of ``p`` becomes ``x``.

    Channels-last layers lowered to channels-first ONNX ops produce such pairs; so do
    user-written transposes. The first transpose goes too when nothing else reads it.
    """

    name = "cancel_transposes"

    def run(self, graph: Graph) -> PassResult:
        transposes = [n for n in graph.nodes if n.op == "transpose"]
        if not transposes:
            return PassResult(graph, False, "no transpose nodes")
        edit = GraphEditor(graph)
        cancelled, kept = 0, []
        for second in transposes:
            if second not in edit.alive:
                continue
            mid = second.inputs[0]
            first = mid.producer
            if first is None or first not in edit.alive or first.op != "transpose":
                continue
            p, q = _perm(first), _perm(second)
            if len(p) != len(q) or compose_perms(p, q) != tuple(range(len(p))):
                continue
            x, y = first.inputs[0], second.outputs[0]
            if edit.is_output(y) and not edit.can_become_output(x):
                kept.append(f"{second.where()} produces output {y.name!r} from {x.name!r}, "
                            "which cannot be renamed")
                continue
            edit.rewire(y, x)
            edit.remove(second)
            if not edit.users(mid) and not edit.is_output(mid):
                edit.remove(first)
            cancelled += 1
        if not cancelled:
            reason = "; ".join(kept) if kept else \
                f"no transpose among {len(transposes)} is followed by its inverse"
            return PassResult(graph, False, reason)
        edit.commit()
        return PassResult(graph, True, f"cancelled {cancelled} inverse transpose pair(s)")
