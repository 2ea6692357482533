"""Initializers: Keras 3 formulas checked by their statistics, names, configs, seeding."""

import math

import numpy as np
import pytest

import graphc
from graphc import initializers, layers

SHAPE = (300, 200)  # fan_in 300, fan_out 200: 60,000 samples
FAN_IN, FAN_OUT = SHAPE


def sample(name_or_init, shape=SHAPE, seed=0):
    graphc.utils.set_random_seed(seed)
    return np.asarray(initializers.get(name_or_init)(shape))


@pytest.mark.parametrize(
    "name, limit",
    [
        ("glorot_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
        ("he_uniform", math.sqrt(6 / FAN_IN)),
        ("lecun_uniform", math.sqrt(3 / FAN_IN)),
    ],
)
def test_uniform_variance_scaling(name, limit):
    w = sample(name)
    assert w.shape == SHAPE and w.dtype == np.float32
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit  # the whole range is used
    assert abs(w.std() - limit / math.sqrt(3)) < 0.02 * limit
    assert abs(w.mean()) < 0.01 * limit


@pytest.mark.parametrize(
    "name, std",
    [
        ("glorot_normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("he_normal", math.sqrt(2 / FAN_IN)),
        ("lecun_normal", math.sqrt(1 / FAN_IN)),
    ],
)
def test_truncated_variance_scaling(name, std):
    w = sample(name)
    assert abs(w.std() - std) < 0.02 * std  # the target std after truncation
    bound = 2 * std / 0.87962566103423978  # two stddevs of the raw normal
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.95 * bound
    assert abs(w.mean()) < 0.02 * std


def test_truncated_normal_bounds():
    init = initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=3)
    w = init(SHAPE)
    assert w.min() >= 1.0 - 2 * 0.5 and w.max() <= 1.0 + 2 * 0.5
    assert w.min() < 0.02 and w.max() > 1.98
    assert abs(w.mean() - 1.0) < 0.01
    # A normal truncated at +-2 sigma has std 0.8796 sigma.
    assert abs(w.std() - 0.5 * 0.8796) < 0.01


def test_random_normal_and_uniform_defaults():
    n = sample("random_normal")
    assert abs(n.std() - 0.05) < 0.001 and abs(n.mean()) < 0.001
    u = sample("random_uniform")
    assert u.min() >= -0.05 and u.max() <= 0.05 and u.max() > 0.049
    u2 = initializers.RandomUniform(minval=2, maxval=3, seed=1)((1000,))
    assert u2.min() >= 2 and u2.max() <= 3


@pytest.mark.parametrize("shape", [(50, 50), (80, 30), (30, 80), (3, 4, 20)])
def test_orthogonal(shape):
    w = sample("orthogonal", shape).reshape(-1, shape[-1])
    rows, cols = w.shape
    if rows >= cols:
        np.testing.assert_allclose(w.T @ w, np.eye(cols), atol=1e-5)
    else:
        np.testing.assert_allclose(w @ w.T, np.eye(rows), atol=1e-5)


def test_orthogonal_gain_and_rank_check():
    w = initializers.Orthogonal(gain=2.0, seed=0)((10, 10))
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(10), atol=1e-4)
    with pytest.raises(ValueError, match="rank >= 2"):
        initializers.Orthogonal()((5,))


def test_zeros_ones_constant():
    np.testing.assert_array_equal(sample("zeros", (3, 2)), np.zeros((3, 2)))
    np.testing.assert_array_equal(sample("ones", (4,)), np.ones(4))
    c = initializers.Constant(2.5)((2, 3))
    np.testing.assert_array_equal(c, np.full((2, 3), 2.5))
    assert c.dtype == np.float32
    assert initializers.get("constant")((2,)).tolist() == [0.0, 0.0]
    assert initializers.Zeros()((2,), dtype="float64").dtype == np.float64


def test_set_random_seed_makes_layers_repeatable():
    def kernel():
        d = layers.Dense(7)
        d(graphc.Input(shape=(5,)))
        return d.get_weights()[0]

    graphc.utils.set_random_seed(42)
    a, b = kernel(), kernel()
    graphc.utils.set_random_seed(42)
    c, d = kernel(), kernel()
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, d)
    assert not np.array_equal(a, b)
    graphc.utils.set_random_seed(43)
    assert not np.array_equal(kernel(), a)


def test_seeded_initializer_instances_are_repeatable():
    a = initializers.GlorotUniform(seed=5)((4, 4))
    b = initializers.GlorotUniform(seed=5)((4, 4))
    np.testing.assert_array_equal(a, b)


def test_seeded_initializer_gives_the_same_values_on_every_call_as_keras():
    init = initializers.GlorotUniform(seed=5)
    np.testing.assert_array_equal(init((4, 4)), init((4, 4)))


def test_set_random_seed_rejects_non_integers():
    with pytest.raises(TypeError, match="seed must be an integer"):
        graphc.utils.set_random_seed(1.5)


@pytest.mark.parametrize(
    "name",
    [
        "glorot_uniform",
        "glorot_normal",
        "he_uniform",
        "he_normal",
        "lecun_uniform",
        "lecun_normal",
        "orthogonal",
        "zeros",
        "ones",
        "constant",
        "random_uniform",
        "random_normal",
        "truncated_normal",
    ],
)
def test_every_api_name_resolves_and_serializes(name):
    init = initializers.get(name)
    assert isinstance(init, initializers.Initializer)
    config = initializers.serialize(init)
    again = initializers.get(config)
    assert type(again) is type(init)
    assert initializers.serialize(again) == config


def test_get_accepts_classes_instances_and_callables():
    assert isinstance(initializers.get(initializers.HeNormal), initializers.HeNormal)
    inst = initializers.Ones()
    assert initializers.get(inst) is inst

    def fn(shape, dtype="float32"):
        return np.full(shape, 3.0, dtype=dtype)

    assert initializers.get(fn) is fn
    d = layers.Dense(2, kernel_initializer=fn)
    d(graphc.Input(shape=(3,)))
    np.testing.assert_array_equal(d.get_weights()[0], np.full((3, 2), 3.0))


def test_unknown_initializer():
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'"):
        initializers.get("glorot")


def test_fans_of_convolution_kernels():
    assert initializers.compute_fans((3, 3, 8, 16)) == (72, 144)
    assert initializers.compute_fans((5, 7)) == (5, 7)
    assert initializers.compute_fans((5,)) == (5, 5)


def test_uniform_initializers_draw_what_generator_uniform_draws():
    # The fast path (random() scaled in place) must give NumPy's uniform numbers bit for
    # bit: seeded models keep their weights.
    for init, (low, high) in (
        (initializers.GlorotUniform(seed=3), (-math.sqrt(6 / 12), math.sqrt(6 / 12))),
        (initializers.RandomUniform(-0.25, 0.75, seed=4), (-0.25, 0.75)),
    ):
        shape = (5, 7) if isinstance(init, initializers.GlorotUniform) else (3, 4)
        expected = np.random.default_rng(init.seed).uniform(low, high, shape)
        np.testing.assert_array_equal(init(shape, dtype="float64"), expected)
        assert init((), dtype="float32").shape == ()
