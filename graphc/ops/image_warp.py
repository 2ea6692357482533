"""The rest of ``keras.ops.image``, with Keras 3.15's semantics and defaults (its torch
backend where the backends differ): ``map_coordinates``, ``affine_transform`` on
symbolic tensors, ``perspective_transform``, ``elastic_transform``,
``scale_and_translate``, ``sobel_edges``, ``ssim`` and ``extract_patches_3d``; and the
training-only op behind ``keras.layers.RandomElasticTransform``.

- ``map_coordinates`` (op ``map_coordinates``): ``inputs`` sampled at ``coordinates``
  (``(inputs.ndim, ...)``) with order 0 (nearest, half to even) or 1 (linear), Keras's
  five fill modes. Its VJP gives the gradient to the input (a scatter-add) and, at order
  1, to the coordinates.
- ``affine_transform`` and ``perspective_transform`` resample a batch through one
  projective transform ``[a0, a1, a2, b0, b1, b2, c0, c1]`` per image (op
  ``affine_transform``; its VJP gives the gradient to the images).
  ``perspective_transform`` solves the homography that takes ``end_points`` to
  ``start_points`` (in float32, as Keras) and fills with a constant.
- ``elastic_transform`` (op ``elastic_transform``): a random displacement field, Gaussian
  noise blurred by a Gaussian of ``sigma`` and scaled by ``alpha``, drawn from graphc's
  generator (``seed``: an int draws the same field every call, as ``graphc.random``).
  Its second output is the sampling coordinates, which the VJP reads.
- ``scale_and_translate``, ``sobel_edges``, ``ssim`` and ``extract_patches_3d`` are made of
  registered ops (products with constant matrices, gathers, elementwise ops): they record,
  differentiate and export like any op.

``map_coordinates`` and ``affine_transform`` export as the same sampling written with
ONNX's ``GatherND`` and integer arithmetic (each fill mode's index rule; ONNX's
``GridSample`` has other fill rules), for static image sizes; ``elastic_transform`` and
the symbolic homography have no ONNX form and raise ``no_onnx``'s error.

>>> import numpy as np
>>> from graphc import ops
>>> x = np.arange(4, dtype="float32").reshape(2, 2)
>>> ops.image.map_coordinates(x, [[0.5], [0.5]], order=1).tolist()
[1.5]
"""

from __future__ import annotations

import itertools

import numpy as np

from graphc.config import standardize_data_format
from graphc.errors import (
    ArgumentTypeError,
    ArgumentValueError,
    NotDifferentiableError,
    ShapeError,
)
from graphc.ir import TensorType, format_shape
from graphc.ops.arrays import take, transpose
from graphc.ops.composite import squeeze, stack
from graphc.ops.elementary import no_onnx
from graphc.ops.image import (
    AFFINE_FILL_MODES,
    INTERPOLATIONS,
    _check_images,
    _check_transform_args,
    _fix_index,
    _transform_batch,
    _transform_batch_vjp,
)
from graphc.ops.image import affine_transform as _eager_affine_transform
from graphc.ops.image_extra import _along, _band, _gauss, _nhwc, _static
from graphc.ops.masking import cast, expand_dims
from graphc.ops.registry import Op, apply, is_symbolic

__all__ = [
    "map_coordinates",
    "affine_transform",
    "perspective_transform",
    "compute_homography_matrix",
    "elastic_transform",
    "scale_and_translate",
    "sobel_edges",
    "ssim",
    "extract_patches_3d",
]

_ORDERS = {"nearest": 0, "bilinear": 1}


def _dt(x) -> str:
    return str(np.dtype(x.dtype))


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind in "fc"


# ---- map_coordinates ---------------------------------------------------------------------
def _axis_nodes(c, size, order, fill_mode):
    """Keras's 1-D interpolation nodes of one axis: ``(fixed index, valid, weight,
    d weight / d coordinate)``; ``valid`` is None unless filling with a constant."""
    if order == 0:
        index = (c if not _is_float(c.dtype) else np.rint(c)).astype(np.int64)
        nodes = [(index, None, 0)]
    else:
        lower = np.floor(c)
        upper_w = c - lower
        index = lower.astype(np.int64)
        nodes = [(index, 1 - upper_w, -1), (index + 1, upper_w, 1)]
    out = []
    for index, weight, slope in nodes:
        valid = (index >= 0) & (index < size) if fill_mode == "constant" else None
        out.append((_fix_index(index, size, fill_mode), valid, weight, slope))
    return out


def _map_plan(shape, coords, order, fill_mode):
    """Every interpolation corner: ``(flat index, valid, [weight per axis], [slopes])``."""
    per_axis = [_axis_nodes(c, n, order, fill_mode) for c, n in zip(coords, shape)]
    plan = []
    for items in itertools.product(*per_axis):
        index = np.ravel_multi_index(tuple(it[0] for it in items), shape)
        valids = [it[1] for it in items if it[1] is not None]
        valid = None
        for v in valids:
            valid = v if valid is None else valid & v
        plan.append((index, valid, [it[2] for it in items], [it[3] for it in items]))
    return plan


def _compute_dtype(x, coords):
    return np.result_type(x.dtype, coords.dtype if _is_float(coords.dtype) else x.dtype)


def _map_values(x, index, valid, fill_value, dtype):
    v = x.reshape(-1).take(index).astype(dtype, copy=False)
    if valid is not None:
        v = np.where(valid, v, np.asarray(fill_value).astype(dtype))
    return v


def _product(ws, dtype):
    w = None
    for f in ws:
        if f is None:
            continue
        w = f if w is None else w * f
    return w


def _check_map_args(order, fill_mode):
    if fill_mode not in AFFINE_FILL_MODES:
        raise ArgumentValueError(
            "Invalid value for argument `fill_mode`. Expected one of "
            f"{set(AFFINE_FILL_MODES)}. Received: fill_mode={fill_mode}"
        )
    if order not in (0, 1):
        raise NotImplementedError(
            f"map_coordinates currently requires order<=1 (0: nearest, 1: linear); "
            f"received order={order!r}"
        )


# ---- ONNX: the same sampling, written with Gather/GatherND and integer arithmetic --------
def _i64(b, v):
    return b.const(np.asarray(v, dtype=np.int64))


def _lower_mirror(b, v, n):
    """``_mirror`` with ``n`` an int64 tensor (``Max(2 s, 1)`` keeps a size of 1 from a
    modulus of 0: every index then maps to 0)."""
    s = b.op("Sub", n, _i64(b, 1))
    period = b.op("Max", b.op("Mul", s, _i64(b, 2)), _i64(b, 1))
    wave = b.op("Mod", b.op("Add", v, s), period)
    return b.op("Abs", b.op("Sub", wave, s))


def _lower_fix(b, index, size, fill_mode):
    """``_fix_index`` in ONNX (int64, ``size`` a tensor; ``Mod`` of integers takes the
    divisor's sign, as Python's ``%``)."""
    if fill_mode == "wrap":
        return b.op("Mod", index, size)
    if fill_mode == "mirror":
        return _lower_mirror(b, index, size)
    if fill_mode == "reflect":  # the wave is >= 1 here, so Div's truncation is a floor
        odd = b.op("Add", b.op("Mul", index, _i64(b, 2)), _i64(b, 1))
        wave = _lower_mirror(b, odd, b.op("Add", b.op("Mul", size, _i64(b, 2)), _i64(b, 1)))
        return b.op("Div", b.op("Sub", wave, _i64(b, 1)), _i64(b, 2))
    return b.op("Min", b.op("Max", index, _i64(b, 0)), b.op("Sub", size, _i64(b, 1)))


def _lower_axis_nodes(b, c, size, order, fill_mode, dtype, c_dtype=None):
    """``_axis_nodes`` in ONNX: ``(fixed index, valid, weight)`` names (or None);
    ``size``: an int, or an int64 tensor (a size known only at run time)."""
    from graphc.ops.lowering import onnx_dtype

    c_dtype = c_dtype or dtype
    to_int = onnx_dtype("int64")
    if isinstance(size, (int, np.integer)):
        size = _i64(b, int(size))
    if order == 0 or not _is_float(c_dtype):
        rounded = b.op("Round", c) if _is_float(c_dtype) else c
        nodes = [(b.op("Cast", rounded, to=to_int), None)]
    else:
        lower = b.op("Floor", c)
        upper_w = b.op("Sub", c, lower)
        index = b.op("Cast", lower, to=to_int)
        one = b.const(np.asarray(1, dtype=dtype))
        nodes = [(index, b.op("Sub", one, upper_w)), (b.op("Add", index, _i64(b, 1)), upper_w)]
    out = []
    for index, weight in nodes:
        valid = None
        if fill_mode == "constant":
            valid = b.op(
                "And",
                b.op("GreaterOrEqual", index, _i64(b, 0)),
                b.op("Less", index, size),
            )
        out.append((_lower_fix(b, index, size, fill_mode), valid, weight))
    return out


def _lower_sample(b, per_axis, gather, fill_value, dtype, last_axis):
    """The sum over the interpolation corners of ``weight * where(valid, gather(indices),
    fill)``; ``last_axis`` unsqueezes the weights and masks over the channels."""
    total = None
    for items in itertools.product(*per_axis):
        v = gather([it[0] for it in items])
        valid = weight = None
        for _, ok, w in items:
            if ok is not None:
                valid = ok if valid is None else b.op("And", valid, ok)
            if w is not None:
                weight = w if weight is None else b.op("Mul", weight, w)
        if valid is not None:
            if last_axis:
                valid = b.op("Unsqueeze", valid, _i64(b, [-1]))
            fill = b.const(np.asarray(fill_value, dtype=dtype))
            v = b.op("Where", valid, v, fill)
        if weight is not None:
            if last_axis:
                weight = b.op("Unsqueeze", weight, _i64(b, [-1]))
            v = b.op("Mul", weight, v)
        total = v if total is None else b.op("Add", total, v)
    return total


def _stack_last(b, names):
    return b.op("Concat", *[b.op("Unsqueeze", n, _i64(b, [-1])) for n in names], axis=-1)


class MapCoordinates(Op):
    """``keras.ops.image.map_coordinates``: ``y[...] = inputs`` interpolated at the point
    ``coordinates[:, ...]`` (attrs ``order``, ``fill_mode``, ``fill_value``)."""

    name = "map_coordinates"

    def infer(self, attrs, x, coords):
        try:
            _check_map_args(attrs.get("order", 1), attrs.get("fill_mode", "constant"))
        except (ValueError, NotImplementedError) as e:
            raise ShapeError(str(e)) from None
        if len(coords.shape) < 2:
            raise ShapeError(
                "Invalid coordinates rank: expected at least rank 2. Received input with "
                f"shape: {format_shape(coords.shape)}"
            )
        if coords.shape[0] is not None and coords.shape[0] != len(x.shape):
            raise ShapeError(
                "First dim of `coordinates` must be the same as the rank of `inputs`. "
                f"Received inputs with shape: {format_shape(x.shape)} and coordinate "
                f"leading dim of {coords.shape[0]}"
            )
        return TensorType(tuple(coords.shape[1:]), x.dtype)

    def kernel(self, attrs, x, coords, *, ctx):
        order, fill = attrs.get("order", 1), attrs.get("fill_mode", "constant")
        fill_value = attrs.get("fill_value", 0.0)
        dtype = _compute_dtype(x, coords)
        out = None
        for index, valid, ws, _ in _map_plan(x.shape, coords, order, fill):
            v = _map_values(x, index, valid, fill_value, dtype)
            w = _product(ws, dtype)
            term = v if w is None else w * v
            out = term if out is None else out + term
        if not _is_float(x.dtype):
            out = np.rint(out)
        return np.asarray(out).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, coords = xs
        g = gys[0]
        order, fill = attrs.get("order", 1), attrs.get("fill_mode", "constant")
        plan = _map_plan(x.shape, coords, order, fill)
        dtype = _compute_dtype(x, coords)
        gx = gc = None
        if needs[0]:
            total = np.zeros(x.size, dtype=np.float64)
            for index, valid, ws, _ in plan:
                w = _product(ws, dtype)
                contrib = g if w is None else g * w
                if valid is not None:
                    contrib = contrib * valid
                total += np.bincount(index.ravel(), contrib.ravel(), minlength=x.size)
            gx = total.reshape(x.shape).astype(x.dtype)
        if needs[1] and _is_float(coords.dtype):
            gc = np.zeros(coords.shape, dtype=coords.dtype)
            if order == 1:
                fill_value = attrs.get("fill_value", 0.0)
                for index, valid, ws, slopes in plan:
                    v = g * _map_values(x, index, valid, fill_value, dtype)
                    for d in range(len(ws)):
                        others = _product([w for e, w in enumerate(ws) if e != d], dtype)
                        gc[d] += slopes[d] * (v if others is None else v * others)
        return gx, gc

    def lower(self, attrs, b, x, coords):
        from graphc.ops.lowering import onnx_dtype

        xt, ct = b.in_types
        if not _is_float(xt.dtype):
            raise NotImplementedError(
                f"map_coordinates exports float inputs; received {xt.dtype} (cast it first)"
            )
        order, fill = attrs.get("order", 1), attrs.get("fill_mode", "constant")
        if _is_float(ct.dtype) and ct.dtype != xt.dtype:
            coords = b.op("Cast", coords, to=onnx_dtype(xt.dtype))
        per_axis = []
        for d, size in enumerate(xt.shape):
            c = b.op("Gather", coords, _i64(b, d), axis=0)
            if size is None:  # known at run time only
                size = b.op("Gather", b.op("Shape", x), _i64(b, d), axis=0)
            c_dtype = xt.dtype if _is_float(ct.dtype) else ct.dtype
            per_axis.append(_lower_axis_nodes(b, c, size, order, fill, xt.dtype, c_dtype))
        return _lower_sample(
            b,
            per_axis,
            lambda idx: b.op("GatherND", x, _stack_last(b, idx)),
            attrs.get("fill_value", 0.0),
            xt.dtype,
            last_axis=False,
        )


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """``keras.ops.image.map_coordinates``: ``inputs`` interpolated at ``coordinates``
    (an array ``(inputs.ndim, ...)`` or a list of ``inputs.ndim`` arrays); ``order`` 0
    (nearest) or 1 (linear); ``fill_mode`` "constant" (``fill_value``), "nearest", "wrap",
    "mirror" or "reflect". Differentiable in ``inputs`` (and, at order 1, in the float
    coordinates)."""
    _check_map_args(order, fill_mode)
    if isinstance(coordinates, (list, tuple)):
        if any(is_symbolic(c) for c in coordinates):
            coordinates = stack(list(coordinates), axis=0)
        else:
            coordinates = np.stack([np.asarray(c) for c in coordinates], axis=0)
    if not is_symbolic(inputs):
        inputs = np.asarray(inputs)
    if not is_symbolic(coordinates):
        coordinates = np.asarray(coordinates)
        if coordinates.dtype == np.float64 and _dt(inputs) != "float64":
            coordinates = coordinates.astype("float32")
    rank = len(inputs.shape)
    if coordinates.shape[0] != rank:
        raise ArgumentValueError(
            "First dim of `coordinates` must be the same as the rank of `inputs`. "
            f"Received inputs with shape: {tuple(inputs.shape)} and coordinate leading "
            f"dim of {coordinates.shape[0]}"
        )
    if len(coordinates.shape) < 2:
        raise ArgumentValueError(
            "Invalid coordinates rank: expected at least rank 2. Received input with "
            f"shape: {tuple(coordinates.shape)}"
        )
    return apply(
        "map_coordinates",
        [inputs, coordinates],
        order=int(order),
        fill_mode=fill_mode,
        fill_value=float(fill_value),
    )


# ---- affine_transform and perspective_transform -------------------------------------------
class AffineTransform(Op):
    """A 4-D image batch resampled through one projective transform per image
    (``transform``: ``(batch, 8)``, or ``(1, 8)``/``(8,)`` for all), with Keras's
    ``affine_transform`` rules (attrs ``interpolation``, ``fill_mode``, ``fill_value``,
    ``data_format``)."""

    name = "affine_transform"

    def infer(self, attrs, x, t):
        _check_images(x)
        if len(t.shape) not in (1, 2) or t.shape[-1] not in (8, None):
            raise ShapeError(
                "expected transforms of shape (8,) or (batch, 8), got shape "
                f"{format_shape(t.shape)}"
            )
        try:
            _check_transform_args(
                attrs.get("interpolation", "bilinear"), attrs.get("fill_mode", "constant")
            )
        except ValueError as e:
            raise ShapeError(str(e)) from None
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, t, *, ctx):
        return _transform_batch(
            x,
            np.asarray(t, dtype=x.dtype).reshape(-1, 8),
            attrs.get("interpolation", "bilinear"),
            attrs.get("fill_mode", "constant"),
            attrs.get("fill_value", 0.0),
            attrs.get("data_format", "channels_last"),
        ).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        if needs[1]:
            raise NotDifferentiableError(
                "op affine_transform has no gradient with respect to its transform in "
                "graphc (only to the images): pass the transform as a constant"
            )
        gx = None
        if needs[0]:
            x, t = xs
            gx = _transform_batch_vjp(
                gys[0],
                np.asarray(t, dtype=x.dtype).reshape(-1, 8),
                attrs.get("interpolation", "bilinear"),
                attrs.get("fill_mode", "constant"),
                attrs.get("data_format", "channels_last"),
            ).astype(x.dtype, copy=False)
        return gx, None

    def lower(self, attrs, b, x, t):
        from graphc.ops.lowering import onnx_dtype

        xt, tt = b.in_types
        first = attrs.get("data_format", "channels_last") == "channels_first"
        h, w = _spatial(xt.shape, attrs.get("data_format", "channels_last"))
        if h is None or w is None:
            raise NotImplementedError(
                f"affine_transform exports images of static height and width; received "
                f"{format_shape(xt.shape)}"
            )
        dtype = xt.dtype
        if first:
            x = b.op("Transpose", x, perm=[0, 2, 3, 1])
        t = b.op("Reshape", t, _i64(b, [-1, 8]))
        if tt.dtype != dtype:
            t = b.op("Cast", t, to=onnx_dtype(dtype))
        a0, a1, a2, b0, b1, b2, c0, c1 = (
            b.op("Unsqueeze", b.op("Gather", t, _i64(b, k), axis=1), _i64(b, [1, 2]))
            for k in range(8)
        )
        gx = b.const(np.arange(w, dtype=dtype).reshape(1, 1, w))
        gy = b.const(np.arange(h, dtype=dtype).reshape(1, h, 1))

        def affine(p, q, r):  # p x + q y + r
            return b.op("Add", b.op("Add", b.op("Mul", p, gx), b.op("Mul", q, gy)), r)

        k = affine(c0, c1, b.const(np.asarray(1, dtype=dtype)))
        src_x = b.op("Div", affine(a0, a1, a2), k)
        src_y = b.op("Div", affine(b0, b1, b2), k)
        order = _ORDERS[attrs.get("interpolation", "bilinear")]
        fill = attrs.get("fill_mode", "constant")
        per_axis = [
            _lower_axis_nodes(b, src_y, int(h), order, fill, dtype),
            _lower_axis_nodes(b, src_x, int(w), order, fill, dtype),
        ]
        # (batch, h, w, 2) indices, broadcast to the images' batch
        shape = b.op(
            "Concat",
            b.op("Slice", b.op("Shape", x), _i64(b, [0]), _i64(b, [1])),
            _i64(b, [int(h), int(w), 2]),
            axis=0,
        )

        def gather(idx):
            indices = b.op("Expand", _stack_last(b, idx), shape)
            return b.op("GatherND", x, indices, batch_dims=1)

        y = _lower_sample(b, per_axis, gather, attrs.get("fill_value", 0.0), dtype, True)
        return b.op("Transpose", y, perm=[0, 3, 1, 2]) if first else y


def _batched_images(images, what):
    rank = len(images.shape)
    if rank not in (3, 4):
        raise ArgumentValueError(
            "Invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
            f"images). Received input with shape: images.shape={tuple(images.shape)}"
        )
    if rank == 3:
        images = expand_dims(images, 0) if is_symbolic(images) else images[None]
    return images, rank == 3


def _unbatch(y, single):
    if not single:
        return y
    return squeeze(y, 0) if is_symbolic(y) else y[0]


def _float_images(images):
    """Float images and the dtype to give back (Keras computes integer images in float)."""
    if is_symbolic(images):
        if _is_float(_dt(images)):
            return images, None
        return cast(images, "float32"), np.dtype(_dt(images))
    images = np.asarray(images)
    if _is_float(images.dtype):
        return images, None
    return images.astype(np.result_type(images.dtype, np.float32)), images.dtype


def _restore_dtype(y, dtype):
    if dtype is None:
        return y
    if is_symbolic(y):
        return cast(apply("round", [y]) if dtype.kind in "iu" else y, str(dtype))
    return (np.rint(y) if np.dtype(dtype).kind in "iu" else y).astype(dtype)


def _transform(images, transform, interpolation, fill_mode, fill_value, data_format):
    images, single = _batched_images(images, "affine_transform")
    images, back = _float_images(images)
    if not is_symbolic(transform):
        transform = np.asarray(transform, dtype=_dt(images))
    y = apply(
        "affine_transform",
        [images, transform],
        interpolation=interpolation,
        fill_mode=fill_mode,
        fill_value=float(fill_value),
        data_format=standardize_data_format(data_format),
    )
    return _unbatch(_restore_dtype(y, back), single)


def affine_transform(
    images,
    transform,
    interpolation="bilinear",
    fill_mode="constant",
    fill_value=0,
    data_format=None,
):
    """``keras.ops.image.affine_transform`` (see ``graphc.ops.image``): eager on arrays
    as before; on symbolic tensors, the ``affine_transform`` op."""
    _check_transform_args(interpolation, fill_mode)
    if not (is_symbolic(images) or is_symbolic(transform)):
        return _eager_affine_transform(
            images, transform, interpolation, fill_mode, fill_value, data_format
        )
    if len(transform.shape) not in (1, 2):
        raise ArgumentValueError(
            "Invalid transform rank: expected rank 1 (single transform) or rank 2 (batch of "
            f"transforms). Received input with shape: transform.shape={tuple(transform.shape)}"
        )
    return _transform(images, transform, interpolation, fill_mode, fill_value, data_format)


def compute_homography_matrix(start_points, end_points):
    """The ``(N, 8)`` projective transforms taking each output point of ``end_points`` to
    the input point of ``start_points`` (``(N, 4, 2)`` ``(x, y)`` corners), solved in
    float32 as Keras's ``compute_homography_matrix``."""
    s = np.asarray(start_points)
    e = np.asarray(end_points)
    dtype = np.result_type(s.dtype, e.dtype, np.float32)
    s, e = s.astype(dtype), e.astype(dtype)
    sx, sy, ex, ey = s[..., 0], s[..., 1], e[..., 0], e[..., 1]  # (N, 4)
    one, zero = np.ones_like(ex), np.zeros_like(ex)
    row_x = np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1)
    row_y = np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1)
    a = np.stack([row_x, row_y], axis=2).reshape(len(s), 8, 8)  # rows x1, y1, x2, ...
    target = np.stack([sx, sy], axis=-1).reshape(len(s), 8, 1)
    compute = np.result_type(dtype, np.float32)
    h = np.linalg.solve(a.astype(compute), target.astype(compute))
    return h.reshape(-1, 8).astype(dtype)


class Homography(Op):
    """``compute_homography_matrix`` of symbolic points: ``(N, 4, 2)`` twice to
    ``(N, 8)``."""

    name = "homography"

    def infer(self, attrs, start, end):
        for t, what in ((start, "start_points"), (end, "end_points")):
            if len(t.shape) != 3 or tuple(t.shape[1:]) != (4, 2):
                raise ShapeError(f"{what} must be (N, 4, 2), got {format_shape(t.shape)}")
        return TensorType((start.shape[0], 8), start.dtype)

    def kernel(self, attrs, start, end, *, ctx):
        return compute_homography_matrix(start, end).astype(start.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        raise NotDifferentiableError(
            "op homography (perspective_transform's points) has no gradient in graphc: "
            "pass start_points and end_points as constants"
        )

    def lower(self, attrs, b, start, end):
        raise no_onnx("homography", " (a linear solve)")


def _check_points(points, what):
    shape = tuple(points.shape)
    if len(shape) not in (2, 3) or shape[-2:] != (4, 2):
        raise ArgumentValueError(
            f"Invalid {what} shape: expected (4,2) for a single image or (N,4,2) for a "
            f"batch. Received shape: {shape}"
        )


def perspective_transform(
    images,
    start_points,
    end_points,
    interpolation="bilinear",
    fill_value=0,
    data_format=None,
):
    """``keras.ops.image.perspective_transform``: each image warped so that its
    ``start_points`` (4 ``(x, y)`` corners) land on ``end_points``; points outside the
    image read ``fill_value``. Differentiable in the images."""
    if interpolation not in INTERPOLATIONS:
        raise ArgumentValueError(
            "Invalid value for argument `interpolation`. Expected of one "
            f"{set(INTERPOLATIONS)}. Received: interpolation={interpolation}"
        )
    if len(images.shape) not in (3, 4):
        raise ArgumentValueError(
            "Invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
            f"images). Received input with shape: images.shape={tuple(images.shape)}"
        )
    symbolic_points = is_symbolic(start_points) or is_symbolic(end_points)
    if not symbolic_points:
        dtype = _dt(images) if _is_float(_dt(images)) else "float32"
        start_points = np.asarray(start_points, dtype=dtype)
        end_points = np.asarray(end_points, dtype=dtype)
    _check_points(start_points, "start_points")
    _check_points(end_points, "end_points")
    if tuple(start_points.shape) != tuple(end_points.shape):
        raise ArgumentValueError(
            "start_points and end_points must have the same shape. Received "
            f"start_points.shape={tuple(start_points.shape)}, "
            f"end_points.shape={tuple(end_points.shape)}"
        )
    if symbolic_points:
        if len(start_points.shape) == 2:
            start_points = expand_dims(start_points, 0)
            end_points = expand_dims(end_points, 0)
        transform = apply("homography", [start_points, end_points])
    else:
        if start_points.ndim == 2:
            start_points, end_points = start_points[None], end_points[None]
        transform = compute_homography_matrix(start_points, end_points)
    return _transform(images, transform, interpolation, "constant", fill_value, data_format)


# ---- elastic_transform ---------------------------------------------------------------------
def _elastic_coords(rng, n, h, w, alpha, sigma, dtype):
    """Keras's elastic sampling points ``(n, 2, h, w)`` (rows, then columns): the pixel
    grid plus ``alpha`` times Gaussian noise (times ``sigma``) blurred by a Gaussian of
    ``sigma`` over ``int(6 sigma) | 1`` pixels with zero padding."""
    sigma = np.float32(sigma)
    alpha = np.float32(alpha)
    size = int(np.float32(6) * sigma) | 1
    k = _gauss(size, float(sigma)) if sigma > 0 else np.ones(1)
    bh, bw = _band(h, k), _band(w, k)
    coords = np.empty((n, 2, h, w), dtype=dtype)
    noise = [rng.standard_normal((n, h, w)).astype(dtype) * sigma for _ in range(2)]
    grid = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for axis, (field, base) in enumerate(zip(noise[::-1], grid)):  # dy, then dx
        # the separable blur, as 2-D products (NumPy's stacked matmul is far slower)
        rows = (field.astype(np.float64).reshape(n * h, w) @ bw.T).reshape(n, h, w)
        blurred = np.tensordot(bh, rows, axes=(1, 1)).transpose(1, 0, 2)
        coords[:, axis] = base + alpha * blurred
    return coords


def _sample_batch(x, coords, order, fill_mode, fill_value, data_format):
    """``map_coordinates`` of each image's channels at ``coords`` ``(n, 2, h, w)``."""
    first = data_format == "channels_first"
    nhwc = np.moveaxis(x, 1, -1) if first else x
    n, h, w, c = nhwc.shape
    dtype = nhwc.dtype
    out = np.zeros((n, h, w, c), dtype=dtype)
    for i in range(n):
        plan = _map_plan((h, w), coords[i], order, fill_mode)
        flat = nhwc[i].reshape(h * w, c)
        for index, valid, ws, _ in plan:
            v = flat.take(index.ravel(), axis=0).reshape(h, w, c)
            if valid is not None:
                v = np.where(valid[..., None], v, dtype.type(fill_value))
            wt = _product(ws, dtype)
            out[i] += v if wt is None else wt[..., None] * v
    return np.moveaxis(out, -1, 1) if first else out


def _sample_batch_vjp(g, coords, order, fill_mode, data_format):
    first = data_format == "channels_first"
    g = np.moveaxis(g, 1, -1) if first else g
    n, h, w, c = g.shape
    gx = np.zeros((n, h * w, c), dtype=np.float64)
    for i in range(n):
        for index, valid, ws, _ in _map_plan((h, w), coords[i], order, fill_mode):
            wt = _product(ws, g.dtype)
            contrib = g[i] if wt is None else wt[..., None] * g[i]
            if valid is not None:
                contrib = contrib * valid[..., None]
            np.add.at(gx[i], index.ravel(), contrib.reshape(-1, c))
    gx = gx.reshape(n, h, w, c).astype(g.dtype)
    return np.moveaxis(gx, -1, 1) if first else gx


def _spatial(shape, data_format):
    return (shape[2], shape[3]) if data_format == "channels_first" else (shape[1], shape[2])


def _check_elastic(attrs, x):
    _check_images(x)
    if attrs.get("interpolation", "bilinear") not in _ORDERS:
        raise ShapeError(
            f"interpolation must be one of {tuple(_ORDERS)}, got {attrs['interpolation']!r}"
        )
    if attrs.get("fill_mode", "reflect") not in AFFINE_FILL_MODES:
        raise ShapeError(
            f"fill_mode must be one of {AFFINE_FILL_MODES}, got {attrs['fill_mode']!r}"
        )


class ElasticTransform(Op):
    """``keras.ops.image.elastic_transform`` on a 4-D batch: outputs ``(y, coords)``,
    ``coords`` the ``(batch, 2, height, width)`` points each output pixel read (the VJP
    scatters the gradient back through them). Draws from the context's generator, or
    from ``seed`` when it is an int."""

    name = "elastic_transform"
    n_outputs = 2
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, x):
        _check_elastic(attrs, x)
        h, w = _spatial(x.shape, attrs.get("data_format", "channels_last"))
        return TensorType(x.shape, x.dtype), TensorType((x.shape[0], 2, h, w), x.dtype)

    def kernel(self, attrs, x, *, ctx):
        seed = attrs.get("seed")
        rng = ctx.rng if seed is None else np.random.default_rng(int(seed))
        fmt = attrs.get("data_format", "channels_last")
        h, w = _spatial(x.shape, fmt)
        coords = _elastic_coords(
            rng, x.shape[0], h, w, attrs.get("alpha", 20.0), attrs.get("sigma", 5.0), x.dtype
        )
        y = _sample_batch(
            x,
            coords,
            _ORDERS[attrs.get("interpolation", "bilinear")],
            attrs.get("fill_mode", "reflect"),
            attrs.get("fill_value", 0.0),
            fmt,
        )
        return y, coords

    def vjp(self, attrs, xs, ys, gys, needs, out):
        if not needs[0]:
            return (None,)
        return (
            _sample_batch_vjp(
                gys[0],
                ys[1],
                _ORDERS[attrs.get("interpolation", "bilinear")],
                attrs.get("fill_mode", "reflect"),
                attrs.get("data_format", "channels_last"),
            ),
        )

    def lower(self, attrs, b, x):
        raise no_onnx("elastic_transform", " (it draws a random field)")


def elastic_transform(
    images,
    alpha=20.0,
    sigma=5.0,
    interpolation="bilinear",
    fill_mode="reflect",
    fill_value=0.0,
    seed=None,
    data_format=None,
):
    """``keras.ops.image.elastic_transform``: each image resampled at its pixel grid
    displaced by ``alpha`` times a Gaussian noise field (of standard deviation ``sigma``)
    blurred by a Gaussian of ``sigma``. ``seed``: None (graphc's generator) or an int
    (the same field every call). Differentiable in the images."""
    if interpolation not in _ORDERS:
        raise ArgumentValueError(
            "Invalid value for argument `interpolation`. Expected of one "
            f"{set(_ORDERS)}. Received: interpolation={interpolation}"
        )
    if fill_mode not in AFFINE_FILL_MODES:
        raise ArgumentValueError(
            "Invalid value for argument `fill_mode`. Expected of one "
            f"{set(AFFINE_FILL_MODES)}. Received: fill_mode={fill_mode}"
        )
    if seed is not None and not (
        isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
    ):
        raise ArgumentValueError(
            f"elastic_transform's seed must be None or an int; received {seed!r} (a "
            "SeedGenerator: draw an int from it first)"
        )
    images, single = _batched_images(images, "elastic_transform")
    images, back = _float_images(images)
    y = apply(
        "elastic_transform",
        [images],
        alpha=float(alpha),
        sigma=float(sigma),
        interpolation=interpolation,
        fill_mode=fill_mode,
        fill_value=float(fill_value),
        seed=None if seed is None else int(seed),
        data_format=standardize_data_format(data_format),
    )[0]
    return _unbatch(_restore_dtype(y, back), single)


class RandomElasticTransform(Op):
    """``keras.layers.RandomElasticTransform`` in training: per batch a distortion factor
    ``d`` drawn in ``scale`` (``alpha = 0.1 d max(h, w)``, ``sigma = 0.05 d min(h, w)``),
    per image a probability drawn in ``factor`` of being transformed, then the values
    clipped to ``value_range``; the identity outside training. No gradient to its input
    (it stands on the data)."""

    name = "random_elastic_transform"
    training_only = True
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        _check_elastic(attrs, x)
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        if not (ctx.training or attrs.get("force_training")):
            return x
        f, s = attrs.get("factor", (0.0, 1.0)), attrs.get("scale", (0.0, 1.0))
        if s[1] == 0 or f[1] == 0:
            return x
        rng, n = ctx.rng, x.shape[0]
        probability = rng.uniform(f[0], f[1], n)
        apply_transform = rng.uniform(0.0, 1.0, n) < probability
        d = np.float32(rng.uniform(s[0], s[1]))
        fmt = attrs.get("data_format", "channels_last")
        h, w = _spatial(x.shape, fmt)
        alpha = np.float32(max(h, w)) * (np.float32(0.1) * d)
        sigma = np.float32(min(h, w)) * (np.float32(0.05) * d)
        coords = _elastic_coords(rng, n, h, w, alpha, sigma, x.dtype)
        y = _sample_batch(
            x,
            coords,
            _ORDERS[attrs.get("interpolation", "bilinear")],
            attrs.get("fill_mode", "reflect"),
            attrs.get("fill_value", 0.0),
            fmt,
        )
        y = np.where(apply_transform[:, None, None, None], y, x)
        lo, hi = attrs.get("value_range", (0.0, 255.0))
        return np.clip(y, lo, hi).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        if needs[0]:
            raise NotDifferentiableError(
                f"random_elastic_transform ({attrs.get('layer', 'the layer')!r}): no gradient "
                "flows through a random image augmentation to its input in graphc. Put the "
                "augmentation first in the model, on the data (as Keras recommends)."
            )
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("Identity", x)


def random_elastic_transform(x, training=None, **attrs):
    """Record (or run) ``RandomElasticTransform``'s op (see its class)."""
    if training:
        attrs["force_training"] = True
    return apply("random_elastic_transform", [x], **attrs)


# ---- scale_and_translate -------------------------------------------------------------------
_SCALE_METHODS = ("linear", "bilinear", "trilinear", "triangle", "cubic", "bicubic", "tricubic",
                  "lanczos3", "lanczos5")  # fmt: skip


def _kernel_fn(method, ops_):
    """Keras's resampling kernels on ``x >= 0``, written with ``ops_`` (NumPy or graphc:
    comparisons by name, as ``!=`` on a symbolic tensor is Python's)."""
    ge, gt = ops_.greater_equal, ops_.greater
    if method == "linear":
        return lambda x: ops_.maximum(0.0, 1.0 - ops_.abs(x))
    if method == "cubic":

        def cubic(x):
            out = ((1.5 * x - 2.5) * x) * x + 1.0
            out = ops_.where(ge(x, 1.0), ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
            return ops_.where(ge(x, 2.0), 0.0, out)

        return cubic
    radius = 3.0 if method == "lanczos3" else 5.0

    def lanczos(x):
        y = radius * ops_.sin(np.pi * x) * ops_.sin(np.pi * x / radius)
        safe = ops_.where(ops_.not_equal(x, 0.0), np.pi**2 * x**2, 1.0)
        out = ops_.where(gt(x, 1e-3), y / safe, 1.0)
        return ops_.where(gt(x, radius), 0.0, out)

    return lanczos


def _weight_mat(ops_, n_in, n_out, scale, translation, kernel, antialias, dtype):
    """Keras's ``_compute_weight_mat``: ``(n_in, n_out)`` resampling weights."""
    inv_scale = 1.0 / scale
    kernel_scale = ops_.maximum(inv_scale, 1.0) if antialias else 1.0
    sample_f = (np.arange(n_out, dtype=dtype) + 0.5) * inv_scale - translation * inv_scale - 0.5
    row = ops_.expand_dims(sample_f, 0)
    x = ops_.abs(row - np.arange(n_in, dtype=dtype)[:, None]) / kernel_scale
    weights = kernel(x)
    total = ops_.sum(weights, axis=0, keepdims=True)
    eps = 1000.0 * float(np.finfo(np.float32).eps)
    safe = ops_.where(ops_.not_equal(total, 0.0), total, 1.0)
    weights = ops_.where(ops_.greater(ops_.abs(total), eps), weights / safe, 0.0)
    inside = ops_.logical_and(ops_.greater_equal(row, -0.5), ops_.less_equal(row, n_in - 0.5))
    return ops_.where(inside, weights, 0.0)


class _NumpyOps:
    maximum = staticmethod(np.maximum)
    abs = staticmethod(np.abs)
    where = staticmethod(np.where)
    sin = staticmethod(np.sin)
    logical_and = staticmethod(np.logical_and)
    greater = staticmethod(np.greater)
    greater_equal = staticmethod(np.greater_equal)
    less_equal = staticmethod(np.less_equal)
    not_equal = staticmethod(np.not_equal)
    expand_dims = staticmethod(np.expand_dims)

    @staticmethod
    def sum(x, axis, keepdims):
        return np.sum(x, axis=axis, keepdims=keepdims)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):  # fmt: skip
    """``keras.ops.image.scale_and_translate``: along each of ``spatial_dims``, the
    output pixel at ``(i + 0.5)`` samples the input at ``((i + 0.5) - translation) /
    scale - 0.5`` with a linear, Keys cubic or Lanczos (radius 3 or 5) kernel, widened
    when shrinking if ``antialias``; points outside the input give 0."""
    if method not in _SCALE_METHODS:
        raise ArgumentValueError(
            "Invalid value for argument `method`. Expected of one "
            f"{set(_SCALE_METHODS) - {'triangle'}}. Received: method={method}"
        )
    if method in ("linear", "bilinear", "trilinear", "triangle"):
        method = "linear"
    elif method in ("cubic", "bicubic", "tricubic"):
        method = "cubic"
    symbolic_params = is_symbolic(scale) or is_symbolic(translation)
    if symbolic_params:
        from graphc import ops as ops_

        dtype = "float32"
    else:
        scale, translation = np.asarray(scale), np.asarray(translation)
        dtype = np.result_type(scale.dtype, translation.dtype)
        if not _is_float(dtype):
            dtype = np.dtype("float32")
        scale, translation = scale.astype(dtype), translation.astype(dtype)
        ops_ = _NumpyOps
    if not is_symbolic(images):
        images = np.asarray(images)
    if len(spatial_dims) == 0:
        return images
    in_dtype = _dt(images)
    rank = len(images.shape)
    output = images
    if not _is_float(in_dtype):
        output = cast(images, "float32")
    kernel = _kernel_fn(method, ops_)
    for i, d in enumerate(spatial_dims):
        d = d % rank
        m, n = images.shape[d], int(output_shape[d])
        if m is None:
            raise ArgumentValueError(
                f"scale_and_translate needs static sizes along spatial_dims; received "
                f"images of shape {tuple(images.shape)}"
            )
        w = _weight_mat(ops_, int(m), n, scale[i], translation[i], kernel, antialias, dtype)
        if not is_symbolic(w):
            w = np.asarray(w).astype(_dt(output))
        elif _dt(w) != _dt(output):
            w = cast(w, _dt(output))
        y = apply("matmul", [transpose(output, _perm_to_last(rank, d)), w])
        output = transpose(y, _perm_from_last(rank, d))
    if not _is_float(in_dtype):
        from graphc.ops.composite import min as _min
        from graphc.ops.numeric import max as _max

        as_float = cast(images, "float32")
        lo, hi = _min(as_float), _max(as_float)
        output = apply("round", [output])
        output = apply("maximum", [apply("minimum", [output, hi]), lo])
        output = cast(output, in_dtype)
    return output


def _perm_to_last(rank, d):
    return tuple(a for a in range(rank) if a != d) + (d,)


def _perm_from_last(rank, d):
    perm = list(range(rank - 1))
    perm.insert(d, rank - 1)
    return tuple(perm)


# ---- sobel_edges and ssim ----------------------------------------------------------------
def sobel_edges(images, data_format=None):
    """``keras.ops.image.sobel_edges`` (its torch backend: zero padding): for a 4-D batch,
    ``(..., 2)`` with ``[dy, dx]``, the 3x3 Sobel responses (cross-correlation) along the
    height and the width; channels first gives ``(batch, channels, height, width, 2)``."""
    if len(images.shape) != 4:
        raise ArgumentValueError(
            "Invalid images rank: expected rank 4 (batch of images). Received: "
            f"images.shape={list(images.shape)}"
        )
    if not _is_float(_dt(images)):
        raise ArgumentValueError(f"sobel_edges takes float images; received {_dt(images)}")
    first = standardize_data_format(data_format) == "channels_first"
    x = transpose(images, (0, 2, 3, 1)) if first else images
    h, w = _static(x, 1, "sobel_edges"), _static(x, 2, "sobel_edges")
    diff, smooth = np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])
    dy = _along(_along(x, 1, _band(h, diff)), 2, _band(w, smooth))
    dx = _along(_along(x, 1, _band(h, smooth)), 2, _band(w, diff))
    edges = stack([dy, dx], axis=-1)  # (B, H, W, C, 2)
    return transpose(edges, (0, 3, 1, 2, 4)) if first else edges


def _valid_band(n, kernel):
    """The ``(n - k + 1) x n`` matrix of a "valid" correlation with ``kernel``."""
    k = len(kernel)
    m = np.zeros((max(n - k + 1, 0), n))
    for i in range(m.shape[0]):
        m[i, i : i + k] = kernel
    return m


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):  # fmt: skip
    """``keras.ops.image.ssim``: the mean structural similarity of each image pair
    (Gaussian window ``filter_size`` of ``filter_sigma``, "valid"), averaged over the
    channels: ``(batch,)`` for 4-D images, a scalar for 3-D."""
    from graphc.ops.arrays import mean

    for image, what in ((image1, "image1"), (image2, "image2")):
        if len(image.shape) not in (3, 4):
            raise ArgumentValueError(
                f"Invalid {what} rank: expected rank 3 (single image) or rank 4 (batch of "
                f"images). Received input with shape: {what}.shape={tuple(image.shape)}"
            )
    out_dtype = _dt(image1)
    xs = []
    for image in (image1, image2):
        if not is_symbolic(image):
            image = np.asarray(image)
        if not _is_float(_dt(image)):
            image = cast(image, "float32")
        xs.append(image)
    x1, back = _nhwc(xs[0], data_format, "ssim")
    x2, _ = _nhwc(xs[1], data_format, "ssim")
    h, w = _static(x1, 1, "ssim"), _static(x1, 2, "ssim")
    g = _gauss(int(filter_size), float(filter_sigma))
    bh, bw = _valid_band(h, g), _valid_band(w, g)

    def blur(x):
        return _along(_along(x, 1, bh), 2, bw)

    def mul(a, b):
        return apply("multiply", [a, b])

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu1, mu2 = blur(x1), blur(x2)
    mu1_sq, mu2_sq, mu12 = mul(mu1, mu1), mul(mu2, mu2), mul(mu1, mu2)
    s1 = apply("subtract", [blur(mul(x1, x1)), mu1_sq])
    s2 = apply("subtract", [blur(mul(x2, x2)), mu2_sq])
    s12 = apply("subtract", [blur(mul(x1, x2)), mu12])
    num = mul(apply("add", [mul(mu12, 2.0), c1]), apply("add", [mul(s12, 2.0), c2]))
    den = mul(
        apply("add", [apply("add", [mu1_sq, mu2_sq]), c1]),
        apply("add", [apply("add", [s1, s2]), c2]),
    )
    per_image = mean(apply("divide", [num, den]), axis=(1, 2, 3))
    if len(image1.shape) == 3:
        per_image = squeeze(per_image, 0)
    if _dt(per_image) != out_dtype:
        per_image = cast(per_image, out_dtype)
    return per_image


# ---- extract_patches_3d ----------------------------------------------------------------------
def _triple(v, what):
    if isinstance(v, (int, np.integer)):
        return (int(v),) * 3
    v = tuple(int(a) for a in v)
    if len(v) != 3:
        raise ArgumentValueError(f"Invalid `{what}` argument. Got: {v}")
    return v


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):  # fmt: skip
    """``keras.ops.image.extract_patches_3d``: each ``size`` patch of a volume flattened
    into the channels, ``(batch, d, h, w, pd * ph * pw * channels)`` ordered (depth, row,
    column, channel) as Keras's identity-kernel convolution gives them."""
    from graphc.ops.padding import pad

    if not isinstance(size, (int, np.integer)) and len(size) != 3:
        raise ArgumentTypeError(
            "Invalid `size` argument. Expected an int or a tuple of length 3. "
            f"Received: size={size}"
        )
    size = _triple(size, "size")
    strides = size if strides is None else _triple(strides, "strides")
    dilation = _triple(dilation_rate, "dilation_rate")
    if padding not in ("valid", "same"):
        raise ArgumentValueError(f'padding must be "valid" or "same"; received {padding!r}')
    rank = len(volumes.shape)
    if rank not in (4, 5):
        raise ArgumentValueError(
            "extract_patches_3d takes volumes of rank 4 (one volume) or 5 (a batch); "
            f"received shape {tuple(volumes.shape)}"
        )
    if not is_symbolic(volumes):
        volumes = np.asarray(volumes)
    x = expand_dims(volumes, 0) if rank == 4 else volumes
    first = standardize_data_format(data_format) == "channels_first"
    if first:
        x = transpose(x, (0, 2, 3, 4, 1))
    dims = [_static(x, a, "extract_patches_3d") for a in (1, 2, 3)]
    ch = _static(x, 4, "extract_patches_3d")
    spans = [(k - 1) * r + 1 for k, r in zip(size, dilation)]
    if padding == "same":
        pads = [(0, 0)]
        for a in range(3):
            out = -(-dims[a] // strides[a])
            total = max((out - 1) * strides[a] + spans[a] - dims[a], 0)
            pads.append((total // 2, total - total // 2))
            dims[a] += total
        x = pad(x, pads + [(0, 0)])
    outs = [(n - e) // s + 1 for n, e, s in zip(dims, spans, strides)]
    # take along depth, then height, then width: (B, od, pd, oh, ph, ow, pw, C)
    for a in range(3):
        index = np.arange(outs[a])[:, None] * strides[a] + np.arange(size[a])[None, :] * dilation[a]
        x = take(x, index, axis=1 + 2 * a)
    x = transpose(x, (0, 1, 3, 5, 2, 4, 6, 7))
    batch = tuple(x.shape)[0]
    x = apply(
        "reshape", [x], shape=(-1 if batch is None else batch, *outs, int(np.prod(size)) * ch)
    )
    if first:
        x = transpose(x, (0, 4, 1, 2, 3))
    return squeeze(x, 0) if rank == 4 else x
