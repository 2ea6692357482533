"""``import graphc`` leaves the ONNX importer, onnx and urllib.request unloaded; a saved
model holding an imported ONNX graph still loads in a fresh process (the importer loads
when the file names its layer)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # fresh interpreters: about a second each

ROOT = str(pathlib.Path(__file__).resolve().parents[2])


def _run(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_graphc_loads_no_heavy_module():
    out = _run(
        "import sys, graphc\n"
        "heavy = ['graphc.onnx.importer', 'onnx', 'onnxruntime', 'h5py', 'matplotlib',\n"
        "         'ml_dtypes', 'urllib.request']\n"
        "print(' '.join(m for m in heavy if m in sys.modules))"
    )
    assert out.strip() == ""


def test_onnx_package_names_load_the_importer_on_use():
    out = _run(
        "import sys, graphc.onnx\n"
        "print('graphc.onnx.importer' in sys.modules)\n"
        "from graphc.onnx import load, OnnxGraphLayer, OnnxImportError\n"
        "print(load.__module__, OnnxGraphLayer.__name__, OnnxImportError.__name__)"
    )
    assert out.split() == ["False", "graphc.onnx.importer", "OnnxGraphLayer", "OnnxImportError"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import graphc.onnx

        graphc.onnx.nope  # noqa: B018


def test_saved_imported_model_loads_in_a_fresh_process(tmp_path):
    pytest.importorskip("onnx")
    import graphc
    from graphc import layers

    inp = graphc.Input(shape=(4,))
    model = graphc.Model(inp, layers.Dense(3)(inp))
    src = str(tmp_path / "m.onnx")
    model.export(src)
    imported = graphc.onnx.load(src)
    saved = str(tmp_path / "m.graphc")
    imported.save(saved)
    x = np.arange(8, dtype="float32").reshape(2, 4)
    np.save(tmp_path / "x.npy", x)
    x_path, y_path = str(tmp_path / "x.npy"), str(tmp_path / "y.npy")
    out = _run(
        "import sys, numpy as np, graphc\n"
        "assert 'graphc.onnx.importer' not in sys.modules\n"
        f"m = graphc.saving.load_model({saved!r})\n"
        f"np.save({y_path!r}, m.predict(np.load({x_path!r}), verbose=0))\n"
        "print(type(m.layers[-1]).__name__)"
    )
    assert out.strip() == "OnnxGraphLayer"
    np.testing.assert_allclose(
        np.load(y_path), imported.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )
