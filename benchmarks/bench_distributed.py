"""Scale-out on Dask (graphc.distributed), all measured in one run:

- rows per second of ``graphc.distributed.predict`` on a LocalCluster of 1 and 2 worker
  processes (one thread each), for the digits MLP and a small CNN (NumPy backend), beside
  a single-process ``Model.predict`` on the same rows;
- peak resident memory (VmHWM, else ``ru_maxrss``) of ``graphc eval`` in a fresh process on an input
  ten times its chunk: streamed (``--chunk-rows``) against loading it whole, and the
  same command on one chunk's worth of rows (the process's own floor);
- the round trip of one gradient exchange: a 1M-float32 array (4 MB) sent to a worker
  and back through the cluster, the cost data-parallel training on Dask would pay per
  step (see the README's "Scale out" section).

Needs the ``distributed`` extra; prints what it measured and asserts no timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import graphc
from graphc import layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digits_model():
    graphc.utils.set_random_seed(0)
    model = graphc.Sequential(
        [
            graphc.Input(shape=(8, 8), name="pixels"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="digits",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_cnn():
    graphc.utils.set_random_seed(0)
    model = graphc.Sequential(
        [
            graphc.Input(shape=(28, 28, 1), name="image"),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="cnn",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _best(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


_SINGLE = """
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
import bench_distributed as b
model = getattr(b, sys.argv[2])()
n, row = int(sys.argv[3]), tuple(int(d) for d in sys.argv[4].split(","))
x = np.random.default_rng(0).random((n, *row), dtype=np.float32)
print(n / b._best(lambda: model.predict(x, batch_size=256, verbose=0), 2))
"""


def _single_process_rows_per_s(builder, n, row):
    """Model.predict in a fresh process with one BLAS thread, as a Dask worker has
    (its nanny sets OMP/OPENBLAS/MKL_NUM_THREADS=1): the per-process speed to compare
    the workers with."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _SINGLE,
            os.path.dirname(__file__),
            builder,
            str(n),
            ",".join(map(str, row)),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def bench_throughput():
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    import graphc.distributed as gd

    cases = [
        ("digits MLP (64-64-10)", "digits_model", (8, 8), 200_000, 20_000),
        ("small CNN (28x28x1, 2 conv)", "small_cnn", (28, 28, 1), 4_000, 500),
    ]
    print(
        "graphc.distributed.predict throughput (NumPy backend, batch_size 256, "
        "data already in the workers' memory)"
    )
    for label, builder, row, n, chunk in cases:
        model = globals()[builder]()
        single = _single_process_rows_per_s(builder, n, row)
        print(f"  {label}, {n:,} rows in chunks of {chunk:,}")
        print(f"    one process, Model.predict, 1 BLAS thread: {single:10,.0f} rows/s")
        per_worker = {}
        for workers in (1, 2):
            with (
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,
                ) as cluster,
                Client(cluster) as client,
            ):
                x = da.random.RandomState(0).random_sample((n, *row), chunks=(chunk,) + row)
                x = client.persist(x.astype(np.float32))
                wait(x)

                runs = []

                def run(x=x, runs=runs, model=model):
                    # A fresh name each run: the tasks are pure, and the same keys would
                    # find the last run's results still in memory.
                    xi = x.map_blocks(np.asarray, dtype=x.dtype, name=f"bench-in-{len(runs)}")
                    runs.append(xi)
                    out = client.persist(gd.predict(model, xi, batch_size=256, client=client))
                    wait(out)
                    client.cancel(out)

                run()  # the workers load the model here, once
                t = _best(run, 2)
                per_worker[workers] = n / t
                print(
                    f"    {workers} worker{'s' if workers > 1 else ' '} (LocalCluster, "
                    f"1 thread each):    {n / t:10,.0f} rows/s"
                )
        print(
            f"    2 workers / 1 worker: {per_worker[2] / per_worker[1]:.2f}x "
            f"(this machine has {os.cpu_count()} cores, shared)"
        )


# The child's peak resident memory: VmHWM (Linux) starts afresh at exec, while
# ru_maxrss carries over the parent's peak through fork+exec.
_MEASURE = """
import json, resource, sys
from graphc.cli import main
code = main(sys.argv[1:])
peak = None
try:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
except OSError:
    pass
if peak is None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"code": code, "maxrss_mb": peak}))
"""


def _eval_rss(args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, env=env, cwd=ROOT
    )
    last = out.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    if result["code"] != 0:
        raise RuntimeError(f"graphc {' '.join(args)} failed: {out.stderr}")
    return result["maxrss_mb"]


def bench_streamed_memory():
    rows, chunk = 300_000, 30_000
    print(
        f"peak memory of `graphc eval` (VmHWM of a fresh process), digits MLP in "
        f"onnxruntime, {rows:,} rows of 64 float32 = {rows * 64 * 4 / 2**20:.0f} MiB "
        f"of input, chunks of {chunk:,} rows"
    )
    with tempfile.TemporaryDirectory() as d:
        model = digits_model()
        onnx_path = os.path.join(d, "digits.onnx")
        model.export(onnx_path)
        rng = np.random.default_rng(0)
        x = rng.random((rows, 8, 8), dtype=np.float32)
        y = rng.integers(0, 10, rows)
        big, small = os.path.join(d, "big.npz"), os.path.join(d, "small.npz")
        np.savez(big, x=x, y=y)
        np.savez(small, x=x[:chunk], y=y[:chunk])
        del x, y
        common = [
            "--loss",
            "sparse_categorical_crossentropy",
            "--metrics",
            "accuracy",
            "--batch-size",
            "4096",
        ]
        whole = _eval_rss(["eval", onnx_path, "--data", big, *common])
        streamed = _eval_rss(
            ["eval", onnx_path, "--data", big, "--chunk-rows", str(chunk), *common]
        )
        one_chunk = _eval_rss(["eval", onnx_path, "--data", small, *common])
    print(f"    loaded whole:            {whole:7.0f} MiB")
    print(f"    streamed (--chunk-rows): {streamed:7.0f} MiB")
    print(
        f"    one chunk's rows, whole: {one_chunk:7.0f} MiB  (the floor: Python, NumPy, "
        "onnxruntime, one chunk)"
    )
    print(
        f"    streamed / whole: {streamed / whole:.2f}; streamed above the one-chunk "
        f"floor: {streamed - one_chunk:+.0f} MiB"
    )


def bench_gradient_exchange():
    from distributed import Client, LocalCluster

    def echo(a):
        return a

    print(
        "round trip of one gradient exchange through the LocalCluster (client -> "
        "worker -> client, pure=False)"
    )
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        for n in (1_000, 1_000_000):
            a = np.random.default_rng(0).random(n, dtype=np.float32)
            client.submit(echo, a, pure=False).result()  # warm up
            times = []
            for _ in range(15):
                t = time.perf_counter()
                back = client.submit(echo, a, pure=False).result()
                times.append(time.perf_counter() - t)
            assert np.array_equal(back, a)
            times.sort()
            print(
                f"    {n:>9,} float32 ({a.nbytes / 2**20:5.2f} MiB): median "
                f"{times[len(times) // 2] * 1e3:6.1f} ms, best {times[0] * 1e3:6.1f} ms"
            )
    # What one training step costs here, for scale: a 1M-parameter MLP, batch 128.
    graphc.utils.set_random_seed(0)
    inputs = graphc.Input(shape=(784,))
    h = layers.Dense(1024, activation="relu")(inputs)
    model = graphc.Model(inputs, layers.Dense(192, activation="softmax")(h))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    params = model.count_params()
    xb = np.random.default_rng(1).random((128, 784), dtype=np.float32)
    yb = np.random.default_rng(2).integers(0, 192, 128)
    model.train_on_batch(xb, yb)
    step = _best(lambda: model.train_on_batch(xb, yb), 10)
    print(
        f"    for scale: one NumPy training step of a {params:,}-parameter MLP, batch "
        f"128: {step * 1e3:.1f} ms"
    )


def main():
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("skipped: needs the distributed extra (pip install 'graphc[distributed]')")
        return
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"(machine: {os.cpu_count()} cores, load average {load}: the figures below "
        "move with the load)"
    )
    bench_throughput()
    bench_streamed_memory()
    bench_gradient_exchange()


if __name__ == "__main__":
    main()
