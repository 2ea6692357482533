"""Cases of ``clahe`` (graphc/ops/clahe.py: deterministic, in training and inference;
its gradient is zero, the output being piecewise constant in the input) and ``aug_mix``
(graphc/ops/aug_mix.py: the identity outside training, also its ONNX lowering; no
gradient to the input)."""

_NO_GRAD = {"no_grad": (0,)}
_CLAHE = {"no_grad": (0,), "onnx_atol": 1e-4}


def _mix(fmt="channels_last", **attrs):
    return {
        "factor": (0.0, 0.3),
        "value_range": (0.0, 255.0),
        "num_chains": 3,
        "chain_depth": 3,
        "alpha": 1.0,
        "all_ops": True,
        "interpolation": "bilinear",
        "data_format": fmt,
        **attrs,
    }


SPECS = {
    "clahe": [
        ({"clip_limit": 4.0, "tile_grid_size": (2, 2)}, [(2, 8, 6, 3)], (0, 255), _CLAHE),
        # padded (symmetrically) to whole tiles, a fractional clip limit
        ({"clip_limit": 2.0, "tile_grid_size": (3, 4)}, [(2, 10, 9, 2)], (0, 255), _CLAHE),
        ({"clip_limit": 0.0, "tile_grid_size": (1, 1)}, [(1, 5, 4, 1)], (0, 255), _CLAHE),
    ],
    "aug_mix": [
        (_mix(), [(3, 6, 7, 3)], (0, 255), _NO_GRAD),
        (
            _mix("channels_first", all_ops=False, num_chains=2, chain_depth=4, alpha=0.5),
            [(3, 2, 6, 7)],
            (0, 255),
            _NO_GRAD,
        ),
    ],
}
