"""Parameter counting: per layer and in total, each parameter once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
        counted: set[Parameter] = set()
        # Each layer's own weights (as Keras counts them, used by call() or not), plus any
        # parameter a node reads that no layer of the graph owns.
        for layer in top_layers(graph):
            row = 0
            for p in layer.weights:
                row += math.prod(p.shape)
                self._total(result, p, counted)
            result.per_layer[layer.name] = row
        for p in graph.parameters:
            self._total(result, p, counted)
        return result

    @staticmethod
    def _total(result: ParamCount, p: Parameter, counted: set[Parameter]) -> None:
        if p in counted:
            return
        counted.add(p)
        size = math.prod(p.shape)  # a weight's dims are ints
        result.total += size
        if p.trainable:
            result.trainable += size
        else:
            result.non_trainable += size
