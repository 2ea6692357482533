"""Parameter counting: per layer and in total, each parameter once."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir import Graph
from passes._base import Pass

__all__ = ["CountParams", "ParamCount"]


@dataclass
class ParamCount:
    total: int = 0
    trainable: int = 0
    non_trainable: int = 0
    per_layer: dict = field(default_factory=dict)  # top-level layer name -> count


class CountParams(Pass):
    """Counts the parameters the graph reads. A parameter read by several nodes (a shared
    layer called twice) counts once; the summary's rows come from ``per_layer``."""

    name = "count_params"

    def run(self, graph: Graph) -> ParamCount:
        result = ParamCount()
        for v in graph.inputs:
            if v.layer is not None:
                result.per_layer.setdefault(v.layer.name, 0)
        counted, in_row = set(), set()
        for node in graph.nodes:
            layer = node.top[0]
            key = layer.name if layer is not None else "(no layer)"
            result.per_layer.setdefault(key, 0)
            for p in node.inputs:
                if p.kind != "param":
                    continue
                size = int(np.prod(p.shape))
                if (p, key) not in in_row:
                    in_row.add((p, key))
                    result.per_layer[key] += size
                if p not in counted:
                    counted.add(p)
                    result.total += size
                    if p.trainable:
                        result.trainable += size
                    else:
                        result.non_trainable += size
        return result
