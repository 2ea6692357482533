"""graphc.distributed without a cluster: lazy files, exact reduction, streaming with
bounded memory, the command line's --chunk-rows, errors, and import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from dist_helpers import build_two_outputs, two_output_data

import graphc
import graphc.distributed as gd
from graphc import layers
from graphc.cli import main
from graphc.distributed.arrays import open_file
from graphc.distributed.models import cache_stats


# ---- import hygiene ------------------------------------------------------------------------
def test_import_graphc_and_graphc_distributed_do_not_import_dask():
    code = (
        "import sys, graphc, graphc.distributed, graphc.cli; "
        "print([m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_missing_dask_is_an_import_error_naming_the_extra(monkeypatch, files):
    for name in ("dask", "dask.array", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"graphc\[distributed\]") as info:
        gd.predict(files["onnx"], files["x"])
    assert isinstance(info.value, gd.DistributedDependencyError)
    # Streaming on one machine needs no Dask.
    out = gd.stream_predict(files["onnx"], files["x"], chunk_rows=100, batch_size=None)
    assert out["digit"][0] == (np.load(files["x"]).shape[0], 10)


# ---- lazy files ------------------------------------------------------------------------------
def test_row_sources_read_what_numpy_reads(tmp_path):
    x = np.random.default_rng(0).random((301, 3, 2)).astype("float32")
    y = np.arange(301)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    np.savez(tmp_path / "s.npz", x=x, y=y)
    np.savez_compressed(tmp_path / "c.npz", x=x, y=y)
    sources = [
        open_file(tmp_path / "x.npy")[str(tmp_path / "x.npy")],
        open_file(tmp_path / "f.npy")[str(tmp_path / "f.npy")],
        open_file(tmp_path / "s.npz")["x"],
        open_file(tmp_path / "c.npz")["x"],
    ]
    for src in sources:
        assert src.shape == x.shape and src.dtype == x.dtype
        for a, b in [(0, 100), (100, 200), (250, 301), (5, 9), (200, 500), (0, 301)]:
            np.testing.assert_array_equal(src.read(a, b), x[a:b])
        np.testing.assert_array_equal(src[10:20, :, 1:], x[10:20, :, 1:])
    assert open_file(tmp_path / "c.npz")["y"].read(290, 301).tolist() == list(range(290, 301))
    # Only the path travels: an unpickled source opens the file itself.
    import pickle

    again = pickle.loads(pickle.dumps(sources[3]))
    np.testing.assert_array_equal(again.read(7, 11), x[7:11])


def test_zarr_store_is_read_lazily(tmp_path, digits_model, digits_test):
    zarr = pytest.importorskip("zarr")
    x, y = digits_test
    g = zarr.open_group(str(tmp_path / "test.zarr"), mode="w")
    g.create_array("x", data=x, chunks=(500, 8, 8))
    g.create_array("y", data=y, chunks=(500,))
    got = gd.stream_evaluate(digits_model, str(tmp_path / "test.zarr"), chunk_rows=256)
    want = digits_model.evaluate(x, y, verbose=0, return_dict=True)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-6)


def test_truncated_npy_is_a_clear_error(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((100, 4), "float32"))
    raw = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(raw[:-40])
    with pytest.raises(graphc.errors.InputDataError, match="ends early"):
        open_file(tmp_path / "x.npy")


# ---- predict and evaluate with Dask's local threads (no cluster) -------------------------
def test_predict_without_a_cluster_is_bitwise_single_process(digits_model, digits_test, files):
    x, _ = digits_test
    want = digits_model.predict(x, batch_size=32, verbose=0)
    for data in (x, files["x"], files["npz"]):
        got = gd.predict(digits_model, data, chunk_rows=200)
        assert got.chunks[0][0] == 192  # rounded down to whole batches of 32
        np.testing.assert_array_equal(got.compute(scheduler="threads"), want)


def test_batch_size_none_keeps_a_graphc_models_chunks_whole_batches(digits_model, digits_test):
    x, _ = digits_test
    got = gd.predict(digits_model, x, batch_size=None, chunk_rows=100)
    assert got.chunks[0][0] == 96
    np.testing.assert_array_equal(
        got.compute(scheduler="threads"), digits_model.predict(x, verbose=0)
    )


def test_multi_output_predict_is_a_dict_named_by_the_outputs():
    model = build_two_outputs()
    x, _ = two_output_data(300)
    out = gd.predict(model, x, batch_size=16, chunk_rows=64)
    assert list(out) == ["cls", "reg"]
    want = model.predict(x, batch_size=16, verbose=0)
    import dask

    cls, reg = dask.compute(out["cls"], out["reg"], scheduler="threads")
    np.testing.assert_array_equal(cls, want[0])
    np.testing.assert_array_equal(reg, want[1])


def test_evaluate_equals_model_evaluate_with_two_outputs_and_sample_weights():
    model = build_two_outputs()
    x, y = two_output_data(333, seed=3)
    sw = np.random.default_rng(4).random(333).astype("float32")
    want = model.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0, return_dict=True)
    got = gd.evaluate(model, x, y, sample_weight=sw, batch_size=16, chunk_rows=50)
    assert list(got) == list(want)  # same keys, same (sorted) order
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-7), k


def _tagger():
    graphc.utils.set_random_seed(5)
    x = graphc.Input(shape=(None,), dtype="int64", name="tokens")
    h = layers.Embedding(7, 3, mask_zero=True)(x)
    h = layers.SimpleRNN(4, return_sequences=True)(h)
    model = graphc.Model(x, layers.Dense(4, activation="softmax", name="tags")(h))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_evaluate_of_a_masked_output_reduces_exactly():
    """The loss of a masked output is a mean over valid steps per batch: chunks made of
    whole batches give Model.evaluate's number; the accuracy is a sum of (total, count)
    states over the valid steps, not a mean of the chunks' means."""
    rng = np.random.default_rng(6)
    n = 250
    lengths = rng.integers(1, 7, n)
    tokens = np.where(np.arange(6)[None, :] < lengths[:, None], rng.integers(1, 7, (n, 6)), 0)
    labels = rng.integers(0, 4, (n, 6))
    model = _tagger()
    want = model.evaluate(tokens, labels, batch_size=8, verbose=0, return_dict=True)
    got = gd.evaluate(model, tokens, labels, batch_size=8, chunk_rows=40)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-6), k
    # A mean of the chunks' accuracies (the mistake this reduction avoids) differs here.
    chunks = [
        model.evaluate(
            tokens[a : a + 40], labels[a : a + 40], batch_size=8, verbose=0, return_dict=True
        )["accuracy"]
        for a in range(0, n, 40)
    ]
    assert abs(np.mean(chunks) - want["accuracy"]) > 1e-6


def test_evaluate_of_an_onnx_file_equals_runtime_evaluate(files, digits_test):
    x, y = digits_test
    rt = graphc.onnx.Runtime(files["onnx"])
    want = rt.evaluate(x, y, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    got = gd.evaluate(
        files["onnx"],
        files["x"],
        files["y"],
        batch_size=None,
        chunk_rows=300,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    assert list(got) == list(want)
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-6)
    assert got["accuracy"] == want["accuracy"]
    with pytest.raises(ValueError, match="needs loss="):
        gd.evaluate(files["onnx"], files["npz"])


def test_the_callers_model_is_not_recompiled(digits_model, digits_test):
    x, y = digits_test
    optimizer = digits_model.optimizer
    got = gd.evaluate(digits_model, x, y, loss="sparse_categorical_crossentropy", chunk_rows=500)
    assert set(got) == {"loss"}
    assert digits_model.optimizer is optimizer


def test_the_model_loads_once_per_process(files, digits_test):
    x, _ = digits_test
    before = cache_stats()
    for _ in range(2):
        gd.predict(files["graphc"], x, chunk_rows=100).compute(scheduler="threads")
    after = cache_stats()
    assert after["loads"] - before["loads"] <= 1
    assert after["hits"] - before["hits"] >= 2 * 18


# ---- errors before any work --------------------------------------------------------------
def test_rows_that_do_not_fit_are_one_clear_error(digits_model, files, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((50, 8, 7), "float32"))
    for model in (digits_model, files["graphc"], files["onnx"]):
        with pytest.raises(
            gd.RowShapeError,
            match=r"each row must have shape \(8, 8\).*"
            r"rows of shape \(8, 7\)",
        ):
            gd.predict(model, str(tmp_path / "bad.npy"))
    with pytest.raises(gd.RowShapeError, match="expects float32 data"):
        gd.predict(digits_model, np.array([["a"] * 8] * 8)[None].repeat(3, 0))
    with pytest.raises(gd.RowShapeError, match="has 49 rows; the inputs have 50"):
        gd.evaluate(digits_model, np.zeros((50, 8, 8), "float32"), np.zeros(49, "int64"))
    with pytest.raises(ValueError, match="Target|target"):
        # Targets of the wrong shape fail in the dry run on the client.
        gd.evaluate(digits_model, np.zeros((50, 8, 8), "float32"), np.zeros((50, 3)))
    assert isinstance(gd.RowShapeError("x"), ValueError)


def test_keras_files_are_read_on_the_client(tmp_path, digits_model, digits_test):
    x, _ = digits_test
    digits_model.save(tmp_path / "model.keras")
    np.testing.assert_array_equal(
        np.asarray(gd.predict(str(tmp_path / "model.keras"), x)), digits_model.predict(x, verbose=0)
    )


def test_unsupported_models_are_clear_errors(tmp_path, digits_test):
    x, _ = digits_test
    with pytest.raises(FileNotFoundError, match="No such model file"):
        gd.predict(str(tmp_path / "model.keras"), x)
    with pytest.raises(gd.UnsupportedModelError, match=r"expected a \.graphc, \.keras"):
        gd.predict(str(tmp_path / "model.pt"), x)
    with pytest.raises(gd.UnsupportedModelError, match="received int"):
        gd.predict(3, x)
    with pytest.raises(FileNotFoundError):
        gd.predict(str(tmp_path / "missing.onnx"), x)


def test_a_metric_without_additive_state_is_refused():
    from graphc.distributed.models import ChunkState, merge_states

    class Peak(graphc.metrics.Metric):
        def __init__(self):
            super().__init__(name="peak")
            self.value = 0.0

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.value = max(self.value, float(np.max(y_pred)))

        def result(self):
            return self.value

    states = [ChunkState(2, {"loss": 1.0}, {"peak": Peak()}, ["loss", "peak"])] * 2
    with pytest.raises(gd.MetricReductionError, match="merge_state"):
        merge_states(states)


# ---- streaming on one machine ------------------------------------------------------------
def test_stream_predict_writes_the_npz_single_process_would(files, digits_test, tmp_path):
    x, _ = digits_test
    rt = graphc.onnx.Runtime(files["onnx"])
    out = gd.stream_predict(
        files["onnx"], files["x"], out=str(tmp_path / "p"), batch_size=None, chunk_rows=250
    )
    assert out["path"] == str(tmp_path / "p.npz")
    with np.load(out["path"]) as got:
        assert got.files == ["digit"]
        np.testing.assert_allclose(got["digit"], rt.predict(x), rtol=1e-6, atol=1e-7)


def test_streamed_evaluate_memory_is_bounded_by_a_chunk(digits_model, tmp_path):
    """Ten chunks of input cost about one: the peak of NumPy's allocations (traced)
    during a streamed evaluation stays far below the input's size."""
    rng = np.random.default_rng(0)
    n = 40_000
    x = rng.random((n, 8, 8), dtype=np.float32)  # 10 MB
    y = rng.integers(0, 10, n)
    np.savez(tmp_path / "big.npz", x=x, y=y)
    del x
    chunk = n // 10
    tracemalloc.start()
    try:
        gd.stream_evaluate(digits_model, str(tmp_path / "big.npz"), chunk_rows=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    input_bytes = n * 64 * 4 + n * 8
    assert peak < 0.5 * input_bytes, (peak, input_bytes)


# ---- the command line ----------------------------------------------------------------------
def test_cli_run_and_eval_with_chunk_rows_equal_the_whole_file_runs(files, tmp_path, capsys):
    common = ["--loss", "sparse_categorical_crossentropy", "--metrics", "accuracy", "--json"]
    assert main(["eval", files["onnx"], "--data", files["npz"], *common]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert (
        main(["eval", files["onnx"], "--data", files["npz"], "--chunk-rows", "100", *common]) == 0
    )
    chunked = json.loads(capsys.readouterr().out)
    assert chunked["accuracy"] == whole["accuracy"]
    assert chunked["loss"] == pytest.approx(whole["loss"], rel=1e-6)

    assert main(["run", files["onnx"], "--input", files["x"], "-o", str(tmp_path / "a.npz")]) == 0
    assert (
        main(
            [
                "run",
                files["onnx"],
                "--input",
                files["x"],
                "--chunk-rows",
                "128",
                "--batch-size",
                "32",
                "-o",
                str(tmp_path / "b.npz"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "digit: shape (1800, 10) float32" in out and "b.npz" in out
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        np.testing.assert_allclose(a["digit"], b["digit"], rtol=1e-6, atol=1e-7)


def test_cli_chunked_bad_rows_is_one_line(files, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((10, 63), "float32"))
    assert (
        main(["run", files["onnx"], "--input", str(tmp_path / "bad.npy"), "--chunk-rows", "4"]) == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "each row must have shape (8, 8)" in err[0]
    assert main(["run", files["onnx"], "--input", files["x"], "--chunk-rows", "0"]) == 2


# ---- search without a cluster ------------------------------------------------------------
def _build(units, lr=0.01):
    model = graphc.Sequential(
        [
            graphc.Input(shape=(8, 8)),
            layers.Flatten(),
            layers.Dense(units, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=graphc.optimizers.Adam(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def test_search_in_process_ranks_the_trials(digits_test):
    x, y = digits_test
    result = gd.search(
        _build,
        {"units": [4, 32]},
        x[:600],
        y[:600],
        epochs=2,
        validation_split=0.25,
        monitor="val_accuracy",
    )
    assert [t.params for t in result.trials] == [{"units": 4}, {"units": 32}]
    assert result.mode == "max"
    assert all(len(t.history["val_accuracy"]) == 2 for t in result.trials)
    best = max(result.trials, key=lambda t: (t.score, -t.index))
    assert result.best_index == best.index
    # The best model is the trained one: its validation accuracy is the trial's.
    acc = result.best_model.evaluate(x[450:600], y[450:600], verbose=0, return_dict=True)
    assert acc["accuracy"] == pytest.approx(result.best_score, abs=1e-9)


def test_search_errors():
    with pytest.raises(TypeError, match="list of values"):
        gd.search(_build, {"units": 4}, np.zeros((4, 8, 8)), np.zeros(4))
    with pytest.raises(ValueError, match="not compiled"):
        gd.search(
            lambda units: graphc.Sequential([graphc.Input(shape=(8, 8)), layers.Dense(units)]),
            {"units": [2]},
            np.zeros((4, 8, 8)),
            np.zeros(4),
        )


# ---- a search whose scattered data are lost ------------------------------------------------
def test_search_resends_its_data_and_resubmits_when_the_cluster_loses_them(monkeypatch):
    """The scheduler cancels the trials whose only copy of the scattered data died with a
    worker (seen in CI under load: FutureCancelledError, "already forgotten"); the search
    keeps the finished trials, scatters again and resubmits the others under new keys
    (the old ones would come back cancelled) instead of failing."""
    pytest.importorskip("distributed")
    from distributed.client import FutureCancelledError

    from graphc.distributed import tuning

    class Shared:
        key = "_TrainData-0"

    class Future:
        def __init__(self, client, fn, args, key):
            self.client, self.fn, self.args, self.key = client, fn, args, key

        def result(self):
            if self.client.losses_left and self.args[1] == {"u": 1}:
                self.client.losses_left -= 1
                raise FutureCancelledError(self.key, "already forgotten")
            return self.fn(*self.args)

    class LosingClient:
        def __init__(self):
            self.scatters, self.keys, self.losses_left = 0, [], 1

        def scatter(self, data, broadcast, hash):
            assert broadcast and hash
            self.scatters += 1
            return Shared()

        def submit(self, fn, *args, pure, key):
            self.keys.append(key)
            return Future(self, fn, args, key)

    def fake_trial(build_fn, params, shared, seed, fit_spec):
        return {"params": params, "seed": seed}

    client = LosingClient()
    monkeypatch.setattr(tuning, "train_trial", fake_trial)
    out = tuning._run_trials(client, None, [{"u": 1}, {"u": 2}], [5, 6], object(), {})
    assert out == [{"params": {"u": 1}, "seed": 5}, {"params": {"u": 2}, "seed": 6}]
    assert client.scatters == 2
    assert len(client.keys) == 3  # the finished trial was not resubmitted
    assert client.keys[2] not in client.keys[:2]  # the lost one under a new key
    client = LosingClient()
    client.losses_left = tuning.DATA_LOSS_RETRIES + 1
    with pytest.raises(FutureCancelledError):
        tuning._run_trials(client, None, [{"u": 1}, {"u": 2}], [5, 6], object(), {})


def test_streaming_rescatters_the_model_and_resubmits_when_the_cluster_loses_it():
    """The chunks in flight are cancelled when the worker holding the only copy of the
    scattered model dies; streaming scatters again and resubmits them, in chunk order,
    and gives up (re-raising) only after DATA_LOSS_RETRIES losses in a row of work."""
    pytest.importorskip("distributed")
    from distributed.client import FutureCancelledError

    from graphc.distributed import stream
    from graphc.distributed.errors import DATA_LOSS_RETRIES

    class Future:
        def __init__(self, client, fn, args, key):
            self.client, self.fn, self.args, self.key = client, fn, args, key

        def result(self):
            if self.client.losses_left and self.args[1] == 2:  # the chunk starting at row 2
                self.client.losses_left -= 1
                raise FutureCancelledError(self.key, "already forgotten")
            return self.fn(*self.args)

        def release(self):
            pass

    class LosingClient:
        def __init__(self, losses):
            self.losses_left, self.scatters, self.keys = losses, 0, []

        def scatter(self, data, broadcast, hash):
            self.scatters += 1
            return data

        def nthreads(self):
            return {"w": 1}

        def submit(self, fn, *args, pure, key):
            self.keys.append(key)
            return Future(self, fn, args, key)

    def rows(ref, start, stop):
        return (ref, start, stop)

    args = [(a, a + 2) for a in range(0, 8, 2)]
    client = LosingClient(losses=2)
    got = list(stream._run_on(client, rows, "model", args, "t"))
    assert got == [("model", a, b) for a, b in args]
    assert client.scatters == 3
    # Each loss resubmits the chunks in flight under new keys.
    assert len(set(client.keys)) == len(client.keys) > len(args)
    client = LosingClient(losses=DATA_LOSS_RETRIES + 1)
    with pytest.raises(FutureCancelledError):
        list(stream._run_on(client, rows, "model", args, "t"))
