"""Callbacks against a duck-typed fake model, driven by a minimal fit-like loop."""

import sys
import types

import numpy as np
import pytest

from graphc import callbacks as cb_mod
from graphc import progbar as progbar_mod
from graphc.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)


class FakeOptimizer:
    def __init__(self, lr=0.001):
        self._lr = lr

    @property
    def learning_rate(self):
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr = float(value)


class FakeMetric:
    def __init__(self, name, direction):
        self.name = name
        self._direction = direction


class FakeModel:
    def __init__(self, lr=0.001, metrics=()):
        self.stop_training = False
        self.optimizer = FakeOptimizer(lr)
        self.weights = [np.zeros(2), np.zeros(3)]
        self.metrics = list(metrics)
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, path):
        self.saved.append(("model", path))
        with open(path, "w") as f:
            f.write("model")

    def save_weights(self, path):
        self.saved.append(("weights", path))
        with open(path, "w") as f:
            f.write("weights")


def fit(model, callbacks, epoch_logs, batch_logs=None, steps=2, verbose=0):
    """A fit-like loop: weights become `epoch` during epoch `epoch`; stops like the trainer."""
    cbs = CallbackList(
        callbacks,
        add_history=True,
        model=model,
        verbose=verbose,
        epochs=len(epoch_logs),
        steps=steps,
    )
    cbs.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        cbs.on_epoch_begin(epoch)
        model.weights = [np.full(2, float(epoch)), np.full(3, float(epoch))]
        for batch in range(steps):
            cbs.on_train_batch_begin(batch)
            blogs = batch_logs[epoch][batch] if batch_logs else {"loss": logs.get("loss", 0.0)}
            cbs.on_train_batch_end(batch, blogs)
            if model.stop_training:
                break
        cbs.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    cbs.on_train_end()
    return cbs.history


def val(*values):
    return [{"loss": 1.0, "val_loss": v} for v in values]


# ----------------------------------------------------------------- base / list / history
def test_callback_defaults_and_legacy_batch_aliases():
    calls = []

    class Legacy(Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, logs["loss"]))

    c = Legacy()
    assert c.model is None and c.params is None
    model = FakeModel()
    cbs = CallbackList([c], model=model, epochs=1, steps=1, verbose=0)
    assert c.model is model and c.params == {"epochs": 1, "steps": 1, "verbose": 0}
    cbs.on_train_batch_begin(0)
    cbs.on_train_batch_end(0, {"loss": 2.0})
    cbs.on_batch_end(1, {"loss": 3.0})
    assert calls == [("begin", 0), ("end", 0, 2.0), ("end", 1, 3.0)]


def test_callback_list_pythonifies_sorted_shared_logs():
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    model = FakeModel()
    hist = fit(
        model,
        [ReduceLROnPlateau(monitor="loss", patience=5), Spy()],
        [
            {
                "val_loss": np.float32(0.5),
                "loss": np.float64(1.5),
                "out": {"age_loss": np.float32(0.25)},
            }
        ],
    )
    logs = seen[0]
    # flattened and sorted by CallbackList; learning_rate appended by ReduceLROnPlateau
    assert list(logs) == ["loss", "age_loss", "val_loss", "learning_rate"]
    assert all(type(v) is float for v in logs.values())
    # A key added by an earlier callback reaches History (which goes last).
    assert hist.history["learning_rate"] == [0.001]


def test_callback_list_default_callbacks_and_order():
    h, p = History(), ProgbarLogger()
    cbs = CallbackList([h, p], add_history=True, add_progbar=True)
    assert cbs.callbacks == [h, p]
    other = Callback()
    cbs = CallbackList(
        [[other]],
        add_history=True,
        add_progbar=True,
        model=FakeModel(),
        epochs=1,
        steps=1,
        verbose=0,
    )
    assert cbs.callbacks[0] is other
    assert isinstance(cbs.callbacks[1], History) and isinstance(cbs.callbacks[2], ProgbarLogger)
    assert cbs.model.history is cbs.history


def test_history_records_epochs():
    model = FakeModel()
    hist = fit(model, [], [{"loss": 3.0, "val_loss": 4.0}, {"loss": 2.0, "val_loss": 3.5}])
    assert hist.history == {"loss": [3.0, 2.0], "val_loss": [4.0, 3.5]}
    assert hist.epoch == [0, 1]
    assert model.history is hist


# ------------------------------------------------------------------------ EarlyStopping
def test_early_stopping_patience_and_restore_best_weights(capsys):
    model = FakeModel()
    es = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    hist = fit(model, [es], val(1.0, 0.9, 0.95, 0.96, 0.97, 0.98))
    assert hist.epoch == [0, 1, 2, 3]
    assert es.stopped_epoch == 3 and es.best == 0.9 and es.best_epoch == 1
    assert np.array_equal(model.weights[0], [1.0, 1.0])
    assert capsys.readouterr().out == (
        "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_early_stopping_without_restore_keeps_last_weights(capsys):
    model = FakeModel()
    fit(model, [EarlyStopping(patience=1)], val(1.0, 2.0, 3.0))
    assert np.array_equal(model.weights[0], [1.0, 1.0])
    assert capsys.readouterr().out == ""  # verbose=0


def test_early_stopping_patience_zero_stops_at_first_worse_epoch():
    model = FakeModel()
    hist = fit(model, [EarlyStopping(monitor="val_loss")], val(1.0, 0.5, 0.6, 0.4))
    assert hist.epoch == [0, 1, 2]


def test_early_stopping_baseline():
    # Epoch 0 improves on "nothing" but not on the baseline, so wait keeps counting.
    model = FakeModel()
    hist = fit(model, [EarlyStopping(patience=2, baseline=0.5)], val(0.9, 0.95, 0.96, 0.97))
    assert hist.epoch == [0, 1]
    model = FakeModel()
    hist = fit(model, [EarlyStopping(patience=2)], val(0.9, 0.95, 0.96, 0.97))
    assert hist.epoch == [0, 1, 2]


def test_early_stopping_min_delta():
    model = FakeModel()
    es = EarlyStopping(min_delta=0.1, patience=1)
    hist = fit(model, [es], val(1.0, 0.95, 0.85, 0.5))
    assert hist.epoch == [0, 1] and es.best == 1.0
    model = FakeModel()
    hist = fit(model, [EarlyStopping(min_delta=0.01, patience=1)], val(1.0, 0.95, 0.85, 0.5))
    assert hist.epoch == [0, 1, 2, 3]


def test_early_stopping_modes():
    acc = [{"val_accuracy": v} for v in (0.5, 0.6, 0.55, 0.7)]
    model = FakeModel()
    hist = fit(model, [EarlyStopping(monitor="val_accuracy", patience=1)], acc)
    assert hist.epoch == [0, 1, 2]  # auto -> max
    model = FakeModel()
    hist = fit(model, [EarlyStopping(monitor="val_accuracy", mode="min", patience=1)], acc)
    assert hist.epoch == [0, 1]
    for name in ("acc", "val_auc", "val_out_accuracy"):
        es = EarlyStopping(monitor=name)
        es.set_model(FakeModel())
        es._set_monitor_op()
        assert es._is_improvement(0.9, 0.8)
    for name in ("loss", "val_age_loss", "mae", "val_mean_squared_error"):
        es = EarlyStopping(monitor=name)
        es.set_model(FakeModel())
        es._set_monitor_op()
        assert es._is_improvement(0.8, 0.9)


def test_auto_mode_uses_model_metric_direction_and_rejects_unknown():
    es = EarlyStopping(monitor="val_score")
    es.set_model(
        FakeModel(
            metrics=[
                types.SimpleNamespace(name="compile_metrics", metrics=[FakeMetric("score", "up")])
            ]
        )
    )
    es._set_monitor_op()
    assert es._is_improvement(2.0, 1.0)
    es = EarlyStopping(monitor="val_score")
    es.set_model(FakeModel())
    with pytest.raises(ValueError, match="mode='max'"):
        es._set_monitor_op()


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'bogus' is unknown"):
        es = EarlyStopping(mode="bogus")
    assert es.mode == "auto"


def test_early_stopping_missing_monitor_warns():
    model = FakeModel()
    with pytest.warns(
        UserWarning, match="`val_loss` which is not available. Available metrics are: loss"
    ):
        hist = fit(model, [EarlyStopping()], [{"loss": 1.0}] * 3)
    assert hist.epoch == [0, 1, 2]


def test_early_stopping_start_from_epoch():
    hist = fit(FakeModel(), [EarlyStopping(patience=0)], val(1.0, 2.0, 3.0, 4.0, 5.0))
    assert hist.epoch == [0, 1]
    hist = fit(
        FakeModel(), [EarlyStopping(patience=0, start_from_epoch=2)], val(1.0, 2.0, 3.0, 4.0, 5.0)
    )
    assert hist.epoch == [0, 1, 2, 3]


def test_early_stopping_reusable_across_fits():
    es = EarlyStopping(patience=0)
    fit(FakeModel(), [es], val(1.0, 2.0))
    assert es.stopped_epoch == 1
    hist = fit(FakeModel(), [es], val(5.0, 4.0, 3.0))
    assert es.stopped_epoch == 0 and hist.epoch == [0, 1, 2]


# ---------------------------------------------------------------------- ModelCheckpoint
def test_checkpoint_file_names(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.2f}.graphc")
    fit(model, [ModelCheckpoint(path)], val(0.5, 0.4))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "m-01-0.50.graphc",
        "m-02-0.40.graphc",
    ]
    assert [kind for kind, _ in model.saved] == ["model", "model"]


def test_checkpoint_save_best_only_messages(tmp_path, capsys):
    model = FakeModel()
    path = str(tmp_path / "best.graphc")
    fit(model, [ModelCheckpoint(path, save_best_only=True, verbose=1)], val(0.5, 0.6, 0.4))
    assert model.saved == [("model", path), ("model", path)]
    assert capsys.readouterr().out == (
        f"\nEpoch 1: val_loss improved from None to 0.50000, saving model to {path}\n"
        f"\nEpoch 1: finished saving model to {path}\n"
        "\nEpoch 2: val_loss did not improve from 0.50000\n"
        f"\nEpoch 3: val_loss improved from 0.50000 to 0.40000, saving model to {path}\n"
        f"\nEpoch 3: finished saving model to {path}\n"
    )


def test_checkpoint_save_best_only_max_mode_and_threshold(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "w-{epoch}.weights.npz")
    cb = ModelCheckpoint(
        path,
        monitor="val_accuracy",
        save_best_only=True,
        save_weights_only=True,
        initial_value_threshold=0.55,
    )
    fit(model, [cb], [{"val_accuracy": v} for v in (0.5, 0.6, 0.58, 0.7)])
    assert model.saved == [
        ("weights", str(tmp_path / "w-2.weights.npz")),
        ("weights", str(tmp_path / "w-4.weights.npz")),
    ]


def test_checkpoint_plain_message(tmp_path, capsys):
    model = FakeModel()
    path = str(tmp_path / "m.graphc")
    fit(model, [ModelCheckpoint(path, verbose=1)], val(0.5))
    assert capsys.readouterr().out == (
        f"\nEpoch 1: saving model to {path}\n\nEpoch 1: finished saving model to {path}\n"
    )


def test_checkpoint_save_best_only_missing_monitor_saves_and_warns(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        fit(
            model,
            [ModelCheckpoint(str(tmp_path / "m.graphc"), save_best_only=True)],
            [{"loss": 1.0}],
        )
    assert len(model.saved) == 1


def test_checkpoint_integer_save_freq(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "m-{epoch}-{batch}.graphc")
    fit(model, [ModelCheckpoint(path, save_freq=3)], val(0.5, 0.4), steps=4)
    # batches seen: e0 b0..b3, e1 b0..b3 -> saves after the 3rd and 6th batch
    assert [p for _, p in model.saved] == [
        str(tmp_path / "m-1-3.graphc"),
        str(tmp_path / "m-2-2.graphc"),
    ]


def test_checkpoint_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        ModelCheckpoint("m.graphc", save_freq="batch")
    model = FakeModel()
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        fit(model, [ModelCheckpoint(str(tmp_path / "{val_acc}.graphc"))], val(0.5))


# ------------------------------------------------------------------------ TerminateOnNaN
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_terminate_on_nan(capsys, bad):
    model = FakeModel()
    batch_logs = [[{"loss": 1.0}, {"loss": bad}, {"loss": 1.0}]]
    seen = []
    spy = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    hist = fit(
        model,
        [TerminateOnNaN(), spy],
        [{"loss": bad}, {"loss": 1.0}],
        batch_logs=batch_logs,
        steps=3,
    )
    assert model.stop_training is True
    assert seen == [0, 1] and hist.epoch == [0]
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"


def test_terminate_on_nan_raise_error():
    cb = TerminateOnNaN(raise_error=True)
    cb.set_model(FakeModel())
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 4"):
        cb.on_train_batch_end(4, {"loss": float("nan")})


# ---------------------------------------------------------------- LearningRateScheduler
def test_learning_rate_scheduler_sets_lr_and_logs(capsys):
    model = FakeModel(lr=1.0)
    seen = []
    spy = LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(model.optimizer.learning_rate))
    sched = LearningRateScheduler(lambda epoch, lr: lr * 0.5, verbose=1)
    hist = fit(model, [sched, spy], [{"loss": 1.0}] * 3)
    assert seen == [0.5, 0.25, 0.125]
    assert hist.history["learning_rate"] == [0.5, 0.25, 0.125]
    assert capsys.readouterr().out == (
        "\nEpoch 1: LearningRateScheduler setting learning rate to 0.5.\n"
        "\nEpoch 2: LearningRateScheduler setting learning rate to 0.25.\n"
        "\nEpoch 3: LearningRateScheduler setting learning rate to 0.125.\n"
    )


def test_learning_rate_scheduler_old_api_and_type_check():
    model = FakeModel()
    fit(model, [LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))], [{"loss": 1.0}] * 2)
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    with pytest.raises(ValueError, match="should be a float"):
        fit(FakeModel(), [LearningRateScheduler(lambda epoch, lr: 1)], [{"loss": 1.0}])


# -------------------------------------------------------------------- ReduceLROnPlateau
def test_reduce_lr_on_plateau_cooldown_and_min_lr(capsys):
    model = FakeModel(lr=0.001)
    lrs = []
    spy = LambdaCallback(on_epoch_end=lambda e, logs: lrs.append(model.optimizer.learning_rate))
    rlr = ReduceLROnPlateau(patience=1, cooldown=2, min_lr=1e-5, verbose=1)
    hist = fit(model, [rlr, spy], val(*[1.0] * 7))
    assert lrs == [0.001, 0.0001, 0.0001, 1e-05, 1e-05, 1e-05, 1e-05]
    # logged before the reduction, as Keras
    assert hist.history["learning_rate"] == [0.001, 0.001, 0.0001, 0.0001, 1e-05, 1e-05, 1e-05]
    assert capsys.readouterr().out == (
        "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.0001.\n"
        "\nEpoch 4: ReduceLROnPlateau reducing learning rate to 1e-05.\n"
    )


def test_reduce_lr_on_plateau_improvement_resets_wait():
    model = FakeModel(lr=0.1)
    rlr = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    fit(model, [rlr], val(1.0, 1.0, 0.5, 0.5, 0.5))
    assert model.optimizer.learning_rate == 0.05  # only after epochs 3-4 without progress
    # min_delta: 0.99995 is not better than 1.0 by 1e-4
    model = FakeModel(lr=0.1)
    fit(model, [ReduceLROnPlateau(factor=0.5, patience=1)], val(1.0, 0.99995))
    assert model.optimizer.learning_rate == 0.05


def test_reduce_lr_on_plateau_max_mode_and_errors():
    model = FakeModel(lr=0.1)
    fit(
        model,
        [ReduceLROnPlateau(monitor="val_accuracy", patience=1)],
        [{"val_accuracy": v} for v in (0.5, 0.6, 0.4)],
    )
    assert model.optimizer.learning_rate == 0.01
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned on metric"):
        fit(FakeModel(), [ReduceLROnPlateau()], [{"loss": 1.0}])


# ----------------------------------------------------------------------------- CSVLogger
def test_csv_logger_content_and_append(tmp_path):
    path = tmp_path / "log.csv"
    fit(
        FakeModel(),
        [CSVLogger(path)],
        [
            {"val_loss": 0.6, "loss": 0.5, "accuracy": 0.25},
            {"val_loss": 0.5, "loss": 0.4, "accuracy": 0.75},
        ],
    )
    expected = "epoch,accuracy,loss,val_loss\r\n0,0.25,0.5,0.6\r\n1,0.75,0.4,0.5\r\n"
    assert path.read_bytes().decode() == expected
    fit(
        FakeModel(),
        [CSVLogger(path, append=True)],
        [{"val_loss": 0.3, "loss": 0.2, "accuracy": 1.0}],
    )
    assert path.read_bytes().decode() == expected + "0,1.0,0.2,0.3\r\n"
    fit(FakeModel(), [CSVLogger(path)], [{"val_loss": 0.3, "loss": 0.2, "accuracy": 1.0}])
    assert path.read_bytes().decode() == "epoch,accuracy,loss,val_loss\r\n0,1.0,0.2,0.3\r\n"


def test_csv_logger_adds_val_columns_and_separator(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(str(path), separator=";")

    class Check(Callback):
        def on_epoch_end(self, epoch, logs=None):
            # flushed after every epoch, before training ends
            self.text = path.read_text()

    check = Check()
    fit(FakeModel(), [logger, check], [{"loss": 0.5, "mae": 0.25}])
    assert check.text == "epoch;loss;mae;val_loss;val_mae\n0;0.5;0.25;NA;NA\n"
    assert logger.csv_file.closed


def test_csv_logger_append_to_new_file_writes_header(tmp_path):
    path = tmp_path / "new.csv"
    fit(FakeModel(), [CSVLogger(path, append=True)], [{"loss": 0.5, "val_loss": 1.0}])
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n0,0.5,1.0\r\n"


# ------------------------------------------------------------------------ LambdaCallback
def test_lambda_callback_hooks():
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_train_batch_begin=lambda batch, logs: calls.append(f"batch_begin {batch}"),
        on_train_batch_end=lambda batch, logs: calls.append(f"batch_end {batch}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {logs['loss']}"),
        on_train_end=lambda logs: calls.append("train_end"),
        on_test_end=lambda logs: calls.append("test_end"),
    )
    fit(FakeModel(), [cb], [{"loss": 1.5}], steps=1)
    CallbackList([cb]).on_test_end()
    assert calls == [
        "train_begin",
        "epoch_begin 0",
        "batch_begin 0",
        "batch_end 0",
        "epoch_end 0 1.5",
        "train_end",
        "test_end",
    ]


# ------------------------------------------------------------------------- ProgbarLogger
class FakeStream:
    def __init__(self, tty):
        self.tty = tty
        self.writes = []

    def isatty(self):
        return self.tty

    def write(self, s):
        self.writes.append(s)

    def flush(self):
        pass

    @property
    def text(self):
        return "".join(self.writes)


@pytest.fixture
def clock(monkeypatch):
    state = types.SimpleNamespace(now=1000.0)
    monkeypatch.setattr(progbar_mod, "time", types.SimpleNamespace(time=lambda: state.now))
    return state


def progbar_fit(monkeypatch, clock, tty, verbose, epochs=2, steps=4, validation=True, extra=()):
    stream = FakeStream(tty)
    monkeypatch.setattr(sys, "stdout", stream)
    cbs = CallbackList(
        list(extra),
        add_history=True,
        add_progbar=True,
        model=FakeModel(),
        verbose=verbose,
        epochs=epochs,
        steps=steps,
    )
    cbs.on_train_begin()
    for epoch in range(epochs):
        clock.now = 1000.0
        cbs.on_epoch_begin(epoch)
        for batch in range(steps):
            clock.now = 1000.010 + 0.002 * batch
            cbs.on_train_batch_end(batch, {"loss": 11.0 + batch / 10, "accuracy": 0.5})
        logs = {"loss": 11.6211, "accuracy": 0.5}
        if validation:
            cbs.on_test_begin()
            cbs.on_test_batch_end(0, {"loss": 99.0})
            cbs.on_test_end({"loss": 11.5})
            logs["val_loss"] = 11.5
        cbs.on_epoch_end(epoch, logs)
    cbs.on_train_end()
    return stream


def test_progbar_logger_non_terminal(monkeypatch, clock):
    stream = progbar_fit(monkeypatch, clock, tty=False, verbose="auto")
    line = (
        "4/4 [==============================] - 0s 2ms/step - accuracy: 0.5000"
        " - loss: 11.6211 - val_loss: 11.5000\n"
    )
    assert stream.text == "Epoch 1/2\n" + line + "Epoch 2/2\n" + line


def test_progbar_logger_terminal(monkeypatch, clock):
    stream = progbar_fit(monkeypatch, clock, tty=True, verbose=1, epochs=1)
    # One epoch: no "Epoch 1/1" line. Batch logs are running means: shown as given.
    assert stream.writes[0] == (
        "\r1/4 [======>.......................] - ETA: 0s - accuracy: 0.5000 - loss: 11.0000"
    )
    assert len(stream.writes) == 2  # batches 2 ms apart: redraws throttled by interval=0.05
    assert stream.writes[-1] == (
        "\r4/4 [==============================] - 0s 2ms/step - accuracy: "
        "0.5000 - loss: 11.6211 - val_loss: 11.5000\n"
    )


def test_progbar_logger_verbose2(monkeypatch, clock):
    stream = progbar_fit(monkeypatch, clock, tty=True, verbose=2)
    # verbose=2 sees no batch updates, so the first step is not excluded (as Keras 3)
    line = "4/4 - 0s - 4ms/step - accuracy: 0.5000 - loss: 11.6211 - val_loss: 11.5000\n"
    assert stream.text == "Epoch 1/2\n" + line + "Epoch 2/2\n" + line


def test_progbar_logger_verbose0_silent(monkeypatch, clock):
    assert progbar_fit(monkeypatch, clock, tty=True, verbose=0).text == ""


def test_progbar_logger_shows_learning_rate_added_by_callbacks(monkeypatch, clock):
    stream = progbar_fit(
        monkeypatch,
        clock,
        tty=False,
        verbose=1,
        epochs=1,
        validation=False,
        extra=[ReduceLROnPlateau(monitor="loss")],
    )
    assert stream.text == (
        "4/4 [==============================] - 0s 2ms/step - accuracy: 0.5000"
        " - loss: 11.6211 - learning_rate: 1.0000e-03\n"
    )


def test_progbar_logger_averages_stateless_by_batch_size(monkeypatch, clock):
    stream = FakeStream(tty=True)
    monkeypatch.setattr(sys, "stdout", stream)
    cbs = CallbackList(
        [ProgbarLogger(stateful_metrics=())], model=FakeModel(), verbose=1, epochs=1, steps=3
    )
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    for batch, (loss, size) in enumerate([(1.0, 32), (2.0, 32), (4.0, 16)]):
        clock.now += 1.0
        cbs.on_train_batch_end(batch, {"loss": loss, "size": size, "batch": batch})
    assert stream.writes[-1].endswith(" - loss: 2.0000")  # (32 + 64 + 64) / 80
    assert "size" not in stream.text and "batch" not in stream.text


def test_progbar_logger_evaluate_and_unknown_steps(monkeypatch, clock):
    stream = FakeStream(tty=False)
    monkeypatch.setattr(sys, "stdout", stream)
    cbs = CallbackList(None, add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=None)
    cbs.on_test_begin()
    for batch in range(3):
        clock.now = 1000.5 * (batch + 1) - 1000.0 * batch
        cbs.on_test_batch_end(batch, {"loss": 2.0})
    cbs.on_test_end({"loss": 2.0})
    assert stream.text == "3/3 [==============================] - 2s 500ms/step - loss: 2.0000\n"


def test_callback_module_prints_to_current_stdout(capsys):
    cb_mod._print_msg("hello")
    assert capsys.readouterr().out == "hello\n"
