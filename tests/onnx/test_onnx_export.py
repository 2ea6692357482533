"""graphc.onnx.export: parity with the NumPy backend for every example model at several
opsets and two batch sizes, names, symbolic dims, validation, external data, atomic writes."""

from __future__ import annotations

import os
import re

import numpy as np
import onnx
import pytest
from onnx_example_models import MODELS, reference, sample_inputs
from onnx_reference import assert_reference_matches

import graphc
from graphc import Input, Model, layers
from graphc.backends.onnx.builder import ir_version_for
from graphc.onnx import (
    DEFAULT_OPSET,
    ExportError,
    Runtime,
    export,
    export_with_report,
    newest_opset,
)
from graphc.ops import get_op

RTOL, ATOL = 1e-4, 1e-5
OPSETS = sorted({13, 17, 18, newest_opset()})


def _assert_parity(model, proto, batches=(1, 7)):
    rt = Runtime(proto)
    for batch in batches:
        x = sample_inputs(model, batch, seed=batch)
        got = rt.predict(x)
        got = [got] if len(rt.outputs) == 1 else got
        want = reference(model, x)
        assert len(got) == len(want)
        for name, g, w in zip(rt.output_names, got, want):
            assert g.shape == w.shape, name
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=name)
    # The second runtime: onnx's reference evaluator, on the first rows of the first batch.
    # Every example model runs there: a skip (an op it lacks) fails here, so that it is
    # listed in onnx_reference.EXCLUDED or the model changed on purpose.
    x = sample_inputs(model, batches[0], seed=batches[0])
    assert assert_reference_matches(
        proto, rt, x, lambda xs: reference(model, xs), rtol=RTOL, atol=ATOL
    ), "onnx's reference evaluator did not run this model (see the session summary)"


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_parity_with_numpy(name, opset):
    model = MODELS[name]()
    proto = export(model, opset=opset)
    assert proto.opset_import[0].version == opset
    _assert_parity(model, proto)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parity_without_optimization(name):
    model = MODELS[name]()
    proto = export(model, optimize=False)
    _assert_parity(model, proto)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_checks_pass_and_shapes_agree(name):
    # export() already validates; repeat the checks here so the test states the contract.
    model = MODELS[name]()
    proto = export(model)
    onnx.checker.check_model(proto, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True, check_type=True)
    for vi, v in zip(inferred.graph.output, model.outputs):
        dims = [
            d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim
        ]
        assert len(dims) == len(v.shape)
        assert all(a is None or b is None or a == b for a, b in zip(dims, v.shape))


def test_inputs_and_outputs_carry_the_model_names():
    model = MODELS["multi_io"]()
    proto = export(model)
    assert [i.name for i in proto.graph.input] == ["left", "right"]
    assert [o.name for o in proto.graph.output] == ["cls", "reg"]
    assert model.output_names == ["cls", "reg"]


def test_shared_layer_outputs_get_suffixes():
    proto = export(MODELS["shared_layer"]())
    assert [o.name for o in proto.graph.output] == ["shared", "shared_1"]


def test_output_that_is_an_input_gets_its_own_name():
    proto = export(MODELS["input_as_output"]())
    assert [i.name for i in proto.graph.input] == ["a"]
    assert [o.name for o in proto.graph.output] == ["d", "a_1"]


def test_sequential_output_named_after_last_layer():
    model = MODELS["mlp_dropout"]()
    proto = export(model)
    assert [o.name for o in proto.graph.output] == [model.layers[-1].name]
    assert [i.name for i in proto.graph.input] == model.input_names


def _dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


def test_batch_dimension_is_symbolic():
    proto = export(MODELS["flatten_reshape_identity"]())
    assert _dims(proto.graph.input[0]) == ["batch", 4, 3, 2]
    assert _dims(proto.graph.output[0]) == ["batch", 2, 5]


def test_other_unknown_dimensions_are_symbolic():
    proto = export(MODELS["unknown_dims"]())
    assert _dims(proto.graph.input[0]) == ["batch", "sequence_dim_1", 4]
    out = _dims(proto.graph.output[0])
    assert out[0] == "batch" and isinstance(out[1], str) and out[1] and out[2] == 3
    rt = Runtime(proto)
    for shape in [(1, 2, 4), (5, 9, 4)]:
        assert rt.predict(np.zeros(shape, "float32")).shape == shape[:2] + (3,)


def test_producer_ir_version_and_default_opset():
    proto = export(MODELS["dense_relu"]())
    assert proto.producer_name == "graphc"
    assert proto.producer_version == graphc.__version__
    assert proto.opset_import[0].version == DEFAULT_OPSET == 18
    assert proto.ir_version == ir_version_for(18) == 8


def test_weights_are_initializers_named_by_their_paths():
    model = MODELS["mlp_dropout"]()
    proto = export(model, optimize=False)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for p in model.weights:
        np.testing.assert_array_equal(inits[p.path], p.numpy())
    assert sum(a.size for a in inits.values()) == model.count_params()


def test_node_names_say_which_layer_made_them():
    model = MODELS["nested"]()
    proto = export(model)
    names = [n.name for n in proto.graph.node]
    assert any(n.startswith("inner/") for n in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("bad", [12, newest_opset() + 1, 0, "eighteen", 17.5, True])
def test_opset_out_of_range_names_the_valid_range(bad):
    with pytest.raises(ValueError, match=f"13 to {newest_opset()}"):
        export(MODELS["dense_relu"](), opset=bad)


def test_export_with_report_lists_each_pass_with_node_counts():
    model = MODELS["mlp_dropout"]()
    result = export_with_report(model)
    names = [p.name for p in result.passes]
    assert names == [
        "inference_mode",
        "eliminate_identity",
        "cancel_transposes",
        "fuse_matmul_add",
        "eliminate_dead_code",
    ]
    counts = [(p.nodes_before, p.nodes_after) for p in result.passes]
    assert counts[0] == (len(model.graph.nodes), len(model.graph.nodes) - 2)
    for (_, after), (before, _) in zip(counts, counts[1:]):
        assert after == before
    # The Dense layers with a bias recorded gemm already; the one without keeps its MatMul.
    fuse = result.passes[3]
    assert not fuse.changed and fuse.nodes_after == fuse.nodes_before
    assert fuse.reason.endswith(
        "(matmul): the result is not read by exactly one add (and nothing else)"
    )
    assert not result.passes[2].changed and result.passes[2].reason == "no transpose nodes"
    assert "->" in str(fuse)
    # the model's own graph is untouched
    assert [n.op for n in model.graph.nodes].count("dropout") == 2
    assert export_with_report(model, optimize=False).passes == []


def test_the_passes_result_is_linted_when_a_pass_changed_it(monkeypatch):
    from graphc.ir import Graph

    linted = []
    lint = Graph.lint
    monkeypatch.setattr(Graph, "lint", lambda g: linted.append(g.name) or lint(g))
    export(MODELS["mlp_dropout"]())  # inference_mode removes the dropouts: linted
    assert len(linted) == 1
    # A graph no pass changed is a copy of the model's, checked when it was built.
    export(MODELS["dense_relu"]())
    assert len(linted) == 1


def test_optimize_false_keeps_the_graph_as_recorded():
    model = MODELS["mlp_dropout"]()
    ops = [n.op_type for n in export(model, optimize=False).graph.node]
    assert ops == ["Gemm", "Relu", "Identity", "MatMul", "Tanh", "Identity", "Gemm", "Softmax"]
    ops = [n.op_type for n in export(model).graph.node]
    assert ops == ["Gemm", "Relu", "MatMul", "Tanh", "Gemm", "Softmax"]


def test_export_leaves_no_nodes_on_the_shared_weights():
    model = MODELS["dense_relu"]()
    kernel = model.graph.parameters[0]
    before = list(kernel.uses)
    export(model)
    export(model, optimize=False)
    assert list(kernel.uses) == before == []


# ---- validation --------------------------------------------------------------------------
def _unsqueezing_relu(self, attrs, b, x):
    import numpy as np

    return b.op("Unsqueeze", x, b.const(np.asarray([1], dtype=np.int64)))


def _relu_then_flatten():
    x = Input(shape=(4,), name="x")
    return Model(x, layers.Flatten(name="flat")(layers.Activation("relu")(x)))


def test_disagreeing_shapes_raise_a_clear_error(monkeypatch):
    model = _relu_then_flatten()
    export(model)  # fine as it is
    monkeypatch.setattr(type(get_op("relu")), "lower", _unsqueezing_relu)
    with pytest.raises(ExportError, match=r"disagrees.*relu.*\(None, 4\).*\(batch, 1, 4\)"):
        export(model)


def test_onnx_rejection_is_an_export_error(monkeypatch):
    x = Input(shape=(4,), name="x")
    model = Model(x, layers.Activation("relu", name="act")(x))
    monkeypatch.setattr(type(get_op("relu")), "lower", _unsqueezing_relu)
    with pytest.raises(ExportError, match="ONNX rejects"):
        export(model)


def test_model_export_delegates(tmp_path):
    model = MODELS["dense_tanh"]()
    path = tmp_path / "m.onnx"
    model.export(str(path))
    assert onnx.load(str(path)).graph.output[0].name == "out"
    model.export(str(path), format="onnx", opset=13)
    assert onnx.load(str(path)).opset_import[0].version == 13


# ---- writing -----------------------------------------------------------------------------
def test_writes_the_file(tmp_path):
    model = MODELS["multi_io"]()
    path = tmp_path / "model.onnx"
    proto = export(model, path)
    assert path.read_bytes() == proto.SerializeToString()
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]
    _assert_parity(model, str(path))


def _wide():
    graphc.utils.set_random_seed(3)
    return graphc.Sequential(
        [
            layers.Dense(64, activation="relu", input_shape=(32,)),
            layers.Dropout(0.1),
            layers.Dense(4),
        ]
    )  # 8 KB kernel


def test_external_data_for_big_models(tmp_path):
    model = _wide()
    path = tmp_path / "big.onnx"
    result = export_with_report(model, path, external_data_threshold=1000)
    assert result.external_data
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and names[0] == "big.onnx"
    assert re.fullmatch(r"big\.onnx\.[0-9a-f]{16}\.data", names[1])
    on_disk = onnx.load(str(path), load_external_data=False)
    external = [
        t.name for t in on_disk.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
    ]
    assert external and all(
        loc.value == names[1]
        for t in on_disk.graph.initializer
        for loc in t.external_data
        if loc.key == "location"
    )
    assert path.stat().st_size < 2000  # the 8 KB kernel is not in it
    # the returned proto still holds its weights in memory
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in result.model.graph.initializer)
    _assert_parity(model, str(path))
    _assert_parity(model, result.model)


def test_external_data_without_a_path_is_validated_in_memory():
    model = _wide()
    result = export_with_report(model, external_data_threshold=1000)
    assert result.external_data and result.path is None
    _assert_parity(model, result.model)


def test_failing_write_leaves_an_existing_file_untouched(tmp_path, monkeypatch):
    import sys

    import graphc.backends.onnx.export  # noqa: F401

    module = sys.modules["graphc.backends.onnx.export"]
    path = tmp_path / "model.onnx"
    path.write_bytes(b"the old model")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(module.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        export(MODELS["dense_relu"](), path)
    monkeypatch.undo()
    assert path.read_bytes() == b"the old model"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_failing_write_of_external_data_leaves_nothing_behind(tmp_path, monkeypatch):
    import sys

    module = sys.modules["graphc.backends.onnx.export"]
    path = tmp_path / "model.onnx"
    path.write_bytes(b"the old model")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(module.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        export(_wide(), path, external_data_threshold=1000)
    monkeypatch.undo()
    assert path.read_bytes() == b"the old model"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_failing_export_leaves_an_existing_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"the old model")
    monkeypatch.setattr(type(get_op("relu")), "lower", _unsqueezing_relu)
    with pytest.raises(ExportError):
        export(_relu_then_flatten(), path)
    assert path.read_bytes() == b"the old model"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export(MODELS["dense_relu"](), tmp_path / "nope" / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_new_file_gets_normal_permissions(tmp_path):
    path = tmp_path / "m.onnx"
    export(MODELS["dense_relu"](), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_verbose_prints_the_pass_report(capsys):
    export(MODELS["mlp_dropout"](), verbose=True)
    out = capsys.readouterr().out
    assert "export passes (nodes before -> after):" in out
    assert "inference_mode" in out and "exported: opset 18" in out


def test_the_same_tensor_as_two_outputs():
    proto = export(MODELS["same_output_twice"]())
    assert [o.name for o in proto.graph.output] == ["d", "d_1"]


def test_reference_evaluator_batch_norm_before_opset_14_is_excluded_for_its_bug():
    """onnx.reference's BatchNormalization_9 (opsets 9-13) takes the training mode whenever
    `momentum` is set (normalising with the moving statistics after one update by the
    batch's), though one output means the inference form;
    onnx_reference.EXCLUDED skips it for that. When this fails, onnx fixed it: drop the
    exclusion."""
    from onnx.reference import ReferenceEvaluator

    inp = Input(shape=(3,))
    bn = layers.BatchNormalization()
    model = Model(inp, bn(inp))
    bn.set_weights([np.ones(3), np.zeros(3), np.full(3, 5.0), np.full(3, 4.0)])
    x = np.array([[1.0, 2.0, 3.0], [7.0, 8.0, 9.0]], "float32")
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(want, (x - 5) / np.sqrt(4 + 1e-3), rtol=1e-6)
    proto = export(model, opset=13)
    np.testing.assert_allclose(Runtime(proto).predict(x), want, rtol=RTOL, atol=ATOL)
    got = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: x})[0]
    assert not np.allclose(got, want, rtol=RTOL, atol=ATOL)
    mean, var = 0.99 * 5 + 0.01 * x.mean(0), 0.99 * 4 + 0.01 * x.var(0)
    np.testing.assert_allclose(got, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-5)
