"""Build + summary + ONNX export grow linearly with depth (issue 12, deliverable 3),
checked without a clock: the Python function calls they make are counted, and a chain
twice as deep must cost exactly twice the extra calls. A quadratic step (a scan of every
node per node, a rename pass over every tensor per output) shows as a growing increment;
timings on a shared machine could not tell."""

from __future__ import annotations

import gc
import sys

import pytest

import graphc
from graphc import layers

pytest.importorskip("onnx")


def _chain_calls(n: int) -> int:
    """Python and builtin calls made by: n Dense layers, Model, summary, export."""
    gc.collect()
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call" or event == "c_call":
            calls += 1

    was_enabled = gc.isenabled()
    gc.disable()  # no finalizer or weakref callback of earlier tests inside the count
    sys.setprofile(count)
    try:
        x = inputs = graphc.Input(shape=(4,))
        for _ in range(n):
            x = layers.Dense(4)(x)
        model = graphc.Model(inputs, x)
        model.summary(print_fn=lambda line: None)
        proto = graphc.onnx.export(model)
    finally:
        sys.setprofile(None)
        if was_enabled:
            gc.enable()
    assert len(proto.graph.node) == n  # one Gemm per Dense: the export did its work
    return calls


def test_build_summary_and_export_make_a_constant_number_of_calls_per_layer():
    _chain_calls(5)  # caches warm (dtype names, NodeProto templates, lazy imports)
    c1, c2, c4 = _chain_calls(20), _chain_calls(40), _chain_calls(80)
    first, second = c2 - c1, c4 - c2  # the cost of 20 more layers, then of 40 more
    per_layer = first / 20
    assert per_layer < 2_000, f"{per_layer:.0f} calls per Dense layer"
    # Linear: 40 more layers cost twice what 20 more did, to within 1 %.
    assert abs(second - 2 * first) <= 0.01 * second, (c1, c2, c4)
