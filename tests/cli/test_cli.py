"""The graphc command line: through ``main(argv)`` (fast) and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest

from graphc.cli import main

SPEC = textwrap.dedent("""
    import graphc
    from graphc import layers

    def build():
        graphc.utils.set_random_seed(42)
        x = graphc.Input(shape=(6,), name="features")
        h = layers.Dense(8, activation="relu")(x)
        h = layers.Dropout(0.2)(h)
        return graphc.Model(x, layers.Dense(3, activation="softmax", name="scores")(h))

    def two():
        graphc.utils.set_random_seed(7)
        a = graphc.Input(shape=(4,), name="a")
        b = graphc.Input(shape=(2,), name="b")
        h = layers.Dense(3)(a) + layers.Dense(3)(b)
        return graphc.Model([a, b], [layers.Dense(2, name="p")(h), layers.Dense(1, name="q")(h)])

    def needs_args(units):
        pass

    def broken():
        raise RuntimeError("no model today")

    model = build()
    not_a_model = 3
""")


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(SPEC)
    return str(path)


@pytest.fixture
def exported(tmp_path, spec):
    out = str(tmp_path / "m.onnx")
    assert main(["export", f"{spec}:build", "-o", out]) == 0
    return out


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "graphc", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("graphc: error: "), err
    assert "Traceback" not in err
    return lines[0]


# ---- as a process ------------------------------------------------------------------------
@pytest.mark.slow
def test_process_help_and_commands():
    r = cli("--help")
    assert r.returncode == 0
    for command in ("export", "summary", "run", "eval", "check"):
        assert command in r.stdout
        sub = cli(command, "--help")
        assert sub.returncode == 0 and "usage: graphc " + command in sub.stdout


@pytest.mark.slow
def test_process_export_run_and_errors(tmp_path, spec):
    out = tmp_path / "m.onnx"
    r = cli("export", f"{spec}:build", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "fuse_matmul_add" in r.stdout and "->" in r.stdout
    assert onnx.load(str(out)).graph.output[0].name == "scores"

    r = cli("run", str(tmp_path / "missing.onnx"), "--input", "x.npy")
    assert r.returncode == 1
    assert "No such ONNX file" in one_line_error(r.stderr)

    r = cli("export", f"{spec}:build")
    assert r.returncode == 2
    assert "-o/--output" in one_line_error(r.stderr)

    r = cli("frobnicate")
    assert r.returncode == 2
    one_line_error(r.stderr)

    r = cli()
    assert r.returncode == 2
    assert "a command is required" in one_line_error(r.stderr)


@pytest.mark.slow
def test_process_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    r = cli("run", str(bad), "--input", "x.npy")
    assert r.returncode == 1
    one_line_error(r.stderr)
    r = cli("--debug", "run", str(bad), "--input", "x.npy")
    assert r.returncode == 1 and "Traceback" in r.stderr


# ---- export ------------------------------------------------------------------------------
def test_export_reports_passes(tmp_path, spec, capsys):
    out = str(tmp_path / "m.onnx")
    assert main(["export", f"{spec}:build", "-o", out, "--opset", "17"]) == 0
    text = capsys.readouterr().out
    for name in (
        "inference_mode",
        "eliminate_identity",
        "cancel_transposes",
        "fuse_matmul_add",
        "eliminate_dead_code",
    ):
        assert name in text
    assert "inference_mode            5 -> 4" in text
    assert "fuse_matmul_add           4 -> 4" in text  # each Dense recorded one gemm
    assert f"wrote {out}: opset 17, 4 ONNX nodes, inputs features, outputs scores" in text
    assert onnx.load(out).opset_import[0].version == 17


def test_export_no_optimize(tmp_path, spec, capsys):
    out = str(tmp_path / "m.onnx")
    assert main(["export", f"{spec}:build", "-o", out, "--no-optimize"]) == 0
    assert "skipped (--no-optimize)" in capsys.readouterr().out
    ops = [n.op_type for n in onnx.load(out).graph.node]
    assert ops == ["Gemm", "Relu", "Identity", "Gemm", "Softmax"]  # the dropout kept


def test_export_model_object_and_single_model_file(tmp_path, spec, capsys):
    assert main(["export", f"{spec}:model", "-o", str(tmp_path / "a.onnx")]) == 0
    single = tmp_path / "single.py"
    single.write_text(
        "import graphc\nx = graphc.Input(shape=(2,))\n"
        "m = graphc.Model(x, graphc.layers.Dense(1)(x))\n"
    )
    assert main(["export", str(single), "-o", str(tmp_path / "b.onnx")]) == 0


@pytest.mark.parametrize(
    "target, message",
    [
        (":nope", "has no attribute 'nope' (models there: model)"),
        (":not_a_model", "is a int, not a graphc Model"),
        (":needs_args", "needs arguments (units)"),
        (":broken", "broken() failed: RuntimeError: no model today"),
    ],
)
def test_export_bad_specs(tmp_path, spec, capsys, target, message):
    status = main(["export", spec + target, "-o", str(tmp_path / "m.onnx")])
    assert status == 1
    assert message in one_line_error(capsys.readouterr().err)
    assert not os.path.exists(tmp_path / "m.onnx")


def test_export_file_without_name_needs_exactly_one_model(tmp_path, spec, capsys):
    two = tmp_path / "two.py"
    two.write_text(SPEC + "\nsecond = build()\n")
    assert main(["export", str(two), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "defines models model, second; name one" in one_line_error(capsys.readouterr().err)
    none = tmp_path / "none.py"
    none.write_text("x = 1\n")
    assert main(["export", str(none), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "defines no Model at top level" in one_line_error(capsys.readouterr().err)


def test_export_spec_errors(tmp_path, capsys):
    assert main(["export", "nowhere.py:m", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "No such file: nowhere.py" in one_line_error(capsys.readouterr().err)
    assert main(["export", "model.pt", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "expected path/to/file.py:NAME" in one_line_error(capsys.readouterr().err)
    assert main(["export", "model.h5", "-o", str(tmp_path / "m.onnx")]) == 1  # legacy Keras
    assert "No such Keras file: model.h5" in one_line_error(capsys.readouterr().err)
    assert main(["export", str(tmp_path / "saved.graphc"), "-o", "m.onnx"]) == 1
    assert "saved.graphc" in one_line_error(capsys.readouterr().err)
    bad = tmp_path / "bad.py"
    bad.write_text("import graphc\nraise ImportError('oops')\n")
    assert main(["export", f"{bad}:m", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "Importing" in one_line_error(capsys.readouterr().err)


def test_export_bad_opset_is_one_line(tmp_path, spec, capsys):
    assert main(["export", f"{spec}:build", "-o", str(tmp_path / "m.onnx"), "--opset", "9"]) == 1
    assert "opset 9 is not supported" in one_line_error(capsys.readouterr().err)
    assert main(["export", f"{spec}:build", "-o", "m.onnx", "--opset", "x"]) == 2
    one_line_error(capsys.readouterr().err)


# ---- summary -----------------------------------------------------------------------------
def test_summary(spec, capsys):
    assert main(["summary", f"{spec}:build"]) == 0
    text = capsys.readouterr().out
    assert "scores (Dense)" in text and "Total params: 83" in text


# ---- run ---------------------------------------------------------------------------------
def _reference(spec, name, x):
    from graphc.cli import load_spec
    from graphc.layers.base import flatten_struct

    return [np.asarray(o) for o in flatten_struct(load_spec(f"{spec}:{name}")(x))]


def test_run_npy_and_npz(tmp_path, spec, exported, capsys):
    x = np.random.default_rng(0).uniform(-1, 1, (5, 6)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    assert main(["run", exported, "--input", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "scores: shape (5, 3) float32" in text
    with np.load(out) as data:
        assert data.files == ["scores"]
        np.testing.assert_allclose(
            data["scores"], _reference(spec, "build", x)[0], rtol=1e-4, atol=1e-5
        )
    np.savez(tmp_path / "x.npz", features=x)
    assert main(["run", exported, "--input", str(tmp_path / "x.npz")]) == 0
    assert "scores: shape (5, 3)" in capsys.readouterr().out  # and the values
    np.savez(tmp_path / "xx.npz", x=x)
    assert main(["run", exported, "--input", str(tmp_path / "xx.npz"), "--batch-size", "2"]) == 0


def test_run_multi_io(tmp_path, spec, capsys):
    model = str(tmp_path / "two.onnx")
    assert main(["export", f"{spec}:two", "-o", model]) == 0
    a = np.ones((3, 4), "float32")
    b = np.ones((3, 2), "float32")
    np.savez(tmp_path / "in.npz", a=a, b=b)
    out = tmp_path / "out.npz"
    assert main(["run", model, "--input", str(tmp_path / "in.npz"), "-o", str(out)]) == 0
    with np.load(out) as data:
        assert data.files == ["p", "q"]
        want = _reference(spec, "two", [a, b])
        np.testing.assert_allclose(data["p"], want[0], rtol=1e-4, atol=1e-5)
    np.save(tmp_path / "a.npy", a)
    capsys.readouterr()
    assert main(["run", model, "--input", str(tmp_path / "a.npy")]) == 1
    assert "has 2 inputs (a, b)" in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p: np.save(p, np.zeros((2, 5), "float32")),
            r"Input 'features': expected shape (batch, 6) float32, received shape (2, 5) float32",
        ),
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "object arrays are refused"),
        (lambda p: open(p, "wb").write(b"nonsense"), "Cannot read"),
    ],
)
def test_run_bad_inputs(tmp_path, exported, capsys, make, message):
    path = str(tmp_path / "x.npy")
    make(path)
    assert main(["run", exported, "--input", path]) == 1
    assert message in one_line_error(capsys.readouterr().err)


def test_run_npz_with_wrong_keys(tmp_path, exported, capsys):
    np.savez(tmp_path / "x.npz", foo=np.zeros((2, 6)), bar=np.zeros((2, 6)))
    assert main(["run", exported, "--input", str(tmp_path / "x.npz")]) == 1
    assert "needs 'features' (or 'x')" in one_line_error(capsys.readouterr().err)


# ---- eval --------------------------------------------------------------------------------
def test_eval(tmp_path, spec, exported, capsys):
    from graphc import losses

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (20, 6)).astype("float32")
    y = rng.integers(0, 3, 20)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    assert (
        main(
            [
                "eval",
                exported,
                "--data",
                str(tmp_path / "data.npz"),
                "--loss",
                "sparse_categorical_crossentropy",
                "--metrics",
                "accuracy",
                "--json",
            ]
        )
        == 0
    )
    import json

    result = json.loads(capsys.readouterr().out)
    pred = _reference(spec, "build", x)[0]
    assert result["loss"] == pytest.approx(
        losses.get("sparse_categorical_crossentropy")(y, pred), rel=1e-5
    )
    assert result["accuracy"] == pytest.approx(np.mean(pred.argmax(-1) == y))
    np.savez(tmp_path / "named.npz", features=x, scores=y)
    assert (
        main(
            [
                "eval",
                exported,
                "--data",
                str(tmp_path / "named.npz"),
                "--loss",
                "sparse_categorical_crossentropy",
                "--metrics",
                "accuracy,acc",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert text.startswith("loss: ") and "accuracy: " in text and "acc: " in text


def test_eval_errors(tmp_path, exported, capsys):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 6)))
    assert main(["eval", exported, "--data", str(tmp_path / "d.npz"), "--loss", "mse"]) == 1
    assert "the targets must be 'y'" in one_line_error(capsys.readouterr().err)
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 6)), y=np.zeros((4, 3)))
    assert (
        main(["eval", exported, "--data", str(tmp_path / "d.npz"), "--loss", "no_such_loss"]) == 1
    )
    one_line_error(capsys.readouterr().err)
    assert main(["eval", exported, "--data", str(tmp_path / "d.npz")]) == 2
    assert "--loss" in one_line_error(capsys.readouterr().err)


# ---- check -------------------------------------------------------------------------------
def test_check(spec, exported, capsys):
    assert main(["check", exported]) == 0
    text = capsys.readouterr().out
    assert "opset: ai.onnx 18" in text
    assert "input  features: (batch, 6) float32" in text
    assert "output scores: (batch, 3) float32" in text
    assert "nodes: 4 (Gemm 2, Relu 1, Softmax 1)" in text
    assert "parameters: 83" in text
    assert "onnx checker: ok" in text and "onnxruntime: loads" in text


def test_check_with_reference(spec, exported, capsys):
    assert main(["check", exported, "--reference", f"{spec}:build"]) == 0
    text = capsys.readouterr().out
    assert text.count("parity (batch") == 2 and "FAILED" not in text
    # a model with other weights fails the parity check
    other = spec.replace("models.py", "other.py")
    with open(other, "w") as f:
        f.write(SPEC.replace("set_random_seed(42)", "set_random_seed(43)"))
    assert main(["check", exported, "--reference", f"{other}:build"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_check_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    assert main(["check", str(bad)]) == 1
    one_line_error(capsys.readouterr().err)
    assert main(["check", str(tmp_path / "none.onnx")]) == 1
    assert "No such ONNX file" in one_line_error(capsys.readouterr().err)


def test_saved_graphc_model_as_spec(tmp_path, spec, capsys):
    from graphc.cli import load_spec

    model = load_spec(f"{spec}:build")
    if not hasattr(model, "save"):
        pytest.skip("this graphc cannot save models yet")
    saved = str(tmp_path / "model.graphc")
    model.save(saved)
    out = str(tmp_path / "m.onnx")
    assert main(["export", saved, "-o", out]) == 0
    assert main(["summary", saved]) == 0
    assert main(["check", out, "--reference", saved]) == 0
    text = capsys.readouterr().out
    assert "parity (batch 5) scores" in text and "FAILED" not in text
    (tmp_path / "bad.graphc").write_bytes(b"not a zip")
    assert main(["export", str(tmp_path / "bad.graphc"), "-o", out]) == 1
    assert "bad.graphc" in one_line_error(capsys.readouterr().err)


def test_keras_file_as_spec(tmp_path, spec, capsys):
    """The converter: a Keras 3 .keras file (written here by graphc in Keras's format)
    exports to ONNX and is the reference of `check`."""
    pytest.importorskip("h5py")
    from graphc.cli import load_spec

    saved = str(tmp_path / "model.keras")
    load_spec(f"{spec}:build").save(saved)
    out = str(tmp_path / "m.onnx")
    assert main(["export", saved, "-o", out]) == 0
    assert main(["summary", saved]) == 0
    assert main(["check", out, "--reference", saved]) == 0
    text = capsys.readouterr().out
    assert "output scores" in text and "parity (batch 5) scores" in text
    assert "FAILED" not in text
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    assert main(["export", str(tmp_path / "bad.keras"), "-o", out]) == 1
    assert "bad.keras" in one_line_error(capsys.readouterr().err)
    assert main(["export", str(tmp_path / "none.keras"), "-o", out]) == 1
    assert "No such Keras file" in one_line_error(capsys.readouterr().err)


# ---- import ------------------------------------------------------------------------------
def test_import_onnx_then_summary_and_export(tmp_path, exported, capsys):
    out = str(tmp_path / "imported.graphc")
    assert main(["import", exported, "-o", out]) == 0
    said = capsys.readouterr().out
    assert "Imported" in said and out in said
    assert main(["summary", out]) == 0
    assert "Trainable params: 83" in capsys.readouterr().out
    again = str(tmp_path / "again.onnx")
    assert main(["export", exported, "-o", again]) == 0  # a .onnx SPEC is imported
    capsys.readouterr()
    x = (
        np.random.default_rng(0)
        .normal(
            size=(
                3,
                *[
                    d.dim_value
                    for d in onnx.load(exported).graph.input[0].type.tensor_type.shape.dim
                ][1:],
            )
        )
        .astype("float32")
    )
    import onnxruntime as ort

    a = ort.InferenceSession(exported).run(None, {onnx.load(exported).graph.input[0].name: x})
    b = ort.InferenceSession(again).run(None, {onnx.load(again).graph.input[0].name: x})
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)


def test_import_missing_file(tmp_path, capsys):
    assert main(["import", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "m")]) == 1
    assert "No such ONNX model" in capsys.readouterr().err
