"""What a pass is, and the pipeline that runs a named list of them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from graphc.ir import Graph

__all__ = ["Pass", "PassResult", "Pipeline", "PipelineReport"]


@dataclass
class PassResult:
    """What a transform pass returns: the graph (mutated in place) and whether it changed.
    ``reason`` says why a pass did not apply, for the user and for tests."""

    graph: Graph
    changed: bool
    reason: str = ""


class Pass:
    """A named step over a Graph. Analyses return a typed report; transforms return a
    ``PassResult``. Passes mutate in place and say so; callers clone first if needed."""

    name = "pass"

    def run(self, graph: Graph) -> Any:
        raise NotImplementedError

    def __call__(self, graph: Graph) -> Any:
        return self.run(graph)

    def __repr__(self) -> str:
        return f"<Pass {self.name}>"


@dataclass
class PipelineReport:
    results: dict[str, Any] = field(default_factory=dict)  # pass name -> what it returned
    seconds: dict[str, float] = field(default_factory=dict)  # pass name -> wall time

    def __getitem__(self, name: str) -> Any:
        return self.results[name]


class Pipeline:
    """Run passes in order, optionally linting the graph between them. When a pass fails,
    its error (of its own type, so ``except ValueError`` still works) carries
    ``failed_pass`` and ``passes_run`` and a note naming both."""

    def __init__(self, passes: Iterable[Pass], lint: bool = False) -> None:
        self.passes = list(passes)
        self.lint = lint

    def run(self, graph: Graph) -> PipelineReport:
        report = PipelineReport()
        done: list[str] = []
        for p in self.passes:
            start = time.perf_counter()
            try:
                report.results[p.name] = p.run(graph)
                if self.lint:
                    graph.lint()
            except Exception as e:
                # Exceptions carry them for tests and tools (mypy knows no such fields).
                e.failed_pass = p.name  # type: ignore[attr-defined]
                e.passes_run = list(done)  # type: ignore[attr-defined]
                if hasattr(e, "add_note"):
                    after = f" after {', '.join(done)}" if done else " (the first pass)"
                    e.add_note(f"[graphc] pass {p.name!r} failed{after}")
                raise
            report.seconds[p.name] = time.perf_counter() - start
            done.append(p.name)
        return report

    def __repr__(self) -> str:
        return f"Pipeline({[p.name for p in self.passes]})"
