"""Cases of the noise layers' op (``random_noise``: GaussianNoise, GaussianDropout,
AlphaDropout), for tests/ops/test_ops.py. In training the VJP is the drawn multiplier
(the same generator seed draws the same noise, so central differences see a fixed map)."""

SPECS = {
    "random_noise": [
        ({"kind": "gaussian_noise", "stddev": 0.3}, [(3, 4)], (-2, 2)),
        ({"kind": "gaussian_dropout", "rate": 0.4}, [(3, 4)], (-2, 2)),
        ({"kind": "alpha_dropout", "rate": 0.3}, [(3, 4)], (-2, 2)),
        ({"kind": "alpha_dropout", "rate": 0.5, "noise_shape": (None, 1)}, [(3, 4)], (-2, 2)),
    ],
}
