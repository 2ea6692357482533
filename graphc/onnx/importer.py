"""ONNX import: ``graphc.onnx.load(path_or_proto) -> Model``.

The ONNX graph becomes an ordinary graphc ``Model``: each graph input an ``Input`` (its
name, dtype and shape; a symbolic ``dim_param`` or unknown dimension becomes ``None``),
and the whole ONNX graph one ``OnnxGraphLayer``. That layer owns the initializers as
weights (float initializers are ``Parameter``s, trainable unless ``trainable=False`` or
they are a BatchNormalization's running statistics; integer ones are constants) and, in
its ``call``, replays the ONNX nodes as graphc ops (``graphc.ops.registry.apply``), so
summary, predict, compile/fit, save and export work as for any model.

The layer's config holds the ONNX graph without the weights' data (base64 of the
serialized ``GraphProto``); the weights go with the model's weights, so a saved model
reloads with ``graphc.saving.load_model``.

An ONNX op (or an attribute value) that graphc's ops cannot express raises
``OnnxImportError`` naming the op, the node, the opset and the supported ops.
"""

from __future__ import annotations

import base64
import os

import numpy as np

from graphc import ops
from graphc.errors import GraphcError
from graphc.ir import Parameter, Value
from graphc.layers.base import Input, Layer
from graphc.layers.serialization import register_builtin
from graphc.models.functional import Model
from graphc.ops.masking import NARROW_DTYPES, narrow_cast, narrow_dtype

__all__ = ["load", "OnnxGraphLayer", "OnnxImportError", "SUPPORTED_OPS", "MIN_IMPORT_OPSET"]

MIN_IMPORT_OPSET = 7  # older default-domain opsets are refused (their semantics differ)
#: ops whose every version has the semantics of the newest: imported at any opset
_UNCHANGED_SINCE_OPSET_1 = frozenset({"Not", "Identity"})

_FLOAT_KINDS = ("float16", "float32", "float64")


class OnnxImportError(GraphcError, NotImplementedError):
    """An ONNX node graphc cannot express (its op, an attribute value, a dtype)."""


class _Unsupported(Exception):
    """Raised by a converter with the reason; ``OnnxGraphLayer`` adds the node's facts."""

    def __init__(self, reason, needs_input=None):
        super().__init__(reason)
        self.needs_input = needs_input  # a graph input whose value would make it work


# ---- helpers on the values a converter sees -------------------------------------------
# A converter gets, per ONNX input, a graphc symbolic ``Value``, a ``Parameter`` (a
# weight), a NumPy array (a constant: an integer initializer, a ``Constant`` node, or a
# value computed from constants at import) or ``None`` (an omitted optional input).


def _is_const(x) -> bool:
    return isinstance(x, np.ndarray)


def _static(x, what="input"):
    """The value of a constant input (a weight's current value too: shapes, clip bounds)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, Parameter):
        return np.asarray(x.data)
    name = _source_input(x)
    raise _Unsupported(
        f"the {what} must be a constant (an initializer or a Constant "
        "node), not computed at run time",
        needs_input=name,
    )


def _source_input(x):
    """The name of a graph input that ``x`` is computed from (the backend binds it to its
    value and imports again: the value becomes a constant), or None."""
    seen, stack = set(), [x]
    while stack:
        v = stack.pop()
        if not isinstance(v, Value) or id(v) in seen:
            continue
        seen.add(id(v))
        if v.kind == "input":
            return v.name
        if v.producer is not None:
            stack.extend(reversed(v.producer.inputs))
    return None


def _shape(x) -> tuple:
    return tuple(x.shape)


def _dtype(x) -> str:
    return str(np.dtype(x.dtype)) if not isinstance(x, Value) else x.dtype


def _attr(node, name, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _str(v):
    return v.decode() if isinstance(v, bytes) else v


def _ident(x):
    """A node that passes ``x`` on (graphc's identity op is for floats)."""
    if _dtype(x) in _FLOAT_KINDS:
        return ops.identity(x)
    return ops.transpose(x, tuple(range(len(_shape(x)))))


def _require_float(x, op):
    if _dtype(x) not in _FLOAT_KINDS:
        raise _Unsupported(f"{op} on dtype {_dtype(x)} (graphc computes it on floats only)")


def _binary(name):
    def convert(node, ins, opset):
        a, b = ins
        if _dtype(a) != _dtype(b):
            raise _Unsupported(f"operands of different dtypes {_dtype(a)} and {_dtype(b)}")
        if _dtype(a) == "bool":
            raise _Unsupported("arithmetic on booleans")
        if _is_const(a) and _is_const(b):
            return np.asarray(getattr(np, name)(a, b)).astype(a.dtype)
        if name == "divide" and _dtype(a) not in _FLOAT_KINDS:
            if _dtype(a) in ("int64", "uint64"):
                raise _Unsupported(
                    f"integer division of {_dtype(a)} (exact in float64 only below 2**53)"
                )
            # ONNX's integer Div truncates toward zero: in float64, cast back
            q = ops.divide(
                ops.cast(a, "float64") if not _is_const(a) else a.astype("f8"),
                ops.cast(b, "float64") if not _is_const(b) else b.astype("f8"),
            )
            return ops.cast(q, _dtype(a))
        return ops.apply(name, [a, b])

    return convert


def _unary(name, floats=True, **attrs):
    def convert(node, ins, opset):
        if floats:
            _require_float(ins[0], node.op_type)
        return ops.apply(name, [ins[0]], **attrs)

    return convert


def _axis(axis, rank):
    axis = int(axis)
    if not -rank <= axis < max(rank, 1):
        raise _Unsupported(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def _reshape(x, shape):
    shape = tuple(int(d) for d in shape)
    if _is_const(x):
        return np.reshape(x, shape)
    if tuple(x.shape) == shape:
        return x
    return ops.apply("reshape", [x], shape=shape)


def _target_shape(x, shape):
    """A full target shape for ``reshape``: a -1 stands for the one unknown dimension."""
    known = [d for d in shape if d is not None]
    unknown = len(shape) - len(known)
    if unknown > 1:
        raise _Unsupported(f"reshape to {tuple(shape)} with more than one unknown dimension")
    return tuple(-1 if d is None else int(d) for d in shape)


# ---- activations and elementwise ------------------------------------------------------
def _softmax_like(log):
    def convert(node, ins, opset):
        x = ins[0]
        _require_float(x, node.op_type)
        rank = len(_shape(x))
        axis = _attr(node, "axis", -1 if opset >= 13 else 1)
        axis = _axis(axis, rank)
        if opset < 13 and axis != rank - 1:
            # before opset 13: over the axes from ``axis`` on, flattened
            shape = _shape(x)
            rest = shape[axis:]
            if any(d is None for d in rest) or any(d is None for d in shape[1:axis]):
                raise _Unsupported(
                    f"{node.op_type} before opset 13 from axis {axis} on unknown dimensions"
                )
            flat = _reshape(x, (-1, int(np.prod(rest))))
            y = convert(node, [flat], 13)
            return _reshape(y, _target_shape(y, shape))
        if not log:
            return ops.softmax(x, axis=axis)
        return _log_softmax(x, axis)

    return convert


def _log_softmax(x, axis):
    m = ops.apply("max", [x], axis=(axis,), keepdims=True)
    z = ops.subtract(x, m)
    s = ops.apply("sum", [ops.exp(z)], axis=(axis,), keepdims=True)
    return ops.subtract(z, ops.apply("log", [s]))


def _elu(node, ins, opset):
    _require_float(ins[0], "Elu")
    return ops.elu(ins[0], alpha=_attr(node, "alpha", 1.0))


def _selu(node, ins, opset):
    x = ins[0]
    _require_float(x, "Selu")
    alpha = _attr(node, "alpha", 1.67326319217681884765625)
    gamma = _attr(node, "gamma", 1.05070102214813232421875)
    return ops.multiply(ops.elu(x, alpha=alpha), np.asarray(gamma, dtype=_dtype(x)))


def _leaky(node, ins, opset):
    _require_float(ins[0], "LeakyRelu")
    return ops.leaky_relu(ins[0], negative_slope=_attr(node, "alpha", 0.01))


def _hard_sigmoid(node, ins, opset):
    x = ins[0]
    _require_float(x, "HardSigmoid")
    dt = _dtype(x)
    y = ops.add(
        ops.multiply(x, np.asarray(_attr(node, "alpha", 0.2), dt)),
        np.asarray(_attr(node, "beta", 0.5), dt),
    )
    return ops.apply("clip", [y], min=0.0, max=1.0)


def _thresholded(node, ins, opset):
    _require_float(ins[0], "ThresholdedRelu")
    return ops.apply("thresholded_relu", [ins[0]], theta=float(_attr(node, "alpha", 1.0)))


def _clip(node, ins, opset):
    x = ins[0]
    _require_float(x, "Clip")
    if opset < 11:
        lo, hi = _attr(node, "min", None), _attr(node, "max", None)
    else:
        lo = None if len(ins) < 2 or ins[1] is None else float(_static(ins[1], "min"))
        hi = None if len(ins) < 3 or ins[2] is None else float(_static(ins[2], "max"))
    big = float(np.finfo(_dtype(x)).max)
    return ops.apply(
        "clip", [x], min=-big if lo is None else float(lo), max=big if hi is None else float(hi)
    )


def _variadic(name, mean=False):
    def convert(node, ins, opset):
        xs = [x for x in ins if x is not None]
        dt = _dtype(xs[0])
        if any(_dtype(x) != dt for x in xs):
            raise _Unsupported("operands of different dtypes")
        if name == "add" and dt == "bool":
            raise _Unsupported("Sum of booleans")
        y = xs[0]
        if len(xs) == 1:
            return _ident(y) if not _is_const(y) else y
        for x in xs[1:]:
            y = ops.apply(name, [y, x])
        if mean:
            _require_float(y, node.op_type)
            y = ops.divide(y, np.asarray(len(xs), dtype=dt))
        return y

    return convert


def _pow(node, ins, opset):
    x, e = ins
    if _dtype(x) not in _FLOAT_KINDS + ("int32", "int64"):
        raise _Unsupported(f"Pow on dtype {_dtype(x)}")
    if _is_const(e) and e.size == 1 and _dtype(x) in _FLOAT_KINDS:
        p = float(e.reshape(()))
        if p == 2.0:
            return ops.apply("square", [x])
        if p == 1.0:
            return _ident(x)
    return ops.power(x, e)


def _mod(node, ins, opset):
    a, b = ins
    if _dtype(a) != _dtype(b) or _dtype(a) == "bool":
        raise _Unsupported(f"Mod of dtypes {_dtype(a)} and {_dtype(b)}")
    fmod = bool(_attr(node, "fmod", 0))
    if _is_const(a) and _is_const(b):
        return (np.fmod if fmod else np.mod)(a, b)
    return ops.apply("mod", [a, b], fmod=fmod)


def _arg(name):
    def convert(node, ins, opset):
        x = ins[0]
        if _dtype(x) == "bool":
            raise _Unsupported(f"{node.op_type} on booleans")
        return ops.apply(
            name,
            [x],
            axis=_axis(_attr(node, "axis", 0), len(_shape(x))),
            keepdims=bool(_attr(node, "keepdims", 1)),
            select_last_index=bool(_attr(node, "select_last_index", 0)),
        )

    return convert


def _gather_elements(node, ins, opset):
    x, idx = ins
    if _dtype(idx) not in ("int32", "int64"):
        raise _Unsupported(f"GatherElements with {_dtype(idx)} indices")
    return ops.apply(
        "take_along_axis", [x, idx], axis=_axis(_attr(node, "axis", 0), len(_shape(x)))
    )


def _trilu(node, ins, opset):
    x = ins[0]
    k = 0 if len(ins) < 2 or ins[1] is None else int(_static(ins[1], "k").reshape(()))
    shape = _shape(x)
    if len(shape) < 2 or shape[-1] is None or shape[-2] is None:
        raise _Unsupported("Trilu on unknown matrix sizes")
    upper = bool(_attr(node, "upper", 1))
    mask = (np.triu if upper else np.tril)(np.ones(shape[-2:], dtype=bool), k)
    zero = np.zeros((), _dtype(x))
    if _is_const(x):
        return np.where(mask, x, zero)
    return ops.where(mask, x, zero)


def _layer_norm_parts(node, x, scale, bias, axes):
    """LayerNormalization with its Mean and InvStdDev outputs, from elementwise ops."""
    dt = _dtype(x)
    if _attr(node, "stash_type", 1) != 1:
        raise _Unsupported("LayerNormalization with stash_type other than float32")
    xf = ops.cast(x, "float32") if dt != "float32" else x
    mean = ops.apply("mean", [xf], axis=axes, keepdims=True)
    d = ops.subtract(xf, mean)
    var = ops.apply("mean", [ops.apply("square", [d])], axis=axes, keepdims=True)
    eps = np.asarray(float(_attr(node, "epsilon", 1e-5)), "float32")
    inv = ops.divide(np.ones((), "float32"), ops.apply("sqrt", [ops.add(var, eps)]))
    y = ops.multiply(d, inv)
    if dt != "float32":
        y = ops.cast(y, dt)
    y = ops.multiply(y, scale)
    if bias is not None:
        y = ops.add(y, bias)
    return y, mean, inv


def _layer_norm(node, ins, opset):
    x, scale = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    _require_float(x, "LayerNormalization")
    rank = len(_shape(x))
    axis = _axis(_attr(node, "axis", -1), rank)
    axes = tuple(range(axis, rank))
    if len([o for o in node.output if o]) > 1:
        return _layer_norm_parts(node, x, scale, bias, axes)
    want = _shape(x)[axis:]
    # ONNX broadcasts the scale and bias; graphc's op takes them in the normalized shape
    if tuple(_shape(scale)) != tuple(want) or (
        bias is not None and tuple(_shape(bias)) != tuple(want)
    ):
        raise _Unsupported("LayerNormalization with a broadcast scale or bias")
    if _attr(node, "stash_type", 1) != 1 and _dtype(x) != "float32":
        raise _Unsupported("LayerNormalization with stash_type other than float32")
    inputs = [x, scale] + ([bias] if bias is not None else [])
    if _dtype(x) != "float32" and _attr(node, "stash_type", 1) == 1:
        # the statistics in float32, as ONNX's stash_type=1 says
        y = ops.apply(
            "layer_norm",
            [ops.cast(v, "float32") if not _is_const(v) else v.astype("float32") for v in inputs],
            axis=axes,
            epsilon=float(_attr(node, "epsilon", 1e-5)),
            scale=True,
            center=bias is not None,
        )
        return ops.cast(y, _dtype(x))
    return ops.apply(
        "layer_norm",
        inputs,
        axis=axes,
        epsilon=float(_attr(node, "epsilon", 1e-5)),
        scale=True,
        center=bias is not None,
    )


def _reciprocal(node, ins, opset):
    x = ins[0]
    _require_float(x, "Reciprocal")
    return ops.divide(np.asarray(1, dtype=_dtype(x)), x)


# ---- linear algebra ---------------------------------------------------------------------
def _matmul(node, ins, opset):
    a, b = ins
    _require_float(a, "MatMul")
    if len(_shape(a)) < 2 or len(_shape(b)) < 2:
        raise _Unsupported("MatMul with a 1-D operand")
    return ops.matmul(a, b)


def _gemm(node, ins, opset):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    _require_float(a, "Gemm")
    if _attr(node, "transA", 0):
        a = ops.transpose(a, (1, 0))
    if _attr(node, "transB", 0):
        b = ops.transpose(b, (1, 0))
    y = ops.matmul(a, b)
    dt = _dtype(a)
    alpha, beta = _attr(node, "alpha", 1.0), _attr(node, "beta", 1.0)
    if alpha != 1.0:
        y = ops.multiply(y, np.asarray(alpha, dt))
    if c is not None:
        if beta != 1.0:
            c = ops.multiply(c, np.asarray(beta, dt))
        y = ops.add(y, c)
    return y


# ---- convolution and pooling ------------------------------------------------------------
def _window_padding(node, x, kernel, strides, dilations, fill, ceil=False):
    """(x padded where needed, graphc padding) for an ONNX window op's pads/auto_pad;
    ``ceil`` (pooling's ceil_mode) pads the end for the last partial window."""
    n = len(kernel)
    auto = _str(_attr(node, "auto_pad", "NOTSET"))
    if ceil and auto != "NOTSET":
        raise _Unsupported(f"ceil_mode with auto_pad={auto}")
    if auto == "VALID":
        return x, "valid"
    if auto == "SAME_UPPER":
        return x, "same"
    spatial = _shape(x)[2:]
    if auto == "SAME_LOWER":
        if not all(isinstance(s, int) for s in spatial):
            raise _Unsupported("auto_pad=SAME_LOWER on unknown spatial sizes")
        pads = []
        for s, k, st, d in zip(spatial, kernel, strides, dilations):
            total = max((-(-s // st) - 1) * st + (k - 1) * d + 1 - s, 0)
            pads.append((total - total // 2, total // 2))
    else:
        p = list(_attr(node, "pads", [0] * (2 * n)))
        pads = [(int(p[i]), int(p[i + n])) for i in range(n)]
    if ceil:
        if not all(isinstance(s, int) for s in spatial):
            raise _Unsupported("ceil_mode on unknown spatial sizes")
        grown = []
        for (b, a), size, k, st, d in zip(pads, spatial, kernel, strides, dilations):
            eff = (k - 1) * d + 1
            out = -(-(size + b + a - eff) // st) + 1
            if (out - 1) * st >= size + b:  # the last window must start inside
                out -= 1
            extra = max((out - 1) * st + eff - (size + b + a), 0)
            grown.append((b, a + extra))
        if grown != pads and fill == "zero":
            raise _Unsupported("ceil_mode with count_include_pad=1")
        if grown != pads:
            pads = grown
            if fill == "exclude":
                return ops.pad(x, [(0, 0), (0, 0), *pads]), ("exclude", pads)
            return ops.pad(x, [(0, 0), (0, 0), *pads], constant_values=float("-inf")), "valid"
    if not any(b or a for b, a in pads):
        return x, "valid"
    if all(isinstance(s, int) for s in spatial):
        same = []
        for s, k, st, d in zip(spatial, kernel, strides, dilations):
            total = max((-(-s // st) - 1) * st + (k - 1) * d + 1 - s, 0)
            same.append((total // 2, total - total // 2))
        # graphc's "same": zeros for a convolution, -inf for max pooling, and the padding
        # left out of the average (ONNX's count_include_pad=0)
        if same == pads and fill in ("conv", "-inf", "exclude"):
            return x, "same"
    if fill == "exclude":
        if not all(isinstance(s, int) for s in spatial):
            raise _Unsupported(
                "AveragePool with explicit pads and count_include_pad=0 on unknown spatial sizes"
            )
        return ops.pad(x, [(0, 0), (0, 0), *pads]), ("exclude", pads)
    value = float("-inf") if fill == "-inf" else 0.0
    return ops.pad(x, [(0, 0), (0, 0), *pads], constant_values=value), "valid"


def _conv(node, ins, opset):
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    _require_float(x, "Conv")
    rank = len(_shape(x))
    n = rank - 2
    if n < 1:
        raise _Unsupported("Conv on an input of rank < 3")
    kernel = tuple(_attr(node, "kernel_shape", None) or _shape(w)[2:])
    strides = tuple(_attr(node, "strides", None) or (1,) * n)
    dilations = tuple(_attr(node, "dilations", None) or (1,) * n)
    groups = int(_attr(node, "group", 1))
    x, padding = _window_padding(node, x, kernel, strides, dilations, "conv")
    # ONNX kernel (C_out, C_in / g, *k) -> graphc's (*k, C_in / g, C_out)
    perm = (*range(2, n + 2), 1, 0)
    wk = np.transpose(w, perm) if _is_const(w) else ops.transpose(w, perm)
    return ops.apply(
        "conv",
        [x, wk] + ([] if bias is None else [bias]),
        strides=strides,
        dilation_rate=dilations,
        padding=padding,
        data_format="channels_first",
        groups=groups,
    )


def _pool(kind):
    def convert(node, ins, opset):
        x = ins[0]
        _require_float(x, node.op_type)
        if len(node.output) > 1 and node.output[1]:
            raise _Unsupported("MaxPool's Indices output")
        n = len(_shape(x)) - 2
        kernel = tuple(_attr(node, "kernel_shape"))
        strides = tuple(_attr(node, "strides", None) or (1,) * n)
        dilations = tuple(_attr(node, "dilations", None) or (1,) * n)
        if any(d != 1 for d in dilations):
            raise _Unsupported(f"{node.op_type} with dilations {dilations}")
        if kind == "max":
            fill = "-inf"
        else:
            fill = "zero" if _attr(node, "count_include_pad", 0) else "exclude"
        spatial = _shape(x)[2:]
        x, padding = _window_padding(
            node, x, kernel, strides, dilations, fill, ceil=bool(_attr(node, "ceil_mode", 0))
        )
        attrs = dict(pool_size=kernel, strides=strides, data_format="channels_first")
        if isinstance(padding, tuple):
            # the average of the input elements only: the zero-padded average divided by
            # the share of each window that the input covers (a constant)
            pads = padding[1]
            ones = np.pad(np.ones((1, 1, *spatial), _dtype(x)), [(0, 0), (0, 0), *pads])
            share = ops.apply("avg_pool", [ones], padding="valid", **attrs)
            y = ops.apply("avg_pool", [x], padding="valid", **attrs)
            return ops.divide(y, share.astype(_dtype(x)))
        return ops.apply("max_pool" if kind == "max" else "avg_pool", [x], padding=padding, **attrs)

    return convert


def _global_pool(kind):
    def convert(node, ins, opset):
        _require_float(ins[0], node.op_type)
        return ops.apply(kind, [ins[0]], data_format="channels_first", keepdims=True)

    return convert


def _batch_norm(node, ins, opset):
    x, scale, bias, mean, var = ins[:5]
    _require_float(x, "BatchNormalization")
    if _attr(node, "training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise _Unsupported("BatchNormalization in training mode (extra outputs)")
    if any(_dtype(v) != _dtype(x) for v in (scale, bias, mean, var)):
        raise _Unsupported("BatchNormalization with parameters of another dtype")
    rank = len(_shape(x))
    eps = float(_attr(node, "epsilon", 1e-5))
    momentum = float(_attr(node, "momentum", 0.9))
    if rank == 2:
        return ops.apply(
            "batch_norm", [x, scale, bias, mean, var], axis=1, momentum=momentum, epsilon=eps
        )[0]
    # channels-first: move the channels last (graphc's batch norm exports on the last axis)
    to_last = (0, *range(2, rank), 1)
    to_first = (0, rank - 1, *range(1, rank - 1))
    y = ops.apply(
        "batch_norm",
        [ops.transpose(x, to_last), scale, bias, mean, var],
        axis=-1,
        momentum=momentum,
        epsilon=eps,
    )[0]
    return ops.transpose(y, to_first)


# ---- shapes ------------------------------------------------------------------------------
def _flatten(node, ins, opset):
    x = ins[0]
    shape = _shape(x)
    axis = int(_attr(node, "axis", 1))
    axis = axis + len(shape) if axis < 0 else axis
    if axis == 1 and not _is_const(x) and len(shape) >= 1:
        return ops.flatten(x) if len(shape) != 2 else _ident(x)

    def prod(ds):
        out = 1
        for d in ds:
            if d is None:
                return None
            out *= d
        return out

    target = (prod(shape[:axis]), prod(shape[axis:]))
    return _reshape(x, _target_shape(x, target))


def _reshape_op(node, ins, opset):
    x = ins[0]
    shape = [int(d) for d in _static(ins[1], "shape").reshape(-1)]
    allowzero = _attr(node, "allowzero", 0)
    xs = _shape(x)
    out = []
    for i, d in enumerate(shape):
        if d == 0 and not allowzero:
            out.append(xs[i] if xs[i] is not None else "keep")
        else:
            out.append(d)
    if 0 in out:
        raise _Unsupported("Reshape to a shape with a zero dimension")
    if "keep" in out:
        if -1 in out or out.count("keep") > 1:
            raise _Unsupported("Reshape copying an unknown dimension beside a -1")
        out = [-1 if d == "keep" else d for d in out]
    return _reshape(x, out)


def _transpose(node, ins, opset):
    x = ins[0]
    rank = len(_shape(x))
    perm = _attr(node, "perm", None)
    perm = tuple(range(rank))[::-1] if perm is None else tuple(int(p) for p in perm)
    if _is_const(x):
        return np.transpose(x, perm)
    return ops.transpose(x, perm)


def _concat(node, ins, opset):
    xs = [x for x in ins if x is not None]
    if all(_is_const(x) for x in xs):
        return np.concatenate(xs, axis=int(_attr(node, "axis")))
    if len({_dtype(x) for x in xs}) > 1:
        raise _Unsupported("Concat of different dtypes")
    return ops.concatenate(xs, axis=_axis(_attr(node, "axis"), len(_shape(xs[0]))))


def _identity(node, ins, opset):
    x = ins[0]
    return x if _is_const(x) else _ident(x)


def _dropout(node, ins, opset):
    if len(ins) > 2 and ins[2] is not None and bool(_static(ins[2], "training_mode")):
        raise _Unsupported("Dropout with training_mode=True")
    y = _identity(node, ins, opset)
    if len(node.output) > 1 and node.output[1]:
        shape = _shape(ins[0])
        if any(d is None for d in shape):
            raise _Unsupported("Dropout's mask output on unknown dimensions")
        return y, np.ones(shape, dtype=bool)  # inference keeps every element
    return y


def _constant(node, ins, opset):
    from onnx import numpy_helper

    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_int"):
            return np.asarray(
                _attr(node, a.name), dtype="float32" if a.name == "value_float" else "int64"
            )
        if a.name in ("value_floats", "value_ints"):
            return np.asarray(
                _attr(node, a.name), dtype="float32" if a.name == "value_floats" else "int64"
            )
    raise _Unsupported("Constant with a sparse or string value")


def _constant_of_shape(node, ins, opset):
    from onnx import numpy_helper

    shape = [int(d) for d in _static(ins[0], "shape").reshape(-1)]
    value = _attr(node, "value", None)
    fill = np.zeros(1, "float32") if value is None else numpy_helper.to_array(value)
    return np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype)


def _shape_op(node, ins, opset):
    shape = _shape(ins[0])
    start, end = _attr(node, "start", 0), _attr(node, "end", None)
    part = shape[start:end]
    if any(d is None for d in part):
        raise _Unsupported("Shape of a tensor with unknown dimensions")
    return np.asarray(part, dtype=np.int64)


def _gather(node, ins, opset):
    x, idx = ins
    axis = int(_attr(node, "axis", 0))
    if _is_const(x) and _is_const(idx):
        return np.take(x, idx, axis=axis)
    if not _is_const(idx) and _dtype(idx) not in ("int32", "int64"):
        raise _Unsupported(f"Gather with {_dtype(idx)} indices")
    rank = len(_shape(x))
    axis = _axis(axis, rank)
    if _is_const(idx):
        size = _shape(x)[axis]
        if size is None and (idx < 0).any():
            raise _Unsupported("Gather with negative indices on an unknown dimension")
        if size is not None:
            idx = np.where(idx < 0, idx + size, idx)
        idx = idx.astype(np.int64)
    return ops.take(x, idx, axis=axis)


def _axes_of(node, ins, opset, since=13):
    if opset >= since:
        if len(ins) < 2 or ins[1] is None:
            return None
        return [int(a) for a in _static(ins[1], "axes").reshape(-1)]
    a = _attr(node, "axes", None)
    return None if a is None else [int(v) for v in a]


def _unsqueeze(node, ins, opset):
    x = ins[0]
    axes = _axes_of(node, ins, opset)
    rank = len(_shape(x)) + len(axes)
    axes = sorted(_axis(a, rank) for a in axes)
    if _is_const(x):
        for a in axes:
            x = np.expand_dims(x, a)
        return x
    for a in axes:
        x = ops.expand_dims(x, a)
    return x


def _squeeze(node, ins, opset):
    x = ins[0]
    shape = _shape(x)
    axes = _axes_of(node, ins, opset)
    if axes is None:
        if any(d is None for d in shape):
            raise _Unsupported("Squeeze without axes on unknown dimensions")
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = {_axis(a, len(shape)) for a in axes}
    if _is_const(x):
        return np.squeeze(x, axis=tuple(sorted(axes)))
    target = [d for i, d in enumerate(shape) if i not in axes]
    return _reshape(x, _target_shape(x, target))


_ONNX_DTYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bfloat16",
    17: "float8_e4m3fn",
    18: "float8_e4m3fnuz",
    19: "float8_e5m2",
    20: "float8_e5m2fnuz",
    21: "uint4",
    22: "int4",
    23: "float4_e2m1fn",
    24: "float8_e8m0fnu",
    25: "uint2",
    26: "int2",
}


def _cast_to(node, x, to):
    """``x`` as ``to`` with the node's ``saturate`` and ``round_mode`` (float8, e8m0)."""
    saturate = bool(_attr(node, "saturate", 1))
    round_mode = _str(_attr(node, "round_mode", "up"))
    if _is_const(x):
        if to in NARROW_DTYPES or _dtype(x) in NARROW_DTYPES:
            return narrow_cast(x, to, saturate, round_mode)
        return x.astype(to)
    if _dtype(x) == to:
        return _ident(x)
    attrs = {}
    if not saturate:
        attrs["saturate"] = False
    if round_mode != "up":
        attrs["round_mode"] = round_mode
    return ops.apply("cast", [x], dtype=to, from_dtype=_dtype(x), **attrs)


def _cast(node, ins, opset):
    x = ins[0]
    to = _ONNX_DTYPES.get(int(_attr(node, "to")))
    if to is None:
        raise _Unsupported(f"Cast to ONNX element type {_attr(node, 'to')}")
    if _dtype(x) not in _ONNX_DTYPES.values():
        raise _Unsupported(f"Cast from {_dtype(x)}")
    return _cast_to(node, x, to)


def _reduce(name):
    def convert(node, ins, opset):
        x = ins[0]
        _require_float(x, node.op_type)
        since = 13 if node.op_type == "ReduceSum" else 18
        axes = _axes_of(node, ins, opset, since)
        keep = bool(_attr(node, "keepdims", 1))
        if axes is None or axes == []:
            if _attr(node, "noop_with_empty_axes", 0):
                return _ident(x)
            axes = None
        rank = len(_shape(x))
        axis = None if axes is None else tuple(sorted(_axis(a, rank) for a in axes))
        return ops.apply(name, [x], axis=axis, keepdims=keep)

    return convert


def _cast_like(node, ins, opset):
    target = _dtype(ins[1])
    x = ins[0]
    if _dtype(x) not in _ONNX_DTYPES.values() or target not in _ONNX_DTYPES.values():
        raise _Unsupported(f"CastLike from {_dtype(x)} to {target}")
    return _cast_to(node, x, target)


def _size(node, ins, opset):
    shape = _shape(ins[0])
    if any(d is None for d in shape):
        raise _Unsupported("Size of a tensor with unknown dimensions")
    return np.asarray(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)


def _composite_reduce(kind):
    """Reductions made of graphc ops: L1, L2, SumSquare, LogSumExp, LogSum, Min."""
    base = _reduce("sum" if kind != "min" else "max")

    def convert(node, ins, opset):
        x = ins[0]
        _require_float(x, node.op_type)
        pre = {
            "l1": lambda v: ops.apply("abs", [v]),
            "l2": lambda v: ops.apply("square", [v]),
            "sumsquare": lambda v: ops.apply("square", [v]),
            "logsumexp": ops.exp,
            "logsum": lambda v: v,
            "min": ops.negative,
        }[kind]
        y = base(node, [pre(x), *ins[1:]], opset)
        post = {
            "l2": lambda v: ops.apply("sqrt", [v]),
            "logsumexp": lambda v: ops.apply("log", [v]),
            "logsum": lambda v: ops.apply("log", [v]),
            "min": ops.negative,
        }.get(kind)
        return post(y) if post else y

    return convert


def _compare(name):
    def convert(node, ins, opset):
        a, b = ins
        if _dtype(a) != _dtype(b):
            raise _Unsupported(f"operands of different dtypes {_dtype(a)} and {_dtype(b)}")
        if _dtype(a) not in _ONNX_DTYPES.values():
            raise _Unsupported(f"{node.op_type} on dtype {_dtype(a)}")
        return ops.apply(name, [a, b])

    return convert


def _where(node, ins, opset):
    c, a, b = ins
    if _dtype(a) != _dtype(b):
        raise _Unsupported(f"branches of different dtypes {_dtype(a)} and {_dtype(b)}")
    return ops.where(c, a, b)


def _not(node, ins, opset):
    return ops.logical_not(ins[0])


def _neg(node, ins, opset):
    x = ins[0]
    if _dtype(x) == "bool" or _dtype(x).startswith("uint"):
        raise _Unsupported(f"Neg on dtype {_dtype(x)}")
    return ops.negative(x)


def _pad(node, ins, opset):
    x = ins[0]
    mode = _str(_attr(node, "mode", "constant"))
    if mode != "constant":
        raise _Unsupported(f"Pad mode {mode!r} (graphc pads with a constant)")
    if opset < 11:
        pads, value = list(_attr(node, "pads")), float(_attr(node, "value", 0.0))
    else:
        pads = [int(p) for p in _static(ins[1], "pads").reshape(-1)]
        value = (
            0.0
            if len(ins) < 3 or ins[2] is None
            else _static(ins[2], "constant_value").reshape(-1)[0].item()
        )
    rank = len(_shape(x))
    axes = list(range(rank))
    if opset >= 18 and len(ins) > 3 and ins[3] is not None:
        axes = [_axis(a, rank) for a in _static(ins[3], "axes").reshape(-1)]
    n = len(axes)
    if any(p < 0 for p in pads):
        raise _Unsupported("Pad with negative pads (cropping)")
    widths = [(0, 0)] * rank
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[i + n])
    if _is_const(x):
        return np.pad(x, widths, constant_values=value)
    return ops.apply("pad", [x], pads=tuple(widths), value=value)


def _split(node, ins, opset):
    x = ins[0]
    shape = _shape(x)
    axis = _axis(_attr(node, "axis", 0), len(shape))
    size = shape[axis]
    if size is None:
        raise _Unsupported("Split along an unknown dimension")
    if opset >= 13 and len(ins) > 1 and ins[1] is not None:
        sizes = [int(v) for v in _static(ins[1], "split").reshape(-1)]
    elif opset < 13 and _attr(node, "split", None) is not None:
        sizes = [int(v) for v in _attr(node, "split")]
    else:
        n = int(_attr(node, "num_outputs", len(node.output)))
        step = -(-size // n)
        sizes = [min(step, size - i * step) for i in range(n)]
    outs, start = [], 0
    for k in sizes:
        idx = np.arange(start, start + k, dtype=np.int64)
        start += k
        if _is_const(x):
            outs.append(np.take(x, idx, axis=axis))
        else:
            outs.append(ops.take(x, idx, axis=axis))
    return tuple(outs)


def _range(node, ins, opset):
    start, limit, delta = ins
    if all(_is_const(v) for v in ins):
        return np.arange(start, limit, delta, dtype=start.dtype)
    if any(len(_shape(v)) for v in ins) or len({_dtype(v) for v in ins}) > 1:
        raise _Unsupported("Range with non-scalar or mixed-dtype bounds")
    return ops.apply("range", list(ins), dtype=_dtype(start))


def _expand(node, ins, opset):
    x = ins[0]
    shape = tuple(int(d) for d in _static(ins[1], "shape").reshape(-1))
    if _is_const(x):
        return x * np.ones(shape, x.dtype)
    if _dtype(x) == "bool":
        return ops.logical_or(x, np.zeros(shape, bool))
    return ops.multiply(x, np.ones(shape, _dtype(x)))


def _tile(node, ins, opset):
    x = ins[0]
    reps = [int(r) for r in _static(ins[1], "repeats").reshape(-1)]
    if _is_const(x):
        return np.tile(x, reps)
    for axis, r in enumerate(reps):
        if r == 0:
            raise _Unsupported("Tile with a zero repeat")
        if r > 1:
            x = ops.concatenate([x] * r, axis=axis)
    return x if x is not ins[0] else _ident(x)


def _nll(x, target, weight, ignore_index, reduction):
    """NegativeLogLikelihoodLoss from graphc ops: ``-x[n, t[n, ...], ...] * w[t]``."""
    dt = _dtype(x)
    if _dtype(target) not in ("int32", "int64"):
        raise _Unsupported(f"targets of dtype {_dtype(target)}")
    valid = None
    t = target
    if ignore_index is not None:
        ig = np.asarray(ignore_index, dtype=_dtype(target))
        valid = ops.logical_not(ops.equal(target, ig))
        t = ops.where(valid, target, np.zeros((), _dtype(target)))
    picked = ops.apply("take_along_axis", [x, ops.expand_dims(t, 1)], axis=1)
    picked = ops.apply("sum", [picked], axis=(1,), keepdims=False)
    w = None
    if weight is not None:
        w = ops.take(weight, t, axis=0)
    if valid is not None:
        w = ops.where(valid, np.ones((), dt) if w is None else w, np.zeros((), dt))
    loss = ops.negative(picked if w is None else ops.multiply(picked, w))
    if reduction == "none":
        return loss
    total = ops.apply("sum", [loss], axis=None, keepdims=False)
    if reduction == "sum":
        return total
    if reduction != "mean":
        raise _Unsupported(f"reduction {reduction!r}")
    if w is None:
        return ops.apply("mean", [loss], axis=None, keepdims=False)
    return ops.divide(total, ops.apply("sum", [w], axis=None, keepdims=False))


def _nll_loss(node, ins, opset):
    x, target = ins[0], ins[1]
    weight = ins[2] if len(ins) > 2 else None
    _require_float(x, node.op_type)
    return _nll(
        x, target, weight, _attr(node, "ignore_index", None), _str(_attr(node, "reduction", "mean"))
    )


def _softmax_ce(node, ins, opset):
    x, target = ins[0], ins[1]
    weight = ins[2] if len(ins) > 2 else None
    _require_float(x, node.op_type)
    log_prob = _log_softmax(x, 1)
    loss = _nll(
        log_prob,
        target,
        weight,
        _attr(node, "ignore_index", None),
        _str(_attr(node, "reduction", "mean")),
    )
    if len(node.output) > 1 and node.output[1]:
        return loss, log_prob
    return loss


def _rms_norm(node, ins, opset):
    x, scale = ins[0], ins[1]
    _require_float(x, "RMSNormalization")
    rank = len(_shape(x))
    axis = _axis(_attr(node, "axis", -1), rank)
    axes = tuple(range(axis, rank))
    eps = float(_attr(node, "epsilon", 1e-5))
    stash = _attr(node, "stash_type", 1)
    if stash != 1:
        raise _Unsupported("RMSNormalization with stash_type other than float32")
    dt = _dtype(x)
    xf = ops.cast(x, "float32") if dt != "float32" else x
    ms = ops.apply("mean", [ops.apply("square", [xf])], axis=axes, keepdims=True)
    y = ops.divide(xf, ops.apply("sqrt", [ops.add(ms, np.asarray(eps, "float32"))]))
    if dt != "float32":
        y = ops.cast(y, dt)
    return ops.multiply(y, scale)


def _gelu(node, ins, opset):
    _require_float(ins[0], "Gelu")
    approx = _str(_attr(node, "approximate", "none"))
    return ops.gelu(ins[0], approximate=approx == "tanh")


def _swish(node, ins, opset):
    x = ins[0]
    _require_float(x, "Swish")
    alpha = float(_attr(node, "alpha", 1.0))
    if alpha == 1.0:
        return ops.silu(x)
    return ops.multiply(x, ops.sigmoid(ops.multiply(x, np.asarray(alpha, _dtype(x)))))


_RNN_ACTS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu"}


def _recurrent(kind):
    """ONNX LSTM/GRU/RNN as graphc's whole-sequence ops: ONNX's weights ``(D, G*H, in)``
    (LSTM gates i, o, f, c) become Keras's ``(in, G*H)`` (i, f, c, o) by graphc ops, so
    the ONNX weights stay the trainable ones."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]

    def convert(node, ins, opset):
        x, w, r = ins[:3]
        ins = list(ins) + [None] * (8 - len(ins))
        b, seq_lens, h0 = ins[3], ins[4], ins[5]
        c0 = ins[6] if kind == "LSTM" else None
        _require_float(x, kind)
        if seq_lens is not None:
            raise _Unsupported("sequence_lens")
        if kind == "LSTM" and ins[7] is not None:
            raise _Unsupported("peephole weights (P)")
        if _attr(node, "clip", None) is not None:
            raise _Unsupported("clip")
        if kind == "LSTM" and _attr(node, "input_forget", 0):
            raise _Unsupported("input_forget=1")
        if kind == "LSTM" and (h0 is None) != (c0 is None):
            raise _Unsupported("only one of initial_h and initial_c")
        if _attr(node, "activation_alpha", None) or _attr(node, "activation_beta", None):
            raise _Unsupported("activation_alpha/activation_beta")
        hidden = int(_attr(node, "hidden_size", _shape(r)[-1]))
        direction = _str(_attr(node, "direction", "forward"))
        dirs = 2 if direction == "bidirectional" else 1
        default = {
            "LSTM": ["Sigmoid", "Tanh", "Tanh"],
            "GRU": ["Sigmoid", "Tanh"],
            "RNN": ["Tanh"],
        }[kind]
        acts = [_str(a) for a in (_attr(node, "activations", None) or default * dirs)]
        if any(a not in _RNN_ACTS for a in acts):
            raise _Unsupported(f"activations {acts} (graphc has {sorted(_RNN_ACTS)})")
        per = len(default)
        layout = int(_attr(node, "layout", 0))
        xs = x if layout == 1 else ops.transpose(x, (1, 0, 2))
        order = {"LSTM": (0, 2, 3, 1), "GRU": (0, 1, 2), "RNN": (0,)}[kind]
        rows = np.concatenate([np.arange(hidden) + g * hidden for g in order]).astype(np.int64)
        seqs, hs, cs = [], [], []
        for d in range(dirs):
            a = acts[d * per : (d + 1) * per]
            if kind == "LSTM" and a[1] != a[2]:
                raise _Unsupported("different cell and output activations")
            pick = np.asarray(d, np.int64)
            kernel = ops.transpose(ops.take(ops.take(w, pick, axis=0), rows, axis=0), (1, 0))
            rec = ops.transpose(ops.take(ops.take(r, pick, axis=0), rows, axis=0), (1, 0))
            bias = None
            if b is not None:
                bd = ops.take(b, pick, axis=0)
                wb = ops.take(bd, rows, axis=0)
                rb = ops.take(bd, rows + gates * hidden, axis=0)
                if kind == "GRU" and _attr(node, "linear_before_reset", 0):
                    bias = ops.concatenate([ops.expand_dims(wb, 0), ops.expand_dims(rb, 0)], axis=0)
                else:
                    bias = ops.add(wb, rb)
            elif kind == "GRU" and _attr(node, "linear_before_reset", 0):
                bias = np.zeros((2, gates * hidden), _dtype(x))
            state = None
            if h0 is not None:
                state = [ops.take(h0, pick, axis=0)]
                if kind == "LSTM":
                    state.append(ops.take(c0, pick, axis=0))
            backwards = direction == "reverse" or d == 1
            if kind == "LSTM":
                out = ops.lstm(
                    xs,
                    kernel,
                    rec,
                    bias,
                    state,
                    activation=_RNN_ACTS[a[1]],
                    recurrent_activation=_RNN_ACTS[a[0]],
                    go_backwards=backwards,
                )
            elif kind == "GRU":
                out = ops.gru(
                    xs,
                    kernel,
                    rec,
                    bias,
                    state,
                    activation=_RNN_ACTS[a[1]],
                    recurrent_activation=_RNN_ACTS[a[0]],
                    go_backwards=backwards,
                    reset_after=bool(_attr(node, "linear_before_reset", 0)),
                )
            else:
                out = ops.simple_rnn(
                    xs, kernel, rec, bias, state, activation=_RNN_ACTS[a[0]], go_backwards=backwards
                )
            seq = ops.reverse_sequence(out[0]) if backwards else out[0]
            if layout == 0:
                seqs.append(ops.expand_dims(ops.transpose(seq, (1, 0, 2)), 1))
                hs.append(ops.expand_dims(out[1], 0))
                if kind == "LSTM":
                    cs.append(ops.expand_dims(out[2], 0))
            else:
                seqs.append(ops.expand_dims(seq, 2))
                hs.append(ops.expand_dims(out[1], 1))
                if kind == "LSTM":
                    cs.append(ops.expand_dims(out[2], 1))

        def join(parts, axis):
            return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=axis)

        results = [join(seqs, 1 if layout == 0 else 2), join(hs, 0 if layout == 0 else 1)]
        if kind == "LSTM":
            results.append(join(cs, 0 if layout == 0 else 1))
        return tuple(results[: max(1, len(node.output))])

    return convert


def _hardmax(node, ins, opset):
    x = ins[0]
    _require_float(x, "Hardmax")
    shape = _shape(x)
    axis = _axis(_attr(node, "axis", -1), len(shape))
    if opset < 13 and axis != len(shape) - 1:
        raise _Unsupported("Hardmax before opset 13 on an inner axis")
    if shape[axis] is None:
        raise _Unsupported("Hardmax along an unknown dimension")
    idx = ops.argmax(x, axis=axis, keepdims=True)
    along = np.arange(shape[axis], dtype=np.int64).reshape(
        [-1 if i == axis else 1 for i in range(len(shape))]
    )
    return ops.cast(ops.equal(idx, along), _dtype(x))


def _space_depth(to_depth):
    def convert(node, ins, opset):
        x = ins[0]
        shape = _shape(x)
        if len(shape) != 4 or any(d is None for d in shape[1:]):
            raise _Unsupported(f"{node.op_type} on unknown sizes or rank {len(shape)}")
        bs = int(_attr(node, "blocksize"))
        n, c, h, w = shape
        mode = _str(_attr(node, "mode", "DCR"))
        if to_depth:
            y = _reshape(x, (-1, c, h // bs, bs, w // bs, bs))
            perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
            y = ops.transpose(y, perm)
            return _reshape(y, (-1, c * bs * bs, h // bs, w // bs))
        if mode == "DCR":
            y = _reshape(x, (-1, bs, bs, c // (bs * bs), h, w))
            y = ops.transpose(y, (0, 3, 4, 1, 5, 2))
        else:
            y = _reshape(x, (-1, c // (bs * bs), bs, bs, h, w))
            y = ops.transpose(y, (0, 1, 4, 2, 5, 3))
        return _reshape(y, (-1, c // (bs * bs), h * bs, w * bs))

    return convert


def _slice(node, ins, opset):
    x = ins[0]
    shape = _shape(x)
    if opset < 10:
        starts, ends = _attr(node, "starts"), _attr(node, "ends")
        axes, steps = _attr(node, "axes", None), None
    else:
        starts = _static(ins[1], "starts").reshape(-1).tolist()
        ends = _static(ins[2], "ends").reshape(-1).tolist()
        axes = (
            None if len(ins) < 4 or ins[3] is None else _static(ins[3], "axes").reshape(-1).tolist()
        )
        steps = (
            None
            if len(ins) < 5 or ins[4] is None
            else _static(ins[4], "steps").reshape(-1).tolist()
        )
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if _is_const(x):
        index = [slice(None)] * x.ndim
        for a, s, e, st in zip(axes, starts, ends, steps):
            index[_axis(a, x.ndim)] = slice(int(s), int(e), int(st))
        return x[tuple(index)]
    for a, s, e, st in zip(axes, starts, ends, steps):
        a = _axis(a, len(shape))
        size = shape[a]
        if size is None:
            raise _Unsupported("Slice along an unknown dimension")
        idx = np.arange(size)[slice(int(s), int(e), int(st))]
        if idx.size == 0:
            raise _Unsupported("Slice to an empty tensor")
        if idx.size == size and st == 1:
            continue
        x = ops.take(x, idx.astype(np.int64), axis=a)
    return x if not isinstance(x, Value) or x is not ins[0] else _ident(x)


CONVERTERS = {
    "Add": _binary("add"),
    "Sub": _binary("subtract"),
    "Mul": _binary("multiply"),
    "Div": _binary("divide"),
    "Relu": _unary("relu"),
    "Sigmoid": _unary("sigmoid"),
    "Tanh": _unary("tanh"),
    "Exp": _unary("exp"),
    "Log": _unary("log"),
    "Sqrt": _unary("sqrt"),
    "Abs": _unary("abs"),
    "Neg": _neg,
    "Softplus": _unary("softplus"),
    "Softsign": _unary("softsign"),
    "Softmax": _softmax_like(False),
    "LogSoftmax": _softmax_like(True),
    "Elu": _elu,
    "Selu": _selu,
    "LeakyRelu": _leaky,
    "HardSigmoid": _hard_sigmoid,
    "ThresholdedRelu": _thresholded,
    "Clip": _clip,
    "Max": _variadic("maximum"),
    "Min": _variadic("minimum"),
    "Sum": _variadic("add"),
    "Mean": _variadic("add", mean=True),
    "Pow": _pow,
    "Reciprocal": _reciprocal,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Conv": _conv,
    "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"),
    "GlobalAveragePool": _global_pool("global_avg_pool"),
    "GlobalMaxPool": _global_pool("global_max_pool"),
    "BatchNormalization": _batch_norm,
    "Flatten": _flatten,
    "Reshape": _reshape_op,
    "Transpose": _transpose,
    "Concat": _concat,
    "Identity": _identity,
    "Dropout": _dropout,
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Shape": _shape_op,
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Cast": _cast,
    "Slice": _slice,
    "CastLike": _cast_like,
    "Size": _size,
    "Equal": _compare("equal"),
    "Less": _compare("less"),
    "LessOrEqual": _compare("less_equal"),
    "Greater": _compare("greater"),
    "GreaterOrEqual": _compare("greater_equal"),
    "And": _compare("logical_and"),
    "Or": _compare("logical_or"),
    "Xor": _compare("logical_xor"),
    "Not": _not,
    "Where": _where,
    "Floor": _unary("floor"),
    "Ceil": _unary("ceil"),
    "Round": _unary("round"),
    "Sign": _unary("sign", floats=False),
    "Sin": _unary("sin"),
    "Cos": _unary("cos"),
    "Pad": _pad,
    "Split": _split,
    "Range": _range,
    "Expand": _expand,
    "Tile": _tile,
    "Mod": _mod,
    "ArgMax": _arg("argmax"),
    "ArgMin": _arg("argmin"),
    "GatherElements": _gather_elements,
    "Trilu": _trilu,
    "LayerNormalization": _layer_norm,
    "NegativeLogLikelihoodLoss": _nll_loss,
    "SoftmaxCrossEntropyLoss": _softmax_ce,
    "RMSNormalization": _rms_norm,
    "Gelu": _gelu,
    "Swish": _swish,
    "LSTM": _recurrent("LSTM"),
    "GRU": _recurrent("GRU"),
    "RNN": _recurrent("RNN"),
    "Hardmax": _hardmax,
    "SpaceToDepth": _space_depth(True),
    "DepthToSpace": _space_depth(False),
    "ReduceL1": _composite_reduce("l1"),
    "ReduceL2": _composite_reduce("l2"),
    "ReduceSumSquare": _composite_reduce("sumsquare"),
    "ReduceLogSumExp": _composite_reduce("logsumexp"),
    "ReduceLogSum": _composite_reduce("logsum"),
    "ReduceMin": _composite_reduce("min"),
    "ReduceSum": _reduce("sum"),
    "ReduceMean": _reduce("mean"),
    "ReduceMax": _reduce("max"),
}
SUPPORTED_OPS = tuple(sorted(CONVERTERS))


# ---- the layer ---------------------------------------------------------------------------
def _graph_b64(graph) -> str:
    return base64.b64encode(graph.SerializeToString()).decode("ascii")


def _graph_from_b64(text: str):
    import onnx

    g = onnx.GraphProto()
    g.ParseFromString(base64.b64decode(text))
    return g


def _weight_names(graph) -> list:
    """Float initializers: the weights (the others are constants in the config)."""
    return [t.name for t in graph.initializer if _ONNX_DTYPES.get(t.data_type) in _FLOAT_KINDS]


def _frozen_names(graph) -> set:
    """BatchNormalization running statistics: weights that gradients never update."""
    return {
        n.input[i]
        for n in graph.node
        if n.op_type == "BatchNormalization"
        for i in (3, 4)
        if len(n.input) > i
    }


class OnnxGraphLayer(Layer):
    """Replays an ONNX graph with graphc ops; owns its initializers as weights.

    ``graph`` is a ``GraphProto`` (or its base64 form, as in the config); weight data
    comes from the graph's initializers, or, when loading a saved model, from the saved
    weights. ``trainable_weights`` lists the initializers that train (default: every float
    initializer except BatchNormalization running statistics).
    """

    def __init__(
        self,
        graph,
        opset=13,
        input_names=None,
        output_names=None,
        trainable_weights=None,
        constant_names=(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        from onnx import numpy_helper

        if isinstance(graph, str):
            graph = _graph_from_b64(graph)
        self.opset = int(opset)
        self.input_names = list(
            input_names if input_names is not None else [i.name for i in graph.input]
        )
        self.output_names = list(
            output_names if output_names is not None else [o.name for o in graph.output]
        )
        self.constant_names = list(constant_names)
        names = [n for n in _weight_names(graph) if n not in self.constant_names]
        frozen = _frozen_names(graph)
        self.trainable_names = (
            list(trainable_weights)
            if trainable_weights is not None
            else [n for n in names if n not in frozen]
        )
        self._init_data = {}
        stripped = type(graph)()
        stripped.CopyFrom(graph)
        del stripped.initializer[:]
        for t in graph.initializer:
            if t.name in names:
                try:
                    self._init_data[t.name] = numpy_helper.to_array(t)
                except Exception:  # a weight without data: a config (the data is saved apart)
                    self._init_data[t.name] = None
                meta = stripped.initializer.add()
                meta.name, meta.data_type = t.name, t.data_type
                meta.dims.extend(t.dims)
            else:
                stripped.initializer.add().CopyFrom(t)
        self.graph = stripped
        self.weights_by_name: dict = {}

    def build(self, input_shape):
        for t in self.graph.initializer:
            if t.name not in self._init_data:
                continue
            dtype = _ONNX_DTYPES[t.data_type]
            data = self._init_data.get(t.name)
            shape = tuple(int(d) for d in t.dims)
            p = self.add_weight(
                shape=shape,
                initializer="zeros",
                dtype=dtype,
                trainable=t.name in self.trainable_names,
                name=t.name,
            )
            if data is not None:
                p.data[...] = np.asarray(data, dtype=dtype).reshape(shape)
            self.weights_by_name[t.name] = p
        self._init_data = {k: None for k in self._init_data}

    def call(self, inputs):
        from onnx import numpy_helper

        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        env: dict = dict(self.weights_by_name)
        for t in self.graph.initializer:
            if t.name not in env:
                env[t.name] = numpy_helper.to_array(t)
        env.update(zip(self.input_names, flat))
        for k, node in enumerate(self.graph.node):
            if node.domain not in ("", "ai.onnx"):
                raise _node_error(node, k, self.opset, f"the domain {node.domain!r}")
            convert = CONVERTERS.get(node.op_type)
            if convert is None:
                raise _node_error(node, k, self.opset, None)
            ins = []
            for name in node.input:
                if not name:
                    ins.append(None)
                    continue
                if name not in env:
                    raise _node_error(node, k, self.opset, f"its input {name!r} is undefined")
                ins.append(env[name])
            try:
                if getattr(convert, "wants_env", False):  # control flow: subgraphs see env
                    out = convert(node, ins, self.opset, env=env)
                else:
                    out = convert(node, ins, self.opset)
            except _Unsupported as e:
                err = _node_error(node, k, self.opset, str(e))
                err.needs_input = e.needs_input
                raise err from None
            outs = out if isinstance(out, tuple) else (out,)
            for name, v in zip(node.output, outs):
                if name:
                    env[name] = v
        result = []
        anchor = next((v for v in flat if isinstance(v, Value)), None)
        if anchor is None:
            return [np.asarray(env[name]) for name in self.output_names]
        for name in self.output_names:
            v = env[name]
            if isinstance(v, np.ndarray):
                # an output computed from constants alone: a constant anchored to an input
                v = ops.constant_like(v, anchor)
            if not isinstance(v, Value) or v.kind not in ("input", "intermediate"):
                raise OnnxImportError(
                    f"the graph output {name!r} is a constant; graphc "
                    "models compute their outputs from their inputs"
                )
            result.append(v)
        return result if len(result) > 1 else result[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            graph=_graph_b64(self.graph),
            opset=self.opset,
            input_names=self.input_names,
            output_names=self.output_names,
            trainable_weights=self.trainable_names,
            constant_names=self.constant_names,
        )
        return config


register_builtin("OnnxGraphLayer", OnnxGraphLayer)


def _node_error(node, index, opset, reason):
    name = node.name or f"#{index}"
    if reason is None:
        return OnnxImportError(
            f"ONNX op {node.op_type!r} (node {name!r}, opset {opset}) has no graphc "
            f"equivalent. Supported ops: {', '.join(SUPPORTED_OPS)}."
        )
    return OnnxImportError(
        f"ONNX op {node.op_type!r} (node {name!r}, opset {opset}) is not "
        f"supported with {reason}. Supported ops: "
        f"{', '.join(SUPPORTED_OPS)}."
    )


# ---- load --------------------------------------------------------------------------------
def _dims(value_info) -> tuple:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        raise OnnxImportError(f"graph input {value_info.name!r} has no shape")
    dims = []
    for d in t.shape.dim:
        dims.append(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None)
    return tuple(dims)


def load(path_or_proto, trainable=True, name=None, constants=None) -> Model:
    """An ONNX model (a path, bytes or a ``ModelProto``) as a graphc ``Model``.

    ``trainable=False`` freezes every imported weight. Inputs keep their ONNX names and
    dtypes; ``dim_param`` (symbolic) and unknown dimensions become ``None``.
    ``constants`` (``{input name: array}``) binds graph inputs to fixed values: they
    become constants of the graph (what an op needs as an attribute, such as a
    ``Reshape`` target given as an input) and are no longer inputs of the model.
    """
    constants = dict(constants or {})
    import onnx

    # ONNX's narrow dtypes registered with NumPy (ml_dtypes), here rather than at import:
    # importing ml_dtypes takes over a second, and `import graphc` reaches this module.
    narrow_dtype("bfloat16")
    if isinstance(path_or_proto, (str, os.PathLike)):
        proto = onnx.load(os.fspath(path_or_proto))
    elif isinstance(path_or_proto, (bytes, bytearray)):
        proto = onnx.load_from_string(bytes(path_or_proto))
    else:
        proto = path_or_proto
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise OnnxImportError("the model imports no default-domain (ai.onnx) opset")
    if opset < MIN_IMPORT_OPSET and not all(
        n.op_type in _UNCHANGED_SINCE_OPSET_1 for n in proto.graph.node
    ):
        raise OnnxImportError(
            f"opset {opset} is older than the oldest graphc imports "
            f"({MIN_IMPORT_OPSET}); convert it with "
            "onnx.version_converter first"
        )
    graph = proto.graph
    if constants:
        from onnx import numpy_helper

        bound = type(graph)()
        bound.CopyFrom(graph)
        for n, arr in constants.items():
            bound.initializer.append(numpy_helper.from_array(np.asarray(arr), n))
        graph = bound
    init_names = {t.name for t in graph.initializer}
    inputs = []
    for vi in graph.input:
        if vi.name in init_names:
            continue
        elem = vi.type.tensor_type.elem_type
        dtype = _ONNX_DTYPES.get(elem)
        if dtype is None:
            raise OnnxImportError(
                f"graph input {vi.name!r} has ONNX element type {elem}, "
                "which graphc does not support"
            )
        try:
            inputs.append(Input(batch_shape=_dims(vi), dtype=dtype, name=vi.name))
        except ValueError as e:
            raise OnnxImportError(f"graph input {vi.name!r}: {e}") from None
    layer_graph = type(graph)()
    layer_graph.CopyFrom(graph)
    del layer_graph.input[:]
    layer_graph.input.extend([vi for vi in graph.input if vi.name not in init_names])
    layer = OnnxGraphLayer(
        layer_graph,
        opset=opset,
        name=name or f"onnx_{_layer_name(graph.name)}",
        constant_names=list(constants),
    )
    if not trainable:
        layer.trainable_names = []
    if not inputs:
        # every input bound (or none): the whole graph folds to constants at import
        layer.build(())
        values = layer.call([])
        values = values if isinstance(values, list) else [values]
        err = OnnxImportError(
            "the graph computes its outputs from constants alone (no graph input is left "
            "unbound); graphc models compute their outputs from their inputs"
        )
        err.constant_outputs = [np.asarray(v) for v in values]
        raise err
    outputs = layer(inputs if len(inputs) != 1 else inputs[0])
    model_name = _layer_name(graph.name) or "onnx_model"
    return Model(inputs if len(inputs) != 1 else inputs[0], outputs, name=model_name)


def _layer_name(text: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in (text or "graph").lower())
    return out.strip("_") or "graph"


# ---- more converters, kept apart; they use the helpers above --------------------------------
from graphc.onnx import import_ops as _import_ops  # noqa: E402

_import_ops.install(CONVERTERS)
# The neural-network families: attention, resize, transposed convolution, sampling.
from graphc.onnx._nn_import import NN_CONVERTERS  # noqa: E402

CONVERTERS.update(NN_CONVERTERS)
SUPPORTED_OPS = tuple(sorted(CONVERTERS))
