"""graphc.ops numeric family: the rules the generic op tests cannot see (ties, bounds)."""

import numpy as np
import pytest

from graphc import ops
from graphc.ops import get_op


def test_max_splits_the_gradient_between_tied_maxima():
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]], np.float64)
    y = ops.max(x, axis=-1)
    (g,) = get_op("max").gradients(
        {"axis": (1,), "keepdims": False}, [x], [y], (np.array([1.0, 4.0]),)
    )
    np.testing.assert_array_equal(g, [[0, 0.5, 0.5, 0], [1, 1, 1, 1]])


def test_clip_passes_the_gradient_on_its_bounds_and_not_outside():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    (g,) = get_op("clip").gradients({"min": 0.0, "max": 1.0}, [x], [None], (np.ones(5),))
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 0])
    assert ops.clip(x.astype(np.float32), 1e-7, 1 - 1e-7).dtype == np.float32


def test_abs_gradient_is_the_sign_and_zero_at_zero():
    x = np.array([-2.0, 0.0, 3.0])
    (g,) = get_op("abs").gradients({}, [x], [None], (np.ones(3),))
    np.testing.assert_array_equal(g, [-1, 0, 1])


def test_clip_refuses_tensor_bounds_with_advice():
    with pytest.raises(TypeError, match="ops.maximum/ops.minimum"):
        ops.clip(np.ones(3, np.float32), np.zeros(3, np.float32), 1.0)


def test_float_ops_refuse_integer_tensors():
    import graphc
    from graphc.errors import ShapeError

    x = graphc.Input(shape=(3,), dtype="int32")
    with pytest.raises(ShapeError, match="floating-point"):
        ops.log(x)
