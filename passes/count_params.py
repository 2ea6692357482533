"""Parameter counting: per layer and in total, each parameter once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

from graphc.ir import Graph, Parameter
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
        # id -> (size, trainable) of every weight, each once (id(): Parameter.__hash__ is
        # a Python call). Each layer's own weights (as Keras counts them, used by call()
        # or not), plus any parameter a node reads that no layer of the graph owns.
        sizes: dict[int, tuple[int, bool]] = {}
        prod = math.prod
        for layer in top_layers(graph):
            row = 0
            for p in layer.weights:
                size = prod(p.shape)  # a weight's dims are ints
                row += size
                sizes[id(p)] = (size, p.trainable)
            result.per_layer[layer.name] = row
        for n in graph.nodes:
            for v in n.inputs:
                if v.kind == "param" and id(v) not in sizes:
                    p = cast(Parameter, v)
                    sizes[id(p)] = (prod(p.shape), p.trainable)
        total = sum(size for size, _ in sizes.values())
        trainable = sum(size for size, t in sizes.values() if t)
        result.total = total
        result.trainable = trainable
        result.non_trainable = total - trainable
        return result
