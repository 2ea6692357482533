"""Op specs for graphc/ops/padding.py: pad (see the options at the top of test_ops.py)."""

SPECS = {
    "pad": [
        ({"pads": ((0, 0), (1, 2)), "value": 0.0}, [(3, 4)], (-2, 2)),
        ({"pads": ((0, 0), (0, 0), (1, 0), (0, 1)), "value": -1.5}, [(2, 3, 4, 2)], (-2, 2)),
    ],
}
