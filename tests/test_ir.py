"""graphc.ir: Value/Node/Graph invariants, ordering, lint, clone, text form, big graphs."""

import numpy as np
import pytest
from recorded_layers import MatMulAdd

import graphc
from graphc import Input, Model, layers
from graphc.errors import GraphError
from graphc.ir import Fusion, Graph, Node, Parameter, TensorType, Value, format_shape
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
    assert a.name != b.name  # names are made unique


def test_layer_call_records_nodes_with_scope():
    i = Input(shape=(3,), name="ir_scope_in")
    d = layers.Dense(2, activation="relu", name="ir_scope_d")
    out = d(i)
    node = out.producer
    assert node.op == "relu"
    assert node.layer is d and node.top == (d, 0)
    gemm = node.inputs[0].producer  # x @ kernel + bias: one node on a rank-2 input
    assert gemm.op == "gemm"
    assert gemm.inputs[0] is i
    assert isinstance(gemm.inputs[1], Parameter) and gemm.inputs[1] is d.kernel
    assert gemm.where() == "ir_scope_d (gemm)"


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
    with pytest.raises(GraphError, match=r"^Graph 'small' has a cycle through .*relu, tanh") as e:
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
    assert lines[2] == ") -> (%txt_d2/gemm) {"
    assert "  param %txt_d1/kernel: float32[3, 4]" in lines
    assert "  param %txt_d2/bias: float32[2]" in lines
    gemm = "  %txt_d1/gemm: float32[None, 4] = gemm(%txt_in, %txt_d1/kernel, %txt_d1/bias)"
    assert gemm in lines
    assert "  %txt_d1/relu: float32[None, 4] = relu(%txt_d1/gemm)" in lines
    assert lines[-1] == "}"
    assert repr(g) == "<Graph txt_model: 1 inputs, 3 nodes, 1 outputs>"


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


# ---- editing: replace_all_uses, erase, insert, replace_node, commit --------------------
def chain_graph(ops_=("relu", "tanh", "sigmoid"), name="chain"):
    """x -> ops_[0] -> ops_[1] -> ...: hand-built nodes, one per op."""
    x = Value((None, 4), kind="input", name=f"ir_{name}_x")
    nodes, v = [], x
    for op in ops_:
        nodes.append(Node(op, [v], [TensorType((None, 4))]))
        v = nodes[-1].outputs[0]
    return Graph([x], [v], nodes, name=name), x, nodes


def test_replace_all_uses_moves_readers_and_uses():
    g, (x, n1, n2, n3) = small_graph()
    a = n1.outputs[0]
    g.replace_all_uses(a, x)  # tanh now reads x directly
    assert n2.inputs == [x]
    assert a.uses == [] and x.uses == [n1, n3, n2]
    g.erase(n1)
    assert g.nodes == [n2, n3]  # reading nodes applies the batch
    assert x.uses == [n3, n2]
    g.lint()


def test_replace_all_uses_rewires_graph_outputs():
    g, (x, n1, n2, n3) = small_graph()
    t = n2.outputs[0]
    g.replace_all_uses(n3.outputs[0], t)
    assert g.outputs == [t] and g.is_output(t) and not g.is_output(n3.outputs[0])
    g.erase(n3)  # its output is no longer an output: it can go
    g.commit()
    assert g.nodes == [n1, n2] and x.uses == [n1]
    g.lint()


def test_replace_all_uses_of_a_value_read_twice_keeps_one_use_per_slot():
    x = Value((None, 4), kind="input", name="ir_twice_x")
    r = Node("relu", [x], [TensorType((None, 4))])
    s = Node("tanh", [x], [TensorType((None, 4))])
    add = Node("add", [r.outputs[0], r.outputs[0]], [TensorType((None, 4))])
    g = Graph([x], [add.outputs[0]], [r, s, add])
    g.replace_all_uses(r.outputs[0], s.outputs[0])
    assert add.inputs == [s.outputs[0], s.outputs[0]]
    assert s.outputs[0].uses == [add, add]
    assert g.consumers(s.outputs[0]) == [add, add] and g.users(s.outputs[0]) == [add]
    g.erase(r)
    g.lint()


def test_replace_all_uses_leaves_other_graphs_and_the_new_values_producer():
    g, x, (n1, n2, n3) = chain_graph(name="rau_other")
    a = n1.outputs[0]
    outside = Node("exp", [a], [TensorType((None, 4))])  # a reader in no graph of ours
    # Put a node after n1 and send n1's other readers through it: the new node itself
    # keeps reading a (a node cannot read its own output).
    square = Node("square", [a], [TensorType((None, 4))])
    g.insert(square, after=n1)
    g.replace_all_uses(a, square.outputs[0])
    assert square.inputs == [a] and n2.inputs == [square.outputs[0]]
    assert outside.inputs == [a]
    assert a.uses == [outside, square]
    g.commit()
    assert [n.op for n in g.nodes] == ["relu", "square", "tanh", "sigmoid"]
    g.lint()


def test_replace_all_uses_needs_the_same_dtype_and_rank():
    g, x, (n1, n2, n3) = chain_graph(name="rau_type")
    wide = Value((None, 4, 1), kind="input", name="ir_rau_wide")
    with pytest.raises(
        GraphError,
        match=r"ir_rau_wide \(\(None, 4, 1\) float32\) cannot "
        r"stand in for .*dtype and rank must match",
    ):
        g.replace_all_uses(n1.outputs[0], wide)
    ints = Value((None, 4), "int32", kind="input", name="ir_rau_int")
    with pytest.raises(GraphError, match="cannot stand in"):
        g.replace_all_uses(n1.outputs[0], ints)
    assert n2.inputs == [n1.outputs[0]]  # nothing changed
    g.lint()


def test_erase_refuses_nodes_whose_outputs_are_still_read():
    g, (x, n1, n2, n3) = small_graph()
    with pytest.raises(
        GraphError,
        match=r"Cannot erase relu: tanh still reads its output "
        r".*replace_all_uses",
    ):
        g.erase(n1)
    with pytest.raises(
        GraphError,
        match=r"Cannot erase add: its output .* is an output of "
        r"graph 'small'",
    ):
        g.erase(n3)
    g.replace_all_uses(n2.outputs[0], x)
    g.erase(n2)
    with pytest.raises(GraphError, match="it was erased already"):
        g.erase(n2)
    stranger = Node("relu", [x], [TensorType((None, 4))])
    with pytest.raises(GraphError, match="it is not a node of graph 'small'"):
        g.erase(stranger)
    g.commit()
    assert g.nodes == [n1, n3]
    # The failed erases changed nothing; relu is dead now (nothing reads it) and can go.
    assert g.users(n1.outputs[0]) == []
    g.erase(n1)
    assert g.nodes == [n3]
    # add reads x twice now; stranger was never in the graph: still a use.
    assert x.uses == [n3, n3, stranger] and n3.inputs == [x, x]
    g.lint()


def test_erase_readers_first_removes_a_whole_branch():
    x = Value((None, 4), kind="input", name="ir_branch_x")
    keep = Node("relu", [x], [TensorType((None, 4))])
    b1 = Node("tanh", [x], [TensorType((None, 4))])
    b2 = Node("exp", [b1.outputs[0]], [TensorType((None, 4))])
    g = Graph([x], [keep.outputs[0]], [keep, b1, b2])
    g.erase(b2)
    g.erase(b1)
    assert g.nodes == [keep] and x.uses == [keep] and b1.outputs[0].uses == []
    g.lint()


def test_insert_before_and_after_keeps_call_order():
    g, x, (n1, n2, n3) = chain_graph(name="ins")

    def relu_of(v):
        return Node("relu", [v], [TensorType((None, 4))])

    a1, a2 = relu_of(n1.outputs[0]), relu_of(n1.outputs[0])
    g.insert(a1, after=n1)
    g.insert(a2, after=n1)
    b1, b2 = relu_of(n1.outputs[0]), relu_of(n1.outputs[0])
    g.insert(b1, before=n2)
    g.insert(b2, before=n2)
    nested = relu_of(a1.outputs[0])
    g.insert(nested, after=a1)  # next to a node inserted in the same batch
    tail = relu_of(n3.outputs[0])
    g.insert(tail)  # no anchor: the end
    assert g.contains(a1) and g.contains(tail)
    g.commit()
    assert g.nodes == [n1, a1, nested, a2, b1, b2, n2, n3, tail]
    g.lint()


def test_insert_rejects_bad_anchors_and_double_inserts():
    g, x, (n1, n2, n3) = chain_graph(name="ins_bad")
    new = Node("relu", [x], [TensorType((None, 4))])
    with pytest.raises(GraphError, match="before= or after=, not both"):
        g.insert(new, before=n2, after=n1)
    with pytest.raises(GraphError, match="already in graph 'ins_bad'"):
        g.insert(n2, after=n1)
    elsewhere = Node("tanh", [x], [TensorType((None, 4))])
    with pytest.raises(GraphError, match=r"next to tanh: that node is not in graph"):
        g.insert(new, after=elsewhere)
    g.insert(new, before=n1)
    g.erase(new)
    with pytest.raises(GraphError, match="it was erased from graph 'ins_bad'; build a new"):
        g.insert(new)
    g.commit()
    assert g.nodes == [n1, n2, n3]
    g.lint()


def test_replace_node_takes_position_readers_and_outputs():
    g, x, (n1, n2, n3) = chain_graph(name="repl")
    new = Node.with_outputs_like("exp", [n1.outputs[0]], n2.outputs, scope=n2.scope)
    assert new.outputs[0].name == n2.outputs[0].name  # exactly, not made unique
    assert new.outputs[0].type == n2.outputs[0].type
    g.replace_node(n2, new)
    last = Node.with_outputs_like("softplus", [new.outputs[0]], n3.outputs)
    g.replace_node(n3, last)  # an output of the graph
    assert g.outputs == [last.outputs[0]]
    assert g.nodes == [n1, new, last]
    assert n1.outputs[0].uses == [new]
    # n3 was rewired to new's output, then erased: it no longer counts as a use.
    assert n3.inputs == [new.outputs[0]] and new.outputs[0].uses == [last]
    assert n2.outputs[0].uses == []
    g.lint()


def test_replace_node_with_fewer_outputs_needs_the_rest_unread():
    x = Value((None, 4), kind="input", name="ir_repl_two_x")
    two = Node("split2", [x], [TensorType((None, 2)), TensorType((None, 2))])
    user = Node("relu", [two.outputs[1]], [TensorType((None, 2))])
    g = Graph([x], [two.outputs[0], user.outputs[0]], [two, user], name="two")
    one = Node.with_outputs_like("relu", [x], two.outputs[:1])
    with pytest.raises(GraphError, match=r"still reads its output"):
        g.replace_node(two, one)
    bigger = Node("relu", [x], [TensorType((None, 4))] * 3)
    with pytest.raises(GraphError, match=r"\(2 outputs\) by relu \(3 outputs\)"):
        g.replace_node(two, bigger)


def test_replace_op_hands_the_output_values_to_the_new_node():
    g, x, (n1, n2, n3) = chain_graph(name="replop")
    mid, out = n2.outputs[0], n3.outputs[0]
    new = g.replace_op(n2, "exp", [x])  # reads the graph input, skips n1
    assert new.outputs == [mid] and mid.producer is new and n2.outputs == []
    assert new.scope == n2.scope and n3.inputs == [mid]
    last = g.replace_op(n3, "softplus", [mid], scope=())  # a graph output
    assert g.outputs == [out] and out.producer is last and last.scope == ()
    assert x.uses == [n1, new] and mid.uses == [last]
    assert not g.contains(n2) and g.contains(new)
    g.erase(n1)  # unread now
    assert g.nodes == [new, last]
    g.lint()
    with pytest.raises(GraphError, match=r"Cannot replace .*not a node of graph 'replop'"):
        g.replace_op(n2, "relu", [x])


def test_replace_op_on_weights_keeps_graph_consumers():
    x = Input(shape=(3,), name="ir_replop_w_x")
    dense = MatMulAdd(2, name="ir_replop_dense")
    Model(x, dense(x))
    g = Model(x, dense(x)).graph.clone()
    mm, add = g.nodes
    g.consumers(dense.kernel)  # builds the weights' reader table of the batch
    gemm = g.replace_op(add, "gemm", [mm.inputs[0], dense.kernel, dense.bias])
    g.erase(mm)
    assert g.consumers(dense.kernel) == [gemm] and g.consumers(dense.bias) == [gemm]
    assert g.nodes == [gemm]
    g.lint()


def test_fuse_applies_every_fusion_in_one_walk():
    x = Input(shape=(3,), name="ir_fuse_x")
    h = MatMulAdd(3, name="ir_fuse_d1")(x)
    o = MatMulAdd(2, name="ir_fuse_d2")(h)
    g = Model(x, o).graph.clone()
    mm1, add1, mm2, add2 = g.nodes
    outs = add1.outputs + add2.outputs
    fusions = [
        Fusion((mm, add), "gemm", [mm.inputs[0], mm.inputs[1], add.inputs[1]], scope=mm.scope)
        for mm, add in ((mm1, add1), (mm2, add2))
    ]
    g1, g2 = g.fuse(fusions)
    assert g.nodes == [g1, g2] and g1.outputs + g2.outputs == outs  # the same Values
    assert g.outputs == g2.outputs and g1.scope == mm1.scope and add1.outputs == []
    assert g.inputs[0].uses == [g1] and g1.outputs[0].uses == [g2]
    assert g.consumers(mm2.inputs[1]) == [g2]  # a weight: read by the gemm now
    g.lint()
    assert g.fuse([]) == [] and g.nodes == [g1, g2]


def test_fuse_keeps_other_readers_of_inputs():
    g, (x, n1, n2, n3) = small_graph()  # x is read by relu (fused) and by the add
    (new,) = g.fuse([Fusion((n1, n2), "tanh", [x])])
    assert g.nodes == [new, n3] and new.scope == n2.scope and new.outputs[0].uses == [n3]
    assert x.uses == [n3, new] and n1.outputs[0].uses == []
    g.lint()


def test_fuse_refuses_a_group_whose_inner_result_is_read_elsewhere():
    g, x, (n1, n2, n3) = chain_graph(name="fuse_refused")
    with pytest.raises(
        GraphError,
        match=r"Cannot fuse relu into exp: its output .* "
        r"read outside the fusion \(tanh\)",
    ):
        g.fuse([Fusion((n1, n3), "exp", [x])])  # n2 reads n1
    with pytest.raises(GraphError, match=r"read outside the fusion \(a graph output\)"):
        g.fuse([Fusion((n3, n1), "exp", [x])])
    with pytest.raises(GraphError, match=r"Cannot fuse tanh into exp: it is in another fusion"):
        g.fuse([Fusion((n1, n2), "exp", [x]), Fusion((n2, n3), "exp", [x])])
    other = Node("relu", [x], [TensorType((None, 4))])
    with pytest.raises(GraphError, match=r"it is not in the graph"):
        g.fuse([Fusion((other,), "exp", [x])])
    assert g.nodes == [n1, n2, n3] and x.uses[:1] == [n1]  # refused: nothing changed
    g.lint()


def test_replace_all_uses_and_erase_on_weights_track_graph_consumers():
    i = Input(shape=(3,), name="ir_w_in")
    h = layers.Dense(3, use_bias=False, name="ir_w_d1")(i)
    o = layers.Dense(3, use_bias=False, name="ir_w_d2")(h)
    g = Model(i, o, name="ir_w_model").graph.clone()
    w1, w2 = g.parameters
    mm1, mm2 = g.nodes
    assert g.consumers(w1) == [mm1]
    g.replace_all_uses(w1, w2)  # both matmuls now read the second kernel
    assert mm1.inputs[1] is w2 and g.consumers(w1) == [] and g.users(w2) == [mm2, mm1]
    assert not w1.uses and not w2.uses  # weights keep no global uses
    g.commit()
    assert g.parameters == [w2] and g.consumers(w2) == [mm1, mm2]
    g.replace_all_uses(mm1.outputs[0], g.inputs[0])
    g.erase(mm1)
    assert g.consumers(w2) == [mm2]
    g.commit()
    g.lint()


def test_pending_edits_apply_when_nodes_are_read_and_lint_sees_them():
    g, x, (n1, n2, n3) = chain_graph(name="pending")
    g.replace_all_uses(n2.outputs[0], n1.outputs[0])
    g.erase(n2)
    g.lint()  # reads nodes: the batch is applied first
    assert [n.op for n in g.nodes] == ["relu", "sigmoid"]
    assert "tanh" not in str(g)


def test_commit_detects_the_node_list_changed_in_place_during_a_batch():
    g, x, (n1, n2, n3) = chain_graph(name="inplace")
    nodes = g.nodes
    g.insert(Node("relu", [x], [TensorType((None, 4))]), before=n1)
    nodes.remove(n2)  # behind the batch's back
    with pytest.raises(GraphError, match="changed in place during the batch"):
        g.commit()


def test_assigning_nodes_ends_the_batch():
    g, x, (n1, n2, n3) = chain_graph(name="assign")
    g.replace_all_uses(n2.outputs[0], n1.outputs[0])
    g.erase(n2)
    g.nodes = [n1, n3]
    assert g.nodes == [n1, n3]
    g.lint()


def test_editing_a_ten_thousand_node_chain():
    n = 10_000
    x = Value((None, 3), kind="input", name="ir_edit_deep_x")
    y = x
    for k in range(n):
        y = graphc.ops.identity(y) if k % 2 else graphc.ops.tanh(y)
    g = Graph.from_outputs([x], [y], name="deep_edit")
    data = np.full((2, 3), 0.5, dtype="float32")
    want = run_graph(g, [data])[0]
    # Drop every identity (the last one produces the output: its input takes over) and
    # replace every tanh by a node of the same op whose outputs keep the names.
    for node in g.nodes:
        if node.op == "identity":
            g.replace_all_uses(node.outputs[0], node.inputs[0])
            g.erase(node)
        else:
            g.replace_node(node, Node.with_outputs_like("tanh", node.inputs, node.outputs))
    g.commit()
    assert len(g.nodes) == n // 2 and all(node.op == "tanh" for node in g.nodes)
    assert g.outputs == [g.nodes[-1].outputs[0]]
    assert all(len(node.outputs[0].uses) == 1 for node in g.nodes[:-1])
    g.lint()
    np.testing.assert_allclose(run_graph(g, [data])[0], want)


# ---- meta -----------------------------------------------------------------------------
def test_nodes_carry_meta_and_clone_copies_it():
    g, (x, n1, n2, n3) = small_graph()
    assert n1.meta == {}
    n1.meta["types"] = (TensorType((None, 4)),)
    n1.meta["note"] = "kept"
    c = g.clone()
    assert c.nodes[0].meta == {"types": (TensorType((None, 4)),), "note": "kept"}
    c.nodes[0].meta["note"] = "changed"
    assert n1.meta["note"] == "kept"  # the dict is the clone's own
