"""Op specs for the pooling family (see the options at the top of test_ops.py)."""

CL, CF = "channels_last", "channels_first"


def _pool(pool, strides, padding, fmt=CL):
    return {"pool_size": pool, "strides": strides, "padding": padding, "data_format": fmt}


_WINDOWED = [
    (_pool((2, 2), (2, 2), "valid"), [(2, 5, 5, 3)], (-1, 1)),
    (_pool((2, 2), (2, 2), "same"), [(2, 5, 5, 3)], (-1, 1)),  # pads (0, 1)
    (_pool((3, 3), (2, 2), "same"), [(2, 5, 5, 3)], (-1, 1)),  # pads (1, 1)
    (_pool((2, 2), (1, 1), "same"), [(2, 4, 5, 2)], (-1, 1)),  # overlapping, (0, 1)
    (_pool((3, 2), (1, 2), "valid"), [(2, 5, 5, 2)], (-1, 1)),  # overlapping
    (_pool((2, 2), (2, 2), "same", CF), [(2, 3, 5, 5)], (-1, 1)),
    (_pool((2,), (2,), "valid"), [(2, 7, 3)], (-1, 1)),
    (_pool((3,), (2,), "same"), [(2, 6, 3)], (-1, 1)),
    (_pool((2,), (1,), "same", CF), [(2, 3, 5)], (-1, 1)),
    (_pool((4,), (1,), "same"), [(2, 6, 3)], (-1, 1)),  # pads (1, 2)
    (_pool((4, 3), (2, 1), "same"), [(1, 5, 4, 2)], (-1, 1)),  # (1, 2) and (1, 1)
]


def _global(keepdims=False, fmt=CL):
    return {"data_format": fmt, "keepdims": keepdims}


_GLOBAL = [
    (_global(), [(2, 4, 5, 3)], (-1, 1)),
    (_global(True), [(2, 4, 5, 3)], (-1, 1)),
    (_global(False, CF), [(2, 3, 4, 5)], (-1, 1)),
    (_global(True, CF), [(2, 3, 6)], (-1, 1)),
    (_global(), [(2, 6, 3)], (-1, 1)),
]

SPECS = {
    "max_pool": _WINDOWED,
    "avg_pool": _WINDOWED,
    "global_max_pool": _GLOBAL,
    "global_avg_pool": _GLOBAL,
}
