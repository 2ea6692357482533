"""graphc.tree, graphc.Variable, graphc.name_scope and graphc.KerasTensor (issue 9);
their parity with Keras is in tests/oracle/test_keras_misc_api_parity.py."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import graphc
from graphc import tree
from graphc.errors import ArgumentValueError


def test_tree_round_trips_nested_structures():
    Pair = collections.namedtuple("Pair", "a b")
    s = {"z": [1, (2, None)], "a": Pair(a=3, b={"k": 4})}
    flat = tree.flatten(s)
    assert flat == [3, 4, 1, 2, None]  # dict keys sorted, None a leaf
    assert tree.pack_sequence_as(s, flat) == s
    assert tree.map_structure(lambda v: v, s) == s
    assert tree.flatten_with_path({"b": [5], "a": 6}) == [(("a",), 6), (("b", 0), 5)]
    assert tree.is_nested([]) and not tree.is_nested(np.zeros(3))
    assert tree.lists_to_tuples([1, [2]]) == (1, (2,))
    with pytest.raises(ValueError, match="same nested structure"):
        tree.assert_same_structure([1, 2], [1, [2]])
    with pytest.raises(ValueError, match="leaves"):
        tree.pack_sequence_as([1, 2], [1])


def test_variable_api():
    v = graphc.Variable(np.arange(6, dtype="float32").reshape(2, 3), name="w")
    assert v.shape == (2, 3) and v.dtype == "float32" and v.trainable and v.path == "w"
    v.assign_add(np.ones((2, 3)))
    v.assign_sub(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(v.numpy(), np.arange(6).reshape(2, 3) + 0.5)
    np.testing.assert_array_equal(np.asarray(v + 1), v.numpy() + 1)
    np.testing.assert_array_equal(graphc.ops.matmul(v, np.ones((3, 1))), v.numpy().sum(1)[:, None])
    with graphc.name_scope("outer"):
        with graphc.name_scope("inner"):
            z = graphc.Variable("zeros", shape=(4,), trainable=False)
    assert z.path.startswith("outer/inner/") and not z.trainable and np.all(z.numpy() == 0)
    d = graphc.layers.Dense(2)
    d.build((None, 3))
    assert isinstance(d.kernel, graphc.Variable)
    assert isinstance(graphc.Input(shape=(3,)), graphc.KerasTensor)
    with pytest.raises(ArgumentValueError, match="shape"):
        graphc.Variable("zeros")
    with pytest.raises(ArgumentValueError, match="cannot contain"):
        graphc.Variable(1.0, name="a/b")
    with pytest.raises(ArgumentValueError, match="aggregation"):
        graphc.Variable(1.0, aggregation="max")
    with pytest.raises(ValueError, match="expected shape"):
        v.assign(np.ones(3))
