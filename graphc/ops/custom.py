"""``custom_gradient``, as ``keras.ops.custom_gradient``: a function whose gradient is
given by the function itself.

``f(*args)`` returns ``(output, grad_fn)``; ``grad_fn(*args, upstream=...)`` returns the
gradient of each argument (Keras's torch-backend call; write ``def grad(*args,
upstream=None)`` to serve every backend, as Keras advises). On arrays the decorated
function returns ``f``'s output at once; on symbolic tensors it records one
``custom_gradient`` op whose kernel runs ``f`` and whose VJP runs ``grad_fn``, both on
arrays with ``graphc.ops``. The op names its function through ``attrs["fn"]``, a key in
this module's table (a graph holding one is saved like a ``Lambda`` layer's: the
function must be decorated again in the process that loads it). It has no ONNX
lowering. One output tensor.
"""

from __future__ import annotations

import functools

import numpy as np

from graphc.ir import TensorType
from graphc.ops.elementary import no_onnx
from graphc.ops.registry import Op, apply, is_symbolic

__all__ = ["custom_gradient"]

#: key -> the decorated function ``f``.
FUNCTIONS: dict = {}


def _key(f) -> str:
    base = f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', repr(f))}"
    key, n = base, 1
    while key in FUNCTIONS and FUNCTIONS[key] is not f:
        n += 1
        key = f"{base}#{n}"
    return key


def _lookup(key):
    try:
        return FUNCTIONS[key]
    except KeyError:
        raise KeyError(
            f"custom_gradient function {key!r} is not defined in this process: decorate it "
            "with graphc.ops.custom_gradient again before running the graph"
        ) from None


def _forward(f, xs):
    result = f(*xs)
    if not (isinstance(result, tuple) and len(result) == 2 and callable(result[1])):
        raise TypeError(
            "A custom_gradient function must return (output, grad_fn); received "
            f"{type(result).__name__}. Return the output and a function giving the "
            "gradients."
        )
    return result


class CustomGradient(Op):
    """Runs a ``custom_gradient`` function: kernel ``f(*xs)[0]``, VJP its ``grad_fn``."""

    name = "custom_gradient"
    vjp_reads_inputs = True

    def infer(self, attrs, *types):
        return TensorType(attrs["out_shape"], attrs["out_dtype"])

    def kernel(self, attrs, *xs, ctx):
        y, _ = _forward(_lookup(attrs["fn"]), xs)
        return np.asarray(y)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        _, grad_fn = _forward(_lookup(attrs["fn"]), xs)
        grads = grad_fn(*xs, upstream=gys[0])
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if len(grads) != len(xs):
            raise ValueError(
                f"The grad_fn of custom_gradient function {attrs['fn']!r} returned "
                f"{len(grads)} gradient(s) for {len(xs)} argument(s): return one per argument."
            )
        return tuple(
            None if g is None or not need else np.asarray(g, dtype=x.dtype).reshape(x.shape)
            for g, x, need in zip(grads, xs, needs)
        )

    def lower(self, attrs, b, *names):
        raise no_onnx("custom_gradient", " (it runs a Python function)")


def custom_gradient(f):
    """Decorate ``f(*args) -> (output, grad_fn)``; the result returns ``output`` and
    differentiates through ``grad_fn(*args, upstream=...)``::

        @graphc.ops.custom_gradient
        def log1pexp(x):
            e = ops.exp(x)

            def grad(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1, e))

            return ops.log(1 + e), grad
    """
    key = _key(f)
    FUNCTIONS[key] = f

    @functools.wraps(f)
    def wrapper(*args):
        if not any(is_symbolic(a) for a in args):
            return _forward(f, args)[0]
        # The output type: run f once on zeros of the inputs' shapes (an unknown
        # dimension as 1, unknown again in the output where it was in the first input).
        samples = [
            np.zeros([1 if d is None else d for d in a.shape], dtype=a.dtype)
            if is_symbolic(a)
            else np.asarray(a)
            for a in args
        ]
        y = np.asarray(_forward(f, samples)[0])
        first = next(a for a in args if is_symbolic(a))
        shape = tuple(
            None if (i == 0 and first.shape and first.shape[0] is None) else d
            for i, d in enumerate(y.shape)
        )
        return apply("custom_gradient", list(args), fn=key, out_shape=shape, out_dtype=str(y.dtype))

    wrapper.key = key
    return wrapper
