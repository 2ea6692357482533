"""The export passes, tested as ARCHITECTURE.md ("Adding a pass") asks of every pass:
build, clone, run; check the op list, the ``changed`` flag, that outputs are unchanged (in
NumPy and through onnxruntime), and why a pass did not apply."""

from __future__ import annotations

import time

import numpy as np
import pytest
from onnx_reference import assert_reference_matches
from recorded_layers import MatMulAdd

import graphc
from graphc import Input, Model, Sequential, layers
from graphc.ir import Node, TensorType
from graphc.layers.base import flatten_struct
from graphc.ops import REGISTRY, Op, get_op
from graphc.ops.registry import apply
from passes import PassResult
from passes.export import (
    EXPORT_PASSES,
    CancelTransposes,
    EliminateDeadCode,
    EliminateIdentity,
    FuseMatMulAdd,
    InferenceMode,
)


def run_graph(graph, xs):
    """Execute a (transformed) graph in NumPy, inference mode."""
    env = dict(zip(graph.inputs, xs))
    for n in graph.nodes:
        ins = [env[v] if v in env else v.data for v in n.inputs]
        out = get_op(n.op).run(n.attrs, ins)
        env.update(zip(n.outputs, out if isinstance(out, tuple) else (out,)))
    return [env[v] if v in env else v.data for v in graph.outputs]


def inputs_for(model, batch=5, seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.uniform(-2, 2, [batch] + [d if d else 3 for d in v.shape[1:]]).astype(v.dtype)
        for v in model.inputs
    ]


def check_unchanged(model, graph):
    """The transformed graph computes what the model computes, in NumPy and, exported,
    in onnxruntime."""
    graph.lint()
    xs = inputs_for(model)
    want = [np.asarray(o) for o in flatten_struct(model(xs[0] if len(xs) == 1 else xs))]
    got = run_graph(graph, xs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    from graphc.onnx import Runtime, export

    proto = export(model)
    runtime = Runtime(proto)
    x = xs[0] if len(xs) == 1 else xs
    ort = runtime.predict(x)
    for g, w in zip([ort] if len(want) == 1 else ort, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)

    def numpy_outputs(x):
        return [np.asarray(o) for o in flatten_struct(model(x))]

    assert_reference_matches(proto, runtime, x, numpy_outputs, rtol=1e-4, atol=1e-5)


def ops(graph):
    return [n.op for n in graph.nodes]


def _seeded(model):
    rng = np.random.default_rng(0)
    for p in model.graph.parameters:
        p.assign(rng.uniform(-0.5, 0.5, p.shape).astype(p.dtype))
    return model


def mlp():
    return _seeded(
        Sequential(
            [
                layers.Dense(8, activation="relu", input_shape=(4,)),
                layers.Dropout(0.5),
                layers.Dense(3, activation="softmax"),
            ]
        )
    )


def unfused_mlp():
    """``mlp`` with each Dense's matmul and add recorded as two nodes."""
    return _seeded(
        Sequential(
            [
                Input(shape=(4,)),
                MatMulAdd(8, activation="relu"),
                layers.Dropout(0.5),
                MatMulAdd(3, activation="softmax"),
            ]
        )
    )


def test_every_export_pass_is_a_pass_returning_pass_result():
    graph = mlp().graph.clone()
    for cls in EXPORT_PASSES:
        result = cls().run(graph)
        assert isinstance(result, PassResult) and result.graph is graph
        assert isinstance(result.reason, str) and result.reason


# ---- EliminateDeadCode -------------------------------------------------------------------
def test_dead_code_nothing_to_do_on_a_model_graph():
    graph = mlp().graph.clone()
    result = EliminateDeadCode().run(graph)
    assert not result.changed and result.reason == "every node reaches an output"


def test_dead_code_removes_nodes_reaching_no_output():
    model = mlp()
    graph = model.graph.clone()
    x = graph.inputs[0]
    a = Node("relu", [x], [x.type])
    b = Node("tanh", [a.outputs[0]], [x.type])
    graph.nodes += [a, b]
    graph.invalidate()
    result = EliminateDeadCode().run(graph)
    assert result.changed and "2 node(s)" in result.reason
    assert ops(graph) == ops(model.graph)
    assert a not in x.uses
    check_unchanged(model, graph)


# ---- InferenceMode -----------------------------------------------------------------------
def test_inference_mode_removes_dropout():
    model = mlp()
    graph = model.graph.clone()
    result = InferenceMode().run(graph)
    assert result.changed and result.reason == "removed 1 dropout node(s)"
    assert ops(graph) == ["gemm", "relu", "gemm", "softmax"]
    check_unchanged(model, graph)


def test_inference_mode_without_dropout():
    model = _seeded(Sequential([layers.Dense(3, input_shape=(4,))]))
    result = InferenceMode().run(model.graph.clone())
    assert not result.changed and result.reason == "no dropout nodes"


def test_inference_mode_dropout_producing_the_output():
    model = _seeded(Sequential([layers.Dense(3, input_shape=(4,)), layers.Dropout(0.3)]))
    graph = model.graph.clone()
    assert InferenceMode().run(graph).changed
    assert ops(graph) == ["gemm"]
    assert graph.outputs[0].producer.op == "gemm"
    check_unchanged(model, graph)


def test_inference_mode_dropout_of_an_input_becomes_identity():
    x = Input(shape=(3,), name="x")
    model = Model(x, layers.Dropout(0.5)(x))
    graph = model.graph.clone()
    result = InferenceMode().run(graph)
    assert result.changed and "identity" in result.reason
    assert ops(graph) == ["identity"]
    check_unchanged(model, graph)


# ---- FuseMatMulAdd -----------------------------------------------------------------------
def test_fuse_matmul_add_into_gemm():
    model = unfused_mlp()
    graph = model.graph.clone()
    InferenceMode().run(graph)
    result = FuseMatMulAdd().run(graph)
    assert result.changed and result.reason == "fused 2 matmul+add pair(s) into gemm"
    assert ops(graph) == ["gemm", "relu", "gemm", "softmax"]
    gemm = graph.nodes[0]
    assert [v.kind for v in gemm.inputs] == ["input", "param", "param"]
    assert gemm.outputs[0].name == model.graph.nodes[1].outputs[0].name  # the add's name
    check_unchanged(model, graph)


def test_fuse_skips_rank_3_inputs():
    x = Input(shape=(5, 4), name="x")
    model = _seeded(Model(x, layers.Dense(3)(x)))
    graph = model.graph.clone()
    result = FuseMatMulAdd().run(graph)
    assert not result.changed
    assert "input has rank 3; Gemm needs rank 2" in result.reason
    assert ops(graph) == ["matmul", "add"]


def test_fuse_skips_dense_without_bias():
    model = _seeded(Sequential([layers.Dense(3, use_bias=False, input_shape=(4,))]))
    result = FuseMatMulAdd().run(model.graph.clone())
    assert not result.changed
    assert "not read by exactly one add" in result.reason


def test_fuse_skips_a_matmul_read_twice():
    class Twice(graphc.Layer):
        def build(self, shape):
            self.w = self.add_weight((shape[-1], 3), name="w")
            self.b = self.add_weight((3,), name="b", initializer="ones")

        def call(self, x):
            y = graphc.ops.matmul(x, self.w)
            return graphc.ops.add(y, self.b) * y

    x = Input(shape=(4,), name="x")
    model = _seeded(Model(x, Twice()(x)))
    graph = model.graph.clone()
    result = FuseMatMulAdd().run(graph)
    assert not result.changed and "not read by exactly one add" in result.reason
    check_unchanged(model, graph)


def test_fuse_skips_a_non_weight_operand_and_a_wrong_bias():
    class Odd(graphc.Layer):
        def build(self, shape):
            self.w = self.add_weight((shape[-1], 3), name="w")
            self.s = self.add_weight((1,), name="s", initializer="ones")

        def call(self, x):
            return graphc.ops.add(graphc.ops.matmul(x, self.w), self.s)

    x = Input(shape=(4,), name="x")
    model = _seeded(Model(x, Odd()(x)))
    result = FuseMatMulAdd().run(model.graph.clone())
    assert not result.changed and "is not a 1-D weight of 3 entries" in result.reason

    a = Input(shape=(4,), name="a")
    b = Input(batch_shape=(4, 2), name="b")
    model = Model([a, b], graphc.ops.matmul(a, b))
    result = FuseMatMulAdd().run(model.graph.clone())
    assert not result.changed and "the right operand is not a 2-D weight" in result.reason

    model = Model(a, layers.Identity()(a))
    result = FuseMatMulAdd().run(model.graph.clone())
    assert not result.changed and result.reason == "no matmul nodes"


def test_fuse_partial_reports_what_it_skipped():
    x = Input(shape=(4,), name="x")
    h = MatMulAdd(4, name="fused")(x)
    model = _seeded(Model(x, layers.Dense(2, use_bias=False, name="plain")(h)))
    graph = model.graph.clone()
    result = FuseMatMulAdd().run(graph)
    assert result.changed and ops(graph) == ["gemm", "matmul"]
    assert "not fused: plain (matmul)" in result.reason
    check_unchanged(model, graph)


def test_gemm_op_rules():
    op = get_op("gemm")
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    assert op.infer({}, TensorType((None, 4)), TensorType((4, 5)), TensorType((5,))) == TensorType(
        (None, 5)
    )
    np.testing.assert_allclose(op.run({}, [x, w, b]), x @ w + b)
    g = rng.normal(size=(3, 5))
    gx, gw, gb = op.gradients({}, (x, w, b), (x @ w + b,), (g,))
    np.testing.assert_allclose(gx, g @ w.T)
    np.testing.assert_allclose(gw, x.T @ g)
    np.testing.assert_allclose(gb, g.sum(0))
    with pytest.raises(ValueError, match="bias"):
        op.infer({}, TensorType((None, 4)), TensorType((4, 5)), TensorType((4,)))


# ---- EliminateIdentity -------------------------------------------------------------------
def test_identity_in_the_middle_is_removed():
    x = Input(shape=(4,), name="x")
    h = layers.Identity()(layers.Dense(3)(x))
    model = _seeded(Model(x, layers.Dense(2, name="out")(h)))
    graph = model.graph.clone()
    result = EliminateIdentity().run(graph)
    assert result.changed and result.reason == "removed 1 identity node(s)"
    assert "identity" not in ops(graph)
    check_unchanged(model, graph)


def test_identity_producing_an_output_is_removed_when_renamable():
    x = Input(shape=(4,), name="x")
    model = _seeded(Model(x, layers.Identity(name="final")(layers.Dense(3)(x))))
    graph = model.graph.clone()
    assert EliminateIdentity().run(graph).changed
    assert ops(graph) == ["gemm"]
    from graphc.onnx import export

    assert [o.name for o in export(model).graph.output] == ["final"]
    check_unchanged(model, graph)


def test_identity_of_a_graph_input_is_kept():
    x = Input(shape=(4,), name="x")
    model = Model(x, layers.Identity(name="same")(x))
    graph = model.graph.clone()
    result = EliminateIdentity().run(graph)
    assert not result.changed
    assert "kept every identity node" in result.reason and "from graph input 'x'" in result.reason
    assert ops(graph) == ["identity"]


def test_identity_of_another_output_is_kept():
    x = Input(shape=(4,), name="x")
    h = layers.Dense(3, name="d")(x)
    model = _seeded(Model(x, [h, layers.Identity(name="copy")(h)]))
    graph = model.graph.clone()
    result = EliminateIdentity().run(graph)
    assert not result.changed and "from another output" in result.reason
    check_unchanged(model, graph)


def test_no_identity():
    result = EliminateIdentity().run(mlp().graph.clone())
    assert not result.changed and result.reason == "no identity nodes"


# ---- CancelTransposes --------------------------------------------------------------------
def test_cancel_transposes_without_transposes():
    graph = mlp().graph.clone()
    result = CancelTransposes().run(graph)
    assert not result.changed and result.reason == "no transpose nodes"


@pytest.fixture
def transpose_op():
    """A ``transpose`` op for this test only (graphc has none yet); the real one if it
    exists. Removed from the registry afterwards."""
    if "transpose" in REGISTRY:
        yield
        return

    class _Transpose(Op):
        name = "transpose"

        def infer(self, attrs, x):
            perm = attrs.get("perm") or tuple(reversed(range(len(x.shape))))
            return TensorType(tuple(x.shape[p] for p in perm), x.dtype)

        def kernel(self, attrs, x):
            return np.transpose(x, attrs.get("perm"))

        def vjp(self, attrs, xs, ys, gys):
            return (np.transpose(gys[0], np.argsort(attrs["perm"])),)

        def lower(self, attrs, b, x):
            return b.op("Transpose", x, perm=list(attrs["perm"]))

    try:
        yield
    finally:
        REGISTRY.pop("transpose", None)


class _Swap(graphc.Layer):
    def __init__(self, perm, **kwargs):
        super().__init__(**kwargs)
        self.perm = perm

    def call(self, x):
        return apply("transpose", [x], perm=self.perm)


def test_inverse_transposes_cancel(transpose_op):
    x = Input(shape=(2, 3, 4), name="x")
    h = _Swap((0, 2, 3, 1))(x)  # to channels first
    h = _Swap((0, 3, 1, 2))(h)  # and back
    model = _seeded(Model(x, layers.Dense(5, name="out")(h)))
    graph = model.graph.clone()
    result = CancelTransposes().run(graph)
    assert result.changed and result.reason == "cancelled 1 inverse transpose pair(s)"
    assert ops(graph) == ["matmul", "add"]
    check_unchanged(model, graph)


def test_non_inverse_transposes_stay(transpose_op):
    x = Input(shape=(2, 3, 4), name="x")
    model = Model(x, _Swap((0, 2, 1, 3))(_Swap((0, 2, 3, 1))(x)))
    graph = model.graph.clone()
    result = CancelTransposes().run(graph)
    assert not result.changed and "followed by its inverse" in result.reason
    assert ops(graph) == ["transpose", "transpose"]


def test_transposes_cancelling_to_an_input_output_stay(transpose_op):
    x = Input(shape=(2, 3), name="x")
    model = Model(x, _Swap((0, 2, 1), name="back")(_Swap((0, 2, 1))(x)))
    graph = model.graph.clone()
    result = CancelTransposes().run(graph)
    assert not result.changed and "cannot be renamed" in result.reason
    check_unchanged(model, graph)


def test_first_transpose_read_elsewhere_stays(transpose_op):
    x = Input(shape=(2, 3), name="x")
    t = _Swap((0, 2, 1))(x)
    back = _Swap((0, 2, 1))(t)
    model = _seeded(Model(x, [layers.Dense(2, name="a")(back), layers.Dense(2, name="b")(t)]))
    graph = model.graph.clone()
    assert CancelTransposes().run(graph).changed
    assert ops(graph).count("transpose") == 1
    check_unchanged(model, graph)


# ---- all of them, on a long chain ------------------------------------------------------
@pytest.mark.slow
def test_export_passes_on_a_long_chain_are_fast():
    graphc.utils.set_random_seed(0)
    model = Sequential(
        [Input(shape=(4,))]
        + [MatMulAdd(4, activation="relu") for _ in range(700)]
        + [layers.Dropout(0.1), layers.Identity()]
    )
    graph = model.graph.clone()
    assert len(graph.nodes) >= 2000
    start = time.perf_counter()
    for p in EXPORT_PASSES:
        p().run(graph)
    elapsed = time.perf_counter() - start
    assert ops(graph) == ["gemm", "relu"] * 700
    assert elapsed < 2.0, f"export passes took {elapsed:.2f} s on {len(graph.nodes)} nodes"
    check_unchanged(model, graph)
