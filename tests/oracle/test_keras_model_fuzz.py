"""The model fuzzer's Keras share (issue 13): the random programs of
tests/fuzz/model_fuzz.py built with Keras 3 itself (torch backend) and with graphc:
the same layers in the same order with the same names and classes, the same output
shapes and parameter counts, the same predictions on Keras's weights, and one short
epoch of SGD giving the same losses and weights (models with Dropout skip the training
comparison: the two libraries draw different random masks).

    python tests/oracle/test_keras_model_fuzz.py --seeds 300     # more, by hand
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz")
)
from model_fuzz import Program  # noqa: E402

#: Seeds per CI run (Keras on torch builds and trains slowly: ~0.5 s a model).
SEEDS = 50
#: Samples: two batches of four.
N = 8


class SeedFailure(AssertionError):
    pass


def _as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _cls(layer):
    # keras.Model(inputs, outputs) is an instance of Keras's Functional subclass; graphc's
    # is a Model (graphc has no separate Functional class): the same thing by two names
    name = type(layer).__name__
    return "Model" if name == "Functional" else name


def _same(what, got, want):
    assert got == want, f"{what} differ:\n graphc {got}\n keras  {want}"


def compare(prog: Program):
    import graphc

    keras.utils.clear_session(free_memory=False)
    graphc.utils.clear_session(free_memory=False)
    k = prog.build(keras)
    g = prog.build(graphc)
    _same("layer classes", [_cls(la) for la in g.layers], [_cls(la) for la in k.layers])
    _same("layer names", [la.name for la in g.layers], [la.name for la in k.layers])
    _same(
        "parameter counts",
        [la.count_params() for la in g.layers],
        [la.count_params() for la in k.layers],
    )
    _same("output shapes", [tuple(t.shape) for t in g.outputs], [tuple(t.shape) for t in k.outputs])
    _same(
        "weight shapes",
        [w.shape for w in g.get_weights()],
        [tuple(w.shape) for w in k.get_weights()],
    )
    g.set_weights(k.get_weights())
    xs, ys = prog.data(N, prog.seed)
    for a, b in zip(_as_list(g.predict(xs, verbose=0)), _as_list(k.predict(xs, verbose=0))):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5, err_msg="predict")
    if prog.dropout:
        return
    for model in (k, g):
        model.compile(optimizer="sgd", loss="mse")
    kw = {"epochs": 1, "batch_size": N // 2, "shuffle": False, "verbose": 0}
    k_hist = k.fit(xs, ys, **kw).history
    g_hist = g.fit(xs, ys, **kw).history
    np.testing.assert_allclose(g_hist["loss"], k_hist["loss"], rtol=1e-3, err_msg="fit loss")
    for i, (a, b) in enumerate(zip(g.get_weights(), k.get_weights())):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-3, atol=1e-4, err_msg=f"weight {i}")


def check_keras(seed: int) -> Program:
    prog = Program(seed, for_keras=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compare(prog)
    except Exception as e:  # noqa: BLE001 - any failure is the seed's finding
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:])
        raise SeedFailure(
            f"{tb}\n---- reproducer (build with keras and graphc) ----\n"
            f"{prog.reproducer(f'{type(e).__name__}: {e}'[:200], keras=True)}"
        ) from e
    return prog


def test_random_models_agree_with_keras():
    failures = []
    for seed in range(SEEDS):
        try:
            check_keras(seed)
        except SeedFailure as e:
            failures.append((seed, str(e)))
    assert not failures, (
        f"{len(failures)} failing seeds {[s for s, _ in failures]}; the first:\n{failures[0][1]}"
    )


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    fails = []
    for seed in range(args.start, args.start + args.seeds):
        try:
            check_keras(seed)
        except SeedFailure as e:
            fails.append(seed)
            if len(fails) <= 3:
                print(f"==== seed {seed} ====\n{e}")
    print(f"{args.seeds} seeds, {len(fails)} failures: {fails}")
    sys.exit(1 if fails else 0)
