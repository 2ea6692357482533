import os

# The `oracle` tests compare with Keras 3 on its torch backend (no TensorFlow here).
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# ---- the reference evaluator's coverage of the export tests (tests/onnx_reference.py) ----
def pytest_runtest_setup(item):
    import onnx_reference

    onnx_reference.CURRENT["test"] = item.nodeid


def pytest_runtest_teardown(item):
    import onnx_reference

    onnx_reference.CURRENT["test"] = None


def pytest_sessionfinish(session):
    import onnx_reference

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: hand the figures to the controller
        workeroutput["onnx_reference"] = onnx_reference.summary()


def pytest_testnodedown(node, error):
    import onnx_reference

    part = getattr(node, "workeroutput", {}).get("onnx_reference")
    if part:
        onnx_reference.SECONDS[0] += part["seconds"]
        for t in part["covered"]:
            onnx_reference.RECORD[t]["compared"] += 1
        for t, reasons in part["skipped"].items():
            onnx_reference.RECORD[t]["skipped"] += 1
            onnx_reference.REASONS[t].update(reasons)


def pytest_terminal_summary(terminalreporter):
    import onnx_reference

    s = onnx_reference.summary()
    if not s["covered"] and not s["skipped"]:
        return
    tr = terminalreporter
    tr.write_sep("-", "onnx reference evaluator (second runtime for the export tests)")
    tr.write_line(
        f"{len(s['covered'])} export tests compared in onnx.reference.ReferenceEvaluator; "
        f"{len(s['skipped'])} skipped it (reasons below); {s['seconds']:.1f} s in it"
    )
    reasons = {}
    for t, rs in s["skipped"].items():
        for r in rs:
            reasons.setdefault(r, []).append(t)
    for r, ts in sorted(reasons.items()):
        tr.write_line(f"  {len(ts)} tests: {r} (e.g. {ts[0]})")
