"""examples/dlwp_transformer.py runs as a user runs it: as a script, in a fresh
interpreter (with this checkout's graphc first on the path)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dlwp_transformer_example():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples",
                                                        "dlwp_transformer.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    out = proc.stdout
    assert proc.returncode == 0, f"failed:\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    # The book's sizes: Embedding(20000, 256) and the encoder's attention (4 projections
    # of 256 -> 2 heads x 256), dense projection 256 -> 32 -> 256 and two LayerNorms.
    assert re.search(r"embedding \(Embedding\)\s+\(None, None, 256\)\s+5120000", out)
    assert re.search(r"transformer_encoder \(Transfo\S*\s+\(None, None, 256\)\s+543776",
                     out)
    assert "Total params: 5,664,033" in out
    assert "Epoch 2/2" in out
    line = next(l for l in out.splitlines() if l.startswith("build_model: onnxruntime"))
    assert float(line.rsplit(" ", 1)[1]) < 1e-4, line
