"""Elementwise ops: arithmetic with broadcasting, activations, identity."""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.registry import Op
from graphc.ops.shapes import broadcast_shapes, normalize_axis, unbroadcast


# ---- binary arithmetic -----------------------------------------------------------------
class _Binary(Op):
    onnx_type = ""

    def infer(self, attrs, a, b):
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        return TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)

    def lower(self, attrs, b, x, y):
        return b.op(self.onnx_type, x, y)


class Add(_Binary):
    name, onnx_type = "add", "Add"

    def kernel(self, attrs, a, b, *, ctx):
        return a + b

    def vjp(self, attrs, xs, ys, gys, needs, out):
        g = gys[0]
        return unbroadcast(g, xs[0].shape), unbroadcast(g, xs[1].shape)


class Subtract(_Binary):
    name, onnx_type = "subtract", "Sub"

    def kernel(self, attrs, a, b, *, ctx):
        return a - b

    def vjp(self, attrs, xs, ys, gys, needs, out):
        g = gys[0]
        return unbroadcast(g, xs[0].shape), unbroadcast(-g, xs[1].shape)


class Multiply(_Binary):
    name, onnx_type = "multiply", "Mul"

    def kernel(self, attrs, a, b, *, ctx):
        return a * b

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        return unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)


class Divide(_Binary):
    name, onnx_type = "divide", "Div"

    def kernel(self, attrs, a, b, *, ctx):
        return a / b

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        return unbroadcast(g / b, a.shape), unbroadcast(-g * a / (b * b), b.shape)


class Maximum(_Binary):
    name, onnx_type = "maximum", "Max"

    def kernel(self, attrs, a, b, *, ctx):
        return np.maximum(a, b)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        pick_a = a >= b  # ties go to the first operand, as in TensorFlow
        return unbroadcast(g * pick_a, a.shape), unbroadcast(g * ~pick_a, b.shape)


class Minimum(_Binary):
    name, onnx_type = "minimum", "Min"

    def kernel(self, attrs, a, b, *, ctx):
        return np.minimum(a, b)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        pick_a = a <= b
        return unbroadcast(g * pick_a, a.shape), unbroadcast(g * ~pick_a, b.shape)


# ---- unary ---------------------------------------------------------------------------
class _Unary(Op):
    def infer(self, attrs, x):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        return TensorType(x.shape, x.dtype)


class Identity(_Unary):
    name = "identity"
    vjp_reads_inputs = False

    def kernel(self, attrs, x, *, ctx):
        return x

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0],)

    def lower(self, attrs, b, x):
        return b.op("Identity", x)


class Negative(_Unary):
    name = "negative"
    vjp_reads_inputs = False

    def kernel(self, attrs, x, *, ctx):
        return -x

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (-gys[0],)

    def lower(self, attrs, b, x):
        return b.op("Neg", x)


# NumPy's maximum of a float array and a scalar takes a slow loop (NumPy 2.4, AVX2: 310
# us for a Dense(1024) pre-activation of 256 rows against 67 us beside an array; 119
# against 18 us for 64K float32), so ReLU compares with a read-only array of zeros
# instead: the same ufunc, the same bits (NaN payloads and -0.0 included,
# tests/ops/test_relu_fast.py), at the speed of the two-array loop.
_RELU_MIN, _RELU_MAX = 1 << 10, 1 << 22  # sizes that take the zeros (at most 16 MB each)
_zeros: dict = {}  # dtype -> read-only 1-D zeros, grown on demand


def relu(x, out=None):
    """``np.maximum(x, 0, out=out)``, bit for bit, faster (see above)."""
    n = getattr(x, "size", 0)
    if type(x) is not np.ndarray or x.dtype.kind != "f" or not _RELU_MIN <= n <= _RELU_MAX:
        return np.maximum(x, 0, out=out)
    z = _zeros.get(x.dtype)
    if z is None or z.size < n:
        z = np.zeros(min(_RELU_MAX, max(n, 2 * (0 if z is None else z.size))), x.dtype)
        z.flags.writeable = False
        _zeros[x.dtype] = z
    return np.maximum(x, z[:n].reshape(x.shape), out=out)


class Relu(_Unary):
    name = "relu"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def kernel(self, attrs, x, *, ctx):
        return relu(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0] * (ys[0] > 0),)

    def lower(self, attrs, b, x):
        return b.op("Relu", x)


def _sigmoid(x):
    # exp of a negative number only: no overflow warnings for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(_Unary):
    name = "sigmoid"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def kernel(self, attrs, x, *, ctx):
        return _sigmoid(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        y = ys[0]
        return (gys[0] * y * (1 - y),)

    def lower(self, attrs, b, x):
        return b.op("Sigmoid", x)


class Tanh(_Unary):
    name = "tanh"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def kernel(self, attrs, x, *, ctx):
        return np.tanh(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        y = ys[0]
        return (gys[0] * (1 - y * y),)

    def lower(self, attrs, b, x):
        return b.op("Tanh", x)


class Softmax(_Unary):
    name = "softmax"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, x):
        normalize_axis(attrs.get("axis", -1), len(x.shape))
        return super().infer(attrs, x)

    def kernel(self, attrs, x, *, ctx):
        axis = attrs.get("axis", -1)
        e = x - x.max(axis=axis, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def vjp(self, attrs, xs, ys, gys, needs, out):
        y, g = ys[0], gys[0]
        axis = attrs.get("axis", -1)
        return (y * (g - (g * y).sum(axis=axis, keepdims=True)),)

    def lower(self, attrs, b, x):
        return b.op("Softmax", x, axis=attrs.get("axis", -1))


class Elu(_Unary):
    name = "elu"
    vjp_reads_outputs = True

    def kernel(self, attrs, x, *, ctx):
        alpha = attrs.get("alpha", 1.0)
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        alpha = attrs.get("alpha", 1.0)
        return (gys[0] * np.where(xs[0] > 0, 1, ys[0] + alpha),)

    def lower(self, attrs, b, x):
        return b.op("Elu", x, alpha=float(attrs.get("alpha", 1.0)))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Selu(_Unary):
    name = "selu"

    def kernel(self, attrs, x, *, ctx):
        neg = SELU_ALPHA * np.expm1(np.minimum(x, 0))
        return (SELU_SCALE * np.where(x > 0, x, neg)).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        d = np.where(x > 0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(x, 0)))
        return ((gys[0] * d).astype(x.dtype, copy=False),)

    def lower(self, attrs, b, x):
        return b.op("Selu", x, alpha=SELU_ALPHA, gamma=SELU_SCALE)


class Softplus(_Unary):
    name = "softplus"

    def kernel(self, attrs, x, *, ctx):
        return np.logaddexp(x, 0).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0] * _sigmoid(xs[0]),)

    def lower(self, attrs, b, x):
        return b.op("Softplus", x)


class Softsign(_Unary):
    name = "softsign"

    def kernel(self, attrs, x, *, ctx):
        return x / (1 + np.abs(x))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        d = 1 + np.abs(xs[0])
        return (gys[0] / (d * d),)

    def lower(self, attrs, b, x):
        return b.op("Softsign", x)


class Silu(_Unary):
    """``x * sigmoid(x)``; Keras's ``swish`` and ``silu``."""

    name = "silu"

    def kernel(self, attrs, x, *, ctx):
        return x * _sigmoid(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        s = _sigmoid(x)
        return (gys[0] * s * (1 + x * (1 - s)),)

    def lower(self, attrs, b, x):
        return b.op("Mul", x, b.op("Sigmoid", x))


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, vectorised (NumPy has none). Computed in float64 with the
    Numerical Recipes Chebyshev fit of erfc (relative error below 1.2e-7)."""
    z = np.abs(np.asarray(x, dtype=np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    r = 1.0 - t * np.exp(poly)
    return np.where(np.asarray(x) >= 0, r, -r)


_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class Gelu(_Unary):
    """Gaussian error linear unit: the exact erf form by default, as in Keras 3."""

    name = "gelu"

    def kernel(self, attrs, x, *, ctx):
        if attrs.get("approximate", False):
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
            return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype, copy=False)
        return (0.5 * x * (1 + erf(x / _SQRT_2))).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        if attrs.get("approximate", False):
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
            t = np.tanh(inner)
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        else:
            cdf = 0.5 * (1 + erf(x / _SQRT_2))
            pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            d = cdf + x * pdf
        return ((gys[0] * d).astype(x.dtype, copy=False),)

    def lower(self, attrs, b, x):
        approximate = attrs.get("approximate", False)
        if b.opset >= 20:
            return b.op("Gelu", x, approximate="tanh" if approximate else "none")
        if approximate:
            cube = b.op("Mul", x, b.op("Mul", x, x))
            inner = b.op(
                "Mul",
                b.op("Add", x, b.op("Mul", cube, b.scalar(0.044715))),
                b.scalar(_SQRT_2_OVER_PI),
            )
            gate = b.op("Add", b.op("Tanh", inner), b.scalar(1.0))
        else:
            gate = b.op("Add", b.op("Erf", b.op("Div", x, b.scalar(_SQRT_2))), b.scalar(1.0))
        return b.op("Mul", b.op("Mul", x, gate), b.scalar(0.5))


class LeakyRelu(_Unary):
    name = "leaky_relu"

    def kernel(self, attrs, x, *, ctx):
        a = attrs.get("negative_slope", 0.2)
        return np.where(x >= 0, x, a * x).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a = attrs.get("negative_slope", 0.2)
        return ((gys[0] * np.where(xs[0] >= 0, 1, a)).astype(xs[0].dtype, copy=False),)

    def lower(self, attrs, b, x):
        return b.op("LeakyRelu", x, alpha=float(attrs.get("negative_slope", 0.2)))


class HardSigmoid(_Unary):
    """Keras 3's ``relu6(x + 3) / 6``, i.e. ``clip(x / 6 + 0.5, 0, 1)``."""

    name = "hard_sigmoid"

    def kernel(self, attrs, x, *, ctx):
        return np.clip(x / 6 + 0.5, 0, 1)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x = xs[0]
        return ((gys[0] * ((x > -3) & (x < 3)) / 6).astype(x.dtype, copy=False),)

    def lower(self, attrs, b, x):
        return b.op("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5)


class Exp(_Unary):
    name = "exp"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def kernel(self, attrs, x, *, ctx):
        return np.exp(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0] * ys[0],)

    def lower(self, attrs, b, x):
        return b.op("Exp", x)


class Dropout(Op):
    """Inverted dropout. Outputs ``(y, mask)``; the mask is what the VJP reads.

    In inference mode the kernel returns ``x`` unchanged and no mask; the ONNX lowering is
    the inference form (an Identity), as ONNX models are exported for evaluation.
    """

    name = "dropout"
    training_only = True
    n_outputs = 2
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, x):
        rate = attrs.get("rate", 0.5)
        if not 0 <= rate < 1:
            raise ShapeError(f"rate must be in [0, 1), got {rate}")
        return TensorType(x.shape, x.dtype), TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        rate = attrs.get("rate", 0.5)
        if not (ctx.training or attrs.get("force_training")) or rate == 0:
            return x, None
        shape = attrs.get("noise_shape") or x.shape
        shape = tuple(s if s is not None else xs for s, xs in zip(shape, x.shape))
        keep = ctx.rng.random(shape, dtype=np.float32) >= rate
        mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - rate))
        return x * mask, mask

    def vjp(self, attrs, xs, ys, gys, needs, out):
        mask = ys[1]
        return (gys[0] if mask is None else gys[0] * mask,)

    def lower(self, attrs, b, x):
        return b.op("Identity", x), None


#: Keras's SELU constants, as AlphaDropout uses them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
NOISE_KINDS = ("gaussian_noise", "gaussian_dropout", "alpha_dropout")


class RandomNoise(Op):
    """The noise layers' training-time transforms, Keras 3's formulas:

    - "gaussian_noise" (``stddev``): ``x + N(0, stddev)``;
    - "gaussian_dropout" (``rate``): ``x * N(1, sqrt(rate / (1 - rate)))``;
    - "alpha_dropout" (``rate``, optional ``noise_shape``): entries dropped with
      probability ``rate`` are set to SELU's negative saturation ``-alpha * scale``, then
      ``a * x + b`` keeps the mean and variance (``a = ((1 - rate) * (1 + rate *
      alpha_p**2)) ** -0.5``, ``b = -a * alpha_p * rate``).

    Outputs ``(y, factor)``: ``factor`` is ``dy/dx`` (the multiplier drawn; None for the
    additive noise). In inference mode the kernel returns ``x`` unchanged, and the ONNX
    lowering is that Identity.
    """

    name = "random_noise"
    training_only = True
    n_outputs = 2
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, x):
        kind = attrs.get("kind")
        if kind not in NOISE_KINDS:
            raise ShapeError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")
        if np.dtype(x.dtype).kind != "f":
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        amount = attrs.get("stddev" if kind == "gaussian_noise" else "rate", 0.0)
        if not 0 <= amount < (math.inf if kind == "gaussian_noise" else 1):
            raise ShapeError(f"{kind} needs a rate in [0, 1) (stddev >= 0), got {amount}")
        return TensorType(x.shape, x.dtype), TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        kind = attrs["kind"]
        amount = attrs.get("stddev" if kind == "gaussian_noise" else "rate", 0.0)
        if not (ctx.training or attrs.get("force_training")) or amount == 0:
            return x, None
        draw = np.float64 if x.dtype == np.float64 else np.float32
        if kind == "gaussian_noise":
            noise = ctx.rng.standard_normal(x.shape, dtype=draw) * amount
            return (x + noise.astype(x.dtype, copy=False)), None
        if kind == "gaussian_dropout":
            stddev = math.sqrt(amount / (1.0 - amount))
            factor = (1.0 + stddev * ctx.rng.standard_normal(x.shape, dtype=draw)).astype(
                x.dtype, copy=False
            )
            return x * factor, factor
        shape = attrs.get("noise_shape") or x.shape
        shape = tuple(s if s is not None else xs for s, xs in zip(shape, x.shape))
        keep = (ctx.rng.random(shape, dtype=draw) >= amount).astype(x.dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - amount) * (1 + amount * alpha_p**2)) ** -0.5
        b = -a * alpha_p * amount
        y = a * (x * keep + alpha_p * (1 - keep)) + b
        factor = np.broadcast_to(keep * x.dtype.type(a), x.shape)  # a view: no copy
        return y.astype(x.dtype, copy=False), factor

    def vjp(self, attrs, xs, ys, gys, needs, out):
        factor = ys[1]
        return (gys[0] if factor is None else gys[0] * factor,)

    def lower(self, attrs, b, x):
        return b.op("Identity", x), None
