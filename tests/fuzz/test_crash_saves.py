"""Crash tests (issue 13): ``save``, ``save_weights``, ``ModelCheckpoint`` (in ``fit``)
and ONNX ``export`` (inline and with external data) killed with SIGKILL at random
moments, and ``fit`` with a ``ModelCheckpoint`` interrupted with SIGINT (Ctrl-C).

One subprocess imports graphc once, then for each run forks a worker that writes the
target over and over (alternating two models), and kills it with SIGKILL after a random
delay. After every kill the target must be the old or the new complete file (it loads,
and gives one of the two models' outputs); after the next successful write, no
temporaries and no stale external-data files may remain.

``fit_sigint``: the worker trains a fresh model (fixed batches, no shuffling) with a
``ModelCheckpoint`` saving every batch until SIGINT stops it; then the checkpoint must be
a complete file, and the model in memory consistent: a twin trained with
``train_on_batch`` for exactly as many optimizer steps as the interrupted model counts
has bitwise the same weights (so no step was half applied, and the step count, the
weights and the moving statistics agree).

    python tests/fuzz/test_crash_saves.py --runs 40 --seed 3     # more runs, by hand
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import pytest

#: Kill or interrupt runs per kind in CI: 100 in all.
RUNS = 16
KINDS = ["save", "save_weights", "checkpoint", "export", "export_external", "fit_sigint"]
#: Runs of a kind, when not RUNS (the CI budget of 100 runs: 5 x 16 + 20).
KIND_RUNS = {"fit_sigint": 20}


# ---- the subprocess -----------------------------------------------------------------------
def _models(fit=True):
    import numpy as np

    import graphc
    from graphc import layers

    def build(seed):
        graphc.utils.set_random_seed(seed)
        model = graphc.Sequential(
            [
                layers.Dense(256, activation="relu", input_shape=(64,)),
                layers.Dense(128, activation="relu"),
                layers.Dense(4),
            ]
        )
        model.compile(optimizer="adam", loss="mse")
        return model

    x = np.random.default_rng(0).normal(size=(8, 64)).astype("float32")
    y = np.zeros((8, 4), "float32")
    if not fit:
        return [build(3), build(3)], x, y
    models = [build(1), build(2)]
    for m in models:
        m.fit(x, y, epochs=1, batch_size=4, verbose=0)  # optimizer state in the files
    return models, x, y


def _target(kind, folder):
    return os.path.join(
        folder,
        {
            "save": "m.graphc",
            "save_weights": "m.weights.npz",
            "checkpoint": "ckpt.graphc",
            "fit_sigint": "ckpt.graphc",
            "export": "m.onnx",
            "export_external": "big.onnx",
        }[kind],
    )


def _write(kind, model, target, x, y):
    import graphc

    if kind == "save":
        model.save(target)
    elif kind == "save_weights":
        model.save_weights(target)
    elif kind in ("checkpoint", "fit_sigint"):
        cb = graphc.callbacks.ModelCheckpoint(target, save_freq=1)
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[cb])
    elif kind == "export":
        graphc.onnx.export(model, target)
    else:
        graphc.onnx.export_with_report(model, target, external_data_threshold=10_000)


def _state(kind, target, models, x, probe):
    """Which complete file ``target`` is: "0" or "1" (one of the two models), "trained"
    (a checkpoint, which loads), or a string saying what is wrong."""
    import numpy as np

    from graphc.models.saving import load_model

    try:
        if kind in ("export", "export_external"):
            import onnxruntime as ort

            session = ort.InferenceSession(target)
            out = session.run(None, {session.get_inputs()[0].name: x})[0]
            refs = [m.predict(x, verbose=0) for m in models]
        else:
            if kind == "save_weights":
                probe.load_weights(target)
                loaded = probe
            else:
                loaded = load_model(target)
            out = loaded.predict(x, verbose=0)
            if kind in ("checkpoint", "fit_sigint"):
                return "trained" if np.all(np.isfinite(out)) else "not finite"
            refs = [m.predict(x, verbose=0) for m in models]
    except Exception as e:  # noqa: BLE001 - a broken file is what we look for
        return f"broken: {type(e).__name__}: {str(e)[:200]}"
    for i, ref in enumerate(refs):
        if np.allclose(out, ref, atol=1e-5):
            return str(i)
    return "a mix of the two models"


def _leftovers(kind, target):
    folder = os.path.dirname(target)
    names = set(os.listdir(folder)) - {os.path.basename(target)}
    if kind == "export_external":
        import onnx

        proto = onnx.load(target, load_external_data=False)
        named = {
            e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"
        }
        names -= named
    return sorted(names)


def _fit_until_interrupted(model, twin, x, y, target, result_path):
    """The fit_sigint worker: fit until SIGINT, then replay as many steps on the twin
    and write what it found to ``result_path``."""
    import numpy as np

    import graphc

    status = "not started"
    try:
        # SIGINT was blocked across fork() (see _interrupt_fit); one sent meanwhile is
        # delivered here, as KeyboardInterrupt, at a point Python handles.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        status = "fitting"
        cb = graphc.callbacks.ModelCheckpoint(target, save_freq=1)
        model.fit(x, y, epochs=100_000, batch_size=4, shuffle=False, verbose=0, callbacks=[cb])
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted " + status
    steps = int(model.optimizer.iterations)
    batches = [(x[i : i + 4], y[i : i + 4]) for i in range(0, len(x), 4)]
    for k in range(steps):
        twin.train_on_batch(*batches[k % len(batches)])
    weights, replayed = model.get_weights(), twin.get_weights()
    out = {
        "status": status,
        "steps": steps,
        "consistent": len(weights) == len(replayed)
        and all(np.array_equal(a, b) for a, b in zip(weights, replayed)),
        "finite": all(np.all(np.isfinite(w)) for w in weights),
        "predicts": bool(np.all(np.isfinite(model.predict(x, verbose=0)))),
    }
    with open(result_path, "w") as f:
        json.dump(out, f)


def _interrupt_fit(sub, target, fresh, x, y, delay):
    """Fork a fit_sigint worker, SIGINT it after ``delay`` s; returns its report."""
    result_path = os.path.join(sub, "result.json")
    if os.path.exists(result_path):
        os.remove(result_path)
    # Blocked across fork(): a SIGINT arriving while the child runs CPython's own
    # after-fork handlers (threading._after_fork) breaks its thread state and can hang
    # it (seen 2 in 150 runs); that window is the interpreter's, not graphc's.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _fit_until_interrupted(fresh[0], fresh[1], x, y, target, result_path)
            code = 0
        except BaseException:  # what failed, for the parent's report
            with open(result_path + ".error", "w") as f:
                traceback.print_exc(file=f)
        finally:
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    time.sleep(delay)
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return {"status": "hung after SIGINT"}
    if not os.path.exists(result_path):
        error = ""
        if os.path.exists(result_path + ".error"):
            with open(result_path + ".error") as f:
                error = ": " + f.read()[-1500:]
            os.remove(result_path + ".error")
        return {"status": f"the worker failed (wait status {status}){error}"}
    with open(result_path) as f:
        return json.load(f)


def zygote(runs: int, seed: int, folder: str, kinds=KINDS) -> dict:
    import numpy as np

    models, x, y = _models()
    probe, _, _ = _models()
    probe = probe[0]
    fresh, _, _ = _models(fit=False)  # untrained twins for fit_sigint (copied by fork)
    rng = random.Random(seed)
    results = {}
    for kind in kinds:
        sub = os.path.join(folder, kind)
        os.mkdir(sub)
        target = _target(kind, sub)
        _write(kind, models[1], target, x, y)  # warm up (imports), then time one write
        t0 = time.perf_counter()
        _write(kind, models[0], target, x, y)
        one = time.perf_counter() - t0
        survived, problems, temps_after_kill, steps = 0, [], 0, []
        runs_here = runs if runs != RUNS else KIND_RUNS.get(kind, RUNS)
        for run in range(runs_here):
            if kind == "fit_sigint":
                report = _interrupt_fit(sub, target, fresh, x, y, rng.uniform(0, 3 * one))
                steps.append(report.get("steps"))
                state = _state(kind, target, models, x, probe)
                left = [n for n in os.listdir(sub) if ".graphc-tmp-" in n]
                temps_after_kill += len(left)
                if not report.get("status", "").startswith("interrupted"):
                    problems.append(f"run {run}: {report}")
                elif not (report["consistent"] and report["finite"] and report["predicts"]):
                    problems.append(f"run {run}: the model in memory is inconsistent: {report}")
                elif state != "trained":
                    problems.append(f"run {run}: after SIGINT the checkpoint is {state}")
                elif left:
                    problems.append(f"run {run}: temporaries left after SIGINT: {left}")
                else:
                    survived += 1
                continue
            pid = os.fork()
            if pid == 0:  # the worker: write, alternating the models, until killed
                try:
                    k = 1
                    while True:
                        _write(kind, models[k], target, x, y)
                        k = 1 - k
                finally:
                    os._exit(1)
            time.sleep(rng.uniform(0, 3 * one))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            state = _state(kind, target, models, x, probe)
            temps_after_kill += len([n for n in os.listdir(sub) if ".graphc-tmp-" in n])
            ok = state in ("0", "1", "trained")
            # the next write succeeds, and cleans what the killed one left
            _write(kind, models[run % 2], target, x, y)
            left = _leftovers(kind, target)
            if not ok:
                problems.append(f"run {run}: after the kill the file is {state}")
            elif left:
                problems.append(f"run {run}: after a successful write, left over: {left}")
            else:
                survived += 1
        results[kind] = {
            "runs": runs_here,
            "survived": survived,
            "problems": problems,
            "temporaries_left_by_kills": temps_after_kill,
            "seconds_per_write": round(one, 3),
            **({"steps_at_interrupt": steps} if steps else {}),
        }
        np.random.default_rng(0)  # (keep numpy imported for the fork)
    return results


def run_zygote(runs, seed, kinds=KINDS, timeout=600) -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": root,
    }
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--zygote",
                "--runs",
                str(runs),
                "--seed",
                str(seed),
                "--folder",
                folder,
                "--kinds",
                ",".join(kinds),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=root,
        )
    if proc.returncode != 0:
        raise AssertionError(f"the crash-test process failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_killed_writes_leave_the_old_or_the_new_file():
    results = run_zygote(RUNS, seed=0)
    lines = [
        f"{k}: {r['survived']}/{r['runs']} survived, {r['temporaries_left_by_kills']} "
        f"temporaries left by kills (all cleaned by the next write)"
        for k, r in results.items()
    ]
    print("\n" + "\n".join(lines))
    problems = [f"{k}: {p}" for k, r in results.items() for p in r["problems"]]
    assert not problems, "\n".join(problems)
    assert sum(r["survived"] for r in results.values()) == sum(
        KIND_RUNS.get(k, RUNS) for k in KINDS
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--zygote", action="store_true")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder")
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if args.zygote:
        print(json.dumps(zygote(args.runs, args.seed, args.folder, kinds)))
    else:
        out = run_zygote(args.runs, args.seed, kinds, timeout=3600)
        print(json.dumps(out, indent=1))
        sys.exit(1 if any(r["problems"] for r in out.values()) else 0)
