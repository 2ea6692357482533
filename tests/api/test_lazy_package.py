"""``import graphc`` loads only the package's own ``__init__`` (PEP 562): the public names
load on first use, all of what ``import graphc`` used to load at once, and every way of
reaching them keeps working in a fresh process."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # fresh interpreters

ROOT = str(pathlib.Path(__file__).resolve().parents[2])


def _run(code: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_import_graphc_loads_no_submodule_and_no_numpy():
    out = _run(
        "import sys, graphc\n"
        "mods = [m for m in sys.modules if m.startswith('graphc.') and m != 'graphc.version']\n"
        "print(len(mods), 'numpy' in sys.modules, graphc.__version__ == "
        "sys.modules['graphc.version'].__version__)"
    )
    assert out == ["0", "False", "True"]


def test_public_names_load_on_first_use_together():
    out = _run(
        "import sys, graphc\n"
        "Dense = graphc.layers.Dense\n"
        # What `import graphc` used to load is there after the first use of any of it.
        "print(all(f'graphc.{m}' in sys.modules for m in graphc._API_MODULES))\n"
        "print(graphc.Model.__name__, graphc.Input.__module__, Dense.__name__)\n"
        "print(graphc.ops.image.resize.__name__, 'losses' in dir(graphc))\n"
        "x = graphc.Input(shape=(3,))\n"
        "print(graphc.Model(x, Dense(2)(x)).count_params())"
    )
    assert out == ["True", "Model", "graphc.layers.base", "Dense", "resize", "True", "8"]


@pytest.mark.parametrize(
    "code",
    [
        "from graphc import Model, Sequential, Input, layers; print(Model.__name__)",
        "from graphc.layers import Dense, LSTM; print(Dense.__name__)",
        "import graphc.saving, graphc; print(graphc.Model.__name__)",
        "import graphc.layers; import graphc; print(graphc.layers.deserialize("
        "{'class_name': 'Dense', 'config': {'units': 2}}).units)",
    ],
)
def test_every_way_in_works_from_a_fresh_process(code):
    assert len(_run(code)) == 1


def test_unknown_names_still_raise_attribute_error():
    import graphc

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        graphc.nope  # noqa: B018
