"""docs/tutorial.md runs: its ```python blocks in order, in one fresh interpreter in a
temporary folder, with its ```sh lines that call `graphc` run there too, in place."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(path):
    """``(language, code)`` of each fenced block, in order."""
    with open(path, encoding="utf-8") as f:
        return [(m.group(1), m.group(2)) for m in FENCE.finditer(f.read())]


def as_script(path) -> str:
    """One script: the Python blocks as they are, each `graphc ...` line of an sh block as a
    run of ``python -m graphc`` that must succeed."""
    parts = [
        "import shlex as _shlex, subprocess as _subprocess, sys as _sys\n"
        "def _graphc(line):\n"
        "    print('$ ' + line, flush=True)\n"
        "    _subprocess.run([_sys.executable, '-m', 'graphc', *_shlex.split(line)[1:]],"
        " check=True)\n"
    ]
    for language, code in blocks(path):
        if language == "python":
            parts.append(code)
        elif language == "sh":
            for line in code.splitlines():
                if line.strip():
                    assert line.startswith("graphc "), f"not a graphc command: {line!r}"
                    parts.append(f"_graphc({line!r})\n")
    return "\n".join(parts)


def test_tutorial_has_the_snippets_it_promises():
    kinds = [language for language, _ in blocks(TUTORIAL)]
    assert kinds.count("python") >= 10 and kinds.count("sh") >= 3
    script = as_script(TUTORIAL)
    compile(script, TUTORIAL, "exec")  # every Python block is valid Python, in order
    for name in (
        "plot_model",
        "history.plot",
        "export_with_report",
        "Runtime",
        "passes.CountParams",
    ):
        assert name in script


@pytest.mark.slow
def test_tutorial_runs(tmp_path):
    pytest.importorskip("matplotlib", reason="the tutorial draws pictures: the `plots` extra")
    pytest.importorskip("grandalf", reason="the tutorial draws pictures: the `plots` extra")
    script = tmp_path / "tutorial.py"
    script.write_text(as_script(TUTORIAL))
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # As a reader without Graphviz has it: the pictures come from the pure-Python path.
    env["PATH"] = os.pathsep.join(
        d for d in env.get("PATH", "").split(os.pathsep) if not shutil.which("dot", path=d)
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Total params: 3,466" in out
    assert "GraphDisconnectedError" in out and "Graph disconnected" in out
    assert "Epoch 10/10" in out
    assert "onnx checker: ok" in out and "FAILED" not in out
    assert "loss: " in out  # graphc eval
    for name in (
        "seed.graphc",
        "seed.onnx",
        "seed_model.png",
        "seed_model.svg",
        "twin.png",
        "curves.png",
        "training.log",
        "curves_from_log.png",
        "seed_from_cli.svg",
    ):
        assert (tmp_path / name).is_file(), name
    from PIL import Image

    with Image.open(tmp_path / "twin.png") as image:
        image.load()
        drawn = image.text["Description"]
    assert "left (InputLayer)" in drawn and "right (InputLayer)" in drawn
    assert drawn.count("(Dense)") == 2  # the encoder's Dense, drawn once for two calls
