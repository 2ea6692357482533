"""InferShapes and the shape rules behind layer calls: None batch, symbolic dims, errors
raised at the user's call site, re-inference with fixed input shapes, tamper detection."""

import os
import sys
import traceback

import pytest

import graphc
from graphc import Input, Model, layers, ops
from graphc.errors import GraphError, ShapeError
from graphc.ir import Graph, TensorType, Value
from passes import InferShapes

LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (graphc, sys.modules["passes"])
)


def last_user_frame(excinfo):
    frames = [
        f
        for f in traceback.extract_tb(excinfo.tb)
        if not os.path.abspath(f.filename).startswith(LIBRARY_DIRS)
    ]
    return frames[-1]


def mlp(batch=None):
    i = Input(shape=(6,), batch_size=batch, name="is_in")
    h = layers.Dense(4, activation="relu", name="is_d1")(i)
    h = layers.Reshape((2, 2), name="is_rs")(h)
    h = layers.Flatten(name="is_fl")(h)
    return Model(i, layers.Dense(3, activation="softmax", name="is_d2")(h), name="is_mlp")


def test_none_batch_flows_through_every_value():
    m = mlp()
    types = InferShapes().run(m.graph)
    assert m.output_shape == (None, 3)
    assert len(types) == len(m.graph.nodes) + 1  # every node output and the input
    for v, t in types.items():
        assert t.shape[0] is None
        assert t.shape == v.shape and t.dtype == "float32"
    assert m.get_layer("is_rs").output.shape == (None, 2, 2)
    assert m.get_layer("is_fl").output.shape == (None, 4)


def test_known_batch_size_is_kept():
    m = mlp(batch=8)
    assert m.input_shape == (8, 6)
    assert m.output_shape == (8, 3)


def test_fixed_batch_size_reinference():
    m = mlp()
    types = InferShapes(input_shapes={"is_in": (16, 6)}).run(m.graph)
    assert types[m.outputs[0]] == TensorType((16, 3))
    assert all(t.shape[0] == 16 for t in types.values() if len(t.shape) > 1)
    assert m.output_shape == (None, 3)  # the recorded types are not changed


def test_reinference_rejects_wrong_rank():
    m = mlp()
    with pytest.raises(GraphError, match=r"input is_in: rank 2 expected, got shape \(16, 6, 1\)"):
        InferShapes(input_shapes={"is_in": (16, 6, 1)}).run(m.graph)


def test_reinference_with_a_wrong_width_raises_shape_error():
    m = mlp()
    with pytest.raises(ShapeError, match=r"^is_d1 \(gemm\): inner dimensions differ"):
        InferShapes(input_shapes={"is_in": (16, 7)}).run(m.graph)


def test_symbolic_batch_dimension():
    # Input() takes only ints or None (as Keras), so the symbol is put on a hand-made input.
    with pytest.raises(ValueError, match="positive integers or None"):
        Input(batch_shape=("batch", 8))
    x = Value(("batch", 8), kind="input", name="is_sym_x")
    d = layers.Dense(3, name="is_sym_d")
    y = d(x)
    assert y.shape == ("batch", 3)
    z = ops.reshape(y, (-1, 3, 1))
    assert z.shape == ("batch", 3, 1)
    f = ops.flatten(z)
    assert f.shape == ("batch", 3)
    g = Graph.from_outputs([x], [f], name="sym")
    types = InferShapes().run(g)
    assert types[f].shape == ("batch", 3)
    fixed = InferShapes(input_shapes={"is_sym_x": (5, 8)}).run(g)
    assert fixed[f].shape == (5, 3)


def test_symbols_with_different_names_do_not_match_known_dims():
    a = Value(("n", 4), kind="input", name="is_sym_a")
    b = Value(("n", 4), kind="input", name="is_sym_b")
    assert ops.add(a, b).shape == ("n", 4)
    c = Value(("m", 4), kind="input", name="is_sym_c")
    assert ops.add(a, c).shape[1] == 4
    with pytest.raises(ShapeError, match="cannot be broadcast"):
        ops.add(a, Value((2, 5), kind="input", name="is_sym_bad"))


def test_dense_on_three_dims_and_flatten():
    i = Input(shape=(2, 3, 4), name="is_3d")
    assert layers.Dense(5, name="is_3d_d")(i).shape == (None, 2, 3, 5)
    assert layers.Flatten(name="is_3d_f")(i).shape == (None, 24)
    assert layers.Reshape((-1, 4), name="is_3d_r")(i).shape == (None, 6, 4)


def test_dense_on_wrong_rank_input_raises_at_the_call_site():
    i = Input(batch_shape=(8,), name="is_rank1")
    d = layers.Dense(3, name="is_rank_d")
    line = sys._getframe().f_lineno + 2
    with pytest.raises(ShapeError) as e:
        d(i)
    assert isinstance(e.value, ValueError)
    frame = last_user_frame(e)
    assert frame.filename == __file__ and frame.lineno == line
    msg = str(e.value)
    assert msg.startswith("is_rank_d (matmul): ")  # layer and op
    assert "(8,)" in msg  # received


def test_dense_called_on_a_different_width_raises_at_the_call_site():
    d = layers.Dense(3, name="is_width_d")
    d(Input(shape=(4,), name="is_w4"))
    other = Input(shape=(5,), name="is_w5")
    line = sys._getframe().f_lineno + 2
    with pytest.raises(ShapeError) as e:
        d(other)
    frame = last_user_frame(e)
    assert frame.filename == __file__ and frame.lineno == line
    msg = str(e.value)
    assert msg.startswith("is_width_d (Dense): expected an input whose last dimension is 4")
    assert "(None, 5)" in msg


def test_dense_mismatch_message_states_the_expected_input_shape():
    d = layers.Dense(3, name="is_exp_d")
    d(Input(shape=(4,), name="is_exp4"))
    with pytest.raises(ShapeError) as e:
        d(Input(shape=(5,), name="is_exp5"))
    msg = str(e.value)
    assert "expected" in msg and "(..., 4)" in msg
    assert msg.count("(None, 5)") == 1


def test_dense_needs_a_known_last_dimension():
    with pytest.raises(
        ShapeError,
        match=r"^is_nolast \(Dense\): the last dimension of the "
        r"input must be known",
    ):
        layers.Dense(2, name="is_nolast")(Input(shape=(None,), name="is_nolast_in"))


def test_reshape_mismatch_raises_at_the_call_site():
    i = Input(shape=(6,), name="is_rs_in")
    line = sys._getframe().f_lineno + 2
    with pytest.raises(ShapeError) as e:
        layers.Reshape((4,), name="is_rs_bad")(i)
    frame = last_user_frame(e)
    assert frame.filename == __file__ and frame.lineno == line
    msg = str(e.value)
    assert msg.startswith("is_rs_bad (Reshape): cannot reshape input of shape (None, 6)")
    assert "(6 values per sample) to target shape (4,) (4 values)" in msg


def test_reshape_with_minus_one_mismatch():
    with pytest.raises(
        ShapeError,
        match=r"^is_rs_m1 \(Reshape\): cannot reshape input of "
        r"shape \(None, 7\) \(7 values per sample\) to "
        r"target shape \(2, -1\) \(2 values times a free "
        r"dimension\)\.$",
    ):
        layers.Reshape((2, -1), name="is_rs_m1")(Input(shape=(7,), name="is_rs_m1_in"))


def test_reshape_mismatch_message_uses_the_layers_target_shape():
    with pytest.raises(ShapeError) as e:
        layers.Reshape((4,), name="is_rs_msg")(Input(shape=(6,), name="is_rs_msg_in"))
    msg = str(e.value)
    assert msg.startswith("is_rs_msg (Reshape): ")
    assert "(-1, 4)" not in msg and "(4,)" in msg


def test_reshape_with_minus_one():
    i = Input(shape=(12,), name="is_rsm_in")
    assert layers.Reshape((3, -1), name="is_rsm_a")(i).shape == (None, 3, 4)
    assert layers.Reshape((-1, 6), name="is_rsm_b")(i).shape == (None, 2, 6)


def test_failed_call_leaves_the_layer_usable():
    d = layers.Dense(3, name="is_reuse")
    i4 = Input(shape=(4,), name="is_reuse4")
    d(i4)
    with pytest.raises(ShapeError):
        d(Input(shape=(5,), name="is_reuse5"))
    assert len(d._calls) == 1
    out = d(i4)
    assert out.shape == (None, 3)
    Model(i4, out).graph.lint()


def test_pass_detects_a_tampered_recorded_shape():
    m = mlp()
    g = m.graph.clone()
    victim = g.nodes[0].outputs[0]
    assert victim.shape == (None, 4)
    victim.shape = (None, 99)
    with pytest.raises(
        GraphError,
        match=r"is_d1 \(gemm\): .* is recorded as \(None, 99\) "
        r"float32 but the op rule gives \(None, 4\) float32",
    ):
        InferShapes().run(g)
    InferShapes().run(m.graph)  # the original is untouched


def test_pass_detects_a_tampered_dtype():
    g = mlp().graph.clone()
    g.nodes[-1].outputs[0].dtype = "float64"
    with pytest.raises(GraphError, match="is recorded as"):
        InferShapes().run(g)


def test_repeated_layers_are_each_checked():
    # Nodes of the same op on the same shape objects share one look-up of the rule: a
    # tampered type is still found on the third of three identical Dense layers, on its
    # output and on a weight it reads.
    i = Input(shape=(8,), name="is_rep_in")
    x = i
    for k in range(3):
        x = layers.Dense(8, name=f"is_rep{k}")(x)
    m = Model(i, x)
    g = m.graph.clone()
    g.nodes[-1].outputs[0].shape = (None, 9)
    with pytest.raises(GraphError, match=r"is_rep2 \(gemm\): .* is recorded as \(None, 9\)"):
        InferShapes().run(g)
    g = m.graph.clone()
    kernel = g.nodes[-1].inputs[1]
    assert kernel.kind == "param" and kernel.shape == (8, 8)
    kernel.shape = (8, 9)
    try:
        # the gemm's rule itself refuses the kernel's new width
        with pytest.raises(ShapeError, match=r"is_rep2 \(gemm\): bias \(8,\) does not match"):
            InferShapes().run(g)
    finally:
        kernel.shape = (8, 8)  # a weight is shared with the model's own graph
    types = InferShapes().run(m.graph)
    assert types[m.graph.outputs[0]] == TensorType((None, 8))


def test_compute_output_shape_uses_the_op_rules():
    assert layers.Dense(5, name="is_cos").compute_output_shape((None, 3)) == (None, 5)
    assert layers.Flatten(name="is_cos_f").compute_output_shape((None, 2, 3)) == (None, 6)
