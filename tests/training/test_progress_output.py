"""What fit/evaluate/predict print: Keras's progress lines, off a terminal printed once
per epoch without carriage returns; the numbers shown are History's."""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest

import graphc
from graphc import callbacks, layers, optimizers

BAR = "[==============================]"
TIME = r"\d+s \d+(?:us|ms|s)/step"
NUM = r"-?\d+\.\d{4}(?:e[+-]\d+)?"


def _model(seed=0, metrics=None):
    graphc.utils.set_random_seed(seed)
    inp = graphc.Input(shape=(4,))
    model = graphc.Model(
        inp, layers.Dense(3, activation="softmax")(layers.Dense(6, activation="relu")(inp))
    )
    model.compile(
        optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=metrics
    )
    return model


def _data(n=250, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


def _fmt(v):
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def test_verbose_1_off_a_terminal_prints_one_bar_per_epoch(capsys):
    x, y = _data()
    model = _model()
    hist = model.fit(x, y, epochs=3, verbose=1)  # 250 rows, batch 32 -> 8 steps
    out = capsys.readouterr().out
    assert "\r" not in out and "\b" not in out and "ETA" not in out
    lines = out.splitlines()
    assert len(lines) == 6, out
    pattern = re.compile(rf"^8/8 {re.escape(BAR)} - {TIME} - loss: ({NUM})$")
    for e in range(3):
        assert lines[2 * e] == f"Epoch {e + 1}/3"
        m = pattern.match(lines[2 * e + 1])
        assert m, lines[2 * e + 1]
        assert m.group(1) == _fmt(hist.history["loss"][e])


def test_verbose_auto_is_1(capsys):
    x, y = _data()
    _model().fit(x, y, epochs=2)
    auto = capsys.readouterr().out
    _model().fit(x, y, epochs=2, verbose=1)
    one = capsys.readouterr().out
    strip = re.compile(TIME)
    assert strip.sub("T", auto) == strip.sub("T", one)
    assert auto.count(BAR) == 2


def test_verbose_1_with_metrics_and_validation(capsys):
    x, y = _data()
    model = _model(metrics=["accuracy"])
    hist = model.fit(x, y, epochs=2, verbose=1, validation_split=0.2)  # 200 rows -> 7 steps
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    pattern = re.compile(
        rf"^7/7 {re.escape(BAR)} - {TIME} - accuracy: ({NUM}) - loss: "
        rf"({NUM}) - val_accuracy: ({NUM}) - val_loss: ({NUM})$"
    )
    h = hist.history
    for e in range(2):
        m = pattern.match(lines[2 * e + 1])
        assert m, lines[2 * e + 1]
        assert m.groups() == tuple(
            _fmt(h[k][e]) for k in ("accuracy", "loss", "val_accuracy", "val_loss")
        )


def test_verbose_2_one_line_per_epoch(capsys):
    x, y = _data()
    model = _model(metrics=["accuracy"])
    hist = model.fit(x, y, epochs=3, verbose=2, validation_data=(x[:50], y[:50]))
    out = capsys.readouterr().out
    assert "\r" not in out and "[" not in out
    lines = out.splitlines()
    assert len(lines) == 6
    pattern = re.compile(
        rf"^8/8 - \d+s - \d+(?:us|ms|s)/step - accuracy: ({NUM}) - loss: "
        rf"({NUM}) - val_accuracy: ({NUM}) - val_loss: ({NUM})$"
    )
    for e in range(3):
        assert lines[2 * e] == f"Epoch {e + 1}/3"
        m = pattern.match(lines[2 * e + 1])
        assert m, lines[2 * e + 1]
        assert m.group(2) == _fmt(hist.history["loss"][e])
        assert m.group(4) == _fmt(hist.history["val_loss"][e])


def test_verbose_0_is_silent(capsys):
    x, y = _data()
    model = _model(metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.1)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_one_epoch_prints_no_epoch_header_like_keras_3(capsys):
    x, y = _data()
    hist = _model().fit(x, y, epochs=1, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("8/8 " + BAR)
    assert lines[0].endswith(f"loss: {_fmt(hist.history['loss'][0])}")


def test_evaluate_prints_one_line_with_its_result(capsys):
    x, y = _data()
    model = _model(metrics=["accuracy"])
    result = model.evaluate(x, y, batch_size=50)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    m = re.match(rf"^5/5 {re.escape(BAR)} - {TIME} - accuracy: ({NUM}) - loss: ({NUM})$", lines[0])
    assert m, lines[0]
    assert m.groups() == (_fmt(result[1]), _fmt(result[0]))
    model.evaluate(x, y, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("8/8 - ")


def test_predict_prints_one_bar(capsys):
    x, _ = _data()
    _model().predict(x, batch_size=100)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert re.match(rf"^3/3 {re.escape(BAR)} - {TIME}$", lines[0]), lines[0]


def test_progress_loss_is_the_batch_size_weighted_running_mean(capsys):
    # 10 rows, batch 4: batches of 4, 4, 2. The epoch's loss is sum(size * loss) / 10.
    x, y = _data(n=10, seed=2)
    model = _model(seed=3)
    ref = _model(seed=3)
    batch = [ref.train_on_batch(x[s], y[s]) for s in (slice(0, 4), slice(4, 8), slice(8, 10))]
    hist = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=1)
    expected = (4 * batch[0] + 4 * batch[1] + 2 * batch[2]) / 10
    np.testing.assert_allclose(hist.history["loss"][0], expected, rtol=1e-6)
    line = capsys.readouterr().out.strip()
    assert line.startswith("3/3 " + BAR) and line.endswith(f"loss: {_fmt(expected)}")


def test_small_values_use_scientific_notation(capsys):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 2)).astype(np.float32)
    graphc.utils.set_random_seed(5)
    inp = graphc.Input(shape=(2,))
    model = graphc.Model(inp, layers.Dense(1, use_bias=False)(inp))
    model.set_weights([np.array([[1.0], [-2.0]], np.float32)])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    y = x @ np.array([[1.0], [-2.0]], np.float32) + np.float32(0.01)
    loss = model.evaluate(x, y, batch_size=16)
    line = capsys.readouterr().out.strip()
    np.testing.assert_allclose(loss, 1e-4, rtol=1e-3)
    assert line.endswith(f"loss: {loss:.4e}"), line


def test_on_a_terminal_the_bar_is_redrawn(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(
        graphc.progbar.time, "time", _Clock(step=1.0)
    )  # every update is past the redraw interval
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=1)
    monkeypatch.undo()
    out = stream.getvalue()
    # one frame per batch, then the epoch's final frame (as Keras), one newline at the end
    assert out.count("\r") == 9 and out.count("\n") == 1 and out.endswith("\n")
    frames = [f for f in out.split("\r") if f]
    assert frames[0].startswith("1/8 [==>....") and "ETA" in frames[0]
    assert frames[-1].startswith("8/8 " + BAR)


class _Clock:
    def __init__(self, step):
        self.now, self.step = 1000.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_callback_messages_are_printed(capsys):
    x, y = _data()
    model = _model(metrics=["accuracy"])
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0, verbose=1)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[stop])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_goes_to_stdout_only(capsys, verbose):
    x, y = _data()
    _model().fit(x, y, epochs=2, verbose=verbose)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.count("Epoch ") == 2
