"""The neural-network families of ``graphc.onnx.load`` (graphc/onnx/_nn_import.py):
attention, resize, transposed convolution, sampling, pooling leftovers, spectral and
detection ops. ONNX's own node cases of each family pass through ``graphc.onnx.backend``;
imported models made of them train and re-export; what graphc cannot express is refused
with the op, the node, the opset and the reason."""

from __future__ import annotations

import pathlib
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from graphc.onnx import OnnxImportError, load  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from test_onnx_backend_node_tests import run_graphc  # noqa: E402

# One or two of ONNX's node cases per family, the harder variants.
NODE_CASES = [
    "test_attention_4d_gqa_softcap",
    "test_attention_3d_with_past_and_present_qk_matmul_softmax",
    "test_attention_4d_causal_nonpad_batch_prefill",
    "test_attention_local_window_ext_cache_rank3_head_mask",
    "test_resize_upsample_sizes_cubic",
    "test_resize_tf_crop_and_resize_axes_3_2",
    "test_resize_downsample_scales_linear_antialias",
    "test_resize_upsample_sizes_nearest_not_smaller",
    "test_gridsample_bicubic_align_corners_1_additional_1",
    "test_gridsample_volumetric_nearest_align_corners_0",
    "test_convtranspose_group_2_image_3",
    "test_convtranspose_output_shape",
    "test_rotary_embedding_with_interleaved_rotary_dim",
    "test_linear_attention_gated_delta_gqa",
    "test_causal_conv_with_state_silu_with_past_state",
    "test_nonmaxsuppression_two_classes",
    "test_dft_irfft",
    "test_col2im_5d",
    "test_lppool_2d_dilations",
    "test_averagepool_3d_dilations_small",
    "test_maxpool_3d_dilations",
    "test_center_crop_pad_crop_and_pad",
    "test_lrn",
    "test_affine_grid_3d_align_corners",
]


@pytest.fixture(scope="module")
def node_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {c.name: c for c in collect_testcases() if c.name in NODE_CASES}


@pytest.mark.slow
@pytest.mark.parametrize("name", NODE_CASES)
def test_node_case_passes(node_cases, name):
    with np.errstate(all="ignore"):
        status, reason = run_graphc(node_cases[name])
    assert status == "passed", reason


def _model(nodes, inputs, outputs, inits=(), opset=19):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _info(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def test_convtranspose_resize_model_trains_and_reexports(tmp_path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (2, 3, 3, 3)).astype("float32"), "w")
    b = numpy_helper.from_array(np.zeros(3, "float32"), "b")
    scales = numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], "float32"), "scales")
    nodes = [
        helper.make_node(
            "ConvTranspose", ["x", "w", "b"], ["t"], strides=[2, 2], pads=[1, 1, 0, 0]
        ),
        helper.make_node("Resize", ["t", "", "scales"], ["y"], mode="linear"),
    ]
    proto = _model(
        nodes, [_info("x", [None, 2, 4, 4])], [_info("y", [None, 3, 4, 4])], [w, b, scales]
    )
    model = load(proto)
    x = rng.normal(size=(8, 2, 4, 4)).astype("float32")
    from onnx.reference import ReferenceEvaluator

    want = ReferenceEvaluator(proto).run(None, {"x": x})[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    target = rng.normal(size=want.shape).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    before = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=5, batch_size=4, verbose=0)
    assert model.evaluate(x, target, verbose=0) < before
    path = str(tmp_path / "re.onnx")
    model.export(path, opset=19)
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_attention_model_trains_and_reexports(tmp_path):
    rng = np.random.default_rng(1)
    # 4 query heads and 2 key/value heads of size 2 (grouped-query attention)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (8, d)).astype("float32"), n)
        for n, d in (("wq", 8), ("wk", 4), ("wv", 4))
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"]),
        helper.make_node("MatMul", ["x", "wk"], ["k"]),
        helper.make_node("MatMul", ["x", "wv"], ["v"]),
        helper.make_node(
            "Attention",
            ["q", "k", "v"],
            ["y"],
            q_num_heads=4,
            kv_num_heads=2,
            is_causal=1,
            softcap=3.0,
        ),
    ]
    proto = _model(nodes, [_info("x", [None, 5, 8])], [_info("y", [None, 5, 8])], inits, 23)
    model = load(proto)
    x = rng.normal(size=(6, 5, 8)).astype("float32")
    from onnx.reference import ReferenceEvaluator

    want = ReferenceEvaluator(proto).run(None, {"x": x})[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    target = rng.normal(size=want.shape).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    before = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=5, batch_size=3, verbose=0)
    assert model.evaluate(x, target, verbose=0) < before
    path = str(tmp_path / "att.onnx")
    model.export(path, opset=23)
    got = ReferenceEvaluator(path).run(None, {onnx.load(path).graph.input[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "node,opset,said",
    [
        (
            helper.make_node("Resize", ["x", "", "s"], ["y"], mode="area", name="up"),
            19,
            "mode='area'",
        ),
        (
            helper.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 2], ceil_mode=1, name="lp"),
            19,
            "ceil_mode=1",
        ),
        (
            helper.make_node("GridSample", ["x", "g"], ["y"], padding_mode="wrap", name="gs"),
            20,
            "padding_mode='wrap'",
        ),
    ],
)
def test_unsupported_attributes_are_refused_by_name(node, opset, said):
    inits = [numpy_helper.from_array(np.array([1, 1, 2, 2], "float32"), "s")]
    inputs = [_info("x", [1, 2, 4, 4])]
    if "g" in node.input:
        inputs.append(_info("g", [1, 3, 3, 2]))
    proto = _model([node], inputs, [_info("y", None)], inits, opset)
    with pytest.raises(OnnxImportError) as err:
        load(proto)
    text = str(err.value)
    assert node.op_type in text and node.name in text and str(opset) in text and said in text
