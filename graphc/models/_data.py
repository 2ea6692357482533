"""Turning user data (arrays, lists, dicts) into checked lists of arrays, and batching.

Every check runs before any weight changes, so bad data never costs a user their model.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import InputDataError
from graphc.ir import format_shape

__all__ = ["to_arrays", "check_against", "num_rows", "class_weight_to_sample_weight",
           "take", "split_validation"]


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
                f"are named {names}" + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {extra}" if extra else "")
                + ". Key the dict by those names, or pass a list in that order.")
        items = [data[n] for n in names]
    elif isinstance(data, (list, tuple)) and len(names) > 1:
        if len(data) != len(names):
            raise InputDataError(f"The model has {len(names)} {what} {names}, but "
                                 f"{len(data)} arrays were passed. Pass one array per "
                                 f"{what[:-1] if what.endswith('s') else what}, in that order.")
        items = list(data)
    elif isinstance(data, (list, tuple)) and len(data) == 1 and not np.isscalar(data[0]) \
            and np.ndim(data[0]) >= 1 and len(names) == 1 and _is_array_like(data[0]):
        items = [data[0]]
    else:
        items = [data]
    out = []
    for name, a in zip(names, items):
        try:
            arr = np.asarray(a)
        except Exception as e:  # ragged lists and the like
            raise InputDataError(f"{what[:-1].capitalize()} {name!r} could not be converted "
                                 f"to an array: {e}") from None
        if arr.dtype.kind not in "biuf":
            raise InputDataError(f"{what[:-1].capitalize()} {name!r} has dtype {arr.dtype}; "
                                 "expected numbers (float or int).")
        if arr.ndim == 0:
            raise InputDataError(f"{what[:-1].capitalize()} {name!r} is a scalar; expected "
                                 "an array with one row per sample.")
        out.append(arr)
    return out


def _is_array_like(x) -> bool:
    return isinstance(x, np.ndarray) or (isinstance(x, (list, tuple)) and len(x) > 0
                                         and isinstance(x[0], (list, tuple, np.ndarray)))


def check_against(arrays: list, values, what: str, model_name: str,
                  dtype="float32") -> list:
    """Check each array's feature shape against the model's tensor ``values`` and cast to
    the model's dtype. NaN or Inf in inputs is refused: it would poison every weight."""
    out = []
    for arr, v in zip(arrays, values):
        expected = v.shape
        ok = len(arr.shape) == len(expected) and all(
            e is None or isinstance(e, str) or e == a for e, a in zip(expected[1:], arr.shape[1:]))
        if not ok:
            raise InputDataError(
                f'{what[:-1].capitalize()} "{v.name}" of model "{model_name}" is incompatible: '
                f"expected shape {format_shape(expected)}, received {format_shape(arr.shape)}. "
                f"Each row must have shape {format_shape(tuple(expected[1:]))}.")
        if arr.dtype != np.dtype(v.dtype):
            arr = arr.astype(v.dtype)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise InputDataError(f'{what[:-1].capitalize()} "{v.name}" contains {bad} NaN or '
                                 "infinite value(s); clean or impute them before training.")
        out.append(arr)
    return out


def check_target(name: str, y: np.ndarray, output, loss) -> None:
    """Targets must fit the output they train: finite, and the output's shape per sample
    up to Keras's broadcasting (dimensions of 1; one dimension less when the output's last
    is 1), or class indices within range for a sparse loss."""
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise InputDataError(f'Target "{name}" contains NaN or infinite values.')
    expected = tuple(output.shape[1:])
    got = tuple(y.shape[1:])
    sparse = type(loss).__name__ == "SparseCategoricalCrossentropy"
    if sparse:
        classes = expected[-1] if expected else None
        if not any(_fits(got, want) for want in (expected[:-1], expected[:-1] + (1,))):
            raise InputDataError(
                f'Target "{name}" has shape {got} per sample; sparse categorical '
                f"crossentropy wants class indices of shape {expected[:-1]} (one per sample "
                f"for an output of shape {expected}).")
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
                    f"classes (labels 0 to {classes - 1}).")
        return
    # Keras broadcasts a target dimension of 1 against the output (mse on (n, 1) targets
    # for an (n, 4) output), and squeezes a trailing 1; anything else cannot broadcast.
    same = len(got) == len(expected) and all(
        e is None or isinstance(e, str) or e == g or g == 1 for e, g in zip(expected, got))
    squeezed = got == expected[:-1] and expected[-1:] == (1,)
    if not (same or squeezed):
        raise InputDataError(
            f'Target "{name}" has shape {got} per sample but the output "{name}" has shape '
            f"{expected}: give targets of shape (n, {', '.join(map(str, expected))}).")


def _fits(got, expected) -> bool:
    """Whether a per-sample shape is ``expected``, whose unknown dimensions (a
    sequence's length) take any size."""
    return len(got) == len(expected) and all(
        e is None or isinstance(e, str) or e == g for e, g in zip(expected, got))


def num_rows(groups: dict) -> int:
    """The common number of samples of every array; a clear error if they differ."""
    sizes = {what: [int(a.shape[0]) for a in arrays] for what, arrays in groups.items()
             if arrays}
    flat = {n for s in sizes.values() for n in s}
    if len(flat) != 1:
        detail = "; ".join(f"{what} sizes: {', '.join(map(str, s))}" for what, s in sizes.items())
        raise InputDataError(f"Data cardinality is ambiguous: {detail}. Make sure all arrays "
                             "contain the same number of samples.")
    return flat.pop()


def class_weight_to_sample_weight(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """Keras: the class of a row is ``y`` itself (sparse) or its argmax (one-hot)."""
    if y.ndim > 1 and y.shape[-1] > 1:
        classes = np.argmax(y, axis=-1)
    else:
        classes = np.round(y.reshape(y.shape[0])).astype(int)
    missing = sorted(set(np.unique(classes).tolist()) - set(class_weight))
    if missing:
        raise InputDataError(f"class_weight has no entry for class(es) {missing}; give a "
                             "weight for every class in y.")
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
        raise InputDataError(f"validation_split={split} leaves no training or no validation "
                             f"samples out of {n}.")
    train = {k: take(v, slice(0, at)) for k, v in groups.items()}
    val = {k: take(v, slice(at, n)) for k, v in groups.items()}
    return train, val
