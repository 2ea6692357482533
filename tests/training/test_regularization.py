"""Training with regularizers and constraints, as Keras 3: the loss is the data loss plus
the penalties (fit, evaluate, train_on_batch; per-output losses without them), the
gradients are the full loss's (float64 finite differences), activity penalties reach
the weights through the graph, constraints hold after every step, and save/load keeps
them all."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import constraints, layers, losses, ops, regularizers
from graphc.ops import ExecContext

EPS = 1e-6


def _model(seed=0):
    graphc.utils.set_random_seed(seed)
    x = graphc.Input((4,))
    h = layers.Dense(
        5,
        activation="tanh",
        name="hidden",
        kernel_regularizer=regularizers.L1L2(l1=0.01, l2=0.02),
        bias_regularizer=regularizers.L2(0.05),
        activity_regularizer=regularizers.L2(0.03),
    )(x)
    y = layers.Dense(2, name="out", kernel_regularizer="l1")(h)
    return graphc.Model(x, y)


def _data(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32))


def _full_loss(model, x, y, leaf):
    """The Keras total in float64, with the penalties written out by hand."""
    ex = model._executor()
    watched = []
    outs = ex.forward(
        [x.astype(np.float64)], ExecContext(training=False), leaf_values=leaf, watched=watched
    )
    data = float(losses.get("mse")(y.astype(np.float64), outs[0]))
    hidden, out = model.get_layer("hidden"), model.get_layer("out")
    k, b, k2 = leaf[hidden.kernel], leaf[hidden.bias], leaf[out.kernel]
    weights = (
        0.01 * np.abs(k).sum()
        + 0.02 * (k**2).sum()
        + 0.05 * (b**2).sum()
        + np.float32(0.01) * np.abs(k2).sum()
    )
    (activity,) = watched
    return data + weights + 0.03 * (activity**2).sum() / len(x)


def test_loss_and_gradients_include_the_penalties():
    model = _model()
    lr = 0.1
    model.compile(graphc.optimizers.SGD(learning_rate=lr), "mse")
    x, y = _data()
    base = {p: p.data.astype(np.float64) for p in model.weights}
    before = {p: p.numpy() for p in model.trainable_weights}
    expected_loss = _full_loss(model, x, y, base)
    reported = model.train_on_batch(x, y)
    np.testing.assert_allclose(reported, expected_loss, rtol=1e-5)
    data_only = float(losses.get("mse")(y, model.predict(x, verbose=0)))  # sanity: > 0 gap
    assert expected_loss - data_only > 0.05
    for p in model.trainable_weights:
        num = np.zeros(p.shape)
        leaf = dict(base)
        arr = leaf[p] = base[p].copy()
        for i in np.ndindex(*p.shape):
            old = arr[i]
            arr[i] = old + EPS
            up = _full_loss(model, x, y, leaf)
            arr[i] = old - EPS
            down = _full_loss(model, x, y, leaf)
            arr[i] = old
            num[i] = (up - down) / (2 * EPS)
        np.testing.assert_allclose(
            p.numpy() - before[p], -lr * num, rtol=2e-3, atol=2e-6, err_msg=p.path
        )


def test_activity_gradient_flows_back_through_the_graph():
    # Only an activity penalty on the first layer, and a zero data loss: the first layer's
    # weights still move (the penalty's gradient enters at its output value).
    graphc.utils.set_random_seed(3)
    x = graphc.Input((3,))
    h = layers.Dense(4, activity_regularizer=regularizers.L1(0.5))(x)
    model = graphc.Model(x, layers.Dense(1, kernel_initializer="zeros")(h))
    model.compile(graphc.optimizers.SGD(learning_rate=0.1), "mse")
    xs = np.ones((2, 3), np.float32)
    kernel = model.layers[1].kernel
    before = kernel.numpy()
    out = xs @ before + model.layers[1].bias.numpy()
    loss = model.train_on_batch(xs, np.zeros((2, 1), np.float32))
    np.testing.assert_allclose(loss, 0.5 * np.abs(out).sum() / 2, rtol=1e-6)
    grad = xs.T @ (0.5 * np.sign(out) / 2)
    np.testing.assert_allclose(kernel.numpy(), before - 0.1 * grad, rtol=1e-5)


def test_evaluate_and_per_output_losses():
    graphc.utils.set_random_seed(4)
    x = graphc.Input((4,))
    a = layers.Dense(2, name="a", kernel_regularizer=regularizers.L2(0.1))(x)
    b = layers.Dense(1, name="b")(x)
    model = graphc.Model(x, [a, b])
    model.compile("sgd", ["mse", "mse"], loss_weights=[1.0, 2.0])
    xs, ya = _data(8)
    yb = ya[:, :1]
    penalty = 0.1 * float((model.get_layer("a").kernel.numpy().astype(np.float64) ** 2).sum())
    pa, pb = model.predict(xs, verbose=0)
    la, lb = float(losses.get("mse")(ya, pa)), float(losses.get("mse")(yb, pb))
    logs = model.evaluate(xs, [ya, yb], verbose=0, batch_size=3, return_dict=True)
    np.testing.assert_allclose(logs["loss"], la + 2 * lb + penalty, rtol=1e-5)
    np.testing.assert_allclose(logs["a_loss"], la, rtol=1e-5)  # penalties: total only
    np.testing.assert_allclose(logs["b_loss"], lb, rtol=1e-5)
    [value] = model.losses
    np.testing.assert_allclose(value, penalty, rtol=1e-6)


def test_frozen_weights_are_not_penalised():
    model = _model()
    model.get_layer("hidden").trainable = False
    assert len(model.losses) == 1  # the output kernel's; no activity call yet
    model.compile("sgd", "mse")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    assert len(model.losses) == 2  # after a call, the activity penalty as in Keras


@pytest.mark.parametrize(
    "constraint,check",
    [
        (constraints.MaxNorm(0.3), lambda w: np.linalg.norm(w, axis=0).max() <= 0.3 + 1e-6),
        (constraints.NonNeg(), lambda w: w.min() >= 0),
        (constraints.UnitNorm(), lambda w: np.allclose(np.linalg.norm(w, axis=0), 1, atol=1e-5)),
        (
            constraints.MinMaxNorm(0.5, 0.6),
            lambda w: np.all(
                (np.linalg.norm(w, axis=0) > 0.5 - 1e-5) & (np.linalg.norm(w, axis=0) < 0.6 + 1e-5)
            ),
        ),
    ],
)
def test_constraints_hold_after_every_step(constraint, check):
    graphc.utils.set_random_seed(5)
    dense = layers.Dense(3, kernel_constraint=constraint, bias_constraint="non_neg")
    model = graphc.Sequential([graphc.Input((4,)), dense, layers.Dense(1)])
    model.compile(graphc.optimizers.Adam(0.05), "mse")
    seen = []

    class Check(graphc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(check(dense.kernel.numpy()) and dense.bias.numpy().min() >= 0)

    x, y = _data(12)
    model.fit(x, y[:, :1] * 5, epochs=2, batch_size=4, verbose=0, callbacks=[Check()])
    assert len(seen) == 6 and all(seen)


def test_custom_function_regularizer_trains():
    def my_l2(w):
        return ops.multiply(ops.sum(ops.multiply(w, w)), 0.5)

    graphc.utils.set_random_seed(6)
    model = graphc.Sequential(
        [graphc.Input((4,)), layers.Dense(2, kernel_regularizer=my_l2, use_bias=False)]
    )
    model.compile(graphc.optimizers.SGD(learning_rate=0.1), "mse")
    x, y = _data()
    kernel = model.layers[0].kernel
    before = kernel.numpy()
    loss = model.train_on_batch(x, np.zeros_like(y))
    pred = x @ before
    np.testing.assert_allclose(loss, (pred**2).mean() + 0.5 * (before**2).sum(), rtol=1e-5)
    grad = x.T @ (2 * pred / pred.size) + before
    np.testing.assert_allclose(kernel.numpy(), before - 0.1 * grad, rtol=1e-4, atol=1e-6)


def test_save_load_and_from_config_keep_them(tmp_path):
    graphc.utils.set_random_seed(7)
    model = graphc.Sequential(
        [
            graphc.Input((5,), dtype="int32"),
            layers.Embedding(9, 3, embeddings_regularizer="l2", embeddings_constraint="unit_norm"),
            layers.LSTM(
                2,
                recurrent_regularizer=regularizers.L1L2(0.01, 0.02),
                kernel_constraint=constraints.MaxNorm(1.5),
                activity_regularizer=regularizers.L1(0.1),
            ),
            layers.Dense(1, bias_constraint="non_neg", kernel_regularizer="l1_l2"),
        ]
    )
    model.compile("adam", "mse")
    x = np.random.default_rng(8).integers(0, 9, (10, 5))
    y = np.ones((10, 1), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.graphc"
    model.save(path)
    loaded = graphc.saving.load_model(path)
    for a, b in zip(model.layers, loaded.layers):
        assert a.get_config() == b.get_config()
    lstm = loaded.layers[1]
    assert lstm.recurrent_regularizer.get_config() == {"l1": 0.01, "l2": 0.02}
    assert lstm.kernel_constraint.get_config() == {"max_value": 1.5, "axis": 0}
    assert lstm.get_config()["activity_regularizer"]["class_name"] == "L1"
    np.testing.assert_allclose(
        loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6
    )
    clone = graphc.Sequential.from_config(model.get_config())
    assert isinstance(clone.layers[0].embeddings_constraint, constraints.UnitNorm)
    # training the loaded model goes on the same way as the original
    h1 = model.fit(x, y, epochs=2, verbose=0, shuffle=False).history["loss"]
    h2 = loaded.fit(x, y, epochs=2, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(h1, h2, rtol=1e-5)


def test_activity_regularizer_in_a_nested_model_is_refused():
    inner_in = graphc.Input((3,))
    inner = graphc.Model(inner_in, layers.Dense(2, activity_regularizer="l2")(inner_in))
    x = graphc.Input((3,))
    outer = graphc.Model(x, layers.Dense(1)(inner(x)))
    outer.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match=r"activity_regularizer of layer.*nested"):
        outer.fit(np.ones((2, 3), np.float32), np.ones((2, 1), np.float32), verbose=0)
    # weight regularizers of nested layers do count
    inner2_in = graphc.Input((3,))
    inner2 = graphc.Model(inner2_in, layers.Dense(2, kernel_regularizer="l2")(inner2_in))
    outer2 = graphc.Model(x, inner2(x))
    assert len(outer2.losses) == 1
