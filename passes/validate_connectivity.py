"""Connectivity validation: every output can be computed from the graph's inputs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import FrameType
from typing import Any, cast

from graphc.errors import GraphDisconnectedError, GraphError
from graphc.ir import Graph, Node, Value, format_shape
from passes._base import Pass

__all__ = ["ValidateConnectivity", "ConnectivityReport", "top_layers"]


def top_layers(graph: Graph) -> list[Any]:
    """The layers a summary of ``graph`` shows: input layers, then the outermost layer of
    each node's scope, each once, in graph order."""
    seen: set[int] = set()
    out: list[Any] = []
    for v in graph.inputs:
        if v.layer is not None and id(v.layer) not in seen:
            seen.add(id(v.layer))
            out.append(v.layer)
    last = None  # the nodes of one layer call come together: one look-up per call
    for n in graph.nodes:
        scope = n.scope
        if not scope:
            continue
        layer = scope[0][0]  # n.top[0]
        if layer is last or layer is None:
            continue
        last = layer
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out


def _user_stacklevel() -> int:
    """The stack level of the first frame outside graphc and passes: warnings point at
    the user's ``Model(...)`` line."""
    import os
    import sys

    roots = tuple(
        os.path.dirname(os.path.dirname(os.path.abspath(cast(str, m.__file__)))) + os.sep + d
        for m, d in ((sys.modules["graphc"], "graphc"), (sys.modules["passes"], "passes"))
    )
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(roots):
        frame, level = frame.f_back, level + 1
    return level


@dataclass
class ConnectivityReport:
    unused_inputs: list[Value]
    layers: list[Any]


def _describe(v: Value) -> str:
    return f'"{v.name}" (shape {format_shape(v.shape)}, dtype {v.dtype})'


class ValidateConnectivity(Pass):
    """Raises ``GraphDisconnectedError`` for an output that needs a tensor the inputs
    cannot give, ``GraphError`` for non-Input graph inputs, cycles and duplicate layer
    names; warns about inputs no output uses."""

    name = "validate_connectivity"

    def run(self, graph: Graph) -> ConnectivityReport:
        for v in graph.inputs:
            if v.kind != "input" or v.producer is not None:
                made_by = f", produced by layer {v.producer.where()}" if v.producer else ""
                raise GraphError(
                    f"Model inputs must be tensors returned by graphc.Input(); received "
                    f"{_describe(v)}{made_by}. Pass the Input tensor the graph starts from."
                )
        if len(set(graph.inputs)) != len(graph.inputs):
            raise GraphError("The same Input tensor is listed twice in the model's inputs.")
        graph.nodes = graph.toposort()
        graph.invalidate()

        # What the inputs give: the graph inputs, then every node's outputs. Only a value
        # with no producer can be missing, so only those are looked up (and tabled: node
        # outputs have their node as producer, unless a pass left one without).
        available = set(graph.inputs)
        read: set[Value] = set()  # the graph inputs the nodes read
        for node in graph.nodes:
            for v in node.inputs:
                if v.producer is None and v.kind in ("input", "intermediate"):
                    if v not in available:
                        raise GraphDisconnectedError(self._message(graph, v, node))
                    read.add(v)
            for v in node.outputs:
                if v.producer is None:
                    available.add(v)
        for v in graph.outputs:
            if v.producer is None and v.kind in ("input", "intermediate") and v not in available:
                raise GraphDisconnectedError(self._message(graph, v, None))

        layers = top_layers(graph)
        by_name: dict[str, int] = {}
        for layer in layers:
            by_name[layer.name] = by_name.get(layer.name, 0) + 1
        dupes = [n for n, c in by_name.items() if c > 1]
        if dupes:
            name = dupes[0]
            raise GraphError(
                f'The name "{name}" is used {by_name[name]} times in the model. All layer '
                f"names should be unique: give each layer its own name= (or leave name= out "
                f"and graphc numbers them)."
            )

        # (every graph input has no producer and kind "input": ``read`` has those the
        # nodes read, as ``{v for n in graph.nodes for v in n.inputs}`` would)
        used = read | set(graph.outputs)
        unused = [v for v in graph.inputs if v not in used]
        for v in unused:
            if v.uses:
                # Read by ops outside the outputs' graph: an add_loss() branch (Keras's
                # "endpoint layer" takes the targets as an input) - Keras says nothing.
                continue
            warnings.warn(
                f"Model input {_describe(v)} is not connected to any output; it "
                "will be fed but ignored. Remove it from `inputs` or use it.",
                UserWarning,
                stacklevel=_user_stacklevel(),
            )
        return ConnectivityReport(unused_inputs=unused, layers=layers)

    @staticmethod
    def _message(graph: Graph, missing: Value, node: Node | None) -> str:
        # The layers of the nodes before ``node`` (all of them for an output), each once.
        seen: dict[str, None] = {}
        for n in graph.nodes:
            if n is node:
                break
            layer = n.top[0]
            if layer is not None:
                seen[layer.name] = None
        reached = list(seen)
        if node is None:
            at = " (it is one of the model's outputs)"
        elif node.top[0] is not None:
            at = f' at layer "{node.top[0].name}"'
        else:
            at = f' at op "{node.where()}"'
        if len(reached) > 20:  # a 10,000-layer model should not print 10,000 names
            reached = reached[:20] + [f"... and {len(reached) - 20} more"]
        given = ", ".join(f'"{v.name}" {format_shape(v.shape)}' for v in graph.inputs) or "none"
        names = ", ".join([v.name for v in graph.inputs] + [missing.name])
        return (
            f"Graph disconnected: cannot obtain value for tensor {_describe(missing)}{at}. "
            f"The following previous layers were accessed without issue: {reached}. "
            f'The model\'s inputs are [{given}], and the outputs need "{missing.name}" too: '
            f"add it to the inputs, e.g. Model(inputs=[{names}], outputs=...)."
        )
