"""The differential model fuzzer (issue 13): random models valid by construction
(``model_fuzz.Program``), each built with graphc, trained one short epoch, and its NumPy
predictions compared with onnxruntime's on graphc's ONNX export. The Keras share (the
same programs built with Keras 3 itself) is in tests/oracle/test_keras_model_fuzz.py.

A failing seed prints its reproducer: a Python script that rebuilds the model. More seeds
from the command line (``make fuzz N=5000``):

    python tests/fuzz/test_model_fuzz.py --seeds 5000 --start 1000
    python tests/fuzz/test_model_fuzz.py --show 17       # the program of seed 17
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_fuzz import Program  # noqa: E402

#: Seeds per CI run (graphc against onnxruntime).
SEEDS = 500
#: Samples per model: two batches of four.
N = 8


class SeedFailure(AssertionError):
    pass


def check_onnx(seed: int) -> Program:
    """Build, fit one epoch, predict, export, run in onnxruntime, compare."""
    import graphc
    import graphc.onnx

    prog = Program(seed)
    try:
        graphc.utils.clear_session(free_memory=False)
        graphc.utils.set_random_seed(seed)
        model = prog.build(graphc)
        xs, ys = prog.data(N, seed)
        model.compile(optimizer="sgd", loss="mse")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hist = model.fit(xs, ys, epochs=1, batch_size=N // 2, verbose=0, shuffle=False)
        assert np.all(np.isfinite(hist.history["loss"])), f"loss {hist.history['loss']}"
        want = model.predict(xs, verbose=0)
        want = want if isinstance(want, list) else [want]
        got = graphc.onnx.Runtime(graphc.onnx.export(model)).predict(xs)
        got = got if isinstance(got, list) else [got]
        assert len(got) == len(want), (len(got), len(want))
        for i, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"output {i}")
    except Exception as e:  # noqa: BLE001 - any failure is the seed's finding
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-6:])
        raise SeedFailure(
            f"{tb}\n---- reproducer ----\n{prog.reproducer(f'{type(e).__name__}: {e}'[:200])}"
        ) from e
    return prog


def fuzz(seeds, start=0, stop_at_first=False, check=check_onnx):
    failures, features, t0 = [], {}, time.perf_counter()
    for seed in range(start, start + seeds):
        try:
            prog = check(seed)
            for f in prog.features:
                features[f] = features.get(f, 0) + 1
        except SeedFailure as e:
            failures.append((seed, str(e)))
            if stop_at_first:
                break
    return failures, features, time.perf_counter() - t0


@pytest.mark.slow  # ~80 s: 500 models built, trained, exported and run in onnxruntime
def test_random_models_agree_with_onnxruntime():
    failures, features, seconds = fuzz(SEEDS)
    print(f"\nmodel fuzz: {SEEDS} seeds, {len(failures)} failures, {seconds:.1f} s")
    assert not failures, f"{len(failures)} failing seeds; the first:\n{failures[0][1]}"
    # the generator reaches the constructs it promises
    for f in (
        "Conv1D",
        "Conv2D",
        "LSTM",
        "GRU",
        "SimpleRNN",
        "Embedding:mask_zero",
        "BatchNormalization",
        "nested:functional",
        "nested:sequential",
        "Concatenate",
    ):
        assert any(k.startswith(f) for k in features), f


def test_a_failing_seed_prints_a_reproducer(monkeypatch):
    import graphc

    def broken(*a, **k):
        raise RuntimeError("injected")

    monkeypatch.setattr(graphc.Model, "predict", broken)
    with pytest.raises(SeedFailure) as info:
        check_onnx(3)
    text = str(info.value)
    source = text.split("---- reproducer ----\n", 1)[1]
    assert "injected" in text and "def build(lib):" in source
    compile(source, "reproducer", "exec")  # a runnable script


if __name__ == "__main__":
    # the repository's graphc, whatever is installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    parser = argparse.ArgumentParser(description="graphc's random-model fuzzer")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--show", type=int, help="print the program of one seed")
    parser.add_argument("-x", action="store_true", help="stop at the first failure")
    args = parser.parse_args()
    if args.show is not None:
        print(Program(args.show).source)
        sys.exit(0)
    fails, feats, secs = fuzz(args.seeds, args.start, args.x)
    for seed, text in fails[:3]:
        print(f"==== seed {seed} ====\n{text}")
    print(f"{args.seeds} seeds, {len(fails)} failures {[s for s, _ in fails][:50]}, {secs:.1f} s")
    print("constructs:", dict(sorted(feats.items())))
    sys.exit(1 if fails else 0)
