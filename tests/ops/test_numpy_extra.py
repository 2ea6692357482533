"""The keras.ops functions of issue 9's second batch that need no Keras to check: Python
operators and slicing on symbolic tensors, the array-only functions' errors, and the
gradients that flow through the compositions."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import ops
from graphc.errors import ArgumentValueError

X = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")


def _model(fn):
    inp = graphc.layers.Input(shape=(4,))
    return graphc.Model(inp, fn(inp))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x[:, 1::2],
        lambda x: x[..., None][:, 0],
        lambda x: x[:, -1],
        lambda x: ops.cast((x > 0) & (x <= 1), "float32"),
        lambda x: ops.cast(~(x < 0) | (x >= 2), "float32"),
        lambda x: abs(x) ** 2 % 1.5 + (x // 0.5),
    ],
    ids=["slice-step", "newaxis", "negative-index", "and", "invert-or", "pow-mod-floordiv"],
)
def test_operators_and_slicing_record_on_symbolic_tensors(fn):
    np.testing.assert_allclose(_model(fn).predict(X, verbose=0), fn(X), rtol=1e-6)


def test_a_symbolic_tensor_is_not_iterable():
    with pytest.raises(TypeError, match="not iterable"):
        list(graphc.layers.Input(shape=(4,)))


@pytest.mark.parametrize(
    "call",
    [
        lambda x: ops.bincount(ops.cast(x, "int32")),
        lambda x: ops.nonzero(x),
        lambda x: ops.histogram(x),
        lambda x: ops.view(x, "int32"),
        lambda x: ops.eig(x),
        lambda x: ops.polar(x, x),
    ],
    ids=["bincount", "nonzero", "histogram", "view", "eig", "polar"],
)
def test_array_only_functions_refuse_symbolic_tensors_clearly(call):
    with pytest.raises(ArgumentValueError, match="arrays"):
        call(graphc.layers.Input(shape=(4,)))


def test_quantile_checks_its_arguments():
    with pytest.raises(ArgumentValueError, match=r"q must be in \[0, 1\]"):
        ops.quantile(X, 1.5)
    with pytest.raises(ArgumentValueError, match="method must be one of"):
        ops.quantile(X, 0.5, method="cubic")


def test_export_of_an_op_without_onnx_says_so(tmp_path):
    from graphc.backends.onnx.export import ExportError

    model = _model(lambda x: ops.erfinv(ops.tanh(x)))
    with pytest.raises(ExportError, match="'erfinv' has no ONNX lowering: ONNX has no"):
        model.export(str(tmp_path / "m.onnx"))


def test_gradients_flow_through_the_compositions():
    """A model whose loss goes through quantile, nanmean, sparsemax and the DFT trains."""
    inp = graphc.layers.Input(shape=(8,))
    h = graphc.layers.Dense(8)(inp)
    re, im = ops.rfft(h)
    feats = ops.stack(
        [ops.median(h, axis=-1), ops.nanmean(h, axis=-1), ops.sum(re * im, axis=-1)], axis=-1
    )
    out = graphc.layers.Dense(1)(ops.concatenate([feats, ops.sparsemax(h)], axis=-1))
    model = graphc.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((32, 8)).astype("float32"), rng.standard_normal((32, 1))
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y.astype("float32"), epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
