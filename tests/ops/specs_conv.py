"""Op specs for the convolution family (see the options at the top of test_ops.py)."""

CL, CF = "channels_last", "channels_first"


def _conv(strides, padding, dilation, fmt=CL, groups=1):
    n = len(strides)
    assert len(dilation) == n
    return {
        "strides": strides,
        "padding": padding,
        "dilation_rate": dilation,
        "data_format": fmt,
        "groups": groups,
    }


def _dw(strides, padding, dilation, fmt=CL):
    """``ops.depthwise_conv``'s node: groups = C_in (3 or 2 channels below)."""
    return {
        **_conv(strides, padding, dilation, fmt, groups=2 if len(strides) == 1 else 3),
        "depthwise": True,
    }


# The kernel is a weight: only the input carries the batch dimension.
B = {"batched_inputs": [0]}

SPECS = {
    "conv": [
        # 2-D: (2, 5, 5, 3) inputs, 3x3 kernels, strides 1 and 2, valid and same, dilation 2
        (_conv((1, 1), "valid", (1, 1)), [(2, 5, 5, 3), (3, 3, 3, 4)], (-1, 1), B),
        (_conv((1, 1), "same", (1, 1)), [(2, 5, 5, 3), (3, 3, 3, 4)], (-1, 1), B),
        (_conv((2, 2), "valid", (1, 1)), [(2, 5, 5, 3), (3, 3, 3, 4)], (-1, 1), B),
        (_conv((2, 2), "same", (1, 1)), [(2, 6, 5, 3), (3, 3, 3, 4)], (-1, 1), B),
        (_conv((1, 1), "same", (2, 2)), [(2, 5, 5, 3), (3, 3, 3, 4)], (-1, 1), B),
        (_conv((1, 1), "valid", (2, 2)), [(2, 5, 6, 3), (2, 2, 3, 2)], (-1, 1), B),
        (_conv((2, 1), "same", (1, 1)), [(2, 5, 4, 2), (2, 3, 2, 3)], (-1, 1), B),
        # with the bias inside the op (one ONNX Conv with its B input)
        (_conv((1, 1), "same", (1, 1)), [(2, 5, 5, 3), (3, 3, 3, 4), (4,)], (-1, 1), B),
        # channels-first data, Keras's kernel layout all the same
        (_conv((2, 2), "same", (1, 1), CF), [(2, 3, 5, 5), (3, 3, 3, 4), (4,)], (-1, 1), B),
        # 1-D, including Conv1D's causal padding
        (_conv((1,), "valid", (1,)), [(2, 7, 3), (3, 3, 4)], (-1, 1), B),
        (_conv((2,), "same", (1,)), [(2, 7, 3), (4, 3, 2)], (-1, 1), B),
        (_conv((1,), "causal", (2,)), [(2, 7, 3), (3, 3, 2), (2,)], (-1, 1), B),
        (_conv((1,), "same", (1,), CF), [(2, 3, 6), (3, 3, 2)], (-1, 1), B),
        # strides and dilation together (Keras layers refuse it; the op does it)
        (_conv((2, 2), "same", (2, 2)), [(2, 6, 6, 2), (2, 2, 2, 2)], (-1, 1), B),
        # 3-D works too: the op is generic over the spatial rank
        (_conv((1, 2, 1), "same", (1, 1, 1)), [(1, 3, 4, 3, 2), (2, 2, 2, 2, 2)], (-1, 1), B),
        # grouped: kernel (*k, C_in // groups, C_out), output block g reads input block g
        (_conv((1, 1), "valid", (1, 1), groups=2), [(2, 5, 5, 4), (3, 3, 2, 6)], (-1, 1), B),
        (_conv((2, 2), "same", (1, 1), groups=2), [(2, 6, 5, 4), (3, 2, 2, 4), (4,)], (-1, 1), B),
        (
            _conv((1, 1), "same", (2, 2), CF, groups=3),
            [(2, 6, 5, 5), (2, 2, 2, 3), (3,)],
            (-1, 1),
            B,
        ),
        (_conv((2,), "same", (1,), groups=2), [(2, 7, 4), (3, 2, 4), (4,)], (-1, 1), B),
        # depthwise (one input channel per group; the elementwise path), multiplier 1 and 2
        (_conv((1, 1), "same", (1, 1), groups=3), [(2, 5, 5, 3), (3, 3, 1, 3)], (-1, 1), B),
        (_conv((2, 1), "valid", (1, 1), groups=3), [(2, 6, 5, 3), (3, 2, 1, 6), (6,)], (-1, 1), B),
        (_conv((1, 1), "same", (2, 2), groups=4), [(2, 6, 6, 4), (2, 3, 1, 8)], (-1, 1), B),
        (
            _conv((2, 2), "same", (1, 1), CF, groups=3),
            [(2, 3, 5, 6), (3, 3, 1, 6), (6,)],
            (-1, 1),
            B,
        ),
        (_conv((1,), "causal", (2,), groups=3), [(2, 7, 3), (3, 1, 3), (3,)], (-1, 1), B),
        (_conv((2,), "valid", (1,), CF, groups=2), [(2, 2, 7), (3, 1, 4)], (-1, 1), B),
        # depthwise=True: Keras's depthwise kernel (*k, C_in, depth_multiplier) as is
        (_dw((2, 1), "same", (1, 1)), [(2, 6, 5, 3), (3, 2, 3, 2), (6,)], (-1, 1), B),
        (_dw((1, 1), "valid", (2, 2), CF), [(2, 3, 6, 6), (2, 2, 3, 1)], (-1, 1), B),
        (_dw((2,), "same", (1,)), [(2, 7, 2), (3, 2, 3), (6,)], (-1, 1), B),
    ],
}
