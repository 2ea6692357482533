"""InferShapes writes its results into ``node.meta["types"]`` (no side table); what it
returns is a view over them."""

import pytest

from graphc import Input, Model, layers
from graphc.errors import ShapeError
from graphc.ir import TensorType
from passes import InferredTypes, InferShapes
from passes.infer_shapes import TYPES


def mlp():
    i = Input(shape=(6,), name="nm_in")
    h = layers.Dense(4, activation="relu", name="nm_d1")(i)
    return Model(i, layers.Dense(3, name="nm_d2")(h), name="nm_mlp")


def test_model_build_leaves_each_nodes_output_types_in_meta():
    g = mlp().graph
    assert [n.op for n in g.nodes] == ["gemm", "relu", "gemm"]
    for node in g.nodes:
        assert node.meta[TYPES] == tuple(v.type for v in node.outputs)


def test_the_returned_mapping_reads_node_meta():
    g = mlp().graph.clone()
    types = InferShapes().run(g)
    assert isinstance(types, InferredTypes)
    last = g.nodes[-1]
    assert types[last.outputs[0]] == TensorType((None, 3))
    last.meta[TYPES] = (TensorType((7, 3)),)
    assert types[last.outputs[0]] == TensorType((7, 3))  # a view, not a copy
    assert types[g.inputs[0]] == TensorType((None, 6))
    assert g.parameters[0] not in types
    with pytest.raises(KeyError):
        types[g.parameters[0]]


def test_reinference_writes_the_new_types_and_clone_carries_them():
    g = mlp().graph.clone()
    InferShapes(input_shapes={"nm_in": (16, 6)}).run(g)
    assert g.nodes[-1].meta[TYPES] == (TensorType((16, 3)),)
    assert g.nodes[-1].outputs[0].shape == (None, 3)  # recorded types stay
    assert g.clone().nodes[-1].meta[TYPES] == (TensorType((16, 3)),)


def test_a_failed_run_leaves_the_previous_types():
    g = mlp().graph.clone()
    before = [n.meta[TYPES] for n in g.nodes]
    with pytest.raises(ShapeError, match="inner dimensions differ"):
        InferShapes(input_shapes={"nm_in": (16, 7)}).run(g)
    assert [n.meta[TYPES] for n in g.nodes] == before
    fresh = mlp().graph.clone()
    for n in fresh.nodes:
        del n.meta[TYPES]
    with pytest.raises(ShapeError):
        InferShapes(input_shapes={"nm_in": (16, 7)}).run(fresh)
    assert all(TYPES not in n.meta for n in fresh.nodes)
