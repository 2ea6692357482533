"""Op specs for graphc/ops/ctc.py (see the options at the top of test_ops.py)."""

import numpy as np

_NO_ONNX = (NotImplementedError, "has no ONNX lowering")


def _ctc_inputs(rng, dtype):
    target = np.array([[1, 2, 2], [3, 1, 0]], dtype="int32")
    output = rng.uniform(-1, 1, (2, 6, 4)).astype(dtype)
    return [target, output, np.array([3, 2], "int32"), np.array([6, 5], "int32")]


def _decode_inputs(rng, dtype):
    return [rng.uniform(-2, 2, (3, 5, 4)).astype(dtype), np.array([5, 4, 2], "int32")]


_LOSS = {"make": _ctc_inputs, "no_grad": (0, 2, 3), "onnx_raises": _NO_ONNX}
_DECODE = {
    "make": _decode_inputs,
    "no_grad": (0, 1),
    "vjp_raises": True,
    "onnx_raises": _NO_ONNX,
    "batch": False,
}

SPECS = {
    "ctc_loss": [
        ({"mask_index": 0}, [], (0, 1), _LOSS),
        ({"mask_index": 3}, [], (0, 1), _LOSS),
    ],
    "ctc_decode": [
        (
            {
                "strategy": "greedy",
                "beam_width": 100,
                "top_paths": 1,
                "merge_repeated": True,
                "mask_index": 0,
            },
            [],
            (0, 1),
            _DECODE,
        ),
        (
            {
                "strategy": "beam_search",
                "beam_width": 3,
                "top_paths": 2,
                "merge_repeated": True,
                "mask_index": 0,
            },
            [],
            (0, 1),
            _DECODE,
        ),
    ],
}
