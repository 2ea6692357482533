"""What an op's ONNX rule sees: ``lower(attrs, b, *names)`` gets ``b``, a
``LoweringContext`` for the one node being lowered.

The context holds the node's facts (input and output types, the float dtype, the opset)
and writes ONNX nodes through the exporter's emitter, by tensor *name*: a lowering never
touches protobuf and never reads state the exporter set between nodes.

>>> def lower(self, attrs, b, x):                      # inside an Op subclass
...     half = b.scalar(0.5)                            # a constant of the float dtype
...     return b.op("Mul", x, half)                     # returns the output's name
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from graphc.ir import TensorType

__all__ = ["LoweringContext", "Emitter", "onnx_dtype", "ONNX_DTYPES"]

#: TensorProto element types (onnx.TensorProto.FLOAT, ...) by dtype name.
ONNX_DTYPES = {
    "float32": 1,
    "uint8": 2,
    "int8": 3,
    "int32": 6,
    "int64": 7,
    "bool": 9,
    "float16": 10,
    "float64": 11,
    "uint16": 4,
    "int16": 5,
    "uint32": 12,
    "uint64": 13,
    "bfloat16": 16,
    "float8_e4m3fn": 17,
    "float8_e4m3fnuz": 18,
    "float8_e5m2": 19,
    "float8_e5m2fnuz": 20,
    "uint4": 21,
    "int4": 22,
    "float4_e2m1fn": 23,
    "float8_e8m0fnu": 24,
    "uint2": 25,
    "int2": 26,
}


def onnx_dtype(dtype: Any) -> int:
    """The ONNX element type of a NumPy dtype (``Cast(to=...)``, ``value_info``)."""
    code = ONNX_DTYPES.get(dtype) if isinstance(dtype, str) else None
    return code if code is not None else ONNX_DTYPES[str(np.dtype(dtype))]


class Emitter(Protocol):
    """What the exporter provides: nodes and initializers with unique names."""

    def op(
        self,
        op_type: str,
        *inputs: str,
        outputs: int = 1,
        out_names: Sequence[str] | None = None,
        where: str = "",
        **attrs: Any,
    ) -> Any: ...

    def const(self, array: Any, name: str | None = None, where: str = "") -> str: ...

    def fresh(self, base: str) -> str: ...

    def subgraph(
        self, graph: Any, inputs: Sequence[Any], outputs: Sequence[Any], name: str
    ) -> Any: ...


@dataclass(frozen=True)
class LoweringContext:
    """One node's lowering: ``op``/``const``/``scalar`` emit ONNX, the fields describe it.

    ``where`` is the layer path (``model/dense_1``) that names the emitted nodes.
    """

    emitter: Emitter
    opset: int
    in_types: tuple[TensorType, ...]
    out_types: tuple[TensorType, ...]
    float_dtype: str = "float32"
    where: str = ""

    def op(
        self,
        op_type: str,
        *inputs: str,
        outputs: int = 1,
        out_names: Sequence[str] | None = None,
        **attrs: Any,
    ) -> Any:
        """Append one node; returns its output name (a list when ``outputs > 1``)."""
        return self.emitter.op(
            op_type, *inputs, outputs=outputs, out_names=out_names, where=self.where, **attrs
        )

    def const(self, array: Any, name: str | None = None) -> str:
        """An initializer holding ``array`` (its dtype as given)."""
        return self.emitter.const(array, name, where=self.where)

    def scalar(self, value: float) -> str:
        """A scalar constant in the node's float dtype (for arithmetic in lowerings)."""
        return self.const(np.asarray(value, dtype=self.float_dtype))

    def fresh(self, base: str) -> str:
        """A tensor name no other tensor has."""
        return self.emitter.fresh(base)

    def subgraph(self, graph: Any, inputs: Sequence[Any], outputs: Sequence[Any], name: str) -> Any:
        """An ONNX ``GraphProto`` (for a control-flow attribute such as ``Scan``'s
        ``body``) lowered from the IR ``graph``: its inputs are the values ``inputs`` (the
        graph's own inputs, in the order the ONNX op wants) and its outputs the values
        ``outputs`` (any of the graph's values, inputs included). The subgraph reads no
        outer tensor; its tensor names are unique in the whole model."""
        return self.emitter.subgraph(graph, inputs, outputs, name)
