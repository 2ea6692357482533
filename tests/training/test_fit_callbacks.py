"""Callbacks driven through a real ``fit``: EarlyStopping, ModelCheckpoint,
LearningRateScheduler, ReduceLROnPlateau, CSVLogger, LambdaCallback, custom hooks."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

import graphc
from graphc import callbacks, layers, losses, optimizers
from graphc.backends.numpy import Executor
from graphc.ops import ExecContext


class EpochWeights(callbacks.Callback):
    """The weights and logs at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.weights, self.logs, self.begin_weights = {}, {}, {}

    def on_epoch_begin(self, epoch, logs=None):
        self.begin_weights[epoch] = self.model.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = self.model.get_weights()
        self.logs[epoch] = dict(logs)


_TRUE_W = np.random.default_rng(1234).standard_normal((4, 1))


def _regression(n=32, seed=0):
    """One linear ground truth; ``seed`` draws the rows and the noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x @ _TRUE_W + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)
    return x, y


def _linear(seed=1, lr=0.1):
    graphc.utils.set_random_seed(seed)
    inp = graphc.Input(shape=(4,))
    model = graphc.Model(inp, layers.Dense(1)(inp))
    model.compile(optimizer=optimizers.SGD(lr), loss="mse")
    return model


def _diverging_schedule(good=3, lr=0.1, bad=1.6):
    """Learning well for ``good`` epochs, then an lr that makes the loss grow each epoch."""
    return callbacks.LearningRateScheduler(lambda epoch, cur: lr if epoch < good else bad)


def _float64_grad(model, x, y, loss="mse"):
    ex = Executor(model.graph, model.trainable_weights)
    leaf = {p: p.data.astype(np.float64) for p in model.weights}
    outs, env = ex.forward(
        [x.astype(np.float64)],
        ExecContext(training=False),
        keep_for_backward=True,
        leaf_values=leaf,
    )
    _, g = losses.get(loss).value_and_grad(y.astype(np.float64), outs[0])
    grads = {p: np.zeros(p.shape) for p in model.trainable_weights}
    ex.backward(env, [g], grads)
    return [grads[p] for p in model.trainable_weights]


# ---- EarlyStopping -------------------------------------------------------------------------
@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_stops_after_patience_and_restores_the_best_epoch(restore):
    x, y = _regression(seed=2)
    xv, yv = _regression(n=16, seed=102)
    model = _linear(seed=3)
    rec = EpochWeights()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=restore)
    hist = model.fit(
        x,
        y,
        batch_size=32,
        epochs=20,
        shuffle=False,
        verbose=0,
        validation_data=(xv, yv),
        callbacks=[_diverging_schedule(good=4), rec, stop],
    )
    val = hist.history["val_loss"]
    best = int(np.argmin(val))
    assert best == 3, val  # improving while lr is small, then diverging
    assert all(b > a for a, b in zip(val[3:], val[4:]))
    assert len(val) == best + 2 + 1  # patience 2 after the best epoch
    assert stop.stopped_epoch == best + 2 and stop.best_epoch == best
    np.testing.assert_allclose(stop.best, val[best])
    expected = rec.weights[best] if restore else rec.weights[len(val) - 1]
    for u, v in zip(model.get_weights(), expected):
        np.testing.assert_array_equal(u, v)
    if restore:
        np.testing.assert_allclose(model.evaluate(xv, yv, verbose=0), val[best], rtol=1e-6)


def test_early_stopping_on_training_loss_with_min_delta():
    x, y = _regression(seed=4)
    model = _linear(seed=5, lr=1e-6)  # hardly moves: no improvement bigger than min_delta
    stop = callbacks.EarlyStopping(monitor="loss", min_delta=1e-2, patience=3)
    hist = model.fit(x, y, batch_size=32, epochs=50, verbose=0, callbacks=[stop])
    assert len(hist.history["loss"]) == 4  # epoch 0 sets the best, 3 more without gain
    assert hist.history["loss"][-1] < hist.history["loss"][0]  # it did improve, by little


def test_early_stopping_mode_max_on_accuracy():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)[:, None]
    graphc.utils.set_random_seed(7)
    inp = graphc.Input(shape=(4,))
    model = graphc.Model(inp, layers.Dense(1, activation="sigmoid")(inp))
    model.compile(optimizer=optimizers.SGD(0.5), loss="binary_crossentropy", metrics=["accuracy"])
    stop = callbacks.EarlyStopping(monitor="accuracy", patience=1, mode="auto")
    hist = model.fit(x, y, batch_size=40, epochs=100, verbose=0, callbacks=[stop])
    acc = hist.history["accuracy"]
    # stopped at the first epoch that did not beat the best accuracy so far
    assert len(acc) < 100
    assert acc[-1] <= max(acc[:-1])
    assert all(b > max(acc[: i + 1]) for i, b in enumerate(acc[1:-1]))


# ---- ModelCheckpoint ---------------------------------------------------------------------
def test_model_checkpoint_writes_weights_and_models_every_epoch(tmp_path):
    x, y = _regression(seed=8)
    model = _linear(seed=9)
    rec = EpochWeights()
    weights_cb = callbacks.ModelCheckpoint(
        str(tmp_path / "w-{epoch:02d}.weights.npz"), save_weights_only=True
    )
    model_cb = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}-{loss:.4f}.graphc"))
    hist = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[rec, weights_cb, model_cb])
    names = sorted(os.listdir(tmp_path))
    expected_models = [f"m-{e + 1}-{hist.history['loss'][e]:.4f}.graphc" for e in range(3)]
    assert names == sorted(expected_models + [f"w-{e:02d}.weights.npz" for e in (1, 2, 3)])
    probe = _linear(seed=10)
    for e in range(3):
        probe.load_weights(str(tmp_path / f"w-{e + 1:02d}.weights.npz"))
        for u, v in zip(probe.get_weights(), rec.weights[e]):
            np.testing.assert_array_equal(u, v)
        loaded = graphc.models.load_model(str(tmp_path / expected_models[e]))
        for u, v in zip(loaded.get_weights(), rec.weights[e]):
            np.testing.assert_array_equal(u, v)
        # the compile config came along: evaluate works at once
        np.testing.assert_allclose(
            loaded.evaluate(x, y, verbose=0), _evaluate_with(rec.weights[e], x, y), rtol=1e-6
        )


def _evaluate_with(weights, x, y):
    m = _linear(seed=11)
    m.set_weights(weights)
    return m.evaluate(x, y, verbose=0)


def test_model_checkpoint_save_best_only(tmp_path):
    x, y = _regression(seed=12)
    xv, yv = _regression(n=16, seed=13)
    model = _linear(seed=14)
    rec = EpochWeights()
    best_path = tmp_path / "best.weights.npz"
    cb = callbacks.ModelCheckpoint(
        str(best_path), monitor="val_loss", save_best_only=True, save_weights_only=True
    )
    per_epoch = callbacks.ModelCheckpoint(
        str(tmp_path / "e{epoch}.graphc"), monitor="val_loss", save_best_only=True
    )
    hist = model.fit(
        x,
        y,
        batch_size=32,
        epochs=7,
        shuffle=False,
        verbose=0,
        validation_data=(xv, yv),
        callbacks=[_diverging_schedule(good=3), rec, cb, per_epoch],
    )
    val = hist.history["val_loss"]
    best = int(np.argmin(val))
    assert best == 2 and val[-1] > val[best]
    probe = _linear(seed=15)
    probe.load_weights(str(best_path))
    for u, v in zip(probe.get_weights(), rec.weights[best]):
        np.testing.assert_array_equal(u, v)
    improved = [e for e in range(7) if val[e] < min(val[:e], default=np.inf)]
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["best.weights.npz"] + [f"e{e + 1}.graphc" for e in improved]
    )


def test_model_checkpoint_monitor_max_accuracy(tmp_path):
    rng = np.random.default_rng(16)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 1] > 0).astype(np.int64)
    graphc.utils.set_random_seed(17)
    inp = graphc.Input(shape=(4,))
    model = graphc.Model(inp, layers.Dense(2, activation="softmax")(inp))
    model.compile(
        optimizer=optimizers.SGD(0.3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    cb = callbacks.ModelCheckpoint(
        str(tmp_path / "a{epoch}.weights.npz"),
        monitor="accuracy",
        save_best_only=True,
        save_weights_only=True,
    )
    hist = model.fit(x, y, batch_size=40, epochs=6, verbose=0, callbacks=[cb])
    acc = hist.history["accuracy"]
    improved = [e for e in range(6) if acc[e] > max(acc[:e], default=-np.inf)]
    assert sorted(os.listdir(tmp_path)) == sorted(f"a{e + 1}.weights.npz" for e in improved)


# ---- learning-rate callbacks ------------------------------------------------------------------
def test_learning_rate_scheduler_sets_the_rate_the_update_uses():
    x, y = _regression(seed=18)
    model = _linear(seed=19, lr=0.5)
    rates = [0.05, 0.2, 0.01, 0.3]
    rec = EpochWeights()
    grads = {}

    class GradAtEpochBegin(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            grads[epoch] = _float64_grad(self.model, x, y)

    sched = callbacks.LearningRateScheduler(lambda epoch, lr: rates[epoch])
    hist = model.fit(
        x,
        y,
        batch_size=32,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[sched, GradAtEpochBegin(), rec],
    )
    assert hist.history["learning_rate"] == pytest.approx(rates)
    assert model.optimizer.learning_rate == pytest.approx(rates[-1])
    for e, lr in enumerate(rates):
        for w0, w1, g in zip(rec.begin_weights[e], rec.weights[e], grads[e]):
            np.testing.assert_allclose(w1 - w0, -lr * g, rtol=1e-4, atol=1e-7, err_msg=f"epoch {e}")


def test_learning_rate_scheduler_old_one_argument_form():
    x, y = _regression(seed=20)
    model = _linear(seed=21)
    seen = []
    sched = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    cb = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(model.optimizer.learning_rate)
    )
    model.fit(x, y, epochs=3, verbose=0, callbacks=[sched, cb])
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_reduce_lr_on_plateau_reduces_and_the_update_uses_it():
    x, y = _regression(seed=22)
    model = _linear(seed=23, lr=0.2)
    rec = EpochWeights()
    grads = {}

    class GradAtEpochBegin(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            grads[epoch] = (_float64_grad(self.model, x, y), self.model.optimizer.learning_rate)

    # a huge min_delta: nothing after the first epoch counts as an improvement
    plateau = callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=2, min_delta=1e6, min_lr=0.04
    )
    hist = model.fit(
        x,
        y,
        batch_size=32,
        epochs=7,
        shuffle=False,
        verbose=0,
        callbacks=[GradAtEpochBegin(), rec, plateau],
    )
    # epochs 0..6: best at 0; waits 1,2 -> reduce after epoch 2; 1,2 -> after epoch 4;
    # after epoch 6 the floor min_lr holds it at 0.04
    expected_used = [0.2, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05]
    assert [lr for _, lr in (grads[e] for e in range(7))] == pytest.approx(expected_used)
    assert hist.history["learning_rate"] == pytest.approx(expected_used)
    assert model.optimizer.learning_rate == pytest.approx(0.04)
    for e, lr in enumerate(expected_used):
        for w0, w1, g in zip(rec.begin_weights[e], rec.weights[e], grads[e][0]):
            np.testing.assert_allclose(w1 - w0, -lr * g, rtol=1e-4, atol=1e-7, err_msg=f"epoch {e}")


def test_lr_scheduler_refuses_a_schedule_optimizer():
    x, y = _regression(seed=24)
    graphc.utils.set_random_seed(25)
    inp = graphc.Input(shape=(4,))
    model = graphc.Model(inp, layers.Dense(1)(inp))
    sched = graphc.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model.compile(optimizer=optimizers.SGD(sched), loss="mse")
    before = model.get_weights()
    with pytest.raises(TypeError, match="not settable"):
        model.fit(
            x,
            y,
            epochs=2,
            verbose=0,
            callbacks=[callbacks.LearningRateScheduler(lambda e, lr: 0.01)],
        )
    for u, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(u, v)


# ---- CSVLogger ----------------------------------------------------------------------------------
def test_csv_logger_rows_equal_history(tmp_path):
    rng = np.random.default_rng(26)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    graphc.utils.set_random_seed(27)
    inp = graphc.Input(shape=(4,))
    model = graphc.Model(inp, layers.Dense(3, activation="softmax")(inp))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "log.csv"
    hist = model.fit(
        x, y, epochs=3, verbose=0, validation_split=0.2, callbacks=[callbacks.CSVLogger(str(path))]
    )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key, values in hist.history.items():
        assert [float(r[key]) for r in rows] == values, key
    # append=True adds rows without a second header
    model.fit(
        x,
        y,
        epochs=5,
        initial_epoch=3,
        verbose=0,
        validation_split=0.2,
        callbacks=[callbacks.CSVLogger(str(path), append=True)],
    )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4]


# ---- hook order ---------------------------------------------------------------------------
def _hook_log():
    events = []

    def add(name, with_index):
        if with_index:
            return lambda i, logs: events.append((name, i, sorted(logs or {})))
        return lambda logs: events.append((name, None, sorted(logs or {})))

    cb = callbacks.LambdaCallback(
        on_train_begin=add("train_begin", False),
        on_train_end=add("train_end", False),
        on_epoch_begin=add("epoch_begin", True),
        on_epoch_end=add("epoch_end", True),
        on_train_batch_begin=add("batch_begin", True),
        on_train_batch_end=add("batch_end", True),
    )
    return cb, events


def test_lambda_callback_hook_order_and_counts():
    x, y = _regression(n=20, seed=28)
    model = _linear(seed=29)
    cb, events = _hook_log()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])
    expected = [("train_begin", None)]
    for e in range(2):
        expected.append(("epoch_begin", e))
        for b in range(3):
            expected += [("batch_begin", b), ("batch_end", b)]
        expected.append(("epoch_end", e))
    expected.append(("train_end", None))
    assert [(n, i) for n, i, _ in events] == expected
    assert all(keys == ["loss"] for n, _, keys in events if n in ("batch_end", "epoch_end"))


def test_callback_params_model_and_batch_logs_are_running_means():
    x, y = _regression(n=20, seed=30)
    model = _linear(seed=31)
    seen = {}

    class Spy(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["params"] = dict(self.params)
            seen["model"] = self.model
            seen["batch"] = []

        def on_train_batch_end(self, batch, logs=None):
            seen["batch"].append(logs["loss"])

    batch_losses = []
    ref = _linear(seed=31)
    for sl in (slice(0, 8), slice(8, 16), slice(16, 20)):
        batch_losses.append(ref.train_on_batch(x[sl], y[sl]))
    hist = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[Spy()])
    assert seen["model"] is model
    assert seen["params"]["epochs"] == 1 and seen["params"]["steps"] == 3
    sizes = np.array([8, 8, 4])
    running = np.cumsum(np.array(batch_losses) * sizes) / np.cumsum(sizes)
    np.testing.assert_allclose(seen["batch"], running, rtol=1e-6)
    np.testing.assert_allclose(hist.history["loss"][0], running[-1], rtol=1e-6)


def test_stop_training_from_a_batch_hook_stops_within_the_epoch():
    x, y = _regression(n=40, seed=32)
    model = _linear(seed=33)
    count = []

    def on_batch_end(batch, logs):
        count.append(batch)
        if len(count) == 2:
            model.stop_training = True

    hist = model.fit(
        x,
        y,
        batch_size=8,
        epochs=5,
        verbose=0,
        callbacks=[callbacks.LambdaCallback(on_train_batch_end=on_batch_end)],
    )
    assert count == [0, 1]
    assert len(hist.history["loss"]) == 1


def test_validation_inside_fit_calls_the_test_hooks_like_keras():
    x, y = _regression(n=16, seed=34)
    model = _linear(seed=35)
    events = []

    class Spy(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            events.append("train_batch")

        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            events.append("test_batch")

        def on_test_end(self, logs=None):
            events.append("test_end")

        def on_epoch_end(self, epoch, logs=None):
            events.append("epoch_end")

    model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=(x, y), callbacks=[Spy()])
    assert events == [
        "train_batch",
        "train_batch",
        "test_begin",
        "test_batch",
        "test_batch",
        "test_end",
        "epoch_end",
    ]


def test_evaluate_and_predict_callbacks():
    x, y = _regression(n=20, seed=36)
    model = _linear(seed=37)
    events = []

    class Spy(callbacks.Callback):
        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            events.append(("test_batch", batch))

        def on_test_end(self, logs=None):
            events.append(("test_end", sorted(logs)))

        def on_predict_begin(self, logs=None):
            events.append("predict_begin")

        def on_predict_batch_end(self, batch, logs=None):
            events.append(("predict_batch", batch))

        def on_predict_end(self, logs=None):
            events.append("predict_end")

    model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[Spy()])
    model.predict(x, batch_size=16, verbose=0, callbacks=[Spy()])
    assert events == [
        "test_begin",
        ("test_batch", 0),
        ("test_batch", 1),
        ("test_batch", 2),
        ("test_end", ["loss"]),
        "predict_begin",
        ("predict_batch", 0),
        ("predict_batch", 1),
        "predict_end",
    ]
