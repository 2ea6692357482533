"""Op specs for the transposed convolution (see the options at the top of test_ops.py).

The kernel is Keras's ConvNDTranspose layout ``(*kernel_size, filters, C_in)``."""

CL, CF = "channels_last", "channels_first"


def _ct(strides, padding, output_padding=None, dilation=None, fmt=CL):
    n = len(strides)
    return {
        "strides": strides,
        "padding": padding,
        "output_padding": output_padding,
        "dilation_rate": dilation or (1,) * n,
        "data_format": fmt,
    }


# The kernel is a weight: only the input carries the batch dimension.
B = {"batched_inputs": [0]}

SPECS = {
    "conv_transpose": [
        # 2-D, strides 1/2/3, valid and same (the DLwP segmentation model's 3x3 stride 2)
        (_ct((1, 1), "valid"), [(2, 3, 3, 2), (3, 3, 4, 2)], (-1, 1), B),
        (_ct((1, 1), "same"), [(2, 3, 4, 2), (3, 3, 4, 2)], (-1, 1), B),
        (_ct((2, 2), "same"), [(2, 3, 3, 2), (3, 3, 3, 2), (3,)], (-1, 1), B),
        (_ct((2, 2), "valid"), [(2, 3, 2, 2), (3, 2, 3, 2)], (-1, 1), B),
        (_ct((3, 2), "same"), [(1, 2, 3, 2), (2, 3, 2, 2)], (-1, 1), B),
        # valid with stride > kernel: Keras appends zeros (ONNX's output_padding)
        (_ct((3, 3), "valid"), [(1, 2, 2, 2), (2, 1, 2, 2), (2,)], (-1, 1), B),
        # explicit output_padding, both paddings
        (_ct((2, 2), "same", (1, 0)), [(2, 3, 3, 2), (3, 3, 2, 2)], (-1, 1), B),
        (_ct((3, 2), "valid", (2, 1)), [(1, 2, 3, 2), (2, 2, 2, 2), (2,)], (-1, 1), B),
        # same with output_padding past the full output (kernel 1)
        (_ct((2, 2), "same", (1, 1)), [(1, 3, 2, 2), (1, 1, 2, 2)], (-1, 1), B),
        # dilation
        (_ct((1, 1), "same", None, (2, 2)), [(2, 4, 4, 2), (3, 3, 2, 2)], (-1, 1), B),
        (_ct((1, 1), "valid", None, (2, 1)), [(1, 3, 3, 2), (2, 3, 2, 2), (2,)], (-1, 1), B),
        # channels-first data, Keras's kernel layout all the same
        (_ct((2, 2), "same", None, None, CF), [(2, 2, 3, 3), (3, 3, 4, 2), (4,)], (-1, 1), B),
        # 1-D
        (_ct((1,), "valid"), [(2, 5, 3), (3, 2, 3)], (-1, 1), B),
        (_ct((2,), "same"), [(2, 4, 3), (4, 2, 3), (2,)], (-1, 1), B),
        (_ct((3,), "valid", (1,)), [(2, 4, 2), (2, 3, 2)], (-1, 1), B),
        (_ct((2,), "same", None, None, CF), [(2, 3, 5), (3, 2, 3)], (-1, 1), B),
        # 3-D works too: the op is generic over the spatial rank
        (_ct((2, 1, 2), "same"), [(1, 2, 3, 2, 2), (2, 2, 3, 2, 2)], (-1, 1), B),
    ],
}
