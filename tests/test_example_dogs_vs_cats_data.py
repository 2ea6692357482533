"""examples/dlwp_dogs_vs_cats_data.py runs as a user runs it: as a script, in a fresh
interpreter (with this checkout's graphc first on the path), and prints the book's shapes."""

import os

import pytest
from example_runner import run_example

pytest.importorskip("PIL")
pytestmark = pytest.mark.slow


def test_dlwp_dogs_vs_cats_data_example(tmp_path):
    out = run_example("dlwp_dogs_vs_cats_data.py", cwd=tmp_path, timeout=120)
    lines = out.splitlines()
    # 20 + 20 training pictures, 6 + 6 validation and test ones.
    assert lines[:3] == [
        "Found 40 files belonging to 2 classes.",
        "Found 12 files belonging to 2 classes.",
        "Found 12 files belonging to 2 classes.",
    ]
    assert "class names: ['cat', 'dog']" in lines
    assert "batches per epoch: 2 1 1" in lines
    # The book's listing 8.10 output.
    assert "data batch shape: (32, 180, 180, 3)" in lines
    assert "labels batch shape: (32,)" in lines
    dtype_line = next(line for line in lines if line.startswith("data batch dtype:"))
    low, high = map(float, dtype_line.split("range:")[1].split())
    assert "float32" in dtype_line and 0 <= low < 10 and 245 < high <= 255  # random pixels
    assert "img_to_array shape: (180, 180, 3) float32" in lines
    # Listings 8.16-8.17: fit on the datasets with validation, the checkpoint, evaluate.
    assert "history keys: ['accuracy', 'loss', 'val_accuracy', 'val_loss']" in lines
    accuracy = next(line for line in lines if line.startswith("Test accuracy: "))
    assert 0.0 <= float(accuracy.split(": ")[1]) <= 1.0
    assert lines[-9:] == ["(16,)"] * 3 + ["(32, 16)"] * 3 + ["(4, 4)"] * 3
    assert not os.listdir(tmp_path)  # the pictures went to a temporary directory
