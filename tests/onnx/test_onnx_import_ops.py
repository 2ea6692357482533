"""The ONNX ops graphc/onnx/import_ops.py and the narrow-dtype Cast import, checked on
ONNX's own node test cases (their expected outputs come from onnx's reference
implementation) through ``graphc.onnx.backend``: each must pass, never be wrong.

One test runs a few cases of every family, another every case whose name starts with a
family's prefix (both slow: collecting onnx's cases takes most of a minute); the rest are
fast unit tests of the importer.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from test_onnx_backend_node_tests import run_graphc  # noqa: E402

FAST = [
    "test_cast_FLOAT_to_FLOAT8E4M3FN",
    "test_cast_no_saturate_FLOAT_to_FLOAT8E5M2",
    "test_cast_FLOAT8E4M3FNUZ_to_FLOAT",
    "test_cast_FLOAT_to_BFLOAT16",
    "test_cast_INT4_to_FLOAT",
    "test_cast_FLOAT_to_UINT4",
    "test_cast_FLOAT4E2M1_to_FLOAT16",
    "test_cast_e8m0_FLOAT_to_FLOAT8E8M0",
    "test_castlike_FLOAT_to_FLOAT8E5M2FNUZ",
    "test_bitshift_left_int8_overflow",
    "test_bitshift_right_int32_negative_input",
    "test_bitwise_and_ui8_bcast_4v3d",
    "test_bitwise_not_3d",
    "test_acosh",
    "test_erf",
    "test_isinf_negative",
    "test_isnan",
    "test_celu",
    "test_shrink_soft",
    "test_prelu_broadcast",
    "test_reduce_prod_keepdims_random",
    "test_reduce_prod_empty_set",
    "test_reduce_max_bool_inputs",
    "test_reduce_min_empty_set",
    "test_div_int32_trunc",
    "test_clip_default_int8_min",
    "test_cumsum_1d_reverse_exclusive",
    "test_cumprod_2d_axis_1",
    "test_top_k_smallest",
    "test_einsum_batch_diagonal",
    "test_onehot_negative_indices",
    "test_unique_not_sorted_without_axis",
    "test_unique_sorted_with_axis_3d",
    "test_compress_default_axis",
    "test_scatter_elements_with_reduction_max",
    "test_scatternd_multiply",
    "test_gathernd_example_int32_batch_dim1",
    "test_eyelike_with_dtype",
    "test_shape_start_1_end_negative_1",
    "test_constantofshape_int_zeros",
    "test_quantizelinear_axis",
    "test_quantizelinear_e4m3fn",
    "test_quantizelinear_int4",
    "test_dequantizelinear_blocked",
    "test_dequantizelinear_uint4",
    "test_dynamicquantizelinear_min_adjusted",
    "test_qlinearmatmul_3D_int8_float32",
    "test_matmulinteger",
    "test_instancenorm_example",
    "test_group_normalization_example",
    "test_mvn",
    "test_l2normalization_axis_0",
    "test_det_nd",
    "test_nonzero_example",
    "test_reversesequence_batch",
    "test_if",
    "test_loop11",
    "test_scan9_sum",
    "test_scan9_multi_state",
    "test_bitcast_scalar_float32_to_int32",
    "test_matmul_1d_3d",
    "test_reflect_pad",
    "test_wrap_pad",
    "test_not_2d",
    "test_convinteger_with_padding",
    "test_qlinearconv",
    "test_optional_has_element_empty_no_input_tensor_input",
]

FAMILIES = (
    "cast",
    "bitshift",
    "bitwise",
    "reduce_prod",
    "cumsum",
    "cumprod",
    "top_k",
    "einsum",
    "onehot",
    "unique",
    "compress",
    "scatter",
    "gathernd",
    "quantizelinear",
    "dequantizelinear",
    "dynamicquantizelinear",
    "qlinearmatmul",
)


def _cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {c.name: c for c in collect_testcases()}


_CASES = None


def _case(name):
    global _CASES
    if _CASES is None:
        _CASES = _cases()
    return _CASES[name]


@pytest.mark.slow  # onnx's collect_testcases alone takes most of a minute
@pytest.mark.parametrize("name", FAST)
def test_node_case_passes(name):
    case = _case(name)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        status, reason = run_graphc(case)
    assert status == "passed", f"{name}: {status} {reason}"


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_no_case_of_the_family_is_wrong(family):
    global _CASES
    if _CASES is None:
        _CASES = _cases()
    names = [n for n in _CASES if n.startswith(f"test_{family}")]
    assert names
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        results = {n: run_graphc(_CASES[n]) for n in names}
    wrong = {n: r for n, (s, r) in results.items() if s == "wrong"}
    assert not wrong, wrong


def test_refusal_names_op_node_opset_and_reason():
    from onnx import TensorProto, helper

    from graphc.onnx import OnnxImportError, load

    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], name="the_topk", sorted=0)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
        [
            helper.make_tensor_value_info("v", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("i", TensorProto.INT64, None),
        ],
        initializer=[helper.make_tensor("k", TensorProto.INT64, [1], [2])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(OnnxImportError, match=r"'TopK'.*'the_topk'.*opset 18.*sorted=0"):
        load(proto)


def test_imported_cumsum_trains():
    """An imported CumSum has a gradient: the model's weight upstream of it trains."""
    from onnx import TensorProto, helper, numpy_helper

    from graphc.onnx import load

    w = numpy_helper.from_array(np.full((3,), 0.5, np.float32), "w")
    axis = numpy_helper.from_array(np.asarray(1, np.int64), "axis")
    nodes = [
        helper.make_node("Mul", ["x", "w"], ["xw"]),
        helper.make_node("CumSum", ["xw", "axis"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        initializer=[w, axis],
    )
    model = load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.cumsum(x * 0.5, axis=1), rtol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    target = np.cumsum(x, axis=1)
    before = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=5, verbose=0)
    assert model.evaluate(x, target, verbose=0) < before


def test_shape_and_size_of_unknown_dimensions_are_read_at_run_time():
    from onnx import TensorProto, helper

    from graphc.onnx import load

    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Size", ["x"], ["n"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "t"])],
        [
            helper.make_tensor_value_info("s", TensorProto.INT64, [3]),
            helper.make_tensor_value_info("n", TensorProto.INT64, []),
        ],
    )
    model = load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    for shape in ((2, 3, 5), (4, 3, 1)):
        s, n = model.predict(np.zeros(shape, np.float32), verbose=0)
        assert s.tolist() == list(shape) and int(n) == int(np.prod(shape))


def test_random_ops_are_refused_with_the_reason():
    from onnx import TensorProto, helper

    from graphc.onnx import OnnxImportError, load

    node = helper.make_node("Bernoulli", ["x"], ["y"], name="coin")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    with pytest.raises(OnnxImportError, match=r"'Bernoulli'.*'coin'.*opset 22.*random"):
        load(proto)


@pytest.mark.parametrize(
    "to,saturate",
    [
        ("float8_e4m3fn", 1),
        ("float8_e4m3fn", 0),
        ("float8_e4m3fnuz", 1),
        ("float8_e5m2", 1),
        ("float8_e5m2", 0),
        ("float8_e5m2fnuz", 1),
        ("float8_e8m0fnu", 1),
        ("bfloat16", 1),
        ("int4", 1),
        ("uint4", 1),
        ("float4_e2m1fn", 1),
    ],
)
def test_cast_kernel_matches_onnx_reference(to, saturate):
    """graphc's cast op (kernel) against onnx's reference evaluator, with saturate."""
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    from graphc.ops import get_op
    from graphc.ops.lowering import ONNX_DTYPES

    x = np.array(
        [0.0, -0.3, 1.7, 3.3, -7.9, 100.0, 1000.0, -1e6, np.inf, -np.inf, 1e-6], np.float32
    )
    if to == "int4":
        x = np.array([0.0, 1.0, 3.0, 7.0, -2.0, -8.0], np.float32)
    if to == "uint4":
        x = np.array([0.0, 1.0, 3.0, 7.0, 12.0, 15.0], np.float32)
    attrs = {"saturate": saturate} if to.startswith("float8") and to != "float8_e8m0fnu" else {}
    node = helper.make_node("Cast", ["x"], ["y"], to=ONNX_DTYPES[to], **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [x.size])],
        [helper.make_tensor_value_info("y", ONNX_DTYPES[to], [x.size])],
    )
    ref = ReferenceEvaluator(helper.make_model(graph))
    want = ref.run(None, {"x": x})[0]
    got = get_op("cast").run({"dtype": to, "saturate": bool(saturate)}, [x])
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))


def test_cast_to_float8_lowers_with_saturate():
    """The cast op's ONNX lowering keeps saturate=0 (opset 19+) and runs in onnxruntime."""
    import onnxruntime as ort

    from graphc.backends.onnx.builder import one_node_model
    from graphc.ops import get_op
    from graphc.ops.masking import narrow_dtype

    x = np.array([1.0, 1000.0, -1000.0], np.float32)
    for saturate in (True, False):
        attrs = {"dtype": "float8_e4m3fn", "saturate": saturate, "from_dtype": "float32"}
        model = one_node_model("cast", attrs, [x], opset=21)
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        got = np.asarray(sess.run(None, {"x0": x})[0])
        if got.dtype == np.uint8:  # onnxruntime hands float8 back as its bytes
            got = got.view(narrow_dtype("float8_e4m3fn"))

        want = get_op("cast").run(attrs, [x])
        np.testing.assert_array_equal(np.asarray(got).astype(np.float32), want.astype(np.float32))
