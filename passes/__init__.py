"""graphc's compiler passes. Each takes a ``graphc.ir.Graph``; analyses return a typed
report, transforms a ``PassResult``. ``Model``, ``summary()`` and the exporter run these
and nothing else."""

from passes._base import Pass, PassResult, Pipeline, PipelineReport
from passes.count_params import CountParams, ParamCount
from passes.export import (
    EXPORT_PASSES,
    CancelTransposes,
    EliminateDeadCode,
    EliminateIdentity,
    FuseMatMulAdd,
    InferenceMode,
)
from passes.infer_shapes import InferredTypes, InferShapes
from passes.validate_connectivity import ConnectivityReport, ValidateConnectivity, top_layers

__all__ = [
    "Pass",
    "PassResult",
    "Pipeline",
    "PipelineReport",
    "ValidateConnectivity",
    "ConnectivityReport",
    "InferShapes",
    "InferredTypes",
    "CountParams",
    "ParamCount",
    "top_layers",
    "MODEL_PASSES",
    "EXPORT_PASSES",
    "EliminateDeadCode",
    "InferenceMode",
    "FuseMatMulAdd",
    "EliminateIdentity",
    "CancelTransposes",
]

#: What every Model runs when it is built.
MODEL_PASSES = (ValidateConnectivity, InferShapes)
