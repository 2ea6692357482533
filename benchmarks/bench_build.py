"""Model building: a chain of N Dense(8) layers through the functional API, the model's
passes (connectivity, shapes) and ``summary()``; and the time of ``import graphc``.

Also the same chain through ``graphc.onnx.export`` (issue 12: build + summary + export of
5,000 layers under 1 s, linear in depth).

Prints figures, never asserts: the timed check with a generous limit is
tests/passes/test_pipeline.py, the structural linearity check (counted calls)
tests/onnx/test_export_scaling.py. Targets (issue 2): the 5,000-layer chain under 2 s in
all, time linear in the number of layers, ``python -c 'import graphc'`` under 0.3 s.
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import time

SIZES = (1000, 2000, 5000)
REPEAT = 3
BUILD_TARGET_S = 2.0
IMPORT_TARGET_S = 0.3
EXPORT_TARGET_S = 1.0


def time_chain(n: int) -> dict:
    """Seconds for: recording the layer calls, ``Model(...)`` (its passes), ``summary()``."""
    import graphc
    from graphc import layers

    gc.collect()
    t0 = time.perf_counter()
    inp = graphc.Input(shape=(8,))
    x = inp
    for _ in range(n):
        x = layers.Dense(8)(x)
    t1 = time.perf_counter()
    model = graphc.Model(inp, x)
    t2 = time.perf_counter()
    model.summary(print_fn=lambda s: None)
    t3 = time.perf_counter()
    assert model.count_params() == 72 * n  # the figures are for a correct model
    return {"layers": t1 - t0, "passes": t2 - t1, "summary": t3 - t2, "total": t3 - t0}


def time_chain_with_export(n: int) -> float:
    """Seconds for issue 12's figure: the chain's layer calls, ``Model(...)``,
    ``summary()`` and ``graphc.onnx.export`` (passes, lowering, checker, shape
    inference; no file written)."""
    import graphc
    from graphc import layers

    gc.collect()
    t0 = time.perf_counter()
    inp = graphc.Input(shape=(8,))
    x = inp
    for _ in range(n):
        x = layers.Dense(8)(x)
    model = graphc.Model(inp, x)
    model.summary(print_fn=lambda s: None)
    proto = graphc.onnx.export(model)
    elapsed = time.perf_counter() - t0
    assert len(proto.graph.node) == n  # one Gemm per Dense
    return elapsed


def export_chains(sizes=SIZES, repeat: int = REPEAT) -> dict:
    try:
        import onnx  # noqa: F401
    except ImportError:
        print("build + summary + ONNX export: onnx not installed")
        return {}
    time_chain_with_export(10)  # onnx imported, caches warm
    print(f"Build + summary + ONNX export of the chain (best of {repeat}; issue 12: < 1 s):")
    out = {}
    for n in sizes:
        out[n] = min(time_chain_with_export(n) for _ in range(repeat))
        ratio = (out[n] / n) / (out[sizes[0]] / sizes[0])
        print(
            f"{n:>8,} layers {out[n]:>7.3f} s {out[n] / n * 1e6:>7.1f} us/layer "
            f"{ratio:>5.2f}x the first size's per layer"
        )
    largest = sizes[-1]
    verdict = "ok" if out[largest] < EXPORT_TARGET_S else "OVER TARGET"
    print(
        f"{largest:,} layers built, summarised and exported in {out[largest]:.2f} s "
        f"(target < {EXPORT_TARGET_S:.0f} s): {verdict}"
    )
    return out


def best_of(n: int, repeat: int = REPEAT) -> dict:
    runs = [time_chain(n) for _ in range(repeat)]
    return min(runs, key=lambda r: r["total"])


def median_subprocess_seconds(code: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


#: The first use of the API after ``import graphc`` (which loads nothing more itself):
#: the model-building modules, and NumPy with them.
FIRST_USE = "import graphc; graphc.Model"


def import_time() -> tuple[float, float, float]:
    """(``import graphc``, ``import graphc`` and the first use of its API, the
    interpreter's start-up): the first two beyond the start-up, medians of 5 fresh runs.
    Without bytecode files (``PYTHONDONTWRITEBYTECODE``) every run compiles graphc's
    sources again: the figures then say more about the compiler than the imports."""
    median_subprocess_seconds("pass", 1)  # warm the file cache
    median_subprocess_seconds(FIRST_USE, 1)
    base = median_subprocess_seconds("pass")
    bare = median_subprocess_seconds("import graphc")
    used = median_subprocess_seconds(FIRST_USE)
    return bare - base, used - base, base


def main(sizes=SIZES) -> dict:
    print(f"Chain of Dense(8) layers, functional API (best of {REPEAT}):")
    print(
        f"{'layers':>8} {'calls s':>9} {'passes s':>9} {'summary s':>10} {'total s':>9} "
        f"{'us/layer':>9} {'vs first':>9}"
    )
    results = {}
    for n in sizes:
        r = best_of(n)
        results[n] = r
        per_layer = r["total"] / n
        ratio = per_layer / (results[sizes[0]]["total"] / sizes[0])
        print(
            f"{n:>8,} {r['layers']:>9.3f} {r['passes']:>9.3f} {r['summary']:>10.3f} "
            f"{r['total']:>9.3f} {per_layer * 1e6:>9.1f} {ratio:>8.2f}x"
        )
    largest = sizes[-1]
    verdict = "ok" if results[largest]["total"] < BUILD_TARGET_S else "OVER TARGET"
    print(
        f"{largest:,} layers in {results[largest]['total']:.2f} s "
        f"(target < {BUILD_TARGET_S:.0f} s): {verdict}"
    )
    ratio = (results[largest]["total"] / largest) / (results[sizes[0]]["total"] / sizes[0])
    print(
        f"time per layer at {largest:,} vs {sizes[0]:,} layers: {ratio:.2f}x (1.0x = linear growth)"
    )
    # The same without Python's cyclic garbage collector, whose full collections grow
    # with the number of live objects: what is left is graphc's own algorithms.
    gc.disable()
    try:
        small, large = best_of(sizes[0]), best_of(largest)
    finally:
        gc.enable()
    ratio = (large["total"] / largest) / (small["total"] / sizes[0])
    print(f"  the same with the garbage collector paused: {ratio:.2f}x")

    results["export"] = export_chains(sizes)

    own, used, base = import_time()
    verdict = "ok" if own < IMPORT_TARGET_S else "OVER TARGET"
    print(
        f"python -c 'import graphc': {own:.3f} s beyond the interpreter's {base:.3f} s "
        f"(median of 5; target < {IMPORT_TARGET_S} s): {verdict}"
    )
    print(f"python -c '{FIRST_USE}' (the API loaded, NumPy with it): {used:.3f} s beyond it")
    heavy = [m for m in ("onnx", "onnxruntime", "torch", "keras") if m in _modules_after_import()]
    print(f"heavy modules loaded by 'import graphc': {', '.join(heavy) or 'none'}")
    results["import"] = own
    return results


def _modules_after_import() -> set:
    code = "import sys, graphc; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


if __name__ == "__main__":
    main()
