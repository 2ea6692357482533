"""Stateful metrics like Keras 3's, in NumPy.

A metric accumulates over batches with ``update_state(y_true, y_pred,
sample_weight=None)``, reports with ``result()`` (a float) and starts over with
``reset_state()``::

    from graphc import metrics
    acc = metrics.SparseCategoricalAccuracy()
    acc.update_state([1, 2], [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    acc.result()  # 0.5

Weighting follows ``keras/src/metrics/reduction_metrics.py``: a batch adds
``sum(value * weight)`` to the total and ``sum(weight)`` to the count (the number
of samples when unweighted). :class:`Mean` is what a trainer uses for the running
loss, with ``sample_weight=batch_size``. Accumulators are float64.

This module imports only NumPy, the standard library and graphc's own ``losses``.
"""

import re

import numpy as np

from . import losses as _losses
from .losses import (
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    hinge,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
    squeeze_or_expand_to_same_rank,
)

__all__ = [
    "huber",
    "Metric",
    "Mean",
    "Sum",
    "MeanMetricWrapper",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "RootMeanSquaredError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "LogCoshError",
    "CosineSimilarity",
    "KLDivergence",
    "Poisson",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "get",
    "serialize",
    "deserialize",
]

_MODULE = "keras.metrics"


def _to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _float(x):
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)


# ---------------------------------------------------------------------------- functions
def accuracy(y_true, y_pred):
    """1.0 where ``y_true == y_pred`` (after squeezing a trailing 1), else 0.0."""
    y_pred = _float(y_pred)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_true == (y_pred > threshold)``."""
    y_pred = _float(y_pred)
    y_true = np.asarray(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == (y_pred > threshold)).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_true) == argmax(y_pred)`` over the last axis."""
    y_pred = _float(y_pred)
    t = np.argmax(np.asarray(y_true), axis=-1)
    if t.ndim == y_pred.ndim:
        t = np.squeeze(t, -1)
    return (t == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label equals ``argmax(y_pred)``."""
    y_pred = _float(y_pred)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = np.squeeze(y_true, -1)
    matches = (y_true == np.argmax(y_pred, axis=-1)).astype(np.float32)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = np.squeeze(matches, -1)
    return matches


def _in_top_k(targets, predictions, k):
    # keras backend in_top_k: the target's score is >= the k-th largest score
    # (so ties at the boundary count as hits).
    k = min(int(k), predictions.shape[-1])
    kth = -np.partition(-predictions, k - 1, axis=-1)[:, k - 1]
    target_values = np.take_along_axis(predictions, targets[:, None], axis=-1)[:, 0]
    return target_values >= kth


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where ``argmax(y_true)`` is among the ``k`` largest predictions."""
    y_pred = _float(y_pred)
    t = np.argmax(np.asarray(y_true), axis=-1)
    shape = t.shape
    matches = _in_top_k(t.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k)
    return matches.astype(np.float32).reshape(shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the ``k`` largest predictions (or, with
    ``from_sorted_ids=True``, among the first ``k`` ids of ``y_pred``)."""
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    shape = y_true.shape
    t = y_true.reshape(-1)
    p = y_pred.reshape(-1, y_pred.shape[-1])
    if from_sorted_ids:
        matches = np.any(t[:, None] == p[:, :k], axis=1)
    else:
        matches = _in_top_k(t.astype(np.int64), _float(p), k)
    return matches.astype(np.float32).reshape(shape)


# ---------------------------------------------------------------------------- base classes
class Metric:
    """Base class: implement ``update_state``, ``result`` and ``reset_state``.

    Example::

        class Count(Metric):
            def __init__(self, name="count"):
                super().__init__(name=name)
                self.n = 0
            def update_state(self, y_true, y_pred, sample_weight=None):
                self.n += len(y_true)
            def result(self):
                return float(self.n)
            def reset_state(self):
                self.n = 0
    """

    _direction = None  # "up" for accuracies, "down" for errors (EarlyStopping "auto")

    def __init__(self, name=None, dtype=None):
        self.name = name or _to_snake_case(type(self).__name__)
        self.dtype = str(np.dtype(dtype)) if dtype is not None else "float32"

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the new result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _reduce_to_samplewise_values(values, sample_weight, reduce_fn):
    # keras/src/metrics/reduction_metrics.py reduce_to_samplewise_values
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        w_ndim, v_ndim = sample_weight.ndim, values.ndim
        if v_ndim > w_ndim:
            values = reduce_fn(values, axis=tuple(range(w_ndim, v_ndim)))
        sample_weight = np.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if w_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, w_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


def update_state_with_mask(metric, y_true, y_pred, mask, sample_weight=None):
    """Update ``metric`` as Keras's trainer does when ``y_pred`` carries ``mask``:
    ``MeanMetricWrapper.update_state`` folds the mask into the sample weight (Keras's
    ``apply_mask`` with reduction ``"sum"``: weight 1 on valid entries, 0 on masked
    ones), so e.g. accuracy is the mean over the valid time steps; other metrics
    (``RootMeanSquaredError``, ``AUC``...) never read the mask. ``sample_weight``
    (a ``weighted_metrics=`` metric's) is multiplied by the mask, each sample's weight
    applying to all its steps (as graphc's losses do; Keras's broadcast refuses a
    ``(batch,)`` weight with a ``(batch, time)`` mask).

    Example::

        acc = SparseCategoricalAccuracy()
        update_state_with_mask(acc, y, probs, mask)   # mask: (batch, time) booleans
    """
    if mask is not None and isinstance(metric, MeanMetricWrapper):
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        sample_weight = _losses._apply_mask(sample_weight, mask, np.dtype(np.float64), "sum")
    if sample_weight is None:
        return metric.update_state(y_true, y_pred)
    return metric.update_state(y_true, y_pred, sample_weight=sample_weight)


class Sum(Metric):
    """Weighted sum of the values seen.

    Example::

        m = Sum(); m.update_state([1, 3, 5, 7]); m.result()  # 16.0
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        values, _ = _reduce_to_samplewise_values(values, sample_weight, np.sum)
        self.total += float(np.sum(values))

    def result(self):
        return float(self.total)

    def reset_state(self):
        self.total = 0.0


class Mean(Metric):
    """Weighted mean of the values seen: ``sum(value * w) / sum(w)``.

    Example::

        m = Mean()
        m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
        m.result()  # 2.0
        loss_tracker = Mean(name="loss")
        loss_tracker.update_state(0.7, sample_weight=32)   # one batch of 32
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values, sample_weight = _reduce_to_samplewise_values(values, sample_weight, np.mean)
        self.total += float(np.sum(values))
        if sample_weight is not None:
            self.count += float(np.sum(sample_weight))
        elif values.ndim >= 1:
            self.count += values.shape[0]
        else:
            self.count += 1

    def result(self):
        return self.total / self.count if self.count != 0 else 0.0

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0


class MeanMetricWrapper(Mean):
    """Mean over samples of a function ``fn(y_true, y_pred, **kwargs)`` returning
    per-sample values (any graphc loss function works).

    Example::

        m = MeanMetricWrapper(fn=lambda t, p: (t - p) ** 2, name="se")
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if name is None:
            name = getattr(fn, "name", None) or _to_snake_case(
                getattr(fn, "__name__", type(fn).__name__)
            )
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        if fn in _LOSS_FUNCTIONS or isinstance(fn, _losses.Loss):
            self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        config["fn"] = getattr(self._fn, "__name__", repr(self._fn))
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "fn" not in config:  # subclasses fix their own function
            return cls(**config)
        fn = config.pop("fn")
        if isinstance(fn, dict):
            fn = fn.get("config")
        if isinstance(fn, str):
            table = dict(_FUNCTIONS)
            table.update(custom_objects or {})
            if fn not in table:
                raise ValueError(f"Unknown metric function '{fn}': pass custom_objects.")
            fn = table[fn]
        return cls(fn, **config)


# ---------------------------------------------------------------------------- accuracy
class Accuracy(MeanMetricWrapper):
    """How often ``y_pred`` equals ``y_true`` exactly.

    Example::

        m = Accuracy(); m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
        m.result()  # 0.75
    """

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the binary label.

    Example::

        m = BinaryAccuracy(); m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        m.result()  # 0.75
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(fn=binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred)`` matches ``argmax`` of the one-hot label.

    Example::

        m = CategoricalAccuracy()
        m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        m.result()  # 0.5
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(fn=categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred)`` matches the integer label.

    Example::

        m = SparseCategoricalAccuracy()
        m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        m.result()  # 0.5
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(fn=sparse_categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the ``k`` largest predictions.

    Example::

        m = TopKCategoricalAccuracy(k=1)
        m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        m.result()  # 0.5
    """

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(fn=top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is among the ``k`` largest predictions."""

    def __init__(
        self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False
    ):
        super().__init__(
            fn=sparse_top_k_categorical_accuracy,
            name=name,
            dtype=dtype,
            k=k,
            from_sorted_ids=from_sorted_ids,
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids
        self._direction = "up"

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config


# ------------------------------------------------------------------------ regression, probabilistic
class _LossMetric(MeanMetricWrapper):
    _fn_static = None
    _default_name = None

    def __init__(self, name=None, dtype=None):
        super().__init__(fn=type(self)._fn_static, name=name or self._default_name, dtype=dtype)
        self._direction = "down"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def cosine_similarity(y_true, y_pred, axis=-1):
    """Keras's ``metrics.cosine_similarity``: ``sum(l2_normalize(y_true) *
    l2_normalize(y_pred), axis)``, per sample (+1 for equal directions; the loss of the
    same name is its negative)."""
    from graphc.config import epsilon

    y_pred = np.asarray(y_pred)
    y_pred = y_pred.astype(y_pred.dtype if y_pred.dtype.kind == "f" else np.float32)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)

    def normalize(x):
        with np.errstate(divide="ignore"):
            inv = 1.0 / np.sqrt(np.sum(np.square(x), axis=axis, keepdims=True))
        return x * np.minimum(inv, x.dtype.type(1.0 / epsilon()))

    return np.sum(normalize(y_true) * normalize(y_pred), axis=axis)


class CosineSimilarity(MeanMetricWrapper):
    """Mean over samples of the cosine similarity of ``y_true`` and ``y_pred`` along
    ``axis`` (Keras's ``CosineSimilarity``; maximised).

    Example::

        m = CosineSimilarity(axis=1)
        m.update_state([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]])
        m.result()  # 0.5
    """

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(fn=cosine_similarity, name=name, dtype=dtype, axis=axis)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _loss_metric(class_name, fn, default_name, doc):
    cls = type(
        class_name,
        (_LossMetric,),
        {"_fn_static": staticmethod(fn), "_default_name": default_name, "__doc__": doc},
    )
    cls.__module__ = __name__
    return cls


MeanSquaredError = _loss_metric(
    "MeanSquaredError",
    mean_squared_error,
    "mean_squared_error",
    "Mean of ``mean(square(y_true - y_pred), axis=-1)`` over samples.",
)
MeanAbsoluteError = _loss_metric(
    "MeanAbsoluteError",
    mean_absolute_error,
    "mean_absolute_error",
    "Mean of ``mean(abs(y_true - y_pred), axis=-1)`` over samples.",
)
MeanAbsolutePercentageError = _loss_metric(
    "MeanAbsolutePercentageError",
    mean_absolute_percentage_error,
    "mean_absolute_percentage_error",
    "Mean absolute percentage error over samples.",
)
MeanSquaredLogarithmicError = _loss_metric(
    "MeanSquaredLogarithmicError",
    mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error",
    "Mean squared logarithmic error over samples.",
)
LogCoshError = _loss_metric(
    "LogCoshError", log_cosh, "logcosh", "Mean log-cosh error over samples."
)
KLDivergence = _loss_metric(
    "KLDivergence", kl_divergence, "kl_divergence", "Mean KL divergence over samples."
)
Poisson = _loss_metric("Poisson", poisson, "poisson", "Mean Poisson loss over samples.")
Hinge = _loss_metric("Hinge", hinge, "hinge", "Mean hinge loss over samples.")
SquaredHinge = _loss_metric(
    "SquaredHinge", squared_hinge, "squared_hinge", "Mean squared hinge loss over samples."
)
CategoricalHinge = _loss_metric(
    "CategoricalHinge",
    categorical_hinge,
    "categorical_hinge",
    "Mean categorical hinge loss over samples.",
)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean of the squared errors.

    Example::

        m = RootMeanSquaredError(); m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
        m.result()  # 0.5
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true = np.asarray(y_true, dtype=np.float64)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return super().update_state(np.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary crossentropy over samples (same formula as the loss)."""

    def __init__(
        self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0
    ):
        super().__init__(
            binary_crossentropy,
            name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self._direction = "down"

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical crossentropy over samples (same formula as the loss)."""

    def __init__(
        self,
        name="categorical_crossentropy",
        dtype=None,
        from_logits=False,
        label_smoothing=0,
        axis=-1,
    ):
        super().__init__(
            categorical_crossentropy,
            name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self._direction = "down"

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean sparse categorical crossentropy over samples. ``ignore_class`` entries
    add zero loss; they leave the mean only when sample weights are given (Keras 3)."""

    def __init__(
        self,
        name="sparse_categorical_crossentropy",
        dtype=None,
        from_logits=False,
        ignore_class=None,
        axis=-1,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        # Keras 3 applies the ignore_class mask only when there are sample weights
        # (reduce_to_samplewise_values reads the mask inside `if sample_weight is
        # not None`); unweighted, ignored entries count as zero loss. Same here.
        if self.ignore_class is not None and sample_weight is not None:
            t = np.asarray(y_true)
            p = np.asarray(y_pred)
            if t.ndim == p.ndim and t.shape[self.axis] == 1:
                t = np.squeeze(t, axis=self.axis)
            mask = (t != self.ignore_class).astype(np.float64)
            if sample_weight is not None:
                mask, sw = squeeze_or_expand_to_same_rank(
                    mask, np.asarray(sample_weight, dtype=np.float64)
                )
                mask = sw * mask
            sample_weight = mask
        return super().update_state(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }


# ---------------------------------------------------------------------------- lookup
_CLASSES = {
    cls.__name__: cls
    for cls in (
        Mean,
        Sum,
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        TopKCategoricalAccuracy,
        SparseTopKCategoricalAccuracy,
        MeanSquaredError,
        MeanAbsoluteError,
        RootMeanSquaredError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        LogCoshError,
        KLDivergence,
        Poisson,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        CosineSimilarity,
    )
}

# keras/src/metrics/__init__.py ALL_OBJECTS_DICT: class names, their snake_case, aliases
_NAMES = dict(_CLASSES)
_NAMES.update({_to_snake_case(k): v for k, v in _CLASSES.items()})
_NAMES.update(
    {
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "mape": MeanAbsolutePercentageError,
        "MAPE": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "MSLE": MeanSquaredLogarithmicError,
        # graphc additions: the loss-function spellings Keras 2 accepted as metrics
        "rmse": RootMeanSquaredError,
        "kld": KLDivergence,
        "KLD": KLDivergence,
        "logcosh": LogCoshError,
        "log_cosh": LogCoshError,
    }
)

# keras.metrics.huber is the loss function itself, as in Keras.
huber = _losses.huber

_LOSS_FUNCTIONS = {
    mean_squared_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    log_cosh,
    kl_divergence,
    poisson,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
    hinge,
    squared_hinge,
    categorical_hinge,
}

_FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        accuracy,
        binary_accuracy,
        categorical_accuracy,
        sparse_categorical_accuracy,
        top_k_categorical_accuracy,
        sparse_top_k_categorical_accuracy,
        *_LOSS_FUNCTIONS,
        _losses.huber,
        cosine_similarity,
    )
}


def _loss_kind(loss):
    """'binary' / 'sparse' / None for a loss given as string, class, object or function."""
    if loss is None:
        return None
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, str):
        try:
            loss = _losses.get(loss)
        except ValueError:
            return None
    if isinstance(loss, type):
        loss = loss if issubclass(loss, _losses.Loss) else None
    if (
        loss is _losses.binary_crossentropy
        or isinstance(loss, _losses.BinaryCrossentropy)
        or (isinstance(loss, type) and issubclass(loss, _losses.BinaryCrossentropy))
    ):
        return "binary"
    if (
        loss is _losses.sparse_categorical_crossentropy
        or isinstance(loss, _losses.SparseCategoricalCrossentropy)
        or (isinstance(loss, type) and issubclass(loss, _losses.SparseCategoricalCrossentropy))
    ):
        return "sparse"
    impl = getattr(loss, "_impl", None)  # LossFunctionWrapper around a graphc function
    if impl is not None:
        return _loss_kind(impl)
    return None


def _resolve_accuracy(name, loss, y_true_shape, y_pred_shape):
    # Keras 3 (keras/src/trainers/compile_utils.py get_metric and
    # is_binary_or_sparse_categorical) decides from the shapes alone:
    #   binary  if y_pred.shape[-1] == 1
    #   sparse  if rank(y_true) < rank(y_pred) or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
    #   categorical otherwise.
    # When the shapes are not known, fall back on the loss (Keras 2's rule).
    if y_pred_shape is not None and len(y_pred_shape) >= 1:
        p_last = y_pred_shape[-1]
        if p_last == 1:
            return BinaryAccuracy(name=name)
        if y_true_shape is not None:
            t_rank = len(y_true_shape)
            t_last = y_true_shape[-1] if t_rank else None
            if t_rank < len(y_pred_shape) or (t_last == 1 and p_last is not None and p_last > 1):
                return SparseCategoricalAccuracy(name=name)
            return CategoricalAccuracy(name=name)
    kind = _loss_kind(loss)
    if kind == "binary":
        return BinaryAccuracy(name=name)
    if kind == "sparse":
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


def get(identifier, loss=None, y_true_shape=None, y_pred_shape=None):
    """A :class:`Metric` for a compile-style identifier, named as Keras's History names it.

    - ``"accuracy"``/``"acc"`` (any case) become BinaryAccuracy, SparseCategoricalAccuracy
      or CategoricalAccuracy from the target/prediction shapes exactly as Keras 3's
      compile decides (``y_pred.shape[-1] == 1`` -> binary; ``y_true`` of lower rank
      or with a trailing 1 -> sparse; else categorical); without shapes, from
      ``loss`` (binary/sparse crossentropy), else categorical. The metric keeps the
      spelling it was asked for as its name (``"acc"`` stays ``"acc"``).
    - other strings: Keras's metric names and aliases, spelled exactly as Keras spells
      them (``"mae"``, ``"MAE"``, ``"mse"``, ``"binary_accuracy"``,
      ``"BinaryAccuracy"``...), plus graphc's ``"rmse"``, ``"kld"``/``"KLD"`` and
      ``"logcosh"``/``"log_cosh"``; the name is the string. Any other string is a
      ``ValueError`` that lists the closest names.
    - a Metric (returned unchanged), a Metric class, a config dict, or a function
      ``fn(y_true, y_pred)`` returning per-sample values (wrapped in a
      :class:`MeanMetricWrapper` named after the function).

    Example::

        m = graphc.metrics.get("acc", y_true_shape=(None,), y_pred_shape=(None, 10))
        type(m).__name__, m.name   # ('SparseCategoricalAccuracy', 'acc')
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _resolve_accuracy(identifier, loss, y_true_shape, y_pred_shape)
        cls = _NAMES.get(identifier)
        if cls is not None:
            m = cls()
            m.name = identifier
            return m
        raise ValueError(_unknown_metric_message(identifier))
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: {identifier}")


def _unknown_metric_message(identifier):
    """As Keras (``metrics.get`` knows its classes, their snake_case names and a few
    aliases, spelled exactly), with the closest known names."""
    import difflib

    known = ["accuracy", "acc", *_NAMES]
    by_lower = {}
    for k in known:
        by_lower.setdefault(k.lower(), k)
    close = [k for k in known if k.lower() == identifier.lower()]
    close += [
        by_lower[k]
        for k in difflib.get_close_matches(identifier.lower(), by_lower, n=4, cutoff=0.6)
        if by_lower[k] not in close
    ]
    hint = f" Did you mean {', '.join(repr(c) for c in close[:4])}?" if close else ""
    return (
        f"Unknown metric: '{identifier}' (Could not interpret metric identifier).{hint} "
        f"Metric names are Keras's, spelled exactly: accuracy, acc, "
        f"{', '.join(sorted(_NAMES, key=str.lower))}. For anything else pass a "
        f"function fn(y_true, y_pred) or a graphc.metrics.Metric."
    )


def serialize(metric):
    """Keras-format dict ``{"module", "class_name", "config", "registered_name"}``."""
    from graphc._serialization import serialize_object

    return serialize_object(metric, Metric, _MODULE, "metric")


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize` (also reads Keras-saved metric configs)."""
    if isinstance(config, str):
        return get(config)
    from graphc._serialization import deserialize_dict

    return deserialize_dict(
        config, "metric", _FUNCTIONS, _CLASSES, MeanMetricWrapper, custom_objects
    )
