"""Cancelling inverse transposes."""

from __future__ import annotations

from typing import Sequence

from graphc.ir import Graph, Node
from passes._base import Pass, PassResult
from passes.export._outputs import can_take_over_output

__all__ = ["CancelTransposes", "compose_perms"]


def _perm(node: Node) -> tuple[int, ...]:
    perm = node.attrs.get("perm")
    if perm is None:
        rank = len(node.inputs[0].shape)
        return tuple(reversed(range(rank)))  # NumPy's and ONNX's default: reverse the axes
    return tuple(int(p) % max(len(perm), 1) for p in perm)


def compose_perms(first: Sequence[int], second: Sequence[int]) -> tuple[int, ...]:
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
        cancelled, kept = 0, []
        for second in transposes:
            if not graph.contains(second):
                continue
            mid = second.inputs[0]
            first = mid.producer
            if first is None or not graph.contains(first) or first.op != "transpose":
                continue
            p, q = _perm(first), _perm(second)
            if len(p) != len(q) or compose_perms(p, q) != tuple(range(len(p))):
                continue
            x, y = first.inputs[0], second.outputs[0]
            if graph.is_output(y) and not can_take_over_output(graph, x):
                kept.append(
                    f"{second.where()} produces output {y.name!r} from {x.name!r}, "
                    "which cannot be renamed"
                )
                continue
            graph.replace_all_uses(y, x)
            graph.erase(second)
            if not graph.users(mid) and not graph.is_output(mid):
                graph.erase(first)
            cancelled += 1
        if not cancelled:
            reason = (
                "; ".join(kept)
                if kept
                else f"no transpose among {len(transposes)} is followed by its inverse"
            )
            return PassResult(graph, False, reason)
        graph.commit()
        return PassResult(graph, True, f"cancelled {cancelled} inverse transpose pair(s)")
