"""Runtime refuses, with the reason, what onnxruntime would get wrong or die on
(issue 11, item 4): integer ids out of an int32 input's range (casting wraps them), and
zero rows through a recurrent op (onnxruntime aborts the process)."""

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.errors import InputDataError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def int32_identity():
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("ids", TensorProto.INT32, ["batch", 3])
    y = helper.make_tensor_value_info("out", TensorProto.INT32, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Identity", ["ids"], ["out"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return graphc.onnx.Runtime(model)


def test_int64_ids_beyond_int32_are_refused_not_wrapped():
    rt = int32_identity()
    ok = np.array([[0, 5, 2**31 - 1]], dtype=np.int64)
    np.testing.assert_array_equal(rt.predict(ok), ok.astype(np.int32))
    with pytest.raises(InputDataError, match=r"holding 2147483648, outside int32's range"):
        rt.predict(np.array([[0, 1, 2**31]], dtype=np.int64))
    with pytest.raises(InputDataError, match=r"holding -2147483649"):
        rt.predict(np.array([[-(2**31) - 1, 0, 0]], dtype=np.int64))


def test_zero_rows_through_a_recurrent_model_are_refused_first():
    inputs = graphc.Input(shape=(5, 3))
    model = graphc.Model(inputs, layers.LSTM(4)(inputs))
    rt = graphc.onnx.Runtime(graphc.onnx.export(model))
    assert rt.predict(np.zeros((2, 5, 3), np.float32)).shape == (2, 4)
    with pytest.raises(InputDataError, match=r"received 0 rows, but the model runs"):
        rt.predict(np.zeros((0, 5, 3), np.float32))


def test_zero_rows_through_a_recurrent_model_file_are_refused(tmp_path):
    inputs = graphc.Input(shape=(5, 3))
    model = graphc.Model(inputs, layers.GRU(4)(inputs))
    path = tmp_path / "gru.onnx"
    graphc.onnx.export(model, path)
    with pytest.raises(InputDataError, match=r"received 0 rows"):
        graphc.onnx.Runtime(str(path)).predict(np.zeros((0, 5, 3), np.float32))


def test_zero_rows_through_a_dense_model_still_run():
    inputs = graphc.Input(shape=(3,))
    rt = graphc.onnx.Runtime(graphc.onnx.export(graphc.Model(inputs, layers.Dense(2)(inputs))))
    assert rt.predict(np.zeros((0, 3), np.float32)).shape == (0, 2)


def _named_model():
    inputs = graphc.Input(shape=(3,), name="stable_in")
    return graphc.Model(inputs, layers.Dense(2, name="stable_dense")(inputs))


def test_initializer_names_are_layer_paths_stable_across_models_of_a_process():
    first = graphc.onnx.export(_named_model())
    second = graphc.onnx.export(_named_model())  # same layer names, later in the process
    names = sorted(t.name for t in first.graph.initializer)
    assert names == ["stable_dense/bias", "stable_dense/kernel"]
    assert sorted(t.name for t in second.graph.initializer) == names
