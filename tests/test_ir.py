"""graphc.ir: Value/Node/Graph invariants, ordering, lint, clone, text form, big graphs."""

import numpy as np
import pytest

import graphc
from graphc import Input, Model, layers
from graphc.errors import GraphError
from graphc.ir import Graph, Node, Parameter, TensorType, Value, format_shape
from graphc.ops import ExecContext, get_op


def run_graph(graph, feeds):
    """A minimal reference interpreter: run every node's NumPy kernel in list order."""
    env = dict(zip(graph.inputs, feeds))
    for node in graph.nodes:
        xs = [env[v] if v in env else v.data for v in node.inputs]
        out = get_op(node.op).run(node.attrs, xs, ExecContext())
        env.update(zip(node.outputs, out if isinstance(out, tuple) else (out,)))
    return [env[v] for v in graph.outputs]


def small_graph():
    """x -> relu -> tanh -> add(., x): three hand-built nodes."""
    x = Value((None, 4), kind="input", name="ir_x")
    n1 = Node("relu", [x], [TensorType((None, 4))])
    n2 = Node("tanh", [n1.outputs[0]], [TensorType((None, 4))])
    n3 = Node("add", [n2.outputs[0], x], [TensorType((None, 4))])
    return Graph([x], [n3.outputs[0]], [n1, n2, n3], name="small"), (x, n1, n2, n3)


def dense_model():
    i = Input(shape=(3,), name="ir_in")
    h = layers.Dense(4, activation="relu", name="ir_d1")(i)
    o = layers.Dense(2, name="ir_d2")(h)
    return Model(i, o, name="ir_model")


# ---- Value / Node / producer / uses ---------------------------------------------------
def test_producer_and_uses_are_linked():
    g, (x, n1, n2, n3) = small_graph()
    assert x.producer is None and x.kind == "input"
    assert n1.outputs[0].producer is n1 and n1.outputs[0].index == 0
    assert x.uses == [n1, n3]
    assert n1.outputs[0].uses == [n2]
    assert n3.outputs[0].uses == []
    assert g.consumers(x) == [n1, n3]
    assert n1.outputs[0].kind == "intermediate"


def test_values_compare_by_identity():
    a = Value((2,), name="ir_same")
    b = Value((2,), name="ir_same")
    assert a == a and a != b
    assert len({a, b}) == 2
    assert bool(Value((0,)))  # never falsy, even with a zero-sized shape
    assert a.name != b.name   # names are made unique


def test_layer_call_records_nodes_with_scope():
    i = Input(shape=(3,), name="ir_scope_in")
    d = layers.Dense(2, activation="relu", name="ir_scope_d")
    out = d(i)
    node = out.producer
    assert node.op == "relu"
    assert node.layer is d and node.top == (d, 0)
    matmul = node.inputs[0].producer.inputs[0].producer
    assert matmul.op == "matmul"
    assert matmul.inputs[0] is i
    assert isinstance(matmul.inputs[1], Parameter) and matmul.inputs[1] is d.kernel
    assert matmul.where() == "ir_scope_d (matmul)"


def test_tensor_type_and_format_shape():
    t = TensorType((None, 3), "float64")
    assert t.shape == (None, 3) and t.dtype == "float64"
    assert format_shape((None, 64)) == "(None, 64)"
    assert format_shape((5,)) == "(5,)"
    assert format_shape(("batch", 3)) == "(batch, 3)"
    assert format_shape(()) == "()"


# ---- topological order ----------------------------------------------------------------
def test_toposort_orders_nodes_listed_backwards():
    g, (x, n1, n2, n3) = small_graph()
    g.nodes = [n3, n2, n1]
    assert g.toposort() == [n1, n2, n3]


def test_toposort_ties_keep_recording_order():
    x = Value((None, 2), kind="input", name="ir_tie_x")
    a = Node("relu", [x], [TensorType((None, 2))])
    b = Node("tanh", [x], [TensorType((None, 2))])
    c = Node("sigmoid", [x], [TensorType((None, 2))])
    g = Graph([x], [a.outputs[0], b.outputs[0], c.outputs[0]], [c, a, b])
    assert g.toposort() == [a, b, c]


def test_from_outputs_collects_only_needed_nodes_in_order():
    x = Value((None, 2), kind="input", name="ir_fo_x")
    used = graphc.ops.relu(x)
    unused = graphc.ops.tanh(x)  # recorded but not needed by the output
    out = graphc.ops.sigmoid(used)
    g = Graph.from_outputs([x], [out])
    assert [n.op for n in g.nodes] == ["relu", "sigmoid"]
    assert unused.producer not in g.nodes
    g.lint()


def make_cycle():
    g, (x, n1, n2, n3) = small_graph()
    # Make relu also read tanh's output: relu -> tanh -> relu (add sits downstream).
    n1.inputs.append(n2.outputs[0])
    n2.outputs[0].uses.append(n1)
    return g, (x, n1, n2, n3)


def test_cycle_in_hand_built_graph_raises_graph_error():
    g, (x, n1, n2, n3) = make_cycle()
    with pytest.raises(GraphError, match=r"^Graph 'small' has a cycle through .*relu, tanh") \
            as e:
        g.toposort()
    assert isinstance(e.value, ValueError)
    assert "A value cannot depend on itself" in str(e.value)
    with pytest.raises(GraphError, match="cycle"):
        Graph.from_outputs([x], [n3.outputs[0]])


def test_cycle_message_names_only_the_nodes_on_the_cycle():
    g, _ = make_cycle()
    with pytest.raises(GraphError) as e:
        g.toposort()
    assert "cycle through 2 node(s): relu, tanh." in str(e.value)


# ---- lint -----------------------------------------------------------------------------
def test_lint_accepts_valid_graphs():
    small_graph()[0].lint()
    dense_model().graph.lint()


def test_lint_catches_dangling_value():
    x = Value((None, 4), kind="input", name="ir_dx")
    stray = Value((None, 4), kind="intermediate", name="ir_stray")  # no producer
    n = Node("add", [x, stray], [TensorType((None, 4))])
    g = Graph([x], [n.outputs[0]], [n], name="dangling")
    with pytest.raises(GraphError, match=r"reads ir_stray, which is not a graph input"):
        g.lint()


def test_lint_catches_out_of_order_node():
    g, (x, n1, n2, n3) = small_graph()
    g.nodes = [n2, n1, n3]
    with pytest.raises(GraphError, match=r"tanh reads .* before it is produced"):
        g.lint()


def test_lint_catches_uses_mismatch():
    g, (x, n1, n2, n3) = small_graph()
    n1.outputs[0].uses.remove(n2)
    with pytest.raises(GraphError, match=r"does not list tanh among its uses"):
        g.lint()


def test_lint_catches_node_missing_from_graph_and_duplicates():
    g, (x, n1, n2, n3) = small_graph()
    g.nodes = [n2, n3]
    with pytest.raises(GraphError, match="produced outside the graph"):
        g.lint()
    g.nodes = [n1, n2, n2, n3]
    with pytest.raises(GraphError, match="appears twice"):
        g.lint()


def test_lint_catches_broken_back_pointer_and_lists_every_problem():
    g, (x, n1, n2, n3) = small_graph()
    n2.outputs[0].producer = n1
    n3.outputs[0].uses.append(n3)  # harmless extra use
    n1.outputs[0].uses.clear()
    with pytest.raises(GraphError) as e:
        g.lint()
    msg = str(e.value)
    assert msg.startswith("Graph 'small' is malformed: ")
    assert "does not point back to tanh" in msg
    assert "does not list tanh among its uses" in msg


# ---- clone ----------------------------------------------------------------------------
def test_clone_is_independent_of_the_original():
    g = dense_model().graph
    before_text = str(g)
    before_nodes = list(g.nodes)
    c = g.clone()
    assert len(c.nodes) == len(g.nodes)
    assert all(a is not b for a, b in zip(c.nodes, g.nodes))
    assert all(a is not b for a, b in zip(c.inputs, g.inputs))
    assert [n.op for n in c.nodes] == [n.op for n in g.nodes]
    # Parameters are shared, not copied.
    assert c.parameters == g.parameters
    c.nodes[0].attrs["tampered"] = True
    c.nodes.pop()
    c.nodes[0].inputs[0] = Value((None, 3), kind="input", name="ir_other")
    c.outputs.clear()
    assert g.nodes == before_nodes
    assert "tampered" not in g.nodes[0].attrs
    assert g.nodes[0].inputs[0] is g.inputs[0]
    assert len(g.outputs) == 1
    assert str(g) == before_text
    g.lint()


def test_clone_runs_to_the_same_outputs_and_lints():
    g = dense_model().graph
    c = g.clone()
    c.lint()
    assert str(c) == str(g)  # same names, ops, shapes
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    (a,), (b,) = run_graph(g, [x]), run_graph(c, [x])
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 2)


# ---- text form ------------------------------------------------------------------------
def test_text_form_names_ops_shapes_and_params():
    i = Input(shape=(3,), name="txt_in")
    h = layers.Dense(4, activation="relu", name="txt_d1")(i)
    g = Model(i, layers.Dense(2, name="txt_d2")(h), name="txt_model").graph
    lines = str(g).splitlines()
    assert lines[0] == "graph txt_model("
    assert lines[1] == "  %txt_in: float32[None, 3]"
    assert lines[2] == ") -> (%txt_d2/add) {"
    assert "  param %txt_d1/kernel: float32[3, 4]" in lines
    assert "  param %txt_d2/bias: float32[2]" in lines
    assert "  %txt_d1/matmul: float32[None, 4] = matmul(%txt_in, %txt_d1/kernel)" in lines
    assert "  %txt_d1/relu: float32[None, 4] = relu(%txt_d1/add)" in lines
    assert lines[-1] == "}"
    assert repr(g) == "<Graph txt_model: 1 inputs, 5 nodes, 1 outputs>"


def test_text_form_shows_attrs():
    x = Value((None, 6), kind="input", name="ir_attr_x")
    y = graphc.ops.reshape(x, (-1, 2, 3))
    g = Graph.from_outputs([x], [y], name="attrs")
    assert "reshape(%ir_attr_x, shape=(-1, 2, 3))" in str(g)
    assert "float32[None, 2, 3]" in str(g)


# ---- iterative algorithms: no recursion on deep graphs ---------------------------------
@pytest.mark.slow
def test_ten_thousand_node_chain_without_recursion_error():
    n = 10_000
    x = Value((None, 3), kind="input", name="ir_deep_x")
    y = x
    for k in range(n):
        y = graphc.ops.relu(y) if k % 2 else graphc.ops.tanh(y)
    g = Graph.from_outputs([x], [y], name="deep")
    assert len(g.nodes) == n
    assert g.toposort() == g.nodes
    g.lint()
    c = g.clone()
    assert len(c.nodes) == n
    c.lint()
    text = str(c)
    assert text.count("\n") == n + 3
    data = np.full((2, 3), 0.5, dtype="float32")
    np.testing.assert_allclose(run_graph(c, [data])[0], run_graph(g, [data])[0])
