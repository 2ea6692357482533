"""The command line's pictures (``plot``, ``plot-history``), ``eval`` with a loss per
output, and ``check --reference`` on a model rebuilt with other weights."""

from __future__ import annotations

import importlib.util
import json
import os
import textwrap

import numpy as np
import pytest

from graphc.cli import main

SPEC = textwrap.dedent("""
    import graphc
    from graphc import layers

    def build():
        graphc.utils.set_random_seed(42)
        x = graphc.Input(shape=(6,), name="features")
        h = layers.Dense(8, activation="relu")(x)
        return graphc.Model(x, layers.Dense(3, activation="softmax", name="scores")(h))
""")


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("graphc: error: "), err
    assert "Traceback" not in err
    return lines[0]


needs_plots = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("matplotlib", "grandalf")),
    reason="the `plots` extra (matplotlib, grandalf) is not installed",
)

TWO_OUTPUTS = textwrap.dedent("""
    import graphc
    from graphc import layers

    graphc.utils.set_random_seed(3)
    x = graphc.Input(shape=(6,), name="x")
    h = layers.Dense(8, activation="relu", name="hidden")(x)
    model = graphc.Model(x, [layers.Dense(1, name="out_a")(h),
                             layers.Dense(3, activation="softmax", name="out_b")(h)])
""")


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(SPEC)
    return str(path)


@pytest.fixture
def two_outputs(tmp_path):
    """(onnx path, data path, the model) of a two-output model."""
    path = tmp_path / "two.py"
    path.write_text(TWO_OUTPUTS)
    onnx_path = str(tmp_path / "two.onnx")
    assert main(["export", f"{path}:model", "-o", onnx_path]) == 0
    rng = np.random.default_rng(0)
    data = str(tmp_path / "data.npz")
    np.savez(
        data,
        x=rng.random((20, 6)).astype("float32"),
        out_a=rng.random((20, 1)),
        out_b=rng.integers(0, 3, 20),
    )
    from graphc.cli import load_spec

    return onnx_path, data, load_spec(f"{path}:model")


# ---- eval: one loss per output -------------------------------------------------------
def test_eval_per_output_losses_and_metrics(two_outputs, capsys):
    from graphc import losses

    onnx_path, data, model = two_outputs
    capsys.readouterr()
    assert (
        main(
            [
                "eval",
                onnx_path,
                "--data",
                data,
                "--loss",
                "out_a=mse",
                "--loss",
                "out_b=sparse_categorical_crossentropy",
                "--metrics",
                "out_b=accuracy",
                "--loss-weights",
                "out_a=0.5",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    arrays = np.load(data)
    pred_a, pred_b = (np.asarray(p) for p in model(arrays["x"]))
    mse = float(losses.get("mse")(arrays["out_a"], pred_a))
    scce = float(losses.get("sparse_categorical_crossentropy")(arrays["out_b"], pred_b))
    assert result["out_a_loss"] == pytest.approx(mse, rel=1e-5)
    assert result["out_b_loss"] == pytest.approx(scce, rel=1e-5)
    assert result["loss"] == pytest.approx(0.5 * mse + scce, rel=1e-5)
    assert result["out_b_accuracy"] == pytest.approx(np.mean(pred_b.argmax(-1) == arrays["out_b"]))
    assert "out_a_accuracy" not in result


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--loss", "mse"],
            "output 'out_b': loss mse on predictions of shape (20, 3) and "
            "targets of shape (20,) failed",
        ),
        (
            ["--loss", "out_a=mse", "--loss", "out_b=categorical_crossentropy"],
            "use sparse_categorical_crossentropy",
        ),
        (
            [
                "--loss",
                "out_a=mse",
                "--loss",
                "out_b=sparse_categorical_crossentropy",
                "--metrics",
                "mae",
            ],
            "output 'out_b': metric mae on predictions of shape (20, 3)",
        ),
        (["--loss", "out_a=mse"], "no loss for output out_b"),
        (["--loss", "out_c=mse"], "'out_c' is not an output of"),
        (["--loss", "mse", "--loss", "out_a=mse"], "not both"),
        (["--loss", "mse", "--loss", "mae"], "without output names"),
        (["--loss", "out_a=mse", "--loss", "out_a=mae", "--loss", "out_b=mse"], "one per output"),
        (["--loss", "mse", "--loss-weights", "out_a=heavy"], "--loss-weights"),
    ],
)
def test_eval_errors_are_one_line(two_outputs, capsys, args, message):
    onnx_path, data, _ = two_outputs
    capsys.readouterr()
    assert main(["eval", onnx_path, "--data", data, *args]) == 1
    err = one_line_error(capsys.readouterr().err)
    assert message in err
    assert "internal error" not in err


# ---- check --reference -------------------------------------------------------------
def test_check_reference_rebuilt_with_other_weights_says_so(tmp_path, capsys):
    path = tmp_path / "fresh.py"
    # No seed: each run of the file draws other weights.
    path.write_text(TWO_OUTPUTS.replace("graphc.utils.set_random_seed(3)\n", ""))
    onnx_path = str(tmp_path / "fresh.onnx")
    assert main(["export", f"{path}:model", "-o", onnx_path]) == 0
    capsys.readouterr()
    assert main(["check", onnx_path, "--reference", f"{path}:model"]) == 1
    text = capsys.readouterr().out
    assert "the weights differ from the ONNX model's" in text
    assert "fresh random weights" in text
    assert "--reference model.graphc" in text
    # The saved model is the one to compare: same weights, parity holds.
    from graphc.cli import load_spec

    model = load_spec(f"{path}:model")
    saved = str(tmp_path / "fresh.graphc")
    model.save(saved)
    model.export(onnx_path)
    assert main(["check", onnx_path, "--reference", saved]) == 0
    text = capsys.readouterr().out
    assert "weights differ" not in text and "FAILED" not in text


def test_check_reference_with_a_seeded_file_has_no_warning(tmp_path, spec, capsys):
    onnx_path = str(tmp_path / "m.onnx")
    assert main(["export", f"{spec}:build", "-o", onnx_path]) == 0
    assert main(["check", onnx_path, "--reference", f"{spec}:build"]) == 0
    text = capsys.readouterr().out
    assert "weights differ" not in text and "hint" not in text


# ---- plot and plot-history ---------------------------------------------------------
@needs_plots
def test_plot_command(tmp_path, spec, capsys, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the pure-Python path
    out = tmp_path / "model.svg"
    assert main(["plot", f"{spec}:build", "-o", str(out), "--show-activations"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    svg = out.read_text()
    assert "features (InputLayer)" in svg and "scores (Dense)" in svg
    assert "Activation: softmax" in svg and "Output: (None, 3)" in svg
    assert (
        main(
            [
                "plot",
                f"{spec}:build",
                "-o",
                str(tmp_path / "m.dot"),
                "--no-shapes",
                "--rankdir",
                "LR",
            ]
        )
        == 0
    )
    dot = (tmp_path / "m.dot").read_text()
    assert "rankdir=LR" in dot and "(None" not in dot


def test_plot_command_errors(tmp_path, spec, capsys):
    assert main(["plot", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.svg")]) == 1
    assert "graphc view" in one_line_error(capsys.readouterr().err)
    assert main(["plot", f"{spec}:build", "-o", str(tmp_path / "m")]) == 1
    assert "extension" in one_line_error(capsys.readouterr().err)


def _write_log(path, epochs=4, separator=","):
    import graphc
    from graphc import layers

    graphc.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 5)), rng.integers(0, 2, 64)
    model = graphc.Sequential([graphc.Input(shape=(5,)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model.fit(
        x,
        y,
        epochs=epochs,
        validation_split=0.25,
        verbose=0,
        callbacks=[graphc.callbacks.CSVLogger(str(path), separator=separator)],
    )


@needs_plots
def test_plot_history_command(tmp_path, capsys):
    log = tmp_path / "training.log"
    _write_log(log)
    out = tmp_path / "curves.svg"
    assert main(["plot-history", str(log), "-o", str(out), "--title", "a run"]) == 0
    svg = out.read_text()
    for text in ("loss", "accuracy", "training", "validation", "epoch", "a run"):
        assert f">{text}<" in svg, text
    assert main(["plot-history", str(log), "-o", str(tmp_path / "c.png"), "--metrics", "nope"]) == 1
    assert "No curve named 'nope'" in one_line_error(capsys.readouterr().err)
    assert main(["plot-history", str(tmp_path / "none.log"), "-o", str(out)]) == 1
    assert "No such training log" in one_line_error(capsys.readouterr().err)
    (tmp_path / "bad.log").write_text("loss,accuracy\n1,2\n")
    assert main(["plot-history", str(tmp_path / "bad.log"), "-o", str(out)]) == 1
    assert "no 'epoch' column" in one_line_error(capsys.readouterr().err)


@needs_plots
def test_history_plot_and_plot_history(tmp_path):
    from PIL import Image

    import graphc

    history = _write_log(tmp_path / "training.log", epochs=5, separator=";")
    figure = history.plot(str(tmp_path / "h.png"))
    assert [ax.get_title() for ax in figure.axes if ax.get_visible()] == ["loss", "accuracy"]
    loss_axes = figure.axes[0]
    train, val = loss_axes.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3, 4, 5]
    assert list(train.get_ydata()) == pytest.approx(history.history["loss"])
    assert list(val.get_ydata()) == pytest.approx(history.history["val_loss"])
    assert val.get_linestyle() == "--"
    with Image.open(tmp_path / "h.png") as image:
        image.load()
        assert "loss, accuracy" in image.text["Description"]
    # The CSVLogger file (';'-separated here) gives the same curves.
    figure = graphc.utils.plot_history(str(tmp_path / "training.log"))
    csv_train = figure.axes[0].get_lines()[0]
    assert list(csv_train.get_ydata()) == pytest.approx(history.history["loss"])
    # A dict and a subset of the panels.
    figure = graphc.utils.plot_history(history.history, metrics=["accuracy"])
    assert [ax.get_title() for ax in figure.axes] == ["accuracy"]
    with pytest.raises(TypeError, match="History"):
        graphc.utils.plot_history(42)


def test_plot_history_without_matplotlib(tmp_path, monkeypatch):
    import sys

    import graphc

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'graphc\[plots\]'"):
        graphc.utils.plot_history({"loss": [1.0, 0.5]}, str(tmp_path / "c.png"))
    assert not os.path.exists(tmp_path / "c.png")
