"""The built-in losses' and regularizers' hand-written gradients are a fast path: each one
must equal the gradient graphc records for the same formula written with ``graphc.ops``
(the way a custom loss or regularizer is differentiated at run time).

Every built-in loss class is checked, with each scalar reduction, with and without
per-sample weights, with and without a mask on ``y_pred``; each reference below is the
loss's Keras formula, written once with ``graphc.ops`` and run through
``LossFunctionWrapper`` (so it takes the recorded path, reduction and masking included).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphc import losses, ops, regularizers
from graphc.models.regularization import activity_penalty, penalty_and_gradient

EPS = 1e-7
N, C, T = 6, 4, 3
rng = np.random.default_rng(8)


# ---- the losses written with graphc.ops (Keras's formulas) ------------------------------------
def cce(from_logits=False, label_smoothing=0.0, axis=-1):
    def f(y_true, y_pred):
        if label_smoothing:  # Keras smooths over the last axis' size, whatever `axis` is
            y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
        if from_logits:
            log_p = ops.log(ops.softmax(y_pred, axis=axis))
        else:
            o = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
            log_p = ops.log(ops.clip(o, EPS, 1 - EPS))
        return -ops.sum(y_true * log_p, axis=axis)

    return f


def bce(from_logits=False, label_smoothing=0.0):
    def f(y_true, y_pred):
        if label_smoothing:
            y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
        if from_logits:
            elem = ops.relu(y_pred) - y_pred * y_true + ops.log(1.0 + ops.exp(-ops.abs(y_pred)))
        else:
            p = ops.clip(y_pred, EPS, 1 - EPS)
            elem = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        return ops.mean(elem, axis=-1)

    return f


def mse(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true), axis=-1)


def mae(y_true, y_pred):
    return ops.mean(ops.abs(y_pred - y_true), axis=-1)


def mape(y_true, y_pred):
    return 100.0 * ops.mean(ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), EPS)), axis=-1)


def msle(y_true, y_pred):
    return ops.mean(
        ops.square(
            ops.log(ops.maximum(y_pred, EPS) + 1.0) - ops.log(ops.maximum(y_true, EPS) + 1.0)
        ),
        axis=-1,
    )


def huber(delta):
    # 0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2, without a select op:
    # with q = min(|e|, delta) it is 0.5 q^2 + delta (|e| - q).
    def f(y_true, y_pred):
        a = ops.abs(y_pred - y_true)
        q = ops.minimum(a, delta)
        return ops.mean(0.5 * ops.square(q) + delta * (a - q), axis=-1)

    return f


def log_cosh(y_true, y_pred):
    x = y_pred - y_true
    return ops.mean(x + ops.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def poisson(y_true, y_pred):
    return ops.mean(y_pred - y_true * ops.log(y_pred + EPS), axis=-1)


def hinge(labels01, squared=False):
    # Keras turns 0/1 labels into -1/1 after looking at the data; a recording cannot
    # branch on data, so the reference is told which labels it gets.
    def f(y_true, y_pred):
        t = 2.0 * y_true - 1.0 if labels01 else y_true
        m = ops.maximum(1.0 - t * y_pred, 0.0)
        return ops.mean(ops.square(m) if squared else m, axis=-1)

    return f


def categorical_hinge(y_true, y_pred):
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.maximum(neg - pos + 1.0, 0.0)


def cosine(axis=-1):
    def l2_normalize(x):
        return x * ops.minimum(
            1.0 / ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True)), 1.0 / EPS
        )

    def f(y_true, y_pred):
        return -ops.sum(l2_normalize(y_true) * l2_normalize(y_pred), axis=axis)

    return f


def kl_divergence(y_true, y_pred):
    t = ops.clip(y_true, EPS, 1.0)
    p = ops.clip(y_pred, EPS, 1.0)
    return ops.sum(t * ops.log(t / p), axis=-1)


# ---- data ------------------------------------------------------------------------------------
LABELS = rng.integers(0, C, N)
ONE_HOT = np.eye(C)[LABELS]
SOFT = rng.dirichlet(np.ones(C), N)
PROBS = rng.uniform(0.05, 1.0, (N, C))  # not normalised: the loss normalises
PROBS_CLIPPED = PROBS.copy()
PROBS_CLIPPED[0] = [0.0, 0.0, 1.0, 0.0]  # o = 0 and o = 1: both clip bounds
PROBS_CLIPPED[1, 3] = 0.0
LOGITS = rng.normal(0.0, 2.0, (N, C))
R_T = rng.normal(size=(N, C))
R_P = R_T + rng.uniform(0.2, 2.0, (N, C)) * rng.choice([-1, 1], (N, C))  # away from kinks
BINARY = (rng.random((N, C)) > 0.5).astype(np.float64)
P01 = rng.uniform(0.02, 0.98, (N, C))
P01[0, :2] = [0.0, 1.0]  # at the clip bounds
PM1 = rng.choice([-1.0, 1.0], (N, C))
POSITIVE_T = rng.uniform(0.0, 3.0, (N, C))
MSLE_P = rng.uniform(-0.5, 3.0, (N, C))  # negative entries: max(., eps) is active
HINGE_TIE = rng.normal(size=(N, C))
HINGE_TIE[2] = [0.3, 0.9, 0.9, -0.2]  # two tied maxima among the wrong classes
ONE_HOT_TIE = ONE_HOT.copy()
ONE_HOT_TIE[2] = [1.0, 0.0, 0.0, 0.0]
KL_P = rng.uniform(0.0, 1.2, (N, C))  # entries above 1: clipped
SEQ_LABELS = rng.integers(0, C, (N, T))
SEQ_PROBS = rng.uniform(0.05, 1.0, (N, T, C))
SEQ_LOGITS = rng.normal(0.0, 2.0, (N, C, T))  # classes on axis 1


def _one_hot_without(labels, ignore):
    hot = np.eye(C)[labels]
    hot[labels == ignore] = 0.0  # an ignored entry contributes no term at all
    return hot


# id -> (built-in loss class, its kwargs, reference, y_true (built-in), y_true (reference),
#        y_pred, labels to ignore or None)
CASES = {
    "cce_probs": (losses.CategoricalCrossentropy, {}, cce(), SOFT, SOFT, PROBS),
    "cce_probs_clipped": (
        losses.CategoricalCrossentropy,
        {},
        cce(),
        ONE_HOT,
        ONE_HOT,
        PROBS_CLIPPED,
    ),
    "cce_logits_smoothed": (
        losses.CategoricalCrossentropy,
        {"from_logits": True, "label_smoothing": 0.1},
        cce(True, 0.1),
        ONE_HOT,
        ONE_HOT,
        LOGITS,
    ),
    "cce_probs_smoothed": (
        losses.CategoricalCrossentropy,
        {"label_smoothing": 0.2},
        cce(False, 0.2),
        ONE_HOT,
        ONE_HOT,
        PROBS,
    ),
    "cce_logits_axis1": (
        losses.CategoricalCrossentropy,
        {"from_logits": True, "axis": 1},
        cce(True, axis=1),
        np.moveaxis(np.eye(C)[SEQ_LABELS], -1, 1),
        np.moveaxis(np.eye(C)[SEQ_LABELS], -1, 1),
        SEQ_LOGITS,
    ),
    "cce_sequence": (
        losses.CategoricalCrossentropy,
        {},
        cce(),
        np.eye(C)[SEQ_LABELS],
        np.eye(C)[SEQ_LABELS],
        SEQ_PROBS,
    ),
    "scce_probs": (losses.SparseCategoricalCrossentropy, {}, cce(), LABELS, ONE_HOT, PROBS_CLIPPED),
    "scce_logits": (
        losses.SparseCategoricalCrossentropy,
        {"from_logits": True},
        cce(True),
        LABELS[:, None],
        ONE_HOT,
        LOGITS,
    ),
    "scce_ignore_class": (
        losses.SparseCategoricalCrossentropy,
        {"ignore_class": 1},
        cce(),
        LABELS,
        _one_hot_without(LABELS, 1),
        PROBS,
        1,
    ),
    "scce_logits_ignore_class": (
        losses.SparseCategoricalCrossentropy,
        {"from_logits": True, "ignore_class": 2},
        cce(True),
        LABELS,
        _one_hot_without(LABELS, 2),
        LOGITS,
        2,
    ),
    "scce_sequence": (
        losses.SparseCategoricalCrossentropy,
        {},
        cce(),
        SEQ_LABELS,
        np.eye(C)[SEQ_LABELS],
        SEQ_PROBS,
    ),
    "bce_probs": (losses.BinaryCrossentropy, {}, bce(), BINARY, BINARY, P01),
    "bce_probs_smoothed": (
        losses.BinaryCrossentropy,
        {"label_smoothing": 0.1},
        bce(False, 0.1),
        BINARY,
        BINARY,
        P01,
    ),
    "bce_logits": (
        losses.BinaryCrossentropy,
        {"from_logits": True},
        bce(True),
        BINARY,
        BINARY,
        LOGITS,
    ),
    "bce_logits_smoothed": (
        losses.BinaryCrossentropy,
        {"from_logits": True, "label_smoothing": 0.2},
        bce(True, 0.2),
        BINARY,
        BINARY,
        LOGITS,
    ),
    "mse": (losses.MeanSquaredError, {}, mse, R_T, R_T, R_P),
    "mae": (losses.MeanAbsoluteError, {}, mae, R_T, R_T, R_P),
    "mape": (losses.MeanAbsolutePercentageError, {}, mape, R_T, R_T, R_P),
    "msle": (losses.MeanSquaredLogarithmicError, {}, msle, POSITIVE_T, POSITIVE_T, MSLE_P),
    "huber": (losses.Huber, {}, huber(1.0), R_T, R_T, R_P),
    "huber_delta": (losses.Huber, {"delta": 0.5}, huber(0.5), R_T, R_T, R_P),
    "log_cosh": (losses.LogCosh, {}, log_cosh, R_T, R_T, R_P),
    "poisson": (losses.Poisson, {}, poisson, POSITIVE_T, POSITIVE_T, P01 * 3 + 0.1),
    "kl_divergence": (losses.KLDivergence, {}, kl_divergence, SOFT, SOFT, KL_P),
    "hinge_pm1": (losses.Hinge, {}, hinge(False), PM1, PM1, LOGITS),
    "hinge_01": (losses.Hinge, {}, hinge(True), BINARY, BINARY, LOGITS),
    "squared_hinge": (losses.SquaredHinge, {}, hinge(False, squared=True), PM1, PM1, LOGITS),
    "categorical_hinge": (
        losses.CategoricalHinge,
        {},
        categorical_hinge,
        ONE_HOT_TIE,
        ONE_HOT_TIE,
        HINGE_TIE,
    ),
    "cosine_similarity": (losses.CosineSimilarity, {}, cosine(), R_T, R_T, R_P),
    "cosine_similarity_axis0": (losses.CosineSimilarity, {"axis": 0}, cosine(0), R_T, R_T, R_P),
}
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight"]


def _case(name):
    cls, kwargs, ref, yt, yt_ref, yp, *ignore = CASES[name]
    return cls, kwargs, ref, yt, yt_ref, yp, (ignore[0] if ignore else None)


def test_every_built_in_loss_class_is_checked():
    checked = {CASES[name][0] for name in CASES}
    # (the losses written with graphc.ops have no hand-written gradient to check: theirs
    # is the recorded one; tests/oracle/test_keras_losses_breadth_parity.py checks it)
    built_in = {cls for cls in losses._CLASSES.values() if not issubclass(cls, losses._OpsLoss)}
    assert built_in - checked == set(), "add a CASES entry (written with graphc.ops)"


def _pair(name, reduction):
    cls, kwargs, ref, yt, yt_ref, yp, ignore = _case(name)
    fast = cls(reduction=reduction, **kwargs)
    traced = losses.LossFunctionWrapper(ref, reduction=reduction)
    assert traced._impl is None  # the reference really takes the recorded path
    return fast, traced, yt, yt_ref, yp, ignore


def _values_shape(name):
    cls, kwargs, _, yt, _, yp, _ = _case(name)
    return cls(**kwargs)._values(yt, yp).shape


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_path_gradient_equals_the_recorded_one(name, reduction):
    fast, traced, yt, yt_ref, yp, ignore = _pair(name, reduction)
    shape = _values_shape(name)
    # one weight per sample (per class for the cosine similarity over axis 0)
    weights = [None, np.linspace(0.25, 2.0, shape[0])]
    mask = rng.random(shape) < 0.7
    mask.flat[0] = True
    for sw in weights:
        for m in (None, mask):
            # The built-in makes its ignore_class mask itself; the reference is given it.
            m_ref = m
            if ignore is not None:
                valid = np.asarray(yt) != ignore
                m_ref = valid if m is None else valid & m
            v_fast, g_fast = fast.value_and_grad(yt, yp, sample_weight=sw, mask=m)
            v_ref, g_ref = traced.value_and_grad(yt_ref, yp, sample_weight=sw, mask=m_ref)
            where = f"{name}, {reduction}, weighted={sw is not None}, masked={m is not None}"
            assert g_fast.dtype == g_ref.dtype == np.float64, where
            assert v_fast == pytest.approx(v_ref, rel=1e-10, abs=1e-12), where
            scale = max(np.abs(g_ref).max(), 1e-12)
            np.testing.assert_allclose(g_fast, g_ref, rtol=1e-9, atol=1e-12 * scale, err_msg=where)
            assert np.abs(g_ref).max() > 0, where  # a real check, not zeros against zeros


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_path_and_recorded_path_agree_in_float32(name):
    fast, traced, yt, yt_ref, yp, ignore = _pair(name, "sum_over_batch_size")
    yp32 = yp.astype(np.float32)
    m_ref = None if ignore is None else np.asarray(yt) != ignore
    v_fast, g_fast = fast.value_and_grad(yt, yp32)
    v_ref, g_ref = traced.value_and_grad(yt_ref, yp32, mask=m_ref)
    assert g_fast.dtype == g_ref.dtype == np.float32
    assert v_fast == pytest.approx(v_ref, rel=1e-5)
    scale = np.abs(g_ref).max()
    np.testing.assert_allclose(g_fast, g_ref, rtol=1e-4, atol=1e-6 * scale)


def test_a_custom_loss_is_recorded_once_not_called_per_feature():
    """Central differences would call the loss twice per feature; the recording calls it
    once, on symbolic tensors, whatever the batch."""
    calls = []

    def counted(y_true, y_pred):
        calls.append(type(y_pred).__name__)
        return mse(y_true, y_pred)

    loss = losses.get(counted)
    for n in (N, N, 3):
        loss.value_and_grad(R_T[:n], R_P[:n])
    assert calls == ["Value"]
    loss(R_T, R_P)  # the value alone runs the ops on the arrays
    assert calls == ["Value", "ndarray"]


def test_no_central_differences_are_left_in_losses():
    import inspect

    source = inspect.getsource(losses)
    assert "_numeric_grad" not in source and "_NUMERIC" not in source
    assert "central differences" not in source


# ---- regularizers ----------------------------------------------------------------------------
W = rng.normal(size=(5, 3))


def l1(factor):
    return lambda x: factor * ops.sum(ops.abs(x))


def l2(factor):
    return lambda x: factor * ops.sum(ops.square(x))


def l1_l2(a, b):
    return lambda x: a * ops.sum(ops.abs(x)) + b * ops.sum(ops.square(x))


def orthogonal(factor, mode):
    def f(x):
        v = x if mode == "rows" else ops.transpose(x)
        size = v.shape[0]
        inv = ops.minimum(1.0 / ops.sqrt(ops.sum(ops.square(v), axis=1, keepdims=True)), 1.0 / EPS)
        n = v * inv
        off_diagonal = 1.0 - np.eye(size, dtype=x.dtype)
        product = ops.matmul(n, ops.transpose(n)) * off_diagonal
        scale = factor * 0.5 / (size * (size - 1.0) / 2.0)
        return scale * ops.sum(ops.abs(product))

    return f


REGULARIZERS = {
    "L1": (regularizers.L1(0.1), l1(regularizers.L1(0.1).l1)),
    "L2": (regularizers.L2(0.2), l2(0.2)),
    "L1L2": (regularizers.L1L2(0.1, 0.2), l1_l2(0.1, 0.2)),
    "L1L2_l2_only": (regularizers.L1L2(l2=0.3), l1_l2(0.0, 0.3)),
    "orthogonal_rows": (
        regularizers.OrthogonalRegularizer(0.3),
        orthogonal(regularizers.OrthogonalRegularizer(0.3).factor, "rows"),
    ),
    "orthogonal_columns": (
        regularizers.OrthogonalRegularizer(0.3, "columns"),
        orthogonal(regularizers.OrthogonalRegularizer(0.3).factor, "columns"),
    ),
}


def test_every_built_in_regularizer_is_checked():
    checked = {type(reg) for reg, _ in REGULARIZERS.values()}
    assert set(regularizers._CLASSES.values()) - {regularizers.Regularizer} - checked == set()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_regularizer_gradient_equals_the_recorded_one(name, dtype):
    reg, ref = REGULARIZERS[name]
    w = W.T if name.startswith("orthogonal") else W  # more rows than columns, either way
    w = w.astype(dtype)
    v_fast, g_fast = penalty_and_gradient(reg, w)
    v_ref, g_ref = penalty_and_gradient(ref, w)  # a plain function: recorded
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    assert g_fast.dtype == g_ref.dtype == dtype
    assert float(v_fast) == pytest.approx(float(v_ref), rel=rtol)
    np.testing.assert_allclose(g_fast, g_ref, rtol=rtol, atol=rtol * np.abs(g_ref).max())
    assert np.abs(g_ref).max() > 0
    # as an activity regularizer on a batch of outputs (batch dimension symbolic)
    a_fast = activity_penalty(reg, w)
    a_ref = activity_penalty(ref, w)
    assert float(a_fast[0]) == pytest.approx(float(a_ref[0]), rel=rtol)
    np.testing.assert_allclose(a_fast[1], a_ref[1], rtol=rtol, atol=rtol * np.abs(a_ref[1]).max())
