"""Passes over the lowered ONNX graph (``onnx.NodeProto`` lists), for what only appears
once ops are lowered. ``graphc``'s ONNX exporter runs them after lowering; they import
the ``onnx`` library lazily and nothing of graphc."""

from passes.onnx.peephole import (
    LAYOUT_FREE_OPS,
    cancel_transpose_pairs,
    fold_batch_norms,
    fold_constant_nodes,
    fold_initializer_transposes,
    merge_duplicates,
)

__all__ = [
    "cancel_transpose_pairs",
    "fold_initializer_transposes",
    "fold_batch_norms",
    "fold_constant_nodes",
    "merge_duplicates",
    "LAYOUT_FREE_OPS",
]
