"""Whole-model gradients: the executor's reverse pass, run in float64, against float64
central differences of the scalar loss, parameter by parameter; and one optimizer step
of ``train_on_batch`` against ``weights - lr * grad``."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers, losses, ops
from graphc.backends.numpy import Executor
from graphc.ops import ExecContext

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-8


class AddPair(layers.Layer):
    """A two-input merge made of one op (independent of which merge layers exist)."""

    def call(self, inputs):
        return ops.add(inputs[0], inputs[1])


# ---- the harness --------------------------------------------------------------------------
def _targets(loss_name, out_shape, rng):
    n = out_shape[0]
    if loss_name == "sparse_categorical_crossentropy":
        return rng.integers(0, out_shape[-1], n)
    if loss_name in ("categorical_crossentropy", "kl_divergence"):
        return np.eye(out_shape[-1])[rng.integers(0, out_shape[-1], n)]
    if loss_name == "binary_crossentropy":
        return (rng.random(out_shape) > 0.5).astype(np.float64)
    return rng.standard_normal(out_shape)


def _loss_fn(loss):
    return losses.get(loss) if isinstance(loss, str) else loss


class GradCheck:
    """Loss of a model as a float64 function of its trainable parameters."""

    def __init__(
        self, model, xs, ys, loss_list, loss_weights=None, sample_weight=None, dropout_seed=None
    ):
        self.model = model
        self.ex = Executor(model.graph, model.trainable_weights)
        self.params = model.trainable_weights
        self.xs = [np.asarray(x, np.float64) for x in xs]
        self.ys = ys
        self.losses = [_loss_fn(each) for each in loss_list]
        self.weights = loss_weights or [1.0] * len(self.losses)
        self.sw = sample_weight
        self.dropout_seed = dropout_seed
        # every weight, trainable or not, in float64: the whole computation is float64
        self.base = {p: p.data.astype(np.float64) for p in model.weights}

    def _ctx(self):
        if self.dropout_seed is None:
            return ExecContext(training=False)
        return ExecContext(training=True, rng=np.random.default_rng(self.dropout_seed))

    def loss(self, leaf_values):
        outs = self.ex.forward(self.xs, self._ctx(), leaf_values=leaf_values)
        return sum(
            w * float(each(y, o, sample_weight=self.sw))
            for each, w, y, o in zip(self.losses, self.weights, self.ys, outs)
        )

    def analytic(self):
        outs, env = self.ex.forward(
            self.xs, self._ctx(), keep_for_backward=True, leaf_values=self.base
        )
        assert all(o.dtype == np.float64 for o in outs), [o.dtype for o in outs]
        value, out_grads = 0.0, []
        for each, w, y, o in zip(self.losses, self.weights, self.ys, outs):
            v, g = each.value_and_grad(y, o, self.sw)
            assert g.dtype == np.float64
            value += w * float(v)
            out_grads.append(g * w)
        grads = {p: np.full(p.shape, np.nan) for p in self.params}
        self.ex.backward(env, out_grads, grads)
        return value, grads

    def numeric(self, p):
        num = np.zeros(p.shape)
        leaf = dict(self.base)
        arr = self.base[p].copy()
        leaf[p] = arr
        for idx in np.ndindex(*p.shape):
            old = arr[idx]
            arr[idx] = old + EPS
            up = self.loss(leaf)
            arr[idx] = old - EPS
            down = self.loss(leaf)
            arr[idx] = old
            num[idx] = (up - down) / (2 * EPS)
        return num

    def check(self):
        value, grads = self.analytic()
        np.testing.assert_allclose(value, self.loss(self.base), rtol=1e-12)
        assert self.params, "nothing to check"
        for p in self.params:
            num = self.numeric(p)
            assert np.abs(num).max() > 0 or p.layer.name.startswith("dropout"), (
                f"{p.path}: the loss does not depend on it; a useless check"
            )
            np.testing.assert_allclose(grads[p], num, rtol=RTOL, atol=ATOL, err_msg=p.path)
        return grads


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---- Dense with each activation, under several losses -------------------------------------
ACTIVATIONS = [
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "gelu",
    "leaky_relu",
    "hard_sigmoid",
    "exponential",
]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_stack_gradient(activation):
    graphc.utils.set_random_seed(1)
    inp = graphc.Input(shape=(5,))
    h = layers.Dense(4, activation=activation, bias_initializer="random_normal")(inp)
    out = layers.Dense(3)(h)
    model = graphc.Model(inp, out)
    rng = _rng(2)
    x = rng.standard_normal((6, 5))
    y = _targets("mse", (6, 3), rng)
    GradCheck(model, [x], [y], ["mse"]).check()


LOSSES = [
    "mse",
    "mae",
    "huber",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
    "binary_crossentropy",
    losses.BinaryCrossentropy(from_logits=True),
    losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
]


@pytest.mark.parametrize(
    "loss",
    LOSSES,
    ids=lambda each: each if isinstance(each, str) else f"{type(each).__name__}_logits",
)
def test_loss_through_model_gradient(loss):
    graphc.utils.set_random_seed(3)
    name = loss if isinstance(loss, str) else ""
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence"):
        last = "softmax"
    elif name == "binary_crossentropy":
        last = "sigmoid"
    else:
        last = None
    inp = graphc.Input(shape=(4,))
    h = layers.Dense(5, activation="tanh")(inp)
    out = layers.Dense(3, activation=last)(h)
    model = graphc.Model(inp, out)
    rng = _rng(4)
    x = rng.standard_normal((7, 4))
    kind = name or (
        "binary_crossentropy"
        if isinstance(loss, losses.BinaryCrossentropy)
        else "categorical_crossentropy"
    )
    y = _targets(kind, (7, 3), rng)
    GradCheck(model, [x], [y], [loss]).check()


def test_gradient_with_sample_weight():
    graphc.utils.set_random_seed(5)
    inp = graphc.Input(shape=(3,))
    out = layers.Dense(2, activation="softmax")(layers.Dense(4, activation="elu")(inp))
    model = graphc.Model(inp, out)
    rng = _rng(6)
    x = rng.standard_normal((8, 3))
    y = _targets("categorical_crossentropy", (8, 2), rng)
    sw = np.array([0, 1, 2, 0.5, 0, 3, 1, 1], dtype=np.float64)
    GradCheck(model, [x], [y], ["categorical_crossentropy"], sample_weight=sw).check()


# ---- Dropout with a fixed generator -------------------------------------------------------
def test_dropout_gradient_with_fixed_rng():
    graphc.utils.set_random_seed(7)
    inp = graphc.Input(shape=(6,))
    h = layers.Dense(8, activation="relu")(inp)
    h = layers.Dropout(0.4)(h)
    out = layers.Dense(2)(h)
    model = graphc.Model(inp, out)
    rng = _rng(8)
    x = rng.standard_normal((5, 6))
    y = rng.standard_normal((5, 2))
    check = GradCheck(model, [x], [y], ["mse"], dropout_seed=123)
    grads = check.check()
    # the mask was really applied: training and inference losses differ
    infer = GradCheck(model, [x], [y], ["mse"])
    assert abs(check.loss(check.base) - infer.loss(infer.base)) > 1e-6
    # and some hidden units were dropped for every row: their kernel columns in the second
    # layer still get gradient only from rows that kept them, so they are not all zero
    assert np.count_nonzero(grads[model.layers[-1].kernel]) > 0


# ---- Flatten / Reshape --------------------------------------------------------------------
def test_flatten_reshape_gradient():
    graphc.utils.set_random_seed(9)
    inp = graphc.Input(shape=(2, 3, 2))
    h = layers.Flatten()(inp)
    h = layers.Dense(6, activation="sigmoid")(h)
    h = layers.Reshape((3, 2))(h)
    h = layers.Dense(4, activation="tanh")(h)  # Dense on a rank-3 tensor
    h = layers.Reshape((-1,))(h)
    out = layers.Dense(3, activation="softmax")(h)
    model = graphc.Model(inp, out)
    rng = _rng(10)
    x = rng.standard_normal((4, 2, 3, 2))
    y = _targets("categorical_crossentropy", (4, 3), rng)
    GradCheck(model, [x], [y], ["categorical_crossentropy"]).check()


# ---- multi-input / multi-output, shared layers, nested models -----------------------------
def _two_in_two_out():
    a = graphc.Input(shape=(4,), name="a")
    b = graphc.Input(shape=(3,), name="b")
    ha = layers.Dense(5, activation="relu")(a)
    hb = layers.Dense(5, activation="tanh")(b)
    h = AddPair()([ha, hb])
    reg = layers.Dense(2, name="reg")(h)
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    return graphc.Model([a, b], [reg, cls])


def test_multi_input_multi_output_gradient_with_loss_weights():
    graphc.utils.set_random_seed(11)
    model = _two_in_two_out()
    rng = _rng(12)
    x = [rng.standard_normal((6, 4)), rng.standard_normal((6, 3))]
    y = [rng.standard_normal((6, 2)), _targets("categorical_crossentropy", (6, 3), rng)]
    GradCheck(model, x, y, ["mse", "categorical_crossentropy"], loss_weights=[0.3, 2.0]).check()


def test_shared_layer_used_twice_gradient():
    graphc.utils.set_random_seed(13)
    a = graphc.Input(shape=(4,))
    b = graphc.Input(shape=(4,))
    shared = layers.Dense(3, activation="tanh")
    h = AddPair()([shared(a), shared(b)])
    out = layers.Dense(2)(h)
    model = graphc.Model([a, b], out)
    assert len(model.trainable_weights) == 4  # the shared kernel and bias count once
    rng = _rng(14)
    x = [rng.standard_normal((5, 4)), rng.standard_normal((5, 4))]
    y = rng.standard_normal((5, 2))
    check = GradCheck(model, x, [y], ["mse"])
    grads = check.check()
    # both calls contribute: the shared kernel's gradient is the sum of the two paths, so
    # it differs from what either input alone would give
    solo = GradCheck(model, [x[0], np.zeros_like(x[1])], [y], ["mse"])
    _, solo_grads = solo.analytic()
    assert not np.allclose(grads[shared.kernel], solo_grads[shared.kernel])


def test_nested_model_gradient():
    graphc.utils.set_random_seed(15)
    inner_in = graphc.Input(shape=(4,))
    inner = graphc.Model(inner_in, layers.Dense(5, activation="swish")(inner_in), name="inner")
    outer_in = graphc.Input(shape=(3,))
    h = layers.Dense(4, activation="softplus")(outer_in)
    h = inner(h)
    h = inner(layers.Dense(4)(h))  # the nested model called twice: its weights shared
    out = layers.Dense(2, activation="sigmoid")(h)
    model = graphc.Model(outer_in, out)
    rng = _rng(16)
    x = rng.standard_normal((6, 3))
    y = _targets("binary_crossentropy", (6, 2), rng)
    grads = GradCheck(model, [x], [y], ["binary_crossentropy"]).check()
    assert set(inner.trainable_weights) <= set(grads)


def test_frozen_layer_gets_no_gradient_slot():
    graphc.utils.set_random_seed(17)
    inp = graphc.Input(shape=(3,))
    first = layers.Dense(4, activation="tanh")
    out = layers.Dense(2)(first(inp))
    model = graphc.Model(inp, out)
    first.trainable = False
    assert first.kernel not in model.trainable_weights
    rng = _rng(18)
    GradCheck(model, [rng.standard_normal((4, 3))], [rng.standard_normal((4, 2))], ["mse"]).check()


# ---- one optimizer step ----------------------------------------------------------------------
def _float64_grads(model, x, y, loss, sw=None):
    check = GradCheck(model, [x], [y], [loss], sample_weight=sw)
    return check.analytic()


@pytest.mark.parametrize("with_sw", [False, True])
def test_train_on_batch_sgd_step_is_weights_minus_lr_grad(with_sw):
    graphc.utils.set_random_seed(19)
    inp = graphc.Input(shape=(5,))
    h = layers.Dense(6, activation="tanh")(inp)
    out = layers.Dense(3, activation="softmax")(h)
    model = graphc.Model(inp, out)
    lr = 0.5
    model.compile(
        optimizer=graphc.optimizers.SGD(learning_rate=lr), loss="categorical_crossentropy"
    )
    rng = _rng(20)
    x = rng.standard_normal((10, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 10)]
    sw = rng.random(10).astype(np.float32) if with_sw else None
    before = {p: p.numpy() for p in model.trainable_weights}
    value, grads = _float64_grads(model, x, y, "categorical_crossentropy", sw)
    reported = model.train_on_batch(x, y, sample_weight=sw)
    np.testing.assert_allclose(reported, value, rtol=1e-5)
    for p in model.trainable_weights:
        expected = before[p] - lr * grads[p]
        # compare the deltas, so float32 rounding of the weights is not what is tested
        np.testing.assert_allclose(
            p.numpy() - before[p], expected - before[p], rtol=1e-4, atol=1e-6, err_msg=p.path
        )
        assert np.abs(expected - before[p]).max() > 1e-3


def test_train_on_batch_multi_output_step_uses_loss_weights():
    graphc.utils.set_random_seed(21)
    model = _two_in_two_out()
    lr = 0.1
    model.compile(
        optimizer=graphc.optimizers.SGD(lr),
        loss={"reg": "mse", "cls": "categorical_crossentropy"},
        loss_weights={"reg": 0.3, "cls": 2.0},
    )
    rng = _rng(22)
    x = [
        rng.standard_normal((6, 4)).astype(np.float32),
        rng.standard_normal((6, 3)).astype(np.float32),
    ]
    y = [
        rng.standard_normal((6, 2)).astype(np.float32),
        np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)],
    ]
    check = GradCheck(model, x, y, ["mse", "categorical_crossentropy"], loss_weights=[0.3, 2.0])
    value, grads = check.analytic()
    before = {p: p.numpy() for p in model.trainable_weights}
    logs = model.train_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose(logs["loss"], value, rtol=1e-5)
    np.testing.assert_allclose(
        logs["loss"], 0.3 * logs["reg_loss"] + 2.0 * logs["cls_loss"], rtol=1e-6
    )
    for p in model.trainable_weights:
        np.testing.assert_allclose(
            p.numpy() - before[p], -lr * grads[p], rtol=1e-4, atol=1e-6, err_msg=p.path
        )
