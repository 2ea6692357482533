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


def _resize(node, ins, opset):
    x = ins[0]
    _require_float(x, "Resize")
    rank = len(_shape(x))
    if opset < 11:
        roi, scales, sizes = None, ins[1], None
    else:
        roi = ins[1] if len(ins) > 1 else None
        scales = ins[2] if len(ins) > 2 else None
        sizes = ins[3] if len(ins) > 3 else None
    scales = None if scales is None else _static(scales, "scales input")
    sizes = None if sizes is None else _static(sizes, "sizes input")
    if scales is not None and scales.size == 0:
        scales = None
    if sizes is not None and sizes.size == 0:
        sizes = None
    if (scales is None) == (sizes is None):
        raise _Unsupported("Resize needs exactly one of scales and sizes")
    axes = _attr(node, "axes")
    axes = tuple(range(rank)) if not axes else tuple(int(a) % rank for a in axes)
    given = scales if scales is not None else sizes
    if len(given) != len(axes):
        raise _Unsupported(f"{len(given)} scales/sizes for {len(axes)} axes")
    attrs = {
        "axes": axes,
        "mode": _str(_attr(node, "mode", "nearest")),
        "coordinate_transformation_mode": _str(
            _attr(
                node,
                "coordinate_transformation_mode",
                "half_pixel" if opset >= 11 else "asymmetric",
            )
        ),
        "nearest_mode": _str(_attr(node, "nearest_mode", "round_prefer_floor")),
        "cubic_coeff_a": float(_attr(node, "cubic_coeff_a", -0.75)),
        "exclude_outside": int(_attr(node, "exclude_outside", 0)),
        "extrapolation_value": float(_attr(node, "extrapolation_value", 0.0)),
        "antialias": int(_attr(node, "antialias", 0)),
        "keep_aspect_ratio_policy": _str(_attr(node, "keep_aspect_ratio_policy", "stretch")),
    }
    if opset < 11:
        attrs["coordinate_transformation_mode"] = "asymmetric"
        attrs["nearest_mode"] = "floor"
    if attrs["mode"] not in ("nearest", "linear", "cubic"):
        raise _Unsupported(f"mode={attrs['mode']!r} (supported: nearest, linear, cubic)")
    if attrs["mode"] == "nearest" and attrs["antialias"]:
        raise _Unsupported("antialias with mode='nearest'")
    if attrs["keep_aspect_ratio_policy"] not in ("stretch", "not_larger", "not_smaller"):
        raise _Unsupported(f"keep_aspect_ratio_policy={attrs['keep_aspect_ratio_policy']!r}")
    if scales is not None:
        attrs["scales"] = tuple(float(v) for v in scales)
        if any(v <= 0 for v in attrs["scales"]):
            raise _Unsupported(f"scales {attrs['scales']} (they must be positive)")
    else:
        attrs["sizes"] = tuple(int(v) for v in sizes)
    if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize":
        if roi is None:
            raise _Unsupported("coordinate_transformation_mode=tf_crop_and_resize without roi")
        roi = _static(roi, "roi input").astype("float64").reshape(-1)
        if roi.size == 2 * rank and len(axes) != rank:
            roi = np.concatenate([roi[list(axes)], roi[[rank + a for a in axes]]])
        attrs["roi"] = tuple(float(v) for v in roi)
    return ops.apply("resize", [x], **attrs)


def _upsample(node, ins, opset):
    return _resize(node, ins[:2], 10)


def _grid_sample(node, ins, opset):
    x, grid = ins
    _require_float(x, "GridSample")
    _require_float(grid, "GridSample")
    mode = _str(_attr(node, "mode", "linear" if opset >= 20 else "bilinear"))
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    if mode not in ("nearest", "linear", "cubic"):
        raise _Unsupported(f"mode={mode!r} (supported: nearest, linear/bilinear, cubic/bicubic)")
    padding = _str(_attr(node, "padding_mode", "zeros"))
    if padding not in ("zeros", "border", "reflection"):
        raise _Unsupported(f"padding_mode={padding!r} (supported: zeros, border, reflection)")
    return ops.apply(
        "grid_sample",
        [x, grid],
        mode=mode,
        padding_mode=padding,
        align_corners=int(_attr(node, "align_corners", 0)),
    )


def _causal_conv_with_state(node, ins, opset):
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    past = ins[3] if len(ins) > 3 else None
    _require_float(x, "CausalConvWithState")
    activation = _str(_attr(node, "activation", "none"))
    if activation not in ("none", "silu", "swish"):
        raise _Unsupported(f"activation={activation!r} (supported: none, silu, swish)")
    if len(_shape(x)) != 3 or len(_shape(w)) != 3:
        raise _Unsupported("input and weight of rank other than 3")
    k = _shape(w)[2]
    if not isinstance(k, int) or k < 2:
        raise _Unsupported(f"a kernel of width {k} (graphc needs a known width of 2 or more)")
    channels = _shape(x)[1]
    if past is None:
        padded = ops.pad(x, [(0, 0), (0, 0), (k - 1, 0)])
    else:
        padded = ops.concatenate([past, x], axis=2)
    # ONNX's depthwise kernel (C, 1, k) -> graphc's (k, 1, C)
    wk = np.transpose(w, (2, 1, 0)) if _is_const(w) else ops.transpose(w, (2, 1, 0))
    y = ops.apply(
        "conv",
        [padded, wk] + ([] if bias is None else [bias]),
        strides=(1,),
        dilation_rate=(1,),
        padding="valid",
        data_format="channels_first",
        groups=int(channels) if isinstance(channels, int) else _shape(w)[0],
    )
    if activation != "none":
        y = ops.apply("silu", [y])
    length = _shape(padded)[2]
    if not isinstance(length, int):
        raise _Unsupported("the present state of an input of unknown length")
    present = ops.take(padded, np.arange(length - k + 1, length, dtype=np.int64), axis=2)
    return y, present


def _linear_attention(node, ins, opset):
    q, k, v = ins[:3]
    for x in (q, k, v):
        _require_float(x, "LinearAttention")
    opt = list(ins[3:]) + [None] * (6 - len(ins))
    past, decay, beta = opt[:3]
    rule = _str(_attr(node, "update_rule", "gated_delta"))
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise _Unsupported(f"update_rule={rule!r} (supported: linear, gated, delta, gated_delta)")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gated != (decay is not None) or delta != (beta is not None):
        raise _Unsupported(f"update_rule={rule!r} with decay/beta inputs it does not take")
    hq, hkv = _attr(node, "q_num_heads"), _attr(node, "kv_num_heads")
    if not hq or not hkv:
        raise _Unsupported("no q_num_heads/kv_num_heads")
    if any(len(_shape(x)) != 3 for x in (q, k, v)):
        raise _Unsupported("query/key/value of rank other than 3")
    dk = _shape(q)[2] // int(hq) if isinstance(_shape(q)[2], int) else None
    if decay is not None and _shape(decay)[-1] not in (
        int(hkv),
        None if dk is None else int(hkv) * dk,
    ):
        raise _Unsupported(f"decay of shape {_shape(decay)}")
    if beta is not None and _shape(beta)[-1] not in (int(hkv), 1):
        raise _Unsupported(f"beta of shape {_shape(beta)}")
    attrs = dict(
        q_num_heads=int(hq),
        kv_num_heads=int(hkv),
        update_rule=rule,
        has_past=past is not None,
        scale=float(_attr(node, "scale", 0.0)),
    )
    extra = [x for x in (past, decay, beta) if x is not None]
    return ops.apply("linear_attention", [q, k, v, *extra], **attrs)


NN_CONVERTERS = {
    "LinearAttention": _linear_attention,
    "CausalConvWithState": _causal_conv_with_state,
    "GridSample": _grid_sample,
    "Upsample": _upsample,
    "Resize": _resize,
    "Attention": _attention,
}
