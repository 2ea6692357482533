"""``unique`` (as ``keras.ops.unique``, over the registry's ``unique`` op) and
``rearrange`` (einops-style, as ``keras.ops.rearrange``)."""

from __future__ import annotations

import re

import numpy as np

from graphc.errors import ShapeError
from graphc.ops.registry import apply, is_symbolic

__all__ = ["unique", "rearrange"]


def unique(
    x,
    sorted=True,
    return_index=False,
    return_inverse=False,
    return_counts=False,
    axis=None,
    size=None,
    fill_value=None,
):
    """The unique elements of ``x`` (flattened, or the sub-arrays along ``axis``), as
    ``keras.ops.unique``: the values, then the first-occurrence indices, the inverse
    indices (``x``'s shape) and the counts that were asked for (int32). The values come
    sorted whatever ``sorted`` says, as on Keras's torch and JAX backends. ``size`` pads
    with ``fill_value`` or truncates to that length (on arrays). The registry's
    ``unique`` op (ONNX Unique) computes them; no gradient."""
    from graphc.ops import cast, reshape

    values, index, inverse, counts = apply(
        "unique", [x], axis=None if axis is None else int(axis), sorted=True
    )
    if axis is None:
        inverse = reshape(inverse, tuple(-1 if d is None else d for d in x.shape))
    index, inverse, counts = (cast(t, "int32") for t in (index, inverse, counts))
    if size is not None:
        if is_symbolic(values):
            raise NotImplementedError(
                "ops.unique(size=...) pads or truncates to a fixed size on arrays only in "
                "graphc; on a symbolic tensor call it without size (the unique length is "
                "then known from the data)"
            )
        values, index, counts = _fixed_size(values, index, counts, axis, size, fill_value)
    out = [values]
    if return_index:
        out.append(index)
    if return_inverse:
        out.append(inverse)
    if return_counts:
        out.append(counts)
    return out[0] if len(out) == 1 else tuple(out)


def _fixed_size(values, index, counts, axis, size, fill_value):
    """Keras's torch backend: truncate, or pad the values with ``fill_value`` (0), the
    counts with 0 and the first indices with 1."""
    dim = 0 if axis is None else axis % values.ndim
    n = values.shape[dim]
    if n > size:
        return np.take(values, np.arange(size), axis=dim), index[:size], counts[:size]
    if n < size:
        pad = [(0, 0)] * values.ndim
        pad[dim] = (0, size - n)
        fill = 0 if fill_value is None else fill_value
        values = np.pad(values, pad, constant_values=fill)
        counts = np.pad(counts, (0, size - n))
        index = np.pad(index, (0, size - n), constant_values=1)
    return values, index, counts


# ---- rearrange ---------------------------------------------------------------------------
def _groups(axes):
    out = []
    for axis in axes:
        m = re.match(r"\(([\w\s]+)\)", axis)
        out.append(m.group(1).split() if m else [axis])
    return out


def _product(sizes):
    if any(s is None for s in sizes):
        return None
    p = 1
    for s in sizes:
        p *= int(s)
    return p


def _with_one_unknown(shape, pattern):
    shape = [-1 if s is None else int(s) for s in shape]
    if shape.count(-1) > 1:
        raise ShapeError(
            f"rearrange({pattern!r}): more than one dimension is unknown; give the "
            "lengths of the decomposed axes as keyword arguments"
        )
    return tuple(shape)


def rearrange(tensor, pattern, **axes_lengths):
    """Rearrange the axes of ``tensor`` with an einops pattern (``"b h w c -> b c h w"``,
    ``"b (h1 h) w c -> (b h1) h w c"`` with ``h1=2``), as ``keras.ops.rearrange``:
    a reshape that decomposes grouped input axes, a transpose, and a reshape that
    merges grouped output axes."""
    from graphc.ops import reshape, transpose

    def ops_shape(t):
        return tuple(t.shape) if hasattr(t, "shape") else np.shape(t)

    parts = re.split(r"\s*->\s*", pattern)
    if len(parts) != 2:
        raise ValueError(
            f"rearrange: the pattern must read 'input axes -> output axes'; got {pattern!r}"
        )
    input_axes = re.findall(r"\w+|\(.*?\)", parts[0])
    output_axes = re.findall(r"\w+|\(.*?\)", parts[1])
    shape = tuple(ops_shape(tensor))
    if len(input_axes) != len(shape):
        raise ShapeError(
            f"rearrange({pattern!r}): the input pattern names {len(input_axes)} axes but "
            f"the tensor has shape {shape}"
        )
    lengths = dict(axes_lengths)
    axes_map = {}
    for axis, dim in zip(input_axes, shape):
        m = re.match(r"\(([\w\s]+)\)", axis)
        if m:
            inner = m.group(1).split()
            known = [a for a in inner if a in lengths]
            inferred = [a for a in inner if a not in lengths]
            if inferred:
                kp = _product([lengths[a] for a in known])
                lengths[inferred[0]] = None if dim is None else dim // kp
            axes_map.update({a: lengths[a] for a in inner})
        else:
            axes_map[axis] = dim
    flat_in = [a for g in _groups(input_axes) for a in g]
    flat_out = [a for g in _groups(output_axes) for a in g]
    missing = [a for a in flat_out if a not in flat_in]
    if missing or sorted(flat_in) != sorted(flat_out):
        raise ValueError(
            f"rearrange({pattern!r}): the input and output patterns must name the same "
            f"axes; input {flat_in}, output {flat_out}"
        )
    decomposed = [axes_map[a] for a in flat_in]
    if tuple(decomposed) != shape:
        tensor = reshape(tensor, _with_one_unknown(decomposed, pattern))
    order = [flat_in.index(a) for a in flat_out]
    if order != list(range(len(order))):
        tensor = transpose(tensor, order)
    out_shape = tuple(_product([axes_map[a] for a in g]) for g in _groups(output_axes))
    if out_shape != tuple(ops_shape(tensor)):
        tensor = reshape(tensor, _with_one_unknown(out_shape, pattern))
    return tensor
