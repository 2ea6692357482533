"""Shape ops: reshape, flatten, concatenate."""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op
from graphc.ops.shapes import dims_compatible, known, merge_dim, normalize_axis, product


class Reshape(Op):
    """NumPy ``reshape`` with ``shape`` an attribute; one entry may be -1. When the
    -1 stands for an unknown batch dimension, the output keeps that dimension."""

    name = "reshape"

    def infer(self, attrs, x):
        shape = tuple(attrs["shape"])
        if sum(1 for d in shape if d == -1) > 1:
            raise ShapeError(f"at most one dimension of the target shape may be -1, got {shape}")
        if any(d < -1 or d == 0 for d in shape):
            raise ShapeError(f"target shape entries must be positive or -1, got {shape}")
        total = product(x.shape)
        fixed = product(d for d in shape if d != -1)
        if -1 not in shape:
            if total is not None and total != fixed:
                raise ShapeError(
                    f"cannot reshape {format_shape(x.shape)} ({total} values) "
                    f"into {format_shape(shape)} ({fixed} values)"
                )
            return TensorType(shape, x.dtype)
        if total is not None:
            if total % fixed:
                raise ShapeError(
                    f"cannot reshape {format_shape(x.shape)} ({total} values) "
                    f"into {format_shape(shape)}"
                )
            fill = total // fixed
        else:
            # Unknown leading dims: the -1 keeps them when the rest match exactly.
            rest = product(x.shape[1:])
            if shape[0] == -1 and rest is not None:
                if rest != fixed:
                    raise ShapeError(
                        f"cannot reshape {format_shape(x.shape)} into {format_shape(shape)}: "
                        f"{rest} values per sample, the target holds {fixed}"
                    )
                fill = x.shape[0]
            else:
                fill = None
        return TensorType(tuple(fill if d == -1 else d for d in shape), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.reshape(x, attrs["shape"])

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0].reshape(xs[0].shape),)

    def lower(self, attrs, b, x):
        return b.op("Reshape", x, b.const(np.asarray(attrs["shape"], dtype=np.int64)))


class Flatten(Op):
    """Keep the first dimension, flatten the rest: ``(N, a, b) -> (N, a*b)``."""

    name = "flatten"

    def infer(self, attrs, x):
        if len(x.shape) < 1:
            raise ShapeError("cannot flatten a scalar")
        return TensorType((x.shape[0], product(x.shape[1:])), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return x.reshape(x.shape[0], -1)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0].reshape(xs[0].shape),)

    def lower(self, attrs, b, x):
        return b.op("Flatten", x, axis=1)


class Concatenate(Op):
    """``np.concatenate`` of any number of inputs along ``axis``."""

    name = "concatenate"

    def infer(self, attrs, *types):
        if not types:
            raise ShapeError("needs at least one input")
        rank = len(types[0].shape)
        axis = normalize_axis(attrs.get("axis", -1), rank)
        for t in types:
            if t.dtype != types[0].dtype:
                raise ShapeError(f"inputs have different dtypes {types[0].dtype} and {t.dtype}")
            if len(t.shape) != rank:
                raise ShapeError(
                    "inputs must have the same rank, got shapes "
                    + ", ".join(format_shape(u.shape) for u in types)
                )
        out = []
        for i in range(rank):
            dims = [t.shape[i] for t in types]
            if i == axis:
                out.append(sum(dims) if all(known(d) for d in dims) else None)
                continue
            merged = dims[0]
            for d in dims[1:]:
                if not dims_compatible(merged, d):
                    raise ShapeError(
                        f"inputs must match on every axis but {attrs.get('axis', -1)}, got "
                        "shapes " + ", ".join(format_shape(u.shape) for u in types)
                    )
                merged = merge_dim(merged, d)
            out.append(merged)
        return TensorType(tuple(out), types[0].dtype)

    def kernel(self, attrs, *xs, ctx):
        return np.concatenate(xs, axis=attrs.get("axis", -1))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        axis = attrs.get("axis", -1)
        bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return tuple(np.split(gys[0], bounds, axis=axis))

    def lower(self, attrs, b, *names):
        return b.op("Concat", *names, axis=int(attrs.get("axis", -1)))
