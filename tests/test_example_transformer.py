"""examples/dlwp_transformer.py runs as a user runs it: as a script, in a fresh
interpreter (with this checkout's graphc first on the path)."""

import re

import pytest
from example_runner import assert_backends_agree, run_example

pytestmark = pytest.mark.slow


def test_dlwp_transformer_example():
    out = run_example("dlwp_transformer.py")
    # The book's sizes: Embedding(20000, 256) and the encoder's attention (4 projections
    # of 256 -> 2 heads x 256), dense projection 256 -> 32 -> 256 and two LayerNorms.
    assert re.search(r"embedding \(Embedding\)\s+\(None, None, 256\)\s+5120000", out)
    assert re.search(r"transformer_encoder \(Transfo\S*\s+\(None, None, 256\)\s+543776", out)
    assert "Total params: 5,664,033" in out
    assert "Epoch 2/2" in out
    assert_backends_agree(out, ["build_model"], tolerance=1e-4)
