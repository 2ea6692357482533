"""``PyDataset``: Keras 3's base class for datasets written in Python.

A subclass gives ``__len__`` (the number of batches) and ``__getitem__(index)`` (one
whole batch: ``(x, y)``, ``(x, y, sample_weight)``, ``x`` alone or ``(x,)``).
``fit``/``evaluate``/``predict`` read it by index, batch 0 to ``len - 1`` each epoch
(in a random order with ``fit(shuffle=True)``, as Keras), calling ``on_epoch_begin``
before and ``on_epoch_end`` after.

``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted for Keras
compatibility, but graphc reads the batches sequentially in the training process.

Example::

    class Batches(graphc.utils.PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, idx):
            rows = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
            return self.x[rows], self.y[rows]

    model.fit(Batches(x, y, 32), epochs=3)
"""

import itertools
import warnings

__all__ = ["PyDataset"]


class PyDataset:
    """Base class for a dataset of batches computed in Python (see the module doc).

    Args:
        workers: Keras's number of loader threads or processes; accepted, unused
            (graphc reads batches sequentially).
        use_multiprocessing: accepted, unused.
        max_queue_size: accepted, unused.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        warn = False
        for name, default in (
            ("_workers", 1),
            ("_use_multiprocessing", False),
            ("_max_queue_size", 10),
        ):
            if not hasattr(self, name):
                setattr(self, name, default)
                warn = True
        if warn:
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                "`max_queue_size`. Do not pass these arguments to `fit()`, as they will "
                "be ignored.",
                stacklevel=3,
            )

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position ``index``."""
        raise NotImplementedError

    def __iter__(self):
        try:
            num_batches = self.num_batches
        except NotImplementedError:
            num_batches = None
        indices = itertools.count() if num_batches is None else range(num_batches)
        for index in indices:
            yield self[index]

    @property
    def num_batches(self):
        """The number of batches, or None for an endless dataset (then give ``fit`` a
        ``steps_per_epoch``). Defaults to ``len(self)``."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            "You need to implement the `num_batches` property:\n\n"
            "@property\ndef num_batches(self):\n  return ..."
        )

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""
