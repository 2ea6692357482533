"""Shared layers on graphs with several inputs and branches, against Keras 3 itself
(issue 13, item 10): ``model.layers`` (input layers included, and so the weight order)
is Keras's order, and a ``BatchNormalization`` called several times in one model updates
its moving statistics once per call in the order Keras runs the calls (by decreasing
depth, ``keras.src.ops.function.Function._run_through_graph``), not in recording order."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

from oracle_harness import assert_same_weights, compile_both, fit_both, pair  # noqa: E402


def shared_bn_shallow_first(lib):
    # the shallow call is recorded first, Keras runs the deep one first
    a = lib.Input(shape=(4,), name="a")
    b = lib.Input(shape=(4,), name="b")
    bn = lib.layers.BatchNormalization(momentum=0.5)
    y = bn(b)
    x = bn(lib.layers.Dense(4, use_bias=False)(a))
    x = lib.layers.Dense(4, activation="tanh")(x)
    x = lib.layers.Dense(4)(x)
    return lib.Model([a, b], lib.layers.Dense(2)(lib.layers.Concatenate()([x, y])))


def shared_bn_three_calls(lib):
    a = lib.Input(shape=(6,), name="a")
    b = lib.Input(shape=(4,), name="b")
    bn = lib.layers.BatchNormalization(momentum=0.7)
    dense = lib.layers.Dense(4)
    u = bn(dense(b))
    v = lib.layers.Dense(4, activation="relu")(bn(lib.layers.Dense(4)(a)))
    w = bn(dense(lib.layers.Dense(4)(b)))
    h = lib.layers.Concatenate()([lib.layers.Dense(3)(v), u, w])
    return lib.Model([b, a], [lib.layers.Dense(2)(h), lib.layers.Dense(1)(u)])


def shared_branches(lib):
    # several inputs, a shared Dense at different depths, an unused-by-one-branch input
    a = lib.Input(shape=(5,), name="a")
    b = lib.Input(shape=(5,), name="b")
    c = lib.Input(shape=(5,), name="c")
    shared = lib.layers.Dense(5, name="shared")
    p = shared(lib.layers.Dense(5, name="pre")(c))
    q = shared(a)
    r = lib.layers.Add(name="add")([shared(b), q])
    s = lib.layers.Dense(5, name="deep1")(lib.layers.Dense(5, name="deep0")(r))
    out = lib.layers.Concatenate(name="cat")([p, s, q])
    return lib.Model([a, b, c], [lib.layers.Dense(1, name="head")(out), q])


BUILDERS = [shared_bn_shallow_first, shared_bn_three_calls, shared_branches]


@pytest.fixture(autouse=True)
def _fresh_names():
    """Automatic names count the layers made before in the process: start both at zero."""
    import graphc

    keras.utils.clear_session()
    graphc.utils.clear_session()


@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_layer_order_is_keras_order(build):
    k, g = pair(build)  # the weight shapes agree in order
    assert [layer.name for layer in g.layers] == [layer.name for layer in k.layers]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_shared_layers_train_like_keras(build):
    k, g = pair(build)
    rng = np.random.default_rng(1)
    x = [rng.normal(1.0, 2.0, size=(64, *t.shape[1:])).astype("float32") for t in k.inputs]
    y = [rng.normal(size=(64, *t.shape[1:])).astype("float32") for t in k.outputs]
    y = y if len(y) > 1 else y[0]
    compile_both(k, g, "sgd", loss="mse")
    k_hist, g_hist = fit_both(k, g, x, y, epochs=2, batch_size=16)
    np.testing.assert_allclose(g_hist["loss"], k_hist["loss"], rtol=1e-4)
    # moving statistics included: they are in get_weights
    assert_same_weights(k, g, rtol=1e-5, atol=1e-6)


def test_model_names_after_sequential_models_are_keras_names():
    """Keras's Sequential takes a "functional" name each time it builds its inner model
    (found by the model fuzzer, seed 307: a model made after a Sequential was
    ``functional`` in graphc, ``functional_1`` in Keras)."""
    import graphc

    names = []
    for lib in (keras, graphc):
        lib.utils.clear_session()
        a = lib.Sequential([lib.Input(shape=(3,)), lib.layers.Dense(2)])
        b = lib.Sequential([lib.layers.Dense(2)])
        b.add(lib.layers.Dense(2))
        b.build((None, 3))
        c = lib.Sequential()
        c.add(lib.Input(shape=(3,)))
        c.add(lib.layers.Dense(2))
        c.add(lib.layers.Dense(2))
        c.pop()
        i = lib.Input(shape=(3,))
        d = lib.Model(i, lib.layers.Dense(1)(i))
        e = lib.Model(i, d(i))
        names.append([m.name for m in (a, b, c, d, e)])
    assert names[1] == names[0]
