"""Oracle tests: graphc's losses, metrics, optimizers and schedules against Keras 3 itself.

Skipped unless Keras is importable (the ``oracle`` extra: keras with the torch backend).
Gradients are compared through torch autograd when Keras runs on torch.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from graphc import losses, metrics, optimizers, schedules  # noqa: E402

pytestmark = [
    pytest.mark.oracle,
    # Keras's torch backend trips NumPy 2's __array__(copy=) deprecation; not ours.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

RTOL = 1e-5


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def keras_value_and_grad(loss, y_true, y_pred, sample_weight=None):
    """Keras's loss value and, on the torch backend, d loss / d y_pred by autograd."""
    if keras.backend.backend() != "torch":
        value = loss(y_true, y_pred, sample_weight=sample_weight)
        return float(to_numpy(value)), None
    import torch

    yp = torch.tensor(np.asarray(y_pred), requires_grad=True)
    sw = None if sample_weight is None else torch.tensor(np.asarray(sample_weight))
    value = loss(torch.tensor(np.asarray(y_true)), yp, sample_weight=sw)
    value.backward()
    return float(value.detach().cpu().numpy()), yp.grad.detach().cpu().numpy()


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


rng = np.random.default_rng(2024)
N, C = 64, 5
Y_SOFT = rng.random((N, C)).astype(np.float32)
Y_HOT = np.eye(C, dtype=np.float32)[rng.integers(0, C, N)]
LOGITS = (rng.standard_normal((N, C)) * 3).astype(np.float32)
P = softmax(LOGITS).astype(np.float32)
P[0] = [1.0, 1e-9, 1e-9, 1e-9, 1e-9]  # both clips active
P[1, 2] = 0.0
LABELS = rng.integers(0, C, N)
B_T = rng.integers(0, 2, (N, 3)).astype(np.float32)
B_P = rng.random((N, 3)).astype(np.float32)
B_P[0, 0], B_P[1, 1] = 0.0, 1.0
B_L = (rng.standard_normal((N, 3)) * 3).astype(np.float32)
R_T = rng.standard_normal((N, 4)).astype(np.float32)
R_P = (R_T + rng.standard_normal((N, 4)) * 1.5).astype(np.float32)
W = rng.random(N).astype(np.float32)

LOSS_CASES = [
    ("CategoricalCrossentropy", {}, Y_SOFT, P),
    ("CategoricalCrossentropy", {}, Y_HOT, P * 2.5),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, Y_HOT, P),
    ("CategoricalCrossentropy", {"from_logits": True}, Y_SOFT, LOGITS),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, Y_HOT, LOGITS),
    ("SparseCategoricalCrossentropy", {}, LABELS, P),
    ("SparseCategoricalCrossentropy", {}, LABELS[:, None], P),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, LABELS, LOGITS),
    ("SparseCategoricalCrossentropy", {"ignore_class": 2}, LABELS, P),
    ("BinaryCrossentropy", {}, B_T, B_P),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, B_T, B_P),
    ("BinaryCrossentropy", {"from_logits": True}, B_T, B_L),
    ("BinaryCrossentropy", {}, B_T[:, 0], B_P[:, :1]),
    ("MeanSquaredError", {}, R_T, R_P),
    ("MeanAbsoluteError", {}, R_T, R_P),
    ("Huber", {}, R_T, R_P),
    ("Huber", {"delta": 0.5}, R_T, R_P),
    ("KLDivergence", {}, Y_SOFT, P),
    ("LogCosh", {}, R_T, R_P),
    ("Poisson", {}, R_T * R_T, np.abs(R_P) + 0.01),
    ("Hinge", {}, B_T, B_L),
    ("SquaredHinge", {}, B_T, B_L),
    ("CategoricalHinge", {}, Y_HOT, LOGITS),
    ("CosineSimilarity", {}, R_T, R_P),
    ("MeanAbsolutePercentageError", {}, R_T, R_P),
    ("MeanSquaredLogarithmicError", {}, np.abs(R_T), R_P),
    ("MeanSquaredError", {"reduction": "sum"}, R_T, R_P),
    ("MeanSquaredError", {"reduction": "mean_with_sample_weight"}, R_T, R_P),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "cls, kwargs, y_true, y_pred",
    LOSS_CASES,
    ids=[f"{c}-{i}" for i, (c, *_) in enumerate(LOSS_CASES)],
)
def test_loss_value_and_gradient_match_keras(cls, kwargs, y_true, y_pred, weighted):
    sw = W if weighted else None
    k_value, k_grad = keras_value_and_grad(getattr(keras.losses, cls)(**kwargs), y_true, y_pred, sw)
    g_loss = getattr(losses, cls)(**kwargs)
    g_value, g_grad = g_loss.value_and_grad(y_true, y_pred, sample_weight=sw)
    assert g_value == pytest.approx(k_value, rel=RTOL, abs=1e-6)
    assert g_loss(y_true, y_pred, sample_weight=sw) == pytest.approx(k_value, rel=RTOL, abs=1e-6)
    if k_grad is not None:
        scale = float(np.abs(k_grad).max())
        np.testing.assert_allclose(g_grad, k_grad, rtol=RTOL, atol=1e-6 * max(scale, 1e-3))
    # names and configs (graphc also records Huber's `delta` and CosineSimilarity's
    # `axis`, which Keras 3's get_config drops)
    k_cfg = getattr(keras.losses, cls)(**kwargs).get_config()
    g_cfg = g_loss.get_config()
    g_cfg.pop({"Huber": "delta", "CosineSimilarity": "axis"}.get(cls, ""), None)
    assert g_cfg == k_cfg


def test_seed_case_unnormalised_targets_match_keras():
    r = np.random.default_rng(0)
    y_true = r.random((1000, 10)).astype(np.float32)
    y_pred = softmax(r.standard_normal((1000, 10))).astype(np.float32)
    k = float(to_numpy(keras.losses.CategoricalCrossentropy()(y_true, y_pred)))
    g = losses.CategoricalCrossentropy()(y_true, y_pred)
    assert g == pytest.approx(k, rel=1e-6)
    k = float(to_numpy(keras.losses.categorical_crossentropy(y_true, y_pred)).mean())
    g = float(losses.categorical_crossentropy(y_true, y_pred).mean())
    assert g == pytest.approx(k, rel=1e-6)


@pytest.mark.parametrize(
    "name",
    [
        "categorical_crossentropy",
        "binary_crossentropy",
        "mean_squared_error",
        "mean_absolute_error",
        "huber",
        "kl_divergence",
        "log_cosh",
        "poisson",
        "hinge",
    ],
)
def test_loss_functions_per_sample_match_keras(name):
    probabilistic = "crossentropy" in name or name == "kl_divergence"
    y_true, y_pred = (Y_SOFT, P) if probabilistic else (R_T, R_P)
    if name == "poisson":
        y_true, y_pred = R_T * R_T, np.abs(R_P) + 0.01
    if name == "binary_crossentropy":
        y_true, y_pred = B_T, B_P
    k = to_numpy(getattr(keras.losses, name)(y_true, y_pred))
    g = getattr(losses, name)(y_true, y_pred)
    np.testing.assert_allclose(g, k, rtol=RTOL, atol=1e-6)


# ---------------------------------------------------------------------------- metrics
Y_BIN = rng.integers(0, 2, (N, 1)).astype(np.float32)
P_BIN = rng.random((N, 1)).astype(np.float32)
P_TIE = rng.random((N, C)).astype(np.float32)
P_TIE[:8, :3] = 0.5  # ties for top-k

METRIC_CASES = [
    ("Accuracy", {}, LABELS, np.argmax(P, -1)),
    ("BinaryAccuracy", {}, Y_BIN, P_BIN),
    ("BinaryAccuracy", {"threshold": 0.7}, Y_BIN, P_BIN),
    ("CategoricalAccuracy", {}, Y_HOT, P_TIE),
    ("SparseCategoricalAccuracy", {}, LABELS, P_TIE),
    ("SparseCategoricalAccuracy", {}, LABELS[:, None], P_TIE),
    ("TopKCategoricalAccuracy", {"k": 2}, Y_HOT, P_TIE),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, LABELS, P_TIE),
    ("MeanSquaredError", {}, R_T, R_P),
    ("MeanAbsoluteError", {}, R_T, R_P),
    ("RootMeanSquaredError", {}, R_T, R_P),
    ("MeanAbsolutePercentageError", {}, R_T, R_P),
    ("MeanSquaredLogarithmicError", {}, np.abs(R_T), R_P),
    ("LogCoshError", {}, R_T, R_P),
    ("KLDivergence", {}, Y_SOFT, P),
    ("Poisson", {}, R_T * R_T, np.abs(R_P)),
    ("CategoricalCrossentropy", {}, Y_SOFT, P),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, Y_HOT, LOGITS),
    ("SparseCategoricalCrossentropy", {}, LABELS, P),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, LABELS, P),
    ("BinaryCrossentropy", {}, B_T, B_P),
    ("Hinge", {}, B_T, B_L),
    ("SquaredHinge", {}, B_T, B_L),
    ("CategoricalHinge", {}, Y_HOT, LOGITS),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "cls, kwargs, y_true, y_pred",
    METRIC_CASES,
    ids=[f"{c}-{i}" for i, (c, *_) in enumerate(METRIC_CASES)],
)
def test_metric_matches_keras_over_batches(cls, kwargs, y_true, y_pred, weighted):
    km = getattr(keras.metrics, cls)(**kwargs)
    gm = getattr(metrics, cls)(**kwargs)
    for a, b in ((0, 20), (20, 45), (45, N)):
        sw = W[a:b] if weighted else None
        km.update_state(y_true[a:b], y_pred[a:b], sample_weight=sw)
        gm.update_state(y_true[a:b], y_pred[a:b], sample_weight=sw)
    assert gm.result() == pytest.approx(float(to_numpy(km.result())), rel=RTOL, abs=1e-6)
    assert gm.name == km.name
    assert gm.get_config() == km.get_config()
    km.reset_state()
    gm.reset_state()
    km.update_state(y_true[:10], y_pred[:10])
    gm.update_state(y_true[:10], y_pred[:10])
    assert gm.result() == pytest.approx(float(to_numpy(km.result())), rel=RTOL, abs=1e-6)


def test_mean_loss_tracker_matches_keras():
    km, gm = keras.metrics.Mean(name="loss"), metrics.Mean(name="loss")
    for value, batch in ((0.51, 32), (0.73, 32), (1.1, 7)):
        km.update_state(value, sample_weight=batch)
        gm.update_state(value, sample_weight=batch)
    assert gm.result() == pytest.approx(float(to_numpy(km.result())), rel=1e-6)


@pytest.mark.parametrize(
    "y_true_shape, y_pred_shape",
    [
        ((8, 1), (8, 1)),
        ((8,), (8, 1)),
        ((8,), (8, 10)),
        ((8, 1), (8, 10)),
        ((8, 10), (8, 10)),
        ((8, 3), (8, 3)),
        ((8, 5, 1), (8, 5, 7)),
    ],
)
@pytest.mark.parametrize("spelling", ["accuracy", "acc"])
def test_accuracy_resolution_matches_keras_compile(y_true_shape, y_pred_shape, spelling):
    compile_utils = pytest.importorskip("keras.src.trainers.compile_utils")
    km = compile_utils.get_metric(spelling, np.zeros(y_true_shape), np.zeros(y_pred_shape))
    gm = metrics.get(
        spelling, loss="binary_crossentropy", y_true_shape=y_true_shape, y_pred_shape=y_pred_shape
    )
    assert type(gm).__name__ == type(km).__name__
    assert gm.name == km.name == spelling


@pytest.mark.parametrize(
    "name",
    [
        "mae",
        "mse",
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "top_k_categorical_accuracy",
        "mean_squared_error",
        "kl_divergence",
    ],
)
def test_metric_names_match_keras_compile(name):
    compile_utils = pytest.importorskip("keras.src.trainers.compile_utils")
    km = compile_utils.get_metric(name, np.zeros((4, 3)), np.zeros((4, 3)))
    gm = metrics.get(name)
    assert type(gm).__name__ == type(km).__name__ and gm.name == km.name == name


# ---------------------------------------------------------------------------- optimizers
OPT_SHAPES = [(7, 5), (5,), (3, 4, 2)]
OPT_CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.1, "clipnorm": 1.0}),
    ("SGD", {"learning_rate": 0.1, "global_clipnorm": 0.3}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.9, "centered": True}),
    ("RMSprop", {"centered": True, "clipvalue": 0.5, "rho": 0.8}),
    ("RMSprop", {"weight_decay": 0.05, "epsilon": 1e-4}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True, "global_clipnorm": 2.0}),
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.05, "clipnorm": 0.5}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "clipvalue": 0.1}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "clipnorm": 0.3}),
    ("Adam", {"learning_rate": 0.1, "gradient_accumulation_steps": 2}),
    ("SGD", {"momentum": 0.9, "use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 2}),
    ("RMSprop", {"loss_scale_factor": 4.0}),
]


def _opt_problem():
    r = np.random.default_rng(7)
    init = [r.standard_normal(s).astype(np.float32) for s in OPT_SHAPES]
    grads = [[(r.standard_normal(s) * 3).astype(np.float32) for s in OPT_SHAPES] for _ in range(5)]
    return init, grads


def _run_keras(opt, init, grads, lr_changes=None):
    variables = [keras.Variable(a.copy()) for a in init]
    for t, gs in enumerate(grads):
        if lr_changes and t in lr_changes:
            opt.learning_rate = lr_changes[t]
        opt.apply([keras.ops.convert_to_tensor(g) for g in gs], variables)
    return np.concatenate([to_numpy(v).ravel() for v in variables])


def _run_graphc(opt, init, grads, lr_changes=None):
    flat = np.concatenate([a.ravel() for a in init])
    segments, o = [], 0
    for a in init:
        segments.append(slice(o, o + a.size))
        o += a.size
    opt.build(flat, segments)
    for t, gs in enumerate(grads):
        if lr_changes and t in lr_changes:
            opt.learning_rate = lr_changes[t]
        opt.apply(np.concatenate([g.ravel() for g in gs]))
    return flat, opt


@pytest.mark.parametrize(
    "cls, kwargs", OPT_CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(OPT_CASES)]
)
def test_optimizer_five_steps_match_keras(cls, kwargs):
    init, grads = _opt_problem()
    k = _run_keras(getattr(keras.optimizers, cls)(**kwargs), init, grads)
    g, opt = _run_graphc(getattr(optimizers, cls)(**kwargs), init, grads)
    np.testing.assert_allclose(g, k, rtol=RTOL, atol=1e-6)
    k_cfg = getattr(keras.optimizers, cls)(**kwargs).get_config()
    g_cfg = opt.get_config()
    assert set(g_cfg) == set(k_cfg)
    for key, value in k_cfg.items():
        if key == "name":
            assert g_cfg[key].split("_")[0] == value.split("_")[0]  # Keras adds _1, _2...
        elif isinstance(value, float):
            assert g_cfg[key] == pytest.approx(value, rel=1e-6)
        else:
            assert g_cfg[key] == value, key


@pytest.mark.parametrize("cls", ["SGD", "RMSprop", "Adam", "AdamW"])
def test_learning_rate_assignment_matches_keras(cls):
    init, grads = _opt_problem()
    kwargs = {"momentum": 0.9} if cls == "SGD" else {}
    changes = {2: 0.0005, 4: 0.02}
    k = _run_keras(getattr(keras.optimizers, cls)(**kwargs), init, grads, changes)
    g, _ = _run_graphc(getattr(optimizers, cls)(**kwargs), init, grads, changes)
    np.testing.assert_allclose(g, k, rtol=RTOL, atol=1e-6)


SCHEDULE_CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)),
    (
        "ExponentialDecay",
        dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5, staircase=True),
    ),
    ("PiecewiseConstantDecay", dict(boundaries=[1, 3], values=[0.1, 0.05, 0.01])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=3, power=2.0)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=2, cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=1, decay_rate=0.5)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=4, alpha=0.1)),
    (
        "CosineDecay",
        dict(initial_learning_rate=0.0, decay_steps=4, warmup_target=0.1, warmup_steps=2),
    ),
    (
        "CosineDecayRestarts",
        dict(initial_learning_rate=0.1, first_decay_steps=2, t_mul=2.0, m_mul=0.5, alpha=0.05),
    ),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=2, t_mul=1.0)),
]


@pytest.mark.parametrize(
    "name, kwargs", SCHEDULE_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULE_CASES)]
)
def test_schedules_match_keras(name, kwargs):
    ks = getattr(keras.optimizers.schedules, name)(**kwargs)
    gs = getattr(schedules, name)(**kwargs)
    for step in range(0, 12):
        assert gs(step) == pytest.approx(float(to_numpy(ks(step))), rel=1e-5, abs=1e-8), step
    assert gs.get_config() == ks.get_config()
    # and inside an optimizer, read at the pre-step iteration count
    init, grads = _opt_problem()
    k = _run_keras(keras.optimizers.Adam(learning_rate=ks), init, grads)
    g, _ = _run_graphc(optimizers.Adam(learning_rate=gs), init, grads)
    np.testing.assert_allclose(g, k, rtol=RTOL, atol=1e-6)


def test_serialized_configs_read_by_keras():
    opt = optimizers.Adam(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.9), amsgrad=True)
    k_opt = keras.optimizers.deserialize(optimizers.serialize(opt))
    assert type(k_opt).__name__ == "Adam" and k_opt.amsgrad is True
    k_loss = keras.losses.deserialize(
        losses.serialize(losses.CategoricalCrossentropy(label_smoothing=0.1))
    )
    assert k_loss.get_config()["label_smoothing"] == 0.1
    k_metric = keras.metrics.deserialize(metrics.serialize(metrics.BinaryAccuracy(threshold=0.2)))
    assert k_metric.threshold == 0.2
    g_opt = optimizers.deserialize(
        keras.optimizers.serialize(keras.optimizers.RMSprop(centered=True))
    )
    assert type(g_opt) is optimizers.RMSprop and g_opt.centered is True
