"""Type and range checks of the public arguments of compile / fit / evaluate / predict
and the ``*_on_batch`` methods. Each error names the argument, what was received, what
is expected and how to fix it (Keras checks these too, some only deep inside its data
adapters; graphc checks them before any work)."""

from __future__ import annotations

import numbers

from graphc.errors import ArgumentTypeError, ArgumentValueError

__all__ = [
    "ArgumentTypeError",
    "ArgumentValueError",
    "positive_int",
    "non_negative_int",
    "optional_positive_int",
    "boolean",
    "verbose",
    "fraction",
    "callbacks_list",
    "mapping_or_none",
    "real",
    "string",
    "function",
]


def _is_int(value) -> bool:
    if type(value) is int:  # the common case, without the ABC check's cost
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _received(value) -> str:
    return f"{value!r} of type {type(value).__name__}"


def _int_at_least(value, low, what, name, where, example):
    """An integer >= ``low`` (a NumPy integer too); never a bool or a float such as 2.5."""
    if not _is_int(value):
        raise ArgumentTypeError(
            f"{where}: `{name}` must be {what}, received "
            f"{_received(value)}; pass e.g. {name}={example}."
        )
    if value < low:
        raise ArgumentValueError(
            f"{where}: `{name}` must be {what}, received "
            f"{name}={value}; pass e.g. {name}={example}."
        )
    return int(value)


def positive_int(value, name, where, example="32"):
    return _int_at_least(value, 1, "a positive integer", name, where, example)


def optional_positive_int(value, name, where, example="32"):
    return None if value is None else positive_int(value, name, where, example)


def non_negative_int(value, name, where, example="0"):
    return _int_at_least(value, 0, "an integer >= 0", name, where, example)


def boolean(value, name, where):
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(
            f"{where}: `{name}` must be True or False, received {_received(value)}."
        )
    return bool(value)


def verbose(value, where):
    """Keras's ``verbose``: ``"auto"``, 0 (silent), 1 (progress bar) or 2 (one line per
    epoch). Returns the integer level."""
    if value == "auto" and isinstance(value, str):
        return 1
    if not _is_int(value) or value not in (0, 1, 2):
        raise ArgumentValueError(
            f"{where}: `verbose` must be 'auto', 0, 1 or 2, received "
            f"{_received(value)}; pass verbose=0 for silence."
        )
    return int(value)


def fraction(value, name, where):
    """A float in [0, 1) (``validation_split``)."""
    if type(value) is not float and (
        isinstance(value, bool) or not isinstance(value, numbers.Real)
    ):
        raise ArgumentTypeError(
            f"{where}: `{name}` must be a float between 0 and 1, received "
            f"{_received(value)}; pass e.g. {name}=0.2."
        )
    if not 0 <= value < 1:
        raise ArgumentValueError(
            f"{where}: `{name}` must be between 0 and 1 (1 excluded: "
            f"nothing would be left to train on), received {name}={value}; "
            f"pass e.g. {name}=0.2."
        )
    return float(value)


def callbacks_list(value, where):
    """None, or a list/tuple of callbacks (anything with the hooks), as Keras."""
    if value is None:
        return value
    if not isinstance(value, (list, tuple)):
        raise ArgumentTypeError(
            f"{where}: `callbacks` must be a list of "
            f"graphc.callbacks.Callback instances, received "
            f"{_received(value)}; wrap it in a list: "
            f"callbacks=[{type(value).__name__}(...)]."
        )
    for c in value:
        if (
            c is None
            or isinstance(c, (str, bytes, int, float, dict))
            or not hasattr(c, "set_model")
        ):
            raise ArgumentTypeError(
                f"{where}: `callbacks` must be a list of "
                f"graphc.callbacks.Callback instances, received an entry "
                f"{_received(c)}; e.g. callbacks=[EarlyStopping(patience=3)]."
            )
    return value


def mapping_or_none(value, name, where, example):
    if value is not None and not isinstance(value, dict):
        raise ArgumentTypeError(
            f"{where}: `{name}` must be a dict or None, received "
            f"{_received(value)}; pass e.g. {name}={example}."
        )
    return value


def real(value, name, where, example, low=None, high=None, high_open=False):
    """A real number (not a bool), optionally in ``[low, high]`` (``high`` excluded with
    ``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(
            f"{where}: `{name}` must be a number, received "
            f"{_received(value)}; pass e.g. {name}={example}."
        )
    if (
        value != value
        or (low is not None and value < low)
        or (high is not None and (value >= high if high_open else value > high))
    ):
        bounds = (
            f"{'>= ' + str(low) if low is not None else ''}"
            + (" and " if low is not None and high is not None else "")
            + (f"{'< ' if high_open else '<= '}{high}" if high is not None else "")
        )
        raise ArgumentValueError(
            f"{where}: `{name}` must be {bounds}, received "
            f"{name}={value}; pass e.g. {name}={example}."
        )
    return value


def string(value, name, where, example):
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"{where}: `{name}` must be a string, received "
            f"{_received(value)}; pass e.g. {name}={example}."
        )
    return value


def function(value, name, where, example):
    if not callable(value):
        raise ArgumentTypeError(
            f"{where}: `{name}` must be a function, received "
            f"{_received(value)}; pass e.g. {name}={example}."
        )
    return value
