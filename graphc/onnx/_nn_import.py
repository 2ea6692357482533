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
    _pool,
    _require_float,
    _shape,
    _static,
    _str,
    _Unsupported,
    _window_padding,
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
    return ops.onnx_attention(q, k, v, mask, past_k, past_v, nonpad, **attrs)


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


def _window_range(x, axis, start, length):
    """``x[start : start + length]`` along ``axis``, zeros past the end."""
    size = _shape(x)[axis]
    if start < 0:
        raise _Unsupported("negative pads")
    if start + length > size:
        widths = [(0, 0)] * len(_shape(x))
        widths[axis] = (0, start + length - size)
        x = ops.pad(x, widths)
        size = start + length
    if start == 0 and length == size:
        return x
    return ops.take(x, np.arange(start, start + length, dtype=np.int64), axis=axis)


def _conv_transpose(node, ins, opset):
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    _require_float(x, "ConvTranspose")
    n = len(_shape(x)) - 2
    spatial = _shape(x)[2:]
    if n < 1 or not all(isinstance(d, int) for d in spatial):
        raise _Unsupported("ConvTranspose on unknown spatial sizes or an input of rank < 3")
    kernel = tuple(int(k) for k in (_attr(node, "kernel_shape", None) or _shape(w)[2:]))
    if kernel != tuple(_shape(w)[2:]):
        raise _Unsupported(f"kernel_shape {kernel} different from the weight's {_shape(w)[2:]}")
    strides = tuple(_attr(node, "strides", None) or (1,) * n)
    dilations = tuple(_attr(node, "dilations", None) or (1,) * n)
    groups = int(_attr(node, "group", 1))
    out_pad = tuple(_attr(node, "output_padding", None) or (0,) * n)
    output_shape = _attr(node, "output_shape", None)
    pads = _attr(node, "pads", None)
    auto = _str(_attr(node, "auto_pad", "NOTSET"))
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    full = [(i - 1) * s + e for i, s, e in zip(spatial, strides, eff)]
    if output_shape is not None:
        output_shape = [int(v) for v in output_shape][-n:]
    if pads is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        target = output_shape or [i * s for i, s in zip(spatial, strides)]
        total = [f + p - t for f, p, t in zip(full, out_pad, target)]
        if auto == "SAME_UPPER":
            begin = [t // 2 for t in total]
        else:
            begin = [t - t // 2 for t in total]
        lengths = list(target)
    else:
        if auto not in ("NOTSET", "VALID"):
            raise _Unsupported(f"auto_pad={auto}")
        pads = [int(p) for p in (pads or [0] * (2 * n))] if auto == "NOTSET" else [0] * (2 * n)
        begin = pads[:n]
        if output_shape is not None:
            lengths = list(output_shape)
        else:
            lengths = [f + p - b - e for f, p, b, e in zip(full, out_pad, pads[:n], pads[n:])]
    if any(v <= 0 for v in lengths):
        raise _Unsupported(f"an output of size {lengths}")
    c_in = _shape(x)[1]
    if not isinstance(c_in, int) or c_in % groups:
        raise _Unsupported(f"{c_in} input channels in {groups} groups")
    # ONNX kernel (C_in, C_out / g, *k) -> graphc's (*k, C_out / g, C_in / g) per group
    perm = (*range(2, n + 2), 1, 0)
    per = c_in // groups
    outs = []
    for g in range(groups):
        idx = np.arange(g * per, (g + 1) * per, dtype=np.int64)
        xg = x if groups == 1 else ops.take(x, idx, axis=1)
        if _is_const(w):
            wg = np.ascontiguousarray(np.transpose(w[g * per : (g + 1) * per], perm))
        else:
            wg = ops.transpose(w if groups == 1 else ops.take(w, idx, axis=0), perm)
        outs.append(
            ops.apply(
                "conv_transpose",
                [xg, wg],
                strides=strides,
                dilation_rate=dilations,
                padding="valid",
                output_padding=(0,) * n,
                data_format="channels_first",
            )
        )
    y = outs[0] if groups == 1 else ops.concatenate(outs, axis=1)
    for a in range(n):
        y = _window_range(y, a + 2, begin[a], lengths[a])
    if bias is not None:
        b = _reshape_bias(bias, n)
        y = ops.add(y, b)
    return y


def _reshape_bias(bias, n):
    shape = (-1,) + (1,) * n
    return np.reshape(bias, shape) if _is_const(bias) else ops.apply("reshape", [bias], shape=shape)


def _rotary_embedding(node, ins, opset):
    x, cos, sin = ins[:3]
    pos = ins[3] if len(ins) > 3 else None
    _require_float(x, "RotaryEmbedding")
    rank = len(_shape(x))
    if rank not in (3, 4):
        raise _Unsupported(f"an input of rank {rank} (supported: 3 and 4)")
    num_heads = int(_attr(node, "num_heads", 0))
    if rank == 3 and not num_heads:
        raise _Unsupported("a 3-D input without num_heads")
    if pos is not None and _dtype(pos) not in ("int64", "int32"):
        raise _Unsupported(f"position_ids of dtype {_dtype(pos)}")
    attrs = dict(
        interleaved=int(_attr(node, "interleaved", 0)),
        rotary_embedding_dim=int(_attr(node, "rotary_embedding_dim", 0)),
        num_heads=num_heads,
    )
    return ops.apply("rotary_embedding", [x, cos, sin] + ([] if pos is None else [pos]), **attrs)


def _lp_pool(node, ins, opset):
    x = ins[0]
    _require_float(x, "LpPool")
    n = len(_shape(x)) - 2
    kernel = tuple(int(k) for k in _attr(node, "kernel_shape"))
    strides = tuple(_attr(node, "strides", None) or (1,) * n)
    dilations = tuple(_attr(node, "dilations", None) or (1,) * n)
    if any(d != 1 for d in dilations):
        return _lp_pool_dilated(node, x, dilations)
    if _attr(node, "ceil_mode", 0):
        raise _Unsupported("LpPool with ceil_mode=1")
    p = float(_attr(node, "p", 2))
    if p <= 0:
        raise _Unsupported(f"p={p} (supported: positive)")
    powered = ops.apply("power", [ops.abs(x), np.asarray(p, _dtype(x))])
    padded, padding = _window_padding(node, powered, kernel, strides, dilations, "zero")
    if padding == "same":  # SAME_UPPER: the zeros made explicit
        spatial = _shape(x)[2:]
        if not all(isinstance(d, int) for d in spatial):
            raise _Unsupported("LpPool with auto_pad=SAME_UPPER on unknown spatial sizes")
        pads = []
        for size, k, st in zip(spatial, kernel, strides):
            total = max((-(-size // st) - 1) * st + k - size, 0)
            pads.append((total // 2, total - total // 2))
        padded = ops.pad(powered, [(0, 0), (0, 0), *pads])
    elif padding != "valid":
        raise _Unsupported(f"LpPool with padding {padding!r}")
    mean = ops.apply(
        "avg_pool",
        [padded],
        pool_size=kernel,
        strides=strides,
        padding="valid",
        data_format="channels_first",
    )
    total = ops.multiply(mean, np.asarray(float(np.prod(kernel)), _dtype(x)))
    return ops.apply("power", [total, np.asarray(1.0 / p, _dtype(x))])


# ---- pooling with dilations: per axis (max and sums are separable over a box window) ---
def _pool_geometry(node, spatial, kernel, strides, dilations):
    """(output sizes, pads as used, extra begin pads) as onnx's reference derives them,
    ceil_mode's extra padding included (split between the two ends as it splits it)."""
    n = len(kernel)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    auto = _str(_attr(node, "auto_pad", "NOTSET"))
    ceil = bool(_attr(node, "ceil_mode", 0))
    if auto in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        if ceil:
            raise _Unsupported(f"ceil_mode with auto_pad={auto}")
        if auto == "VALID":
            pads = [0] * (2 * n)
        else:
            total = [max((-(-i // s) - 1) * s + e - i, 0) for i, s, e in zip(spatial, strides, eff)]
            small = [t // 2 for t in total]
            big = [t - t // 2 for t in total]
            pads = small + big if auto == "SAME_UPPER" else big + small
    else:
        pads = [int(p) for p in (_attr(node, "pads", None) or [0] * (2 * n))]
    out = []
    for a in range(n):
        size = (spatial[a] + pads[a] + pads[n + a] - eff[a]) / strides[a] + 1
        o = int(np.ceil(size)) if ceil else int(np.floor(size))
        if ceil and (o - 1) * strides[a] >= spatial[a] + pads[a]:
            o -= 1
        out.append(o)
    begin = []
    for a in range(n):
        extra = (out[a] - 1) * strides[a] + eff[a] - spatial[a] - pads[a] - pads[n + a]
        begin.append(pads[a] + (extra // 2 if extra > 0 else 0))
    return out, pads, begin


def _axis_taps(size, out, k, stride, dil, begin, limit):
    """Per output position, the input indices its window covers (data only) and how
    many window positions lie inside the padded extent (``limit``)."""
    taps, inside = [], []
    for o in range(out):
        pos = [stride * o + j * dil for j in range(k)]
        pos = [p for p in pos if p < limit]
        inside.append(len(pos))
        taps.append([p - begin for p in pos if 0 <= p - begin < size])
    return taps, inside


def _move_last(x, axis):
    rank = len(_shape(x))
    perm = [a for a in range(rank) if a != axis] + [axis]
    back = list(np.argsort(perm))
    return perm, back


def _dilated_pool(kind):
    fallback = _pool(kind)

    def convert(node, ins, opset):
        x = ins[0]
        n = len(_shape(x)) - 2
        dilations = tuple(_attr(node, "dilations", None) or (1,) * n)
        if kind == "max" and len(node.output) > 1 and node.output[1]:
            return _max_pool_with_indices(node, x, dilations)
        if all(d == 1 for d in dilations) or node.op_type == "LpPool":
            if node.op_type == "LpPool":
                return _lp_pool_dilated(node, x, dilations)
            return fallback(node, ins, opset)
        _require_float(x, node.op_type)
        if len(node.output) > 1 and node.output[1]:
            raise _Unsupported("MaxPool's Indices output with dilations")
        return _pool_box(node, x, kind, dilations)

    return convert


def _max_pool_with_indices(node, x, dilations):
    """MaxPool and its Indices output: every window tap gathered, stacked on a new last
    axis, the max and its argmax; the argmax maps to the flat input index by a table."""
    _require_float(x, "MaxPool")
    shape = _shape(x)
    n = len(shape) - 2
    if not all(isinstance(d, int) for d in shape):
        raise _Unsupported("MaxPool's Indices output on unknown dimensions")
    if any(d != 1 for d in dilations):
        raise _Unsupported("MaxPool's Indices output with dilations")
    spatial = shape[2:]
    kernel = tuple(int(k) for k in _attr(node, "kernel_shape"))
    strides = tuple(_attr(node, "strides", None) or (1,) * n)
    out, pads, begin = _pool_geometry(node, spatial, kernel, strides, dilations)
    order = int(_attr(node, "storage_order", 0))
    taps_per_axis = []
    for a in range(n):
        limit = spatial[a] + pads[a] + pads[n + a]
        taps, _ = _axis_taps(spatial[a], out[a], kernel[a], strides[a], 1, begin[a], limit)
        if any(not t for t in taps):
            raise _Unsupported("MaxPool with a window that covers only padding")
        # pad short windows by repeating their last tap (a repeated tap never wins argmax)
        taps_per_axis.append([t + [t[-1]] * (kernel[a] - len(t)) for t in taps])
    parts, where = [], []
    for offsets in np.ndindex(*kernel):
        y = x
        for a, j in enumerate(offsets):
            idx = np.array([t[j] for t in taps_per_axis[a]], dtype=np.int64)
            y = ops.take(y, idx, axis=a + 2)
        parts.append(ops.apply("expand_dims", [y], axis=n + 2))
        grids = np.meshgrid(
            *[np.array([t[j] for t in taps_per_axis[a]]) for a, j in enumerate(offsets)],
            indexing="ij",
        )
        if order == 0:
            flat = np.ravel_multi_index(grids, spatial)
        else:
            flat = np.ravel_multi_index(grids[::-1], spatial[::-1])
        where.append(flat)
    stacked = ops.concatenate(parts, axis=n + 2)
    values = ops.apply("max", [stacked], axis=(n + 2,), keepdims=False)
    choice = ops.apply("argmax", [stacked], axis=n + 2, keepdims=False)
    table = np.stack(where, axis=-1).reshape(-1).astype(np.int64)  # (*out, T) flattened
    base = (np.arange(int(np.prod(out)), dtype=np.int64) * len(where)).reshape(out)
    pick = ops.take(table, ops.add(ops.cast(choice, "int64"), base), axis=0)
    size = int(np.prod(spatial))
    lead = (np.arange(shape[0] * shape[1], dtype=np.int64) * size).reshape(
        shape[0], shape[1], *([1] * n)
    )
    return values, ops.add(pick, lead)


def _pool_box(node, x, kind, dilations, include=None):
    """Max or average pooling over dilated windows, one axis at a time: a max of gathered
    taps, or a sum as a matmul by a 0/1 matrix, divided by the window counts."""
    n = len(_shape(x)) - 2
    spatial = _shape(x)[2:]
    if not all(isinstance(d, int) for d in spatial):
        raise _Unsupported(f"{node.op_type} with dilations on unknown spatial sizes")
    kernel = tuple(int(k) for k in _attr(node, "kernel_shape"))
    strides = tuple(_attr(node, "strides", None) or (1,) * n)
    out, pads, begin = _pool_geometry(node, spatial, kernel, strides, dilations)
    if include is None:
        include = bool(_attr(node, "count_include_pad", 0))
    dtype = _dtype(x)
    count = np.ones([1, 1] + [1] * n)
    y = x
    for a in range(n):
        limit = spatial[a] + pads[a] + pads[n + a]
        taps, inside = _axis_taps(
            spatial[a], out[a], kernel[a], strides[a], dilations[a], begin[a], limit
        )
        if any(not t for t in taps):
            raise _Unsupported(f"{node.op_type} with a window that covers only padding")
        axis = a + 2
        if kind == "max":
            width = max(len(t) for t in taps)
            best = None
            for j in range(width):
                idx = np.array([t[min(j, len(t) - 1)] for t in taps], dtype=np.int64)
                part = ops.take(y, idx, axis=axis)
                best = part if best is None else ops.maximum(best, part)
            y = best
        else:
            w = np.zeros((spatial[a], out[a]), dtype=dtype)
            for o, t in enumerate(taps):
                w[t, o] = 1.0
            perm, back = _move_last(y, axis)
            y = ops.transpose(ops.matmul(ops.transpose(y, tuple(perm)), w), tuple(back))
            c = np.array(inside if include else [len(t) for t in taps], dtype=np.float64)
            shape = [1] * (n + 2)
            shape[axis] = out[a]
            count = count * c.reshape(shape)
    if kind == "avg":
        y = ops.divide(y, count.astype(dtype))
    return y


def _lp_pool_dilated(node, x, dilations):
    _require_float(x, "LpPool")
    p = float(_attr(node, "p", 2))
    if p <= 0:
        raise _Unsupported(f"p={p} (supported: positive)")
    powered = ops.apply("power", [ops.abs(x), np.asarray(p, _dtype(x))])
    total = _pool_box(node, powered, "sum", dilations, include=True)
    return ops.apply("power", [total, np.asarray(1.0 / p, _dtype(x))])


def _center_crop_pad(node, ins, opset):
    x = ins[0]
    _require_float(x, "CenterCropPad")
    target = [int(v) for v in _static(ins[1], "shape input").reshape(-1)]
    rank = len(_shape(x))
    axes = _attr(node, "axes", None)
    axes = list(range(rank)) if not axes else [int(a) % rank for a in axes]
    if len(axes) != len(target):
        raise _Unsupported(f"{len(target)} sizes for {len(axes)} axes")
    y = x
    for a, size in zip(axes, target):
        dim = _shape(y)[a]
        if not isinstance(dim, int):
            raise _Unsupported("CenterCropPad along an unknown dimension")
        if size == dim:
            continue
        if size <= 0:
            raise _Unsupported(f"a target size of {size}")
        if size < dim:
            start = (dim - size) // 2
            y = ops.take(y, np.arange(start, start + size, dtype=np.int64), axis=a)
        else:
            before = (size - dim) // 2
            widths = [(0, 0)] * rank
            widths[a] = (before, size - dim - before)
            y = ops.pad(y, widths)
    return y if y is not x else ops.identity(x)


def _lrn(node, ins, opset):
    x = ins[0]
    _require_float(x, "LRN")
    if len(_shape(x)) < 3:
        raise _Unsupported("LRN on an input of rank < 3")
    size = int(_attr(node, "size"))
    alpha = float(_attr(node, "alpha", 1e-4))
    beta = float(_attr(node, "beta", 0.75))
    bias = float(_attr(node, "bias", 1.0))
    channels = _shape(x)[1]
    if not isinstance(channels, int):
        raise _Unsupported("LRN over an unknown number of channels")
    dtype = _dtype(x)
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    # the channel window's sum of squares as a matmul by a band matrix over channels
    band = np.zeros((channels, channels), dtype=dtype)
    for c in range(channels):
        band[max(0, c - lo) : min(channels, c + hi + 1), c] = 1.0
    rank = len(_shape(x))
    perm = (0, *range(2, rank), 1)
    back = (0, rank - 1, *range(1, rank - 1))
    sq = ops.transpose(ops.multiply(x, x), perm)
    total = ops.transpose(ops.matmul(sq, band), back)
    scale = ops.add(ops.multiply(total, np.asarray(alpha / size, dtype)), np.asarray(bias, dtype))
    return ops.divide(x, ops.apply("power", [scale, np.asarray(beta, dtype)]))


def _affine_grid(node, ins, opset):
    theta = ins[0]
    _require_float(theta, "AffineGrid")
    size = [int(v) for v in _static(ins[1], "size input").reshape(-1)]
    align = int(_attr(node, "align_corners", 0))
    spatial = size[2:]
    if len(spatial) not in (2, 3):
        raise _Unsupported(f"a size of {len(size)} entries (supported: 4 and 5)")
    axes = []
    for dim in spatial:
        if align:
            a = np.linspace(-1.0, 1.0, dim) if dim > 1 else np.array([-1.0])
        else:
            a = (np.arange(dim) * 2.0 + 1.0) / dim - 1.0
        axes.append(a)
    mesh = np.meshgrid(*axes, indexing="ij")
    # homogeneous coordinates, x first: (x, y[, z], 1) per position
    base = np.stack([*mesh[::-1], np.ones(mesh[0].shape)], axis=-1)
    base = base.reshape(-1, len(spatial) + 1).astype(_dtype(theta))
    # (P, d+1) @ (N, d+1, d) -> (N, P, d)
    grid = ops.matmul(base, ops.transpose(theta, (0, 2, 1)))
    return ops.apply("reshape", [grid], shape=(size[0], *spatial, len(spatial)))


def _nms(node, ins, opset):
    boxes, scores = ins[:2]
    _require_float(boxes, "NonMaxSuppression")
    _require_float(scores, "NonMaxSuppression")
    opt = list(ins[2:]) + [None] * (5 - len(ins))

    def scalar(x, what, kind):
        if x is None:
            return None
        v = _static(x, what).reshape(-1)
        return None if v.size == 0 else kind(v[0])

    limit = scalar(opt[0], "max_output_boxes_per_class input", int)
    return ops.apply(
        "non_max_suppression",
        [boxes, scores],
        max_output_boxes_per_class=0 if limit is None else limit,
        iou_threshold=scalar(opt[1], "iou_threshold input", float),
        score_threshold=scalar(opt[2], "score_threshold input", float),
        center_point_box=int(_attr(node, "center_point_box", 0)),
    )


def _col2im(node, ins, opset):
    x = ins[0]
    _require_float(x, "Col2Im")
    image = [int(v) for v in _static(ins[1], "image_shape input").reshape(-1)]
    block = [int(v) for v in _static(ins[2], "block_shape input").reshape(-1)]
    n = len(image)
    if len(block) != n:
        raise _Unsupported(f"image_shape {image} and block_shape {block} of different ranks")
    strides = [int(v) for v in (_attr(node, "strides", None) or [1] * n)]
    dilations = [int(v) for v in (_attr(node, "dilations", None) or [1] * n)]
    pads = [int(v) for v in (_attr(node, "pads", None) or [0] * (2 * n))]
    grid = [
        (i + pads[a] + pads[n + a] - (b - 1) * d - 1) // s + 1
        for a, (i, b, d, s) in enumerate(zip(image, block, dilations, strides))
    ]
    k = int(np.prod(block))
    rows, blocks = _shape(x)[1], _shape(x)[2]
    if not isinstance(rows, int) or rows % k or blocks not in (None, int(np.prod(grid))):
        raise _Unsupported(
            f"an input of shape {_shape(x)} for blocks {block} over a grid of {grid}"
        )
    channels = rows // k
    # the adjoint of im2col: a transposed convolution whose kernel routes row (c, k) of
    # the columns to channel c at block offset k, then the padding cropped
    cols = ops.apply("reshape_trailing", [x], keep=1, shape=(rows, *grid))
    w = np.zeros((*block, channels, rows), dtype=_dtype(x))
    for c in range(channels):
        for j, offset in enumerate(np.ndindex(*block)):
            w[(*offset, c, c * k + j)] = 1.0
    y = ops.apply(
        "conv_transpose",
        [cols, w],
        strides=tuple(strides),
        dilation_rate=tuple(dilations),
        padding="valid",
        output_padding=(0,) * n,
        data_format="channels_first",
    )
    for a in range(n):
        y = _window_range(y, a + 2, pads[a], image[a])
    return y


def _dft(node, ins, opset):
    x = ins[0]
    _require_float(x, "DFT")
    rank = len(_shape(x))
    length = ins[1] if len(ins) > 1 else None
    length = None if length is None else int(_static(length, "dft_length input").reshape(-1)[0])
    if opset >= 20:
        axis = ins[2] if len(ins) > 2 else None
        axis = -2 if axis is None else int(_static(axis, "axis input").reshape(-1)[0])
    else:
        axis = int(_attr(node, "axis", 1))
    if not -rank <= axis < rank or axis % rank == rank - 1:
        raise _Unsupported(
            f"axis {axis} for an input of rank {rank} (the last axis holds the components)"
        )
    if _shape(x)[-1] not in (1, 2):
        raise _Unsupported(f"a last axis of {_shape(x)[-1]} components (supported: 1 or 2)")
    if _attr(node, "onesided", 0) and not _attr(node, "inverse", 0) and _shape(x)[-1] == 2:
        raise _Unsupported("a one-sided DFT of a complex input (ONNX requires a real one)")
    attrs = dict(
        axis=axis % rank,
        inverse=int(_attr(node, "inverse", 0)),
        onesided=int(_attr(node, "onesided", 0)),
    )
    if length is not None:
        attrs["dft_length"] = length
    return ops.apply("dft", [x], **attrs)


def _stft(node, ins, opset):
    x = ins[0]
    _require_float(x, "STFT")
    opt = list(ins[1:]) + [None] * (4 - len(ins))
    step = int(_static(opt[0], "frame_step input").reshape(-1)[0])
    window, length = opt[1], opt[2]
    length = None if length is None else int(_static(length, "frame_length input").reshape(-1)[0])
    onesided = int(_attr(node, "onesided", 1))
    shape = _shape(x)
    if len(shape) != 3 or shape[-1] not in (1, 2) or not isinstance(shape[1], int):
        raise _Unsupported(f"a signal of shape {shape} (supported: (batch, known length, 1 or 2))")
    if window is None and length is None:
        raise _Unsupported("STFT without a window or a frame_length")
    size = _shape(window)[0] if window is not None else length
    if not isinstance(size, int) or step <= 0:
        raise _Unsupported(f"a window of size {size} with frame_step {step}")
    fft = length if length is not None else size
    frames = 1 + (shape[1] - fft) // step
    if frames <= 0:
        raise _Unsupported(f"a signal of length {shape[1]} shorter than the frame")
    if onesided and shape[-1] == 2:
        raise _Unsupported("a one-sided STFT of a complex signal")
    index = (np.arange(frames)[:, None] * step + np.arange(size)[None, :]).astype(np.int64)
    cut = ops.take(x, index, axis=1)  # (batch, frames, size, components)
    if window is not None:
        w = (
            np.reshape(window, (1, 1, size, 1))
            if _is_const(window)
            else ops.apply("reshape", [window], shape=(1, 1, size, 1))
        )
        cut = ops.multiply(cut, w)
    return ops.apply("dft", [cut], axis=2, onesided=onesided, dft_length=fft)


def _swiglu(node, ins, opset):
    a, b = ins
    _require_float(a, "SwiGLU")
    if _shape(a) != _shape(b):
        raise _Unsupported(f"gate {_shape(a)} and value {_shape(b)} of different shapes")
    alpha = float(_attr(node, "alpha", 1.0))
    scaled = a if alpha == 1.0 else ops.multiply(a, np.asarray(alpha, _dtype(a)))
    return ops.multiply(ops.multiply(a, ops.sigmoid(scaled)), b)


def _roi_align(node, ins, opset):
    x, rois, index = ins
    _require_float(x, "RoiAlign")
    mode = _str(_attr(node, "mode", "avg"))
    if mode not in ("avg", "max"):
        raise _Unsupported(f"mode={mode!r} (supported: avg, max)")
    ctm = _str(
        _attr(
            node,
            "coordinate_transformation_mode",
            "half_pixel" if opset >= 16 else "output_half_pixel",
        )
    )
    if ctm not in ("half_pixel", "output_half_pixel"):
        raise _Unsupported(f"coordinate_transformation_mode={ctm!r}")
    return ops.apply(
        "roi_align",
        [x, rois, index],
        mode=mode,
        output_height=int(_attr(node, "output_height", 1)),
        output_width=int(_attr(node, "output_width", 1)),
        sampling_ratio=int(_attr(node, "sampling_ratio", 0)),
        spatial_scale=float(_attr(node, "spatial_scale", 1.0)),
        coordinate_transformation_mode=ctm,
    )


def _max_unpool(node, ins, opset):
    x, indices = ins[0], ins[1]
    _require_float(x, "MaxUnpool")
    if _dtype(indices) != "int64":
        raise _Unsupported(f"indices of dtype {_dtype(indices)}")
    shape = _shape(x)
    n = len(shape) - 2
    if not all(isinstance(d, int) for d in shape[2:]):
        raise _Unsupported("MaxUnpool on unknown spatial sizes")
    kernel = [int(k) for k in _attr(node, "kernel_shape")]
    strides = [int(v) for v in (_attr(node, "strides", None) or [1] * n)]
    pads = [int(v) for v in (_attr(node, "pads", None) or [0] * (2 * n))]
    unpooled = [
        (shape[a + 2] - 1) * strides[a] - (pads[a] + pads[n + a]) + kernel[a] for a in range(n)
    ]
    target = list(shape[:2]) + unpooled
    if len(ins) > 2 and ins[2] is not None:
        target = [int(v) for v in _static(ins[2], "output_shape input").reshape(-1)]
        if any(t < u for t, u in zip(target[2:], unpooled)):
            raise _Unsupported(f"an output_shape {target} smaller than the unpooled {unpooled}")
    return ops.apply(
        "max_unpool",
        [x, indices],
        unpooled=tuple(unpooled),
        shape=tuple(target),
        kernel_shape=tuple(kernel),
        strides=tuple(strides),
        pads=tuple(pads),
    )


NN_CONVERTERS = {
    "MaxUnpool": _max_unpool,
    "RoiAlign": _roi_align,
    "STFT": _stft,
    "SwiGLU": _swiglu,
    "DFT": _dft,
    "Col2Im": _col2im,
    "NonMaxSuppression": _nms,
    "CenterCropPad": _center_crop_pad,
    "LRN": _lrn,
    "AffineGrid": _affine_grid,
    "MaxPool": _dilated_pool("max"),
    "AveragePool": _dilated_pool("avg"),
    "LpPool": _lp_pool,
    "RotaryEmbedding": _rotary_embedding,
    "ConvTranspose": _conv_transpose,
    "LinearAttention": _linear_attention,
    "CausalConvWithState": _causal_conv_with_state,
    "GridSample": _grid_sample,
    "Upsample": _upsample,
    "Resize": _resize,
    "Attention": _attention,
}
