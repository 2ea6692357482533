"""Issue 12's 5,000-layer figure split by phase, in CPU time (``time.process_time``: the
machine is shared, so wall time says more about the neighbours than about graphc).

    PYTHONPATH=. python benchmarks/bench_build_phases.py [--detail] [N ...]   (from the tree)

Prints, per chain length, the best of 3 runs of: the layer calls, ``Model(...)``,
``summary()`` and ``graphc.onnx.export`` (passes, lowering, checker, shape inference);
with ``--detail`` also the export's parts (clone, passes, lowering, onnx's checker and
shape inference, the shape comparison), timed by wrapping those functions. Compare two
trees by running it from each, alternately.
"""

from __future__ import annotations

import gc
import sys
import time


def phases(n: int) -> dict:
    import graphc
    import graphc.onnx
    from graphc import layers

    gc.collect()
    clock = time.process_time
    t0 = clock()
    inp = graphc.Input(shape=(8,))
    x = inp
    for _ in range(n):
        x = layers.Dense(8)(x)
    t1 = clock()
    model = graphc.Model(inp, x)
    t2 = clock()
    model.summary(print_fn=lambda s: None)
    t3 = clock()
    proto = graphc.onnx.export(model)
    t4 = clock()
    assert len(proto.graph.node) == n  # one Gemm per Dense
    return {
        "calls": t1 - t0,
        "model": t2 - t1,
        "summary": t3 - t2,
        "export": t4 - t3,
        "total": t4 - t0,
    }


#: CPU seconds spent in the wrapped export parts during the current run.
PARTS: dict = {}


def _time_export_parts() -> None:
    """Wrap the export's parts so that each run adds their CPU time to ``PARTS``."""
    import onnx

    import graphc.backends.onnx.export as ex
    from graphc.ir import Graph

    def wrap(owner, name, label):
        f = getattr(owner, name)

        def timed(*a, **k):
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                PARTS[label] = PARTS.get(label, 0.0) + time.process_time() - t

        setattr(owner, name, timed)

    wrap(Graph, "clone", "clone")
    wrap(ex, "_run_passes", "passes")
    wrap(ex, "_lower", "lower")
    wrap(onnx.checker, "check_model", "checker")
    wrap(onnx.shape_inference, "infer_shapes", "onnx-shapes")
    wrap(ex, "_compare_shapes", "compare")


def run(n: int) -> dict:
    PARTS.clear()
    out = phases(n)
    out.update({f"  {k}": v for k, v in PARTS.items()})
    return out


def main(sizes=(1000, 2500, 5000), repeat: int = 3, detail: bool = False) -> None:
    if detail:
        _time_export_parts()
    phases(10)  # onnx imported, caches warm
    for n in sizes:
        best = min((run(n) for _ in range(repeat)), key=lambda r: r["total"])
        cols = " ".join(f"{k} {v:.3f}" for k, v in best.items() if not k.startswith(" "))
        print(f"{n:>6} layers (CPU s): {cols}  {best['total'] / n * 1e6:.0f} us/layer")
        parts = " ".join(f"{k.strip()} {v:.3f}" for k, v in best.items() if k.startswith(" "))
        if parts:
            print(f"{'':>6} export's parts: {parts}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--detail"]
    main(tuple(int(a) for a in args) or (1000, 2500, 5000), detail="--detail" in sys.argv)
