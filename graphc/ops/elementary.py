"""The elementary functions ``keras.ops`` adds to graphc's first set: trigonometric and
hyperbolic functions and their inverses, ``erf``/``erfinv``, ``cbrt``, ``sinc``, ``i0``,
``trunc``, the float predicates (``isnan``, ``isinf``, ``signbit``...), ``arctan2``,
``fmax``/``fmin``, ``floor_divide``, ``gcd``/``lcm``, ``nextafter`` and ``stop_gradient``.

As in Keras, integer and boolean inputs of the float functions are cast to float32
first. ONNX has no ``erfinv``, ``i0``, ``gcd``, ``lcm`` or ``nextafter``: exporting a
model that uses them raises ``NotImplementedError`` naming the op.

>>> import numpy as np
>>> from graphc import ops
>>> ops.arctan2(np.float32([1.0, -1.0]), np.float32([-1.0, -1.0])).round(4).tolist()
[2.3562, -2.3562]
"""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.elementwise import erf as _erf_kernel
from graphc.ops.masking import cast
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import broadcast_shapes, unbroadcast

__all__ = [
    "tan",
    "sinh",
    "cosh",
    "arcsin",
    "arccos",
    "arctan",
    "arcsinh",
    "arccosh",
    "arctanh",
    "erf",
    "erfinv",
    "erfc",
    "cbrt",
    "sinc",
    "i0",
    "trunc",
    "isnan",
    "isinf",
    "isposinf",
    "isneginf",
    "signbit",
    "arctan2",
    "fmax",
    "fmin",
    "fmod",
    "floor_divide",
    "gcd",
    "lcm",
    "nextafter",
    "stop_gradient",
    "divide_no_nan",
]


def _dt(x) -> str:
    return str(np.dtype(getattr(x, "dtype", None) or np.asarray(x).dtype))


def _to_float(x):
    """Keras's rule for the float functions: integers and booleans become float32."""
    if isinstance(x, (int, float, bool)) or not hasattr(x, "dtype"):
        x = np.asarray(x)
        if x.dtype.kind == "f":
            return x.astype("float32")
    if np.dtype(_dt(x)).kind != "f":
        return cast(x, "float32")
    return x


def no_onnx(name: str, why: str = "") -> NotImplementedError:
    """The error an op without an ONNX equivalent raises at export."""
    return NotImplementedError(
        f"op {name!r} has no ONNX lowering: ONNX has no equivalent operator{why}. Compute "
        f"it outside the exported model (before its inputs or after its outputs), or "
        f"write it with ops that export."
    )


# ---- unary float functions -------------------------------------------------------------
class _FloatUnary(Op):
    """``y = fn(x)`` elementwise on floats; ``grad(x, y)`` is dy/dx."""

    onnx_type = ""

    def infer(self, attrs, x):
        if np.dtype(x.dtype).kind != "f":
            raise ShapeError(f"expected a floating-point tensor, got dtype {x.dtype}")
        return TensorType(x.shape, x.dtype)

    def fn(self, x):
        raise NotImplementedError

    def grad(self, x, y):
        raise NotImplementedError

    def kernel(self, attrs, x, *, ctx):
        with np.errstate(all="ignore"):
            return np.asarray(self.fn(x)).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        with np.errstate(all="ignore"):
            return ((gys[0] * self.grad(xs[0], ys[0])).astype(gys[0].dtype, copy=False),)

    def lower(self, attrs, b, x):
        return b.op(self.onnx_type, x)


def _unary(name, onnx_type, fn, grad, reads_outputs=False, doc=""):
    cls = type(
        name.title().replace("_", ""),
        (_FloatUnary,),
        {
            "name": name,
            "onnx_type": onnx_type,
            "fn": lambda self, x: fn(x),
            "grad": lambda self, x, y: grad(x, y),
            "vjp_reads_outputs": reads_outputs,
            "__doc__": doc or f"``{name}(x)`` elementwise (ONNX ``{onnx_type}``).",
        },
    )
    return cls


Tan = _unary("tan", "Tan", np.tan, lambda x, y: 1 + y * y, reads_outputs=True)
Sinh = _unary("sinh", "Sinh", np.sinh, lambda x, y: np.cosh(x))
Cosh = _unary("cosh", "Cosh", np.cosh, lambda x, y: np.sinh(x))
Arcsin = _unary("arcsin", "Asin", np.arcsin, lambda x, y: 1 / np.sqrt(1 - x * x))
Arccos = _unary("arccos", "Acos", np.arccos, lambda x, y: -1 / np.sqrt(1 - x * x))
Arctan = _unary("arctan", "Atan", np.arctan, lambda x, y: 1 / (1 + x * x))
Arcsinh = _unary("arcsinh", "Asinh", np.arcsinh, lambda x, y: 1 / np.sqrt(x * x + 1))
Arccosh = _unary("arccosh", "Acosh", np.arccosh, lambda x, y: 1 / np.sqrt(x * x - 1))
Arctanh = _unary("arctanh", "Atanh", np.arctanh, lambda x, y: 1 / (1 - x * x))
Erf = _unary(
    "erf",
    "Erf",
    _erf_kernel,
    lambda x, y: (2 / math.sqrt(math.pi)) * np.exp(-x * x),
    doc="The error function (relative error below 1.2e-7; ONNX ``Erf``).",
)


def _erfinv_kernel(y):
    """Inverse error function: Giles's single-precision approximation, then two Newton
    steps on the float64 ``erf``."""
    y = np.asarray(y, dtype=np.float64)
    w = -np.log((1.0 - y) * (1.0 + y))
    small = w < 5.0
    ws = np.where(small, w - 2.5, np.sqrt(np.maximum(w, 5.0)) - 3.0)
    cs = [
        2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
        -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
    ]  # fmt: skip
    cl = [
        -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
        -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
    ]  # fmt: skip
    ps, pl = np.full_like(y, cs[0]), np.full_like(y, cl[0])
    for a, c in zip(cs[1:], cl[1:]):
        ps, pl = a + ps * ws, c + pl * ws
    x = np.where(small, ps, pl) * y
    finite = np.isfinite(x) & (np.abs(y) < 1)
    for _ in range(2):
        err = _erf_kernel(x) - y
        step = err / ((2 / math.sqrt(math.pi)) * np.exp(-x * x))
        x = np.where(finite, x - step, x)
    x = np.where(y == 1, np.inf, np.where(y == -1, -np.inf, x))
    return np.where(np.abs(y) > 1, np.nan, x)


class Erfinv(_FloatUnary):
    """The inverse error function on ``(-1, 1)``; ``±1`` give ``±inf``. No ONNX op."""

    name = "erfinv"
    vjp_reads_outputs = True

    def fn(self, x):
        return _erfinv_kernel(x)

    def grad(self, x, y):
        return (math.sqrt(math.pi) / 2) * np.exp(y.astype(np.float64) ** 2)

    def lower(self, attrs, b, x):
        raise no_onnx("erfinv")


class Cbrt(_FloatUnary):
    """The real cube root (negative for negative ``x``)."""

    name = "cbrt"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def fn(self, x):
        return np.cbrt(x)

    def grad(self, x, y):
        return 1 / (3 * y * y)

    def lower(self, attrs, b, x):
        root = b.op("Pow", b.op("Abs", x), b.scalar(1.0 / 3.0))
        return b.op("Mul", b.op("Sign", x), root)


class Sinc(_FloatUnary):
    """``sin(pi x) / (pi x)``, 1 at 0 (``np.sinc``)."""

    name = "sinc"

    def fn(self, x):
        return np.sinc(x)

    def grad(self, x, y):
        px = np.pi * x
        safe = np.where(x == 0, 1, px)
        return np.where(x == 0, 0, (np.cos(px) * px - np.sin(px)) / (safe * x))

    def lower(self, attrs, b, x):
        px = b.op("Mul", x, b.scalar(math.pi))
        zero = b.op("Equal", x, b.scalar(0.0))
        safe = b.op("Where", zero, b.scalar(1.0), px)
        return b.op("Where", zero, b.scalar(1.0), b.op("Div", b.op("Sin", safe), safe))


def _i1(x):
    """The modified Bessel function of the first kind, order 1 (series; |x| < ~30)."""
    x = np.asarray(x, dtype=np.float64)
    term = x / 2
    total = term.copy()
    q = (x / 2) ** 2
    for k in range(1, 60):
        term = term * q / (k * (k + 1))
        total = total + term
    return total


class I0(_FloatUnary):
    """The modified Bessel function of the first kind, order 0 (``np.i0``). No ONNX op."""

    name = "i0"

    def fn(self, x):
        return np.i0(x.astype(np.float64))

    def grad(self, x, y):
        return _i1(x)

    def lower(self, attrs, b, x):
        raise no_onnx("i0")


class Trunc(_FloatUnary):
    """Rounding towards zero; zero gradient."""

    name = "trunc"
    vjp_reads_inputs = False

    def fn(self, x):
        return np.trunc(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (np.zeros_like(gys[0]),)

    def lower(self, attrs, b, x):
        neg = b.op("Less", x, b.scalar(0.0))
        return b.op("Where", neg, b.op("Ceil", x), b.op("Floor", x))


# ---- predicates ------------------------------------------------------------------------
class _Predicate(Op):
    """A boolean function of a float tensor; no gradient."""

    vjp_reads_inputs = False

    def infer(self, attrs, x):
        return TensorType(x.shape, "bool")

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)


class IsNan(_Predicate):
    name = "isnan"

    def kernel(self, attrs, x, *, ctx):
        return np.isnan(x)

    def lower(self, attrs, b, x):
        return b.op("IsNaN", x)


class IsInf(_Predicate):
    """``attrs["sign"]``: 0 for either infinity, 1 for ``+inf`` only, -1 for ``-inf``."""

    name = "isinf"

    def kernel(self, attrs, x, *, ctx):
        sign = attrs.get("sign", 0)
        return np.isinf(x) if sign == 0 else (np.isposinf(x) if sign > 0 else np.isneginf(x))

    def lower(self, attrs, b, x):
        sign = attrs.get("sign", 0)
        return b.op("IsInf", x, detect_positive=int(sign >= 0), detect_negative=int(sign <= 0))


class IsFinite(_Predicate):
    name = "isfinite"

    def kernel(self, attrs, x, *, ctx):
        return np.isfinite(x)

    def lower(self, attrs, b, x):
        return b.op("Not", b.op("Or", b.op("IsNaN", x), b.op("IsInf", x)))


class Signbit(_Predicate):
    """Whether the sign bit is set: true for negative numbers and ``-0.0``."""

    name = "signbit"

    def kernel(self, attrs, x, *, ctx):
        return np.signbit(x)

    def lower(self, attrs, b, x):
        one = b.scalar(1.0)
        zero = b.scalar(0.0)
        neg_zero = b.op("And", b.op("Equal", x, zero), b.op("Less", b.op("Div", one, x), zero))
        return b.op("Or", b.op("Less", x, zero), neg_zero)


def _predicate(name, x, **attrs):
    if np.dtype(_dt(x)).kind != "f":
        if name == "signbit":
            return (
                apply("less", [x, 0])
                if np.dtype(_dt(x)).kind == "i"
                else apply("not_equal", [x, x])
            )
        from graphc.ops.composite import zeros_like

        return zeros_like(x, dtype="bool")
    return apply(name, [x], **attrs)


def isnan(x):
    """``keras.ops.isnan``: True where ``x`` is NaN."""
    return _predicate("isnan", x)


def isinf(x):
    """``keras.ops.isinf``: True where ``x`` is ``±inf``."""
    return _predicate("isinf", x, sign=0)


def isposinf(x):
    """``keras.ops.isposinf``: True where ``x`` is ``+inf``."""
    return _predicate("isinf", x, sign=1)


def isneginf(x):
    """``keras.ops.isneginf``: True where ``x`` is ``-inf``."""
    return _predicate("isinf", x, sign=-1)


def signbit(x):
    """``keras.ops.signbit``: True where the sign bit is set (negative, or ``-0.0``)."""
    return _predicate("signbit", x)


# ---- binary ----------------------------------------------------------------------------
class _FloatBinary(Op):
    def infer(self, attrs, a, b):
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        return TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)


class Arctan2(_FloatBinary):
    """``arctan2(x1, x2)``: the angle of the point ``(x2, x1)``, in ``[-pi, pi]``."""

    name = "arctan2"

    def kernel(self, attrs, y, x, *, ctx):
        return np.arctan2(y, x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        y, x = xs
        g = gys[0]
        with np.errstate(all="ignore"):
            r2 = x * x + y * y
            gy = unbroadcast(g * x / r2, y.shape) if needs[0] else None
            gx = unbroadcast(-g * y / r2, x.shape) if needs[1] else None
        return gy, gx

    def lower(self, attrs, b, y, x):
        zero, pi = b.scalar(0.0), b.scalar(math.pi)
        x_zero = b.op("Equal", x, zero)
        safe_x = b.op("Where", x_zero, b.scalar(1.0), x)
        base = b.op("Atan", b.op("Div", y, safe_x))
        y_neg = b.op("Less", y, zero)
        # x < 0: shift by +pi (y >= 0) or -pi (y < 0)
        shift = b.op("Where", y_neg, b.op("Neg", pi), pi)
        left = b.op("Add", base, shift)
        out = b.op("Where", b.op("Less", x, zero), left, base)
        # x == 0: +pi/2, -pi/2, or 0 when y == 0 too
        half = b.op("Mul", b.op("Sign", y), b.scalar(math.pi / 2))
        return b.op("Where", x_zero, half, out)


class _FMaxMin(_FloatBinary):
    """``np.fmax``/``np.fmin``: the larger (smaller) value, NaNs ignored when the other
    operand is a number. The gradient goes to the picked operand."""

    pick_max = True

    def kernel(self, attrs, a, b, *, ctx):
        return (np.fmax if self.pick_max else np.fmin)(a, b)

    def _first(self, a, b):
        cmp = a >= b if self.pick_max else a <= b
        return (cmp | np.isnan(b)) & ~(np.isnan(a) & ~np.isnan(b))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        first = self._first(a, b)
        zero = np.zeros((), g.dtype)
        ga = unbroadcast(np.where(first, g, zero), a.shape) if needs[0] else None
        gb = unbroadcast(np.where(first, zero, g), b.shape) if needs[1] else None
        return ga, gb

    def lower(self, attrs, bb, a, b):
        best = bb.op("Max" if self.pick_max else "Min", a, b)
        return bb.op("Where", bb.op("IsNaN", b), a, bb.op("Where", bb.op("IsNaN", a), b, best))


class FMax(_FMaxMin):
    name = "fmax"


class FMin(_FMaxMin):
    name = "fmin"
    pick_max = False


class FloorDivide(Op):
    """``np.floor_divide``: the quotient rounded down, in the operands' dtype; zero
    gradient."""

    name = "floor_divide"

    def infer(self, attrs, a, b):
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        return TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)

    def kernel(self, attrs, a, b, *, ctx):
        with np.errstate(all="ignore"):
            return np.asarray(np.floor_divide(a, b)).astype(a.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        if a.dtype.kind != "f":
            return None, None
        return (np.zeros_like(a) if needs[0] else None, np.zeros_like(b) if needs[1] else None)

    def lower(self, attrs, b, x, y):
        if b.in_types[0].dtype.startswith("float"):
            return b.op("Floor", b.op("Div", x, y))
        q = b.op("Div", x, y)  # truncates
        dtype = b.in_types[0].dtype
        zero = b.const(np.asarray(0, dtype=dtype))
        inexact = b.op("Not", b.op("Equal", b.op("Mod", x, y, fmod=1), zero))
        opposite = b.op("Xor", b.op("Less", x, zero), b.op("Less", y, zero))
        fix = b.op("Cast", b.op("And", inexact, opposite), to=_onnx_dtype(dtype))
        return b.op("Sub", q, fix)


def _onnx_dtype(dtype):
    from graphc.ops.lowering import onnx_dtype

    return onnx_dtype(dtype)


class _IntBinary(Op):
    """An integer function of two integer tensors; no gradient, no ONNX op."""

    vjp_reads_inputs = False
    fn = staticmethod(np.gcd)

    def infer(self, attrs, a, b):
        if np.dtype(a.dtype).kind not in "iu" or np.dtype(b.dtype).kind not in "iu":
            raise ShapeError(f"expected integer tensors, got dtypes {a.dtype} and {b.dtype}")
        return TensorType(broadcast_shapes(a.shape, b.shape), str(np.result_type(a.dtype, b.dtype)))

    def kernel(self, attrs, a, b, *, ctx):
        return np.asarray(self.fn(a, b))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return None, None

    def lower(self, attrs, b, x, y):
        raise no_onnx(self.name)


class Gcd(_IntBinary):
    name, fn = "gcd", staticmethod(np.gcd)


class Lcm(_IntBinary):
    name, fn = "lcm", staticmethod(np.lcm)


class NextAfter(_FloatBinary):
    """The next float after ``x1`` towards ``x2`` (``np.nextafter``); zero gradient for
    ``x2``, one for ``x1``. No ONNX op."""

    name = "nextafter"
    vjp_reads_inputs = True

    def kernel(self, attrs, a, b, *, ctx):
        return np.nextafter(a, b)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        ga = unbroadcast(gys[0], a.shape) if needs[0] else None
        gb = np.zeros_like(b) if needs[1] else None
        return ga, gb

    def lower(self, attrs, b, x, y):
        raise no_onnx("nextafter")


class StopGradient(Op):
    """The identity whose gradient is zero (``keras.ops.stop_gradient``)."""

    name = "stop_gradient"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return x

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("Identity", x)


# ---- functions -------------------------------------------------------------------------
def _float_fn(name):
    def fn(x):
        return apply(name, [_to_float(x)])

    fn.__name__ = name
    fn.__doc__ = f"``keras.ops.{name}`` elementwise; integers are cast to float32 first."
    return fn


tan = _float_fn("tan")
sinh = _float_fn("sinh")
cosh = _float_fn("cosh")
arcsin = _float_fn("arcsin")
arccos = _float_fn("arccos")
arctan = _float_fn("arctan")
arcsinh = _float_fn("arcsinh")
arccosh = _float_fn("arccosh")
arctanh = _float_fn("arctanh")
erf = _float_fn("erf")
erfinv = _float_fn("erfinv")
cbrt = _float_fn("cbrt")
sinc = _float_fn("sinc")
i0 = _float_fn("i0")


def erfc(x):
    """``1 - erf(x)``."""
    return apply("subtract", [1.0, erf(x)])


def trunc(x):
    """``keras.ops.trunc``: rounding towards zero; integers come back unchanged."""
    if np.dtype(_dt(x)).kind != "f":
        return x
    return apply("trunc", [x])


def _pair(x1, x2, floats=True):
    """Both operands in one dtype (Keras's result type, simplified: a float operand wins
    and Python numbers take the tensor's dtype; ``floats`` makes integers float32)."""
    kinds = [np.dtype(_dt(x)).kind if hasattr(x, "dtype") else None for x in (x1, x2)]
    dts = [_dt(x) if hasattr(x, "dtype") else None for x in (x1, x2)]
    target = next((d for d, k in zip(dts, kinds) if k == "f"), None)
    if target is None:
        if floats or any(isinstance(x, float) for x in (x1, x2)):
            target = "float32"
        else:
            target = next((d for d in dts if d is not None), "int32")
            target = "int32" if np.dtype(target).kind == "b" else target
    out = []
    for x in (x1, x2):
        if hasattr(x, "dtype") and _dt(x) != target:
            x = cast(x, target)
        elif not hasattr(x, "dtype"):
            x = np.asarray(x, dtype=target)
        out.append(x)
    return out


def arctan2(x1, x2):
    """``keras.ops.arctan2``: the angle of the point ``(x2, x1)``."""
    return apply("arctan2", _pair(x1, x2))


def fmax(x1, x2):
    """``keras.ops.fmax``: the larger entry, ignoring NaNs."""
    return (
        apply("fmax", _pair(x1, x2, floats=False))
        if _floaty(x1, x2)
        else _maxmin("maximum", x1, x2)
    )


def fmin(x1, x2):
    """``keras.ops.fmin``: the smaller entry, ignoring NaNs."""
    return (
        apply("fmin", _pair(x1, x2, floats=False))
        if _floaty(x1, x2)
        else _maxmin("minimum", x1, x2)
    )


def _floaty(x1, x2):
    return any(
        isinstance(x, float) or (hasattr(x, "dtype") and np.dtype(_dt(x)).kind == "f")
        for x in (x1, x2)
    )


def _maxmin(name, x1, x2):
    a, b = _pair(x1, x2, floats=False)
    return np.asarray(getattr(np, name)(a, b)) if not _symbolic(a, b) else apply(name, [a, b])


def _symbolic(*xs):
    from graphc.ops.registry import is_symbolic

    return any(is_symbolic(x) for x in xs)


def fmod(x1, x2):
    """``keras.ops.fmod``: the remainder with the dividend's sign (C's ``fmod``)."""
    a, b = _pair(x1, x2, floats=False)
    return apply("mod", [a, b], fmod=True)


def floor_divide(x1, x2):
    """``keras.ops.floor_divide``: ``x1 // x2``, in the operands' common dtype."""
    return apply("floor_divide", _pair(x1, x2, floats=False))


def gcd(x1, x2):
    """``keras.ops.gcd``: the greatest common divisor of integers."""
    return apply("gcd", _pair(x1, x2, floats=False))


def lcm(x1, x2):
    """``keras.ops.lcm``: the least common multiple of integers."""
    return apply("lcm", _pair(x1, x2, floats=False))


def nextafter(x1, x2):
    """``keras.ops.nextafter``: the next representable float after ``x1`` towards ``x2``."""
    return apply("nextafter", _pair(x1, x2))


def stop_gradient(variable):
    """``keras.ops.stop_gradient``: the same values, with no gradient flowing back."""
    return apply("stop_gradient", [variable])


def divide_no_nan(x1, x2):
    """``keras.ops.divide_no_nan``: ``x1 / x2``, and 0 where ``x2`` is 0 (the gradient
    is 0 there too)."""
    a, b = _pair(x1, x2)
    zero = apply("equal", [b, 0.0])
    safe = apply("where", [zero, 1.0, b])
    q = apply("divide", [a, safe])
    return apply("where", [zero, np.zeros((), _dt(b)), q])
