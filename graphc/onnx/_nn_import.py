"""ONNX importer converters for the neural-network op families: Attention, Resize,
ConvTranspose, GridSample and their neighbours. ``graphc.onnx.importer`` adds them to its
``CONVERTERS``; each converter takes ``(node, ins, opset)`` as the others there do and
refuses, with the reason, what the graphc op cannot express."""

from __future__ import annotations

import numpy as np

from graphc import ops
from graphc.onnx.importer import (
    _attr,
    _dtype,
    _is_const,
    _require_float,
    _shape,
    _static,
    _str,
    _Unsupported,
)

__all__ = ["NN_CONVERTERS"]


def _attention(node, ins, opset):
    q, k, v = ins[:3]
    for x in (q, k, v):
        _require_float(x, "Attention")
    opt = list(ins[3:]) + [None] * (7 - len(ins))
    mask, past_k, past_v, nonpad = opt[0], opt[1], opt[2], opt[3]
    if (past_k is None) != (past_v is None):
        raise _Unsupported("past_key without past_value (ONNX requires both or neither)")
    if nonpad is not None and past_k is not None:
        raise _Unsupported("nonpad_kv_seqlen together with past_key/past_value")
    if mask is not None and _dtype(mask) not in ("bool", _dtype(q)):
        raise _Unsupported(f"an attn_mask of dtype {_dtype(mask)} with Q of dtype {_dtype(q)}")
    rank = len(_shape(q))
    attrs = {}
    for key in ("q_num_heads", "kv_num_heads", "softmax_precision", "qk_matmul_output_mode"):
        val = _attr(node, key)
        if val is not None:
            attrs[key] = int(val)
    for key in ("scale", "softcap"):
        val = _attr(node, key)
        if val is not None:
            attrs[key] = float(val)
    attrs["is_causal"] = int(_attr(node, "is_causal", 0))
    for key in ("left_window_size", "right_window_size"):
        val = _attr(node, key)
        if val is not None and int(val) != -1:
            attrs[key] = int(val)
    if attrs.get("qk_matmul_output_mode", 0) not in (0, 1, 2, 3):
        raise _Unsupported(
            f"qk_matmul_output_mode={attrs['qk_matmul_output_mode']} (supported: 0 to 3)"
        )
    if rank == 3 and not (attrs.get("q_num_heads") and attrs.get("kv_num_heads")):
        raise _Unsupported("3-D Q, K, V without q_num_heads and kv_num_heads")
    if rank == 4 and opset >= 25 and ("q_num_heads" in attrs or "kv_num_heads" in attrs):
        raise _Unsupported("q_num_heads/kv_num_heads with 4-D inputs (opset 25 forbids them)")
    return ops.attention(q, k, v, mask, past_k, past_v, nonpad, **attrs)


NN_CONVERTERS = {
    "Attention": _attention,
}
