"""Training and evaluating models whose outputs carry a Keras mask (Keras 3's
``Loss.__call__`` / ``apply_mask`` and ``MeanMetricWrapper.update_state``): the masked
steps are left out of the loss (the mean is over the valid steps) and out of the
metrics. Numbers against Keras itself: tests/oracle/test_keras_masked_training_parity.py."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers, losses, metrics
from graphc.ops import ExecContext

RNG = np.random.default_rng(0)
T, V = 5, 4
TOKENS = np.array([[3, 1, 2, 0, 0], [5, 0, 0, 0, 0], [1, 2, 3, 4, 5], [2, 2, 0, 0, 0]])
MASK = TOKENS != 0
LABELS = RNG.integers(0, V, TOKENS.shape)


def _tagger(units=3):
    x = graphc.Input(shape=(None,), dtype="int64")
    h = layers.Embedding(6, 3, mask_zero=True)(x)
    h = layers.SimpleRNN(units, return_sequences=True)(h)
    return graphc.Model(x, layers.Dense(V, activation="softmax")(h))


def _probs(shape=(4, T, V)):
    p = RNG.random(shape) + 0.1
    return p / p.sum(-1, keepdims=True)


# ---- the loss -----------------------------------------------------------------------------
def test_masked_loss_is_the_mean_over_valid_steps_with_keras_weighting():
    p, sw = _probs(), RNG.random((4, T))
    cce = losses.SparseCategoricalCrossentropy()
    per_step = cce._values(LABELS, p)
    assert cce(LABELS, p, mask=MASK) == pytest.approx(per_step[MASK].mean(), rel=1e-6)
    # Keras: sum(loss * sw * total / valid) / total, i.e. divided by the valid count,
    # not by the weights' sum.
    want = (per_step * sw * MASK).sum() / MASK.sum()
    assert cce(LABELS, p, sample_weight=sw, mask=MASK) == pytest.approx(want, rel=1e-6)
    # "sum": the mask is a 0/1 weight; per-sample weights weigh each step of a sample.
    s = losses.SparseCategoricalCrossentropy(reduction="sum")
    sw1 = RNG.random(4)
    assert s(LABELS, p, sample_weight=sw1, mask=MASK) == pytest.approx(
        (per_step * sw1[:, None] * MASK).sum(), rel=1e-6
    )


@pytest.mark.parametrize(
    "loss,target",
    [
        (losses.SparseCategoricalCrossentropy(), LABELS),
        (losses.CategoricalCrossentropy(), np.eye(V)[LABELS]),
        (losses.MeanSquaredError(), RNG.random((4, T, V))),
        (losses.SparseCategoricalCrossentropy(ignore_class=1), LABELS),
    ],
)
def test_masked_loss_gradient_against_float64_finite_differences(loss, target):
    p, sw = _probs(), RNG.random((4, T))
    value, grad = loss.value_and_grad(target, p, sample_weight=sw, mask=MASK)
    assert value == pytest.approx(loss(target, p, sample_weight=sw, mask=MASK), rel=1e-12)
    num = np.zeros_like(p)
    eps = 1e-6
    for idx in np.ndindex(*p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += eps
        down[idx] -= eps
        num[idx] = (
            loss(target, up, sample_weight=sw, mask=MASK)
            - loss(target, down, sample_weight=sw, mask=MASK)
        ) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-9)
    assert not grad[~MASK].any()  # masked steps get no gradient


def test_all_masked_batch_gives_zero_loss_and_gradient():
    p = _probs()
    value, grad = losses.SparseCategoricalCrossentropy().value_and_grad(
        LABELS, p, mask=np.zeros_like(MASK)
    )
    assert value == 0.0 and not grad.any() and np.isfinite(grad).all()


# ---- the trainer --------------------------------------------------------------------------
def _masked_model_loss(model, leaf_values, loss):
    ex = model._executor(with_masks=True)
    outs, masks = model.split_masks(
        ex, ex.forward([TOKENS], ExecContext(training=False), leaf_values=leaf_values)
    )
    return loss(LABELS, outs[0], mask=masks[0])


def test_model_gradient_with_a_masked_output_against_finite_differences():
    model = _tagger()
    model.compile(graphc.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    loss = losses.SparseCategoricalCrossentropy()
    base = {p: p.data.astype(np.float64) for p in model.weights}
    ex = model._executor(with_masks=True)
    results, env = ex.forward(
        [TOKENS], ExecContext(training=False), keep_for_backward=True, leaf_values=base
    )
    outs, masks = model.split_masks(ex, results)
    np.testing.assert_array_equal(masks[0], MASK)
    _, g = loss.value_and_grad(LABELS, outs[0], mask=masks[0])
    grads = {p: np.zeros(p.shape) for p in ex.trainable}
    ex.backward(env, [g], grads)
    eps = 1e-6
    for p in ex.trainable:
        num = np.zeros(p.shape)
        for idx in np.ndindex(*p.shape):
            leaf = dict(base)
            for sign in (1, -1):
                arr = base[p].copy()
                arr[idx] += sign * eps
                leaf[p] = arr
                num[idx] += sign * _masked_model_loss(model, leaf, loss) / (2 * eps)
        np.testing.assert_allclose(grads[p], num, rtol=1e-5, atol=1e-9, err_msg=p.path)
    # One SGD step of train_on_batch moves the weights by -lr * that gradient.
    before = {p: p.data.copy() for p in ex.trainable}
    model.train_on_batch(TOKENS, LABELS)
    for p in ex.trainable:
        np.testing.assert_allclose(p.data - before[p], -0.1 * grads[p], rtol=1e-3, atol=1e-6)


def test_evaluate_and_metrics_use_the_valid_steps_only():
    model = _tagger()
    model.compile(
        "rmsprop",
        "sparse_categorical_crossentropy",
        metrics=["accuracy", "sparse_categorical_crossentropy"],
    )
    p = model.predict(TOKENS, verbose=0)
    per_step = losses.SparseCategoricalCrossentropy()._values(LABELS, p)
    hits = p.argmax(-1) == LABELS
    logs = model.evaluate(TOKENS, LABELS, batch_size=4, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(per_step[MASK].mean(), rel=1e-5)
    assert logs["accuracy"] == pytest.approx(hits[MASK].mean(), rel=1e-6)
    assert logs["sparse_categorical_crossentropy"] == pytest.approx(per_step[MASK].mean(), rel=1e-5)
    # The padded labels do not matter at all.
    other = np.where(MASK, LABELS, (LABELS + 1) % V)
    assert model.evaluate(
        TOKENS, other, batch_size=4, verbose=0, return_dict=True
    ) == pytest.approx(logs)
    # Metrics that never read masks in Keras (not a MeanMetricWrapper) see every entry.
    rmse = metrics.RootMeanSquaredError()
    metrics.update_state_with_mask(rmse, np.eye(V)[LABELS], p, MASK)
    assert rmse.result() == pytest.approx(np.sqrt(np.mean((np.eye(V)[LABELS] - p) ** 2)))


def test_sample_weights_combine_with_the_mask_in_fit_logs():
    model = _tagger()
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    sw = RNG.random((4, T)).astype("float32")
    p = model.predict(TOKENS, verbose=0)
    per_step = losses.SparseCategoricalCrossentropy()._values(LABELS, p)
    got = model.evaluate(TOKENS, LABELS, sample_weight=sw, verbose=0)
    assert got[0] == pytest.approx((per_step * sw * MASK).sum() / MASK.sum(), rel=1e-5)
    # Sample weights reach the loss only; accuracy stays the masked mean (as in Keras).
    assert got[1] == pytest.approx((p.argmax(-1) == LABELS)[MASK].mean())
    hist = model.fit(TOKENS, LABELS, sample_weight=sw, epochs=2, verbose=0).history
    assert len(hist["loss"]) == 2 and np.isfinite(hist["loss"]).all()


def test_class_weight_with_a_per_sample_mask():
    x = graphc.Input(shape=(3,))
    model = graphc.Model(x, layers.Dense(2, activation="softmax")(layers.Masking()(x)))
    model.compile("sgd", "sparse_categorical_crossentropy")
    data = RNG.standard_normal((6, 3)).astype("float32")
    data[[0, 3]] = 0.0  # masked samples
    y = np.array([0, 1, 1, 0, 1, 0])
    cw = {0: 3.0, 1: 0.5}
    per_sample = losses.SparseCategoricalCrossentropy()._values(y, model.predict(data, verbose=0))
    keep = (data != 0).any(-1)
    w = np.where(y == 0, 3.0, 0.5)
    want = (per_sample * w * keep).sum() / keep.sum()
    assert model.train_on_batch(data, y, class_weight=cw) == pytest.approx(want, rel=1e-5)


def test_an_all_masked_batch_trains_to_nothing():
    model = _tagger()
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    empty = np.zeros_like(TOKENS)
    before = model.get_weights()
    logs = model.train_on_batch(empty, LABELS, return_dict=True)
    assert logs == {"loss": 0.0, "accuracy": 0.0}
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_multi_output_with_one_masked_output():
    x = graphc.Input(shape=(None,), dtype="int64")
    h = layers.Embedding(6, 3, mask_zero=True)(x)
    seq = layers.Dense(V, activation="softmax", name="tags")(
        layers.SimpleRNN(3, return_sequences=True)(h)
    )
    pooled = layers.Dense(1, name="score")(layers.GlobalAveragePooling1D()(h))
    model = graphc.Model(x, [seq, pooled])
    model.compile(
        "rmsprop",
        ["sparse_categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics=[["accuracy"], []],
    )
    score = RNG.standard_normal((4, 1)).astype("float32")
    p_seq, p_score = model.predict(TOKENS, verbose=0)
    tags = losses.SparseCategoricalCrossentropy()._values(LABELS, p_seq)[MASK].mean()
    mse = float(np.mean((p_score - score) ** 2))
    logs = model.evaluate(TOKENS, [LABELS, score], verbose=0, return_dict=True)
    assert logs["tags_loss"] == pytest.approx(tags, rel=1e-5)
    assert logs["score_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["loss"] == pytest.approx(tags + 0.5 * mse, rel=1e-5)
    assert logs["tags_accuracy"] == pytest.approx((p_seq.argmax(-1) == LABELS)[MASK].mean())


def test_masks_do_not_change_predict_or_export():
    model = _tagger()
    model.compile("rmsprop", "sparse_categorical_crossentropy")
    model.fit(TOKENS, LABELS, verbose=0)
    assert len(model._executor().graph.outputs) == 1  # predict's plan has no mask output
    want = model.predict(TOKENS, verbose=0)
    got = graphc.onnx.Runtime(graphc.onnx.export(model)).predict(TOKENS)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
