"""The ONNX-level folding peepholes on small hand-made node lists: what they change, what
they leave, and that the model computes the same (onnx's reference evaluator)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from passes.onnx import fold_batch_norms, fold_constant_nodes, merge_duplicates


def _run(nodes, inits, inputs, outputs, feeds):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    return ReferenceEvaluator(model).run(None, feeds)


def _vi(name, shape):
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def _copy(items):
    out = []
    for item in items:
        c = type(item)()
        c.CopyFrom(item)
        out.append(c)
    return out


def test_fold_batch_norm_into_conv_without_bias():
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype("f"), "w"),
        numpy_helper.from_array(rng.uniform(0.5, 2, 3).astype("f"), "g"),
        numpy_helper.from_array(rng.standard_normal(3).astype("f"), "b"),
        numpy_helper.from_array(rng.standard_normal(3).astype("f"), "m"),
        numpy_helper.from_array(rng.uniform(0.5, 2, 3).astype("f"), "v"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], epsilon=1e-3),
    ]
    io = ([_vi("x", [2, 2, 5, 5])], [_vi("y", [2, 3, 5, 5])])
    x = rng.standard_normal((2, 2, 5, 5)).astype("f")
    (want,) = _run(_copy(nodes), _copy(inits), *io, {"x": x})
    folded, count = fold_batch_norms(nodes, inits, ["y"])
    assert count == 1 and [n.op_type for n in folded] == ["Conv"]
    assert list(folded[0].input) == ["x", "w", "b"] and list(folded[0].output) == ["y"]
    (got,) = _run(folded, inits, *io, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_batch_norm_not_folded_into_a_gemm_with_alpha_or_a_read_output():
    rng = np.random.default_rng(1)
    stats = [numpy_helper.from_array(np.ones(3, "f"), n) for n in "gbmv"]
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype("f"), "w")
    scaled = [
        helper.make_node("Gemm", ["x", "w"], ["h"], alpha=2.0),
        helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["y"]),
    ]
    assert fold_batch_norms(scaled, [w, *stats], ["y"])[1] == 0
    read = [
        helper.make_node("Gemm", ["x", "w"], ["h"]),
        helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["y"]),
    ]
    assert fold_batch_norms(read, [w, *stats], ["y", "h"])[1] == 0


def test_fold_constant_nodes_keeps_the_weight_name_and_leaves_outputs():
    k = numpy_helper.from_array(np.arange(24, dtype="f").reshape(2, 3, 4), "lstm/kernel")
    idx = numpy_helper.from_array(np.asarray([1, 0], dtype=np.int64), "idx")
    axes = numpy_helper.from_array(np.asarray([0], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Gather", ["lstm/kernel", "idx"], ["g"], axis=0),
        helper.make_node("Unsqueeze", ["g", "axes"], ["u"]),
        helper.make_node("Add", ["x", "u"], ["y"]),
        helper.make_node("Transpose", ["idx"], ["out"], perm=[0]),
    ]
    inits = [k, idx, axes]
    folded, count = fold_constant_nodes(nodes, inits, ["y", "out"])
    assert count == 2
    assert [n.op_type for n in folded] == ["Add", "Transpose"]
    assert list(folded[0].input) == ["x", "lstm/kernel"]
    got = numpy_helper.to_array(next(t for t in inits if t.name == "lstm/kernel"))
    np.testing.assert_array_equal(got, np.arange(24, dtype="f").reshape(2, 3, 4)[[1, 0]][None])


def test_merge_duplicates_merges_constants_and_nodes_but_not_weights_or_random_ops():
    inits = [
        numpy_helper.from_array(np.asarray([2.0], "f"), "c1"),
        numpy_helper.from_array(np.asarray([2.0], "f"), "c2"),
        numpy_helper.from_array(np.asarray([2.0], "f"), "weight"),
    ]
    nodes = [
        helper.make_node("Mul", ["x", "c1"], ["a"]),
        helper.make_node("Mul", ["x", "c2"], ["b"]),  # the same as a once c2 is c1
        helper.make_node("Relu", ["a"], ["ra"]),
        helper.make_node("Relu", ["b"], ["rb"]),  # then the same as ra
        helper.make_node("Mul", ["x", "weight"], ["w"]),
        helper.make_node("RandomUniformLike", ["x"], ["r1"]),
        helper.make_node("RandomUniformLike", ["x"], ["r2"]),
        helper.make_node("Sum", ["ra", "rb", "w", "r1", "r2"], ["y"]),
    ]
    merged, count = merge_duplicates(nodes, inits, ["y"], keep=["weight"])
    assert count == 3  # c2, b, rb
    assert [n.op_type for n in merged].count("Mul") == 2
    assert [n.op_type for n in merged].count("RandomUniformLike") == 2
    assert list(merged[-1].input) == ["ra", "ra", "w", "r1", "r2"]


def test_merge_duplicates_keeps_nodes_writing_graph_outputs():
    nodes = [helper.make_node("Relu", ["x"], ["y1"]), helper.make_node("Relu", ["x"], ["y2"])]
    merged, count = merge_duplicates(nodes, [], ["y1", "y2"])
    assert count == 0 and len(merged) == 2
