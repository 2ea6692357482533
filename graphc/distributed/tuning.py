"""``search``: train one model per configuration of a parameter grid, on the workers of
a Dask cluster (NumPy backend), and keep the best.

Every configuration is one pure task: its key is a hash of the build function, the
configuration, its seed, the data and the fit settings, and the task seeds graphc's
generators itself (``set_random_seed(seed + index)``) before building. So wherever it
runs, and however often, a configuration trains to the same weights and history; a
worker lost mid-run only means Dask runs that task again on another worker, and the
result has exactly one trial per configuration.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from graphc.distributed.errors import DATA_LOSS_RETRIES, data_lost_error

__all__ = ["SearchResult", "Trial", "expand_grid", "search", "train_trial"]


@dataclass
class Trial:
    """One configuration's training: its parameters, seed, Keras-style ``history``
    (``{"loss": [...], "val_loss": [...], ...}``, one value per epoch) and score (the
    last epoch's value of the monitored quantity)."""

    index: int
    params: dict
    seed: int
    history: dict
    score: float
    seconds: float
    worker_pid: int = 0

    def __repr__(self):
        return (
            f"<Trial {self.index} {self.params} score={self.score:.6g} "
            f"({len(next(iter(self.history.values()), []))} epochs)>"
        )


@dataclass
class SearchResult:
    """What ``search`` returns: every trial in grid order, which one is best, and the
    best model (trained, compiled, loaded back on the client)."""

    trials: list
    monitor: str
    mode: str
    best_index: int
    best_model: object = field(repr=False, default=None)

    @property
    def best(self) -> Trial:
        return self.trials[self.best_index]

    @property
    def best_params(self) -> dict:
        return self.best.params

    @property
    def best_score(self) -> float:
        return self.best.score

    @property
    def histories(self) -> list:
        return [t.history for t in self.trials]


def expand_grid(param_grid) -> list[dict]:
    """The configurations of ``param_grid``: a dict of lists (every combination, the
    last key varying fastest, as ``sklearn.model_selection.ParameterGrid`` does for
    sorted keys), or a list of dicts (each one configuration)."""
    if isinstance(param_grid, dict):
        keys = list(param_grid)
        values = []
        for k in keys:
            v = param_grid[k]
            if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
                raise TypeError(
                    f"param_grid[{k!r}] must be a list of values to try, "
                    f"received {type(v).__name__}: {v!r}"
                )
            v = list(v)
            if not v:
                raise ValueError(f"param_grid[{k!r}] is empty: give at least one value")
            values.append(v)
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    if isinstance(param_grid, (list, tuple)) and all(isinstance(p, dict) for p in param_grid):
        if not param_grid:
            raise ValueError("param_grid is an empty list: nothing to train")
        return [dict(p) for p in param_grid]
    raise TypeError(
        "param_grid must be a dict of lists (a grid) or a list of dicts (the "
        f"configurations), received {type(param_grid).__name__}"
    )


class _TrainData:
    """The training (and validation) data, scattered to every worker once."""

    def __init__(self, x, y, validation_data):
        self.x, self.y, self.validation_data = x, y, validation_data

    def __dask_tokenize__(self):
        from dask.base import tokenize

        return (
            "graphc-train-data",
            tokenize(self.x),
            tokenize(self.y),
            tokenize(self.validation_data),
        )


def _materialize(value):
    """Paths become arrays (training needs the rows in memory anyway)."""
    if isinstance(value, (str, os.PathLike)):
        from graphc.distributed.arrays import open_file

        found = open_file(value)
        if len(found) == 1:
            src = next(iter(found.values()))
            return src.read(0, src.rows)
        return {k: src.read(0, src.rows) for k, src in found.items()}
    if isinstance(value, dict):
        return {k: _materialize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and not np.isscalar(value[0]):
        return type(value)(_materialize(v) for v in value)
    return value


def train_trial(build_fn, params, data, seed, fit_kwargs) -> dict:
    """One configuration, trained from scratch: seeded, built, fitted, saved to bytes.
    Pure: the same arguments give the same history and weights in any process."""
    from graphc.models import Model
    from graphc.utils import set_random_seed

    started = time.perf_counter()
    set_random_seed(int(seed))
    model = build_fn(**params)
    if not isinstance(model, Model):
        raise TypeError(
            f"build_fn({params}) returned {type(model).__name__}; it must return "
            "a compiled graphc Model"
        )
    if model.optimizer is None:
        raise ValueError(
            f"build_fn({params}) returned a model that is not compiled; call "
            "model.compile(optimizer=..., loss=...) in build_fn"
        )
    x, y = _materialize(data.x), _materialize(data.y)
    val = data.validation_data
    if val is not None:
        val = tuple(_materialize(v) for v in val)
    history = model.fit(x, y, validation_data=val, verbose=0, **fit_kwargs)
    with tempfile.TemporaryDirectory(prefix="graphc-search-") as tmp:
        path = os.path.join(tmp, "model.graphc")
        model.save(path)
        with open(path, "rb") as f:
            blob = f.read()
    logs = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return {
        "history": logs,
        "model": blob,
        "seconds": time.perf_counter() - started,
        "pid": os.getpid(),
    }


def _direction(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', received {mode!r}")
    if mode != "auto":
        return mode
    up = ("acc", "auc", "precision", "recall", "f1")
    return "max" if any(u in monitor for u in up) else "min"


def search(
    build_fn,
    param_grid,
    x,
    y=None,
    *,
    epochs=1,
    batch_size=32,
    validation_data=None,
    validation_split=0.0,
    monitor=None,
    mode="auto",
    seed=0,
    client=None,
    **fit_kwargs,
) -> SearchResult:
    """Train ``build_fn(**params)`` for every configuration of ``param_grid`` and return
    the histories and the best model.

    - ``build_fn``: a function of the grid's parameters returning a *compiled* graphc
      Model; it runs on the workers (define it in an importable module, or in the script:
      cloudpickle sends a script's functions by value).
    - ``param_grid``: ``{"units": [32, 64], "lr": [1e-3, 1e-2]}`` (every combination) or
      a list of dicts.
    - ``x``, ``y``, ``validation_data``: arrays (or ``.npy``/``.npz`` paths) sent to each
      worker once; ``epochs``, ``batch_size``, ``validation_split`` and the other keyword
      arguments go to ``Model.fit``.
    - ``monitor``: the history key to rank by (default ``"val_loss"`` with validation,
      else ``"loss"``), its last epoch's value; ``mode``: ``"min"``, ``"max"`` or
      ``"auto"`` (max for accuracies).
    - ``seed``: configuration ``i`` trains with ``set_random_seed(seed + i)``.
    - ``client``: a ``dask.distributed.Client`` (default: the current one); without any
      cluster, the configurations train one after another in this process (same results).

    A worker that dies mid-run loses nothing: Dask runs its task again elsewhere (the
    scheduler's ``distributed.scheduler.allowed-failures``, 3 by default), and each
    configuration appears exactly once in the result::

        result = graphc.distributed.search(build, {"units": [32, 64, 128]}, x, y,
                                           epochs=20, validation_split=0.2, client=client)
        result.best_params, result.best_score
        result.best_model.save("best.graphc")
    """
    configs = expand_grid(param_grid)
    if not callable(build_fn):
        raise TypeError(
            f"build_fn must be a function returning a compiled Model, received "
            f"{type(build_fn).__name__}"
        )
    for bad in ("verbose", "validation_data", "x", "y"):
        if bad in fit_kwargs:
            raise TypeError(f"search() sets fit's {bad}= itself; do not pass it")
    fit_spec = dict(
        fit_kwargs, epochs=epochs, batch_size=batch_size, validation_split=validation_split
    )
    with_validation = validation_data is not None or bool(validation_split)
    monitor = monitor or ("val_loss" if with_validation else "loss")
    direction = _direction(monitor, mode)
    data = _TrainData(x, y, None if validation_data is None else tuple(validation_data))
    seeds = [int(seed) + i for i in range(len(configs))]

    from graphc.distributed.cluster import get_client

    try:
        client = get_client(client)
    except ImportError:
        if client is not None:
            raise
        client = None
    if client is None:
        raw = [train_trial(build_fn, p, data, s, fit_spec) for p, s in zip(configs, seeds)]
    else:
        raw = _run_trials(client, build_fn, configs, seeds, data, fit_spec)
    trials = []
    for i, (params, s, r) in enumerate(zip(configs, seeds, raw)):
        hist = r["history"]
        if monitor not in hist:
            raise KeyError(
                f"monitor={monitor!r} is not in the training history; it has {sorted(hist)}"
            )
        trials.append(Trial(i, params, s, hist, float(hist[monitor][-1]), r["seconds"], r["pid"]))

    def rank(t):
        score = t.score if math.isfinite(t.score) else math.inf * (1 if direction == "min" else -1)
        return (score if direction == "min" else -score, t.index)

    best = min(trials, key=rank).index
    best_model = _model_from_bytes(raw[best]["model"])
    return SearchResult(trials, monitor, direction, best, best_model)


def _run_trials(client, build_fn, configs, seeds, data, fit_spec) -> list:
    """Every trial's result, on the cluster. The data are scattered to every worker; a
    worker killed while it holds the only copy (one that joined after the scatter has
    none) makes the scheduler cancel the trials needing it: then the results of the
    finished trials are kept, the data sent again and the others resubmitted, under new
    keys (a key the client still knows as cancelled would come back cancelled)."""
    from dask.base import tokenize

    Lost = data_lost_error()
    results: dict = {}
    for attempt in range(DATA_LOSS_RETRIES + 1):
        shared = client.scatter(data, broadcast=True, hash=True)
        token = tokenize(build_fn, configs, seeds, shared.key, fit_spec, attempt)
        futures = {
            i: client.submit(
                train_trial,
                build_fn,
                p,
                shared,
                s,
                fit_spec,
                pure=True,
                key=f"graphc-search-{token}-{i}",
            )
            for i, (p, s) in enumerate(zip(configs, seeds))
            if i not in results
        }
        lost = None
        for i, future in futures.items():
            try:
                results[i] = future.result()
            except Lost as e:
                lost = e
        if lost is None:
            return [results[i] for i in range(len(configs))]
        if attempt == DATA_LOSS_RETRIES:
            raise lost
    raise AssertionError("unreachable")  # pragma: no cover


def _model_from_bytes(blob):
    from graphc.models import load_model

    fd, path = tempfile.mkstemp(suffix=".graphc", prefix="graphc-search-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        return load_model(path)
    finally:
        os.unlink(path)
