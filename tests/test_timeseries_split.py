"""graphc.utils.timeseries_dataset_from_array and split_dataset (issue 9): Keras's
windows, targets, sizes and seeded split (Keras's own need TensorFlow or grain, which
the oracle environment lacks, so the expected values are written from its source)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from graphc.errors import ArgumentTypeError, ArgumentValueError
from graphc.utils import split_dataset, timeseries_dataset_from_array


def test_timeseries_windows_and_targets_as_keras_docstring():
    # Keras's docstring example 1: windows of 10 every 2 steps, targets offset by 10.
    data = np.arange(100)
    ds = timeseries_dataset_from_array(
        data[:-10], data[10:], sequence_length=10, sampling_rate=2, batch_size=6
    )
    x, y = next(iter(ds))
    np.testing.assert_array_equal(x[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(x[1], np.arange(1, 21, 2))
    assert y[0] == 10 and y[1] == 11
    # 90 steps: 90 - 9 * 2 = 72 windows, in 12 batches.
    assert len(ds) == 12 and sum(len(b[0]) for b in ds) == 72


def test_timeseries_stride_start_end_and_no_batching():
    data = np.arange(50, dtype="float32").reshape(25, 2)
    ds = timeseries_dataset_from_array(
        data,
        None,
        sequence_length=4,
        sequence_stride=3,
        batch_size=None,
        start_index=2,
        end_index=20,
    )
    windows = list(ds)
    starts = list(range(0, 18 - 3, 3))  # num_seqs = 18 - 3 = 15
    assert len(windows) == len(starts)
    for w, s in zip(windows, starts):
        np.testing.assert_array_equal(w, data[2 + s : 2 + s + 4])


def test_timeseries_shuffle_keeps_the_windows():
    data = np.arange(40)
    ds = timeseries_dataset_from_array(
        data, data, sequence_length=5, batch_size=4, shuffle=True, seed=3
    )
    xs, ys = zip(*ds)
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert sorted(y.tolist()) == list(range(36))
    np.testing.assert_array_equal(x[:, 0], y)  # each window with its own target
    again = np.concatenate([b[1] for b in ds])
    assert len(again) == 36


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"sampling_rate": 0}, "sampling_rate"),
        ({"sequence_stride": 0}, "sequence_stride"),
        ({"start_index": 20}, "start_index"),
        ({"end_index": 30}, "end_index"),
        ({"format": "x"}, "format"),
    ],
)
def test_timeseries_errors(kwargs, message):
    with pytest.raises(ArgumentValueError, match=message):
        timeseries_dataset_from_array(np.arange(20), None, sequence_length=3, **kwargs)


def test_split_dataset_sizes_and_seeded_shuffle_as_keras():
    x, y = np.arange(10), np.arange(10) * 2
    left, right = split_dataset((x, y), left_size=0.8, shuffle=True, seed=1)
    order = list(range(10))
    random.seed(1)  # Keras's TensorFlow path: random.seed(seed); random.shuffle(...)
    random.shuffle(order)
    assert [int(a) for a, _ in left] == order[:8]
    assert [int(a) for a, _ in right] == order[-2:]
    assert all(int(b) == 2 * int(a) for a, b in left)
    left, right = split_dataset(np.arange(12.0).reshape(6, 2), right_size=2)
    assert len(left) == 4 and len(right) == 2
    np.testing.assert_array_equal(list(right)[0], [8.0, 9.0])
    left, right = split_dataset(left.batch(1).unbatch(), left_size=1, right_size=1)
    assert len(left) == len(right) == 1
    b = next(iter(split_dataset((x, y), left_size=5)[0].batch(5)))
    np.testing.assert_array_equal(b[0], np.arange(5))


def test_split_dataset_errors():
    with pytest.raises(ArgumentValueError, match="At least one"):
        split_dataset(np.arange(5))
    with pytest.raises(ArgumentValueError, match="left_size"):
        split_dataset(np.arange(5), left_size=5)
    with pytest.raises(ArgumentValueError, match="greater than 1"):
        split_dataset(np.arange(5), left_size=0.6, right_size=0.6)
    with pytest.raises(ArgumentTypeError, match="left_size"):
        split_dataset(np.arange(5), left_size="3")
