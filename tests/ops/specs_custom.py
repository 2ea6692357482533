"""Op spec for graphc/ops/custom.py (see the options at the top of test_ops.py): a
decorated log1pexp with its exact gradient."""

import graphc.ops as ops


def log1pexp(x):
    e = ops.exp(x)

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1, e))

    return ops.log(1 + e), grad


KEY = ops.custom_gradient(log1pexp).key

SPECS = {
    "custom_gradient": [
        (
            {"fn": KEY, "out_shape": (3, 4), "out_dtype": "float32"},
            [(3, 4)],
            (-2, 2),
            {"onnx_raises": (NotImplementedError, "has no ONNX lowering"), "batch": False},
        ),
    ],
}
