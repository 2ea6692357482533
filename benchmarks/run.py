"""`make bench`: run every benchmark module (benchmarks/bench_*.py, each with a `main()`),
build first. Benchmarks print figures; none asserts a timing.

    python benchmarks/run.py            # all of them
    python benchmarks/run.py build      # only bench_build.py
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST = ["build"]  # the rest follow in name order


def available() -> list[str]:
    names = sorted(
        f[len("bench_") : -3]
        for f in os.listdir(HERE)
        if f.startswith("bench_") and f.endswith(".py")
    )
    return [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, HERE)
    names = available()
    chosen = argv or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        print(
            f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== bench_{name} " + "=" * max(0, 60 - len(name)), flush=True)
        start = time.perf_counter()
        try:
            importlib.import_module(f"bench_{name}").main()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(f"--- bench_{name}: {time.perf_counter() - start:.1f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
