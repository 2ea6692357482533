"""``keras.utils.bounding_boxes``: bounding-box formats and geometry on NumPy arrays.

The functions of Keras 3's ``keras.utils.bounding_boxes``
(``keras/src/layers/preprocessing/image_preprocessing/bounding_boxes``), with Keras's
arguments, defaults and formulas, on NumPy arrays in and out. Formats (case-insensitive):
``"xyxy"`` [left, top, right, bottom], ``"yxyx"``, ``"xywh"`` [left, top, width, height],
``"center_xywh"``, ``"center_yxhw"``, and the relative ``"rel_xyxy"``, ``"rel_yxyx"``,
``"rel_xywh"``, ``"rel_center_xywh"`` (coordinates divided by the image's width and
height).
"""

from __future__ import annotations

import math

import numpy as np

from graphc import config
from graphc.errors import ArgumentTypeError, ArgumentValueError

__all__ = [
    "affine_transform",
    "clip_to_image_size",
    "compute_ciou",
    "compute_iou",
    "convert_format",
    "crop",
    "decode_deltas_to_boxes",
    "encode_box_to_deltas",
    "pad",
]

SUPPORTED_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def _split(boxes):
    return [boxes[..., i : i + 1] for i in range(4)]


def _cat(parts):
    return np.concatenate(parts, axis=-1)


# ---- to xyxy ------------------------------------------------------------------------------
def _to_xyxy(boxes, source, height, width):
    a, b, c, d = _split(boxes)
    if source == "xyxy":
        return boxes
    if source == "yxyx":
        return _cat([b, a, d, c])
    if source == "xywh":
        return _cat([a, b, a + c, b + d])
    if source == "center_xywh":
        return _cat([a - c / 2.0, b - d / 2.0, a + c / 2.0, b + d / 2.0])
    if source == "center_yxhw":
        return _cat([b - d / 2.0, a - c / 2.0, b + d / 2.0, a + c / 2.0])
    if source == "rel_xyxy":
        return _cat([a * width, b * height, c * width, d * height])
    if source == "rel_yxyx":
        return _cat([b * width, a * height, d * width, c * height])
    if source == "rel_xywh":
        return _cat([a * width, b * height, (a + c) * width, (b + d) * height])
    # rel_center_xywh
    hw, hh = c / 2.0, d / 2.0
    return _cat([(a - hw) * width, (b - hh) * height, (a + hw) * width, (b + hh) * height])


def _from_xyxy(boxes, target, height, width):
    x1, y1, x2, y2 = _split(boxes)
    if target == "xyxy":
        return boxes
    if target == "yxyx":
        return _cat([y1, x1, y2, x2])
    if target == "xywh":
        return _cat([x1, y1, x2 - x1, y2 - y1])
    cx = x1 + ((x2 - x1) / 2.0)
    cy = y1 + ((y2 - y1) / 2.0)
    if target == "center_xywh":
        return _cat([cx, cy, x2 - x1, y2 - y1])
    if target == "center_yxhw":
        return _cat([cy, cx, y2 - y1, x2 - x1])
    if target == "rel_xyxy":
        return _cat([x1 / width, y1 / height, x2 / width, y2 / height])
    if target == "rel_yxyx":
        return _cat([y1 / height, x1 / width, y2 / height, x2 / width])
    if target == "rel_xywh":
        return _cat([x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height])
    # rel_center_xywh
    return _cat([cx / width, cy / height, (x2 - x1) / width, (y2 - y1) / height])


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """``boxes`` (an array ``(..., 4)``, or a dict whose ``"boxes"`` entry is one, which
    is converted in place and returned) from format ``source`` to ``target``, as
    ``dtype``. ``height`` and ``width`` (the image's) are needed when either format is
    relative."""
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(
            boxes["boxes"], source=source, target=target, height=height, width=width, dtype=dtype
        )
        return boxes
    boxes = np.asarray(boxes)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ArgumentValueError(
            "`boxes` must be a tensor with the last dimension of 4. "
            f"Received: boxes.shape={boxes.shape}"
        )
    if not isinstance(source, str) or not isinstance(target, str):
        raise ArgumentTypeError(
            f"convert_format() expects `source` and `target` as format names (strings); "
            f"received source={source!r}, target={target!r}. "
            f"Supported formats: {SUPPORTED_FORMATS}"
        )
    source = source.lower()
    target = target.lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ArgumentValueError(
            f"Invalid source or target format: received source={source!r}, "
            f"target={target!r}. Supported formats: {SUPPORTED_FORMATS}"
        )
    if (source.startswith("rel_") or target.startswith("rel_")) and (
        width is None or height is None
    ):
        raise ArgumentValueError(
            "convert_format() must receive `height` and `width` "
            "transforming between relative and absolute formats. "
            f"convert_format() received source=`{source}`, "
            f"target=`{target}`, "
            f"but height={height} and width={width}."
        )
    dtype = np.dtype(dtype)
    boxes = boxes.astype(dtype)
    if source == target:
        return boxes
    if width is not None:
        width = np.asarray(width).astype(dtype)
    if height is not None:
        height = np.asarray(height).astype(dtype)
    if source.startswith("rel_") and target.startswith("rel_"):
        source = source.replace("rel_", "", 1)
        target = target.replace("rel_", "", 1)
    return _from_xyxy(_to_xyxy(boxes, source, height, width), target, height, width)


def _area_xyxy(boxes):
    x1, y1, x2, y2 = _split(boxes)
    return (x2 - x1) * (y2 - y1)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """``bounding_boxes`` (a dict of ``"boxes"`` ``(N, 4)`` or ``(batch, N, 4)`` and
    optionally ``"labels"``) with the boxes clipped to the image (``[0, width] x [0,
    height]``, or ``[0, 1]`` for ``"rel_xyxy"``); a box left with no area gets the label
    -1. Returns a new dict."""
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError(
            "clip_to_image_size() supports bounding_box_format 'xyxy' and 'rel_xyxy' "
            f"(as Keras); received {bounding_box_format!r}. Convert the boxes with "
            "convert_format() first."
        )
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ArgumentValueError(
            "`height` and `width` must be set if `format='xyxy'`. "
            f"Received: height={height}, width={width}."
        )
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes:
        raise ArgumentTypeError(
            "clip_to_image_size() expects a dict with a 'boxes' entry (and optionally "
            f"'labels'); received {type(bounding_boxes).__name__}."
        )
    boxes = np.asarray(bounding_boxes["boxes"])
    labels = bounding_boxes.get("labels", None)
    if bounding_box_format == "xyxy":
        hi_x = np.asarray(width).astype(boxes.dtype)
        hi_y = np.asarray(height).astype(boxes.dtype)
        lo = 0
    else:
        hi_x = hi_y = 1.0
        lo = 0.0
    x1, y1, x2, y2 = _split(boxes)
    boxes = _cat(
        [np.clip(x1, lo, hi_x), np.clip(y1, lo, hi_y), np.clip(x2, lo, hi_x), np.clip(y2, lo, hi_y)]
    )
    if labels is not None:
        areas = np.squeeze(_area_xyxy(boxes), axis=-1)
        labels = np.where(areas > 0, np.asarray(labels), -1)
    result = bounding_boxes.copy()
    result["boxes"] = boxes
    if labels is not None:
        result["labels"] = labels
    return result


def _inverse_affine_matrix(
    center_x, center_y, angle, translate_x, translate_y, scale, shear_x, shear_y, height, width
):
    # Keras's BoundingBox._compute_inverse_affine_matrix (TF's _get_inverse_affine_matrix)
    dtype = angle.dtype
    batch_size = angle.shape[0]

    def f(v):
        return np.asarray(v).astype(dtype)

    angle, shear_x, shear_y = -angle, -f(shear_x), -f(shear_y)
    cx = f(center_x) * (width - 1)
    cy = f(center_y) * (height - 1)
    rot = angle * (1.0 / 180.0 * math.pi)
    tx = -f(translate_x) * (width - 1)
    ty = -f(translate_y) * (height - 1)
    sx = shear_x * (1.0 / 180.0 * math.pi)
    sy = shear_y * (1.0 / 180.0 * math.pi)
    cos_sy = np.cos(sy)
    tan_sx = np.tan(sx)
    rot_minus_sy = rot - sy
    cx_plus_tx = cx + tx
    cy_plus_ty = cy + ty
    a = np.cos(rot_minus_sy) / cos_sy
    b = a * tan_sx + np.sin(rot)
    c = -np.sin(rot_minus_sy) / cos_sy
    d = np.cos(rot) - c * tan_sx
    scale = f(scale)
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * cx_plus_tx - a1 * cy_plus_ty
    b2 = cy - b0 * cx_plus_tx - b1 * cy_plus_ty
    zeros = np.zeros([batch_size], dtype)
    ones = np.ones([batch_size], dtype)
    rows = [np.broadcast_to(v, (batch_size,)) for v in (a0, a1, a2, b0, b1, b2)]
    return np.stack([*rows, zeros, zeros, ones], axis=-1).reshape(batch_size, 3, 3)


def affine_transform(
    boxes,
    angle,
    translate_x,
    translate_y,
    scale,
    shear_x,
    shear_y,
    height,
    width,
    center_x=None,
    center_y=None,
    bounding_box_format="xyxy",
):
    """The boxes ``(batch, N, 4)`` (or ``(N, 4)``) moved by an affine transform of the
    image, one per batch entry: ``angle`` (degrees), ``translate_x``/``translate_y``
    (fractions of the image), ``scale``, ``shear_x``/``shear_y`` (degrees), each of shape
    ``(batch,)``, about the centre (``center_x``, ``center_y``, fractions; 0.5 by
    default). Each result is the axis-aligned box around the moved corners."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError(
            "affine_transform() supports bounding_box_format='xyxy' only (as Keras); "
            f"received {bounding_box_format!r}. Convert the boxes with convert_format()."
        )
    boxes = np.asarray(boxes)
    angle = np.asarray(angle)
    if angle.dtype.kind != "f":
        angle = angle.astype("float32")
    unbatched = boxes.ndim == 2
    if unbatched:
        boxes = boxes[None]
    if boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise ArgumentValueError(
            f"affine_transform() expects boxes of shape (N, 4) or (batch, N, 4); "
            f"received shape {boxes.shape}."
        )
    angle = np.atleast_1d(angle)
    batch_size, n_boxes = boxes.shape[0], boxes.shape[1]
    matrix = _inverse_affine_matrix(
        0.5 if center_x is None else center_x,
        0.5 if center_y is None else center_y,
        angle,
        translate_x,
        translate_y,
        scale,
        shear_x,
        shear_y,
        height,
        width,
    )
    boxes = boxes.astype(matrix.dtype)
    transposed = np.transpose(matrix[:, :2, :], [0, 2, 1])
    p = boxes
    points = np.stack(
        [p[..., 0], p[..., 1], p[..., 2], p[..., 1], p[..., 2], p[..., 3], p[..., 0], p[..., 3]],
        axis=-1,
    ).reshape(batch_size, n_boxes, 4, 2)
    points = np.concatenate([points, np.ones([batch_size, n_boxes, 4, 1], points.dtype)], axis=-1)
    moved = np.einsum("bnxy,byz->bnxz", points, transposed)
    out = np.concatenate([moved.min(axis=2), moved.max(axis=2)], axis=-1)
    return out[0] if unbatched else out


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """The boxes (``"xyxy"``) in the frame of the crop whose top-left corner is (``left``,
    ``top``) and size ``height`` x ``width``, clipped to it."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError(
            "crop() supports bounding_box_format='xyxy' only (as Keras); received "
            f"{bounding_box_format!r}. Convert the boxes with convert_format()."
        )
    x1, y1, x2, y2 = _split(np.asarray(boxes))
    return _cat(
        [
            np.clip(x1 - left, 0, width),
            np.clip(y1 - top, 0, height),
            np.clip(x2 - left, 0, width),
            np.clip(y2 - top, 0, height),
        ]
    )


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """The boxes (``"xyxy"``) moved by ``left`` and ``top``, as when the image is padded."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError(
            "pad() supports bounding_box_format='xyxy' only (as Keras); received "
            f"{bounding_box_format!r}. Convert the boxes with convert_format()."
        )
    x1, y1, x2, y2 = _split(np.asarray(boxes))
    return _cat([x1 + left, y1 + top, x2 + left, y2 + top])


def _variance(variance):
    if variance is None:
        return None
    variance = np.asarray(variance, dtype="float32")
    if variance.ndim == 0 or variance.shape[-1] != 4:
        raise ArgumentValueError(f"`variance` must be length 4, got {variance}")
    return variance


def _hw(image_shape):
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


def encode_box_to_deltas(
    anchors,
    boxes,
    anchor_format,
    box_format,
    encoding_format="center_yxhw",
    variance=None,
    image_shape=None,
):
    """The deltas that move ``anchors`` ``(N, 4)`` onto ``boxes`` ``(N, 4)`` or ``(B, N,
    4)``: centre offsets over the anchor's size and log size ratios, in
    ``encoding_format`` (``"center_yxhw"`` or ``"center_xywh"``), divided by
    ``variance`` if given. ``image_shape`` ``(height, width, channels)`` serves the
    relative formats."""
    variance = _variance(variance)
    if encoding_format not in ["center_xywh", "center_yxhw"]:
        raise ArgumentValueError(
            "`encoding_format` should be one of 'center_xywh' or "
            f"'center_yxhw', got {encoding_format}"
        )
    height, width = _hw(image_shape)
    enc_anchors = convert_format(
        anchors, source=anchor_format, target=encoding_format, height=height, width=width
    )
    boxes = convert_format(
        boxes, source=box_format, target=encoding_format, height=height, width=width
    )
    eps = config.epsilon()
    anchor_dims = np.maximum(enc_anchors[..., 2:], eps)
    box_dims = np.maximum(boxes[..., 2:], eps)
    deltas = np.concatenate(
        [
            (boxes[..., :2] - enc_anchors[..., :2]) / anchor_dims,
            np.log(box_dims / anchor_dims),
        ],
        axis=-1,
    )
    if variance is not None:
        deltas = deltas / variance
    return deltas


def decode_deltas_to_boxes(
    anchors,
    boxes_delta,
    anchor_format,
    box_format,
    encoded_format="center_yxhw",
    variance=None,
    image_shape=None,
):
    """The boxes, in ``box_format``, that ``boxes_delta`` (``encode_box_to_deltas``'s
    output) describes relative to ``anchors``. ``anchors`` and ``boxes_delta`` may both
    be dicts (one entry per feature level): the result is then a dict too."""
    variance = _variance(variance)
    if encoded_format not in ["center_xywh", "center_yxhw"]:
        raise ArgumentValueError(
            f"`encoded_format` should be 'center_xywh' or 'center_yxhw', "
            f"but got '{encoded_format}'."
        )
    height, width = _hw(image_shape)

    def decode(anchor, delta):
        enc = convert_format(
            anchor, source=anchor_format, target=encoded_format, height=height, width=width
        )
        delta = np.asarray(delta)
        if variance is not None:
            delta = delta * variance
        box = np.concatenate(
            [
                delta[..., :2] * enc[..., 2:] + enc[..., :2],
                np.exp(delta[..., 2:]) * enc[..., 2:],
            ],
            axis=-1,
        )
        return convert_format(
            box, source=encoded_format, target=box_format, height=height, width=width
        )

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {lvl: decode(anchor, boxes_delta[lvl]) for lvl, anchor in anchors.items()}
    return decode(anchors, boxes_delta)


def compute_iou(
    boxes1,
    boxes2,
    bounding_box_format,
    use_masking=False,
    mask_val=-1,
    image_shape=None,
):
    """The pairwise intersection over union of ``boxes1`` ``(M, 4)`` or ``(B, M, 4)`` and
    ``boxes2`` ``(N, 4)`` or ``(B, N, 4)``: ``(M, N)`` or ``(B, M, N)``. With
    ``use_masking``, pairs where either box has all its coordinates below 0 get
    ``mask_val``."""
    boxes1, boxes2 = np.asarray(boxes1), np.asarray(boxes2)
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        if b.ndim not in (2, 3):
            raise ArgumentValueError(
                f"compute_iou() expects {name} to be batched, or to be unbatched. "
                f"Received len(boxes1.shape)={boxes1.ndim}, "
                f"len(boxes2.shape)={boxes2.ndim}. Expected either "
                f"len({name}.shape)=2 or len({name}.shape)=3."
            )
    if "rel" in bounding_box_format and image_shape is None:
        raise ArgumentValueError(
            "When using relative bounding box formats (e.g. `rel_yxyx`) "
            "the `image_shape` argument must be provided. "
            f"Received `image_shape`: {image_shape}"
        )
    height, width = _hw(image_shape)
    b1 = convert_format(boxes1, bounding_box_format, "yxyx", height=height, width=width)
    b2 = convert_format(boxes2, bounding_box_format, "yxyx", height=height, width=width)
    ymin1, xmin1, ymax1, xmax1 = _split(b1)
    ymin2, xmin2, ymax2, xmax2 = (np.swapaxes(v, -1, -2) for v in _split(b2))
    ih = np.maximum(np.float32(0), np.minimum(ymax1, ymax2) - np.maximum(ymin1, ymin2))
    iw = np.maximum(np.float32(0), np.minimum(xmax1, xmax2) - np.maximum(xmin1, xmin2))
    inter = ih * iw
    area1 = (ymax1 - ymin1) * (xmax1 - xmin1)  # (..., M, 1)
    area2 = (ymax2 - ymin2) * (xmax2 - xmin2)  # (..., 1, N)
    union = area1 + area2 - inter
    res = inter / (union + config.epsilon())
    if not use_masking:
        return res
    mask1 = b1.max(axis=-1, keepdims=True) < 0.0
    mask2 = np.swapaxes(b2.max(axis=-1, keepdims=True) < 0.0, -1, -2)
    return np.where(mask1 | mask2, np.asarray(mask_val).astype(res.dtype), res)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """The Complete IoU of ``boxes1`` and ``boxes2`` box by box (shapes ``(..., 4)``
    that broadcast): the IoU less the squared distance of the centres over the squared
    diagonal of the enclosing box, less the aspect-ratio term."""
    if "rel" in bounding_box_format:
        raise ArgumentValueError(
            "compute_ciou() does not support relative bounding box formats (as Keras); "
            f"received {bounding_box_format!r}. Convert the boxes to an absolute format "
            "with convert_format() first."
        )
    height, width = _hw(image_shape)
    b1 = convert_format(boxes1, bounding_box_format, "xyxy", height=height, width=width)
    b2 = convert_format(boxes2, bounding_box_format, "xyxy", height=height, width=width)
    eps = config.epsilon()
    x_min1, y_min1, x_max1, y_max1 = _split(b1)
    x_min2, y_min2, x_max2, y_max2 = _split(b2)
    width_1 = x_max1 - x_min1
    height_1 = y_max1 - y_min1 + eps
    width_2 = x_max2 - x_min2
    height_2 = y_max2 - y_min2 + eps
    inter = np.maximum(np.minimum(x_max1, x_max2) - np.maximum(x_min1, x_min2), 0) * np.maximum(
        np.minimum(y_max1, y_max2) - np.maximum(y_min1, y_min2), 0
    )
    union = width_1 * height_1 + width_2 * height_2 - inter + eps
    iou = np.squeeze(inter / (union + eps), axis=-1)
    convex_w = np.maximum(x_max1, x_max2) - np.minimum(x_min1, x_min2)
    convex_h = np.maximum(y_max1, y_max2) - np.minimum(y_min1, y_min2)
    diag2 = np.squeeze(convex_w**2 + convex_h**2 + eps, axis=-1)
    centers2 = np.squeeze(
        ((x_min1 + x_max1) / 2 - (x_min2 + x_max2) / 2) ** 2
        + ((y_min1 + y_max1) / 2 - (y_min2 + y_max2) / 2) ** 2,
        axis=-1,
    )
    v = np.squeeze(
        (4 / math.pi**2)
        * np.power(np.arctan(width_2 / height_2) - np.arctan(width_1 / height_1), 2),
        axis=-1,
    )
    alpha = v / (v - iou + (1 + eps))
    return iou - (centers2 / diag2 + v * alpha)
