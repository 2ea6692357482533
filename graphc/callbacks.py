"""Training callbacks with Keras 3's hooks, defaults, messages and semantics.

A callback sees a duck-typed model: ``stop_training`` (bool), ``optimizer`` (with a
settable float ``learning_rate``), ``get_weights()``, ``set_weights(list)``,
``save(path)`` and ``save_weights(path)``; optionally ``metrics`` (objects with ``name``
and ``_direction`` "up"/"down", used by ``mode="auto"``).

Example::

    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[stop])
"""

import collections
import csv
import numbers
import operator
import os
import sys
import warnings

import numpy as np

from graphc import _args, interrupts
from graphc.progbar import Progbar

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "MonitorCallback",
    "EarlyStopping",
    "ModelCheckpoint",
    "TerminateOnNaN",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "LambdaCallback",
    "BackupAndRestore",
    "SwapEMAWeights",
    "TensorBoard",
    "RemoteMonitor",
]


def _print_msg(message):
    from graphc.progbar import is_interactive_logging_enabled, log_message

    if not is_interactive_logging_enabled():
        log_message(str(message))
        return
    # Looked up at call time so redirected stdout (and pytest's capsys) is honoured.
    stream = sys.stdout
    stream.write(f"{message}\n")
    stream.flush()


def _pythonify_logs(logs):
    """Flatten nested dicts, sort by key and turn scalars into Python floats (as Keras 3)."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


def _flatten(callbacks):
    out = []
    for cb in callbacks:
        if isinstance(cb, (list, tuple)):
            out.extend(_flatten(cb))
        elif cb is not None:
            out.append(cb)
    return out


def _float32_round(x):
    """Round to float32's shortest repr, so 0.001 * 0.1 prints as 0.0001 (Keras keeps
    learning rates in float32 variables)."""
    return float(str(np.float32(x)))


class Callback:
    """Base class: override any hook. ``self.model`` and ``self.params`` are set by fit.

    Example::

        class PrintLoss(Callback):
            def on_epoch_end(self, epoch, logs=None):
                print(epoch, logs["loss"])
    """

    # Class-level defaults keep subclasses working if they skip super().__init__().
    model = None
    params = None

    def __init__(self):
        self.params = None
        self.model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def on_batch_begin(self, batch, logs=None):
        """Legacy alias called by the default ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Legacy alias called by the default ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        # For backwards compatibility, as Keras.
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


# Each batch hook, and the hooks that Callback's default implementation of it calls.
_BATCH_HOOKS = {
    "on_batch_begin": ("on_batch_begin",),
    "on_batch_end": ("on_batch_end",),
    "on_train_batch_begin": ("on_train_batch_begin", "on_batch_begin"),
    "on_train_batch_end": ("on_train_batch_end", "on_batch_end"),
    "on_test_batch_begin": ("on_test_batch_begin",),
    "on_test_batch_end": ("on_test_batch_end",),
    "on_predict_batch_begin": ("on_predict_batch_begin",),
    "on_predict_batch_end": ("on_predict_batch_end",),
}


def _defines(callback, name) -> bool:
    """Whether ``callback`` has its own ``name`` hook (a method of a subclass, or a
    function set on the instance as LambdaCallback does)."""
    attr = getattr(callback, name, None)
    return getattr(attr, "__func__", attr) is not getattr(Callback, name)


class CallbackList(Callback):
    """Dispatches every hook to a list of callbacks.

    Logs are flattened, sorted by key and converted to Python floats once per hook;
    that one dict is shared by all callbacks, so a callback adding a key (such as
    ``learning_rate``) is seen by the ones after it. History and ProgbarLogger, when
    added here, go last, in that order.

    Example::

        cbs = CallbackList(user_callbacks, add_history=True, add_progbar=True,
                           model=model, verbose=1, epochs=10, steps=8)
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = _flatten(callbacks) if callbacks else []
        self._add_default_callbacks(add_history, add_progbar)
        self.set_model(model)
        self.set_params(params)

    def _add_default_callbacks(self, add_history, add_progbar):
        self._progbar = None
        self._history = None
        for cb in self.callbacks:
            if isinstance(cb, ProgbarLogger):
                self._progbar = cb
            elif isinstance(cb, History):
                self._history = cb
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)

    @property
    def history(self):
        return self._history

    def append(self, callback):
        self.callbacks.append(callback)
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _call(self, hook, *args, logs=None):
        targets = self.callbacks
        if hook in _BATCH_HOOKS:
            # Batch hooks run on every step: only the callbacks that define one (Keras
            # skips the others too), and no logs built when there are none.
            targets = self._batch_targets(hook)
            if not targets:
                return
        logs = _pythonify_logs(logs)
        for callback in targets:
            getattr(callback, hook)(*args, logs)

    def _batch_targets(self, hook) -> list:
        cache = self.__dict__.setdefault("_targets", {})
        if hook not in cache:
            cache[hook] = [
                cb
                for cb in self.callbacks
                if any(_defines(cb, name) for name in _BATCH_HOOKS[hook])
            ]
        return cache[hook]

    def calls(self, hook) -> bool:
        """Whether ``hook`` reaches any callback (the trainer skips building the logs of
        a batch hook nobody reads)."""
        return bool(self._batch_targets(hook)) if hook in _BATCH_HOOKS else True

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)


class History(Callback):
    """Records the epoch logs: ``history["loss"]`` is a list with one value per epoch.

    Example::

        h = model.fit(x, y, epochs=3)
        h.history["loss"], h.epoch     # [..3 floats..], [0, 1, 2]
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        from graphc.interrupts import atomic

        logs = logs or {}
        with atomic():  # Ctrl-C never leaves an epoch half recorded
            self.epoch.append(epoch)
            for k, v in logs.items():
                self.history.setdefault(k, []).append(v)
            if self.model is not None:
                self.model.history = self

    def plot(self, to_file=None, metrics=None, title=None, dpi=100):
        """Draw the training curves: one panel per metric (``loss`` first), training
        solid and validation (``val_*``) dashed, per epoch. Saves to ``to_file`` when
        given and returns the matplotlib ``Figure`` (needs the ``plots`` extra)::

            model.fit(x, y, validation_split=0.2, epochs=20).plot("curves.png")
        """
        from graphc.training_curves import plot_history

        return plot_history(self, to_file, metrics=metrics, title=title, dpi=dpi)


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar (Keras's format).

    Reads ``params["verbose"]`` (0, 1, 2 or "auto" = 1), ``params["epochs"]`` and
    ``params["steps"]`` (steps per epoch, or per evaluate/predict run; ``None`` if
    unknown). Inside fit (after ``on_train_begin``) validation is silent.

    Args:
        stateful_metrics: ``None`` (default) displays every logged value as given, for
            a trainer that logs running means. Otherwise only these names are shown as
            given and the others are averaged by the bar over the epoch, weighted by
            ``logs["size"]`` when the batch logs carry it, else by step. At the end of
            an epoch the epoch logs are always shown as given. Keys ``batch`` and
            ``size`` are never displayed.

    Example::

        ProgbarLogger()   # added by CallbackList(add_progbar=True)
    """

    _hidden_keys = ("batch", "size")

    def __init__(self, stateful_metrics=None):
        super().__init__()
        self.stateful_metrics = None if stateful_metrics is None else set(stateful_metrics)
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        if verbose == "auto":
            verbose = 1
        self.verbose = verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        # When this logger is called inside `fit`, validation is silent.
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            _print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        # Don't pass prediction results.
        self._update_progbar(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _update_progbar(self, batch, logs=None):
        logs = logs or {}
        self._maybe_init_progbar()
        self.seen = batch + 1  # One-indexed.
        if self.verbose != 1:
            return
        size = logs.get("size")
        values = []
        for k, v in logs.items():
            if k in self._hidden_keys:
                continue
            if self.stateful_metrics is None or k in self.stateful_metrics:
                self.progbar.stateful_metrics.add(k)
                values.append((k, v))
            elif size is not None:
                values.append((k, v, size))
            else:
                values.append((k, v))
        self.progbar.update(self.seen, values, finalize=False)

    def _finalize_progbar(self, logs):
        logs = {k: v for k, v in (logs or {}).items() if k not in self._hidden_keys}
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        # Epoch logs are final values (epoch means, val_*), shown as given.
        self.progbar.stateful_metrics.update(logs)
        self.progbar.update(self.target, list(logs.items()), finalize=True)


_UP_SUFFIXES = (
    "acc",
    "accuracy",
    "auc",
    "precision",
    "recall",
    "f1_score",
    "fbeta_score",
    "r2_score",
    "iou",
    "cosine_similarity",
    "correlation",
)
_DOWN_SUFFIXES = (
    "loss",
    "error",
    "mse",
    "mae",
    "mape",
    "msle",
    "rmse",
    "crossentropy",
    "hinge",
    "divergence",
    "kld",
    "logcosh",
    "poisson",
    "huber",
)


class MonitorCallback(Callback):
    """Base for callbacks that track the best value of a monitored quantity.

    ``mode="auto"`` resolves as Keras 3: ``loss`` (and ``*_loss``) is minimised, else
    the direction of the model metric of that name (``_direction`` "up"/"down"), else
    by name: accuracy/acc/auc/precision/recall/... are maximised, errors minimised.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        where = f"{self.__class__.__name__}()"
        _args.string(monitor, "monitor", where, "'val_loss'")
        _args.real(min_delta, "min_delta", where, "0.001")
        if baseline is not None:
            _args.real(
                baseline,
                "initial_value_threshold" if where == "ModelCheckpoint()" else "baseline",
                where,
                "0.5",
            )
        if mode not in ["auto", "min", "max"]:
            warnings.warn(
                f"{self.__class__.__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=2,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _model_metric_direction(self, name):
        try:
            metrics = list(getattr(self.model, "metrics", None) or [])
        except Exception:  # a property that cannot answer yet
            return None
        flat = []
        for m in metrics:
            inner = getattr(m, "metrics", None)
            if isinstance(inner, (list, tuple)):
                flat.extend(inner)
            else:
                flat.append(m)
        for m in flat:
            if getattr(m, "name", None) == name:
                direction = getattr(m, "_direction", None)
                if direction is not None:
                    return operator.gt if direction == "up" else operator.lt
        return None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss" or name.endswith("_loss"):
                self.monitor_op = operator.lt
            else:
                self.monitor_op = self._model_metric_direction(name)
            if self.monitor_op is None:
                if name.endswith(_UP_SUFFIXES):
                    self.monitor_op = operator.gt
                elif name.endswith(_DOWN_SUFFIXES):
                    self.monitor_op = operator.lt
            if self.monitor_op is None:
                raise ValueError(
                    f"{self.__class__.__name__} callback received "
                    f"monitor={self.monitor}, but graphc isn't able to "
                    "automatically determine whether that metric should be "
                    "maximized or minimized. Pass `mode='max'` in order to "
                    "monitor based on the highest metric value, or pass "
                    "`mode='min'` in order to use the lowest value."
                )
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))


class EarlyStopping(MonitorCallback):
    """Stop training when a monitored quantity has stopped improving.

    Example::

        EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        _args.non_negative_int(patience, "patience", "EarlyStopping()", "3")
        _args.boolean(restore_best_weights, "restore_best_weights", "EarlyStopping()")
        _args.non_negative_int(start_from_epoch, "start_from_epoch", "EarlyStopping()")
        if baseline is not None:
            _args.real(baseline, "baseline", "EarlyStopping()", "0.5")
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        # Allow instances to be re-used across fit() calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # If best weights were never set, the current weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Only restart wait if we beat both the baseline and our previous best.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        monitor_value = logs.get(self.monitor)
        if monitor_value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` "
                "which is not available. "
                f"Available metrics are: {','.join(list(logs.keys()))}",
                stacklevel=2,
            )
        return monitor_value


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``).

    ``filepath`` may hold ``str.format`` keys: ``epoch`` (1-based), ``batch`` (1-based,
    when ``save_freq`` is an int) and any log name, e.g.
    ``"ckpt/m-{epoch:02d}-{val_loss:.2f}.graphc"``.

    Example::

        ModelCheckpoint("best.graphc", monitor="val_accuracy", save_best_only=True)
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, initial_value_threshold)
        where = "ModelCheckpoint()"
        if not isinstance(filepath, (str, bytes, os.PathLike)):
            raise _args.ArgumentTypeError(
                f"{where}: `filepath` must be a path (a string or a pathlib.Path), "
                f"received {filepath!r} of type {type(filepath).__name__}; pass e.g. "
                f"filepath='best.graphc'."
            )
        _args.boolean(save_best_only, "save_best_only", where)
        _args.boolean(save_weights_only, "save_weights_only", where)
        if not (isinstance(save_freq, str) and save_freq == "epoch"):
            if (
                isinstance(save_freq, str)
                or isinstance(save_freq, bool)
                or not isinstance(save_freq, numbers.Integral)
            ):
                raise _args.ArgumentValueError(
                    f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are "
                    f"'epoch' or integer values (a number of batches, e.g. save_freq=100)."
                )
            _args.positive_int(save_freq, "save_freq", where, "100")
            save_freq = int(save_freq)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        if self.save_freq != "epoch" and not isinstance(self.save_freq, int):
            raise ValueError(
                f"Unrecognized save_freq: {self.save_freq}. "
                "Expected save_freq are 'epoch' or integer values"
            )

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            add_batches = batch + 1  # New epoch; batches are zero-indexed.
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _should_save_model(self, epoch, batch, logs, filepath):
        logs = logs or {}
        if not self.save_best_only:
            if self.verbose > 0:
                _print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn(
                "Can save best model only when `monitor` is "
                f"a scalar value. Received: {current}. "
                "Falling back to `save_best_only=False`.",
                stacklevel=2,
            )
            return True
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print_msg(
                    f"\nEpoch {epoch + 1}: {self.monitor} "
                    f"improved from {best_str} to {current:.5f}, "
                    f"saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IOError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {filepath}"
            )
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        # A Ctrl-C during the save is held until the checkpoint is written: the file is
        # then the last finished step's, and fit stops with KeyboardInterrupt. Raised
        # inside zipfile's writer, it came out as zipfile's "Can't close the ZIP file
        # while there is an open writing handle" ValueError instead (3 in 300 runs of
        # tests/fuzz/test_crash_saves.py's fit_sigint under load).
        with interrupts.atomic():
            if self.save_weights_only:
                self.model.save_weights(filepath)
            else:
                self.model.save(filepath)
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}'
            ) from e


class TerminateOnNaN(Callback):
    """Set ``model.stop_training`` when a batch loss is NaN or infinite.

    Example::

        model.fit(x, y, callbacks=[TerminateOnNaN()])
    """

    def __init__(self, raise_error=False):
        super().__init__()
        _args.boolean(raise_error, "raise_error", "TerminateOnNaN()")
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        loss = logs.get("loss")
        if loss is None:
            return
        if np.isnan(loss) or np.isinf(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. "
                    f"Loss value: {loss}. Terminating training immediately."
                )
            _print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of each epoch.

    ``schedule(epoch, lr) -> new_lr`` (``schedule(epoch)`` is accepted too); epoch is
    0-based. The rate is added to the epoch logs as ``learning_rate``.

    Example::

        LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        _args.function(
            schedule, "schedule", "LearningRateScheduler()", "lambda epoch, lr: lr * 0.9"
        )
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:  # new API
            learning_rate = float(optimizer.learning_rate)
            learning_rate = self.schedule(epoch, learning_rate)
        except TypeError:  # old API, schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate}"
            )
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            _print_msg(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting "
                f"learning rate to {learning_rate}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving.

    The new rate is rounded to float32 precision (Keras keeps rates in float32), so
    0.001 becomes 0.0001. The rate is added to the epoch logs as ``learning_rate``.

    Example::

        ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-5)
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        **kwargs,
    ):
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
            warnings.warn(
                "`epsilon` argument is deprecated and will be removed, use `min_delta` instead.",
                stacklevel=2,
            )
        if kwargs:
            raise TypeError(f"Unexpected keyword arguments: {sorted(kwargs)}")
        super().__init__(monitor, mode, min_delta=min_delta)
        where = "ReduceLROnPlateau()"
        _args.real(factor, "factor", where, "0.1")
        if factor >= 1.0:
            raise _args.ArgumentValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        _args.real(factor, "factor", where, "0.1", low=0)
        _args.non_negative_int(patience, "patience", where, "10")
        _args.non_negative_int(cooldown, "cooldown", where, "0")
        _args.real(min_lr, "min_lr", where, "1e-5", low=0)
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def _reduce_lr(self, epoch):
        optimizer = self.model.optimizer
        old_lr = float(optimizer.learning_rate)
        # Compared in float32, as Keras's variables are, so min_lr itself stops it.
        if np.float32(old_lr) > np.float32(self.min_lr):
            new_lr = max(_float32_round(old_lr * self.factor), self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                _print_msg(
                    f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
                )
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if logs is None:
            logs = {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                "which is not available. Available metrics are: "
                f"{','.join(list(logs.keys()))}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_lr(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0


class CSVLogger(Callback):
    """Stream epoch results to a CSV file, as Keras: header ``epoch,<sorted keys>``
    (``val_*`` columns added, as ``NA``, when the first epoch has none), rows written
    with the csv module's excel dialect and flushed after every epoch.

    Example::

        CSVLogger("training.log", append=True)
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        _args.string(separator, "separator", "CSVLogger()", "','")
        _args.boolean(append, "append", "CSVLogger()")
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", encoding="utf-8") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            is_zero_dim_ndarray = isinstance(k, np.ndarray) and k.ndim == 0
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and not is_zero_dim_ndarray:
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
            if not any(key.startswith("val_") for key in self.keys) and self.keys:
                self.keys.extend([f"val_{k}" for k in self.keys])

        if not self.writer:
            sep = self.sep

            class CustomDialect(csv.excel):
                delimiter = sep

            fieldnames = ["epoch"] + (self.keys or [])
            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=fieldnames, dialect=CustomDialect
            )
            if self.append_header:
                self.writer.writeheader()

        row_dict = collections.OrderedDict({"epoch": epoch})
        row_dict.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row_dict)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """Build a callback from plain functions.

    ``on_epoch_begin``/``on_epoch_end`` take ``(epoch, logs)``; ``on_train_begin``/
    ``on_train_end`` take ``(logs)``; ``on_train_batch_begin``/``on_train_batch_end``
    take ``(batch, logs)``. Any other hook can be passed by keyword (e.g.
    ``on_test_end=...``).

    Example::

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
        )
        for name, fn in hooks.items():
            if fn is not None:
                _args.function(fn, name, "LambdaCallback()", "lambda epoch, logs: None")
        self.__dict__.update(kwargs)
        if on_epoch_begin is not None:
            self.on_epoch_begin = on_epoch_begin
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end
        if on_train_begin is not None:
            self.on_train_begin = on_train_begin
        if on_train_end is not None:
            self.on_train_end = on_train_end
        if on_train_batch_begin is not None:
            self.on_train_batch_begin = on_train_batch_begin
        if on_train_batch_end is not None:
            self.on_train_batch_end = on_train_batch_end


# ---- issue 9: BackupAndRestore, SwapEMAWeights, TensorBoard, RemoteMonitor ---------------
class BackupAndRestore(Callback):
    """Back up the training state after each epoch (or every ``save_freq`` batches) in
    ``backup_dir``; a ``fit`` started again after an interruption restores the weights
    (and the optimizer state) and resumes at the epoch after the last one backed up,
    as Keras's.

    ``backup_dir`` holds ``latest.weights.h5`` and ``training_metadata.json``, each
    written atomically (a crash leaves the previous backup whole). ``double_checkpoint``
    keeps the previous pair as ``*.bkp`` and falls back to it when the latest cannot be
    read; ``delete_checkpoint`` removes ``backup_dir`` when training ends normally.
    """

    def __init__(
        self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True
    ):
        super().__init__()
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        self.backup_dir = os.fspath(backup_dir)
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = f"{self._weights_path}.bkp"
        self._prev_training_metadata_path = f"{self._training_metadata_path}.bkp"
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
            raise ValueError(
                "Invalid value for argument `save_freq`. "
                f"Received: save_freq={save_freq}. "
                "Expected either 'epoch' or an integer value."
            )

    def on_train_begin(self, logs=None):
        try:
            self._load_model()
        except (OSError, ValueError) as e:
            if not os.path.exists(self._prev_weights_path):
                raise e
            _copy_atomic(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                _copy_atomic(self._prev_training_metadata_path, self._training_metadata_path)
            elif os.path.exists(self._training_metadata_path):
                os.remove(self._training_metadata_path)
            self._load_model()

    def _load_model(self):
        import json

        if not getattr(self.model, "built", True):
            raise ValueError(
                "To use the BackupAndRestore callback, you model must be built before "
                f"you call `fit()`. Model {self.model} is unbuilt. You can build it "
                "beforehand by calling it on a batch of data."
            )
        if os.path.exists(self._weights_path):
            self.model.load_weights(self._weights_path)
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path) as f:
                training_metadata = json.loads(f.read())
            self.model._initial_epoch = training_metadata["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model()

    def _save_model(self):
        import json

        from graphc.files import atomic_write

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            _copy_atomic(self._weights_path, self._prev_weights_path)
        if self.double_checkpoint and os.path.exists(self._training_metadata_path):
            _copy_atomic(self._training_metadata_path, self._prev_training_metadata_path)
        self.model.save_weights(self._weights_path, overwrite=True)
        text = json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen})
        atomic_write(self._training_metadata_path, lambda f: f.write(text), mode="w")

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:  # a new epoch
            add_batches = batch + 1
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def on_train_end(self, logs=None):
        import shutil

        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


def _copy_atomic(src, dst):
    from graphc.files import atomic_write

    with open(src, "rb") as f:
        data = f.read()
    atomic_write(dst, lambda out: out.write(data))


class SwapEMAWeights(Callback):
    """Evaluate (and predict) with the optimizer's moving averages of the weights
    (``use_ema=True``), as Keras's: the averages are swapped into the model for the
    evaluation and back after. ``swap_on_epoch=True`` also swaps them in at each epoch's
    end (so that ``ModelCheckpoint`` saves them) and out at the next epoch's start; after
    the last epoch the averages stay in the model."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self):
        opt = self.model.optimizer
        if not getattr(opt, "use_ema", False) or "average" not in getattr(opt, "_slots", {}):
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                f"Received: use_ema={getattr(opt, 'use_ema', None)}"
            )
        return opt

    def _swap_variables(self):
        opt = self._optimizer()
        param, average = opt._param, opt._slots["average"]
        temporary = param.copy()
        param[...] = average
        average[...] = temporary

    def _finalize_ema_values(self):
        opt = self._optimizer()
        opt._slots["average"][...] = opt._param

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # As Keras 3.15 (its test reads `not`): the averages stay in after predict.
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False


class _EventWriter:
    """One TensorBoard event file, written with TensorBoard's own writer."""

    def __init__(self, logdir):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(logdir)

    def add(self, summary, step):
        import time

        from tensorboard.compat.proto import event_pb2

        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        )

    def scalar(self, tag, value, step):
        from tensorboard.plugins.scalar import summary_v2

        self.add(summary_v2.scalar_pb(tag, float(value)), step)

    def histogram(self, tag, data, step):
        from tensorboard.plugins.histogram import summary_v2

        self.add(summary_v2.histogram_pb(tag, np.asarray(data, dtype=np.float64)), step)

    def text_tensor(self, tag, text, plugin_name, content, step):
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = plugin_name
        metadata.plugin_data.content = content
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            string_val=[text.encode("utf-8")],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        )
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)]
        )
        self.add(summary, step)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


class TensorBoard(Callback):
    """Write TensorBoard event files, as Keras's: the epoch logs as scalars
    ``epoch_<name>`` (``log_dir/train``, and ``log_dir/validation`` for the ``val_``
    entries, prefix removed) with ``epoch_learning_rate``; with ``update_freq="batch"``
    or an integer N, the batch logs as ``batch_<name>`` every N batches; after each
    validation, ``evaluation_<name>_vs_iterations`` at the optimizer's step; with
    ``histogram_freq``, a histogram of every weight (``<path>/histogram``) every that
    many epochs; ``write_graph`` writes the model's JSON config (tag ``keras``) for
    TensorBoard's graph plugin.

    Needs the ``tensorboard`` package (``pip install graphc[tensorboard]``); the files
    are written with TensorBoard's own event writer. ``write_images``, embeddings and
    profiling are accepted for compatibility; profiling raises as on Keras's torch
    backend.
    """

    def __init__(
        self,
        log_dir="logs",
        histogram_freq=0,
        write_graph=True,
        write_images=False,
        write_steps_per_second=False,
        update_freq="epoch",
        profile_batch=0,
        embeddings_freq=0,
        embeddings_metadata=None,
    ):
        super().__init__()
        try:
            import tensorboard  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "graphc.callbacks.TensorBoard writes event files with the `tensorboard` "
                "package, which is not installed. Install it with "
                "`pip install tensorboard` (or `pip install graphc[tensorboard]`)."
            ) from e
        if profile_batch:
            raise ValueError(
                "Profiling is not yet available with the numpy backend. Received: "
                f"profile_batch={profile_batch} (must be 0)"
            )
        self.log_dir = str(os.fspath(log_dir))
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        if self.update_freq != "epoch" and (
            isinstance(self.update_freq, bool) or not isinstance(self.update_freq, int)
        ):
            raise ValueError(
                "Invalid value for argument `update_freq`. Received: "
                f"update_freq={update_freq!r}. Expected 'epoch', 'batch' or an integer."
            )
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._global_train_batch = 0
        self._global_test_batch = 0
        self._previous_epoch_iterations = 0
        self._epoch_start_time = 0.0
        self._batch_start_time = 0.0
        self._writers = {}

    def set_model(self, model):
        super().set_model(model)
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._close_writers()
        if self.write_graph:
            to_json = getattr(model, "to_json", None)
            if to_json is not None:
                try:
                    text = to_json()
                except Exception:  # a subclassed model without a config: no graph
                    text = None
                if text is not None:
                    self._train_writer.text_tensor("keras", text, "graph_keras_model", b"1", 0)

    @property
    def _train_writer(self):
        if "train" not in self._writers:
            self._writers["train"] = _EventWriter(self._train_dir)
        return self._writers["train"]

    @property
    def _val_writer(self):
        if "val" not in self._writers:
            self._writers["val"] = _EventWriter(self._val_dir)
        return self._writers["val"]

    def _close_writers(self):
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def _record_batch(self):
        return self.update_freq != "epoch" and self._global_train_batch % self.update_freq == 0

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0

    def on_train_end(self, logs=None):
        self._close_writers()

    def on_test_end(self, logs=None):
        opt = getattr(self.model, "optimizer", None)
        if opt is not None and hasattr(opt, "iterations") and logs:
            for name, value in logs.items():
                self._val_writer.scalar(f"evaluation_{name}_vs_iterations", value, opt.iterations)
            self._val_writer.flush()

    def on_train_batch_begin(self, batch, logs=None):
        import time

        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        import time

        if not self._record_batch():
            return
        w = self._train_writer
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._batch_start_time, 1e-9)
            w.scalar("batch_steps_per_second", 1.0 / elapsed, self._global_train_batch)
        if isinstance(logs, dict):
            for name, value in logs.items():
                w.scalar(f"batch_{name}", value, self._global_train_batch)

    def on_test_batch_begin(self, batch, logs=None):
        self._global_test_batch += 1

    def on_epoch_begin(self, epoch, logs=None):
        import time

        if self.write_steps_per_second:
            self._previous_epoch_iterations = float(self.model.optimizer.iterations)
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def _log_epoch_metrics(self, epoch, logs):
        import time

        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k: v for k, v in logs.items() if k.startswith("val_")}
        opt = getattr(self.model, "optimizer", None)
        if hasattr(opt, "optimizers"):  # MultiOptimizer: one rate per inner optimizer
            for inner in opt.optimizers:
                train_logs[f"learning_rate_{inner.name}"] = float(inner.learning_rate)
        elif opt is not None and hasattr(opt, "learning_rate"):
            train_logs["learning_rate"] = float(opt.learning_rate)
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start_time, 1e-9)
            train_logs["steps_per_second"] = float(
                (opt.iterations - self._previous_epoch_iterations) / elapsed
            )
        if train_logs:
            for name, value in train_logs.items():
                self._train_writer.scalar(f"epoch_{name}", value, epoch)
            self._train_writer.flush()
        if val_logs:
            for name, value in val_logs.items():
                self._val_writer.scalar(f"epoch_{name[4:]}", value, epoch)
            self._val_writer.flush()

    def _log_weights(self, epoch):
        w = self._train_writer
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                w.histogram(f"{name}/histogram", np.asarray(weight.data), epoch)
        w.flush()


class RemoteMonitor(Callback):
    """POST each epoch's logs to a server, as Keras's: to ``root + path``, the logs
    (with ``"epoch"``) as JSON — in the form field ``field`` by default, or as the whole
    body with ``send_as_json=True``. Uses the standard library (urllib); a server that
    cannot be reached gives Keras's warning, not an error."""

    def __init__(
        self,
        root="http://localhost:9000",
        path="/publish/epoch/end/",
        field="data",
        headers=None,
        send_as_json=False,
    ):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch, logs=None):
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        send = {"epoch": epoch}
        for k, v in (logs or {}).items():
            if isinstance(v, (np.ndarray, np.generic)):
                v = v.item()
            send[k] = v
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except (urllib.error.URLError, OSError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
