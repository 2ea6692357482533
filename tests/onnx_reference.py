"""A second runtime for the export tests: onnx's reference evaluator
(``onnx.reference.ReferenceEvaluator``, the specification written in Python) runs the
exported model on the same inputs as onnxruntime, and its outputs must equal graphc's NumPy
outputs at the same tolerances.

Every export-parity helper calls :func:`assert_reference_matches` (tests/onnx
``_assert_parity``, tests/layers/harness.py and tests/oracle/oracle_harness.py
``assert_onnx_matches``), so every export test gets it. Imported as
``from onnx_reference import ...``: tests/ is on ``sys.path`` (as for ``example_runner``).

The evaluator is slow, so it runs at most :data:`MAX_ROWS` rows (the first ones) of one
batch per call, and skips models with more than :data:`MAX_NODES` nodes. When it does not
implement an op of the model it raises ``NotImplementedError`` (or one of
:data:`UNSUPPORTED_MESSAGES`); the comparison is then skipped and recorded with the op.
Nodes it computes wrongly are listed in :data:`EXCLUDED` with the reason. Every outcome is
recorded per test in :data:`RECORD`, and tests/conftest.py prints the figures at the end of
the session, so a skipped comparison is never silent; tests/onnx's example models must all
be compared (``_assert_parity`` asserts it).
"""

from __future__ import annotations

import collections
import os
import time

import numpy as np

MAX_ROWS = 2
MAX_NODES = 400


def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


_DEFAULT_ACTIVATIONS = {"GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}

# Nodes the installed onnx's reference evaluator computes wrongly: (op, when, why). A model
# with one is recorded as excluded, not compared.
EXCLUDED = [
    (
        "BatchNormalization",
        lambda node, opset: opset < 14 and any(a.name == "momentum" for a in node.attribute),
        # onnx 1.23 BatchNormalization_9 (opsets 9-13) runs the training mode (batch
        # statistics) whenever the `momentum` attribute is set, but the spec chooses the mode
        # by the number of outputs: one output is the inference form, which graphc writes
        # (onnxruntime agrees with graphc). Opset 14+ has `training_mode` and is compared.
        "onnx reference BatchNormalization_9 runs training mode when momentum is set",
    ),
    (
        "RNN/GRU/LSTM",
        lambda node, opset: len(node.input) > 4 and bool(node.input[4]),
        # onnx 1.23's RNN, GRU and LSTM ignore `sequence_lens` (op_rnn.py, op_gru.py,
        # op_lstm.py: "noqa: ARG002"), so masked sequences run to their padded length.
        "onnx reference RNN/GRU/LSTM ignore sequence_lens",
    ),
    (
        "GRU/LSTM",
        lambda node, opset: any(
            a.name == "activations"
            and [v.decode() for v in a.strings]
            != _DEFAULT_ACTIVATIONS[node.op_type]
            * (len(a.strings) // len(_DEFAULT_ACTIVATIONS[node.op_type]))
            for a in node.attribute
        ),
        # onnx 1.23's GRU and LSTM ignore `activations` (always Sigmoid and Tanh).
        "onnx reference GRU/LSTM ignore the activations attribute",
    ),
]

# Errors by which the reference evaluator says it does not implement something, besides
# NotImplementedError: its RNN knows only the Tanh and Affine activations (onnx 1.23,
# op_rnn.py choose_act), so a SimpleRNN with relu is not run there.
UNSUPPORTED_MESSAGES = ("Unknown activation function",)

# The test being run (set by tests/conftest.py) -> outcome counts for that test.
CURRENT = {"test": None}
RECORD: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
REASONS: dict[str, set] = collections.defaultdict(set)
SECONDS = [0.0]  # spent in the reference evaluator (building and running sessions)


def _note(outcome: str, reason: str | None = None) -> None:
    test = CURRENT["test"] or "<outside a test>"
    RECORD[test][outcome] += 1
    if reason:
        REASONS[test].add(reason)


def _first_rows(x, n):
    """``x`` (array, list/tuple of arrays, dict of arrays) cut to its first ``n`` rows."""
    if isinstance(x, dict):
        return {k: _first_rows(v, n) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_first_rows(v, n) for v in x)
    a = np.asarray(x)
    return a[:n] if a.ndim else a


def _load(proto):
    import onnx

    if isinstance(proto, (str, os.PathLike)):
        return onnx.load(os.fspath(proto))
    if isinstance(proto, (bytes, bytearray)):
        return onnx.load_from_string(bytes(proto))
    return proto


def assert_reference_matches(proto, runtime, x, reference, *, rtol, atol):
    """The reference evaluator on ``proto`` gives ``reference(x)`` (graphc's NumPy outputs,
    a list in output order or one array) on the first :data:`MAX_ROWS` rows of ``x``.

    ``runtime``: the ``graphc.onnx.Runtime`` over the same model; its input checks make the
    feeds, exactly as for onnxruntime. Returns True when compared, False when skipped (the
    reason is recorded)."""
    from onnx.reference import ReferenceEvaluator

    model = _load(proto)
    opset = _opset(model)
    for op, when, why in EXCLUDED:
        if any(n.op_type in op.split("/") and when(n, opset) for n in model.graph.node):
            _note("excluded", f"excluded: {why}")
            return False
    if len(model.graph.node) > MAX_NODES:
        _note("too_big", f"{len(model.graph.node)} nodes > {MAX_NODES}")
        return False
    if not any(p.shape and isinstance(p.shape[0], int) for p in runtime.inputs):
        x = _first_rows(x, MAX_ROWS)  # (a fixed batch size runs as given)
    feeds, _ = runtime._feeds(x)
    start = time.perf_counter()
    try:
        session = ReferenceEvaluator(model)
        got = session.run(None, feeds)
    except (NotImplementedError, RuntimeError) as e:
        message = " ".join(str(e).split())
        if not isinstance(e, NotImplementedError) and not message.startswith(UNSUPPORTED_MESSAGES):
            raise
        _note("unsupported", f"not implemented: {message[:160]}")
        return False
    finally:
        SECONDS[0] += time.perf_counter() - start
    want = reference(x)
    want = list(want) if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want), (len(got), len(want))
    for name, g, w in zip(runtime.output_names, got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"reference evaluator, output {name}: {g.shape} vs {w.shape}"
        np.testing.assert_allclose(
            g, w, rtol=rtol, atol=atol, err_msg=f"reference evaluator, output {name}"
        )
    _note("compared")
    return True


def summary() -> dict:
    """Figures over the session: tests compared at least once, tests whose every call was
    skipped (with reasons), and the call counts by outcome."""
    calls = collections.Counter()
    for c in RECORD.values():
        calls.update(c)
    covered = sorted(t for t, c in RECORD.items() if c["compared"])
    skipped = {t: sorted(REASONS[t]) for t, c in RECORD.items() if not c["compared"]}
    return {"covered": covered, "skipped": skipped, "calls": dict(calls), "seconds": SECONDS[0]}
