"""Keras-style text progress bar.

The format is Keras 2's / tf.keras's (``8/8 [=====>....] - ETA: 0s - loss: 0.1234``);
the bookkeeping follows Keras 3 (time per step excludes the first step, which usually
pays for warm-up).

Example::

    bar = Progbar(target=8)
    for step in range(1, 9):
        bar.update(step, [("loss", 0.5)])
"""

import math
import sys
import time

import numpy as np

__all__ = ["Progbar"]


def _format_value(value):
    """Format a metric the way Keras does: 4 decimals, or scientific when tiny."""
    if isinstance(value, str):
        return f" {value}"
    try:
        value = float(np.mean(value))
    except (TypeError, ValueError):
        return f" {value}"
    if abs(value) > 1e-3:
        return f" {value:.4f}"
    return f" {value:.4e}"


def _format_time(time_per_unit, unit_name):
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1e3:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1e6:.0f}us/{unit_name}"


def _format_eta(eta):
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


class Progbar:
    """Displays a progress bar.

    Args:
        target: total number of steps expected, ``None`` (or 0) if unknown.
        width: width of the ``[===>...]`` bar in characters.
        verbose: 0 silent, 1 a live bar, 2 one line when the bar is finalized.
        interval: minimum time in seconds between two redraws on a terminal.
        stateful_metrics: names whose values are displayed as given. Every other
            value is averaged over the updates, weighted by the number of steps
            each update advanced (or by an explicit weight, see ``update``).
        unit_name: display name of a step (``"step"``, ``"sample"``).
        stream: file to write to; ``None`` means ``sys.stdout`` looked up at each
            write, so redirection (and pytest's capsys) is honoured.

    On a terminal (``stream.isatty()``, or inside IPython) verbose=1 redraws the
    line in place with ``\\r``. Elsewhere (logs, CI, pipes) it writes no carriage
    returns and prints only the final line, once, when the bar is finalized.

    Example::

        >>> bar = Progbar(2, verbose=2)
        >>> bar.update(1, [("loss", 1.0)])
        >>> bar.update(2, [("loss", 3.0)])       # doctest: +SKIP
        2/2 - 0s - 0s/step - loss: 2.0000
    """

    def __init__(
        self,
        target,
        width=30,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        unit_name="step",
        stream=None,
    ):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()
        self._seen_so_far = 0
        # name -> [weighted sum, total weight]; order of first appearance kept apart.
        self._values = {}
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._time_after_first_step = None
        self._prev_total_width = 0

    # ------------------------------------------------------------------ helpers
    def _stream(self):
        return self.stream if self.stream is not None else sys.stdout

    def _is_dynamic(self, stream):
        isatty = getattr(stream, "isatty", None)
        try:
            if isatty is not None and isatty():
                return True
        except (ValueError, OSError):  # closed or detached stream
            return False
        # Notebooks render '\r' although their stdout is not a tty.
        return stream is sys.stdout and "ipykernel" in sys.modules

    def _write(self, stream, message):
        if not is_interactive_logging_enabled() and self.stream is None:
            log_message(message)
            return
        stream.write(message)
        flush = getattr(stream, "flush", None)
        if flush is not None:
            flush()

    def _has_target(self):
        return self.target is not None and self.target > 0

    def _estimate_step_duration(self, current, now):
        # The first step usually includes warm-up, so once it is done later
        # estimates measure from its end (as Keras does).
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit

    def _metrics_text(self):
        info = ""
        for k in self._values_order:
            total, weight = self._values[k]
            # weight 1 keeps a stateful value (even a non-number) exactly as given.
            avg = total if weight == 1 or not weight else total / weight
            info += f" - {k}:" + _format_value(avg)
        return info

    # ------------------------------------------------------------------ public
    def update(self, current, values=None, finalize=None):
        """Move the bar to step ``current``.

        Args:
            current: index of the current step (1-based count of steps done).
            values: list of ``(name, value)`` pairs, or ``(name, value, weight)``
                triples. A stateful name is displayed as given; any other is
                averaged over the epoch, weighted by ``weight`` if given (e.g. the
                batch size) else by the number of steps since the last update.
            finalize: whether this is the last update; ``None`` means
                ``current >= target``.
        """
        if finalize is None:
            finalize = self._has_target() and current >= self.target

        for item in values or []:
            if len(item) == 3:
                k, v, w = item
            else:
                (k, v), w = item, None
            if k not in self._values_order:
                self._values_order.append(k)
            if k in self.stateful_metrics:
                self._values[k] = [v, 1]
                continue
            if w is None:
                # At least 1, so a repeated update at the same step still counts.
                w = max(current - self._seen_so_far, 1)
            if k not in self._values:
                self._values[k] = [v * w, w]
            else:
                self._values[k][0] += v * w
                self._values[k][1] += w
        self._seen_so_far = current

        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            stream = self._stream()
            dynamic = self._is_dynamic(stream)
            if not dynamic and not finalize:
                # Off a terminal the line cannot be redrawn: print it once, at the end.
                return

            if self._has_target():
                numdigits = int(math.log10(self.target)) + 1
                bar = ("%" + str(numdigits) + "d/%d [") % (current, self.target)
                prog = min(float(current) / self.target, 1.0)
                prog_width = int(self.width * prog)
                if prog_width > 0:
                    bar += "=" * (prog_width - 1)
                    bar += ">" if current < self.target else "="
                bar += "." * (self.width - prog_width)
                bar += "]"
            else:
                bar = "%7d/Unknown" % current

            if finalize or not self._has_target():
                info = f" - {now - self._start:.0f}s"
                info += _format_time(time_per_unit, self.unit_name)
            else:
                eta = time_per_unit * (self.target - current)
                info = f" - ETA: {_format_eta(eta)}"
            info += self._metrics_text()

            total_width = len(bar) + len(info)
            message = ""
            if dynamic:
                message = "\r"
                if self._prev_total_width > total_width:
                    info += " " * (self._prev_total_width - total_width)
            message += bar + info
            if finalize:
                message += "\n"
            self._write(stream, message)
            self._prev_total_width = 0 if finalize else total_width

        elif self.verbose == 2:
            if finalize and self._has_target():
                numdigits = int(math.log10(self.target)) + 1
                count = ("%" + str(numdigits) + "d/%d") % (current, self.target)
                info = f"{count} - {now - self._start:.0f}s"
                info += " -" + _format_time(time_per_unit, self.unit_name)
                info += self._metrics_text()
                self._write(self._stream(), info + "\n")

        self._last_update = now

    def add(self, n, values=None):
        """Advance the bar by ``n`` steps."""
        self.update(self._seen_so_far + n, values)


# ---- interactive logging (keras.utils.enable/disable_interactive_logging) ---------------
_INTERACTIVE = {"enabled": True}


def enable_interactive_logging():
    """Progress bars and training messages go to ``sys.stdout`` (the default)."""
    _INTERACTIVE["enabled"] = True


def disable_interactive_logging():
    """Progress bars and training messages go to the ``logging`` logger ``"graphc"``
    (level INFO) instead of ``sys.stdout``, as Keras sends them to absl logging."""
    _INTERACTIVE["enabled"] = False


def is_interactive_logging_enabled():
    """Whether messages go to ``sys.stdout`` (True) or to ``logging`` (False)."""
    return _INTERACTIVE["enabled"]


def log_message(message):
    """One message to the ``"graphc"`` logger (carriage returns and blank lines dropped)."""
    import logging

    text = message.replace("\r", "").strip("\n")
    if text.strip():
        logging.getLogger("graphc").info(text)
