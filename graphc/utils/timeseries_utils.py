"""``timeseries_dataset_from_array`` and ``split_dataset``, as Keras 3's, returning
graphc's :class:`~graphc.utils.Dataset` (no TensorFlow).

The windows, their start positions and their seeded shuffle of start positions follow
Keras's ``timeseries_dataset_utils`` line by line; Keras then shuffles through a
``tf.data`` buffer of ``batch_size * 8`` windows, which graphc's ``Dataset.shuffle`` does
with its own generator (so a shuffled order is not Keras's, the windows are).
``split_dataset`` shuffles with Python's ``random`` seeded by ``seed``, as Keras's
TensorFlow path does, so a seed splits the samples as Keras does.
"""

from __future__ import annotations

import random

import numpy as np

from graphc.errors import ArgumentTypeError, ArgumentValueError
from graphc.utils.dataset_utils import Dataset, _stack

__all__ = ["split_dataset", "timeseries_dataset_from_array"]


def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length,
    sequence_stride=1,
    sampling_rate=1,
    batch_size=128,
    shuffle=False,
    seed=None,
    start_index=None,
    end_index=None,
    format="tf",
):
    """Windows of ``sequence_length`` steps of ``data`` (taken every ``sampling_rate``
    steps, one window every ``sequence_stride`` steps, between ``start_index`` and
    ``end_index``), batched by ``batch_size``; with ``targets``, each window ``i``
    comes with ``targets[start_index + i * sequence_stride]``: ``(x, y)`` batches.

    >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3,
    ...                                    batch_size=2)
    >>> next(iter(ds))
    array([[0, 1, 2],
           [1, 2, 3]])
    """
    n = len(data)
    if start_index:
        if start_index < 0:
            raise ArgumentValueError(
                f"`start_index` must be 0 or greater. Received: start_index={start_index}"
            )
        if start_index >= n:
            raise ArgumentValueError(
                "`start_index` must be lower than the length of the data. Received: "
                f"start_index={start_index}, for data of length {n}"
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ArgumentValueError(
                "`end_index` must be higher than `start_index`. Received: "
                f"start_index={start_index}, and end_index={end_index} "
            )
        if end_index >= n:
            raise ArgumentValueError(
                "`end_index` must be lower than the length of the data. Received: "
                f"end_index={end_index}, for data of length {n}"
            )
        if end_index <= 0:
            raise ArgumentValueError(
                f"`end_index` must be higher than 0. Received: end_index={end_index}"
            )
    if sampling_rate <= 0:
        raise ArgumentValueError(
            f"`sampling_rate` must be higher than 0. Received: sampling_rate={sampling_rate}"
        )
    if sampling_rate >= n:
        raise ArgumentValueError(
            "`sampling_rate` must be lower than the length of the data. Received: "
            f"sampling_rate={sampling_rate}, for data of length {n}"
        )
    if sequence_stride <= 0:
        raise ArgumentValueError(
            f"`sequence_stride` must be higher than 0. Received: sequence_stride={sequence_stride}"
        )
    if sequence_stride >= n:
        raise ArgumentValueError(
            "`sequence_stride` must be lower than the length of the data. Received: "
            f"sequence_stride={sequence_stride}, for data of length {n}"
        )
    if format not in ("tf", "grain"):
        raise ArgumentValueError(
            f'`format` should be either "tf" or "grain". Received: format={format}'
        )
    start_index = 0 if start_index is None else start_index
    end_index = n if end_index is None else end_index
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    start_positions = np.arange(0, max(num_seqs, 0), sequence_stride)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(start_positions)
    data = np.asarray(data)[start_index:end_index]
    target_slice = None if targets is None else np.asarray(targets)[start_index:end_index]
    offsets = np.arange(0, sequence_length * sampling_rate, sampling_rate)

    def make_iterator():
        for pos in start_positions:
            window = data[pos + offsets]
            yield window if target_slice is None else (window, target_slice[pos])

    ds = Dataset(make_iterator, len(start_positions))
    if batch_size is not None:
        if shuffle:
            ds = ds.shuffle(buffer_size=batch_size * 8, seed=seed)
        ds = ds.batch(batch_size)
    elif shuffle:
        ds = ds.shuffle(buffer_size=1024, seed=seed)
    return ds


def _samples(dataset):
    """The list of samples of ``dataset`` and how to rebuild arrays from them."""
    if isinstance(dataset, np.ndarray):
        return list(dataset), "array"
    if isinstance(dataset, (list, tuple)):
        arrays = [np.asarray(a) for a in dataset]
        if len({len(a) for a in arrays}) > 1:
            raise ArgumentValueError(
                "split_dataset: the arrays of a list or tuple must have the same first "
                f"dimension. Received first dimensions: {[len(a) for a in arrays]}"
            )
        return list(zip(*arrays)), type(dataset)
    if isinstance(dataset, Dataset) or hasattr(dataset, "__iter__"):
        return list(dataset), "dataset"
    raise ArgumentTypeError(
        "The `dataset` argument must be a graphc Dataset, a NumPy array or a list/tuple "
        f"of arrays. Received: dataset={dataset!r} of type {type(dataset)}"
    )


def _rescale(left_size, right_size, total_length):
    """Keras's ``_rescale_dataset_split_sizes``: ints are counts, floats fractions."""
    lt, rt = type(left_size), type(right_size)
    if (left_size is not None and lt not in (int, float)) and (
        right_size is not None and rt not in (int, float)
    ):
        raise ArgumentTypeError(
            "Invalid `left_size` and `right_size` Types. Expected: integer or float or "
            f"None, Received: type(left_size)={lt} and type(right_size)={rt}"
        )
    if left_size is not None and lt not in (int, float):
        raise ArgumentTypeError(
            f"Invalid `left_size` Type. Expected: int or float or None, Received: "
            f"type(left_size)={lt}."
        )
    if right_size is not None and rt not in (int, float):
        raise ArgumentTypeError(
            f"Invalid `right_size` Type. Expected: int or float or None, Received: "
            f"type(right_size)={rt}."
        )
    if left_size == 0 and right_size == 0:
        raise ArgumentValueError(
            "Both `left_size` and `right_size` are zero. At least one of the split sizes "
            "must be non-zero."
        )
    if (lt is int and (left_size <= 0 or left_size >= total_length)) or (
        lt is float and (left_size <= 0 or left_size >= 1)
    ):
        raise ArgumentValueError(
            f"`left_size` should be either a positive integer smaller than {total_length}, "
            f"or a float within the range `[0, 1]`. Received: left_size={left_size}"
        )
    if (rt is int and (right_size <= 0 or right_size >= total_length)) or (
        rt is float and (right_size <= 0 or right_size >= 1)
    ):
        raise ArgumentValueError(
            f"`right_size` should be either a positive integer and smaller than "
            f"{total_length} or a float within the range `[0, 1]`. Received: "
            f"right_size={right_size}"
        )
    if rt is lt is float and right_size + left_size > 1:
        raise ArgumentValueError(
            "The sum of `left_size` and `right_size` is greater than 1. It must be less "
            "than or equal to 1."
        )
    if lt is float:
        left_size = round(left_size * total_length)
    if rt is float:
        right_size = round(right_size * total_length)
    if left_size is None:
        left_size = total_length - right_size
    elif right_size is None:
        right_size = total_length - left_size
    if left_size + right_size > total_length:
        raise ArgumentValueError(
            f"The sum of `left_size` and `right_size` should be smaller than the "
            f"{total_length}. Received: left_size + right_size = "
            f"{left_size + right_size}and total_length = {total_length}"
        )
    for split, side in ((left_size, "left"), (right_size, "right")):
        if split == 0:
            raise ArgumentValueError(
                f"With `dataset` of length={total_length}, `left_size`={left_size} and "
                f"`right_size`={right_size}.Resulting {side} side dataset split will be "
                "empty. Adjust any of the aforementioned parameters"
            )
    return int(left_size), int(right_size)


def split_dataset(
    dataset, left_size=None, right_size=None, shuffle=False, seed=None, preferred_backend=None
):
    """Split ``dataset`` (a NumPy array, a list/tuple of arrays of the same length, or
    a Dataset of samples) in two Datasets of samples: the first ``left_size``, the last
    ``right_size`` (ints are counts, floats fractions; one may be None: the rest),
    after a seeded shuffle if ``shuffle``. ``preferred_backend`` is accepted (graphc
    has one). Batch the results with ``.batch(n)``."""
    if right_size is None and left_size is None:
        raise ArgumentValueError(
            "At least one of the `left_size` or `right_size` must be specified. "
            "Received: left_size=None and right_size=None"
        )
    samples, kind = _samples(dataset)
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(samples)
    left_size, right_size = _rescale(left_size, right_size, len(samples))
    halves = samples[:left_size], samples[-right_size:]

    def as_dataset(part):
        if kind == "array":
            return Dataset.from_tensor_slices(np.stack(part))
        if kind in (list, tuple):
            return Dataset.from_tensor_slices(tuple(_stack(list(part))))
        return Dataset(lambda part=part: iter(part), len(part))

    return as_dataset(halves[0]), as_dataset(halves[1])
