"""The examples run as a user runs them: as scripts, in a fresh interpreter."""

import os

import pytest
from example_runner import ROOT, assert_backends_agree, run_example

# Each example starts an interpreter and imports graphc; the book's ones train models.
pytestmark = pytest.mark.slow


def summary_rows(out):
    """(shape, params) of each Dense row in the printed summaries."""
    rows = []
    for line in out.splitlines():
        if "(Dense)" in line:
            parts = line.split()
            rows.append((" ".join(parts[2:4]), parts[4]))
    return rows


SEED_ROWS = [("(None, 32)", "2080"), ("(None, 32)", "1056"), ("(None, 10)", "330")]


def test_seed_sequential_example():
    out = run_example("seed_sequential.py")
    assert out.count("Total params: 3,466") == 1
    assert "Trainable params: 3,466" in out and "Non-trainable params: 0" in out
    assert summary_rows(out) == SEED_ROWS
    assert "(InputLayer)" not in out  # a Sequential summary has no input row


def test_seed_functional_example():
    out = run_example("seed_functional.py")
    assert out.count("Total params: 3,466") == 2  # the Sequential and the functional model
    assert summary_rows(out) == SEED_ROWS * 2
    assert out.count("(InputLayer)") == 1
    assert 'Model: "functional' in out


def _path_without_graphviz():
    import shutil

    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        d for d in env.get("PATH", "").split(os.pathsep) if not shutil.which("dot", path=d)
    )
    return env


def test_demo():
    # As on a fresh clone without Graphviz: the pictures come from the pure-Python path.
    out = run_example("demo.py", env=_path_without_graphviz())
    assert out.count("Total params: 3,466") >= 2
    assert summary_rows(out)[:6] == SEED_ROWS * 2
    assert "GraphDisconnectedError: Graph disconnected: cannot obtain value for tensor" in out
    assert "(shape (None, 64), dtype float32)" in out
    assert "add it to the inputs" in out
    # the pipeline parts of the demo: training, the real task, both backends side by side
    assert "Epoch 10/10" in out
    digits = next(line for line in out.splitlines() if line.startswith("digits test set"))
    accuracy = float(digits.split("accuracy ")[1].split("%")[0])
    assert accuracy >= 95.0, digits
    assert "NumPy backend" in out and "onnxruntime" in out
    # the pictures, beside the ONNX file, and where the graphc command is
    for name in ("digits_model.png", "digits_curves.png"):
        assert f"wrote {os.path.join('build', 'demo', name)}" in out
        with open(os.path.join(ROOT, "build", "demo", name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "The graphc command is " in out and os.path.join("bin", "graphc") in out


def test_dlwp_text_example():
    """The book's bidirectional LSTM text models, without and with masking: Keras's
    parameter count, they train, and onnxruntime agrees with NumPy."""
    out = run_example("dlwp_text.py")
    assert out.count("Total params: 5,194,049") == 2  # listing 11.16, and 11.17 with masking
    assert out.count("Epoch 2/2") == 2
    assert_backends_agree(out, ["build_model", "build_masked_model"])


def test_dlwp_vision_example():
    """The book's chapter 8 and 9 vision models (augmentation, separable and transposed
    convolutions): Keras's parameter counts, one training step each, and onnxruntime
    agreeing with NumPy."""
    out = run_example("dlwp_vision.py")
    for total in ("991,041", "721,857", "2,880,643"):  # as Keras 3 counts them
        assert f"Total params: {total}" in out
    assert "Trainable params: 718,849" in out  # the mini-Xception's batch-norm statistics
    assert_backends_agree(out, ["build_convnet", "build_mini_xception", "build_segmentation"])


def test_dlwp_functional_example(tmp_path):
    """The book's chapter 7: the ticket model with lists and dicts, reused layers, the
    subclassed version and the mixed models; Keras's parameter counts, and the plots."""
    out = run_example("dlwp_functional.py", cwd=tmp_path)
    assert "Total params: 1,286,984" in out  # the model with the new "difficulty" output
    assert "Total params: 1,286,789" in out  # the subclassed CustomerTicketModel
    assert "Total params: 906" in out and "Total params: 321" in out  # the mixed models
    assert out.count("40/40") == 9  # fit, evaluate and predict, three times
    for name in (
        "ticket_classifier",
        "ticket_classifier_with_shape_info",
        "updated_ticket_classifier",
    ):
        assert (tmp_path / f"{name}.dot").read_text().startswith("digraph")
