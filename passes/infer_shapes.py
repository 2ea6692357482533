"""Shape inference: re-derive every value's type from the inputs through the op rules."""

from __future__ import annotations

from graphc.errors import GraphError
from graphc.ir import Graph, TensorType, format_shape
from graphc.ops.registry import get_op, infer_types
from graphc.ops.shapes import dims_compatible
from passes._base import Pass

__all__ = ["InferShapes"]


class InferShapes(Pass):
    """Returns ``{value: TensorType}`` for every value of the graph.

    ``input_shapes`` (input name -> shape) re-infers for other input shapes, e.g. a fixed
    batch size; without it the pass checks that every recorded type still follows from
    the op rules (after transforms, or for hand-built graphs).
    """

    name = "infer_shapes"

    def __init__(self, input_shapes: dict | None = None):
        self.input_shapes = dict(input_shapes or {})

    def run(self, graph: Graph) -> dict:
        types: dict = {}
        for v in graph.inputs:
            shape = self.input_shapes.get(v.name, v.shape)
            if len(shape) != len(v.shape):
                raise GraphError(f"input {v.name}: rank {len(v.shape)} expected, got shape "
                                 f"{format_shape(shape)}")
            types[v] = TensorType(shape, v.dtype)
        for node in graph.nodes:
            in_types = [types.get(v) or v.type for v in node.inputs]
            out_types = infer_types(get_op(node.op), node.attrs, in_types, node.where())
            if len(out_types) != len(node.outputs):
                raise GraphError(f"{node.where()}: the shape rule gave {len(out_types)} "
                                 f"outputs, the node has {len(node.outputs)}")
            for v, t in zip(node.outputs, out_types):
                if not self.input_shapes and (
                        t.dtype != v.dtype or len(t.shape) != len(v.shape)
                        or not all(dims_compatible(a, b) for a, b in zip(t.shape, v.shape))):
                    raise GraphError(f"{node.where()}: {v.name} is recorded as "
                                     f"{format_shape(v.shape)} {v.dtype} but the op rule "
                                     f"gives {format_shape(t.shape)} {t.dtype}")
                types[v] = t
        return types
