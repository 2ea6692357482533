"""ValidateConnectivity: disconnected outputs, bad inputs, duplicate names, cycles, unused
inputs. Exact message texts live in tests/test_errors.py; here, what the messages must say."""

import warnings

import pytest

from graphc import Input, Model, layers, ops
from graphc.errors import GraphDisconnectedError, GraphError
from graphc.ir import Graph, Node, TensorType, Value
from passes import ConnectivityReport, ValidateConnectivity


class AddPair(layers.Layer):
    """A two-input layer (the foundation has no merge layers yet)."""

    def call(self, xs):
        return ops.add(xs[0], xs[1])


def seed_output():
    input_tensor = Input(shape=(64,), name="cn_seed_in")
    x = layers.Dense(32, activation="relu", name="cn_seed_d1")(input_tensor)
    x = layers.Dense(32, activation="softmax", name="cn_seed_d2")(x)
    return input_tensor, layers.Dense(10, activation="softmax", name="cn_seed_d3")(x)


def test_seed_unrelated_input_raises_graph_disconnected():
    _, output_tensor = seed_output()
    unrelated_input = Input(shape=(32,), name="cn_unrelated")
    with pytest.raises(GraphDisconnectedError) as e:
        Model(unrelated_input, output_tensor)
    assert isinstance(e.value, ValueError)
    msg = str(e.value)
    assert msg.startswith("Graph disconnected")
    assert '"cn_seed_in" (shape (None, 64), dtype float32)' in msg  # missing tensor + shape
    assert 'at layer "cn_seed_d1"' in msg  # the layer needing it
    assert "accessed without issue: []" in msg  # nothing reached
    assert '"cn_unrelated" (None, 32)' in msg  # what was given
    assert "add it to the inputs" in msg
    assert "Model(inputs=[cn_unrelated, cn_seed_in], outputs=...)" in msg
    assert e.value.failed_pass == "validate_connectivity"


def test_seed_model_with_its_own_input_builds():
    i, o = seed_output()
    report = ValidateConnectivity().run(Model(i, o).graph)
    assert isinstance(report, ConnectivityReport)
    assert [layer.name for layer in report.layers] == [
        "cn_seed_in",
        "cn_seed_d1",
        "cn_seed_d2",
        "cn_seed_d3",
    ]
    assert report.unused_inputs == []


def test_two_inputs_only_one_given_lists_reached_layers():
    a = Input(shape=(4,), name="cn_a")
    b = Input(shape=(4,), name="cn_b")
    h = layers.Dense(4, name="cn_a1")(a)
    h = layers.Dense(4, name="cn_a2")(h)
    g = layers.Dense(4, name="cn_b1")(b)  # recorded after cn_a1, cn_a2
    out = layers.Dense(2, name="cn_out")(AddPair(name="cn_merge")([h, g]))
    with pytest.raises(GraphDisconnectedError) as e:
        Model(a, out)
    msg = str(e.value)
    assert msg.startswith(
        'Graph disconnected: cannot obtain value for tensor "cn_b" '
        '(shape (None, 4), dtype float32) at layer "cn_b1".'
    )
    assert "accessed without issue: ['cn_a1', 'cn_a2']" in msg
    assert "Model(inputs=[cn_a, cn_b], outputs=...)" in msg
    Model([a, b], out)  # both given: fine


def test_error_in_the_middle_of_a_chain_lists_the_layers_before_it():
    a = Input(shape=(3,), name="cn_mid_a")
    side = Input(shape=(3,), name="cn_mid_side")
    x = a
    for k in range(3):
        x = layers.Dense(3, name=f"cn_mid_{k}")(x)
    x = AddPair(name="cn_mid_merge")([x, side])
    x = layers.Dense(3, name="cn_mid_last")(x)
    with pytest.raises(GraphDisconnectedError) as e:
        Model(a, x)
    msg = str(e.value)
    assert '"cn_mid_side" (shape (None, 3), dtype float32) at layer "cn_mid_merge"' in msg
    assert "accessed without issue: ['cn_mid_0', 'cn_mid_1', 'cn_mid_2']" in msg


def test_output_that_is_an_unrelated_input():
    a = Input(shape=(3,), name="cn_out_a")
    b = Input(shape=(3,), name="cn_out_b")
    with pytest.raises(
        GraphDisconnectedError,
        match=r"\"cn_out_b\" .* \(it is one of the "
        r"model's outputs\)",
    ):
        Model(a, [layers.Dense(2, name="cn_out_d")(a), b])


def test_disconnected_input_read_by_a_raw_op_names_the_op():
    a = Input(shape=(4,), name="cn_raw_a")
    b = Input(shape=(4,), name="cn_raw_b")
    out = layers.Dense(2, name="cn_raw_d")(a + b)
    with pytest.raises(GraphDisconnectedError) as e:
        Model(a, out)
    assert "one of the model's outputs" not in str(e.value)
    assert '"cn_raw_b"' in str(e.value) and "add" in str(e.value)


def test_duplicate_layer_names_are_rejected():
    i = Input(shape=(4,), name="cn_dup_in")
    x = layers.Dense(3, name="d")(i)
    x = layers.Dense(3, name="d")(x)
    with pytest.raises(GraphError, match=r'^The name "d" is used 2 times in the model\.') as e:
        Model(i, x)
    assert isinstance(e.value, ValueError)


def test_layer_named_like_an_input_is_a_duplicate():
    i = Input(shape=(4,), name="cn_clash")
    with pytest.raises(GraphError, match='"cn_clash" is used 2 times'):
        Model(i, layers.Dense(3, name="cn_clash")(i))


def test_shared_layer_is_not_a_duplicate():
    i = Input(shape=(4,), name="cn_sh_in")
    d = layers.Dense(4, name="cn_sh")
    Model(i, d(d(i))).graph.lint()


def test_intermediate_tensor_as_input_is_rejected():
    i = Input(shape=(4,), name="cn_int_in")
    h = layers.Dense(3, name="cn_int_h")(i)
    o = layers.Dense(2, name="cn_int_o")(h)
    with pytest.raises(GraphError) as e:
        Model(h, o)
    msg = str(e.value)
    assert msg.startswith("Model inputs must be tensors returned by graphc.Input()")
    assert "cn_int_h" in msg and "(None, 3)" in msg
    assert isinstance(e.value, ValueError)


def test_same_input_twice_is_rejected():
    i = Input(shape=(4,), name="cn_twice")
    with pytest.raises(GraphError, match="listed twice"):
        Model([i, i], layers.Dense(2, name="cn_twice_d")(i))


def test_unused_input_warns_and_is_reported():
    i = Input(shape=(4,), name="cn_used")
    spare = Input(shape=(7,), name="cn_spare")
    o = layers.Dense(2, name="cn_used_d")(i)
    with pytest.warns(
        UserWarning,
        match=r'Model input "cn_spare" \(shape \(None, 7\), dtype '
        r"float32\) is not connected to any output",
    ):
        m = Model([i, spare], o)
    with pytest.warns(UserWarning):
        report = ValidateConnectivity().run(m.graph)
    assert report.unused_inputs == [spare]


def test_no_warning_when_every_input_is_used():
    i = Input(shape=(4,), name="cn_nowarn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Model(i, layers.Dense(2, name="cn_nowarn_d")(i))


def test_unused_input_warning_points_at_the_users_line():
    i = Input(shape=(4,), name="cn_wl_in")
    spare = Input(shape=(7,), name="cn_wl_spare")
    o = layers.Dense(2, name="cn_wl_d")(i)
    with pytest.warns(UserWarning) as record:
        Model([i, spare], o)
    assert record[0].filename == __file__


def test_cycle_in_hand_built_graph_is_rejected_by_the_pass():
    x = Value((None, 2), kind="input", name="cn_cyc_x")
    n1 = Node("relu", [x], [TensorType((None, 2))])
    n2 = Node("tanh", [n1.outputs[0]], [TensorType((None, 2))])
    n1.inputs.append(n2.outputs[0])
    n2.outputs[0].uses.append(n1)
    g = Graph([x], [n2.outputs[0]], [n1, n2], name="cn_cycle")
    with pytest.raises(GraphError, match=r"^Graph 'cn_cycle' has a cycle"):
        ValidateConnectivity().run(g)


def test_pass_reorders_nodes_topologically():
    x = Value((None, 2), kind="input", name="cn_topo_x")
    y = ops.tanh(ops.relu(x))
    g = Graph.from_outputs([x], [y])
    g.nodes.reverse()
    ValidateConnectivity().run(g)
    assert [n.op for n in g.nodes] == ["relu", "tanh"]
    g.lint()
