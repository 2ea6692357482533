"""The export passes: what ``graphc.onnx.export`` runs (in this order) unless
``optimize=False``. Each is a transform returning ``PassResult(graph, changed, reason)``.

>>> from passes.export import FuseMatMulAdd
>>> graph = model.graph.clone()
>>> FuseMatMulAdd().run(graph).changed
True
"""

from passes.export.cancel_transposes import CancelTransposes
from passes.export.dead_code import EliminateDeadCode
from passes.export.eliminate_identity import EliminateIdentity
from passes.export.fuse_matmul_add import FuseMatMulAdd
from passes.export.inference_mode import InferenceMode

__all__ = [
    "EliminateDeadCode",
    "InferenceMode",
    "FuseMatMulAdd",
    "EliminateIdentity",
    "CancelTransposes",
    "EXPORT_PASSES",
]

#: What the exporter runs, in order: inference form first (it exposes identities), then
#: identity removal, transpose cancelling and fusion, and dead code last (it sweeps up
#: what the others leave behind).
EXPORT_PASSES = (
    InferenceMode,
    EliminateIdentity,
    CancelTransposes,
    FuseMatMulAdd,
    EliminateDeadCode,
)
