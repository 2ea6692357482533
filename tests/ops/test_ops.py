"""Every registered op: all four rules present, shape rule == kernel, VJP == float64 central
differences, ONNX lowering in onnxruntime == kernel (at several opsets)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from graphc.ir import TensorType
from graphc.ops import REGISTRY, RULES, ExecContext, Op, get_op

# name -> list of cases: (attrs, input shapes, (low, high) input range[, options]).
# Options (a dict, optional): "make": f(rng, dtype) -> input arrays (overrides shapes and
# range, e.g. integer indices); "no_grad": input positions without a gradient (indices);
# "batch": False when the first dimension is not a batch; "rtol"/"atol" for the VJP
# check; "onnx_rtol"/"onnx_atol" for the onnxruntime check; "onnx_raises": (error type,
# message pattern) for an op that refuses ONNX export (string inputs); "min_opset": the
# oldest opset whose ONNX op the lowering needs (older ones refuse); "onnx_reference":
# check the lowering in onnx's reference evaluator (onnxruntime lacks the op);
# "vjp_raises": an op without a gradient (its VJP raises NotDifferentiableError).
# Op families keep their cases beside this file in specs_<family>.py (a SPECS dict).
SPECS = {
    "add": [({}, [(3, 4), (4,)], (-2, 2)), ({}, [(2, 1, 3), (4, 1)], (-2, 2))],
    "subtract": [({}, [(3, 4), (3, 1)], (-2, 2))],
    "multiply": [({}, [(3, 4), (4,)], (-2, 2))],
    "divide": [({}, [(3, 4), (3, 4)], (0.5, 2))],
    "maximum": [({}, [(3, 4), (3, 4)], (-2, 2))],
    "minimum": [({}, [(3, 4), (4,)], (-2, 2))],
    "negative": [({}, [(3, 4)], (-2, 2))],
    "identity": [({}, [(3, 4)], (-2, 2))],
    "relu": [({}, [(3, 4)], (-2, 2))],
    "sigmoid": [({}, [(3, 4)], (-4, 4))],
    "tanh": [({}, [(3, 4)], (-2, 2))],
    "softmax": [({"axis": -1}, [(3, 5)], (-2, 2)), ({"axis": 1}, [(2, 3, 4)], (-2, 2))],
    "elu": [({"alpha": 1.0}, [(3, 4)], (-2, 2)), ({"alpha": 0.5}, [(3, 4)], (-2, 2))],
    "selu": [({}, [(3, 4)], (-2, 2))],
    "softplus": [({}, [(3, 4)], (-3, 3))],
    "softsign": [({}, [(3, 4)], (-2, 2))],
    "silu": [({}, [(3, 4)], (-3, 3))],
    "gelu": [
        ({"approximate": False}, [(3, 4)], (-3, 3)),
        ({"approximate": True}, [(3, 4)], (-3, 3)),
    ],
    "leaky_relu": [
        ({"negative_slope": 0.2}, [(3, 4)], (-2, 2)),
        ({"negative_slope": 0.3}, [(3, 4)], (-2, 2)),
    ],
    "hard_sigmoid": [({}, [(3, 4)], (-5, 5))],
    "exp": [({}, [(3, 4)], (-2, 2))],
    "gemm": [({}, [(3, 4), (4, 5), (5,)], (-1, 1))],
    "matmul": [
        ({}, [(3, 4), (4, 5)], (-1, 1)),
        ({}, [(2, 3, 4), (4, 5)], (-1, 1)),
        ({}, [(2, 3, 4), (2, 4, 5)], (-1, 1)),
    ],
    "reshape": [
        ({"shape": (-1, 6)}, [(4, 3, 2)], (-1, 1)),
        ({"shape": (2, -1, 3)}, [(4, 3)], (-1, 1)),
    ],
    "flatten": [({}, [(4, 3, 2)], (-1, 1)), ({}, [(4,)], (-1, 1))],
    "concatenate": [
        ({"axis": -1}, [(3, 2), (3, 4)], (-1, 1)),
        ({"axis": 1}, [(2, 1, 3), (2, 2, 3), (2, 3, 3)], (-1, 1)),
    ],
    "dropout": [({"rate": 0.5}, [(3, 4)], (-2, 2))],
}


def _family_specs():
    import importlib.util
    import pathlib

    for path in sorted(pathlib.Path(__file__).parent.glob("specs_*.py")):
        spec = importlib.util.spec_from_file_location(f"_ops_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        clash = set(module.SPECS) & set(SPECS)
        assert not clash, f"{path.name} repeats specs for {sorted(clash)}"
        SPECS.update(module.SPECS)


_family_specs()
CASES = [(name, i) for name in sorted(SPECS) for i in range(len(SPECS[name]))]


def _options(name, i) -> dict:
    case = SPECS[name][i]
    return case[3] if len(case) > 3 else {}


def _inputs(name, i, dtype, seed=0):
    attrs, shapes, (lo, hi) = SPECS[name][i][:3]
    rng = np.random.default_rng(seed)
    make = _options(name, i).get("make")
    if make is not None:
        return attrs, list(make(rng, dtype))
    xs = [rng.uniform(lo, hi, s).astype(dtype) for s in shapes]
    if name in ("relu", "leaky_relu", "maximum", "minimum", "hard_sigmoid", "elu", "selu"):
        # keep inputs away from kinks, where central differences are meaningless
        xs = [np.where(np.abs(x) < 0.05, x + 0.1, x) for x in xs]
        if name == "hard_sigmoid":
            xs = [np.where(np.abs(np.abs(x) - 3) < 0.05, x + 0.1, x) for x in xs]
    return attrs, xs


def _outputs(op, out):
    return out if isinstance(out, tuple) else (out,)


def _gradients(op, attrs, xs, ys, gys, options):
    """The VJP asked for every input but the ``no_grad`` ones (as the executor asks)."""
    needs = tuple(k not in options.get("no_grad", ()) for k in range(len(xs)))
    return op.vjp(attrs, xs, ys, gys, needs=needs, out=(None,) * len(xs))


def test_every_registered_op_has_a_spec():
    assert sorted(REGISTRY) == sorted(SPECS), "add a SPECS entry for each new op"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_op_defines_all_four_rules(name):
    op = get_op(name)
    missing = [rule for rule in RULES if getattr(type(op), rule) is getattr(Op, rule)]
    assert not missing, f"op {name} lacks {missing}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_op_has_the_one_kernel_and_vjp_signature(name):
    """The protocol (graphc/ops/registry.py): the executor calls every op the same way."""
    op = get_op(name)
    kernel = inspect.signature(type(op).kernel).parameters
    assert list(kernel)[:2] == ["self", "attrs"]
    assert kernel["ctx"].kind is inspect.Parameter.KEYWORD_ONLY
    assert kernel["ctx"].default is inspect.Parameter.empty
    vjp = inspect.signature(type(op).vjp).parameters
    assert list(vjp) == ["self", "attrs", "xs", "ys", "gys", "needs", "out"]
    assert all(p.default is inspect.Parameter.empty for p in vjp.values())


def test_an_op_without_a_rule_is_caught():
    class Half(Op):  # not registered: no name
        def infer(self, attrs, x):
            return x

    missing = [rule for rule in RULES if getattr(Half, rule) is getattr(Op, rule)]
    assert missing == ["kernel", "vjp", "lower"]


@pytest.mark.parametrize("name,i", CASES)
def test_shape_rule_matches_kernel(name, i):
    op = get_op(name)
    attrs, xs = _inputs(name, i, np.float32)
    types = op.infer(attrs, *[TensorType(x.shape, x.dtype) for x in xs])
    types = types if isinstance(types, tuple) and not isinstance(types, TensorType) else (types,)
    for ctx in (ExecContext(training=False), ExecContext(training=True)):
        outs = _outputs(op, op.run(attrs, xs, ctx))
        for t, y in zip(types, outs):
            if y is None:
                continue
            # a None in the rule is a size known only from the data (range's length)
            assert len(y.shape) == len(t.shape)
            assert all(d is None or d == s for d, s in zip(t.shape, y.shape)), (t, y.shape)
            assert str(y.dtype) == t.dtype


# A reshape to a fixed leading dimension does not carry the batch through.
BATCH_CASES = [
    (n, i)
    for n, i in CASES
    if not (n == "reshape" and SPECS[n][i][0]["shape"][0] != -1)
    and _options(n, i).get("batch", True)
]


@pytest.mark.parametrize("name,i", BATCH_CASES)
def test_shape_rule_keeps_unknown_batch(name, i):
    op = get_op(name)
    attrs, xs = _inputs(name, i, np.float32)
    batched = _options(name, i).get("batched_inputs")
    sym = [
        TensorType((None,) + x.shape[1:], x.dtype)
        if (k in batched if batched is not None else x.ndim == max(y.ndim for y in xs))
        else TensorType(x.shape, x.dtype)
        for k, x in enumerate(xs)
    ]
    types = op.infer(attrs, *sym)
    first = types[0] if isinstance(types, tuple) and not isinstance(types, TensorType) else types
    assert first.shape[0] is None


# Central differences run the kernel twice per input element: for these ops a few tenths of
# a second a case, and together half the time of `make test-fast`; `make test` runs them.
SLOW_VJP = {
    "avg_pool",
    "conv",
    "conv_transpose",
    "gru",
    "lstm",
    "max_pool",
    "random_affine",
    "simple_rnn",
}
VJP_CASES = [
    pytest.param(name, i, marks=pytest.mark.slow) if name in SLOW_VJP else (name, i)
    for name, i in CASES
]


@pytest.mark.parametrize("name,i", VJP_CASES)
def test_vjp_matches_central_differences(name, i):
    op = get_op(name)
    attrs, xs = _inputs(name, i, np.float64)
    ctx = ExecContext(training=True, rng=np.random.default_rng(1))
    ys = _outputs(op, op.run(attrs, xs, ctx))
    if _options(name, i).get("vjp_raises"):
        from graphc.errors import NotDifferentiableError

        with pytest.raises(NotDifferentiableError, match=name):
            op.gradients(attrs, xs, ys, tuple(np.ones_like(y) for y in ys))
        return
    rng = np.random.default_rng(2)
    ws = [rng.standard_normal(y.shape) if y is not None else None for y in ys]
    ws = [ws[0]] + [None] * (len(ws) - 1)  # project the first output only
    grads = _gradients(op, attrs, xs, ys, tuple(ws), _options(name, i))
    assert len(grads) == len(xs)

    def objective(values):
        # Same random mask every time, so dropout is a fixed linear map.
        c = ExecContext(training=True, rng=np.random.default_rng(1))
        out = _outputs(op, op.run(attrs, values, c))[0]
        return float((out * ws[0]).sum())

    eps = 1e-6
    options = _options(name, i)
    for k, x in enumerate(xs):
        if k in options.get("no_grad", ()):
            continue
        num = np.zeros_like(x)
        it = np.nditer(x, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            plus = [v.copy() for v in xs]
            minus = [v.copy() for v in xs]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            num[idx] = (objective(plus) - objective(minus)) / (2 * eps)
        assert grads[k] is not None
        np.testing.assert_allclose(
            grads[k],
            num,
            rtol=options.get("rtol", 1e-5),
            atol=options.get("atol", 1e-6),
            err_msg=f"{name} d/d input {k}",
        )


def _opsets():
    """Every opset graphc targets; the default one also runs in `make test-fast`."""
    from graphc.backends.onnx.builder import DEFAULT_OPSET, newest_opset

    return [
        pytest.param(opset, marks=() if opset == DEFAULT_OPSET else pytest.mark.slow)
        for opset in sorted({13, 17, DEFAULT_OPSET, newest_opset()})
    ]


@pytest.mark.parametrize("opset", _opsets())
@pytest.mark.parametrize("name,i", CASES)
def test_onnx_lowering_matches_kernel(name, i, opset):
    import onnx
    import onnxruntime as ort

    from graphc.backends.onnx.builder import one_node_model

    op = get_op(name)
    attrs, xs = _inputs(name, i, np.float32)
    if opset < _options(name, i).get("min_opset", 0):
        with pytest.raises(NotImplementedError, match="opset"):
            one_node_model(name, attrs, xs, opset=opset)
        return
    refusal = _options(name, i).get("onnx_raises")
    if refusal is not None:
        with pytest.raises(refusal[0], match=refusal[1]):
            one_node_model(name, attrs, xs, opset=opset)
        return
    model = one_node_model(name, attrs, xs, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    feeds = {f"x{k}": x for k, x in enumerate(xs)}
    if _options(name, i).get("onnx_reference"):
        from onnx.reference import ReferenceEvaluator

        got = ReferenceEvaluator(model).run(None, feeds)
    else:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        got = sess.run(None, feeds)
    want = [
        y for y in _outputs(op, op.run(attrs, xs, ExecContext(training=False))) if y is not None
    ]
    assert len(got) == len(want)
    options = _options(name, i)
    for g, w in zip(got, want):
        np.testing.assert_allclose(
            g, w, rtol=options.get("onnx_rtol", 1e-5), atol=options.get("onnx_atol", 1e-6)
        )


@pytest.mark.parametrize("name,i", CASES)
def test_vjp_reads_only_what_it_declares(name, i):
    """The executor frees what a VJP says it does not read; the VJP must cope."""
    op = get_op(name)
    attrs, xs = _inputs(name, i, np.float64)
    ctx = ExecContext(training=True, rng=np.random.default_rng(1))
    ys = _outputs(op, op.run(attrs, xs, ctx))
    if _options(name, i).get("vjp_raises"):
        return
    gys = (np.ones_like(ys[0]),) + (None,) * (len(ys) - 1)
    options = _options(name, i)
    full = _gradients(op, attrs, xs, ys, gys, options)
    xs_seen = xs if op.vjp_reads_inputs else [None] * len(xs)
    ys_seen = ys if op.vjp_reads_outputs else (None,) * len(ys)
    partial = _gradients(op, attrs, xs_seen, ys_seen, gys, options)
    for a, b in zip(full, partial):
        if a is None or b is None:
            assert a is None and b is None
        else:
            np.testing.assert_array_equal(a, b)
