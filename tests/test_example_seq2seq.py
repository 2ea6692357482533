"""examples/dlwp_seq2seq.py runs as a user runs it: as a script, in a fresh interpreter
(with this checkout's graphc first on the path); on 64 pairs, one batch, to stay quick."""

import re

import pytest
from example_runner import assert_backends_agree, run_example

pytestmark = pytest.mark.slow


def test_dlwp_seq2seq_example():
    out = run_example("dlwp_seq2seq.py", 64)
    # The book's sizes, as Keras 3 counts them (GRU with reset_after: two bias rows).
    assert re.search(r"embedding \(Embedding\)\s+\(None, None, 256\)\s+3840000", out)
    assert re.search(r"bidirectional \(Bidirectional\)\s+\(None, 1024\)\s+7876608", out)
    assert re.search(r"gru_1 \(GRU\)\s+\(None, None, 1024\)\s+3938304", out)
    assert re.search(r"dense \(Dense\)\s+\(None, None, 15000\)\s+15375000", out)
    assert "Total params: 34,869,912" in out
    loss = float(re.search(r"1/1 \[=+\].* loss: ([0-9.]+)", out).group(1))
    assert abs(loss - 9.6) < 0.1, loss  # ~log(15000): the masked mean of a fresh model
    assert_backends_agree(out, ["seq2seq_rnn"], tolerance=1e-6)
