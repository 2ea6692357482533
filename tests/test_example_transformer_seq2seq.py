"""examples/dlwp_transformer_seq2seq.py runs as a user runs it: as a script, in a fresh
interpreter (with this checkout's graphc first on the path)."""

import re

import pytest
from example_runner import run_example

pytestmark = pytest.mark.slow


def test_dlwp_transformer_seq2seq_example():
    out = run_example("dlwp_transformer_seq2seq.py")
    # The book's sizes: PositionalEmbedding(20, 15000, 256) = (15000 + 20) x 256; the
    # decoder's two attentions (8 heads x 256) and 256 -> 2048 -> 256 projection.
    assert re.search(r"positional_embedding \(Positiona\S*\s+\(None, None, 256\)\s+3845120", out)
    assert re.search(r"transformer_decoder \(Transforme\S*\s+\(None, None, 256\)\s+5259520", out)
    assert "Total params: 19,960,216" in out
    assert "one epoch on 128 pairs" in out
    line = out.strip().splitlines()[-1]
    assert line.startswith("transformer: onnxruntime vs NumPy, largest difference: "), line
    assert float(line.rsplit(" ", 1)[1]) < 1e-4, line
