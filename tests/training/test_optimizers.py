"""graphc.optimizers and graphc.schedules against hand-written Keras 3 reference updates."""

import math

import numpy as np
import pytest

from graphc import optimizers, schedules

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def make_problem(dtype, seed=0, steps=3, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) * 2 for s in shapes] for _ in range(steps)]
    flat = np.concatenate([p.ravel() for p in params]).astype(dtype)
    segments, o = [], 0
    for p in params:
        segments.append(slice(o, o + p.size))
        o += p.size
    flat_grads = [np.concatenate([g.ravel() for g in gs]).astype(dtype) for gs in grads]
    # the reference sees exactly the values the optimizer sees
    params = [flat[s].astype(np.float64).reshape(p.shape) for s, p in zip(segments, params)]
    grads = [
        [fg[s].astype(np.float64).reshape(p.shape) for s, p in zip(segments, params)]
        for fg in flat_grads
    ]
    return flat, segments, flat_grads, params, grads


def reference(kind, params, grads_seq, lr=None, lr_changes=None, exclude=(), **kw):
    """Keras 3's update rules, per variable, in float64 (base_optimizer.py + *.py)."""
    defaults = {
        "SGD": dict(learning_rate=0.01, momentum=0.0, nesterov=False),
        "RMSprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
        "Adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
        "AdamW": dict(
            learning_rate=0.001,
            beta_1=0.9,
            beta_2=0.999,
            epsilon=1e-7,
            amsgrad=False,
            weight_decay=0.004,
        ),
        "Adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
    }[kind]
    o = dict(defaults)
    o.update(kw)
    base_lr = o["learning_rate"] if lr is None else lr
    p = [x.copy() for x in params]
    m, v, vh, a = ([np.zeros_like(x) for x in p] for _ in range(4))
    acc = [np.full_like(x, o.get("initial_accumulator_value", 0.0)) for x in p]
    for t, grads in enumerate(grads_seq):
        if lr_changes and t in lr_changes:
            base_lr = lr_changes[t]
        rate = base_lr(t) if callable(base_lr) else base_lr
        g = [x.copy() for x in grads]
        if o.get("clipnorm"):
            c = o["clipnorm"]
            g = [x * c / max(np.sqrt(np.sum(x * x)), c) for x in g]
        elif o.get("global_clipnorm"):
            c = o["global_clipnorm"]
            norm = np.sqrt(sum(np.sum(x * x) for x in g))
            g = [x * c * min(1 / norm, 1 / c) for x in g]
        elif o.get("clipvalue"):
            g = [np.clip(x, -o["clipvalue"], o["clipvalue"]) for x in g]
        if o.get("weight_decay") is not None:
            for i in range(len(p)):
                if i not in exclude:
                    p[i] = p[i] - p[i] * o["weight_decay"] * rate
        for i in range(len(p)):
            gi = g[i]
            if kind == "SGD":
                mu = o["momentum"]
                if mu != 0:
                    m[i] = mu * m[i] - rate * gi
                    p[i] = p[i] + (mu * m[i] - rate * gi if o["nesterov"] else m[i])
                else:
                    p[i] = p[i] - rate * gi
            elif kind == "RMSprop":
                rho = o["rho"]
                v[i] = rho * v[i] + (1 - rho) * gi * gi
                if o["centered"]:
                    a[i] = rho * a[i] + (1 - rho) * gi
                    denom = v[i] - a[i] ** 2 + o["epsilon"]
                else:
                    denom = v[i] + o["epsilon"]
                inc = rate * gi / np.sqrt(denom)
                if o["momentum"] > 0:
                    m[i] = o["momentum"] * m[i] + inc
                    p[i] = p[i] - m[i]
                else:
                    p[i] = p[i] - inc
            elif kind in ("Adam", "AdamW"):
                b1, b2 = o["beta_1"], o["beta_2"]
                step = t + 1
                alpha = rate * math.sqrt(1 - b2**step) / (1 - b1**step)
                m[i] = m[i] + (gi - m[i]) * (1 - b1)
                v[i] = v[i] + (gi * gi - v[i]) * (1 - b2)
                vv = v[i]
                if o["amsgrad"]:
                    vh[i] = np.maximum(vh[i], v[i])
                    vv = vh[i]
                p[i] = p[i] - alpha * m[i] / (np.sqrt(vv) + o["epsilon"])
            elif kind == "Adagrad":
                acc[i] = acc[i] + gi * gi
                p[i] = p[i] - rate * gi / np.sqrt(acc[i] + o["epsilon"])
    return np.concatenate([x.ravel() for x in p])


def run(cls, kwargs, flat, segments, flat_grads, lr_changes=None, names=None):
    opt = cls(**kwargs)
    opt.build(flat, segments, names=names)
    for t, g in enumerate(flat_grads):
        if lr_changes and t in lr_changes:
            opt.learning_rate = lr_changes[t]
        opt.apply(g.copy())
    return opt


CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.1, "clipnorm": 1.0}),
    ("SGD", {"learning_rate": 0.05, "global_clipnorm": 2.0}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.3, "clipvalue": 0.5}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.9}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "clipnorm": 0.7}),
    ("RMSprop", {"learning_rate": 0.01, "weight_decay": 0.05, "global_clipnorm": 1.5}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}),
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.1, "clipvalue": 0.3}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "global_clipnorm": 1.0}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.2, "amsgrad": True, "clipnorm": 0.5}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-4}),
    ("Adagrad", {"learning_rate": 0.1, "weight_decay": 0.01, "clipvalue": 1.0}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind, kwargs", CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_three_steps_match_reference(kind, kwargs, dtype):
    flat, segments, flat_grads, params, grads = make_problem(dtype)
    opt = run(getattr(optimizers, kind), kwargs, flat, segments, flat_grads)
    expected = reference(kind, params, grads, **kwargs)
    if dtype == np.float64:
        np.testing.assert_allclose(flat, expected, rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_allclose(flat, expected, rtol=2e-5, atol=1e-6)
    assert opt.iterations == 3 and flat.dtype == dtype


@pytest.mark.parametrize("kind", ["SGD", "RMSprop", "Adam", "Adagrad"])
def test_schedule_as_learning_rate(kind):
    flat, segments, flat_grads, params, grads = make_problem(np.float64)
    sched = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    kw = {"momentum": 0.9} if kind == "SGD" else {}
    cls = getattr(optimizers, kind)
    opt = run(cls, dict(learning_rate=sched, **kw), flat, segments, flat_grads)
    # the schedule is read at the iteration count before the step: 0.1, 0.05, 0.025
    expected = reference(kind, params, grads, lr=lambda t: 0.1 * 0.5**t, **kw)
    np.testing.assert_allclose(flat, expected, rtol=1e-12)
    assert opt.learning_rate == pytest.approx(0.1 * 0.5**3)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01


@pytest.mark.parametrize("kind", ["SGD", "RMSprop", "Adam", "AdamW"])
def test_learning_rate_assignment_mid_training(kind):
    # ReduceLROnPlateau-style: the new rate applies from the next step on (and to
    # weight decay for AdamW)
    flat, segments, flat_grads, params, grads = make_problem(np.float64)
    kw = {"learning_rate": 0.1, "momentum": 0.9} if kind == "SGD" else {"learning_rate": 0.01}
    opt = run(getattr(optimizers, kind), kw, flat, segments, flat_grads, lr_changes={2: 0.001})
    expected = reference(kind, params, grads, lr_changes={2: 0.001}, **kw)
    np.testing.assert_allclose(flat, expected, rtol=1e-12)
    assert opt.learning_rate == 0.001 and isinstance(opt.learning_rate, float)


def test_callable_learning_rate():
    flat, segments, flat_grads, params, grads = make_problem(np.float64)
    box = {"lr": 0.2}
    opt = optimizers.SGD(learning_rate=lambda: box["lr"])
    opt.build(flat, segments)
    opt.apply(flat_grads[0].copy())
    box["lr"] = 0.1
    opt.apply(flat_grads[1].copy())
    expected = reference("SGD", params, grads[:2], lr_changes={0: 0.2, 1: 0.1})
    np.testing.assert_allclose(flat, expected, rtol=1e-12)


def test_exclude_from_weight_decay():
    flat, segments, flat_grads, params, grads = make_problem(np.float64)
    opt = optimizers.AdamW(learning_rate=0.05, weight_decay=0.3)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.build(flat, segments, names=["dense/kernel", "dense/bias", "conv/kernel"])
    for g in flat_grads:
        opt.apply(g.copy())
    expected = reference("AdamW", params, grads, learning_rate=0.05, weight_decay=0.3, exclude={1})
    np.testing.assert_allclose(flat, expected, rtol=1e-12)
    flat2, segments, flat_grads, params, grads = make_problem(np.float64)
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[0, 2])
    opt.build(flat2, segments)
    for g in flat_grads:
        opt.apply(g.copy())
    expected = reference("SGD", params, grads, learning_rate=0.1, weight_decay=0.5, exclude={0, 2})
    np.testing.assert_allclose(flat2, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "kind, kwargs",
    [
        ("Adam", {"amsgrad": True}),
        ("RMSprop", {"centered": True, "momentum": 0.9}),
        ("SGD", {"momentum": 0.9, "nesterov": True, "clipnorm": 0.5}),
        ("AdamW", {"global_clipnorm": 1.0}),
        ("Adagrad", {"clipvalue": 0.2}),
    ],
)
def test_threaded_step_is_bitwise_identical(kind, kwargs):
    shapes = [(300, 257), (257,), (257, 300), (11,)]  # > 2**16 elements, odd boundaries
    results = []
    for threads in (1, 2, 3):
        optimizers.set_num_threads(threads)
        try:
            flat, segments, flat_grads, _, _ = make_problem(np.float32, seed=5, shapes=shapes)
            opt = getattr(optimizers, kind)(learning_rate=0.01, **kwargs)
            if kind == "AdamW":
                opt.exclude_from_weight_decay(var_list=[1])
            opt.build(flat, segments)
            assert len(opt._chunks) == threads
            for g in flat_grads:
                opt.apply(g.copy())
            results.append(flat)
        finally:
            optimizers.set_num_threads(None)
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])


def test_gradient_accumulation():
    flat, segments, flat_grads, params, grads = make_problem(np.float64, steps=4)
    opt = optimizers.Adam(learning_rate=0.01, gradient_accumulation_steps=2)
    opt.build(flat, segments)
    before = flat.copy()
    opt.apply(flat_grads[0].copy())
    np.testing.assert_array_equal(flat, before)  # accumulate only
    for g in flat_grads[1:]:
        opt.apply(g.copy())
    assert opt.iterations == 2 and opt._iterations == 4
    averaged = [[(a + b) / 2 for a, b in zip(grads[i], grads[i + 1])] for i in (0, 2)]
    np.testing.assert_allclose(
        flat, reference("Adam", params, averaged, learning_rate=0.01), rtol=1e-12
    )


def test_ema_and_finalize():
    flat, segments, flat_grads, params, grads = make_problem(np.float64)
    opt = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5)
    opt.build(flat, segments)
    avg = None
    for t, g in enumerate(flat_grads):
        opt.apply(g.copy())
        p = reference("SGD", params, grads[: t + 1], learning_rate=0.1)
        avg = p.copy() if t == 0 else 0.5 * avg + 0.5 * p  # momentum 0 on the first step
    np.testing.assert_allclose(flat, p, rtol=1e-12)
    opt.finalize_variable_values()
    np.testing.assert_allclose(flat, avg, rtol=1e-12)


def test_loss_scale_factor_unscales_gradients():
    flat, segments, flat_grads, params, grads = make_problem(np.float64)
    opt = optimizers.SGD(learning_rate=0.1, loss_scale_factor=8.0)
    assert opt.scale_loss(2.0) == 16.0
    opt.build(flat, segments)
    for g in flat_grads:
        opt.apply(g * 8.0)
    np.testing.assert_allclose(flat, reference("SGD", params, grads, learning_rate=0.1))


def test_state_round_trip_and_rebuild_keeps_state():
    flat, segments, flat_grads, params, grads = make_problem(np.float64)
    opt = run(optimizers.Adam, {"learning_rate": 0.01}, flat, segments, flat_grads[:2])
    state = opt.get_state()
    assert set(state) == {"iteration", "momentum", "velocity", "learning_rate"}
    other = flat.copy()
    opt2 = optimizers.Adam(learning_rate=0.5)
    opt2.build(other, segments)
    opt2.set_state(state)
    assert opt2.iterations == 2 and opt2.learning_rate == 0.01
    opt.apply(flat_grads[2].copy())
    opt2.apply(flat_grads[2].copy())
    np.testing.assert_array_equal(flat, other)
    np.testing.assert_allclose(flat, reference("Adam", params, grads, learning_rate=0.01))
    # building again on a same-sized buffer keeps the slots (a second fit continues)
    m = opt._slots["momentum"].copy()
    opt.build(flat, segments)
    np.testing.assert_array_equal(opt._slots["momentum"], m)
    assert opt.iterations == 3


def test_default_segment_and_scratch_gradient():
    p = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    g = np.array([3.0, 4.0, 0.0], dtype=np.float32)
    opt = optimizers.SGD(learning_rate=0.5, clipnorm=1.0)
    opt.build(p)
    opt.apply(g)  # one variable of norm 5 clipped to 1: [0.6, 0.8, 0]
    np.testing.assert_allclose(p, [1 - 0.3, 2 - 0.4, 3.0], rtol=1e-6)
    # a gradient of another dtype is converted rather than rejected
    opt.apply(np.zeros(3, dtype=np.float64))
    assert opt.iterations == 2


def test_defaults_names_and_config_match_keras():
    assert optimizers.SGD().get_config() == {
        "name": "sgd",
        "learning_rate": 0.01,
        "weight_decay": None,
        "clipnorm": None,
        "global_clipnorm": None,
        "clipvalue": None,
        "use_ema": False,
        "ema_momentum": 0.99,
        "ema_overwrite_frequency": None,
        "loss_scale_factor": None,
        "gradient_accumulation_steps": None,
        "momentum": 0.0,
        "nesterov": False,
    }
    rms = optimizers.RMSprop().get_config()
    assert rms["name"] == "rm_sprop" and rms["learning_rate"] == 0.001
    assert (rms["rho"], rms["momentum"], rms["epsilon"], rms["centered"]) == (0.9, 0.0, 1e-7, False)
    adam = optimizers.Adam().get_config()
    assert (adam["beta_1"], adam["beta_2"], adam["epsilon"], adam["amsgrad"]) == (
        0.9,
        0.999,
        1e-7,
        False,
    )
    adamw = optimizers.AdamW().get_config()
    assert adamw["name"] == "adam_w" and adamw["weight_decay"] == 0.004
    ada = optimizers.Adagrad().get_config()
    assert ada["learning_rate"] == 0.001 and ada["initial_accumulator_value"] == 0.1


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", optimizers.SGD),
        ("SGD", optimizers.SGD),
        ("rmsprop", optimizers.RMSprop),
        ("RMSprop", optimizers.RMSprop),
        ("adam", optimizers.Adam),
        ("Adam", optimizers.Adam),
        ("adamw", optimizers.AdamW),
        ("adagrad", optimizers.Adagrad),
    ],
)
def test_get_by_name(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is cls
    assert opt.get_config() == cls().get_config()


def test_get_serialize_deserialize():
    inst = optimizers.Adam(learning_rate=0.02)
    assert optimizers.get(inst) is inst
    assert type(optimizers.get(optimizers.SGD)) is optimizers.SGD
    assert optimizers.get(None) is None
    with pytest.raises(ValueError, match="Unknown optimizer"):
        optimizers.get("adamax2")
    with pytest.raises(ValueError):
        optimizers.get(3.0)
    opt = optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True, clipnorm=1.0)
    data = optimizers.serialize(opt)
    assert data["class_name"] == "RMSprop" and data["module"] == "keras.optimizers"
    back = optimizers.deserialize(data)
    assert type(back) is optimizers.RMSprop and back.get_config() == opt.get_config()
    assert optimizers.get(data).get_config() == opt.get_config()
    # a schedule inside the config survives the round trip
    sched = schedules.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=10)
    opt = optimizers.SGD(learning_rate=sched, momentum=0.9)
    cfg = opt.get_config()
    assert cfg["learning_rate"]["class_name"] == "CosineDecay"
    back = optimizers.SGD.from_config(cfg)
    assert isinstance(back._learning_rate, schedules.CosineDecay)
    assert back._learning_rate.get_config() == sched.get_config()


def test_argument_errors():
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="not recognized"):
        optimizers.Adam(beta1=0.9)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam(learning_rate="fast")
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="not built"):
        opt.apply(np.zeros(3, dtype=np.float32))
    opt.build(np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        opt.apply(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="1-D"):
        optimizers.Adam().build(np.zeros((2, 2), dtype=np.float32))
    # Keras 2 spelling still works
    assert optimizers.SGD(lr=0.5).learning_rate == 0.5


def test_optimizers_schedules_is_graphc_schedules():
    assert optimizers.schedules is schedules
    assert optimizers.schedules.ExponentialDecay is schedules.ExponentialDecay


# ---------------------------------------------------------------------------- schedules
def test_exponential_decay():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == pytest.approx(0.1)
    assert s(5) == pytest.approx(0.1 * 0.5**0.5)
    assert s(10) == pytest.approx(0.05)
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert s(9) == pytest.approx(0.1) and s(10) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)


def test_piecewise_constant_decay_boundaries_are_inclusive():
    s = schedules.PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    assert [s(0), s(100), s(101), s(110), s(111)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    with pytest.raises(ValueError, match="1 less"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])


def test_cosine_decay_with_and_without_warmup():
    s = schedules.CosineDecay(0.1, decay_steps=100, alpha=0.2)
    assert s(0) == pytest.approx(0.1)
    assert s(50) == pytest.approx(0.1 * (0.8 * 0.5 + 0.2))
    assert s(100) == pytest.approx(0.02) and s(1000) == pytest.approx(0.02)
    s = schedules.CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
    assert s(0) == 0.0 and s(5) == pytest.approx(0.05)
    assert s(10) == pytest.approx(0.1)
    assert s(60) == pytest.approx(0.05)
    assert s(110) == pytest.approx(0.0, abs=1e-12) and s(500) == pytest.approx(0.0, abs=1e-12)


def test_polynomial_inverse_time_and_restarts():
    s = schedules.PolynomialDecay(0.1, decay_steps=100, end_learning_rate=0.01, power=2.0)
    assert s(50) == pytest.approx(0.09 * 0.25 + 0.01) and s(200) == pytest.approx(0.01)
    s = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.0, cycle=True)
    assert s(15) == pytest.approx(0.1 * (1 - 15 / 20))
    s = schedules.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(20) == pytest.approx(0.05)
    s = schedules.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert s(19) == pytest.approx(0.1 / 1.5)
    s = schedules.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
    assert s(0) == pytest.approx(1.0)
    assert s(5) == pytest.approx(0.5)
    assert s(10) == pytest.approx(0.5)  # first restart, scaled by m_mul
    assert s(20) == pytest.approx(0.25)  # halfway through the second (20-step) period
    s = schedules.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=1.0)
    assert s(25) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "sched",
    [
        schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True),
        schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001]),
        schedules.PolynomialDecay(0.1, 100, power=0.5, cycle=True),
        schedules.InverseTimeDecay(0.1, 10, 0.5),
        schedules.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=5),
        schedules.CosineDecayRestarts(0.1, 10, t_mul=1.5, m_mul=0.9, alpha=0.01),
    ],
    ids=lambda s: type(s).__name__,
)
def test_schedule_config_round_trip(sched):
    cfg = sched.get_config()
    clone = type(sched).from_config(cfg)
    assert clone.get_config() == cfg
    data = schedules.serialize(sched)
    assert data["module"] == "keras.optimizers.schedules"
    back = schedules.deserialize(data)
    assert type(back) is type(sched)
    assert [back(t) for t in (0, 7, 33)] == [sched(t) for t in (0, 7, 33)]


def test_schedule_config_names_match_keras():
    assert schedules.ExponentialDecay(0.1, 10, 0.9).get_config() == {
        "initial_learning_rate": 0.1,
        "decay_steps": 10,
        "decay_rate": 0.9,
        "staircase": False,
        "name": "ExponentialDecay",
    }
    assert schedules.CosineDecay(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1,
        "decay_steps": 10,
        "alpha": 0.0,
        "name": "CosineDecay",
        "warmup_target": None,
        "warmup_steps": 0,
    }
    assert schedules.PiecewiseConstantDecay([1], [0.1, 0.2]).name == "PiecewiseConstant"


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_cache_blocked_update_equals_one_pass(monkeypatch, name):
    """An update over a buffer several cache blocks long (``optimizers.BLOCK``) gives
    bitwise what one pass over the whole buffer gives: every pass is elementwise."""
    from graphc import optimizers as opt_mod

    n = 3 * opt_mod.BLOCK + 123
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]

    def run(block):
        monkeypatch.setattr(opt_mod, "BLOCK", block)
        monkeypatch.setattr(opt_mod, "_num_threads", 1)
        p = p0.copy()
        o = opt_mod.get(name)
        o.build(p, [(0, n // 2), (n // 2, n)])
        for g in grads:
            o.apply(g.copy())
        return p

    np.testing.assert_array_equal(run(opt_mod.BLOCK), run(1 << 30))
