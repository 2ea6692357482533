"""ONNX's own backend node tests (``onnx.backend.test.case.node.collect_testcases``) run
through ``graphc.onnx.backend``, beside onnxruntime and onnx's reference evaluator.

Every case is compared with its expected outputs at the case's tolerances (rtol 1e-3,
atol 1e-7) with exact shapes and dtypes. A case graphc refuses (its importer raises, or
its executor fails) counts as unsupported with the reason, never as passed; the test fails
if any case graphc runs gives a wrong result. Run directly for the table:
``python tests/onnx/test_onnx_backend_node_tests.py``.
"""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")


def _compare(expected, got, rtol, atol) -> str | None:
    """None when ``got`` matches, else what differs."""
    if len(expected) != len(got):
        return f"{len(got)} outputs, expected {len(expected)}"
    for i, (e, g) in enumerate(zip(expected, got)):
        if isinstance(e, list) or e is None:
            return "a sequence/optional output"
        if isinstance(e, onnx.TensorProto):
            e = onnx.numpy_helper.to_array(e)
        e, g = np.asarray(e), np.asarray(g)
        if e.dtype != g.dtype:
            return f"output {i}: dtype {g.dtype}, expected {e.dtype}"
        if e.shape != g.shape:
            return f"output {i}: shape {g.shape}, expected {e.shape}"
        if e.dtype.kind in "OSU":
            if not (e == g).all():
                return f"output {i}: values differ"
            continue
        try:
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as err:
            return f"output {i}: {str(err).strip().splitlines()[2:4]}"
    return None


def _arr(x):
    return onnx.numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text[:200]}"


def run_graphc(case):
    """("passed" | "unsupported" | "wrong", reason)."""
    from graphc.onnx import backend

    try:
        rep = backend.prepare(case.model)
    except Exception as e:  # the importer refused: an unsupported case
        return "unsupported", _reason(e)
    for inputs, outputs in case.data_sets:
        try:
            got = rep.run(inputs)
        except Exception as e:
            return "unsupported", "run: " + _reason(e)
        diff = _compare(outputs, list(got), case.rtol, case.atol)
        if diff is not None:
            return "wrong", diff
    return "passed", ""


def run_onnxruntime(case) -> bool:
    import onnxruntime as ort

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        sess = ort.InferenceSession(
            case.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in sess.get_inputs()]
        for inputs, outputs in case.data_sets:
            got = sess.run(None, dict(zip(names, map(_arr, inputs))))
            if _compare(outputs, got, case.rtol, case.atol) is not None:
                return False
        return True
    except Exception:
        return False


def run_reference(case) -> bool:
    from onnx.reference import ReferenceEvaluator

    try:
        ref = ReferenceEvaluator(case.model)
        names = [i.name for i in case.model.graph.input]
        for inputs, outputs in case.data_sets:
            got = ref.run(None, dict(zip(names, map(_arr, inputs))))
            if _compare(outputs, got, case.rtol, case.atol) is not None:
                return False
        return True
    except Exception:
        return False


def node_test_report(others=True, limit=None):
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    cases = cases[:limit] if limit else cases
    results = {}
    counts = collections.Counter()
    ort_passed = ref_passed = 0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for case in cases:
            status, reason = run_graphc(case)
            results[case.name] = (status, reason)
            counts[status] += 1
            if others:
                ort_passed += run_onnxruntime(case)
                ref_passed += run_reference(case)
    return {
        "total": len(cases),
        "counts": counts,
        "results": results,
        "onnxruntime": ort_passed if others else None,
        "reference": ref_passed if others else None,
    }


def format_report(report) -> str:
    c = report["counts"]
    lines = [
        f"graphc.onnx.backend: {c['passed']} passed, {c['unsupported']} unsupported, "
        f"{c['wrong']} wrong, of {report['total']} ONNX node test cases"
    ]
    if report["onnxruntime"] is not None:
        lines.append(
            f"onnxruntime: {report['onnxruntime']} passed; onnx.reference: "
            f"{report['reference']} passed (same run)"
        )
    wrong = [(n, r) for n, (s, r) in report["results"].items() if s == "wrong"]
    for n, r in wrong:
        lines.append(f"  WRONG {n}: {r}")
    return "\n".join(lines)


@pytest.mark.slow
def test_onnx_node_tests_none_wrong():
    report = node_test_report()
    text = format_report(report)
    print(text)
    reasons = collections.Counter(
        r.split(":")[0] + ":" + r.split(":")[1][:60]
        for s, r in report["results"].values()
        if s == "unsupported" and ":" in r
    )
    for reason, n in reasons.most_common(15):
        print(f"  unsupported x{n}: {reason}")
    assert report["counts"]["wrong"] == 0, text
    assert report["counts"]["passed"] >= 1400, text  # issue 11's target


if __name__ == "__main__":
    import sys

    rep = node_test_report(others="--graphc-only" not in sys.argv)
    print(format_report(rep))
    if "-v" in sys.argv:
        for name, (status, reason) in sorted(rep["results"].items()):
            print(f"{status:12s} {name}: {reason}")
