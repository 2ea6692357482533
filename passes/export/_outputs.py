"""What the export passes share beyond the IR's editing methods."""

from __future__ import annotations

from graphc.ir import Graph, Value

__all__ = ["can_take_over_output"]


def can_take_over_output(graph: Graph, v: Value) -> bool:
    """Whether ``v`` can stand in for a graph output when the node between them goes: the
    exporter then gives ``v``'s tensor the output's name. A graph input or another output
    cannot be renamed, and a weight is not a node output."""
    return (
        v.producer is not None
        and graph.contains(v.producer)
        and not graph.is_input(v)
        and not graph.is_output(v)
    )
