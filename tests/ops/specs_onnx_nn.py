"""Op specs for the ops ONNX import added: attention, linear_attention, rotary_embedding
(graphc/ops/attention.py), resize and grid_sample (graphc/ops/image.py)."""

import numpy as np


def _uniform(*shapes, lo=-1.0, hi=1.0):
    def make(rng, dtype):
        return [rng.uniform(lo, hi, s).astype(dtype) for s in shapes]

    return make


def _with(make, *extra):
    """``make``'s arrays and then fixed extra inputs (masks, ids, caches)."""

    def both(rng, dtype):
        return make(rng, dtype) + [e(rng, dtype) for e in extra]

    return both


def _bool_mask(shape):
    def make(rng, dtype):
        m = rng.random(shape) < 0.7
        m[..., 0] = True
        return m

    return make


def _float_mask(shape):
    def make(rng, dtype):
        return rng.uniform(-1, 1, shape).astype(dtype)

    return make


def _cos(rng, dtype):
    return np.cos(np.linspace(0, 3, 12).reshape(6, 2)).astype(dtype)


def _sin(rng, dtype):
    return np.sin(np.linspace(0, 3, 12).reshape(6, 2)).astype(dtype)


def _positions(rng, dtype):
    return np.array([[0, 2, 4], [1, 3, 5]], dtype=np.int64)


def _grid(n, out, nd, lo=-1.1, hi=1.1):
    def make(rng, dtype):
        return rng.uniform(lo, hi, (n, *out, nd)).astype(dtype)

    return make


_ATT = {"min_opset": 23, "onnx_reference": True, "batch": False}

SPECS = {
    "attention": [
        # 4-D, causal, a float mask: gradients for Q, K, V and the mask
        (
            {"is_causal": 1, "has_mask": True},
            [],
            (-1, 1),
            {
                **_ATT,
                "make": _with(
                    _uniform((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3)), _float_mask((3, 5))
                ),
            },
        ),
        # 3-D grouped-query attention with a softcap, a boolean mask and past key/value
        (
            {
                "q_num_heads": 4,
                "kv_num_heads": 2,
                "softcap": 2.0,
                "has_mask": True,
                "has_past": True,
                "scale": 0.3,
            },
            [],
            (-1, 1),
            {
                **_ATT,
                "no_grad": (3,),
                "make": _with(
                    _uniform((2, 3, 8), (2, 2, 4), (2, 2, 6)),
                    _bool_mask((3, 4)),
                    _float_mask((2, 2, 2, 2)),
                    _float_mask((2, 2, 2, 3)),
                ),
            },
        ),
        # qk output after softmax, a sliding window
        (
            {"qk_matmul_output_mode": 3, "left_window_size": 1, "right_window_size": 1},
            [],
            (-1, 1),
            {**_ATT, "min_opset": 25, "make": _uniform((1, 2, 4, 3), (1, 2, 4, 3), (1, 2, 4, 2))},
        ),
    ],
    "linear_attention": [
        (
            {"q_num_heads": 2, "kv_num_heads": 1, "update_rule": "gated_delta", "has_past": True},
            [],
            (-1, 1),
            {
                "min_opset": 27,
                "onnx_reference": True,
                "vjp_raises": True,
                "batched_inputs": (0, 1, 2, 3, 4, 5),
                "make": _with(
                    _uniform((2, 3, 4), (2, 3, 2), (2, 3, 3)),
                    _float_mask((2, 1, 2, 3)),
                    _float_mask((2, 3, 1)),
                    lambda rng, dtype: rng.uniform(0, 1, (2, 3, 1)).astype(dtype),
                ),
            },
        ),
    ],
    "rotary_embedding": [
        (
            {"interleaved": 0},
            [],
            (-1, 1),
            {
                "min_opset": 23,
                "onnx_reference": True,
                "no_grad": (1, 2, 3),
                "make": _with(_uniform((2, 2, 3, 4)), _cos, _sin, _positions),
            },
        ),
        (
            {"interleaved": 1, "num_heads": 2, "rotary_embedding_dim": 4},
            [],
            (-1, 1),
            {
                "min_opset": 23,
                "onnx_reference": True,
                "no_grad": (1, 2, 3),
                "make": _with(_uniform((2, 3, 12)), _cos, _sin, _positions),
            },
        ),
    ],
    "resize": [
        (
            {"scales": (1.0, 1.0, 2.0, 1.5), "mode": "linear"},
            [(2, 2, 3, 4)],
            (-1, 1),
            {"onnx_rtol": 1e-4},
        ),
        (
            {
                "sizes": (5, 3),
                "axes": (2, 3),
                "mode": "cubic",
                "coordinate_transformation_mode": "align_corners",
            },
            [(2, 1, 4, 6)],
            (-1, 1),
            {"min_opset": 18, "onnx_rtol": 1e-4, "onnx_atol": 1e-5},
        ),
        (
            {"scales": (1.0, 1.0, 0.6, 0.5), "mode": "linear", "antialias": 1},
            [(2, 1, 5, 6)],
            (-1, 1),
            {"min_opset": 18, "onnx_reference": True, "onnx_rtol": 1e-4},
        ),
        (
            {
                "sizes": (1, 2, 7, 5),
                "mode": "nearest",
                "nearest_mode": "round_prefer_ceil",
                "coordinate_transformation_mode": "asymmetric",
            },
            [(1, 2, 3, 4)],
            (-1, 1),
            {"batch": False},
        ),
    ],
    "grid_sample": [
        (
            {"mode": "linear", "padding_mode": "zeros"},
            [],
            (-1, 1),
            {
                "no_grad": (1,),
                "min_opset": 16,
                "make": _with(_uniform((2, 2, 3, 4)), _grid(2, (3, 2), 2)),
            },
        ),
        (
            {"mode": "cubic", "padding_mode": "reflection", "align_corners": 1},
            [],
            (-1, 1),
            {
                "no_grad": (1,),
                "min_opset": 20,
                "onnx_reference": True,
                "make": _with(_uniform((1, 2, 4, 4)), _grid(1, (2, 3), 2)),
            },
        ),
        (
            {"mode": "nearest", "padding_mode": "border"},
            [],
            (-1, 1),
            {
                "no_grad": (1,),
                "min_opset": 20,
                "onnx_reference": True,
                "make": _with(_uniform((1, 1, 3, 3, 3)), _grid(1, (2, 2, 2), 3, -0.95, 0.95)),
            },
        ),
    ],
}


def _boxes_and_scores(rng, dtype):
    corner = rng.uniform(0, 4, (2, 6, 2))
    size = rng.uniform(0.5, 2, (2, 6, 2))
    boxes = np.concatenate([corner, corner + size], axis=-1).astype(dtype)
    scores = rng.uniform(0, 1, (2, 3, 6)).astype(dtype)
    return [boxes, scores]


SPECS["non_max_suppression"] = [
    (
        {"max_output_boxes_per_class": 3, "iou_threshold": 0.3, "score_threshold": 0.2},
        [],
        (0, 1),
        {"no_grad": (0, 1), "batch": False, "make": _boxes_and_scores},
    ),
]

SPECS["dft"] = [
    ({"axis": 1}, [(2, 5, 3, 1)], (-1, 1), {"min_opset": 17, "onnx_reference": True}),
    (
        {"axis": 2, "inverse": 1, "dft_length": 6},
        [(2, 3, 4, 2)],
        (-1, 1),
        {"min_opset": 17, "onnx_reference": True},
    ),
    (
        {"axis": 1, "onesided": 1, "inverse": 1},
        [(2, 4, 3, 2)],
        (-1, 1),
        {"min_opset": 17, "onnx_reference": True},
    ),
    ({"axis": 1, "onesided": 1}, [(2, 6, 1)], (-1, 1), {"min_opset": 17, "onnx_reference": True}),
]


def _rois(rng, dtype):
    x = rng.uniform(-1, 1, (2, 2, 5, 6)).astype(dtype)
    rois = np.array([[0.5, 0.7, 4.2, 3.9], [1.1, 0.2, 5.3, 4.6], [0, 0, 2.5, 2.5]], dtype)
    return [x, rois, np.array([0, 1, 1], np.int64)]


SPECS["roi_align"] = [
    (
        {
            "mode": "avg",
            "output_height": 2,
            "output_width": 3,
            "sampling_ratio": 2,
            "spatial_scale": 1.0,
            "coordinate_transformation_mode": "output_half_pixel",
        },
        [],
        (-1, 1),
        {"no_grad": (1, 2), "batch": False, "min_opset": 16, "onnx_reference": True, "make": _rois},
    ),
    (
        {
            "mode": "avg",
            "output_height": 3,
            "output_width": 2,
            "sampling_ratio": 0,
            "spatial_scale": 0.8,
            "coordinate_transformation_mode": "half_pixel",
        },
        [],
        (-1, 1),
        {"no_grad": (1, 2), "batch": False, "min_opset": 16, "onnx_reference": True, "make": _rois},
    ),
]


def _unpool_inputs(rng, dtype):
    x = rng.uniform(-1, 1, (2, 2, 2, 2)).astype(dtype)
    pick = rng.integers(0, 2, (2, 2, 2, 2, 2))
    n, c, oh, ow = np.indices((2, 2, 2, 2))
    rows, cols = 2 * oh + pick[..., 0], 2 * ow + pick[..., 1]
    return [x, (((n * 2 + c) * 4 + rows) * 4 + cols).astype(np.int64)]


SPECS["max_unpool"] = [
    (
        {
            "unpooled": (4, 4),
            "shape": (2, 2, 5, 4),
            "kernel_shape": (2, 2),
            "strides": (2, 2),
            "pads": (0, 0, 0, 0),
        },
        [],
        (-1, 1),
        {"no_grad": (1,), "batch": False, "make": _unpool_inputs},
    ),
]
