"""Parameter counting: per layer and in total, each parameter once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from graphc.ir import Graph
from passes._base import Pass

__all__ = ["CountParams", "ParamCount"]


@dataclass
class ParamCount:
    total: int = 0
    trainable: int = 0
    non_trainable: int = 0
    per_layer: dict[str, int] = field(default_factory=dict)  # top layer name -> count


class CountParams(Pass):
    """Counts each parameter once (a shared layer called twice counts once): per layer,
    its weights; in total, every layer's weights and any other parameter the graph reads.
    The summary's rows come from ``per_layer``."""

    name = "count_params"

    def run(self, graph: Graph) -> ParamCount:
        from passes.validate_connectivity import top_layers

        result = ParamCount()
        # ids of the parameters counted (Parameter.__hash__ is a Python call, id() is not)
        counted: set[int] = set()
        total = trainable = 0
        prod = math.prod
        # Each layer's own weights (as Keras counts them, used by call() or not), plus any
        # parameter a node reads that no layer of the graph owns (graph.parameters, in
        # any order: only sums are kept).
        for layer in top_layers(graph):
            row = 0
            for p in layer.weights:
                size = prod(p.shape)  # a weight's dims are ints
                row += size
                if id(p) not in counted:
                    counted.add(id(p))
                    total += size
                    if p.trainable:
                        trainable += size
            result.per_layer[layer.name] = row
        for n in graph.nodes:
            for p in n.inputs:
                if p.kind == "param" and id(p) not in counted:
                    counted.add(id(p))
                    size = prod(p.shape)
                    total += size
                    if p.trainable:
                        trainable += size
        result.total = total
        result.trainable = trainable
        result.non_trainable = total - trainable
        return result
