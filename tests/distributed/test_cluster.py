"""graphc.distributed on a real Dask cluster: a LocalCluster of two worker processes,
started and closed here. Predictions bitwise equal to single-process ones; evaluate equal
within float32 rounding; a worker killed mid-run (this test kills the process) costs
nothing; rows that do not fit are one error before any work is sent."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
import dask
import dask.array as da
from dist_helpers import build_two_outputs, digits_data, two_output_data

import graphc
import graphc.distributed as gd
from graphc import layers
from graphc.cli import main
from graphc.distributed.models import cache_stats

WORKERS = 2


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=WORKERS,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=40,
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture
def cluster(client):
    # A test that killed a worker leaves the nanny to restart it: wait for both.
    client.wait_for_workers(WORKERS, timeout=60)
    return client


def _graphc_keys(dask_scheduler):
    return sorted(str(k) for k in dask_scheduler.tasks if "graphc" in str(k))


# ---- predict ---------------------------------------------------------------------------------
def test_predict_on_the_cluster_is_bitwise_single_process(
    cluster, digits_model, digits_test, files
):
    x, _ = digits_test
    want = digits_model.predict(x, batch_size=32, verbose=0)
    for model in (digits_model, files["graphc"]):
        got = gd.predict(model, files["x"], chunk_rows=160, client=cluster)
        assert got.numblocks[0] == -(-len(x) // 160)
        np.testing.assert_array_equal(got.compute(), want)
    # The ONNX file through onnxruntime on the workers, against onnxruntime here.
    rt = graphc.onnx.Runtime(files["onnx"])
    got = gd.predict(
        files["onnx"], da.from_array(x, chunks=(300, 8, 8)), batch_size=100, client=cluster
    )
    np.testing.assert_array_equal(got.compute(), rt.predict(x, batch_size=100))
    # Each worker deserialised each model once, whatever the number of chunks.
    stats = cluster.run(cache_stats)
    assert len(stats) == WORKERS
    for s in stats.values():
        assert s["loads"] <= 2 and s["hits"] >= 1, s


def test_multi_input_multi_output_predict(cluster):
    model = build_two_outputs()
    x, _ = two_output_data(400, seed=2)
    out = gd.predict(
        model,
        {k: da.from_array(v, chunks=100) for k, v in x.items()},
        batch_size=20,
        client=cluster,
    )
    assert list(out) == ["cls", "reg"]
    cls, reg = dask.compute(out["cls"], out["reg"])
    want = model.predict(x, batch_size=20, verbose=0)
    np.testing.assert_array_equal(cls, want[0])
    np.testing.assert_array_equal(reg, want[1])


# ---- evaluate --------------------------------------------------------------------------------
def test_evaluate_on_the_cluster_equals_single_process(cluster, digits_model, digits_test, files):
    x, y = digits_test
    want = digits_model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    got = gd.evaluate(files["graphc"], files["npz"], chunk_rows=100, client=cluster)
    assert list(got) == list(want)
    assert got["loss"] == pytest.approx(want["loss"], rel=float(np.finfo(np.float32).eps))
    assert got["accuracy"] == want["accuracy"]

    rt = graphc.onnx.Runtime(files["onnx"])
    kw = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    want = rt.evaluate(x, y, **kw)
    got = gd.evaluate(
        files["onnx"], files["x"], files["y"], batch_size=None, chunk_rows=256, client=cluster, **kw
    )
    assert got["loss"] == pytest.approx(want["loss"], rel=float(np.finfo(np.float32).eps))
    assert got["accuracy"] == want["accuracy"]


def test_evaluate_two_outputs_with_sample_weights(cluster):
    model = build_two_outputs()
    x, y = two_output_data(310, seed=7)
    sw = np.random.default_rng(8).random(310).astype("float32")
    want = model.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0, return_dict=True)
    got = gd.evaluate(model, x, y, sample_weight=sw, batch_size=10, chunk_rows=60, client=cluster)
    assert list(got) == list(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=float(np.finfo(np.float32).eps)), k


# ---- errors before any work ------------------------------------------------------------------
def test_rows_that_do_not_fit_fail_before_any_work_is_sent(cluster, digits_model, files, tmp_path):
    bad = str(tmp_path / "bad.npy")
    np.save(bad, np.zeros((1000, 64), "float32"))
    before = cluster.run_on_scheduler(_graphc_keys)
    for model in (digits_model, files["onnx"]):
        with pytest.raises(
            gd.RowShapeError,
            match=r"each row must have shape \(8, 8\), but "
            r".*bad.npy has rows of shape \(64,\)",
        ):
            gd.predict(model, bad, client=cluster)
        with pytest.raises(gd.RowShapeError):
            gd.evaluate(model, bad, np.zeros(1000), client=cluster, loss="mse")
    with pytest.raises(gd.RowShapeError, match="has 999 rows; the inputs have 1000"):
        gd.evaluate(digits_model, np.zeros((1000, 8, 8), "float32"), np.zeros(999), client=cluster)
    assert cluster.run_on_scheduler(_graphc_keys) == before
    # Nothing was scattered either: no worker holds or loaded anything new.
    assert all(
        not k.startswith("ModelRef")
        for k in cluster.has_what().get(next(iter(cluster.has_what())), ())
    )


# ---- search ----------------------------------------------------------------------------------
def _search_setup():
    (xt, yt), _ = digits_data()

    def build(units, lr):
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

    grid = {"units": [8, 32], "lr": [1e-3, 1e-2]}
    return build, grid, xt, yt


@pytest.fixture(scope="module")
def search_reference():
    build, grid, x, y = _search_setup()
    return gd.search(build, grid, x, y, epochs=3, validation_split=0.2)


def test_search_on_the_cluster_trains_every_config_once_as_in_process(cluster, search_reference):
    build, grid, x, y = _search_setup()
    result = gd.search(build, grid, x, y, epochs=3, validation_split=0.2, client=cluster)
    assert [t.params for t in result.trials] == [t.params for t in search_reference.trials]
    assert {t.worker_pid for t in result.trials} <= {
        s["pid"] for s in cluster.run(cache_stats).values()
    }
    for got, want in zip(result.trials, search_reference.trials):
        assert got.history == want.history
    assert result.best_index == search_reference.best_index
    assert result.monitor == "val_loss"


# ---- a worker killed mid-run -----------------------------------------------------------------
def _wait_for(predicate, timeout=60.0, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError("the cluster did not get there in time")


def _starts(folder, prefix):
    return sorted(n for n in os.listdir(folder) if n.startswith(prefix))


@pytest.mark.slow
def test_worker_killed_mid_search_loses_and_doubles_nothing(cluster, search_reference, tmp_path):
    build_plain, grid, x, y = _search_setup()
    marks = str(tmp_path)

    def build(units, lr):
        # A marker per attempt: which configuration started, in which process.
        name = f"start-{units}-{lr}-{os.getpid()}-{time.monotonic_ns()}"
        open(os.path.join(marks, name), "w").close()
        return build_plain(units, lr)

    futures = {}

    def run():
        futures["result"] = gd.search(
            build, grid, x, y, epochs=3, validation_split=0.2, client=cluster
        )

    import threading

    thread = threading.Thread(target=run)
    thread.start()
    first = _wait_for(lambda: _starts(marks, "start-"))[0]
    victim = int(first.split("-")[3])
    os.kill(victim, signal.SIGKILL)  # mid-training: the first trial has just been built
    thread.join(timeout=180)
    assert not thread.is_alive()
    result = futures["result"]
    # Nothing lost, nothing doubled: one trial per configuration, each with its epochs,
    # each the history a single uninterrupted in-process run gives.
    assert len(result.trials) == len(search_reference.trials) == 4
    for got, want in zip(result.trials, search_reference.trials):
        assert got.params == want.params
        assert got.history == want.history
        assert all(len(v) == 3 for v in got.history.values())
        assert got.worker_pid != victim
    # The killed configuration really was started again, elsewhere.
    started = _starts(marks, "start-")
    killed_config = "-".join(first.split("-")[1:3])
    attempts = [s for s in started if "-".join(s.split("-")[1:3]) == killed_config]
    assert len(attempts) >= 2 and {a.split("-")[3] for a in attempts} - {str(victim)}


@pytest.mark.slow
def test_worker_killed_mid_predict_loses_and_doubles_nothing(
    cluster, digits_model, digits_test, tmp_path
):
    x, _ = digits_test
    marks = str(tmp_path)

    def slow_rows(block):
        # Reading a chunk takes a while here, so that the run is long enough to be cut.
        open(os.path.join(marks, f"read-{os.getpid()}-{time.monotonic_ns()}"), "w").close()
        time.sleep(0.08)
        return block

    rows = da.from_array(x, chunks=(96, 8, 8)).map_blocks(slow_rows, dtype=x.dtype)
    want = digits_model.predict(x, batch_size=32, verbose=0)
    future = cluster.compute(gd.predict(digits_model, rows, client=cluster))
    first = _wait_for(lambda: len(_starts(marks, "read-")) >= 4 and _starts(marks, "read-"))
    victim = int(sorted(first, key=lambda n: int(n.split("-")[2]))[-1].split("-")[1])
    os.kill(victim, signal.SIGKILL)
    got = future.result(timeout=180)
    assert not future.cancelled()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    pids = {int(n.split("-")[1]) for n in _starts(marks, "read-")}
    assert victim in pids and len(pids) >= 2


# ---- the command line against a scheduler ----------------------------------------------------
def test_cli_run_and_eval_against_the_scheduler(cluster, files, tmp_path, capsys):
    address = cluster.scheduler.address
    assert (
        main(
            [
                "run",
                files["onnx"],
                "--input",
                files["x"],
                "--scheduler",
                address,
                "--chunk-rows",
                "500",
                "--batch-size",
                "50",
                "-o",
                str(tmp_path / "p.npz"),
            ]
        )
        == 0
    )
    rt = graphc.onnx.Runtime(files["onnx"])
    with np.load(tmp_path / "p.npz") as got:
        np.testing.assert_array_equal(got["digit"], rt.predict(np.load(files["x"]), batch_size=50))
    common = ["--loss", "sparse_categorical_crossentropy", "--metrics", "accuracy", "--json"]
    capsys.readouterr()
    assert (
        main(["eval", files["onnx"], "--data", files["npz"], "--scheduler", address, *common]) == 0
    )
    remote = json.loads(capsys.readouterr().out)
    assert main(["eval", files["onnx"], "--data", files["npz"], *common]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert remote["accuracy"] == whole["accuracy"]
    assert remote["loss"] == pytest.approx(whole["loss"], rel=float(np.finfo(np.float32).eps))
