"""graphc.losses: Keras 3 values (hand-computed) and exact gradients (central differences)."""

import math

import numpy as np
import pytest

from graphc import losses, ops
from graphc.errors import TraceError

EPS = 1e-7


def num_grad(f, x):
    """Float64 central differences of the scalar function f at x."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        orig = x[i]
        h = 1e-6 * max(abs(orig), 1e-3)
        x[i] = orig + h
        fp = f(x)
        x[i] = orig - h
        fm = f(x)
        x[i] = orig
        g[i] = (fp - fm) / (2 * h)
    return g


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---------------------------------------------------------------------------- values
Y2 = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32)
P2 = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], dtype=np.float32)


def test_cce_keras_docstring_values():
    expected = (-math.log(0.95) - math.log(0.1)) / 2  # 1.1769392
    assert losses.CategoricalCrossentropy()(Y2, P2) == pytest.approx(expected, rel=1e-6)
    # sample weights: weighted sum divided by the number of samples (2), not by sum(w)
    w = np.array([0.3, 0.7], dtype=np.float32)
    expected_w = (0.3 * -math.log(0.95) + 0.7 * -math.log(0.1)) / 2  # 0.8135988
    assert losses.CategoricalCrossentropy()(Y2, P2, sample_weight=w) == pytest.approx(
        expected_w, rel=1e-6
    )


def test_cce_normalises_y_pred_then_clips_and_leaves_y_true_alone():
    cce = losses.CategoricalCrossentropy()
    # y_pred [1, 3] is normalised to [0.25, 0.75]
    assert cce([[0.0, 1.0]], [[1.0, 3.0]]) == pytest.approx(-math.log(0.75), rel=1e-6)
    # y_true is not normalised: -(0.5 log 0.2 + 0.7 log 0.8)
    expected = -(0.5 * math.log(0.2) + 0.7 * math.log(0.8))
    assert cce([[0.5, 0.7]], [[0.2, 0.8]]) == pytest.approx(expected, rel=1e-6)
    # a zero probability is clipped to 1e-7 (in float32)
    expected = -math.log(np.float32(1e-7))
    assert cce([[1.0, 0.0]], [[0.0, 1.0]]) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(16.118095, rel=1e-6)


def test_cce_seed_case_unnormalised_random_targets():
    # The seed's case: y_true ~ U[0, 1) (rows do not sum to 1), y_pred a softmax.
    rng = np.random.default_rng(0)
    y_true = rng.random((1000, 10)).astype(np.float32)
    y_pred = softmax(rng.standard_normal((1000, 10))).astype(np.float32)
    o = np.clip(y_pred.astype(np.float64) / y_pred.sum(-1, keepdims=True), EPS, 1 - EPS)
    expected = float(np.mean(-(y_true * np.log(o)).sum(-1)))
    value = losses.CategoricalCrossentropy()(y_true, y_pred)
    assert value == pytest.approx(expected, rel=1e-5)
    assert 10.0 < value < 14.0  # sum of targets ~5 times ~ -log(0.1)
    # value_and_grad gives the same value and a float32 gradient
    v, g = losses.CategoricalCrossentropy().value_and_grad(y_true, y_pred)
    assert v == pytest.approx(value, rel=1e-7)
    assert g.dtype == np.float32 and g.shape == y_pred.shape


def test_cce_from_logits_and_label_smoothing():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = float(np.mean(-(Y2 * logp).sum(-1)))
    assert losses.CategoricalCrossentropy(from_logits=True)(Y2, logits) == pytest.approx(expected)
    smooth = Y2 * 0.8 + 0.2 / 3
    o = np.clip(P2 / P2.sum(-1, keepdims=True), EPS, 1 - EPS)
    expected = float(np.mean(-(smooth * np.log(o)).sum(-1)))
    got = losses.CategoricalCrossentropy(label_smoothing=0.2)(Y2, P2)
    assert got == pytest.approx(expected, rel=1e-6)


def test_sparse_cce_values_and_label_shapes():
    expected = (-math.log(0.95) - math.log(0.1)) / 2
    scce = losses.SparseCategoricalCrossentropy()
    assert scce(np.array([1, 2]), P2) == pytest.approx(expected, rel=1e-6)
    assert scce(np.array([[1], [2]]), P2) == pytest.approx(expected, rel=1e-6)
    assert scce(np.array([1.0, 2.0], dtype=np.float32), P2) == pytest.approx(expected, rel=1e-6)
    logits = np.log(P2.astype(np.float64) + 1e-3)
    ref = losses.CategoricalCrossentropy(from_logits=True)(Y2, logits)
    assert losses.SparseCategoricalCrossentropy(from_logits=True)([1, 2], logits) == (
        pytest.approx(ref, rel=1e-9)
    )
    with pytest.raises(ValueError, match="out of range"):
        scce(np.array([1, 3]), P2)
    # ignore_class: ignored entries drop out and the mean is over the others
    got = losses.SparseCategoricalCrossentropy(ignore_class=2)(np.array([1, 2]), P2)
    assert got == pytest.approx(-math.log(0.95), rel=1e-6)


def test_bce_values():
    yt = np.array([[0, 1], [0, 0]], dtype=np.float32)
    yp = np.array([[0.6, 0.4], [0.4, 0.6]], dtype=np.float32)
    row1 = (-math.log(0.4) - math.log(0.4)) / 2
    row2 = (-math.log(0.6) - math.log(0.4)) / 2
    bce = losses.BinaryCrossentropy()
    assert bce(yt, yp) == pytest.approx((row1 + row2) / 2, rel=1e-6)  # 0.8149
    assert bce(yt, yp, sample_weight=[1, 0]) == pytest.approx(row1 / 2, rel=1e-6)  # 0.4581
    logits = np.array([[-18.6, 0.51], [2.94, -12.8]], dtype=np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = float(np.mean(-(yt * np.log(p) + (1 - yt) * np.log(1 - p))))
    assert losses.BinaryCrossentropy(from_logits=True)(yt, logits) == pytest.approx(
        expected, rel=1e-5
    )
    assert expected == pytest.approx(0.865, abs=1e-3)  # Keras docstring
    ts = yt * 0.8 + 0.1
    expected = float(np.mean(-(ts * np.log(yp) + (1 - ts) * np.log(1 - yp))))
    got = losses.BinaryCrossentropy(label_smoothing=0.2)(yt, yp)
    assert got == pytest.approx(expected, rel=1e-6)
    # clipping at [1e-7, 1 - 1e-7]
    assert bce([[1.0]], [[0.0]]) == pytest.approx(-math.log(np.float32(1e-7)), rel=1e-6)
    # (N,) targets against (N, 1) predictions are expanded, not broadcast to (N, N)
    t1 = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    p1 = np.array([[0.9], [0.2], [0.6]], dtype=np.float32)
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3
    assert bce(t1, p1) == pytest.approx(expected, rel=1e-6)


def test_regression_values():
    yt = np.array([[0, 1], [0, 0]], dtype=np.float32)
    yp = np.array([[0.6, 0.4], [0.4, 0.6]], dtype=np.float32)
    assert losses.MeanSquaredError()([1.0, 0.0, 1.0], [0.9, 0.1, 0.8]) == pytest.approx(0.02)
    assert losses.MeanSquaredError()(yt, yp) == pytest.approx((0.36 + 0.36 + 0.16 + 0.36) / 4)
    assert losses.MeanAbsoluteError()(yt, yp) == pytest.approx((0.6 + 0.6 + 0.4 + 0.6) / 4)
    assert losses.Huber()(yt, yp) == pytest.approx(0.155, rel=1e-6)
    # delta=0.5: |0.6| -> 0.5 * 0.6 - 0.125 = 0.175; |0.4| -> 0.08
    assert losses.Huber(delta=0.5)(yt, yp) == pytest.approx((0.175 + 0.1275) / 2, rel=1e-6)
    t = np.clip(yt.astype(np.float64), EPS, 1)
    expected = float(np.mean((t * np.log(t / yp)).sum(-1)))
    assert losses.KLDivergence()(yt, yp) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.458, abs=1e-3)
    x = yp.astype(np.float64) - yt
    assert losses.LogCosh()(yt, yp) == pytest.approx(np.mean(np.log(np.cosh(x))), rel=1e-6)
    assert losses.Poisson()(yt, yp) == pytest.approx(np.mean(yp - yt * np.log(yp + EPS)), rel=1e-6)
    # hinge converts 0/1 labels to -1/1
    s = 2 * yt - 1
    assert losses.Hinge()(yt, yp) == pytest.approx(np.mean(np.maximum(1 - s * yp, 0)), rel=1e-6)
    assert losses.SquaredHinge()(yt, yp) == pytest.approx(
        np.mean(np.maximum(1 - s * yp, 0) ** 2), rel=1e-6
    )


def test_reductions():
    yt = np.array([[0.0], [1.0], [2.0]])
    yp = np.array([[1.0], [1.0], [4.0]])  # squared errors 1, 0, 4
    w = np.array([2.0, 1.0, 0.5])
    mse = losses.MeanSquaredError
    assert mse()(yt, yp, sample_weight=w) == pytest.approx((2 + 0 + 2) / 3)
    assert mse(reduction="sum")(yt, yp, sample_weight=w) == pytest.approx(4.0)
    assert mse(reduction="mean")(yt, yp) == pytest.approx(5 / 3)
    assert mse(reduction="mean_with_sample_weight")(yt, yp, sample_weight=w) == (
        pytest.approx(4.0 / 3.5)
    )
    np.testing.assert_allclose(mse(reduction=None)(yt, yp, sample_weight=w), [2, 0, 2])
    with pytest.raises(ValueError, match="reduction"):
        mse(reduction="median")
    with pytest.raises(ValueError, match="scalar loss"):
        mse(reduction="none").value_and_grad(yt, yp)
    # per-sample weights of shape (N, 1) and a scalar weight
    assert mse()(yt, yp, sample_weight=w[:, None]) == pytest.approx(4 / 3)
    assert mse()(yt, yp, sample_weight=0.5) == pytest.approx(5 / 6)


def test_functions_return_per_sample_losses():
    rng = np.random.default_rng(1)
    yt = rng.random((4, 3)).astype(np.float32)
    yp = rng.random((4, 3)).astype(np.float32)
    for fn in (
        losses.categorical_crossentropy,
        losses.binary_crossentropy,
        losses.mean_squared_error,
        losses.mse,
        losses.mean_absolute_error,
        losses.mae,
        losses.huber,
        losses.kl_divergence,
        losses.kld,
        losses.log_cosh,
        losses.poisson,
    ):
        out = fn(yt, yp)
        assert out.shape == (4,) and out.dtype == np.float32, fn.__name__
    np.testing.assert_allclose(losses.mse(yt, yp), np.mean((yt - yp) ** 2, -1), rtol=1e-6)
    assert losses.sparse_categorical_crossentropy([0, 1, 2, 0], yp).shape == (4,)
    assert losses.mse is losses.mean_squared_error and losses.kld is losses.kl_divergence


# ---------------------------------------------------------------------------- gradients
rng = np.random.default_rng(42)
N, C = 6, 4
T_SOFT = rng.random((N, C))
T_HOT = np.eye(C)[rng.integers(0, C, N)]
P_SOFT = softmax(rng.standard_normal((N, C)) * 2)
P_CLIP = P_SOFT.copy()
P_CLIP[0] = [1.0, 1e-9, 1e-9, 1e-9]  # o[0] > 1 - 1e-7 and o[1:] < 1e-7: both clips active
P_CLIP[1, 2] = 1e-12
LOGITS = rng.standard_normal((N, C)) * 3
LABELS = rng.integers(0, C, N)
B_T = rng.integers(0, 2, (N, 3)).astype(np.float64)
B_P = rng.uniform(0.05, 0.95, (N, 3))
B_P_CLIP = B_P.copy()
B_P_CLIP[0, 0], B_P_CLIP[1, 1], B_P_CLIP[2, 2] = 1e-9, 1.01, -0.01
R_T = rng.standard_normal((N, 3))
R_P = R_T + rng.uniform(0.2, 2.0, (N, 3)) * rng.choice([-1, 1], (N, 3))
W = rng.uniform(0.1, 2.0, N)

GRAD_CASES = {
    "cce": (losses.CategoricalCrossentropy(), T_SOFT, P_SOFT),
    "cce_clip": (losses.CategoricalCrossentropy(), T_SOFT, P_CLIP),
    "cce_unnormalised_pred": (losses.CategoricalCrossentropy(), T_HOT, P_SOFT * 3.7),
    "cce_smooth": (losses.CategoricalCrossentropy(label_smoothing=0.1), T_HOT, P_SOFT),
    "cce_logits": (losses.CategoricalCrossentropy(from_logits=True), T_SOFT, LOGITS),
    "cce_logits_smooth": (
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3),
        T_HOT,
        LOGITS,
    ),
    "cce_axis1": (
        losses.CategoricalCrossentropy(axis=1),
        rng.random((3, C, 2)),
        rng.random((3, C, 2)) + 0.1,
    ),
    "scce": (losses.SparseCategoricalCrossentropy(), LABELS, P_SOFT),
    "scce_clip": (losses.SparseCategoricalCrossentropy(), np.array([0, 2, 1, 0, 3, 1]), P_CLIP),
    "scce_col": (losses.SparseCategoricalCrossentropy(), LABELS[:, None], P_SOFT),
    "scce_logits": (losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS),
    "scce_ignore": (losses.SparseCategoricalCrossentropy(ignore_class=1), LABELS, P_SOFT),
    "scce_seq": (
        losses.SparseCategoricalCrossentropy(from_logits=True),
        rng.integers(0, C, (3, 5)),
        rng.standard_normal((3, 5, C)),
    ),
    "bce": (losses.BinaryCrossentropy(), B_T, B_P),
    "bce_clip": (losses.BinaryCrossentropy(), B_T, B_P_CLIP),
    "bce_smooth": (losses.BinaryCrossentropy(label_smoothing=0.2), B_T, B_P),
    "bce_logits": (losses.BinaryCrossentropy(from_logits=True), B_T, LOGITS[:, :3]),
    "bce_rank1_true": (losses.BinaryCrossentropy(), B_T[:, 0], B_P[:, :1]),
    "mse": (losses.MeanSquaredError(), R_T, R_P),
    "mse_rank1_pred": (losses.MeanSquaredError(), R_T[:, :1], R_P[:, 0]),
    "mae": (losses.MeanAbsoluteError(), R_T, R_P),
    "huber": (losses.Huber(delta=1.0), R_T, R_P),
    "huber_small_delta": (losses.Huber(delta=0.3), R_T, R_P),
    "kld": (losses.KLDivergence(), T_SOFT, P_SOFT),
    "kld_clip": (losses.KLDivergence(), T_SOFT, np.clip(P_CLIP, 0, None) * 1.5),
    "mape": (losses.MeanAbsolutePercentageError(), R_T, R_P),
    "msle": (losses.MeanSquaredLogarithmicError(), np.abs(R_T), np.abs(R_P)),
    "log_cosh": (losses.LogCosh(), R_T, R_P),
    "poisson": (losses.Poisson(), np.abs(R_T), np.abs(R_P) + 0.1),
    "hinge": (losses.Hinge(), B_T, R_P * 0.3 + 0.05),
    "squared_hinge": (losses.SquaredHinge(), B_T, R_P * 0.3 + 0.05),
    "categorical_hinge": (losses.CategoricalHinge(), T_HOT, LOGITS),
    "cosine": (losses.CosineSimilarity(), R_T, R_P),
    "sum_reduction": (losses.CategoricalCrossentropy(reduction="sum"), T_SOFT, P_SOFT),
    "mean_with_sample_weight": (
        losses.MeanSquaredError(reduction="mean_with_sample_weight"),
        R_T,
        R_P,
    ),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_value_and_grad_matches_central_differences(case, weighted):
    loss, yt, yp = GRAD_CASES[case]
    yp = np.asarray(yp, dtype=np.float64)
    sw = None
    if weighted:
        n = yp.shape[0]
        sw = W[:n] if n <= len(W) else np.linspace(0.5, 1.5, n)
    value, grad = loss.value_and_grad(yt, yp, sample_weight=sw)
    assert grad.shape == yp.shape and grad.dtype == np.float64
    assert value == pytest.approx(loss(yt, yp, sample_weight=sw), rel=1e-12)
    expected = num_grad(lambda x: loss(yt, x, sample_weight=sw), yp)
    scale = max(np.abs(expected).max(), 1e-3)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7 * scale)


def test_gradient_is_zero_where_clipped():
    _, grad = losses.CategoricalCrossentropy().value_and_grad(T_SOFT, P_CLIP)
    assert np.all(grad[0] == 0)  # every entry of row 0 is clipped (high or low)
    # y_pred[1, 2] is clipped, so d loss / d o[1, 2] = 0, yet it still moves the other
    # entries through the normalisation sum: d/dy_k = (g_k - sum_j g_j o_j) / s.
    s = P_CLIP[1].sum()
    o = P_CLIP[1] / s
    g = np.where(o >= EPS, -T_SOFT[1] / o, 0.0)
    expected = (g - (g * o).sum()) / s / N
    np.testing.assert_allclose(grad[1], expected, rtol=1e-12)
    assert g[2] == 0 and grad[1, 2] != 0
    _, grad = losses.BinaryCrossentropy().value_and_grad(B_T, B_P_CLIP)
    assert grad[0, 0] == 0 and grad[1, 1] == 0 and grad[2, 2] == 0


def test_sparse_and_dense_gradients_agree():
    dense = losses.CategoricalCrossentropy().value_and_grad(np.eye(C)[LABELS], P_CLIP)
    sparse = losses.SparseCategoricalCrossentropy().value_and_grad(LABELS, P_CLIP)
    assert sparse[0] == pytest.approx(dense[0], rel=1e-12)
    np.testing.assert_allclose(sparse[1], dense[1], rtol=1e-12, atol=1e-15)


def test_float32_in_float32_out_and_float64_precision():
    yt, yp = T_SOFT.astype(np.float32), P_SOFT.astype(np.float32)
    for loss in (losses.CategoricalCrossentropy(), losses.MeanSquaredError(), losses.Huber()):
        v32, g32 = loss.value_and_grad(yt, yp)
        v64, g64 = loss.value_and_grad(yt.astype(np.float64), yp.astype(np.float64))
        assert isinstance(v32, float) and g32.dtype == np.float32 and g64.dtype == np.float64
        assert v32 == pytest.approx(v64, rel=1e-6)
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------------------- lookup, config
@pytest.mark.parametrize(
    "name, cls",
    [
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("bce", losses.BinaryCrossentropy),
        ("mean_squared_error", losses.MeanSquaredError),
        ("mse", losses.MeanSquaredError),
        ("MSE", losses.MeanSquaredError),
        ("mean_absolute_error", losses.MeanAbsoluteError),
        ("mae", losses.MeanAbsoluteError),
        ("huber", losses.Huber),
        ("Huber", losses.Huber),
        ("kl_divergence", losses.KLDivergence),
        ("kld", losses.KLDivergence),
        ("KLDivergence", losses.KLDivergence),
        ("logcosh", losses.LogCosh),
        ("poisson", losses.Poisson),
        ("hinge", losses.Hinge),
    ],
)
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert isinstance(loss, cls)
    # a string keeps its spelling as the name (Keras compile does the same)
    if name != cls.__name__:
        assert loss.name == name


def test_get_other_identifiers():
    inst = losses.Huber(delta=2.0)
    assert losses.get(inst) is inst
    assert isinstance(losses.get(losses.MeanSquaredError), losses.MeanSquaredError)
    got = losses.get(losses.mean_absolute_error)
    assert isinstance(got, losses.MeanAbsoluteError) and got.name == "mean_absolute_error"
    assert losses.get(None) is None
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.get("no_such_loss")
    with pytest.raises(ValueError):
        losses.get(42)
    # "crossentropy" is resolved from the shapes like Keras 3's compile
    assert isinstance(
        losses.get("crossentropy", y_true_shape=(None, 1), y_pred_shape=(None, 1)),
        losses.BinaryCrossentropy,
    )
    assert isinstance(
        losses.get("ce", y_true_shape=(None,), y_pred_shape=(None, 10)),
        losses.SparseCategoricalCrossentropy,
    )
    assert isinstance(
        losses.get("crossentropy", y_true_shape=(None, 10), y_pred_shape=(None, 10)),
        losses.CategoricalCrossentropy,
    )


def test_custom_callable_is_differentiated_by_recording_it():
    def my_loss(y_true, y_pred):
        return ops.mean(ops.square(y_pred - y_true) + 0.5 * ops.abs(y_pred), axis=-1)

    def by_hand(y_true, y_pred):
        return np.mean((y_pred - y_true) ** 2 + 0.5 * np.abs(y_pred), axis=-1)

    loss = losses.get(my_loss)
    assert isinstance(loss, losses.LossFunctionWrapper) and loss.name == "my_loss"
    value, grad = loss.value_and_grad(R_T, R_P, sample_weight=W)
    d = R_P.shape[-1]
    expected = (2 * (R_P - R_T) + 0.5 * np.sign(R_P)) / d * W[:, None] / N
    assert value == pytest.approx(float(np.sum(by_hand(R_T, R_P) * W) / N), rel=1e-12)
    assert value == pytest.approx(loss(R_T, R_P, sample_weight=W), rel=1e-12)
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)
    # float32 in, float32 out, as for the built-in losses
    v32, g32 = loss.value_and_grad(R_T.astype(np.float32), R_P.astype(np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(
        g32, (2 * (R_P - R_T) + 0.5 * np.sign(R_P)) / d / N, rtol=1e-5, atol=1e-7
    )


def test_custom_loss_written_with_numpy_is_refused_with_advice():
    def np_loss(y_true, y_pred):
        return np.mean(np.square(y_pred - y_true), axis=-1)

    loss = losses.get(np_loss)
    # its value is computed on the arrays, as before
    assert loss(R_T, R_P) == pytest.approx(float(np.mean(np_loss(R_T, R_P))))
    # its gradient needs a recording, which NumPy calls on symbolic tensors cannot make
    with pytest.raises(TraceError, match="np_loss.*could not be differentiated") as info:
        loss.value_and_grad(R_T, R_P)
    message = str(info.value)
    assert isinstance(info.value, TypeError)
    assert "written with graphc.ops" in message and "call_and_grad" in message
    assert "square" in message  # what failed


def test_custom_loss_returning_a_numpy_object_is_refused():
    class Sums(losses.Loss):
        def call(self, y_true, y_pred):
            return np.array([y_pred, y_true], dtype=object)

    with pytest.raises(TraceError, match=r"Sums.call \(named 'sums'\).*returned ndarray"):
        Sums().value_and_grad(R_T, R_P)


def test_custom_loss_recording_is_reused_across_batch_sizes():
    from graphc.backends.numpy.trace import _CACHE

    class Scaled(losses.Loss):
        def call(self, y_true, y_pred):
            return ops.sum(ops.square(y_pred - y_true), axis=-1) * 3.0

    loss = Scaled(reduction="sum")
    for n in (N, 2, N):
        _, grad = loss.value_and_grad(R_T[:n], R_P[:n])
        np.testing.assert_allclose(grad, 6 * (R_P[:n] - R_T[:n]), rtol=1e-12)
    assert len(_CACHE[loss]) == 1  # one recording, with a symbolic batch dimension
    (signature,) = [sig for _, sig in _CACHE[loss]]
    assert [shape for shape, _ in signature] == [(None, 3), (None, 3)]


def test_custom_loss_that_needs_the_batch_size_is_recorded_per_size():
    from graphc.backends.numpy.trace import _CACHE

    class Flat(losses.Loss):
        def call(self, y_true, y_pred):
            n = y_pred.shape[0]  # None in a symbolic-batch recording
            return ops.sum(ops.reshape(ops.square(y_pred - y_true), (n, -1)), axis=-1)

    loss = Flat(reduction="sum")
    for n in (N, 2):
        _, grad = loss.value_and_grad(R_T[:n], R_P[:n])
        np.testing.assert_allclose(grad, 2 * (R_P[:n] - R_T[:n]), rtol=1e-12)
    # the failed symbolic-batch recording is remembered once, then one per batch size
    assert sorted(v is not None for v in _CACHE[loss].values()) == [False, True, True]


def test_custom_loss_shape_errors_come_back_as_they_are():
    from graphc.backends.numpy import KernelError
    from graphc.errors import ShapeError

    def bad_axis(y_true, y_pred):
        return ops.softmax(y_pred, axis=2)

    with pytest.raises(ShapeError, match=r"loss \(softmax\): axis 2 is out of range"):
        losses.get(bad_axis).value_and_grad(R_T, R_P)

    def bad_batch(y_true, y_pred):
        return ops.matmul(y_pred, y_true)  # (n, 3) @ (n, 3): n is symbolic when recorded

    with pytest.raises(KernelError, match=r"loss \(matmul\): the forward kernel failed"):
        losses.get(bad_batch).value_and_grad(R_T, R_P)


def test_subclass_with_call_and_grad_is_used():
    class Cubic(losses.Loss):
        calls = 0

        def call(self, y_true, y_pred):
            return np.sum((y_pred - y_true) ** 3, axis=-1)

        def call_and_grad(self, y_true, y_pred):
            Cubic.calls += 1
            return self.call(y_true, y_pred), 3 * (y_pred - y_true) ** 2

    loss = Cubic()
    assert loss.name == "cubic"
    value, grad = loss.value_and_grad(R_T, R_P)
    assert Cubic.calls == 1
    np.testing.assert_allclose(grad, 3 * (R_P - R_T) ** 2 / N)
    expected = num_grad(lambda x: loss(R_T, x), R_P)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)

    class CallOnly(losses.Loss):  # differentiated by recording `call`
        def call(self, y_true, y_pred):
            d = y_pred - y_true
            return ops.sum(ops.multiply(ops.square(d), d), axis=-1)

    _, grad2 = CallOnly().value_and_grad(R_T, R_P)
    np.testing.assert_allclose(grad2, grad, rtol=1e-12)


@pytest.mark.parametrize(
    "loss",
    [
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, axis=-1),
        losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        losses.BinaryCrossentropy(label_smoothing=0.05),
        losses.MeanSquaredError(reduction="sum"),
        losses.MeanAbsoluteError(name="l1"),
        losses.Huber(delta=0.25),
        losses.KLDivergence(),
    ],
    ids=lambda x: type(x).__name__,
)
def test_config_round_trip(loss):
    config = loss.get_config()
    assert config["name"] == loss.name and config["reduction"] == loss.reduction
    clone = type(loss).from_config(config)
    assert clone.get_config() == config
    data = losses.serialize(loss)
    assert data["class_name"] == type(loss).__name__ and data["config"] == config
    back = losses.deserialize(data)
    assert type(back) is type(loss) and back.get_config() == config


def test_config_names_match_keras():
    assert losses.CategoricalCrossentropy().get_config() == {
        "name": "categorical_crossentropy",
        "reduction": "sum_over_batch_size",
        "from_logits": False,
        "label_smoothing": 0.0,
        "axis": -1,
    }
    assert losses.SparseCategoricalCrossentropy().get_config() == {
        "name": "sparse_categorical_crossentropy",
        "reduction": "sum_over_batch_size",
        "from_logits": False,
        "ignore_class": None,
    }
    assert losses.Huber().name == "huber_loss"
    assert losses.MeanSquaredError().name == "mean_squared_error"
    assert losses.KLDivergence().name == "kl_divergence"


def test_serialize_functions_keras_format():
    data = losses.serialize(losses.mean_squared_error)
    assert data == {
        "module": "builtins",
        "class_name": "function",
        "config": "mean_squared_error",
        "registered_name": "function",
    }
    assert losses.deserialize(data) is losses.mean_squared_error
    assert isinstance(losses.get(data), losses.MeanSquaredError)


def test_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        losses.CategoricalCrossentropy()(np.zeros((3, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="same shape"):
        losses.SparseCategoricalCrossentropy()(np.zeros((3, 2)), np.ones((3, 5)))
