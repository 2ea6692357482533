"""``keras.ops`` functions made of the registered ops (no kernels of their own).

Each works on arrays (eager) and on symbolic tensors (it records the ops it is made of),
with its gradient and ONNX lowering coming from those ops. Creation functions (``ones``,
``eye``, the windows) make NumPy arrays, as Keras's make backend tensors. Known limits of
the compositions are in each docstring (``where`` on infinities, for instance).
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from graphc.errors import ArgumentTypeError, ArgumentValueError, ShapeError
from graphc.ir import Value
from graphc.ops.arrays import _rank, mean, sum, take, thresholded_relu, transpose
from graphc.ops.logic import (
    equal,
    greater,
    greater_equal,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    where,
)
from graphc.ops.masking import any as _any
from graphc.ops.masking import cast, expand_dims, not_equal
from graphc.ops.numeric import abs, clip, log, max, sqrt, square
from graphc.ops.registry import apply, is_symbolic
from graphc.ops.rounding import power, sign
from graphc.ops.shapes import normalize_axis

__all__ = [
    # creation
    "ones",
    "zeros",
    "full",
    "empty",
    "ones_like",
    "zeros_like",
    "full_like",
    "empty_like",
    "eye",
    "tri",
    "linspace",
    "logspace",
    "geomspace",
    "array",
    "convert_to_tensor",
    "convert_to_numpy",
    "is_tensor",
    "copy",
    "ndim",
    "size",
    "dtype",
    "hanning",
    "hamming",
    "blackman",
    "bartlett",
    "kaiser",
    # elementwise
    "true_divide",
    "reciprocal",
    "rsqrt",
    "expm1",
    "log1p",
    "log2",
    "log10",
    "exp2",
    "power",
    "fabs",
    "hypot",
    "logaddexp",
    "deg2rad",
    "rad2deg",
    "real",
    "conj",
    "conjugate",
    "imag",
    "sign",
    # comparisons and logic
    "greater",
    "less",
    "greater_equal",
    "less_equal",
    "equal",
    "logical_not",
    "logical_and",
    "logical_or",
    "logical_xor",
    "where",
    "isfinite",
    # activations
    "relu6",
    "hard_tanh",
    "hard_silu",
    "hard_swish",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "celu",
    "glu",
    "mish",
    "sparse_plus",
    "sparse_sigmoid",
    "squareplus",
    "soft_shrink",
    "hard_shrink",
    "tanh_shrink",
    "threshold",
    # reductions
    "min",
    "amax",
    "amin",
    "var",
    "std",
    "moments",
    "ptp",
    "count_nonzero",
    "all",
    "average",
    # shapes
    "squeeze",
    "ravel",
    "stack",
    "hstack",
    "vstack",
    "tile",
    "split",
    "array_split",
    "hsplit",
    "vsplit",
    "unstack",
    "slice",
    "flip",
    "fliplr",
    "flipud",
    "roll",
    "swapaxes",
    "moveaxis",
    "outer",
    "broadcast_to",
    "diff",
    "tril",
    "triu",
    # nn
    "one_hot",
    "multi_hot",
    "batch_normalization",
    "rms_normalization",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    # control flow (Python loops on data; on symbolic tensors, scan/while nodes or unrolled)
    "cond",
    "fori_loop",
    "while_loop",
    "scan",
    "map",
    "switch",
    "vectorized_map",
]

_EPSILON = 1e-7  # Keras's backend.epsilon()


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _float(dtype) -> str:
    return str(np.dtype(dtype)) if dtype is not None else "float32"


# ---- creation -------------------------------------------------------------------------
def _dims(shape) -> tuple:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def ones(shape, dtype=None):
    return np.ones(_dims(shape), dtype=_float(dtype))


def zeros(shape, dtype=None):
    return np.zeros(_dims(shape), dtype=_float(dtype))


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None):
    if dtype is None:
        dtype = np.asarray(fill_value).dtype
        dtype = "float32" if dtype.kind == "f" else ("int32" if dtype.kind in "iu" else dtype)
    return np.full(_dims(shape), fill_value, dtype=dtype)


def full_like(x, fill_value, dtype=None):
    """An array of ``x``'s shape filled with ``fill_value``; on a symbolic tensor,
    ``x * 0 + fill_value`` (so an infinite or NaN entry of ``x`` gives NaN)."""
    if is_symbolic(x):
        out = apply("add", [apply("multiply", [x, 0]), fill_value])
        return out if dtype is None else cast(out, dtype)
    x = np.asarray(x)
    return np.full_like(x, fill_value, dtype=dtype if dtype is not None else x.dtype)


def zeros_like(x, dtype=None):
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    return full_like(x, 1, dtype)


def empty_like(x, dtype=None):
    return zeros_like(x, dtype)


def eye(N, M=None, k=0, dtype=None):
    return np.eye(int(N), None if M is None else int(M), int(k), dtype=_float(dtype))


def tri(N, M=None, k=0, dtype=None):
    return np.tri(int(N), None if M is None else int(M), int(k), dtype=_float(dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    return np.linspace(
        start, stop, num, endpoint=endpoint, retstep=retstep, dtype=_float(dtype), axis=axis
    )


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    return np.logspace(
        start, stop, num, endpoint=endpoint, base=base, dtype=_float(dtype), axis=axis
    )


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    return np.geomspace(start, stop, num, endpoint=endpoint, dtype=_float(dtype), axis=axis)


def _window(fn):
    def window(x):
        return fn(int(x)).astype("float32")

    window.__name__ = fn.__name__
    window.__doc__ = f"``keras.ops.{fn.__name__}``: NumPy's window, in float32."
    return window


hanning = _window(np.hanning)
hamming = _window(np.hamming)
blackman = _window(np.blackman)
bartlett = _window(np.bartlett)


def kaiser(x, beta):
    return np.kaiser(int(x), beta).astype("float32")


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """Symbolic tensors and weights pass through; anything else becomes a NumPy array
    (Python floats float32, as Keras's floatx)."""
    if isinstance(x, Value):
        return x if dtype is None else cast(x, dtype)
    if dtype is None and isinstance(x, float):
        dtype = "float32"
    arr = np.asarray(x, dtype=dtype)
    if dtype is None and arr.dtype == np.float64 and not isinstance(x, np.ndarray):
        arr = arr.astype("float32")
    return arr


def array(x, dtype=None):
    return convert_to_tensor(x, dtype)


def convert_to_numpy(x):
    if isinstance(x, Value):
        if x.data is None:
            raise ValueError(
                "convert_to_numpy needs data; a symbolic tensor has none "
                "(call the model on arrays to get values)"
            )
        return np.asarray(x.data)
    return np.asarray(x)


def is_tensor(x) -> bool:
    return isinstance(x, (np.ndarray, Value))


def copy(x):
    return apply("identity", [x]) if is_symbolic(x) else np.array(x, copy=True)


def ndim(x) -> int:
    return _rank(x)


def size(x):
    shape = _shape(x)
    if any(d is None for d in shape):
        raise ValueError(f"size needs a fully known shape, got {shape}")
    return int(np.prod(shape, dtype=np.int64))


def dtype(x) -> str:
    return str(np.dtype(x.dtype)) if hasattr(x, "dtype") else str(np.asarray(x).dtype)


# ---- elementwise ----------------------------------------------------------------------
def true_divide(x1, x2):
    return apply("divide", [x1, x2])


def reciprocal(x):
    return apply("divide", [1.0, x])


def rsqrt(x):
    return reciprocal(sqrt(x))


def expm1(x):
    """``exp(x) - 1`` (computed as that, so less precise than NumPy's near 0)."""
    return apply("subtract", [apply("exp", [x]), 1.0])


def log1p(x):
    """``log(1 + x)`` (computed as that, so less precise than NumPy's near 0)."""
    return log(apply("add", [x, 1.0]))


def log2(x):
    return apply("multiply", [log(x), 1.0 / math.log(2.0)])


def log10(x):
    return apply("multiply", [log(x), 1.0 / math.log(10.0)])


def exp2(x):
    return apply("exp", [apply("multiply", [x, math.log(2.0)])])


def fabs(x):
    return abs(x)


def hypot(x1, x2):
    return sqrt(apply("add", [square(x1), square(x2)]))


def logaddexp(x1, x2):
    m = apply("maximum", [x1, x2])
    s = apply(
        "add",
        [apply("exp", [apply("subtract", [x1, m])]), apply("exp", [apply("subtract", [x2, m])])],
    )
    return apply("add", [m, log(s)])


def deg2rad(x):
    return apply("multiply", [x, math.pi / 180.0])


def rad2deg(x):
    return apply("multiply", [x, 180.0 / math.pi])


def real(x):
    """Real tensors only (graphc has no complex dtype): ``x`` itself."""
    return x


conj = conjugate = real


def imag(x):
    """Real tensors only: zeros of ``x``'s shape."""
    return zeros_like(x)


# ---- comparisons and logic --------------------------------------------------------------


def isfinite(x):
    """``x - x == 0``: false for infinities and NaN."""
    return logical_not(not_equal(apply("subtract", [x, x]), 0))


# ---- activations ------------------------------------------------------------------------
def relu6(x):
    return clip(x, 0.0, 6.0)


def hard_tanh(x):
    return clip(x, -1.0, 1.0)


def hard_silu(x):
    return apply("multiply", [x, apply("hard_sigmoid", [x])])


hard_swish = hard_silu


def log_sigmoid(x):
    return apply("negative", [apply("softplus", [apply("negative", [x])])])


def logsumexp(x, axis=None, keepdims=False):
    m = max(x, axis=axis, keepdims=True)
    s = sum(apply("exp", [apply("subtract", [x, m])]), axis=axis, keepdims=True)
    out = apply("add", [m, log(s)])
    if keepdims:
        return out
    return squeeze(out, axis=axis) if axis is not None else apply("reshape", [out], shape=())


def log_softmax(x, axis=-1):
    return apply("subtract", [x, logsumexp(x, axis=axis, keepdims=True)])


def celu(x, alpha=1.0):
    neg = apply("multiply", [expm1(apply("multiply", [x, 1.0 / alpha])), float(alpha)])
    return apply("add", [apply("relu", [x]), apply("minimum", [neg, 0.0])])


def glu(x, axis=-1):
    a, b = split(x, 2, axis=axis)
    return apply("multiply", [a, apply("sigmoid", [b])])


def mish(x):
    return apply("multiply", [x, apply("tanh", [apply("softplus", [x])])])


def sparse_plus(x):
    c = clip(x, -1.0, 1.0)
    return apply(
        "add",
        [
            apply("multiply", [square(apply("add", [c, 1.0])), 0.25]),
            apply("relu", [apply("subtract", [x, 1.0])]),
        ],
    )


def sparse_sigmoid(x):
    return apply("multiply", [apply("add", [clip(x, -1.0, 1.0), 1.0]), 0.5])


def squareplus(x, b=4):
    return apply("multiply", [apply("add", [x, sqrt(apply("add", [square(x), float(b)]))]), 0.5])


def soft_shrink(x, threshold=0.5):
    t = float(threshold)
    return apply(
        "subtract",
        [
            apply("relu", [apply("subtract", [x, t])]),
            apply("relu", [apply("subtract", [apply("negative", [x]), t])]),
        ],
    )


def hard_shrink(x, threshold=0.5):
    t = float(threshold)
    return apply("subtract", [thresholded_relu(x, t), thresholded_relu(apply("negative", [x]), t)])


def tanh_shrink(x):
    return apply("subtract", [x, apply("tanh", [x])])


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``."""
    keep = cast(greater(x, threshold), dtype(x))
    return apply(
        "add",
        [
            apply("multiply", [x, keep]),
            apply("multiply", [apply("subtract", [1, keep]), default_value]),
        ],
    )


# ---- reductions -------------------------------------------------------------------------
def min(x, axis=None, keepdims=False):  # noqa: A001  (keras.ops.min)
    return apply("negative", [max(apply("negative", [x]), axis=axis, keepdims=keepdims)])


amax = max
amin = min


def var(x, axis=None, keepdims=False):
    centred = apply("subtract", [x, mean(x, axis=axis, keepdims=True)])
    return mean(square(centred), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def moments(x, axes, keepdims=False, synchronized=False):
    return mean(x, axis=axes, keepdims=keepdims), var(x, axis=axes, keepdims=keepdims)


def ptp(x, axis=None, keepdims=False):
    return apply(
        "subtract", [max(x, axis=axis, keepdims=keepdims), min(x, axis=axis, keepdims=keepdims)]
    )


def count_nonzero(x, axis=None):
    return sum(cast(not_equal(x, 0), "int32"), axis=axis)


def _int(x):
    return cast(x, "int32") if isinstance(x, (Value, np.ndarray)) else np.asarray(x, "int32")


def all(x, axis=None, keepdims=False):  # noqa: A001  (keras.ops.all)
    if axis is None:
        flat = apply("reshape", [_int(x)], shape=(-1,))
        out = logical_not(_any(logical_not(flat), axis=0))
        return out if not keepdims else apply("reshape", [out], shape=(1,) * _rank(x))
    return logical_not(_any(logical_not(x), axis=int(axis), keepdims=keepdims))


def average(x, axis=None, weights=None):
    """The mean, or ``sum(x * w) / sum(w)`` over ``axis`` with ``weights`` of ``x``'s
    shape or 1-D along ``axis``."""
    if weights is None:
        return mean(x, axis=axis)
    w = weights
    if axis is not None and _rank(w) == 1 and _rank(x) > 1:
        shape = [1] * _rank(x)
        shape[normalize_axis(int(axis), _rank(x))] = -1
        w = apply("reshape", [w], shape=tuple(shape))
        w = apply("multiply", [w, ones_like(x)])
    return apply("divide", [sum(apply("multiply", [x, w]), axis=axis), sum(w, axis=axis)])


# ---- shapes -----------------------------------------------------------------------------
def _static(x, axis) -> int:
    d = _shape(x)[axis]
    if d is None:
        raise ValueError(f"this needs a known size along axis {axis}, got shape {_shape(x)}")
    return int(d)


def squeeze(x, axis=None):
    shape = _shape(x)
    if axis is None:
        axes = {i for i, d in enumerate(shape) if d == 1}
    else:
        axes = {
            normalize_axis(int(a), len(shape))
            for a in (axis if isinstance(axis, (tuple, list)) else (axis,))
        }
        bad = [a for a in axes if shape[a] not in (1, None)]
        if bad:
            raise ValueError(f"cannot squeeze axis {bad[0]} of size {shape[bad[0]]}")
    new = [d for i, d in enumerate(shape) if i not in axes]
    if builtins.sum(d is None for d in new) > 1:
        raise ValueError(f"squeeze needs at most one unknown dimension, got {shape}")
    return apply("reshape", [x], shape=tuple(-1 if d is None else int(d) for d in new))


def ravel(x):
    return apply("reshape", [x], shape=(-1,))


def stack(x, axis=0):
    xs = list(x)
    axis = normalize_axis(int(axis), _rank(xs[0]) + 1)
    return apply("concatenate", [expand_dims(v, axis) for v in xs], axis=axis)


def hstack(xs):
    xs = list(xs)
    return apply("concatenate", xs, axis=0 if _rank(xs[0]) == 1 else 1)


def vstack(xs):
    xs = [v if _rank(v) > 1 else expand_dims(v, 0) for v in xs]
    return apply("concatenate", xs, axis=0)


def tile(x, repeats):
    reps = [int(repeats)] if isinstance(repeats, (int, np.integer)) else [int(r) for r in repeats]
    while len(reps) > _rank(x):
        x = expand_dims(x, 0)
    reps = [1] * (_rank(x) - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            x = apply("concatenate", [x] * r, axis=axis)
    return x


def _take_range(x, start, stop, axis):
    return take(x, np.arange(start, stop, dtype=np.int64), axis=axis)


def split(x, indices_or_sections, axis=0):
    axis = normalize_axis(int(axis), _rank(x))
    n = _static(x, axis)
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if n % k:
            raise ValueError(
                f"array of size {n} along axis {axis} does not split into {k} equal parts"
            )
        bounds = [i * n // k for i in range(k + 1)]
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], n]
    return [_take_range(x, a, b, axis) for a, b in zip(bounds[:-1], bounds[1:])]


def array_split(x, indices_or_sections, axis=0):
    if not isinstance(indices_or_sections, (int, np.integer)):
        return split(x, indices_or_sections, axis)
    axis = normalize_axis(int(axis), _rank(x))
    n, k = _static(x, axis), int(indices_or_sections)
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    return split(x, list(np.cumsum(sizes)[:-1]), axis)


def hsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=0 if _rank(x) == 1 else 1)


def vsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=0)


def unstack(x, num=None, axis=0):
    axis = normalize_axis(int(axis), _rank(x))
    return [take(x, np.asarray(i, dtype=np.int64), axis=axis) for i in range(_static(x, axis))]


def slice(inputs, start_indices, shape):  # noqa: A001  (keras.ops.slice)
    """A block of static ``shape`` starting at static ``start_indices``."""
    x = inputs
    for axis, (s, n) in enumerate(zip(start_indices, shape)):
        dim = _shape(x)[axis]
        if n == -1:
            n = _static(x, axis) - int(s)
        if int(s) != 0 or dim is None or int(n) != dim:
            x = _take_range(x, int(s), int(s) + int(n), axis)
    return x


def flip(x, axis=None):
    axes = (
        range(_rank(x))
        if axis is None
        else [
            normalize_axis(int(a), _rank(x))
            for a in (axis if isinstance(axis, (tuple, list)) else (axis,))
        ]
    )
    for a in axes:
        x = take(x, np.arange(_static(x, a) - 1, -1, -1, dtype=np.int64), axis=a)
    return x


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def roll(x, shift, axis=None):
    if axis is None:
        shape = _shape(x)
        return apply(
            "reshape",
            [roll(ravel(x), shift, 0)],
            shape=tuple(-1 if d is None else d for d in shape),
        )
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    for s, a in zip(shifts, axes):
        a = normalize_axis(int(a), _rank(x))
        n = _static(x, a)
        x = take(x, (np.arange(n) - int(s)) % n, axis=a)
    return x


def moveaxis(x, source, destination):
    nd = _rank(x)
    src = [normalize_axis(int(a), nd) for a in np.atleast_1d(source)]
    dst = [normalize_axis(int(a), nd) for a in np.atleast_1d(destination)]
    order = [a for a in range(nd) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def swapaxes(x, axis1, axis2):
    nd = _rank(x)
    perm = list(range(nd))
    a, b = normalize_axis(int(axis1), nd), normalize_axis(int(axis2), nd)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, tuple(perm))


def outer(x1, x2):
    return apply(
        "multiply", [apply("reshape", [x1], shape=(-1, 1)), apply("reshape", [x2], shape=(1, -1))]
    )


def broadcast_to(x, shape):
    z = np.zeros(_dims(shape), dtype=dtype(x))
    return apply("add", [x, z])


def diff(a, n=1, axis=-1):
    axis = normalize_axis(int(axis), _rank(a))
    for _ in range(int(n)):
        m = _static(a, axis)
        a = apply("subtract", [_take_range(a, 1, m, axis), _take_range(a, 0, m - 1, axis)])
    return a


def _tri_mask(x, k, lower):
    rows, cols = _static(x, -2), _static(x, -1)
    m = np.tri(rows, cols, int(k) if lower else int(k) - 1, dtype=dtype(x))
    return m if lower else 1 - m


def tril(x, k=0):
    return apply("multiply", [x, _tri_mask(x, k, True)])


def triu(x, k=0):
    return apply("multiply", [x, _tri_mask(x, k, False)])


# ---- nn ---------------------------------------------------------------------------------
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """``keras.ops.one_hot``: ``x == arange(num_classes)`` along a new last axis (then
    moved to ``axis``); negative or too large ids give rows of zeros."""
    ids = cast(x, "int32") if isinstance(x, Value) else np.asarray(x, "int32")
    classes = np.arange(int(num_classes), dtype=np.int32)
    hot = cast(equal(expand_dims(ids, -1), classes), _float(dtype))
    if axis != -1 and normalize_axis(int(axis), _rank(hot)) != _rank(hot) - 1:
        hot = moveaxis(hot, -1, axis)
    return hot


def multi_hot(inputs, num_classes, axis=-1, dtype=None, sparse=False):
    """``keras.ops.multi_hot``: 1 for each class present in the last axis of ``inputs``."""
    hot = one_hot(inputs, num_classes, dtype=dtype)
    if _rank(inputs) == 1:
        return max(hot, axis=0)
    out = max(hot, axis=-2)
    if axis != -1:
        out = moveaxis(out, -1, axis)
    return out


def _bcast(v, axis, nd):
    if v is None or _rank(v) != 1 or nd == 1:
        return v
    shape = [1] * nd
    shape[normalize_axis(int(axis), nd)] = -1
    return apply("reshape", [v], shape=tuple(shape))


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    nd = _rank(x)
    inv = rsqrt(apply("add", [_bcast(variance, axis, nd), float(epsilon)]))
    if scale is not None:
        inv = apply("multiply", [inv, _bcast(scale, axis, nd)])
    out = apply("multiply", [apply("subtract", [x, _bcast(mean, axis, nd)]), inv])
    if offset is not None:
        out = apply("add", [out, _bcast(offset, axis, nd)])
    return out


def rms_normalization(x, scale=1, axis=-1, epsilon=None):
    eps = _EPSILON if epsilon is None else float(epsilon)
    r = rsqrt(apply("add", [mean(square(x), axis=axis, keepdims=True), eps]))
    out = apply("multiply", [x, r])
    return (
        apply("multiply", [out, scale])
        if not (isinstance(scale, (int, float)) and scale == 1)
        else out
    )


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    if from_logits:
        logp = log_softmax(output, axis=axis)
    else:
        output = apply("divide", [output, sum(output, axis=axis, keepdims=True)])
        logp = log(clip(output, _EPSILON, 1.0 - _EPSILON))
    return apply("negative", [sum(apply("multiply", [target, logp]), axis=axis)])


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    n = _static(output, axis)
    return categorical_crossentropy(
        one_hot(target, n, axis=axis, dtype=dtype(output)),
        output,
        from_logits=from_logits,
        axis=axis,
    )


def binary_crossentropy(target, output, from_logits=False):
    if from_logits:
        # max(x, 0) - x * t + log(1 + exp(-|x|))
        return apply(
            "add",
            [
                apply("subtract", [apply("relu", [output]), apply("multiply", [output, target])]),
                apply("softplus", [apply("negative", [abs(output)])]),
            ],
        )
    o = clip(output, _EPSILON, 1.0 - _EPSILON)
    pos = apply("multiply", [target, log(o)])
    neg = apply("multiply", [apply("subtract", [1.0, target]), log(apply("subtract", [1.0, o]))])
    return apply("negative", [apply("add", [pos, neg])])


# ---- control flow -----------------------------------------------------------------------
def _concrete(pred, what):
    if is_symbolic(pred):
        raise ValueError(
            f"{what} on a symbolic condition is not supported: graphc "
            "records no data-dependent control flow (use where)"
        )
    return bool(np.asarray(pred))


def cond(pred, true_fn, false_fn):
    return true_fn() if _concrete(pred, "cond") else false_fn()


def switch(index, branches, *operands):
    if is_symbolic(index):
        raise ValueError("switch on a symbolic index is not supported")
    i = int(np.clip(int(np.asarray(index)), 0, len(branches) - 1))
    return branches[i](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    """``keras.ops.fori_loop``: a Python loop when ``lower`` and ``upper`` are numbers
    (unrolled when recording). With a symbolic bound (``ops.shape(x)[1]`` of an unknown
    length, say) the loop is one ``scan`` node over ``arange(lower, upper)`` whose body
    is ``body_fun`` recorded once: the trip count is known only at run time (0 steps
    return ``init_val``)."""
    if is_symbolic(lower) or is_symbolic(upper):
        from graphc.ops.dynamic import arange

        def step(carry, i):
            return body_fun(i, carry), None

        return _scan_traced(step, init_val, arange(lower, upper), None, False, "fori_loop")[0]
    for name, bound in (("lower", lower), ("upper", upper)):
        if isinstance(bound, Value):
            raise ArgumentTypeError(
                f"fori_loop: {name} must be a Python int or a symbolic scalar tensor, "
                f"received a {bound.kind} {bound.name}; pass int(...) of its value"
            )
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """``keras.ops.while_loop``. A concrete condition runs as a Python loop (unrolled
    when recording). A symbolic one (it reads a symbolic tensor) makes one ``while`` node
    (``graphc/ops/control_flow.py``): ``body`` and ``cond`` are recorded once on
    placeholders for the loop variables (any nested structures), the trip count is
    decided at run time, and the export is ONNX ``Loop``. ``cond`` must then give a bool
    scalar, and the loop variables keep their shapes and dtypes."""
    is_tuple = isinstance(loop_vars, (list, tuple))
    vars_ = tuple(loop_vars) if is_tuple else (loop_vars,)
    n = 0
    while True:
        go = cond(*vars_)
        if is_symbolic(go):
            vars_ = _while_traced(cond, body, vars_, maximum_iterations, n, go)
            return type(loop_vars)(vars_) if is_tuple else vars_[0]
        if not bool(np.asarray(go)) or (maximum_iterations is not None and n >= maximum_iterations):
            break
        out = body(*vars_)
        vars_ = tuple(out) if isinstance(out, (list, tuple)) else (out,)
        n += 1
    return type(loop_vars)(vars_) if is_tuple else vars_[0]


def _while_traced(cond, body, vars_, maximum_iterations, done, cond0):
    """``while_loop`` on a symbolic condition: one ``while`` node; ``done`` steps ran
    already (a condition that became symbolic after concrete steps)."""
    from graphc import tree
    from graphc.ops.control_flow import BodyTrace, _in_scope

    if maximum_iterations is not None:
        maximum_iterations = builtins.max(int(maximum_iterations) - done, 0)
    leaves = tree.flatten(vars_)
    if not leaves:
        raise ArgumentValueError("while_loop: loop_vars holds no tensor; pass the loop state")
    dtypes: list = [None] * len(leaves)
    for attempt in range(2):
        carries = [_leaf_tensor(v, d) for v, d in zip(leaves, dtypes)]
        tr = BodyTrace(name="while_loop", axis=0)
        with _in_scope("while_loop"):
            ph = [tr.carry(v) for v in carries]
            out = body(*tree.pack_sequence_as(vars_, ph))
            out = tuple(out) if isinstance(out, (list, tuple)) else (out,)
            new = tree.flatten(out)
            if len(new) != len(leaves):
                raise ShapeError(
                    f"while_loop: body returned {len(new)} tensor(s) for {len(leaves)} loop "
                    "variable(s); it must return the loop variables' structure"
                )
            new = [v if isinstance(v, Value) else _leaf_tensor(v) for v in new]
            retry = [
                n.dtype if _weak(i) and n.dtype != p.dtype else None
                for i, n, p in zip(leaves, new, ph)
            ]
            if builtins.any(retry) and attempt == 0:
                dtypes = [r or d for r, d in zip(retry, dtypes)]
                continue
            go = cond(*tree.pack_sequence_as(vars_, new))
        break
    if not isinstance(go, Value) or tuple(go.shape) != () or go.dtype != "bool":
        got = f"{getattr(go, 'shape', ())} {getattr(go, 'dtype', type(go).__name__)}"
        raise ShapeError(
            f"while_loop: cond must return a bool scalar tensor, received {got}; reduce "
            "it with ops.all or ops.any"
        )
    if isinstance(cond0, Value) and cond0.dtype != "bool":
        cond0 = cast(cond0, "bool")
    finals = tr.finish_while(new, go, cond0, maximum_iterations)
    return tuple(tree.pack_sequence_as(vars_, finals))


def _leading(xs, length):
    n = _shape(xs)[0] if xs is not None else length
    if n is None:
        raise ValueError("scan needs a known leading dimension")
    return int(n)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``keras.ops.scan(f, init, xs=None, length=None, reverse=False, unroll=1)``.

    On arrays: a Python loop over the leading axis of one array ``xs`` (or ``None`` and
    ``length``); returns ``(carry, stacked ys)``. When ``init``, ``xs`` (any nested
    structure of tensors, as Keras allows) or ``length`` is symbolic, ``f`` is recorded
    once, on placeholders for the carry and for one slice ``xs[t]``, as the body of one
    ``scan`` node (``graphc/ops/control_flow.py``): the leading length may be unknown
    (``None``), the graph holds ``f``'s ops once, and gradients, the ONNX export
    (``Scan``) and Keras's ``reverse`` (``ys[t]`` comes from ``xs[t]``) follow. The carry
    must keep its structure, shapes and dtypes from step to step; a Python-number leaf
    of ``init`` takes the dtype the step gives it. ``unroll`` is accepted and ignored
    (Keras unrolls only on JAX and TensorFlow)."""
    if not callable(f):
        raise ArgumentTypeError(f"scan: f must be a callable, received {type(f).__name__}")
    if xs is None and length is None:
        raise ArgumentValueError(
            "scan: got no xs to scan over and no length; pass xs or length=<steps>"
        )
    from graphc import tree

    leaves = tree.flatten(init) + (tree.flatten(xs) if xs is not None else [])
    if is_symbolic(length) or builtins.any(is_symbolic(v) for v in leaves):
        if xs is None:
            from graphc.ops.dynamic import arange

            if not is_symbolic(length):
                length = int(length)
                if length < 1:
                    raise ArgumentValueError(f"scan: length must be at least 1, received {length}")
            steps = arange(length)  # the body does not read it: it sets the length
            return _scan_traced(f, init, steps, None, reverse, "scan", xs_given=False)
        return _scan_traced(f, init, xs, length, reverse, "scan")
    # A nested xs (a tuple or dict of arrays) is scanned leaf by leaf, and nested ys are
    # stacked leaf by leaf, as Keras's backends do.
    nested = xs is not None and tree.is_nested(xs)
    xs_leaves = tree.flatten(xs) if nested else []
    n = _leading(xs_leaves[0] if nested else xs, length)
    carry, ys = init, []
    order = range(n - 1, -1, -1) if reverse else range(n)
    for i in order:
        at = np.asarray(i, dtype=np.int64)
        if nested:
            x = tree.pack_sequence_as(xs, [take(v, at, axis=0) for v in xs_leaves])
        else:
            x = None if xs is None else take(xs, at, axis=0)
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if ys and ys[0] is not None and tree.is_nested(ys[0]):
        return carry, tree.map_structure(lambda *leaves: stack(list(leaves)), *ys)
    return carry, (stack(ys) if ys and ys[0] is not None else None)


def _leaf_tensor(v, dtype=None):
    """A leaf of a traced scan's ``init`` or ``xs`` as a Value (data becomes a constant:
    Python floats float32, ints int32, as Keras's ``convert_to_tensor``)."""
    if isinstance(v, Value):
        return v
    if dtype is None and isinstance(v, bool):
        dtype = "bool"
    elif dtype is None and isinstance(v, int):
        dtype = "int32"
    arr = convert_to_tensor(v, dtype)
    return Value(arr.shape, arr.dtype, kind="const", name="const", data=arr)


def _weak(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, Value)


def _scan_traced(f, init, xs, length, reverse, what, xs_given=True):
    """``scan`` over symbolic tensors: one ``scan`` node (time axis 0) whose body is ``f``
    recorded once. Returns ``(carry, ys)`` in the structures ``f`` returned."""
    from graphc import tree
    from graphc.ops.control_flow import BodyTrace, _in_scope

    init_leaves = tree.flatten(init)
    xs_leaves = [_leaf_tensor(v) for v in tree.flatten(xs)]
    for v in xs_leaves:
        if len(v.shape) < 1:
            raise ShapeError(
                f"{what}: every leaf of xs must have a leading (time) axis, received a "
                f"scalar {v.dtype} tensor; pass xs of shape (steps, ...)"
            )
    steps = {v.shape[0] for v in xs_leaves if isinstance(v.shape[0], int)}
    if length is not None and not is_symbolic(length):
        steps.add(int(length))
    if len(steps) > 1:
        raise ShapeError(
            f"{what}: the leaves of xs (and length) give different numbers of steps "
            f"{sorted(steps)}; every leaf must have the same leading dimension"
        )
    dtypes: list = [None] * len(init_leaves)
    for _attempt in range(2):
        carries = [_leaf_tensor(v, d) for v, d in zip(init_leaves, dtypes)]
        tr = BodyTrace(name=what, axis=0)
        with _in_scope(what):
            ph_carry = [tr.carry(v) for v in carries]
            ph_xs = [tr.sequence(v) for v in xs_leaves]
            c = tree.pack_sequence_as(init, ph_carry) if tree.is_nested(init) else ph_carry[0]
            x = None
            if xs_given:
                x = tree.pack_sequence_as(xs, ph_xs) if tree.is_nested(xs) else ph_xs[0]
            out = f(c, x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ArgumentTypeError(
                f"{what}: f must return a pair (new carry, y), received {type(out).__name__}"
            )
        new_carry, y = out
        new_leaves = tree.flatten(new_carry)
        if len(new_leaves) != len(init_leaves):
            raise ShapeError(
                f"{what}: f returned a carry of {len(new_leaves)} tensor(s) for an init "
                f"of {len(init_leaves)}; the carry must keep the structure of init"
            )
        new_leaves = [_leaf_tensor(v) if not isinstance(v, Value) else v for v in new_leaves]
        retry = [
            n.dtype if _weak(i) and n.dtype != p.dtype else None
            for i, n, p in zip(init_leaves, new_leaves, ph_carry)
        ]
        if builtins.any(retry) and _attempt == 0:
            dtypes = [r or d for r, d in zip(retry, dtypes)]
            continue  # a Python-number init takes the step's dtype: record again
        break
    y_leaves = [] if y is None else tree.flatten(y)
    if builtins.any(v is None for v in y_leaves):
        raise ArgumentTypeError(f"{what}: f returned None inside y; return y=None or tensors only")
    finals, stacked = tr.finish(
        new_leaves,
        [_leaf_tensor(v) for v in y_leaves],
        reverse=reverse,
        index_order=True,
    )
    carry = tree.pack_sequence_as(new_carry, finals) if tree.is_nested(new_carry) else finals[0]
    if y is None:
        return carry, None
    return carry, (tree.pack_sequence_as(y, stacked) if tree.is_nested(y) else stacked[0])


def map(f, xs):  # noqa: A001  (keras.ops.map)
    """``keras.ops.map``: ``f`` over the leading axis, unrolled; a symbolic ``xs`` of
    unknown leading length is one ``scan`` node (see ``scan``) without a carry."""
    if is_symbolic(xs) and _shape(xs)[0] is None:
        return _scan_traced(lambda c, x: (c, f(x)), (), xs, None, False, "map")[1]
    return stack(
        [f(take(xs, np.asarray(i, dtype=np.int64), axis=0)) for i in range(_leading(xs, None))]
    )


def vectorized_map(function, elements):
    return map(function, elements)


# ---- more compositions ------------------------------------------------------------------
__all__ += [
    "dot",
    "inner",
    "vdot",
    "trace",
    "diagonal",
    "diag",
    "isclose",
    "allclose",
    "select",
    "heaviside",
    "append",
    "dstack",
    "dsplit",
    "logaddexp2",
    "trapezoid",
    "ldexp",
    "rot90",
    "psnr",
    "depth_to_space",
    "space_to_depth",
    "meshgrid",
    "dot_product_attention",
]


def dot(x1, x2):
    """``keras.ops.dot``: scalars multiply; 1-D and 2-D by ``matmul``; an N-D ``x1`` with
    a 1-D ``x2`` sums over the last axis; ``x2`` of rank > 2 is not supported yet."""
    r1, r2 = _rank(x1), _rank(x2)
    if r1 == 0 or r2 == 0:
        return apply("multiply", [x1, x2])
    if r1 == 1 and r2 == 1:
        return sum(apply("multiply", [x1, x2]))
    if r2 == 1:
        return sum(apply("multiply", [x1, x2]), axis=-1)
    if r2 == 2:
        return apply("matmul", [x1, x2])
    raise NotImplementedError("dot with a second argument of rank > 2 is not supported yet")


def inner(x1, x2):
    """``keras.ops.inner``: the sum over the last axes; ranks up to 2 (a scalar scales)."""
    r1, r2 = _rank(x1), _rank(x2)
    if r1 == 0 or r2 == 0:
        return apply("multiply", [x1, x2])
    if r2 == 1:
        return sum(apply("multiply", [x1, x2]), axis=-1)
    if r1 == 1 and r2 == 2:
        return sum(apply("multiply", [x1, x2]), axis=-1)
    if r1 == 2 and r2 == 2:
        return apply("matmul", [x1, transpose(x2)])
    raise NotImplementedError("inner of rank > 2 tensors is not supported yet")


def vdot(x1, x2):
    return sum(apply("multiply", [ravel(x1), ravel(x2)]))


def diagonal(x, offset=0, axis1=0, axis2=1):
    """``keras.ops.diagonal`` of a static block: the entries ``x[i, i + offset]`` along
    ``axis1``/``axis2``, as a new last axis."""
    nd = _rank(x)
    a1, a2 = normalize_axis(int(axis1), nd), normalize_axis(int(axis2), nd)
    x = moveaxis(x, (a1, a2), (nd - 2, nd - 1))
    rows, cols = _static(x, -2), _static(x, -1)
    k = int(offset)
    n = builtins.max(0, builtins.min(rows, cols - k) if k >= 0 else builtins.min(rows + k, cols))
    r0, c0 = (0, k) if k >= 0 else (-k, 0)
    flat = apply(
        "reshape",
        [x],
        shape=tuple(-1 if d is None else int(d) for d in _shape(x)[:-2]) + (rows * cols,),
    )
    idx = np.asarray([(r0 + i) * cols + c0 + i for i in range(n)], dtype=np.int64)
    return take(flat, idx, axis=-1 if _rank(flat) > 1 else 0)


def diag(x, k=0):
    if _rank(x) == 2:
        return diagonal(x, offset=k)
    if _rank(x) != 1:
        raise ValueError(f"diag expects a 1-D or 2-D input, got rank {_rank(x)}")
    n = _static(x, 0)
    size_ = n + builtins.abs(int(k))
    # picks[i] is 1 at the i-th diagonal position: x placed along the diagonal
    picks = np.zeros((n, size_, size_), dtype=dtype(x))
    for i in range(n):
        r, c = (i, i + int(k)) if k >= 0 else (i - int(k), i)
        picks[i, r, c] = 1
    return sum(apply("multiply", [apply("reshape", [x], shape=(n, 1, 1)), picks]), axis=0)


def trace(x, offset=0, axis1=0, axis2=1):
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    tol = apply("add", [apply("multiply", [abs(x2), float(rtol)]), float(atol)])
    return less_equal(abs(apply("subtract", [x1, x2])), tol)


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return all(isclose(x1, x2, rtol, atol, equal_nan))


def select(condlist, choicelist, default=0):
    out = default
    for c, v in reversed(list(zip(condlist, choicelist))):
        out = where(
            c,
            v,
            out
            if isinstance(out, (Value, np.ndarray))
            else zeros_like(v)
            if out == 0
            else full_like(v, out),
        )
    return out


def heaviside(x1, x2):
    pos = cast(greater(x1, 0), dtype(x1))
    zero = cast(equal(x1, 0), dtype(x1))
    return apply("add", [pos, apply("multiply", [zero, x2])])


def append(x1, x2, axis=None):
    if axis is None:
        return apply("concatenate", [ravel(x1), ravel(x2)], axis=0)
    return apply("concatenate", [x1, x2], axis=int(axis))


def dstack(xs):
    out = []
    for v in xs:
        while _rank(v) < 3:
            v = expand_dims(v, 0 if _rank(v) == 0 else _rank(v))
        out.append(v)
    return apply("concatenate", out, axis=2)


def dsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=2)


def logaddexp2(x1, x2):
    ln2 = math.log(2.0)
    return apply(
        "multiply",
        [logaddexp(apply("multiply", [x1, ln2]), apply("multiply", [x2, ln2])), 1.0 / ln2],
    )


def trapezoid(y, x=None, dx=1.0, axis=-1):
    axis = normalize_axis(int(axis), _rank(y))
    n = _static(y, axis)
    avg = apply(
        "multiply",
        [apply("add", [_take_range(y, 1, n, axis), _take_range(y, 0, n - 1, axis)]), 0.5],
    )
    if x is not None:
        return sum(apply("multiply", [avg, diff(x, axis=-1 if _rank(x) == 1 else axis)]), axis=axis)
    return apply("multiply", [sum(avg, axis=axis), float(dx)])


def ldexp(x1, x2):
    return apply(
        "multiply",
        [x1, exp2(cast(x2, "float32") if isinstance(x2, Value) else np.asarray(x2, "float32"))],
    )


def rot90(array, k=1, axes=(0, 1)):
    a0, a1 = (normalize_axis(int(a), _rank(array)) for a in axes)
    k = int(k) % 4
    if k == 0:
        return array
    if k == 2:
        return flip(flip(array, a0), a1)
    if k == 1:
        return swapaxes(flip(array, a1), a0, a1)
    return flip(swapaxes(array, a0, a1), a1)


def psnr(x1, x2, max_val):
    mse = mean(square(apply("subtract", [x1, x2])))
    return apply("subtract", [20.0 * math.log10(max_val), apply("multiply", [log10(mse), 10.0])])


def _nhwc(x, data_format):
    return x if data_format == "channels_last" else transpose(x, (0, 2, 3, 1))


def _back(x, data_format):
    return x if data_format == "channels_last" else transpose(x, (0, 3, 1, 2))


def depth_to_space(x, block_size, data_format="channels_last"):
    b = int(block_size)
    x = _nhwc(x, data_format)
    _, h, w, c = _shape(x)
    x = apply("reshape", [x], shape=(-1, h, w, b, b, c // (b * b)))
    x = transpose(x, (0, 1, 3, 2, 4, 5))
    return _back(apply("reshape", [x], shape=(-1, h * b, w * b, c // (b * b))), data_format)


def space_to_depth(x, block_size, data_format="channels_last"):
    b = int(block_size)
    x = _nhwc(x, data_format)
    _, h, w, c = _shape(x)
    x = apply("reshape", [x], shape=(-1, h // b, b, w // b, b, c))
    x = transpose(x, (0, 1, 3, 2, 4, 5))
    return _back(apply("reshape", [x], shape=(-1, h // b, w // b, b * b * c)), data_format)


def meshgrid(*x, indexing="xy"):
    xs = [ravel(v) for v in x]
    n = len(xs)
    sizes = [_static(v, 0) for v in xs]
    out = []
    for i, v in enumerate(xs):
        shape = [1] * n
        shape[i] = sizes[i]
        full_shape = list(sizes)
        if indexing == "xy" and n >= 2:
            shape[0], shape[1] = shape[1], shape[0]
            full_shape[0], full_shape[1] = full_shape[1], full_shape[0]
        out.append(broadcast_to(apply("reshape", [v], shape=tuple(shape)), full_shape))
    return out


def dot_product_attention(
    query,
    key,
    value,
    bias=None,
    mask=None,
    scale=None,
    is_causal=False,
    flash_attention=None,
    attn_logits_soft_cap=None,
):
    """``keras.ops.dot_product_attention`` on ``(batch, seq, heads, head_dim)`` tensors
    (3-D inputs without the heads axis too): ``softmax(q k^T * scale + bias) v``, with
    ``mask`` (True keeps) and ``is_causal``."""
    if attn_logits_soft_cap is not None:
        raise NotImplementedError("attn_logits_soft_cap is not supported yet")
    three = _rank(query) == 3
    if three:
        query, key, value = (expand_dims(t, 2) for t in (query, key, value))
    h = _static(query, -1)
    scale = 1.0 / math.sqrt(h) if scale is None else float(scale)
    q = transpose(query, (0, 2, 1, 3))
    k = transpose(key, (0, 2, 3, 1))
    v = transpose(value, (0, 2, 1, 3))
    logits = apply("multiply", [apply("matmul", [q, k]), scale])
    if bias is not None:
        logits = apply("add", [logits, bias])
    keep = None
    if mask is not None:
        keep = cast(mask, dtype(logits))
    if is_causal:
        t, s = _static(query, 1), _static(key, 1)
        causal = np.tril(np.ones((t, s), dtype=dtype(logits)))
        keep = causal if keep is None else apply("multiply", [keep, causal])
    if keep is not None:
        big = float(np.finfo(np.dtype(dtype(logits))).max) * 0.7
        logits = apply(
            "subtract", [logits, apply("multiply", [apply("subtract", [1.0, keep]), big])]
        )
    probs = apply("softmax", [logits], axis=-1)
    out = transpose(apply("matmul", [probs, v]), (0, 2, 1, 3))
    return squeeze(out, 2) if three else out
