"""More ONNX converters for ``graphc.onnx.load``: bitwise and integer ops, the
elementwise functions beyond the basic ones, running sums and products, selection
(TopK, OneHot, Unique, Compress, Einsum), scatters and gathers, and quantization.

Each converter has the signature of ``graphc.onnx.importer.CONVERTERS``' entries and
refuses what graphc cannot express with the reason (the importer names the op, the
node and the opset).
"""

from __future__ import annotations

import numpy as np

from graphc import ops
from graphc.onnx.importer import (
    _FLOAT_KINDS,
    _ONNX_DTYPES,
    _attr,
    _axes_of,
    _axis,
    _cast_to,
    _dtype,
    _ident,
    _is_const,
    _require_float,
    _shape,
    _static,
    _str,
    _unary,
    _Unsupported,
)
from graphc.ops.bitwise import shift
from graphc.ops.masking import NARROW_DTYPES, narrow_cast

_INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _same_dtype(node, a, b):
    if _dtype(a) != _dtype(b):
        raise _Unsupported(f"operands of different dtypes {_dtype(a)} and {_dtype(b)}")


def _bitwise(name, fn):
    def convert(node, ins, opset):
        a, b = ins
        _same_dtype(node, a, b)
        if _dtype(a) not in _INTS:
            raise _Unsupported(f"{node.op_type} on dtype {_dtype(a)}")
        if _is_const(a) and _is_const(b):
            return np.asarray(fn(a, b))
        return ops.apply(name, [a, b])

    return convert


def _bitwise_not(node, ins, opset):
    x = ins[0]
    if _dtype(x) not in _INTS:
        raise _Unsupported(f"BitwiseNot on dtype {_dtype(x)}")
    return np.invert(x) if _is_const(x) else ops.apply("bitwise_not", [x])


def _bit_shift(node, ins, opset):
    a, s = ins
    _same_dtype(node, a, s)
    if _dtype(a) not in _INTS:
        raise _Unsupported(f"BitShift on dtype {_dtype(a)}")
    direction = _str(_attr(node, "direction")).lower()
    if direction not in ("left", "right"):
        raise _Unsupported(f"direction {direction!r}")
    if _is_const(a) and _is_const(s):
        return shift(a, s, direction == "left")
    return ops.apply("bit_shift", [a, s], direction=direction)


def _int_div(base):
    """Div: integers truncate toward zero (ONNX); floats by the importer's rule."""

    def convert(node, ins, opset):
        a, b = ins
        if _dtype(a) not in _INTS:
            return base(node, ins, opset)
        _same_dtype(node, a, b)
        return ops.apply("trunc_divide", [a, b])

    return convert


def _is_inf(node, ins, opset):
    x = ins[0]
    _require_float(x, "IsInf")
    pos, neg = bool(_attr(node, "detect_positive", 1)), bool(_attr(node, "detect_negative", 1))
    if not (pos or neg):
        return ops.apply("less", [x, x])  # false everywhere (NaN too)
    return ops.apply("isinf", [x], sign=0 if pos and neg else (1 if pos else -1))


def _celu(node, ins, opset):
    x = ins[0]
    _require_float(x, "Celu")
    return ops.celu(x, alpha=float(_attr(node, "alpha", 1.0)))


def _hard_swish(node, ins, opset):
    _require_float(ins[0], "HardSwish")
    return ops.hard_swish(ins[0])


def _mish(node, ins, opset):
    _require_float(ins[0], "Mish")
    return ops.mish(ins[0])


def _shrink(node, ins, opset):
    x = ins[0]
    _require_float(x, "Shrink")
    dt = _dtype(x)
    lambd = np.asarray(_attr(node, "lambd", 0.5), dt)
    bias = np.asarray(_attr(node, "bias", 0.0), dt)
    zero = np.zeros((), dt)
    return ops.where(
        ops.less(x, -lambd),
        ops.add(x, bias),
        ops.where(ops.greater(x, lambd), ops.subtract(x, bias), zero),
    )


def _prelu(node, ins, opset):
    x, slope = ins
    _require_float(x, "PRelu")
    zero = np.zeros((), _dtype(x))
    return ops.where(ops.less(x, zero), ops.multiply(x, slope), x)


def _clip_any(node, ins, opset):
    """Clip on integers (floats go to the importer's Clip)."""
    from graphc.onnx.importer import _clip

    x = ins[0]
    if _dtype(x) in _FLOAT_KINDS:
        return _clip(node, ins, opset)
    if _dtype(x) not in _INTS:
        raise _Unsupported(f"Clip on dtype {_dtype(x)}")
    lo = None if len(ins) < 2 or ins[1] is None else _static(ins[1], "min")
    hi = None if len(ins) < 3 or ins[2] is None else _static(ins[2], "max")
    y = x
    if lo is not None:
        y = ops.maximum(y, np.asarray(lo, _dtype(x)).reshape(()))
    if hi is not None:
        y = ops.minimum(y, np.asarray(hi, _dtype(x)).reshape(()))
    return y if y is not x else _ident(x)


# ---- reductions ---------------------------------------------------------------------------
def _reduce_args(node, ins, opset, since=18):
    x = ins[0]
    axes = _axes_of(node, ins, opset, since)
    keep = bool(_attr(node, "keepdims", 1))
    rank = len(_shape(x))
    if axes is None or axes == []:
        if _attr(node, "noop_with_empty_axes", 0):
            return x, "noop", keep
        return x, None, keep
    return x, tuple(sorted(_axis(a, rank) for a in axes)), keep


def _reduce_prod(node, ins, opset):
    x, axes, keep = _reduce_args(node, ins, opset)
    _require_float(x, "ReduceProd")
    if axes == "noop":
        return _ident(x)
    return ops.apply("prod", [x], axis=axes, keepdims=keep)


def _reduce_bool_or(base, kind):
    """ReduceMax/ReduceMin: on booleans as any/all; the rest by the importer's rule."""

    def convert(node, ins, opset):
        x = ins[0]
        if _dtype(x) != "bool":
            return base(node, ins, opset)
        x, axes, keep = _reduce_args(node, ins, opset)
        if axes == "noop":
            return _ident(x)
        flag = x if kind == "max" else ops.logical_not(x)
        count = ops.apply("sum", [ops.cast(flag, "float32")], axis=axes, keepdims=keep)
        hit = ops.greater(count, np.zeros((), "float32"))
        return hit if kind == "max" else ops.logical_not(hit)

    return convert


# ---- running sums, selection ----------------------------------------------------------------
def _cum(name):
    def convert(node, ins, opset):
        x = ins[0]
        if _dtype(x) not in _FLOAT_KINDS + ("int32", "int64", "uint32", "uint64"):
            raise _Unsupported(f"{node.op_type} on dtype {_dtype(x)}")
        axis = int(_static(ins[1], "axis").reshape(()))
        return ops.apply(
            name,
            [x],
            axis=_axis(axis, len(_shape(x))),
            exclusive=bool(_attr(node, "exclusive", 0)),
            reverse=bool(_attr(node, "reverse", 0)),
        )

    return convert


def _top_k(node, ins, opset):
    x = ins[0]
    if opset < 10:
        k = int(_attr(node, "k"))
    else:
        k = int(_static(ins[1], "K").reshape(-1)[0])
    if _dtype(x) not in _FLOAT_KINDS + _INTS:
        raise _Unsupported(f"TopK on dtype {_dtype(x)}")
    if not _attr(node, "sorted", 1):
        raise _Unsupported("sorted=0 (graphc returns the top k sorted)")
    rank = len(_shape(x))
    axis = _axis(_attr(node, "axis", -1), rank)
    if _shape(x)[axis] is None:
        raise _Unsupported("TopK along an unknown dimension")
    return ops.apply("top_k", [x], k=k, axis=axis, largest=bool(_attr(node, "largest", 1)))


def _einsum(node, ins, opset):
    xs = list(ins)
    if len({_dtype(x) for x in xs}) > 1:
        raise _Unsupported("Einsum of different dtypes")
    return ops.apply("einsum", xs, equation=_str(_attr(node, "equation")))


def _one_hot(node, ins, opset):
    idx, depth, values = ins
    depth = int(np.asarray(_static(depth, "depth")).reshape(-1)[0])
    values = _static(values, "values").reshape(-1)
    dt = str(values.dtype)
    if dt not in _FLOAT_KINDS + _INTS + ("bool",):
        raise _Unsupported(f"OneHot values of dtype {dt}")
    axis = int(_attr(node, "axis", -1))
    return ops.apply(
        "one_hot",
        [idx],
        depth=depth,
        axis=axis,
        dtype=dt,
        on_value=values[1].item(),
        off_value=values[0].item(),
    )


def _unique(node, ins, opset):
    x = ins[0]
    if _dtype(x) not in _FLOAT_KINDS + _INTS:
        raise _Unsupported(f"Unique on dtype {_dtype(x)}")
    axis = _attr(node, "axis", None)
    if axis is not None:
        axis = _axis(axis, len(_shape(x)))
    return ops.apply("unique", [x], axis=axis, sorted=bool(_attr(node, "sorted", 1)))


def _compress(node, ins, opset):
    x, cond = ins
    axis = _attr(node, "axis", None)
    if axis is not None:
        axis = _axis(axis, len(_shape(x)))
    if _is_const(x) and _is_const(cond):
        return np.compress(cond.reshape(-1), x, axis=axis)
    return ops.apply("compress", [x, cond], axis=axis)


def _scatter_elements(node, ins, opset):
    data, idx, upd = ins
    if _dtype(idx) not in ("int32", "int64"):
        raise _Unsupported(f"indices of dtype {_dtype(idx)}")
    reduction = _str(_attr(node, "reduction", "none"))
    if reduction not in ("none", "add", "mul", "max", "min"):
        raise _Unsupported(f"reduction {reduction!r}")
    return ops.apply(
        "scatter_elements",
        [data, idx, upd],
        axis=_axis(_attr(node, "axis", 0), len(_shape(data))),
        reduction=reduction,
    )


def _scatter_nd(node, ins, opset):
    data, idx, upd = ins
    if _dtype(idx) != "int64":
        raise _Unsupported(f"indices of dtype {_dtype(idx)}")
    reduction = _str(_attr(node, "reduction", "none"))
    if reduction not in ("none", "add", "mul", "max", "min"):
        raise _Unsupported(f"reduction {reduction!r}")
    return ops.apply("scatter_nd", [data, idx, upd], reduction=reduction)


def _gather_nd(node, ins, opset):
    data, idx = ins
    if _dtype(idx) != "int64":
        raise _Unsupported(f"indices of dtype {_dtype(idx)}")
    if _shape(idx)[-1] is None:
        raise _Unsupported("GatherND with the last dimension of indices unknown")
    return ops.apply("gather_nd", [data, idx], batch_dims=int(_attr(node, "batch_dims", 0)))


def _eye_like(node, ins, opset):
    x = ins[0]
    shape = _shape(x)
    if len(shape) != 2 or any(d is None for d in shape):
        raise _Unsupported("EyeLike of an input of unknown or non-2-D shape")
    to = _attr(node, "dtype", None)
    dt = _dtype(x) if to is None else _ONNX_DTYPES.get(int(to))
    if dt is None or dt in NARROW_DTYPES:
        raise _Unsupported(f"EyeLike to ONNX element type {to}")
    return np.eye(shape[0], shape[1], k=int(_attr(node, "k", 0)), dtype=dt)


# ---- quantization -------------------------------------------------------------------------------
def _per_axis(node, x, param, axis, block):
    """``param`` (a scale or zero point) broadcast against ``x``: a scalar, a vector
    along ``axis``, or blocks of ``block`` along ``axis``."""
    rank = len(_shape(x))
    p_shape = _shape(param)
    if len(p_shape) == 0 or (len(p_shape) == 1 and p_shape[0] == 1 and not block):
        return param if not _is_const(param) else param.reshape(())
    axis = _axis(axis, rank)
    if block:
        if len(p_shape) != rank:
            raise _Unsupported("blocked quantization with parameters of another rank")
        size = _shape(x)[axis]
        if size is None:
            raise _Unsupported("blocked quantization along an unknown dimension")
        keep = np.arange(size, dtype=np.int64)
        if _is_const(param):
            return np.take(np.repeat(param, block, axis=axis), keep, axis=axis)
        param = ops.apply("repeat", [param], repeats=block, axis=axis)
        return ops.take(param, keep, axis=axis)
    if len(p_shape) != 1:
        raise _Unsupported(f"quantization parameters of shape {p_shape}")
    target = [1] * rank
    target[axis] = p_shape[0]
    if _is_const(param):
        return param.reshape(target)
    return ops.apply("reshape", [param], shape=tuple(target))


def _as_float(v, dt):
    if _is_const(v):
        return v.astype(np.float32).astype(dt) if _dtype(v) in NARROW_DTYPES else v.astype(dt)
    return ops.apply("cast", [v], dtype=dt, from_dtype=_dtype(v)) if _dtype(v) != dt else v


def _dequantize(node, ins, opset):
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    if _dtype(scale) not in _FLOAT_KINDS:
        raise _Unsupported(f"scale of dtype {_dtype(scale)}")
    if _attr(node, "output_dtype", 0) not in (0, None):
        raise _Unsupported("output_dtype")
    dt = _dtype(scale)
    axis, block = _attr(node, "axis", 1), int(_attr(node, "block_size", 0))
    if _dtype(x) not in ("int8", "uint8", "int16", "uint16", "int32") + NARROW_DTYPES:
        raise _Unsupported(f"DequantizeLinear of dtype {_dtype(x)}")
    xf = _as_float(x, "float32")
    if zp is not None:
        zpf = _per_axis(node, x, _as_float(zp, "float32"), axis, block)
        xf = ops.subtract(xf, zpf) if not _is_const(xf) else xf - zpf
    s = _per_axis(node, x, scale, axis, block)
    if _is_const(s):
        s = s.astype("float32")
    elif dt != "float32":
        s = ops.cast(s, "float32")
    y = ops.multiply(xf, s)
    return ops.cast(y, dt) if dt != "float32" else y


def _quantize(node, ins, opset):
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    _require_float(x, "QuantizeLinear")
    axis, block = _attr(node, "axis", 1), int(_attr(node, "block_size", 0))
    to = _attr(node, "output_dtype", 0)
    if zp is not None:
        out = _dtype(zp)
    elif to:
        out = _ONNX_DTYPES.get(int(to))
    else:
        out = "uint8"
    floats = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float4_e2m1fn")
    if out not in ("int8", "uint8", "int16", "uint16", "int4", "uint4", "int2", "uint2") and (
        out not in floats
    ):
        raise _Unsupported(f"QuantizeLinear to {out}")
    if _attr(node, "precision", 0):
        raise _Unsupported("precision")
    xf = _as_float(x, "float32")
    s = _per_axis(node, x, _as_float(scale, "float32"), axis, block)
    y = ops.divide(xf, s)
    if out in floats:  # float4 has no infinity: its cast saturates by itself
        if zp is not None:
            zpf = _per_axis(node, x, _as_float(zp, "float32"), axis, block)
            y = ops.add(y, zpf)
        return _cast_to(node, y, out)
    y = ops.apply("round", [y])
    if zp is not None:
        y = ops.add(y, _per_axis(node, x, _as_float(zp, "float32"), axis, block))
    info = {
        "int8": (-128, 127),
        "uint8": (0, 255),
        "int16": (-32768, 32767),
        "uint16": (0, 65535),
        "int4": (-8, 7),
        "uint4": (0, 15),
        "int2": (-2, 1),
        "uint2": (0, 3),
    }[out]
    y = ops.apply("clip", [y], min=float(info[0]), max=float(info[1]))
    return ops.apply("cast", [y], dtype=out, from_dtype="float32")


def _dynamic_quantize(node, ins, opset):
    x = ins[0]
    if _dtype(x) != "float32":
        raise _Unsupported(f"DynamicQuantizeLinear of dtype {_dtype(x)}")
    zero = np.zeros((), "float32")
    hi = ops.maximum(ops.apply("max", [x], axis=None, keepdims=False), zero)
    lowest = ops.negative(ops.apply("max", [ops.negative(x)], axis=None, keepdims=False))
    lo = ops.minimum(lowest, zero)
    scale = ops.divide(ops.subtract(hi, lo), np.asarray(255.0, "float32"))
    zp_f = ops.apply("round", [ops.subtract(zero, ops.divide(lo, scale))])
    zp_f = ops.apply("clip", [zp_f], min=0.0, max=255.0)
    y = ops.apply("round", [ops.divide(x, scale)])
    y = ops.apply("clip", [ops.add(y, zp_f)], min=0.0, max=255.0)
    return (
        ops.apply("cast", [y], dtype="uint8", from_dtype="float32"),
        scale,
        ops.apply("cast", [zp_f], dtype="uint8", from_dtype="float32"),
    )


def _narrow_const(x):
    return x if not (_is_const(x) and _dtype(x) in NARROW_DTYPES) else narrow_cast(x, "float32")


CONVERTERS = {
    "BitwiseAnd": _bitwise("bitwise_and", np.bitwise_and),
    "BitwiseOr": _bitwise("bitwise_or", np.bitwise_or),
    "BitwiseXor": _bitwise("bitwise_xor", np.bitwise_xor),
    "BitwiseNot": _bitwise_not,
    "BitShift": _bit_shift,
    "Tan": _unary("tan"),
    "Sinh": _unary("sinh"),
    "Cosh": _unary("cosh"),
    "Asin": _unary("arcsin"),
    "Acos": _unary("arccos"),
    "Atan": _unary("arctan"),
    "Asinh": _unary("arcsinh"),
    "Acosh": _unary("arccosh"),
    "Atanh": _unary("arctanh"),
    "Erf": _unary("erf"),
    "IsNaN": _unary("isnan"),
    "IsInf": _is_inf,
    "Celu": _celu,
    "HardSwish": _hard_swish,
    "Mish": _mish,
    "Shrink": _shrink,
    "PRelu": _prelu,
    "ReduceProd": _reduce_prod,
    "CumSum": _cum("cumsum"),
    "CumProd": _cum("cumprod"),
    "TopK": _top_k,
    "Einsum": _einsum,
    "OneHot": _one_hot,
    "Unique": _unique,
    "Compress": _compress,
    "ScatterElements": _scatter_elements,
    "Scatter": _scatter_elements,
    "ScatterND": _scatter_nd,
    "GatherND": _gather_nd,
    "EyeLike": _eye_like,
    "QuantizeLinear": _quantize,
    "DequantizeLinear": _dequantize,
    "DynamicQuantizeLinear": _dynamic_quantize,
}


def install(converters):
    """Add these converters to the importer's table (overriding Div, Clip, ReduceMax and
    ReduceMin to take integers and booleans)."""
    converters.update(CONVERTERS)
    converters["Div"] = _int_div(converters["Div"])
    converters["Clip"] = _clip_any
    converters["ReduceMax"] = _reduce_bool_or(converters["ReduceMax"], "max")
    converters["ReduceMin"] = _reduce_bool_or(converters["ReduceMin"], "min")
    for name, wrap in _OVERRIDES.items():
        converters[name] = wrap(converters[name])


# ---- normalizations, linear algebra on integers, sequences ------------------------------------
def _mean(x, axes):
    return ops.apply("mean", [x], axis=axes, keepdims=True)


def _normalize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over ``axes``."""
    d = ops.subtract(x, _mean(x, axes))
    var = _mean(ops.apply("square", [d]), axes)
    return ops.divide(d, ops.apply("sqrt", [ops.add(var, np.asarray(eps, _dtype(x)))]))


def _channel(v, rank):
    """A per-channel vector (C,) as (C, 1, ..., 1) against NCHW."""
    shape = (-1,) + (1,) * (rank - 2)
    if _is_const(v):
        return v.reshape(shape)
    return ops.apply("reshape", [v], shape=shape)


def _instance_norm(node, ins, opset):
    x, scale, bias = ins
    _require_float(x, "InstanceNormalization")
    rank = len(_shape(x))
    y = _normalize(x, tuple(range(2, rank)), float(_attr(node, "epsilon", 1e-5)))
    return ops.add(ops.multiply(y, _channel(scale, rank)), _channel(bias, rank))


def _group_norm(node, ins, opset):
    x, scale, bias = ins
    _require_float(x, "GroupNormalization")
    if _attr(node, "stash_type", 1) != 1 and _dtype(x) != "float32":
        raise _Unsupported("stash_type other than float32")
    shape = _shape(x)
    groups = int(_attr(node, "num_groups"))
    c = shape[1]
    if c is None or any(d is None for d in shape[2:]):
        raise _Unsupported("GroupNormalization on unknown channel or spatial sizes")
    if opset < 21:
        raise _Unsupported("GroupNormalization before opset 21 (per-group scale and bias)")
    g = ops.apply("reshape", [x], shape=(-1, groups, c // groups) + tuple(shape[2:]))
    rank = len(shape)
    y = _normalize(g, tuple(range(2, rank + 1)), float(_attr(node, "epsilon", 1e-5)))
    y = ops.apply("reshape", [y], shape=(-1,) + tuple(shape[1:]))
    return ops.add(ops.multiply(y, _channel(scale, rank)), _channel(bias, rank))


def _mvn(node, ins, opset):
    x = ins[0]
    _require_float(x, "MeanVarianceNormalization")
    rank = len(_shape(x))
    axes = tuple(_axis(a, rank) for a in _attr(node, "axes", [0, 2, 3]))
    return _normalize(x, tuple(sorted(axes)), 1e-9)


def _lp_norm(node, ins, opset):
    x = ins[0]
    _require_float(x, "LpNormalization")
    p = int(_attr(node, "p", 2))
    axis = (_axis(_attr(node, "axis", -1), len(_shape(x))),)
    if p == 1:
        n = ops.apply("sum", [ops.apply("abs", [x])], axis=axis, keepdims=True)
    elif p == 2:
        n = ops.apply(
            "sqrt", [ops.apply("sum", [ops.apply("square", [x])], axis=axis, keepdims=True)]
        )
    else:
        raise _Unsupported(f"p={p} (ONNX allows 1 and 2)")
    zero = np.zeros((), _dtype(x))
    empty = ops.equal(n, zero)  # a zero norm gives zeros, not NaN (ONNX)
    safe = ops.where(empty, np.ones((), _dtype(x)), n)
    return ops.where(empty, zero, ops.divide(x, safe))


def _det(node, ins, opset):
    _require_float(ins[0], "Det")
    return ops.det(ins[0])


def _nonzero(node, ins, opset):
    x = ins[0]
    if _is_const(x):
        return np.asarray(np.nonzero(x), np.int64).reshape(x.ndim, -1)
    return ops.apply("nonzero", [x])


def _exact_float(v, dt="float64"):
    if _is_const(v):
        return v.astype(dt)
    return ops.apply("cast", [v], dtype=dt, from_dtype=_dtype(v))


def _matmul_integer(node, ins, opset):
    """MatMulInteger: (a - a_zero) @ (b - b_zero) in int32, exact in float64."""
    a, b = ins[0], ins[1]
    az = ins[2] if len(ins) > 2 else None
    bz = ins[3] if len(ins) > 3 else None
    for v in (a, b):
        if _dtype(v) not in ("int8", "uint8"):
            raise _Unsupported(f"MatMulInteger of dtype {_dtype(v)}")
    if len(_shape(a)) < 2 or len(_shape(b)) < 2:
        raise _Unsupported("MatMulInteger with a 1-D operand")
    af, bf = _exact_float(a), _exact_float(b)
    if az is not None:
        if len(_shape(az)) > 1 or (len(_shape(az)) == 1 and _shape(az)[0] != 1):
            af = ops.subtract(af, _per_row(az))
        else:
            af = ops.subtract(
                af, _exact_float(az).reshape(()) if _is_const(az) else _exact_float(az)
            )
    if bz is not None:
        bf = ops.subtract(bf, _exact_float(bz))
    return ops.apply("cast", [ops.matmul(af, bf)], dtype="int32", from_dtype="float64")


def _per_row(zp):
    v = _exact_float(zp)
    return v.reshape(-1, 1) if _is_const(v) else ops.apply("reshape", [v], shape=(-1, 1))


def _qlinear_matmul(node, ins, opset):
    """QLinearMatMul: dequantize, multiply exactly, quantize (round half to even,
    saturate) as the reference computes it."""
    a, a_s, a_z, b, b_s, b_z, y_s, y_z = ins
    for v in (a, b, a_z, b_z, y_z):
        if _dtype(v) not in ("int8", "uint8"):
            raise _Unsupported(f"QLinearMatMul of dtype {_dtype(v)}")
    if any(len(_shape(v)) > 0 and _shape(v) != (1,) for v in (a_s, a_z, b_s, b_z, y_s, y_z)):
        raise _Unsupported("QLinearMatMul with per-axis parameters")
    if len(_shape(a)) < 2 or len(_shape(b)) < 2:
        raise _Unsupported("QLinearMatMul with a 1-D operand")

    def scalar(v):
        v = _exact_float(v)
        return v.reshape(()) if _is_const(v) else ops.apply("reshape", [v], shape=())

    af = ops.subtract(_exact_float(a), scalar(a_z))
    bf = ops.subtract(_exact_float(b), scalar(b_z))
    acc = ops.matmul(af, bf)
    scale = ops.divide(ops.multiply(scalar(a_s), scalar(b_s)), scalar(y_s))
    y = ops.apply("round", [ops.multiply(acc, scale)])
    y = ops.add(y, scalar(y_z))
    lo, hi = (-128.0, 127.0) if _dtype(y_z) == "int8" else (0.0, 255.0)
    y = ops.apply("clip", [y], min=lo, max=hi)
    return ops.apply("cast", [y], dtype=_dtype(y_z), from_dtype="float64")


def _reverse_sequence(node, ins, opset):
    x, lens = ins
    lens = np.asarray(_static(lens, "sequence_lens")).reshape(-1).astype(np.int64)
    shape = _shape(x)
    if any(d is None for d in shape):
        raise _Unsupported("ReverseSequence on unknown dimensions")
    b_axis = int(_attr(node, "batch_axis", 1))
    t_axis = int(_attr(node, "time_axis", 0))
    t = np.arange(shape[t_axis])
    idx = np.where(t[None, :] < lens[:, None], lens[:, None] - 1 - t[None, :], t[None, :])
    # idx is (batch, time): laid out along the tensor's axes and broadcast
    if b_axis > t_axis:
        idx = idx.T
    view = [1] * len(shape)
    view[b_axis], view[t_axis] = shape[b_axis], shape[t_axis]
    idx = np.broadcast_to(idx.reshape(view), shape).astype(np.int64)
    if _is_const(x):
        return np.take_along_axis(x, idx, axis=t_axis)
    return ops.apply("take_along_axis", [x, np.ascontiguousarray(idx)], axis=t_axis)


CONVERTERS.update(
    {
        "InstanceNormalization": _instance_norm,
        "GroupNormalization": _group_norm,
        "MeanVarianceNormalization": _mvn,
        "LpNormalization": _lp_norm,
        "Det": _det,
        "NonZero": _nonzero,
        "MatMulInteger": _matmul_integer,
        "QLinearMatMul": _qlinear_matmul,
        "ReverseSequence": _reverse_sequence,
    }
)


# ---- control flow: If, Loop and Scan, inlined or unrolled at import ---------------------------
def _run_subgraph(graph, env, opset, bindings):
    """The outputs of a subgraph (a branch, a loop body) converted in the scope ``env``
    (the outer graph's values) with its inputs bound to ``bindings``."""
    from onnx import numpy_helper

    from graphc.onnx.importer import CONVERTERS as table

    local = dict(env)
    for t in graph.initializer:
        local[t.name] = numpy_helper.to_array(t)
    local.update(bindings)
    for k, node in enumerate(graph.node):
        convert = table.get(node.op_type)
        where = f"its subgraph's node {node.name or '#' + str(k)!r} ({node.op_type})"
        if convert is None or node.domain not in ("", "ai.onnx"):
            raise _Unsupported(f"{where}, which graphc has no converter for")
        ins = []
        for name in node.input:
            if name and name not in local:
                raise _Unsupported(f"{where} reading the undefined {name!r}")
            ins.append(local[name] if name else None)
        try:
            if getattr(convert, "wants_env", False):
                out = convert(node, ins, opset, env=local)
            else:
                out = convert(node, ins, opset)
        except _Unsupported as e:
            raise _Unsupported(f"{where}: {e}", needs_input=e.needs_input) from None
        outs = out if isinstance(out, tuple) else (out,)
        for name, v in zip(node.output, outs):
            if name:
                local[name] = v
    return [local[o.name] for o in graph.output]


def _stack(values, axis=0):
    """Per-iteration values stacked along a new ``axis``."""
    if all(_is_const(v) for v in values):
        return np.stack(values, axis=axis)
    parts = [
        ops.expand_dims(v, axis) if not _is_const(v) else np.expand_dims(v, axis) for v in values
    ]
    return ops.concatenate(parts, axis=axis)


def _if(node, ins, opset, env):
    """If: the branch its condition picks, inlined (the condition must be a constant;
    the backend binds the graph inputs it is computed from)."""
    cond = _static(ins[0], "condition (graphc inlines the branch it picks)")
    branch = _attr(node, "then_branch") if bool(cond.reshape(-1)[0]) else _attr(node, "else_branch")
    outs = _run_subgraph(branch, env, opset, {})
    return tuple(outs) if len(outs) > 1 else outs[0]


_if.wants_env = True


def _loop(node, ins, opset, env):
    """Loop unrolled at import: the trip count and the condition must be constants at
    every iteration (the carried values may be tensors)."""
    m, cond = ins[0], ins[1]
    carried = list(ins[2:])
    body = _attr(node, "body")
    n_carried = len(carried)
    limit = None if m is None else int(np.asarray(_static(m, "trip count M")).reshape(()))
    keep = True if cond is None else bool(np.asarray(_static(cond, "cond")).reshape(()))
    names = [i.name for i in body.input]
    scans: list = []
    i = 0
    while keep and (limit is None or i < limit):
        if i >= 10000:
            raise _Unsupported("a loop of more than 10000 iterations (graphc unrolls loops)")
        bindings = {names[0]: np.asarray(i, np.int64), names[1]: np.asarray(keep)}
        bindings.update(zip(names[2:], carried))
        outs = _run_subgraph(body, env, opset, bindings)
        c = outs[0]
        if not _is_const(c):
            raise _Unsupported("a loop condition computed from run-time values")
        keep = bool(np.asarray(c).reshape(()))
        carried = list(outs[1 : 1 + n_carried])
        scans.append(outs[1 + n_carried :])
        i += 1
    n_scan = len(body.output) - 1 - n_carried
    if n_scan and not scans:
        raise _Unsupported("a loop that runs no iteration with scan outputs (empty tensors)")
    stacked = [_stack([s[k] for s in scans]) for k in range(n_scan)]
    outs = carried + stacked
    return tuple(outs) if len(outs) > 1 else outs[0]


_loop.wants_env = True


def _scan(node, ins, opset, env):
    """Scan (opset 9+) unrolled over the scanned axis, which must have a known length."""
    if opset < 9:
        raise _Unsupported("Scan before opset 9 (a batch axis and sequence_lens)")
    body = _attr(node, "body")
    n_scan_in = int(_attr(node, "num_scan_inputs"))
    n_state = len(ins) - n_scan_in
    state, xs = list(ins[:n_state]), list(ins[n_state:])
    in_axes = list(_attr(node, "scan_input_axes", None) or [0] * n_scan_in)
    in_dirs = list(_attr(node, "scan_input_directions", None) or [0] * n_scan_in)
    n_scan_out = len(body.output) - n_state
    out_axes = list(_attr(node, "scan_output_axes", None) or [0] * n_scan_out)
    out_dirs = list(_attr(node, "scan_output_directions", None) or [0] * n_scan_out)
    lengths = set()
    for k, x in enumerate(xs):
        rank = len(_shape(x))
        in_axes[k] = _axis(in_axes[k], rank)
        lengths.add(_shape(x)[in_axes[k]])
    if None in lengths or len(lengths) != 1:
        raise _Unsupported("scan inputs of unknown or different lengths")
    steps = lengths.pop()
    names = [i.name for i in body.input]
    per_step: list = []
    for t in range(steps):
        bindings = dict(zip(names[:n_state], state))
        for k, x in enumerate(xs):
            pos = steps - 1 - t if in_dirs[k] else t
            idx = np.asarray(pos, np.int64)
            bindings[names[n_state + k]] = (
                np.take(x, pos, axis=in_axes[k])
                if _is_const(x)
                else ops.take(x, idx, axis=in_axes[k])
            )
        outs = _run_subgraph(body, env, opset, bindings)
        state = outs[:n_state]
        per_step.append(outs[n_state:])
    stacked = []
    for k in range(n_scan_out):
        values = [s[k] for s in per_step]
        if out_dirs[k]:
            values = values[::-1]
        rank = len(_shape(values[0])) + 1
        stacked.append(_stack(values, axis=_axis(out_axes[k], rank)))
    outs = list(state) + stacked
    return tuple(outs) if len(outs) > 1 else outs[0]


_scan.wants_env = True

CONVERTERS.update({"If": _if, "Loop": _loop, "Scan": _scan})


# ---- bit casts, 1-D matmul, padding modes ------------------------------------------------------
def _bitcast(node, ins, opset):
    x = ins[0]
    to = _ONNX_DTYPES.get(int(_attr(node, "to")))
    if to is None or to in NARROW_DTYPES or _dtype(x) in NARROW_DTYPES:
        raise _Unsupported(f"BitCast from {_dtype(x)} to ONNX element type {_attr(node, 'to')}")
    if np.dtype(to).itemsize != np.dtype(_dtype(x)).itemsize:
        raise _Unsupported(f"BitCast from {_dtype(x)} to {to} (different widths)")
    if _is_const(x):
        return (x if x.flags.c_contiguous else x.copy()).view(to)
    return ops.apply("bitcast", [x], dtype=to)


def _matmul_any(base):
    """MatMul: a 1-D operand gets a unit axis (numpy's rule), removed after."""

    def convert(node, ins, opset):
        a, b = ins
        ra, rb = len(_shape(a)), len(_shape(b))
        if ra >= 2 and rb >= 2:
            return base(node, ins, opset)
        _require_float(a, "MatMul")
        if ra == 1:
            a = ops.expand_dims(a, 0)
        if rb == 1:
            b = ops.expand_dims(b, 1)
        y = base(node, [a, b], opset)
        shape = list(_shape(y))
        if ra == 1:
            del shape[-2]
        if rb == 1:
            del shape[-1]
        if sum(d is None for d in shape) > 1:
            raise _Unsupported("MatMul of a 1-D operand with several unknown dimensions")
        return ops.apply("reshape", [y], shape=tuple(-1 if d is None else d for d in shape))

    return convert


def _pad_modes(base):
    """Pad: edge, reflect and wrap modes (and negative pads) as gathers with index
    vectors computed at import; constant mode by the importer's rule."""

    def convert(node, ins, opset):
        mode = _str(_attr(node, "mode", "constant"))
        x = ins[0]
        if opset < 11:
            pads = [int(p) for p in _attr(node, "pads")]
        else:
            pads = [int(p) for p in _static(ins[1], "pads").reshape(-1)]
        if mode == "constant" and all(p >= 0 for p in pads):
            return base(node, ins, opset)
        if mode not in ("constant", "edge", "reflect", "wrap"):
            raise _Unsupported(f"Pad mode {mode!r}")
        rank = len(_shape(x))
        axes = list(range(rank))
        if opset >= 18 and len(ins) > 3 and ins[3] is not None:
            axes = [_axis(a, rank) for a in _static(ins[3], "axes").reshape(-1)]
        n = len(axes)
        y = x
        widths = []
        for i, a in enumerate(axes):
            lo, hi = pads[i], pads[i + n]
            size = _shape(x)[a]
            if size is None:
                raise _Unsupported("Pad on an unknown dimension")
            idx = np.arange(size)
            # cropping first (negative pads), then the padding by its mode
            idx = idx[max(-lo, 0) : size - max(-hi, 0)]
            lo, hi = max(lo, 0), max(hi, 0)
            if mode == "constant":
                widths.append((a, lo, hi))
            elif lo or hi:
                if idx.size == 0 or (mode == "reflect" and idx.size < 2 and (lo or hi)):
                    raise _Unsupported(f"Pad mode {mode!r} of an axis of size {idx.size}")
                idx = np.pad(idx, (lo, hi), mode=mode)
            if idx.size != size or not np.array_equal(idx, np.arange(size)):
                take = idx.astype(np.int64)
                y = np.take(y, take, axis=a) if _is_const(y) else ops.take(y, take, axis=a)
        if mode == "constant" and any(lo or hi for _, lo, hi in widths):
            value = (
                0.0
                if len(ins) < 3 or ins[2] is None
                else _static(ins[2], "constant_value").reshape(-1)[0].item()
            )
            full = [(0, 0)] * rank
            for a, lo, hi in widths:
                full[a] = (lo, hi)
            if _is_const(y):
                return np.pad(y, full, constant_values=value)
            return ops.apply("pad", [y], pads=tuple(full), value=value)
        return y if y is not x else _ident(x)

    return convert


CONVERTERS.update({"BitCast": _bitcast})
_OVERRIDES = {"MatMul": _matmul_any, "Pad": _pad_modes}


# ---- integer convolutions, optionals, shapes at run time, random ops --------------------------
def _int_conv_inputs(node, x, w, xz, wz, opset):
    """(x - x_zero) and (w - w_zero) in float64 (exact for 8-bit integers) and the
    float64 convolution of them, as ONNX's ConvInteger computes in int32."""
    from graphc.onnx.importer import _conv

    for v in (x, w):
        if _dtype(v) not in ("int8", "uint8"):
            raise _Unsupported(f"{node.op_type} of dtype {_dtype(v)}")
    w = _static(w, "the weights w")  # graphc's conv takes its kernel laid out at import
    xf, wf = _exact_float(x), _exact_float(w)
    if xz is not None:
        z = np.asarray(_static(xz, "x_zero_point"), np.float64).reshape(())
        xf = ops.subtract(xf, z) if not _is_const(xf) else xf - z
    if wz is not None:
        z = np.asarray(_static(wz, "w_zero_point"), np.float64)
        if z.size > 1:
            z = z.reshape((-1,) + (1,) * (len(_shape(w)) - 1))
        else:
            z = z.reshape(())
        wf = ops.subtract(wf, z) if not _is_const(wf) else wf - z
    return _conv(node, [xf, wf], opset)


def _conv_integer(node, ins, opset):
    ins = list(ins) + [None] * (4 - len(ins))
    acc = _int_conv_inputs(node, ins[0], ins[1], ins[2], ins[3], opset)
    return ops.apply("cast", [acc], dtype="int32", from_dtype="float64")


def _qlinear_conv(node, ins, opset):
    ins = list(ins) + [None] * (9 - len(ins))
    x, xs, xz, w, ws, wz, ys, yz, bias = ins
    acc = _int_conv_inputs(node, x, w, xz, wz, opset)
    if bias is not None:
        bv = np.asarray(_static(bias, "B"), np.float64).reshape((-1,) + (1,) * (len(_shape(x)) - 2))
        acc = ops.add(acc, bv)
    xs, ws, ys = (
        np.asarray(_static(v, n)) for v, n in ((xs, "x_scale"), (ws, "w_scale"), (ys, "y_scale"))
    )
    if ws.size > 1:
        ws = ws.reshape((1, -1) + (1,) * (len(_shape(x)) - 2))
    scale = (xs * ws / ys).astype(np.float64)  # in float32 first, as the reference
    y = ops.multiply(acc, scale)
    out = _dtype(yz) if yz is not None else _dtype(x)
    if yz is not None:
        y = ops.add(y, np.asarray(_static(yz, "y_zero_point"), np.float64).reshape(()))
    lo, hi = (-128.0, 127.0) if out == "int8" else (0.0, 255.0)
    y = ops.apply("round", [ops.apply("clip", [y], min=lo, max=hi)])
    return ops.apply("cast", [y], dtype=out, from_dtype="float64")


def _optional(node, ins, opset):
    if not ins or ins[0] is None:
        raise _Unsupported("an empty optional (graphc has no optional values)")
    return ins[0] if _is_const(ins[0]) else _ident(ins[0])


def _optional_has_element(node, ins, opset):
    # a tensor input always has its element; an omitted input is an empty optional
    return np.asarray(bool(ins and ins[0] is not None))


def _optional_get_element(node, ins, opset):
    if not ins or ins[0] is None:
        raise _Unsupported("reading an empty optional")
    return ins[0] if _is_const(ins[0]) else _ident(ins[0])


def _shape_any(base):
    """Shape: dimensions unknown at import are read from the data at run time."""

    def convert(node, ins, opset):
        x = ins[0]
        shape = _shape(x)
        rank = len(shape)
        start, end = _attr(node, "start", 0), _attr(node, "end", None)
        axes = list(range(rank))[start:end]
        if all(shape[a] is not None for a in axes) or _is_const(x):
            return base(node, ins, opset)
        parts = [
            np.asarray([shape[a]], np.int64)
            if shape[a] is not None
            else ops.expand_dims(ops.apply("shape", [x], axis=a), 0)
            for a in axes
        ]
        return ops.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]

    return convert


def _size_any(base):
    """Size: the product of the dimensions, read from the data where unknown."""

    def convert(node, ins, opset):
        x = ins[0]
        shape = _shape(x)
        if all(d is not None for d in shape) or _is_const(x):
            return base(node, ins, opset)
        known = int(np.prod([d for d in shape if d is not None], dtype=np.int64))
        y = np.asarray(known, np.int64)
        for a, d in enumerate(shape):
            if d is None:
                y = ops.multiply(y, ops.apply("shape", [x], axis=a))
        return y

    return convert


def _random(node, ins, opset):
    raise _Unsupported(
        "random draws: graphc's generator cannot reproduce onnx's (or another runtime's) "
        "random numbers, so it refuses them rather than give other values"
    )


CONVERTERS.update(
    {
        "ConvInteger": _conv_integer,
        "QLinearConv": _qlinear_conv,
        "Optional": _optional,
        "OptionalHasElement": _optional_has_element,
        "OptionalGetElement": _optional_get_element,
        "Bernoulli": _random,
    }
)
_OVERRIDES.update({"Shape": _shape_any, "Size": _size_any})


def _range_scalars(base):
    """Range: bounds computed as one-element tensors are taken as the scalars they hold."""

    def convert(node, ins, opset):
        if all(_is_const(v) and v.size == 1 for v in ins):
            start, limit, delta = (v.reshape(()) for v in ins)
            return np.arange(start, limit, delta, dtype=start.dtype)
        return base(node, ins, opset)

    return convert


_OVERRIDES["Range"] = _range_scalars
