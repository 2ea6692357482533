"""Pipeline: order, reports, failure attribution, lint between passes; and the foundation's
scaling check: a 2,000+ layer chain builds, validates and summarises in time."""

import time

import pytest

from graphc import Input, Model, layers
from graphc.errors import GraphError, ShapeError
from passes import (
    MODEL_PASSES,
    CountParams,
    InferShapes,
    Pass,
    PassResult,
    Pipeline,
    PipelineReport,
    ValidateConnectivity,
)


def small_model():
    i = Input(shape=(3,), name="pl_in")
    h = layers.Dense(4, activation="relu", name="pl_d1")(i)
    return Model(i, layers.Dense(2, name="pl_d2")(h), name="pl_model")


class Record(Pass):
    def __init__(self, name, log):
        self.name, self.log = name, log

    def run(self, graph):
        self.log.append(self.name)
        return PassResult(graph, changed=False, reason=f"{self.name} had nothing to do")


class Boom(Pass):
    name = "boom"

    def run(self, graph):
        raise ShapeError("boom went the pass")


class Scramble(Pass):
    """A broken transform: reverses the node order (lint must catch it)."""

    name = "scramble"

    def run(self, graph):
        graph.nodes.reverse()
        graph.invalidate()
        return PassResult(graph, changed=True)


def test_runs_passes_in_order_and_reports_each():
    log = []
    g = small_model().graph.clone()
    report = Pipeline([Record("a", log), Record("b", log), Record("c", log)]).run(g)
    assert log == ["a", "b", "c"]
    assert isinstance(report, PipelineReport)
    assert list(report.results) == ["a", "b", "c"]
    assert report["b"].changed is False and report["b"].reason == "b had nothing to do"
    assert set(report.seconds) == {"a", "b", "c"}
    assert all(s >= 0 for s in report.seconds.values())


def test_real_passes_give_typed_reports():
    g = small_model().graph
    report = Pipeline([ValidateConnectivity(), InferShapes(), CountParams()], lint=True).run(g)
    assert report["count_params"].total == 16 + 10
    assert report["infer_shapes"][g.outputs[0]].shape == (None, 2)
    assert [layer.name for layer in report["validate_connectivity"].layers] == [
        "pl_in",
        "pl_d1",
        "pl_d2",
    ]
    assert repr(Pipeline([InferShapes()])) == "Pipeline(['infer_shapes'])"


def test_model_passes_are_connectivity_then_shapes():
    assert [p.name for p in MODEL_PASSES] == ["validate_connectivity", "infer_shapes"]


def test_failure_names_the_failed_pass_and_those_before_it():
    log = []
    g = small_model().graph.clone()
    with pytest.raises(ShapeError) as e:
        Pipeline([Record("a", log), Record("b", log), Boom(), Record("c", log)]).run(g)
    assert log == ["a", "b"]
    assert e.value.failed_pass == "boom"
    assert e.value.passes_run == ["a", "b"]
    assert e.value.__notes__ == ["[graphc] pass 'boom' failed after a, b"]
    assert isinstance(e.value, ValueError)  # the error keeps its own type


def test_failure_of_the_first_pass():
    with pytest.raises(ShapeError) as e:
        Pipeline([Boom()]).run(small_model().graph.clone())
    assert e.value.passes_run == []
    assert e.value.__notes__ == ["[graphc] pass 'boom' failed (the first pass)"]


def test_lint_between_passes_catches_a_broken_transform():
    log = []
    g = small_model().graph.clone()
    with pytest.raises(GraphError, match="before it is produced") as e:
        Pipeline([Record("a", log), Scramble(), Record("c", log)], lint=True).run(g)
    assert e.value.failed_pass == "scramble"
    assert e.value.passes_run == ["a"]
    assert log == ["a"]


def test_without_lint_a_broken_transform_goes_unnoticed():
    log = []
    g = small_model().graph.clone()
    Pipeline([Scramble(), Record("c", log)]).run(g)
    assert log == ["c"]
    with pytest.raises(GraphError):
        g.lint()


def test_pass_is_callable_and_named():
    g = small_model().graph
    assert CountParams()(g).total == 26
    assert repr(InferShapes()) == "<Pass infer_shapes>"
    with pytest.raises(NotImplementedError):
        Pass().run(g)


@pytest.mark.slow
def test_two_thousand_layer_chain_builds_validates_and_summarises_in_time():
    """The scaling test: building, validating and summarising a model grows linearly with
    its layers (ARCHITECTURE.md, "Habits"). The limit is generous
    (the benchmark gives the figures); a quadratic step or a recursion would blow it."""
    n = 2500
    start = time.perf_counter()
    i = Input(shape=(8,), name="pl_chain_in")
    x = i
    for _ in range(n):
        x = layers.Dense(8)(x)
    m = Model(i, x, name="pl_chain")
    lines = []
    m.summary(print_fn=lines.append)
    elapsed = time.perf_counter() - start
    assert len(m.layers) == n + 1
    assert len(m.graph.nodes) == n  # one gemm per Dense
    assert lines[-2] == "Non-trainable params: 0"
    assert lines[-4] == f"Total params: {72 * n:,}"
    assert elapsed < 10.0, f"{n}-layer chain took {elapsed:.2f} s"
