"""Turning user data (arrays, lists, dicts) into checked lists of arrays, and batching;
reading datasets (iterables of batches) one epoch at a time.

Every check of arrays runs before any weight changes, so bad data never costs a user
their model. A dataset's batches are checked as they are read (each error names its
batch): the batches before a bad one have trained the model already.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import InputDataError
from graphc.ir import format_shape

__all__ = [
    "to_arrays",
    "check_against",
    "num_rows",
    "class_weight_to_sample_weight",
    "take",
    "split_validation",
]


def to_arrays(data, names: list[str], what: str) -> list | None:
    """``data`` as one array per name (in ``names`` order)."""
    if data is None:
        return None
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        extra = [k for k in data if k not in names]
        if missing or extra:
            raise InputDataError(
                f"The {what} dict has keys {sorted(map(str, data))} but the model's {what} "
                f"are named {names}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {extra}" if extra else "")
                + ". Key the dict by those names, or pass a list in that order."
            )
        items = [data[n] for n in names]
    elif isinstance(data, (list, tuple)) and len(names) > 1:
        if len(data) != len(names):
            raise InputDataError(
                f"The model has {len(names)} {what} {names}, but "
                f"{len(data)} arrays were passed. Pass one array per "
                f"{what[:-1] if what.endswith('s') else what}, in that order."
            )
        items = list(data)
    elif (
        isinstance(data, (list, tuple))
        and len(data) == 1
        and not np.isscalar(data[0])
        and np.ndim(data[0]) >= 1
        and len(names) == 1
        and _is_array_like(data[0])
    ):
        items = [data[0]]
    else:
        items = [data]
    out = []
    for name, a in zip(names, items):
        try:
            arr = np.asarray(a)
        except Exception as e:  # ragged lists and the like
            raise InputDataError(
                f"{what[:-1].capitalize()} {name!r} could not be converted to an array: {e}"
            ) from None
        # Strings may feed a string Input (check_against checks which inputs take them).
        if arr.dtype.kind not in ("biufUSO" if what == "inputs" else "biuf"):
            raise InputDataError(
                f"{what[:-1].capitalize()} {name!r} has dtype {arr.dtype}; "
                "expected numbers (float or int)."
            )
        if arr.ndim == 0:
            raise InputDataError(
                f"{what[:-1].capitalize()} {name!r} is a scalar; expected "
                "an array with one row per sample."
            )
        out.append(arr)
    return out


def _is_array_like(x) -> bool:
    return isinstance(x, np.ndarray) or (
        isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (list, tuple, np.ndarray))
    )


def check_against(arrays: list, values, what: str, model_name: str, dtype="float32") -> list:
    """Check each array's feature shape against the model's tensor ``values`` and cast to
    the model's dtype. NaN or Inf in inputs is refused: it would poison every weight."""
    out = []
    for arr, v in zip(arrays, values):
        expected = v.shape
        ok = len(arr.shape) == len(expected) and all(
            e is None or isinstance(e, str) or e == a for e, a in zip(expected[1:], arr.shape[1:])
        )
        if not ok:
            raise InputDataError(
                f'{what[:-1].capitalize()} "{v.name}" of model "{model_name}" is incompatible: '
                f"expected shape {format_shape(expected)}, received {format_shape(arr.shape)}. "
                f"Each row must have shape {format_shape(tuple(expected[1:]))}."
            )
        if (v.dtype == "string") != (arr.dtype.kind in "USO"):
            raise InputDataError(
                f'{what[:-1].capitalize()} "{v.name}" of model "{model_name}" expects '
                + (
                    "strings (dtype string)"
                    if v.dtype == "string"
                    else f"numbers (dtype {v.dtype})"
                )
                + f", received an array of dtype {arr.dtype}."
            )
        if v.dtype != "string" and arr.dtype != np.dtype(v.dtype):
            arr = arr.astype(v.dtype)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise InputDataError(
                f'{what[:-1].capitalize()} "{v.name}" contains {bad} NaN or '
                "infinite value(s); clean or impute them before training."
            )
        out.append(arr)
    return out


def check_target(name: str, y: np.ndarray, output, loss) -> None:
    """Targets must fit the output they train: finite, and the output's shape per sample
    up to Keras's broadcasting (dimensions of 1; one dimension less when the output's last
    is 1), or class indices within range for a sparse loss."""
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise InputDataError(f'Target "{name}" contains NaN or infinite values.')
    if getattr(loss, "_free_target_shape", False):
        return  # targets of their own shape (CTC's label sequences, Circle's labels)
    expected = tuple(output.shape[1:])
    got = tuple(y.shape[1:])
    sparse = type(loss).__name__ == "SparseCategoricalCrossentropy"
    if sparse:
        classes = expected[-1] if expected else None
        if not any(_fits(got, want) for want in (expected[:-1], expected[:-1] + (1,))):
            raise InputDataError(
                f'Target "{name}" has shape {got} per sample; sparse categorical '
                f"crossentropy wants class indices of shape {expected[:-1]} (one per sample "
                f"for an output of shape {expected})."
            )
        if isinstance(classes, int) and y.size:
            low, high = float(y.min()), float(y.max())
            ignore = getattr(loss, "ignore_class", None)
            if ignore is not None:
                kept = y[y != ignore]
                low, high = (float(kept.min()), float(kept.max())) if kept.size else (0, 0)
            if low < 0 or high >= classes:
                bad = high if high >= classes else low
                raise InputDataError(
                    f'Target "{name}" has label {bad:g}, but the output has {classes} '
                    f"classes (labels 0 to {classes - 1})."
                )
        return
    # Keras broadcasts a target dimension of 1 against the output (mse on (n, 1) targets
    # for an (n, 4) output), and squeezes a trailing 1; anything else cannot broadcast.
    same = len(got) == len(expected) and all(
        e is None or isinstance(e, str) or e == g or g == 1 for e, g in zip(expected, got)
    )
    squeezed = got == expected[:-1] and expected[-1:] == (1,)
    if not (same or squeezed):
        raise InputDataError(
            f'Target "{name}" has shape {got} per sample but the output "{name}" has shape '
            f"{expected}: give targets of shape (n, {', '.join(map(str, expected))})."
        )


def _fits(got, expected) -> bool:
    """Whether a per-sample shape is ``expected``, whose unknown dimensions (a
    sequence's length) take any size."""
    return len(got) == len(expected) and all(
        e is None or isinstance(e, str) or e == g for e, g in zip(expected, got)
    )


def num_rows(groups: dict) -> int:
    """The common number of samples of every array; a clear error if they differ."""
    sizes = {what: [int(a.shape[0]) for a in arrays] for what, arrays in groups.items() if arrays}
    flat = {n for s in sizes.values() for n in s}
    if len(flat) != 1:
        detail = "; ".join(f"{what} sizes: {', '.join(map(str, s))}" for what, s in sizes.items())
        raise InputDataError(
            f"Data cardinality is ambiguous: {detail}. Make sure all arrays "
            "contain the same number of samples."
        )
    return flat.pop()


def class_weight_to_sample_weight(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """Keras: the class of a row is ``y`` itself (sparse) or its argmax (one-hot)."""
    if y.ndim > 1 and y.shape[-1] > 1:
        classes = np.argmax(y, axis=-1)
    else:
        classes = np.round(y.reshape(y.shape[0])).astype(int)
    missing = sorted(set(np.unique(classes).tolist()) - set(class_weight))
    if missing:
        raise InputDataError(
            f"class_weight has no entry for class(es) {missing}; give a "
            "weight for every class in y."
        )
    lookup = np.zeros(int(max(max(class_weight), classes.max())) + 1, dtype=np.float32)
    for k, w in class_weight.items():
        lookup[int(k)] = w
    return lookup[classes]


def take(arrays, index):
    """Rows ``index`` (a slice or an index array) of each array; None stays None."""
    if arrays is None:
        return None
    return [a[index] for a in arrays]


def split_validation(groups: dict, split: float, n: int):
    """Keras: the *last* ``split`` fraction of the rows, taken before any shuffling."""
    if not 0 < split < 1:
        raise InputDataError(f"validation_split must be in (0, 1), received {split}")
    at = int(n * (1.0 - split))
    if at == 0 or at == n:
        raise InputDataError(
            f"validation_split={split} leaves no training or no validation samples out of {n}."
        )
    train = {k: take(v, slice(0, at)) for k, v in groups.items()}
    val = {k: take(v, slice(at, n)) for k, v in groups.items()}
    return train, val


# ---- datasets: iterables of batches ---------------------------------------------------
_RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your "
    "dataset or generator can generate at least `steps_per_epoch * epochs` "
    "batches."
)


def is_dataset(data) -> bool:
    """Whether ``data`` is a dataset (an iterable of batches) rather than arrays: not an
    array, list, tuple, dict or string, not array-like (``__array__``: a torch tensor),
    but iterable (a PyDataset, a generator, an object with ``__iter__``)."""
    from graphc.models.py_dataset import PyDataset

    if isinstance(data, PyDataset):
        return True
    if (
        data is None
        or isinstance(data, (np.ndarray, list, tuple, dict, str, bytes))
        or hasattr(data, "__array__")
        or np.isscalar(data)
    ):
        return False
    return hasattr(data, "__iter__") or hasattr(data, "__next__")


def dataset_kind(data) -> str:
    """The name Keras gives the input type in its errors."""
    import types

    from graphc.models.py_dataset import PyDataset

    if isinstance(data, PyDataset):
        return "PyDataset"
    if isinstance(data, types.GeneratorType):
        return "generator"
    return "dataset"


def refuse_with_dataset(data, y=None, sample_weight=None):
    """Keras's errors for ``y=`` or ``sample_weight=`` given with a dataset ``x``: the
    batches carry them."""
    kind = dataset_kind(data)
    for value, arg, desc in (
        (y, "y", "the targets"),
        (sample_weight, "sample_weights", "the sample weights"),
    ):
        if value is not None:
            raise ValueError(
                f"When providing `x` as a {kind}, `{arg}` should not be "
                f"passed. Instead, {desc} should be included as part of the "
                f"{kind}."
            )


def unpack_batch(batch, kind="dataset"):
    """``(x, y, sample_weight)`` of one batch, as Keras's ``unpack_x_y_sample_weight``:
    a list counts as a tuple; a tuple is ``(x,)``, ``(x, y)`` or ``(x, y, sw)``; anything
    else (an array, a dict) is ``x`` alone. A PyDataset's ``__getitem__`` must return a
    tuple, a list, an array or a dict (Keras's ``PyDatasetAdapter``)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if (
        kind == "PyDataset"
        and not isinstance(batch, (tuple, dict, np.ndarray))
        or isinstance(batch, tuple)
        and len(batch) not in (1, 2, 3)
    ):
        if kind == "PyDataset":
            raise ValueError(
                "PyDataset.__getitem__() must return a tuple or a dict. If a tuple, it "
                "must be ordered either (input,) or (inputs, targets) or (inputs, "
                "targets, sample_weights). "
                f"Received: {str(batch)[:100]}... of type {type(batch)}"
            )
        raise ValueError(
            "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
            f"`(x, y, sample_weight)`, found: {str(batch)[:200]}"
        )
    if not isinstance(batch, tuple):
        return batch, None, None
    return tuple(batch) + (None,) * (3 - len(batch))


class DatasetBatches:
    """The batches of a dataset, one epoch at a time, as Keras's ``EpochIterator``.

    A re-iterable dataset (``iter`` starts over; a ``PyDataset`` is read by index) is
    read afresh each epoch; a one-shot iterator (a generator) goes on where the last
    epoch stopped. With ``steps`` (``steps_per_epoch``) an epoch is that many batches
    and the reading goes on across epochs, starting over once the dataset is used up;
    without, an epoch is one pass. The number of batches is ``len(data)`` when the
    dataset has one, else learnt at the end of the first pass.

    ``standardize(x, y, sample_weight)`` turns one batch into checked arrays
    ``(xs, ys, sw, rows)``; its errors name the batch.

    Example::

        source = DatasetBatches(gen(), model._standardize_batch, steps=10)
        for step, (xs, ys, sw, rows) in source.begin_epoch():
            ...
    """

    def __init__(self, data, standardize, steps=None, shuffle=False, class_weight=None, rng=None):
        from graphc.models.py_dataset import PyDataset

        self.data = data
        self.kind = dataset_kind(data)
        self.standardize = standardize
        self.steps = None if steps is None else int(steps)
        if self.steps is not None and self.steps <= 0:
            raise ValueError(f"The number of steps must be a positive integer, received {steps}")
        self.class_weight = class_weight
        self.py_dataset = data if isinstance(data, PyDataset) else None
        # Keras shuffles a finite PyDataset's batch order; other datasets come shuffled.
        self.shuffle = shuffle and self.py_dataset is not None
        self.rng = rng
        if self.py_dataset is not None:
            self.num_batches = self.py_dataset.num_batches
        else:
            try:
                self.num_batches = len(data)
            except TypeError:
                self.num_batches = None
        self.one_shot = hasattr(data, "__next__")
        self._iterator = None
        self._seen = 0  # batches read from the current iterator
        self._index = 0  # batches read in all: the index errors name
        self.epochs_begun = 0

    @property
    def steps_per_epoch(self):
        """What the progress bar shows: ``steps``, else the dataset's size if known."""
        return self.steps or self.num_batches

    def _new_iterator(self):
        if self.py_dataset is None:
            return iter(self.data)
        ds = self.py_dataset
        if self.num_batches is None:
            import itertools

            return (ds[i] for i in itertools.count())
        order = range(self.num_batches)
        if self.shuffle:
            order = self.rng.permutation(self.num_batches).tolist()
        return (ds[i] for i in order)

    def begin_epoch(self, restart=False):
        """An iterator over this epoch's ``(step, (xs, ys, sw, rows))``, its first batch
        read and checked already (``self.first``: a model built lazily is built from
        it); None, with Keras's
        "ran out of data" warning, when the dataset has no batch left. ``restart``
        (validation) reads a re-iterable dataset from its start."""
        import warnings

        if self.py_dataset is not None:
            self.py_dataset.on_epoch_begin()
        fresh = (
            restart
            or self._iterator is None
            or self.steps is None
            or (self.num_batches is not None and self._seen >= self.num_batches)
        )
        if fresh:
            self._iterator, self._seen = self._new_iterator(), 0
        first = self._next()
        if first is None and not fresh and not self.one_shot:
            # steps_per_epoch used the dataset up exactly: start it over.
            self._iterator, self._seen = self._new_iterator(), 0
            first = self._next()
        if first is None:
            self._end_epoch()
            if self.epochs_begun == 0:
                raise ValueError(
                    f"The {self.kind} passed to the model yielded no batch: "
                    "it must yield at least one batch."
                )
            warnings.warn(_RAN_OUT, stacklevel=3)
            return None
        self.epochs_begun += 1
        self.first = first
        return self._epoch(first)

    def _next(self):
        """The next batch, checked; None when the data (or the known size) is used up."""
        if self.num_batches is not None and self._seen >= self.num_batches:
            return None
        try:
            batch = next(self._iterator)
        except StopIteration:
            if self.num_batches is None:
                self.num_batches = self._seen
            self._iterator = None
            return None
        index = self._index
        self._seen += 1
        self._index += 1
        return self._check(batch, index)

    def _check(self, batch, index):
        try:
            x, y, sw = unpack_batch(batch, self.kind)
            if self.class_weight is not None and sw is not None:
                raise ValueError(
                    "You cannot specify `class_weight` and `sample_weight` at the same time."
                )
            return self.standardize(x, y, sw, self.class_weight)
        except InputDataError as e:
            raise InputDataError(f"Batch {index} of the {self.kind}: {e}") from None

    def _epoch(self, first):
        import warnings

        step, batch = 0, first
        while batch is not None:
            yield step, batch
            step += 1
            if self.steps is not None and step >= self.steps:
                break
            batch = self._next()
            if batch is None and self.steps is not None:
                warnings.warn(_RAN_OUT, stacklevel=2)
        self._end_epoch()

    def _end_epoch(self):
        if self.py_dataset is not None:
            self.py_dataset.on_epoch_end()
