"""examples/dlwp_bag_of_words.py runs as a user runs it (a script in a fresh interpreter,
this checkout's graphc first on the path): the book's chapter 11 text pipeline from a
directory of reviews to a model that takes raw strings."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dlwp_bag_of_words_example(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples",
                                                        "dlwp_bag_of_words.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    out = proc.stdout
    assert proc.returncode == 0, f"failed:\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    lines = out.splitlines()
    # 300 + 300 training reviews split 80/20, 100 + 100 test reviews (Keras's messages).
    assert lines[:5] == ["Found 600 files belonging to 2 classes.",
                         "Using 480 files for training.",
                         "Found 600 files belonging to 2 classes.",
                         "Using 120 files for validation.",
                         "Found 200 files belonging to 2 classes."]
    assert "Total params: 320,033" in out  # Dense(16) on 20,000 multi-hot bigram tokens
    assert "Epoch 5/5" in out
    accuracy = float(next(l for l in lines if l.startswith("Test acc: ")).split(": ")[1])
    assert accuracy >= 0.9  # the sentiment words are easy to learn
    scores = [float(l.split(" percent")[0]) for l in lines if "percent positive" in l]
    assert len(scores) == 2 and scores[0] > 50 > scores[1]  # raw strings in, as the book
    assert not os.listdir(tmp_path)  # the reviews went to a temporary directory
