"""Dynamic shapes: ``shape`` and ``arange``, the idioms of Keras 3 code whose sizes are
only known at run time (a Transformer's ``positions = ops.arange(0, ops.shape(x)[-1])``).

``ops.shape(x)`` returns a tuple, as Keras's: known dimensions are ints, unknown ones
(a symbolic tensor's ``None``) are symbolic int64 scalars read from the data at run time
(op ``shape``, ONNX ``Shape`` + ``Gather``). ``ops.arange`` runs at once on numbers and
records op ``range`` (ONNX ``Range``) when an argument is symbolic; its length is then
unknown to the shape rule.

>>> import numpy as np
>>> from graphc import ops
>>> ops.shape(np.zeros((2, 5)))
(2, 5)
>>> ops.arange(0, 4, 1)
array([0, 1, 2, 3], dtype=int32)
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, Value, dtype_name
from graphc.ops.registry import Op, apply, is_symbolic
from graphc.ops.shapes import known, normalize_axis

__all__ = ["shape", "arange"]

_INT64 = 7  # onnx.TensorProto.INT64, a number so that importing graphc needs no onnx


class Shape(Op):
    """``x.shape[axis]`` as an int64 scalar, read from the data (it has no gradient)."""

    name = "shape"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        normalize_axis(attrs["axis"], len(x.shape))
        return TensorType((), "int64")

    def kernel(self, attrs, x, *, ctx):
        return np.asarray(x.shape[attrs["axis"]], dtype=np.int64)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)  # a size has no gradient

    def lower(self, attrs, b, x):
        axis = normalize_axis(attrs["axis"], len(b.in_types[0].shape))
        # Shape's start/end attributes need opset 15; Gather with a scalar index works
        # from opset 13 and gives the scalar directly.
        return b.op("Gather", b.op("Shape", x), b.const(np.asarray(axis, dtype=np.int64)), axis=0)


class Range(Op):
    """``np.arange(start, limit, delta)`` of three scalars, in ``dtype``; the length
    depends on the values, so the shape rule leaves it unknown. No gradient (Keras's
    positions are integers)."""

    name = "range"
    vjp_reads_inputs = False

    def infer(self, attrs, start, limit, delta):
        for what, t in (("start", start), ("stop", limit), ("step", delta)):
            if len(t.shape) != 0:
                raise ShapeError(f"arange's {what} must be a scalar, got shape {t.shape}")
        return TensorType((None,), attrs["dtype"])

    def kernel(self, attrs, start, limit, delta, *, ctx):
        if delta == 0:
            raise ValueError("arange: step must not be zero")
        dtype = attrs["dtype"]
        # The bounds are taken in the output dtype first, as ONNX Range does.
        return np.arange(
            np.asarray(start).astype(dtype),
            np.asarray(limit).astype(dtype),
            np.asarray(delta).astype(dtype),
            dtype=dtype,
        )

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None, None, None)

    def lower(self, attrs, b, start, limit, delta):
        from graphc.ops.lowering import onnx_dtype

        to = onnx_dtype(attrs["dtype"])
        names = [
            n if t.dtype == attrs["dtype"] else b.op("Cast", n, to=to)
            for n, t in zip((start, limit, delta), b.in_types)
        ]
        return b.op("Range", *names)


def shape(x):
    """``keras.ops.shape``: a tuple of the dimensions of ``x``. On a symbolic tensor an
    unknown dimension is a symbolic int64 scalar that ``arange`` (or ``take``) consumes.

    >>> import graphc
    >>> x = graphc.Input(shape=(None,), dtype="int64")
    >>> graphc.ops.shape(x)[-1]  # doctest: +ELLIPSIS
    <Value ...>
    """
    if not is_symbolic(x):
        return tuple(int(d) for d in np.shape(x.data if isinstance(x, Value) else x))
    return tuple(int(d) if known(d) else apply("shape", [x], axis=i) for i, d in enumerate(x.shape))


def _arg_dtype(v) -> tuple[str, bool]:
    """``(dtype, weak)`` of one ``arange`` argument, for Keras's ``result_type``: Python
    numbers (and the sizes that ``shape`` reads, which stand for Keras's Python ints) are
    weak, tensors and NumPy values are not."""
    if isinstance(v, Value):
        if v.producer is not None and v.producer.op == "shape":
            return "int32", True
        return dtype_name(v.dtype), False
    if isinstance(v, (bool, np.bool_)):
        return "bool", False
    if isinstance(v, int):
        return "int32", True
    if isinstance(v, float):
        return "float32", True
    return dtype_name(np.asarray(v).dtype), False


def _result_dtype(args) -> str:
    """Keras's dtype for ``arange(start, stop, step)`` without ``dtype``: the NumPy
    promotion of the tensors' dtypes; Python ints alone give int32, a Python float
    makes an integer result float32 (``floatx``)."""
    kinds = [_arg_dtype(a) for a in args]
    strong = [d for d, weak in kinds if not weak]
    weak_float = any(d == "float32" for d, weak in kinds if weak)
    if not strong:
        return "float32" if weak_float else "int32"
    dtype = dtype_name(np.result_type(*strong))
    if weak_float and np.dtype(dtype).kind in "iub":
        return "float32"
    return dtype


def arange(start, stop=None, step=None, dtype=None):
    """``keras.ops.arange(start, stop=None, step=None, dtype=None)``: evenly spaced
    values in ``[start, stop)``. Runs at once on numbers; records a ``range`` node when
    an argument is symbolic (``ops.arange(ops.shape(x)[-1])``).

    >>> arange(3)
    array([0, 1, 2], dtype=int32)
    >>> arange(0.0, 1.0, 0.5).dtype
    dtype('float32')
    """
    given = [a for a in (start, stop, step) if a is not None]
    dtype = dtype_name(dtype) if dtype is not None else _result_dtype(given)
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    args = (start, stop, step)
    if not any(is_symbolic(a) for a in args):
        if any(isinstance(a, Value) for a in args):
            args = tuple(a.data if isinstance(a, Value) else a for a in args)
        return np.arange(*args, dtype=dtype)
    for a in args:
        if is_symbolic(a) and len(a.shape) != 0:
            raise ValueError(f"arange takes scalars, received a tensor of shape {a.shape}")
    # Numbers become constants of the output dtype (``apply`` would make them float).
    return apply(
        "range",
        [a if isinstance(a, Value) else np.asarray(a, dtype=dtype) for a in args],
        dtype=dtype,
    )
