"""examples/dlwp_bag_of_words.py runs as a user runs it (a script in a fresh interpreter,
this checkout's graphc first on the path): the book's chapter 11 text pipeline from a
directory of reviews to a model that takes raw strings."""

import os

import pytest
from example_runner import run_example

pytestmark = pytest.mark.slow


def test_dlwp_bag_of_words_example(tmp_path):
    out = run_example("dlwp_bag_of_words.py", cwd=tmp_path)
    lines = out.splitlines()
    # 300 + 300 training reviews split 80/20, 100 + 100 test reviews (Keras's messages).
    assert lines[:5] == [
        "Found 600 files belonging to 2 classes.",
        "Using 480 files for training.",
        "Found 600 files belonging to 2 classes.",
        "Using 120 files for validation.",
        "Found 200 files belonging to 2 classes.",
    ]
    assert "Total params: 320,033" in out  # Dense(16) on 20,000 multi-hot bigram tokens
    assert "Epoch 5/5" in out
    accuracy = float(next(line for line in lines if line.startswith("Test acc: ")).split(": ")[1])
    assert accuracy >= 0.9  # the sentiment words are easy to learn
    scores = [float(line.split(" percent")[0]) for line in lines if "percent positive" in line]
    assert len(scores) == 2 and scores[0] > 50 > scores[1]  # raw strings in, as the book
    assert not os.listdir(tmp_path)  # the reviews went to a temporary directory
