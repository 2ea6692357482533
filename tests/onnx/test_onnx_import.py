"""graphc.onnx.load: ONNX models (graphc's own exports, the onnx package's small real
models) imported as graphc Models, checked against onnxruntime, fine-tuned, saved,
reloaded and re-exported."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx_reference import assert_reference_matches  # noqa: E402

import graphc  # noqa: E402
from graphc import layers  # noqa: E402
from graphc.onnx import OnnxImportError, load  # noqa: E402


def _ort(path_or_proto, feeds):
    src = path_or_proto if isinstance(path_or_proto, str) else path_or_proto.SerializeToString()
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _mlp():
    inp = graphc.Input((8,), name="features")
    h = layers.Dense(16, activation="relu")(inp)
    return graphc.Model(inp, layers.Dense(3, activation="softmax")(h))


def _cnn():
    inp = graphc.Input((10, 10, 2), name="image")
    h = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Conv2D(6, 3, activation="relu")(h)
    h = layers.Flatten()(h)
    return graphc.Model(inp, layers.Dense(3, activation="softmax")(h))


@pytest.mark.parametrize("build,shape", [(_mlp, (8,)), (_cnn, (10, 10, 2))], ids=["mlp", "cnn"])
def test_import_predict_finetune_save_reexport(tmp_path, build, shape):
    rng = np.random.default_rng(0)
    model = build()
    src = str(tmp_path / "src.onnx")
    model.export(src)
    x = rng.normal(size=(64, *shape)).astype("float32")
    y = rng.integers(0, 3, size=64)

    imported = load(src)
    feed_name = onnx.load(src).graph.input[0].name
    expected = _ort(src, {feed_name: x})[0]
    np.testing.assert_allclose(imported.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert imported.count_params() == model.count_params()
    assert len(imported.trainable_weights) == len(model.trainable_weights)

    imported.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = imported.evaluate(x, y, verbose=0)
    imported.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = imported.evaluate(x, y, verbose=0)
    assert after < before

    saved = str(tmp_path / "tuned.graphc")
    imported.save(saved)
    reloaded = graphc.saving.load_model(saved)
    ours = reloaded.predict(x, verbose=0)
    np.testing.assert_allclose(ours, imported.predict(x, verbose=0), rtol=1e-6, atol=1e-7)

    out = str(tmp_path / "tuned.onnx")
    reloaded.export(out)
    name = onnx.load(out).graph.input[0].name
    np.testing.assert_allclose(_ort(out, {name: x})[0], ours, rtol=1e-5, atol=1e-6)
    predict = reloaded.predict
    assert_reference_matches(
        out, graphc.onnx.Runtime(out), x, lambda xs: predict(xs, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_trainable_false_freezes_weights(tmp_path):
    src = str(tmp_path / "m.onnx")
    _mlp().export(src)
    frozen = load(src, trainable=False)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 4


def test_unsupported_op_names_op_node_opset():
    from onnx import TensorProto, helper

    node = helper.make_node("ImageDecoder", ["x"], ["y"], name="the_decoder")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(OnnxImportError, match=r"'ImageDecoder'.*'the_decoder'.*opset 17.*Supp"):
        load(proto)


def test_symbolic_dims_become_none():
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    )
    m = load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert m.input_shape == (None, 3) and m.input_names == ["x"]


LIGHT = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@pytest.mark.slow
def test_light_models_that_import_match_onnxruntime():
    """The onnx package's small real models: each that imports matches onnxruntime."""
    loaded, refused = [], []
    for path in sorted(LIGHT.glob("*.onnx")):
        proto = onnx.load(str(path))
        last = proto.graph.node[-1]
        if last.op_type == "Softmax" and len(proto.graph.output) == 1:
            # Their weights are constant fills, so the logits reach ~1e10, where float32
            # rounding (~1e3) decides a softmax: compare the logits instead.
            from onnx import helper

            logits = last.input[0]
            proto.graph.node.pop()
            del proto.graph.output[:]
            proto.graph.output.append(helper.make_empty_tensor_value_info(logits))
        try:
            m = load(proto)
        except Exception as e:  # refused: counted, with the reason
            refused.append((path.name, str(e).splitlines()[0][:120]))
            continue
        rng = np.random.default_rng(0)
        feeds = {}
        for vi, v in zip(
            [
                i
                for i in proto.graph.input
                if i.name not in {t.name for t in proto.graph.initializer}
            ],
            m.inputs,
        ):
            dims = [d if d is not None else 1 for d in v.shape]
            feeds[vi.name] = rng.uniform(0, 1, size=dims).astype(v.dtype)
        expected = _ort(proto, feeds)
        # Some take their biases as graph inputs (no batch axis): run the whole arrays
        # through the executor, as graphc.onnx.backend does, not predict's batches.
        from graphc.backends.numpy.executor import Executor
        from graphc.recording import ExecContext

        got = Executor(m.graph).forward(
            [feeds[v.name] for v in m.inputs], ExecContext(training=False)
        )
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)
        loaded.append(path.name)
    print(f"light models: {len(loaded)} of {len(loaded) + len(refused)} import: {loaded}")
    for name, why in refused:
        print(f"  refused {name}: {why}")


def _torch_models():
    torch = pytest.importorskip("torch")

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(8, 16), torch.nn.Linear(16, 3)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(2, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 5 * 5, 3)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.c(x)), 2)
            return self.fc(torch.flatten(x, 1))

    class LSTMNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(4, 8, batch_first=True)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.fc(y[:, -1])

    # (module, sample shape, dynamic batch): torch's LSTM export computes its initial
    # states from Shape, which graphc imports on known sizes only, so its batch is fixed.
    return {
        "mlp": (MLP, (8,), True),
        "cnn": (CNN, (2, 10, 10), True),
        "lstm": (LSTMNet, (6, 4), False),
    }


@pytest.mark.slow
@pytest.mark.parametrize("which", ["mlp", "cnn", "lstm"])
def test_torch_export_imports_finetunes_and_reexports(tmp_path, which):
    torch = pytest.importorskip("torch")
    cls, shape, dynamic = _torch_models()[which]
    torch.manual_seed(0)
    net = cls().eval()
    batch = 8
    src = str(tmp_path / "torch.onnx")
    kwargs = {"dynamic_axes": {"x": {0: "batch"}, "y": {0: "batch"}}} if dynamic else {}
    torch.onnx.export(
        net,
        torch.randn(batch, *shape),
        src,
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        opset_version=17,
        **kwargs,
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, *shape)).astype("float32")
    y = rng.integers(0, 3, size=64)

    model = load(src)
    expected = np.concatenate([_ort(src, {"x": x[i : i + batch]})[0] for i in range(0, 64, batch)])
    np.testing.assert_allclose(
        model.predict(x, batch_size=batch, verbose=0), expected, rtol=1e-4, atol=1e-5
    )
    # The torch models end in logits.
    from graphc import losses

    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, y, batch_size=batch, verbose=0)
    model.fit(x, y, epochs=3, batch_size=batch, verbose=0)
    after = model.evaluate(x, y, batch_size=batch, verbose=0)
    assert after < before

    saved = str(tmp_path / "tuned.graphc")
    model.save(saved)
    reloaded = graphc.saving.load_model(saved)
    ours = reloaded.predict(x, batch_size=batch, verbose=0)
    np.testing.assert_allclose(
        ours, model.predict(x, batch_size=batch, verbose=0), rtol=1e-6, atol=1e-7
    )
    out = str(tmp_path / "tuned.onnx")
    reloaded.export(out)
    name = onnx.load(out).graph.input[0].name
    again = np.concatenate([_ort(out, {name: x[i : i + batch]})[0] for i in range(0, 64, batch)])
    np.testing.assert_allclose(again, ours, rtol=1e-4, atol=1e-5)
    predict = reloaded.predict
    assert_reference_matches(
        out,
        graphc.onnx.Runtime(out),
        x[:batch],
        lambda xs: predict(xs, batch_size=batch, verbose=0),
        rtol=1e-4,
        atol=1e-5,
    )
