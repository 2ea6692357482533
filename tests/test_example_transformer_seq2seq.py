"""examples/dlwp_transformer_seq2seq.py runs as a user runs it: as a script, in a fresh
interpreter (with this checkout's graphc first on the path)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dlwp_transformer_seq2seq_example():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples",
                                                        "dlwp_transformer_seq2seq.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    out = proc.stdout
    assert proc.returncode == 0, f"failed:\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    # The book's sizes: PositionalEmbedding(20, 15000, 256) = (15000 + 20) x 256; the
    # decoder's two attentions (8 heads x 256) and 256 -> 2048 -> 256 projection.
    assert re.search(r"positional_embedding \(Positiona\S*\s+\(None, None, 256\)\s+3845120",
                     out)
    assert re.search(r"transformer_decoder \(Transforme\S*\s+\(None, None, 256\)\s+5259520",
                     out)
    assert "Total params: 19,960,216" in out
    assert "one epoch on 128 pairs" in out
    line = out.strip().splitlines()[-1]
    assert line.startswith("transformer: onnxruntime vs NumPy, largest difference: "), line
    assert float(line.rsplit(" ", 1)[1]) < 1e-4, line
