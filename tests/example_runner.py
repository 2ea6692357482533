"""Running an example as a user runs it: ``python examples/NAME [ARGS]`` in a fresh
interpreter, with this checkout's graphc first on the path (so a worktree tests its own
graphc, not the one installed in the virtualenv)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run_example(name, *args, cwd=ROOT, timeout=300, env=None):
    """The example's stdout; fails with the ends of stdout and stderr if it fails. ``env``
    replaces the environment (this checkout stays first on PYTHONPATH)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    proc = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def assert_backends_agree(out, builders, tolerance=1e-5):
    """Each builder's line "NAME: onnxruntime vs NumPy, largest difference: D" with
    D < tolerance."""
    for name in builders:
        line = next(line_ for line_ in out.splitlines() if line_.startswith(f"{name}: onnxruntime"))
        assert float(line.rsplit(": ", 1)[1]) < tolerance, line
