"""Exact text of the Keras-style progress bar, on and off a terminal."""

import types

import pytest

from graphc import progbar as progbar_mod
from graphc.progbar import Progbar


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


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def time(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(progbar_mod, "time", types.SimpleNamespace(time=c.time))
    return c


LOSSES = [11.6213, 11.6212, 11.6213, 11.6210, 11.6211, 11.6212, 11.6209, 11.6218]


def run_epoch(bar, clock, losses=LOSSES, first=0.010, per_step=0.002, start=1000.0):
    """Step k ends at start + first + per_step * (k - 1): 10 ms warm-up, then 2 ms/step."""
    for k, loss in enumerate(losses, start=1):
        clock.now = start + first + per_step * (k - 1)
        bar.update(k, [("loss", loss)], finalize=False)


def test_non_terminal_verbose1_prints_only_final_line(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(8, stream=stream, interval=0, stateful_metrics=["loss"])
    run_epoch(bar, clock)
    assert stream.writes == []
    bar.update(8, [("loss", 11.6211)], finalize=True)
    assert stream.text == "8/8 [==============================] - 0s 2ms/step - loss: 11.6211\n"
    assert "\r" not in stream.text and "\b" not in stream.text


def test_non_terminal_auto_finalize_averages_values(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(4, stream=stream)
    for k, v in enumerate([1.0, 2.0, 3.0, 6.0], start=1):
        clock.now = 1000.0 + k
        bar.update(k, [("loss", v)])
    # current >= target finalizes; the mean includes the last update.
    assert stream.text == "4/4 [==============================] - 4s 1s/step - loss: 3.0000\n"


def test_terminal_verbose1_redraws_with_carriage_return(clock):
    stream = FakeStream(tty=True)
    bar = Progbar(8, stream=stream, interval=0, stateful_metrics=["loss"])
    run_epoch(bar, clock)
    assert len(stream.writes) == 8
    assert stream.writes[0] == "\r1/8 [==>...........................] - ETA: 0s - loss: 11.6213"
    assert stream.writes[2] == "\r3/8 [==========>...................] - ETA: 0s - loss: 11.6213"
    assert stream.writes[7] == "\r8/8 [==============================] - ETA: 0s - loss: 11.6218"
    bar.update(8, [("loss", 11.6211)], finalize=True)
    assert stream.writes[8] == (
        "\r8/8 [==============================] - 0s 2ms/step - loss: 11.6211\n"
    )


def test_terminal_pads_when_line_shrinks(clock):
    stream = FakeStream(tty=True)
    bar = Progbar(10, stream=stream, interval=0, stateful_metrics=["m"])
    clock.now = 1000.0 + 2000.0  # first step takes 2000 s: ETA 5:00:00
    bar.update(1, [("m", 1.0)])
    first = "\r 1/10 [==>...........................] - ETA: 5:00:00 - m: 1.0000"
    assert stream.writes[0] == first
    clock.now += 1.0
    bar.update(2, [("m", 1.0)])
    line = " 2/10 [=====>........................] - ETA: 8s - m: 1.0000"
    assert stream.writes[1] == "\r" + line + " " * (len(first) - 1 - len(line))


def test_terminal_interval_throttles_but_final_always_prints(clock):
    stream = FakeStream(tty=True)
    bar = Progbar(3, stream=stream, interval=0.05)
    clock.now = 1000.01
    bar.update(1)  # first update always prints (last update is "never")
    clock.now = 1000.02
    bar.update(2)  # 10 ms later: throttled
    clock.now = 1000.03
    bar.update(3)  # final
    assert len(stream.writes) == 2
    assert stream.writes[1] == "\r3/3 [==============================] - 0s 10ms/step\n"


def test_verbose2_one_line_at_finalize(clock):
    stream = FakeStream(tty=True)
    bar = Progbar(8, verbose=2, stream=stream, stateful_metrics=["loss"])
    run_epoch(bar, clock)
    assert stream.writes == []
    bar.update(8, [("loss", 11.6211), ("val_loss", 11.5)], finalize=True)
    assert stream.text == "8/8 - 0s - 2ms/step - loss: 11.6211 - val_loss: 11.5000\n"


def test_verbose2_same_off_terminal(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(2, verbose=2, stream=stream)
    clock.now = 1001.5
    bar.update(1, [("loss", 1.0)])
    clock.now = 1003.0
    bar.update(2, [("loss", 2.0)])
    assert stream.text == "2/2 - 3s - 2s/step - loss: 1.5000\n"


def test_verbose0_silent(clock):
    stream = FakeStream(tty=True)
    bar = Progbar(2, verbose=0, stream=stream)
    bar.update(1, [("loss", 1.0)])
    bar.update(2, [("loss", 1.0)])
    assert stream.writes == []


def test_running_mean_weighted_by_steps_advanced(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(5, stream=stream)
    bar.update(1, [("loss", 1.0)])
    bar.update(3, [("loss", 4.0)])  # advanced 2 steps: weight 2
    bar.update(5, [("loss", 1.0)])  # weight 2
    # (1*1 + 4*2 + 1*2) / 5
    assert stream.text.endswith(" - loss: 2.2000\n")


def test_running_mean_with_explicit_weights(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(3, stream=stream)
    bar.update(1, [("loss", 1.0, 32)])
    bar.update(2, [("loss", 2.0, 32)])
    bar.update(3, [("loss", 4.0, 16)])
    # weighted by batch size: (32 + 64 + 64) / 80
    assert stream.text.endswith(" - loss: 2.0000\n")


def test_stateful_values_shown_as_given(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(3, stream=stream, stateful_metrics=["acc"])
    bar.update(1, [("acc", 0.1), ("loss", 3.0)])
    bar.update(2, [("acc", 0.2), ("loss", 1.0)])
    bar.update(3, [("acc", 0.9), ("loss", 2.0)])
    assert stream.text.endswith(" - acc: 0.9000 - loss: 2.0000\n")


def test_value_formatting(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(1, stream=stream, stateful_metrics=["a", "b", "c", "d"])
    bar.update(1, [("a", 1e-4), ("b", -0.5), ("c", 0.0), ("d", float("nan"))])
    assert stream.text.endswith(" - a: 1.0000e-04 - b: -0.5000 - c: 0.0000e+00 - d: nan\n")


@pytest.mark.parametrize(
    "seconds, eta",
    [(3723.0, "1:02:03"), (125.0, "2:05"), (45.0, "45s"), (0.4, "0s")],
)
def test_eta_formats(clock, seconds, eta):
    stream = FakeStream(tty=True)
    bar = Progbar(2, stream=stream)
    clock.now = 1000.0 + seconds  # one step took `seconds`; one step left
    bar.update(1)
    assert stream.writes[0] == f"\r1/2 [==============>...............] - ETA: {eta}"


@pytest.mark.parametrize(
    "per_step, text",
    [(2.0, "2s/step"), (0.25, "250ms/step"), (0.00005, "50us/step"), (0.0, "0s/step")],
)
def test_time_per_step_formats(clock, per_step, text):
    stream = FakeStream(tty=False)
    bar = Progbar(1, stream=stream)
    clock.now = 1000.0 + per_step
    bar.update(1)
    assert stream.text == f"1/1 [==============================] - {per_step:.0f}s {text}\n"


def test_time_per_step_ignores_first_step(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(3, stream=stream, unit_name="sample")
    clock.now = 1005.0  # slow first step
    bar.update(1)
    clock.now = 1005.1
    bar.update(2)
    clock.now = 1005.2
    bar.update(3)
    assert stream.text == "3/3 [==============================] - 5s 100ms/sample\n"


def test_unknown_target(clock):
    stream = FakeStream(tty=True)
    bar = Progbar(None, stream=stream, interval=0)
    clock.now = 1000.2
    bar.update(1, [("loss", 1.0)])
    assert stream.writes[0] == "\r      1/Unknown - 0s 200ms/step - loss: 1.0000"
    bar.update(2, [("loss", 1.0)], finalize=True)
    assert stream.writes[1].endswith("\n")


def test_add_advances(clock):
    stream = FakeStream(tty=False)
    bar = Progbar(4, stream=stream)
    bar.add(2, [("loss", 1.0)])
    bar.add(2, [("loss", 3.0)])
    assert stream.text.startswith("4/4 [====")
    assert stream.text.endswith(" - loss: 2.0000\n")


def test_target_digits_are_padded(clock):
    stream = FakeStream(tty=True)
    bar = Progbar(100, stream=stream, width=10)
    clock.now = 1000.0
    bar.update(5)
    assert stream.writes[0] == "\r  5/100 [..........] - ETA: 0s"


def test_default_stream_is_stdout_at_call_time(clock, capsys):
    bar = Progbar(1)  # created before capsys's stdout is consulted
    bar.update(1, [("loss", 0.5)])
    out = capsys.readouterr().out
    assert out == "1/1 [==============================] - 0s 0s/step - loss: 0.5000\n"
