"""Gradient checks (float64 central differences) for the kernels rewritten for speed
(issue 12): the blocked weight-gradient GEMM, the convolution's VJP (strides, dilation,
padding, channels_first, groups, depthwise, the weight-gradient buffer), max/average
pooling, and the LSTM's VJP both from the gates its training forward pass saved and
rebuilt from its outputs, with every combination of output gradients (sequence, final h,
final c), go_backwards, initial states and masks."""

import numpy as np
import pytest

from graphc.ops import ExecContext
from graphc.ops._gemm import _BLOCK, matmul_tn
from graphc.ops.recurrent import _SAVED
from graphc.ops.registry import get_op

TRAIN = ExecContext(training=True, rng=np.random.default_rng(0))


def _outputs(out):
    return out if isinstance(out, tuple) else (out,)


def _numeric(op, attrs, xs, ws, k, training=False, eps=1e-6):
    """d sum_j <output_j, ws_j> / d xs[k] by central differences."""
    ctx = ExecContext(training=training, rng=np.random.default_rng(0))

    def objective(values):
        outs = _outputs(op.run(attrs, values, ctx))
        return sum(float((o * w).sum()) for o, w in zip(outs, ws) if w is not None)

    num = np.zeros_like(xs[k])
    for idx in np.ndindex(*xs[k].shape):
        plus = [v.copy() for v in xs]
        minus = [v.copy() for v in xs]
        plus[k][idx] += eps
        minus[k][idx] -= eps
        num[idx] = (objective(plus) - objective(minus)) / (2 * eps)
    return num


def _check(op, attrs, xs, ws, grads, skip=()):
    for k, g in enumerate(grads):
        if k in skip:
            continue
        assert g is not None, f"no gradient for input {k}"
        np.testing.assert_allclose(
            g, _numeric(op, attrs, xs, ws, k), rtol=1e-5, atol=1e-7, err_msg=f"input {k}"
        )


# ---- the blocked GEMM ------------------------------------------------------------------
@pytest.mark.parametrize(
    "k,m,n",
    [
        (3 * _BLOCK + 17, 64, 96),  # blocked, with a short last block
        (5 * _BLOCK, 72, 64),  # blocked, whole blocks
        (2 * _BLOCK, 64, 128),  # too short to block
        (10 * _BLOCK, 9, 32),  # too small a result to block
    ],
)
def test_matmul_tn_is_a_transposed_product(k, m, n):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((k, m)), rng.standard_normal((k, n))
    np.testing.assert_allclose(matmul_tn(a, b), a.T @ b, rtol=1e-12, atol=1e-12)
    out = np.full((m, n), np.nan)
    assert matmul_tn(a, b, out=out) is out
    np.testing.assert_allclose(out, a.T @ b, rtol=1e-12, atol=1e-12)


def test_matmul_tn_float32_stays_within_rounding():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((1600, 96), dtype=np.float32)
    b = rng.standard_normal((1600, 256), dtype=np.float32)
    exact = a.astype(np.float64).T @ b.astype(np.float64)
    got = matmul_tn(a, b)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-4 * np.abs(exact).max())


# ---- convolution -----------------------------------------------------------------------
CONV_CASES = {
    "2d valid": ((2, 6, 5, 3), (3, 2, 3, 4), {}),
    "2d same strided": ((2, 7, 6, 3), (3, 3, 3, 4), {"padding": "same", "strides": (2, 3)}),
    "2d dilated": ((1, 8, 7, 2), (3, 2, 2, 3), {"dilation_rate": (2, 3)}),
    "2d same dilated strided": (
        (1, 9, 8, 2),
        (3, 3, 2, 3),
        {"padding": "same", "dilation_rate": (2, 1), "strides": (1, 2)},
    ),
    "2d channels_first": (
        (2, 3, 6, 5),
        (3, 3, 3, 2),
        {"data_format": "channels_first", "padding": "same"},
    ),
    "1d causal dilated": ((2, 9, 3), (3, 3, 4), {"padding": "causal", "dilation_rate": (2,)}),
    "1d strided valid": ((2, 10, 3), (4, 3, 2), {"strides": (3,)}),
    "2d non-overlapping": ((1, 6, 6, 2), (2, 2, 2, 3), {"strides": (2, 2)}),
    "2d groups": ((2, 5, 5, 4), (3, 3, 2, 6), {"groups": 2, "padding": "same"}),
    "2d depthwise": ((2, 5, 6, 3), (3, 3, 3, 2), {"groups": 3, "depthwise": True}),
    "3d": ((1, 4, 5, 4, 2), (2, 3, 2, 2, 3), {"padding": "same", "strides": (1, 2, 1)}),
}


def _conv_attrs(x_shape, w_shape, extra):
    n = len(w_shape) - 2
    return {
        "strides": (1,) * n,
        "padding": "valid",
        "dilation_rate": (1,) * n,
        "data_format": "channels_last",
        "groups": 1,
        **extra,
    }


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_vjp_matches_central_differences(case):
    x_shape, w_shape, extra = CONV_CASES[case]
    op = get_op("conv")
    attrs = _conv_attrs(x_shape, w_shape, extra)
    rng = np.random.default_rng(0)
    filters = w_shape[-1] * (w_shape[-2] if extra.get("depthwise") else 1)
    xs = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(filters)]
    y = op.run(attrs, xs)
    ws = [rng.standard_normal(y.shape)]
    _check(op, attrs, xs, ws, op.gradients(attrs, xs, (y,), tuple(ws)))


@pytest.mark.parametrize("case", ["2d valid", "2d same strided", "1d causal dilated"])
def test_conv_weight_gradient_written_into_the_buffer(case):
    """The executor's path: the weight gradient goes into its slot of the buffer."""
    x_shape, w_shape, extra = CONV_CASES[case]
    op = get_op("conv")
    attrs = _conv_attrs(x_shape, w_shape, extra)
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    y = op.run(attrs, xs)
    g = rng.standard_normal(y.shape)
    buf = np.full(w_shape, np.nan)
    _, gw = op.vjp(attrs, xs, (y,), (g,), needs=(False, True), out=(None, buf))
    assert gw is buf
    np.testing.assert_allclose(buf, op.gradients(attrs, xs, (y,), (g,))[1], rtol=1e-12)


def test_conv_large_weight_gradient_uses_the_blocked_product():
    """A weight gradient big enough for matmul_tn's blocks matches float64."""
    op = get_op("conv")
    attrs = _conv_attrs((4, 12, 12, 32), (3, 3, 32, 16), {})
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 12, 12, 32))
    w = rng.standard_normal((3, 3, 32, 16))
    y = op.run(attrs, [x, w])
    g = rng.standard_normal(y.shape)
    gw = op.gradients(attrs, [x, w], (y,), (g,))[1]
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    expected = np.einsum("nhwcij,nhwo->ijco", win, g)
    np.testing.assert_allclose(gw, expected, rtol=1e-10)


# ---- pooling ---------------------------------------------------------------------------
POOL_CASES = {
    "disjoint": ((2, 6, 6, 3), {"pool_size": (2, 2), "strides": (2, 2)}),
    "disjoint cropped": ((2, 7, 5, 3), {"pool_size": (2, 2), "strides": (2, 2)}),
    "overlapping": ((2, 7, 7, 2), {"pool_size": (3, 3), "strides": (2, 2)}),
    "same": ((1, 5, 7, 2), {"pool_size": (2, 3), "strides": (2, 2), "padding": "same"}),
    "channels_first": (
        (2, 3, 6, 4),
        {"pool_size": (2, 2), "strides": (2, 1), "data_format": "channels_first"},
    ),
    "1d": ((2, 9, 3), {"pool_size": (3,), "strides": (2,)}),
}


@pytest.mark.parametrize("name", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool_vjp_matches_central_differences(name, case):
    shape, extra = POOL_CASES[case]
    op = get_op(name)
    attrs = {"padding": "valid", "data_format": "channels_last", **extra}
    rng = np.random.default_rng(0)
    xs = [rng.permutation(np.prod(shape)).reshape(shape) / 7.0]  # distinct: no ties
    y = op.run(attrs, xs)
    ws = [rng.standard_normal(y.shape)]
    _check(op, attrs, xs, ws, op.gradients(attrs, xs, (y,), tuple(ws)))


def test_max_pool_ties_go_to_the_first_maximum():
    op = get_op("max_pool")
    attrs = {"pool_size": (2, 2), "strides": (2, 2), "padding": "valid"}
    x = np.zeros((1, 4, 4, 1))
    x[0, 2:, 2:, 0] = [[1.0, 2.0], [2.0, 2.0]]
    y = op.run(attrs, [x])
    (gx,) = op.gradients(attrs, [x], (y,), (np.ones_like(y),))
    expected = np.zeros((4, 4))
    expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[2, 3] = 1
    np.testing.assert_array_equal(gx[0, :, :, 0], expected)


# ---- LSTM ------------------------------------------------------------------------------
N, T, F, U = 2, 5, 3, 2


def _lstm_inputs(rng, bias=True, states=False, mask=None):
    xs = [
        rng.standard_normal((N, T, F)),
        rng.standard_normal((F, 4 * U)) * 0.5,
        rng.standard_normal((U, 4 * U)) * 0.5,
    ]
    if bias:
        xs.append(rng.standard_normal(4 * U) * 0.5)
    if states:
        xs += [rng.standard_normal((N, U)), rng.standard_normal((N, U))]
    if mask is not None:
        xs.append(np.array(mask, dtype=bool))
    return xs


LSTM_CASES = {
    "plain": {},
    "go_backwards": {"go_backwards": True},
    "no bias, initial states": {"use_bias": False, "initial_state": True},
    "initial states, backwards": {"initial_state": True, "go_backwards": True},
    "softsign, hard_sigmoid": {"activation": "softsign", "recurrent_activation": "hard_sigmoid"},
    "masked": {"masked": True},
    "masked backwards, zero outputs": {
        "masked": True,
        "go_backwards": True,
        "zero_output_for_mask": True,
    },
}
# which outputs get a gradient: (sequence, final h, final c)
PROJECTIONS = {
    "sequence only": (True, False, False),
    "final h only": (False, True, False),
    "final c only": (False, False, True),
    "all": (True, True, True),
}


@pytest.mark.parametrize("proj", sorted(PROJECTIONS))
@pytest.mark.parametrize("case", sorted(LSTM_CASES))
def test_lstm_vjp_matches_central_differences(case, proj):
    op = get_op("lstm")
    attrs = {"units": U, "use_bias": True, "initial_state": False, **LSTM_CASES[case]}
    rng = np.random.default_rng(3)
    mask = [[1, 1, 0, 1, 1], [0, 1, 1, 1, 0]] if attrs.get("masked") else None
    xs = _lstm_inputs(rng, attrs["use_bias"], attrs["initial_state"], mask)
    ys = op.run(attrs, xs, TRAIN)  # training: the forward pass keeps its gates
    ws = tuple(rng.standard_normal(y.shape) if on else None for y, on in zip(ys, PROJECTIONS[proj]))
    # As the executor does: zeros for an output nothing reads.
    gys = tuple(np.zeros_like(y) if w is None else w for y, w in zip(ys, ws))
    grads = op.gradients(attrs, xs, ys, gys)
    skip = (len(xs) - 1,) if mask is not None else ()
    _check(op, attrs, xs, ws, grads, skip=skip)
    # The gradients rebuilt without the saved gates (a copy of the outputs is not the
    # array the forward pass kept them for) agree to rounding.
    copies = tuple(y.copy() for y in ys)
    assert _SAVED.get(copies[0]) is None
    rebuilt = op.gradients(attrs, xs, copies, gys)
    for a, b in zip(grads, rebuilt):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_lstm_saves_gates_only_in_training():
    op = get_op("lstm")
    attrs = {"units": U, "use_bias": True, "initial_state": False}
    xs = _lstm_inputs(np.random.default_rng(4))
    assert _SAVED.get(op.run(attrs, xs)[0]) is None
    seq = op.run(attrs, xs, TRAIN)[0]
    assert _SAVED.get(seq) is not None
    key = id(seq)
    del seq  # the saved gates go with the output they belong to
    assert key not in _SAVED._by_id


def test_lstm_float32_forward_matches_the_plain_formulas():
    """The in-place forward pass (gate-blocked products, exp-form sigmoid) computes what
    the plain formulas compute, to float32 rounding."""
    op = get_op("lstm")
    attrs = {"units": 8, "use_bias": True, "initial_state": False}
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 4), dtype=np.float32)
    w = rng.standard_normal((4, 32), dtype=np.float32) * 0.5
    r = rng.standard_normal((8, 32), dtype=np.float32) * 0.5
    b = rng.standard_normal(32, dtype=np.float32) * 0.5
    seq, h, c = op.run(attrs, [x, w, r, b])

    def sig(z):
        return 0.5 * (1 + np.tanh(0.5 * z))

    hh, cc = np.zeros((3, 8), np.float32), np.zeros((3, 8), np.float32)
    xw = (x.transpose(1, 0, 2).reshape(-1, 4) @ w).reshape(7, 3, 32) + b
    for t in range(7):
        z = xw[t] + hh @ r
        cc = sig(z[:, 8:16]) * cc + sig(z[:, :8]) * np.tanh(z[:, 16:24])
        hh = sig(z[:, 24:]) * np.tanh(cc)
        np.testing.assert_allclose(seq[:, t], hh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, hh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, cc, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("units,batch", [(1, 1), (1, 3), (2, 3)])
def test_lstm_fast_forward_equals_the_general_one(units, batch):
    """The plain LSTM forward (gates activated in place in one buffer) against the general
    one, at one unit too: a gate block is then a one-column view, on which NumPy 2.4's
    float32 ``negative`` in place reads the wrong elements (found by the model fuzzer)."""
    from graphc.ops.recurrent import LSTM

    op = LSTM.__new__(LSTM)
    rng = np.random.default_rng(0)
    xt = rng.standard_normal((4, batch, 3)).astype("float32")
    w = rng.standard_normal((3, 4 * units)).astype("float32")
    r = rng.standard_normal((units, 4 * units)).astype("float32")
    b = rng.standard_normal(4 * units).astype("float32")

    def states():
        return [rng.standard_normal((batch, units)).astype("float32") for _ in range(2)]

    s = states()
    fast = op._forward({"units": units}, xt, w, r, b, [x.copy() for x in s])[0]
    general = op._forward_general({"units": units}, xt, w, r, b, s, None, (None, None))[0]
    np.testing.assert_allclose(fast, general, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("units", [1, 3])
@pytest.mark.parametrize("acts", [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_lstm_float32_fast_path_matches_float64(units, acts):
    """The float32 fast path (gate-major buffers, the sigmoid's sign folded into the
    weights, one GEMM per step over [x_t, h, 1]) against the float64 op, forward and
    VJP over its saved gates, with units=1 (one-column gate blocks: NumPy 2.4's float32
    in-place negative misreads such views) and a longer sequence than the GEMM row block
    (the kernel gradients' blocked product)."""
    op = get_op("lstm")
    act, rec_act = acts
    attrs = {"units": units, "use_bias": True, "initial_state": True}
    attrs.update(activation=act, recurrent_activation=rec_act)
    rng = np.random.default_rng(6)
    n, t, f = 3, 50, 4
    xs64 = [
        rng.standard_normal((n, t, f)),
        rng.standard_normal((f, 4 * units)) * 0.4,
        rng.standard_normal((units, 4 * units)) * 0.4,
        rng.standard_normal(4 * units) * 0.4,
        rng.standard_normal((n, units)),
        rng.standard_normal((n, units)),
    ]
    xs32 = [a.astype(np.float32) for a in xs64]
    ys32 = op.run(attrs, xs32, TRAIN)
    ys64 = op.run(attrs, xs64, TRAIN)
    assert _SAVED.get(ys32[0]) is not None
    for a, b in zip(ys32, ys64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    gys = [rng.standard_normal(y.shape) for y in ys64]
    g32 = op.gradients(attrs, xs32, ys32, [g.astype(np.float32) for g in gys])
    g64 = op.gradients(attrs, xs64, ys64, gys)
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * np.abs(b).max())


@pytest.mark.parametrize("n,t", [(16, 70), (64, 9), (5, 3)])
def test_lstm_chunked_weight_gradients(monkeypatch, n, t):
    """The saved-gates VJP takes its weight gradients chunk by chunk of steps, on the
    worker thread beside the loop when it can: the same numbers with the worker or
    without (a fixed order of the chunk sums), and, to float32 rounding, those of the
    VJP that rebuilds the gates (one product over all steps)."""
    from graphc.ops import _blas
    from graphc.ops.recurrent import _wgrad_chunks

    op = get_op("lstm")
    attrs = {"units": 8, "use_bias": True, "initial_state": False}
    rng = np.random.default_rng(7)
    xs = [
        rng.standard_normal((n, t, 5), dtype=np.float32),
        rng.standard_normal((5, 32), dtype=np.float32) * 0.4,
        rng.standard_normal((8, 32), dtype=np.float32) * 0.4,
        rng.standard_normal(32, dtype=np.float32) * 0.4,
    ]
    ys = op.run(attrs, xs, TRAIN)
    gys = [rng.standard_normal(y.shape).astype(np.float32) for y in ys]
    assert _SAVED.get(ys[0]) is not None
    monkeypatch.setattr(_blas, "OVERLAP", True)  # the worker even on a loaded machine
    with_worker = op.gradients(attrs, xs, ys, gys)
    monkeypatch.setattr(_blas, "OVERLAP", False)
    inline = op.gradients(attrs, xs, ys, gys)
    for a, b in zip(with_worker, inline):
        np.testing.assert_array_equal(a, b)
    rebuilt = op.gradients(attrs, xs, tuple(y.copy() for y in ys), gys)
    for a, b in zip(with_worker, rebuilt):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())
    chunks = _wgrad_chunks(t, n)
    assert chunks[0][0] == 0 and chunks[-1][1] == t
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
