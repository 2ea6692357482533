"""The shape rules' memo (``registry.infer_types``): a hit gives what the rule gives,
errors are never remembered, and keys keep apart what the rule could tell apart."""

from __future__ import annotations

import pytest

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops import registry
from graphc.ops.registry import Op, get_op, infer_types


def test_a_hit_equals_the_rule():
    op = get_op("matmul")
    types = [TensorType((None, 8), "float32"), TensorType((8, 4), "float32")]
    first = infer_types(op, {}, types, "here")
    again = infer_types(op, {}, [TensorType((None, 8), "float32"), TensorType((8, 4))], "here")
    assert again == first == (op.infer({}, *types),)


def test_errors_are_not_remembered_and_name_the_place():
    op = get_op("matmul")
    bad = [TensorType((None, 8), "float32"), TensorType((7, 4), "float32")]
    for where in ("dense_a (matmul)", "dense_b (matmul)"):
        with pytest.raises(ShapeError, match=where.replace("(", r"\(").replace(")", r"\)")):
            infer_types(op, {}, bad, where)


def test_keys_keep_scalar_types_apart():
    key = registry._infer_key
    op = get_op("matmul")
    t = [TensorType((None, 8))]
    assert key(op, {"a": 1}, t) != key(op, {"a": 1.0}, t) != key(op, {"a": True}, t)
    assert key(op, {"a": (1, 2)}, t) != key(op, {"a": (1.0, 2)}, t)
    assert key(op, {"a": [1]}, t) is None  # not plain: the rule runs every time
    import numpy as np

    assert key(op, {}, [TensorType((np.int64(8),))]) is None


def test_ops_outside_graphc_are_not_memoised():
    calls = []

    class Counted(Op):
        name = "test_infer_cache_counted"

        def infer(self, attrs, x):
            calls.append(1)
            return x

    op = Counted()
    for _ in range(3):
        infer_types(op, {}, [TensorType((2, 3))], "here")
    assert len(calls) == 3
    registry.REGISTRY.pop(op.name, None)


def test_apply_keys_by_plain_pairs_as_by_types():
    # ``apply`` keys the memo with plain ``(shape, dtype)`` pairs (no TensorType per
    # input); the shape pass keys it with TensorTypes: both must find the same entry.
    op = get_op("matmul")
    types = [TensorType((None, 8), "float32"), TensorType((8, 4), "float32")]
    pairs = [((None, 8), "float32"), ((8, 4), "float32")]
    by_types, by_pairs = registry._infer_key(op, {}, types), registry._infer_key(op, {}, pairs)
    assert by_pairs is not None and by_pairs == by_types and hash(by_pairs) == hash(by_types)
    import numpy as np

    assert registry._infer_key(op, {}, [((np.int64(8),), "float32")]) is None
