"""Op specs for graphc/ops/normalization.py (see the options at the top of test_ops.py)."""

_X = {"batched_inputs": (0,)}


def _ln(axis, scale=True, center=True, eps=1e-3):
    return {"axis": axis, "epsilon": eps, "scale": scale, "center": center}


SPECS = {
    "layer_norm": [
        (_ln((-1,)), [(3, 5), (5,), (5,)], (-2, 2), _X),
        (_ln((1, 2)), [(2, 3, 4), (3, 4), (3, 4)], (-2, 2), _X),
        # Not the trailing axes: no ONNX LayerNormalization, gamma reshaped to broadcast.
        (_ln((1,)), [(2, 3, 4), (3,), (3,)], (-2, 2), _X),
        (_ln((-1,), scale=False), [(3, 5), (5,)], (-2, 2), _X),
        (_ln((-1,), center=False), [(3, 5), (5,)], (-2, 2), _X),
        (_ln((2,), scale=False, center=False, eps=1e-7), [(2, 3, 4)], (-2, 2), _X),
    ],
    "l2_normalize": [
        ({"axis": (-1,), "epsilon": 1e-7}, [(3, 4)], (-2, 2)),
        ({"axis": (1,), "epsilon": 1e-7}, [(2, 3, 4)], (-2, 2)),
        ({"axis": (1, 2), "epsilon": 1e-7}, [(2, 3, 4)], (-2, 2)),
    ],
}
