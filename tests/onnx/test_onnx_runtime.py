"""graphc.onnx.Runtime: predict on arrays, lists and dicts; evaluate with graphc's losses and
metrics; input checking before onnxruntime runs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_example_models import MODELS, reference, sample_inputs

from graphc import losses
from graphc.onnx import Runtime, RuntimeLoadError, export


@pytest.fixture(scope="module")
def multi():
    model = MODELS["multi_io"]()
    return model, Runtime(export(model))


@pytest.fixture(scope="module")
def single():
    model = MODELS["dense_softmax"]()
    return model, Runtime(export(model))


def test_sources_path_proto_and_bytes(tmp_path, single):
    model, _ = single
    proto = export(model, tmp_path / "m.onnx")
    x = sample_inputs(model, 4)
    want = reference(model, x)[0]
    for source in (str(tmp_path / "m.onnx"), tmp_path / "m.onnx", proto, proto.SerializeToString()):
        np.testing.assert_allclose(Runtime(source).predict(x), want, rtol=1e-4, atol=1e-5)


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such ONNX file"):
        Runtime(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(RuntimeLoadError, match="onnxruntime cannot load .*junk.onnx"):
        Runtime(tmp_path / "junk.onnx")
    with pytest.raises(TypeError):
        Runtime(42)


def test_names_and_repr(multi):
    _, rt = multi
    assert rt.input_names == ["left", "right"]
    assert rt.output_names == ["cls", "reg"]
    assert "left: (batch, 4) float32" in repr(rt)


def test_predict_list_dict_and_tuple_agree(multi):
    model, rt = multi
    a, b = sample_inputs(model, 6)
    want = reference(model, [a, b])
    for x in ([a, b], (a, b), {"left": a, "right": b}, {"right": b, "left": a}):
        got = rt.predict(x)
        assert isinstance(got, list) and len(got) == 2
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_single_output_is_an_array(single):
    model, rt = single
    x = sample_inputs(model, 3)
    assert isinstance(rt.predict(x), np.ndarray)
    np.testing.assert_allclose(rt.predict([x]), rt.predict(x))
    np.testing.assert_allclose(rt.predict(x.tolist()), rt.predict(x), rtol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 3, 4, 100])
def test_batch_size_splits_runs(multi, batch_size):
    model, rt = multi
    x = sample_inputs(model, 10)
    whole = rt.predict(x)
    parts = rt.predict(x, batch_size=batch_size)
    for w, p in zip(whole, parts):
        np.testing.assert_allclose(p, w, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "8", True])
def test_bad_batch_size(single, bad):
    model, rt = single
    with pytest.raises(ValueError, match="batch_size"):
        rt.predict(sample_inputs(model, 2), batch_size=bad)


def test_float64_and_ints_are_cast(single):
    model, rt = single
    x = sample_inputs(model, 3)
    np.testing.assert_allclose(rt.predict(x.astype(np.float64)), rt.predict(x))
    ints = np.arange(18).reshape(3, 6) % 3
    np.testing.assert_allclose(rt.predict(ints), rt.predict(ints.astype(np.float32)))


@pytest.fixture
def no_run(monkeypatch):
    """Input errors must be raised before onnxruntime is called."""

    def wrap(rt):
        def boom(feeds):
            raise AssertionError("onnxruntime was called")

        monkeypatch.setattr(rt, "run", boom)
        return rt

    return wrap


@pytest.mark.parametrize(
    "x, message",
    [
        (
            np.zeros((2, 5), "float32"),
            r"Input 'features': expected shape \(batch, 6\) float32, received shape \(2, 5\) "
            "float32",
        ),
        (
            np.zeros((2, 6, 1), "float32"),
            r"Input 'features': expected shape \(batch, 6\) float32, received shape \(2, 6, 1\)",
        ),
        (
            np.zeros(6, "float32"),
            r"Input 'features': expected shape \(batch, 6\) float32, received shape \(6,\)",
        ),
        (np.array([["a"] * 6]), r"Input 'features': expected numeric data of shape \(batch, 6\)"),
        (np.zeros((2, 6), np.complex64), r"Input 'features': expected numeric data"),
        (
            {"feature": np.zeros((2, 6))},
            r"Unknown input 'feature'; the model's inputs are "
            r"\['features'\]",
        ),
        ({}, r"Missing input 'features' \(expected shape \(batch, 6\) float32\)"),
    ],
)
def test_single_input_errors(single, no_run, x, message):
    _, rt = single
    no_run(rt)
    with pytest.raises(ValueError, match=message):
        rt.predict(x)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((2, 4), "float32"), r"has 2 inputs \['left', 'right'\]; pass a list"),
        ([np.zeros((2, 4))], r"has 2 inputs \['left', 'right'\], received a list of 1"),
        ([np.zeros((2, 4)), np.zeros((3, 3))], r"same number of samples: left has 2, right has 3"),
        (
            [np.zeros((2, 3)), np.zeros((2, 3))],
            r"Input 'left': expected shape \(batch, 4\) float32, received shape \(2, 3\)",
        ),
        ({"left": np.zeros((2, 4))}, r"Missing input 'right'"),
    ],
)
def test_multi_input_errors(multi, no_run, x, message):
    _, rt = multi
    no_run(rt)
    with pytest.raises(ValueError, match=message):
        rt.predict(x)


def test_fixed_batch_dimension_is_checked():
    from graphc import Input, Model, layers

    x = Input(batch_shape=(2, 3), name="x")
    rt = Runtime(export(Model(x, layers.Dense(2)(x))))
    assert rt.predict(np.zeros((2, 3)), batch_size=1).shape == (2, 2)
    with pytest.raises(
        ValueError,
        match=r"expected shape \(2, 3\) float32, received shape "
        r"\(3, 3\)",
    ):
        rt.predict(np.zeros((3, 3)))


# ---- evaluate ----------------------------------------------------------------------------
def test_evaluate_loss_matches_graphc_losses(single):
    model, rt = single
    x = sample_inputs(model, 20)
    y = np.random.default_rng(1).integers(0, 5, 20)
    pred = reference(model, x)[0]
    want = losses.get("sparse_categorical_crossentropy")(y, pred)
    got = rt.evaluate(x, y, loss="sparse_categorical_crossentropy")
    assert got == pytest.approx({"loss": want}, rel=1e-5)
    assert rt.evaluate(x, y, loss="sparse_categorical_crossentropy", batch_size=3)[
        "loss"
    ] == pytest.approx(want, rel=1e-5)


def test_evaluate_with_metrics(single):
    metrics = pytest.importorskip("graphc.metrics")
    model, rt = single
    x = sample_inputs(model, 30)
    y = np.random.default_rng(2).integers(0, 5, 30)
    pred = reference(model, x)[0]
    got = rt.evaluate(
        x,
        y,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", "sparse_top_k_categorical_accuracy"],
    )
    assert list(got) == ["loss", "accuracy", "sparse_top_k_categorical_accuracy"]
    acc = float(np.mean(pred.argmax(-1) == y))
    assert got["accuracy"] == pytest.approx(acc)
    m = metrics.get("accuracy", y_true_shape=y.shape, y_pred_shape=pred.shape)
    m.update_state(y, pred)
    assert got["accuracy"] == pytest.approx(float(m.result()))


def test_evaluate_sample_weight(single):
    model, rt = single
    x = sample_inputs(model, 8)
    y = np.eye(5)[np.arange(8) % 5]
    w = np.linspace(0, 1, 8)
    pred = reference(model, x)[0]
    want = losses.get("categorical_crossentropy")(y, pred, sample_weight=w)
    got = rt.evaluate(x, y, loss="categorical_crossentropy", sample_weight=w)["loss"]
    assert got == pytest.approx(want, rel=1e-5)


def test_evaluate_multi_output(multi):
    model, rt = multi
    x = sample_inputs(model, 12)
    cls, reg = reference(model, x)
    y_cls = np.random.default_rng(0).integers(0, 3, 12)
    y_reg = np.random.default_rng(1).normal(size=(12, 1))
    ce = losses.get("sparse_categorical_crossentropy")(y_cls, cls)
    mse = losses.get("mse")(y_reg, reg)
    for y in ([y_cls, y_reg], {"cls": y_cls, "reg": y_reg}):
        got = rt.evaluate(x, y, loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
        assert got == pytest.approx({"loss": ce + mse, "cls_loss": ce, "reg_loss": mse}, rel=1e-5)
    got = rt.evaluate(
        x, [y_cls, y_reg], loss=["sparse_categorical_crossentropy", "mse"], metrics={"reg": ["mae"]}
    )
    assert got["reg_mae"] == pytest.approx(float(np.mean(np.abs(y_reg - reg))), rel=1e-5)
    with pytest.raises(ValueError, match="2 outputs"):
        rt.evaluate(x, y_cls, loss="mse")


def test_evaluate_needs_a_loss(single):
    model, rt = single
    with pytest.raises(ValueError, match="needs a loss"):
        rt.evaluate(sample_inputs(model, 2), np.zeros(2))


def test_evaluate_missing_targets(multi):
    model, rt = multi
    x = sample_inputs(model, 4)
    y_cls = np.zeros(4, int)
    got = rt.evaluate(
        x, {"cls": y_cls}, loss={"cls": "sparse_categorical_crossentropy"}, metrics=["accuracy"]
    )
    assert set(got) == {"loss", "cls_loss", "cls_accuracy"}
    with pytest.raises(ValueError, match="No target for output 'reg'"):
        rt.evaluate(x, {"cls": y_cls}, loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match="Unknown output 'nope'"):
        rt.evaluate(x, {"nope": y_cls}, loss="mse")
