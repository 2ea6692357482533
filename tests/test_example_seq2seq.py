"""examples/dlwp_seq2seq.py runs as a user runs it: as a script, in a fresh interpreter
(with this checkout's graphc first on the path); on 64 pairs, one batch, to stay quick."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dlwp_seq2seq_example():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "dlwp_seq2seq.py"),
                           "64"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    out = proc.stdout
    assert proc.returncode == 0, f"failed:\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    # The book's sizes, as Keras 3 counts them (GRU with reset_after: two bias rows).
    assert re.search(r"embedding \(Embedding\)\s+\(None, None, 256\)\s+3840000", out)
    assert re.search(r"bidirectional \(Bidirectional\)\s+\(None, 1024\)\s+7876608", out)
    assert re.search(r"gru_1 \(GRU\)\s+\(None, None, 1024\)\s+3938304", out)
    assert re.search(r"dense \(Dense\)\s+\(None, None, 15000\)\s+15375000", out)
    assert "Total params: 34,869,912" in out
    loss = float(re.search(r"1/1 \[=+\].* loss: ([0-9.]+)", out).group(1))
    assert abs(loss - 9.6) < 0.1, loss  # ~log(15000): the masked mean of a fresh model
    line = next(l for l in out.splitlines() if l.startswith("seq2seq_rnn: onnxruntime"))
    assert float(line.rsplit(" ", 1)[1]) < 1e-6, line
