"""Cases for the spectral_normalize op (see test_ops.py): kernel and vector_u.

Its VJP is a straight-through pass of the kernel's gradient by design (Keras *assigns*
the normalized kernel, and the gradient is taken at the assigned value), not the
derivative of the training-mode kernel, so the central-difference check is skipped
("no_grad"); tests/oracle/test_keras_spectral_normalization_parity.py checks training
against Keras instead."""


def _make(shape):
    def make(rng, dtype):
        return [
            rng.uniform(-1, 1, shape).astype(dtype),
            rng.uniform(-1, 1, (1, shape[-1])).astype(dtype),
        ]

    return make


_OPTIONS = {"no_grad": (0, 1), "batch": False}

SPECS = {
    "spectral_normalize": [
        ({"power_iterations": 1}, [], (0, 0), {"make": _make((4, 3)), **_OPTIONS}),
        ({"power_iterations": 2}, [], (0, 0), {"make": _make((2, 2, 3, 5)), **_OPTIONS}),
    ],
}
