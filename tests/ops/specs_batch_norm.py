"""Cases for the batch_norm op (see test_ops.py): x, gamma, beta, moving mean/variance."""


def _make(shape, channels):
    def make(rng, dtype):
        return [
            rng.uniform(-2, 2, shape).astype(dtype),
            rng.uniform(0.5, 1.5, channels).astype(dtype),
            rng.uniform(-0.5, 0.5, channels).astype(dtype),
            rng.uniform(-0.5, 0.5, channels).astype(dtype),
            rng.uniform(0.5, 1.5, channels).astype(dtype),
        ]

    return make


SPECS = {
    "batch_norm": [
        (
            {"axis": -1, "epsilon": 1e-3, "momentum": 0.99},
            [],
            (0, 0),
            {"make": _make((4, 3), 3), "no_grad": (3, 4), "batched_inputs": (0,)},
        ),
        (
            {"axis": -1, "epsilon": 1e-3, "momentum": 0.9},
            [],
            (0, 0),
            {"make": _make((2, 3, 4), 4), "no_grad": (3, 4), "batched_inputs": (0,)},
        ),
    ],
}
