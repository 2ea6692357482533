"""``_make_node``'s cached templates give what ``onnx.helper.make_node`` gives, whatever
was made before: equal values of other types (``1``, ``1.0``, ``True``) and the same
attributes in another order are other keys."""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")

from graphc.backends.onnx.builder import _make_node  # noqa: E402

CASES = [
    ("Gemm", dict(alpha=1.0, beta=1.0, transA=0, transB=0)),
    ("Gemm", dict(alpha=1, beta=1.0, transA=0, transB=0)),
    ("Gemm", dict(alpha=True, beta=1.0, transA=0, transB=0)),
    ("Gemm", dict(beta=1.0, alpha=1.0, transA=0, transB=0)),
    ("Gemm", dict(alpha=1.0, beta=1.0, transA=0, transB=1)),
    ("Gemm", dict(alpha=1.0)),
    ("Gemm", {}),
    ("Cast", dict(to=1)),
    ("Cast", dict(to=1.0)),
    ("LeakyRelu", dict(alpha=0.2)),
    ("Transpose", dict(perm=(0, 2, 1))),
    ("Transpose", dict(perm=[0, 2, 1])),
    ("Concat", dict(axis=1, domain=None)),
    ("Resize", dict(mode="linear", coordinate_transformation_mode="asymmetric")),
]


@pytest.mark.parametrize("rounds", [1, 2])
def test_templates_make_what_make_node_makes(rounds):
    for _ in range(rounds):  # the second round is served from the caches
        for op, attrs in CASES:
            want = onnx.helper.make_node(op, ["a", "b"], ["y"], name="n", **attrs)
            got = _make_node(op, ("a", "b"), ["y"], "n", attrs)
            assert got.SerializeToString() == want.SerializeToString(), (op, attrs)
