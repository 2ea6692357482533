"""Issue 12's 5,000-layer figure split by phase, in CPU time (``time.process_time``: the
machine is shared, so wall time says more about the neighbours than about graphc).

    PYTHONPATH=. python benchmarks/bench_build_phases.py [N ...]   (from the tree to measure)

Prints, per chain length, the best of 3 runs of: the layer calls, ``Model(...)``,
``summary()`` and ``graphc.onnx.export`` (passes, lowering, checker, shape inference).
Compare two trees by running it from each, alternately.
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


def main(sizes=(1000, 2500, 5000), repeat: int = 3) -> None:
    phases(10)  # onnx imported, caches warm
    for n in sizes:
        best = min((phases(n) for _ in range(repeat)), key=lambda r: r["total"])
        cols = " ".join(f"{k} {v:.3f}" for k, v in best.items())
        print(f"{n:>6} layers (CPU s): {cols}  {best['total'] / n * 1e6:.0f} us/layer")


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (1000, 2500, 5000))
