"""Training curves: loss and each metric per epoch, training and validation, one panel per
metric, drawn with matplotlib (the ``plots`` extra, imported only when drawing).

>>> history = model.fit(x, y, validation_split=0.2, epochs=20)
>>> history.plot("curves.png")                       # History.plot
>>> graphc.utils.plot_history(history, "curves.png")  # the same
>>> graphc.utils.plot_history("training.log", "curves.png")   # a CSVLogger file

This module imports nothing from graphc, so ``History`` (a callback) can use it.
"""

from __future__ import annotations

import csv
import math
import os

__all__ = ["plot_history", "read_csv_log"]

# Logged per epoch but not a measure of the model: left out unless asked for by name.
_NOT_METRICS = ("epoch", "lr", "learning_rate")


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "Training curves are drawn with matplotlib, which is not installed: "
            "`pip install 'graphc[plots]'`"
        ) from None


def read_csv_log(path, separator=None):
    """``(epochs, logs)`` from a ``CSVLogger`` file: the epoch column (0-based, as logged)
    and a dict of float lists per column (``NA`` becomes NaN). The separator is guessed from
    the header (comma, semicolon or tab) unless given."""
    path = os.fspath(path)
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(
            f"{path} is empty: expected a CSVLogger file (a header line "
            "'epoch,loss,...' and one row per epoch)"
        )
    if separator is None:
        header = lines[0]
        separator = max((",", ";", "\t"), key=header.count)
    rows = list(csv.reader(lines, delimiter=separator))
    header, rows = rows[0], [r for r in rows[1:] if r]
    if "epoch" not in header:
        raise ValueError(
            f"{path} has no 'epoch' column (columns: {', '.join(header)}): "
            "expected a CSVLogger file"
        )
    logs: dict = {}
    epochs = []
    for line_no, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {line_no}: {len(row)} fields, the header has {len(header)}"
            )
        record = dict(zip(header, row, strict=True))
        try:
            epochs.append(int(float(record["epoch"])))
        except ValueError:
            raise ValueError(
                f"{path}, line {line_no}: epoch {record['epoch']!r} is not a number"
            ) from None
        for key in header:
            if key == "epoch":
                continue
            logs.setdefault(key, []).append(_number(record[key]))
    # A column holding lists (CSVLogger writes non-scalar logs as "[...]") is no curve.
    logs = {k: v for k, v in logs.items() if all(isinstance(x, float) for x in v)}
    return epochs, logs


def _number(text):
    text = text.strip()
    if text in ("", "NA", "nan", "NaN"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        return text


def _as_logs(history):
    """``(epochs, logs)`` from a History, a dict of lists or a CSVLogger file."""
    if isinstance(history, (str, os.PathLike)):
        return read_csv_log(history)
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(
            f"plot_history takes a History (what fit returns), its .history "
            f"dict or a CSVLogger file's path; received {type(history).__name__}"
        )
    logs = {k: [float(x) for x in v] for k, v in logs.items()}
    epochs = list(getattr(history, "epoch", None) or [])
    length = max((len(v) for v in logs.values()), default=0)
    if len(epochs) != length:
        epochs = list(range(length))
    return epochs, logs


def _panels(logs, metrics):
    """The metric names to draw, ``loss`` first, each with its ``val_`` twin."""
    if metrics is not None:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in names if m not in logs and f"val_{m}" not in logs]
        if unknown:
            raise ValueError(
                f"No curve named {', '.join(map(repr, unknown))}; the logs have "
                f"{', '.join(sorted(logs)) or 'nothing'}"
            )
        return names
    names = []
    for key in logs:
        base = key[4:] if key.startswith("val_") else key
        if base not in names and base not in _NOT_METRICS:
            names.append(base)
    names.sort(key=lambda n: n != "loss")  # loss first, the rest as logged
    return names


def plot_history(history, to_file=None, metrics=None, title=None, dpi=100):
    """Draw the training curves of ``history``: a ``History`` (what ``fit`` returns), its
    ``.history`` dict, or the path of a ``CSVLogger`` file. One panel per metric (``loss``
    first), the training values as a solid line and the validation values (``val_*``)
    dashed, against the epoch (from 1). ``metrics`` picks the panels by name.

    Saves to ``to_file`` when given (the format follows the extension: .png, .svg, .pdf)
    and returns the matplotlib ``Figure``."""
    epochs, logs = _as_logs(history)
    names = _panels(logs, metrics)
    if not names:
        raise ValueError(
            "Nothing to plot: the history has no epochs logged (fit with at least one epoch)"
        )
    _matplotlib()
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    columns = min(len(names), 3)
    rows = math.ceil(len(names) / columns)
    with matplotlib.rc_context({"svg.fonttype": "none", "font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        x = [e + 1 for e in epochs]
        for ax, name in zip(axes, names, strict=False):  # more axes than names
            for key, label, style in ((name, "training", "-"), (f"val_{name}", "validation", "--")):
                if key in logs:
                    values = logs[key]
                    marker = "o" if len(values) <= 30 else None
                    ax.plot(
                        x[: len(values)], values, style, marker=marker, markersize=3, label=label
                    )
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            ax.legend()
        for ax in axes[len(names) :]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
        if to_file is not None:
            to_file = os.fspath(to_file)
            extension = os.path.splitext(to_file)[1].lstrip(".").lower()
            if not extension:
                raise ValueError(
                    f"plot_history needs a file name with an extension (.png, "
                    f".svg or .pdf), received {to_file!r}"
                )
            metadata = {"Title": title or "training curves"}
            if extension in ("png", "svg"):
                metadata["Description"] = "curves: " + ", ".join(names)
            elif extension != "pdf":
                metadata = None
            fig.savefig(to_file, dpi=dpi, metadata=metadata)
    return fig
