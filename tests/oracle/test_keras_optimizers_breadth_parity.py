"""The optimizers of issue 9's second batch (Adamax, Nadam, Adadelta, Ftrl, Lion, Lamb)
against Keras 3 (torch backend): five steps on three variables give Keras's weights, and
the configs have Keras's keys; a model trains with each by name."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402

R = np.random.default_rng(0)
SHAPES = [(3, 4), (4,), (2,)]
W0 = [R.standard_normal(s).astype("float32") for s in SHAPES]
GRADS = [[R.standard_normal(s).astype("float32") for s in SHAPES] for _ in range(5)]

CASES = [
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.02, "clipnorm": 1.0}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Ftrl", {"learning_rate": 0.1}),
    (
        "Ftrl",
        {
            "learning_rate": 0.1,
            "l1_regularization_strength": 0.01,
            "l2_regularization_strength": 0.1,
            "l2_shrinkage_regularization_strength": 0.05,
            "beta": 0.1,
            "learning_rate_power": -0.3,
        },
    ),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.8}),
    ("Lamb", {}),
    ("Lamb", {"learning_rate": 0.01, "weight_decay": 0.05}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_steps_match_keras(name, kwargs):
    k_vars = [keras.Variable(w) for w in W0]
    k_opt = getattr(keras.optimizers, name)(**kwargs)
    flat = np.concatenate([w.ravel() for w in W0])
    bounds = np.cumsum([0] + [w.size for w in W0])
    g_opt = getattr(graphc.optimizers, name)(**kwargs)
    g_opt.build(flat, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])])
    for grads in GRADS:
        k_opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], k_vars))
        g_opt.apply(np.concatenate([g.ravel() for g in grads]))
    want = np.concatenate([keras.ops.convert_to_numpy(v).ravel() for v in k_vars])
    np.testing.assert_allclose(flat, want, rtol=1e-5, atol=1e-6)
    k_config, g_config = k_opt.get_config(), g_opt.get_config()
    assert set(g_config) == set(k_config)
    for key in set(k_config) - {"name", "learning_rate"}:
        assert g_config[key] == k_config[key], key
    clone = graphc.optimizers.deserialize(graphc.optimizers.serialize(g_opt))
    assert type(clone) is type(g_opt) and clone.get_config() == g_config


def test_nadam_keeps_its_momentum_product_in_its_state():
    flat = np.zeros(3, "float32")
    opt = graphc.optimizers.Nadam()
    opt.build(flat)
    opt.apply(np.ones(3, "float32"))
    state = opt.get_state()
    other = graphc.optimizers.Nadam()
    other.build(np.zeros(3, "float32"))
    other.set_state(state)
    assert other._u_product == pytest.approx(opt._u_product)


@pytest.mark.parametrize("name", ["adamax", "nadam", "adadelta", "ftrl", "lion", "lamb"])
def test_a_model_trains_with_each_by_name(name):
    model = graphc.Sequential([graphc.layers.Input((3,)), graphc.layers.Dense(1)])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer).__name__.lower() == name
    x = R.standard_normal((16, 3)).astype("float32")
    before = model.get_weights()[0].copy()
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    assert not np.array_equal(before, model.get_weights()[0])
