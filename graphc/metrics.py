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
    "pearson_correlation",
    "concordance_correlation",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "TruePositives",
    "FalsePositives",
    "TrueNegatives",
    "FalseNegatives",
    "Precision",
    "Recall",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "AUC",
    "FBetaScore",
    "F1Score",
    "R2Score",
    "IoU",
    "MeanIoU",
    "BinaryIoU",
    "OneHotIoU",
    "OneHotMeanIoU",
    "PearsonCorrelation",
    "ConcordanceCorrelation",
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

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable (Keras's ``Metric.add_variable``): a weight whose ``assign``,
        ``assign_add`` and ``assign_sub`` update it in place; ``reset_state`` of a metric
        that does not define its own sets every such variable back to zeros."""
        from graphc import initializers
        from graphc.ir import Parameter

        dtype = dtype or self.dtype
        shape = tuple(shape or ())
        data = np.asarray(initializers.get(initializer)(shape, dtype=dtype), dtype=dtype)
        name = name or f"variable_{len(self.__dict__.setdefault('_variables', []))}"
        variable = Parameter(np.array(data, copy=True), f"{self.name}/{name}", trainable=False)
        self.__dict__.setdefault("_variables", []).append(variable)
        return variable

    add_weight = add_variable

    @property
    def variables(self):
        return list(self.__dict__.get("_variables", []))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        variables = self.__dict__.get("_variables")
        if variables is None:
            raise NotImplementedError
        for v in variables:
            v.assign(np.zeros(v.shape, dtype=v.dtype))

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
class _Maximised(MeanMetricWrapper):
    """A mean of a function's values to maximise (EarlyStopping's "auto" mode); its config
    is its name, its dtype and the attributes ``_config_keys`` names."""

    _direction = "up"
    _config_keys = ()

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype}
        config.update({key: getattr(self, key) for key in self._config_keys})
        return config


class Accuracy(_Maximised):
    """How often ``y_pred`` equals ``y_true`` exactly.

    Example::

        m = Accuracy(); m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
        m.result()  # 0.75
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=accuracy, name=name, dtype=dtype)


class BinaryAccuracy(_Maximised):
    """How often ``y_pred > threshold`` matches the binary label.

    Example::

        m = BinaryAccuracy(); m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        m.result()  # 0.75
    """

    _config_keys = ("threshold",)

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(fn=binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(_Maximised):
    """How often ``argmax(y_pred)`` matches ``argmax`` of the one-hot label.

    Example::

        m = CategoricalAccuracy()
        m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        m.result()  # 0.5
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(fn=categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(_Maximised):
    """How often ``argmax(y_pred)`` matches the integer label.

    Example::

        m = SparseCategoricalAccuracy()
        m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        m.result()  # 0.5
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(fn=sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(_Maximised):
    """How often the one-hot target is among the ``k`` largest predictions.

    Example::

        m = TopKCategoricalAccuracy(k=1)
        m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        m.result()  # 0.5
    """

    _config_keys = ("k",)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(fn=top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(_Maximised):
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


class CosineSimilarity(_Maximised):
    """Mean over samples of the cosine similarity of ``y_true`` and ``y_pred`` along
    ``axis`` (Keras's ``CosineSimilarity``; maximised).

    Example::

        m = CosineSimilarity(axis=1)
        m.update_state([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]])
        m.result()  # 0.5
    """

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(fn=cosine_similarity, name=name, dtype=dtype, axis=axis)


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


# ---------------------------------------------------------------------------- confusion
# keras/src/metrics/confusion_metrics.py, metrics_utils.update_confusion_matrix_variables:
# ``y_pred > threshold`` counts as positive, ``y_true`` is read as booleans, counts are
# weighted by ``sample_weight`` (broadcast to ``y_pred``).
_EPS = 1e-7


def _divide_no_nan(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _thresholds(thresholds, default):
    if thresholds is None:
        return [default], True
    if isinstance(thresholds, (list, tuple, np.ndarray)):
        return [float(t) for t in thresholds], False
    return [float(thresholds)], True


def _filter_top_k(x, k):
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, bool)
    np.put_along_axis(keep, idx, True, axis=-1)
    return np.where(keep, x, -np.inf)


def _confusion(
    y_true,
    y_pred,
    thresholds,
    sample_weight=None,
    top_k=None,
    class_id=None,
    multi_label=False,
    label_weights=None,
):
    """``{"tp", "fp", "tn", "fn"}``, each of shape ``(len(thresholds),)`` (multi-label:
    ``(len(thresholds), labels)``)."""
    yp = np.asarray(y_pred, np.float64)
    yt = np.asarray(y_true, np.float64)
    yp, yt = squeeze_or_expand_to_same_rank(yp, yt)
    w = None
    if sample_weight is not None:
        w = np.expand_dims(np.asarray(sample_weight, np.float64), -1)
        _, w = squeeze_or_expand_to_same_rank(yt, w, expand_rank_1=False)
    if top_k is not None:
        yp = _filter_top_k(yp, top_k)
    if class_id is not None:
        yt, yp = yt[..., class_id, None], yp[..., class_id, None]
        if w is not None and w.ndim == yp.ndim and w.shape[-1] != 1:
            w = w[..., class_id, None]
    w = np.ones_like(yp) if w is None else np.broadcast_to(w, yp.shape)
    if label_weights is not None and not multi_label:
        w = w * np.broadcast_to(np.asarray(label_weights, np.float64), yp.shape)
    t = np.asarray(thresholds, np.float64)
    if multi_label:
        yp2, yt2, w2 = (
            yp.reshape(yp.shape[0], -1),
            yt.reshape(yt.shape[0], -1),
            w.reshape(yp.shape[0], -1),
        )
        pos = yp2[None] > t[:, None, None]
        lab = yt2[None].astype(bool)
        ax = 1
    else:
        pos = yp.reshape(-1)[None] > t[:, None]
        lab = yt.reshape(-1)[None].astype(bool)
        w2 = w.reshape(-1)
        ax = 1
    out = {
        "tp": np.sum(np.where(lab & pos, w2, 0.0), axis=ax),
        "fp": np.sum(np.where(~lab & pos, w2, 0.0), axis=ax),
        "tn": np.sum(np.where(~lab & ~pos, w2, 0.0), axis=ax),
        "fn": np.sum(np.where(lab & ~pos, w2, 0.0), axis=ax),
    }
    return out


class _ConfusionCount(Metric):
    _key = "tp"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds, self._single = _thresholds(thresholds, 0.5)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.accumulator += _confusion(y_true, y_pred, self.thresholds, sample_weight)[self._key]

    def result(self):
        return float(self.accumulator[0]) if self._single else self.accumulator.astype(self.dtype)

    def reset_state(self):
        self.accumulator = np.zeros(len(self.thresholds))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    """``keras.metrics.TruePositives``: the (weighted) count of true positives."""

    _key = "tp"


class FalsePositives(_ConfusionCount):
    """``keras.metrics.FalsePositives``."""

    _key = "fp"


class TrueNegatives(_ConfusionCount):
    """``keras.metrics.TrueNegatives``."""

    _key = "tn"


class FalseNegatives(_ConfusionCount):
    """``keras.metrics.FalseNegatives``."""

    _key = "fn"


class _PrecisionRecall(Metric):
    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = -np.inf if top_k is not None else 0.5
        self.thresholds, self._single = _thresholds(thresholds, default)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        c = _confusion(
            y_true,
            y_pred,
            self.thresholds,
            sample_weight,
            top_k=self.top_k,
            class_id=self.class_id,
        )
        self.true_positives += c["tp"]
        self.other += c[self._other]

    def result(self):
        r = _divide_no_nan(self.true_positives, self.true_positives + self.other)
        return float(r[0]) if self._single else r.astype(self.dtype)

    def reset_state(self):
        self.true_positives = np.zeros(len(self.thresholds))
        self.other = np.zeros(len(self.thresholds))

    def get_config(self):
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_PrecisionRecall):
    """``keras.metrics.Precision``: ``tp / (tp + fp)`` (``top_k``, ``class_id`` as
    Keras)."""

    _other = "fp"


class Recall(_PrecisionRecall):
    """``keras.metrics.Recall``: ``tp / (tp + fn)``."""

    _other = "fn"


def _even_thresholds(num_thresholds, eps=0.0):
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - eps] + inner + [1.0 + eps]


class _AtConstraint(Metric):
    """Base of SensitivityAtSpecificity and the three others: the best ``dependent``
    rate over the thresholds where the ``constrained`` rate reaches ``value``."""

    _direction = "up"
    _arg = "value"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if num_thresholds <= 0:
            raise ValueError(f"num_thresholds must be > 0; received {num_thresholds}")
        if not 0 <= value <= 1:
            raise ValueError(f"{self._arg} must be in [0, 1]; received {value}")
        self.value = value
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        self.thresholds = [0.5] if num_thresholds == 1 else _even_thresholds(num_thresholds)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        c = _confusion(y_true, y_pred, self.thresholds, sample_weight, class_id=self.class_id)
        for k in self.counts:
            self.counts[k] += c[k]

    def reset_state(self):
        self.counts = {k: np.zeros(len(self.thresholds)) for k in ("tp", "fp", "tn", "fn")}

    def _rates(self):
        c = self.counts
        return {
            "sensitivity": _divide_no_nan(c["tp"], c["tp"] + c["fn"]),
            "specificity": _divide_no_nan(c["tn"], c["tn"] + c["fp"]),
            "precision": _divide_no_nan(c["tp"], c["tp"] + c["fp"]),
        }

    def result(self):
        r = self._rates()
        constrained, dependent = r[self._constrained], r[self._dependent]
        feasible = constrained >= self.value
        return float(np.max(np.where(feasible, dependent, 0.0), initial=0.0))

    def get_config(self):
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            self._arg: self.value,
            "class_id": self.class_id,
        }


def _at_constraint(class_name, arg, constrained, dependent, doc):
    code = (
        f"def __init__(self, {arg}, num_thresholds=200, class_id=None, name=None, "
        f"dtype=None):\n    _AtConstraint.__init__(self, {arg}, num_thresholds, class_id, "
        f"name, dtype)\n"
    )
    scope = {"_AtConstraint": _AtConstraint}
    exec(code, scope)  # noqa: S102  (Keras's argument name in the signature)
    return type(
        class_name,
        (_AtConstraint,),
        {
            "__init__": scope["__init__"],
            "_arg": arg,
            "_constrained": constrained,
            "_dependent": dependent,
            "__doc__": doc,
        },
    )


SensitivityAtSpecificity = _at_constraint(
    "SensitivityAtSpecificity",
    "specificity",
    "specificity",
    "sensitivity",
    "``keras.metrics.SensitivityAtSpecificity``: the best sensitivity where specificity "
    ">= ``specificity``.",
)
SpecificityAtSensitivity = _at_constraint(
    "SpecificityAtSensitivity",
    "sensitivity",
    "sensitivity",
    "specificity",
    "``keras.metrics.SpecificityAtSensitivity``.",
)
PrecisionAtRecall = _at_constraint(
    "PrecisionAtRecall",
    "recall",
    "sensitivity",
    "precision",
    "``keras.metrics.PrecisionAtRecall``: the best precision where recall >= ``recall``.",
)
RecallAtPrecision = _at_constraint(
    "RecallAtPrecision",
    "precision",
    "precision",
    "sensitivity",
    "``keras.metrics.RecallAtPrecision``: the best recall where precision >= "
    "``precision`` (0 if never reached).",
)
for _cls in (
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    PrecisionAtRecall,
    RecallAtPrecision,
):
    _cls.__module__ = __name__


class AUC(Metric):
    """``keras.metrics.AUC``: the area under the ROC or PR curve, from confusion counts
    at ``num_thresholds`` thresholds (Keras's Riemann sums; PR with "interpolation" uses
    Davis & Goadrich's interpolation, as Keras)."""

    _direction = "up"

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        super().__init__(name=name, dtype=dtype)
        curve = str(curve).upper()
        if curve not in ("ROC", "PR", "PRGAIN"):
            raise ValueError(f'curve must be "ROC", "PR" or "PRGAIN"; received {curve!r}')
        summation_method = str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(
                "summation_method must be 'interpolation', 'minoring' or 'majoring'; "
                f"received {summation_method!r}"
            )
        self.curve, self.summation_method = curve, summation_method
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            self._thresholds = [0.0 - _EPS] + sorted(float(t) for t in thresholds) + [1.0 + _EPS]
            self._evenly = False
        else:
            self._evenly = True
            if num_thresholds <= 1:
                raise ValueError(f"num_thresholds must be > 1; received {num_thresholds}")
            self.num_thresholds = num_thresholds
            self._thresholds = _even_thresholds(num_thresholds, _EPS)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = (
            None if label_weights is None else np.asarray(label_weights, np.float64)
        )
        self._from_logits = from_logits
        self.reset_state()

    @property
    def thresholds(self):
        return list(self._thresholds)

    def reset_state(self):
        self.counts = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        yp = np.asarray(y_pred, np.float64)
        if self._from_logits:
            yp = 1.0 / (1.0 + np.exp(-yp))
        c = _confusion(
            y_true,
            yp,
            self._thresholds,
            sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
        )
        if self.counts is None:
            self.counts = c
        else:
            for k in c:
                self.counts[k] = self.counts[k] + c[k]

    def _by_label(self, terms):
        if not self.multi_label:
            return float(np.sum(terms))
        by_label = np.sum(terms, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(
            _divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights))
        )

    def _interpolate_pr_auc(self):
        n = self.num_thresholds
        tp, fp, fn = self.counts["tp"], self.counts["fp"], self.counts["fn"]
        dtp = tp[: n - 1] - tp[1:]
        p = tp + fp
        dp = p[: n - 1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where(
            (p[: n - 1] > 0) & (p[1:] > 0), _divide_no_nan(p[: n - 1], np.maximum(p[1:], 0)), 1.0
        )
        inc = _divide_no_nan(
            slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)
        )
        return self._by_label(inc)

    def result(self):
        if self.counts is None:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = (self.counts[k] for k in ("tp", "fp", "tn", "fn"))
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:
            scale = _divide_no_nan(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp)), 0.0)
            y = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
        n = self.num_thresholds
        if self.summation_method == "interpolation":
            heights = (y[: n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[: n - 1], y[1:])
        else:
            heights = np.maximum(y[: n - 1], y[1:])
        return self._by_label((x[: n - 1] - x[1:]) * heights)

    def get_config(self):
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self._from_logits,
        }
        if not self._evenly:
            config["thresholds"] = self._thresholds[1:-1]
        return config


# ---------------------------------------------------------------------------- F-scores
class FBetaScore(Metric):
    """``keras.metrics.FBetaScore``: per-class F-beta of thresholded predictions (the
    row's maximum when ``threshold`` is None), averaged by ``average``."""

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "average must be one of None, 'micro', 'macro', 'weighted'; "
                f"received average={average!r}"
            )
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"beta must be a Python float > 0; received beta={beta!r}")
        if threshold is not None and (
            not isinstance(threshold, float) or not 0.0 < threshold <= 1.0
        ):
            raise ValueError(
                f"threshold must be a Python float in (0, 1]; received threshold={threshold!r}"
            )
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = 0.0
        self.intermediate_weights = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        yt = np.asarray(y_true, np.float64)
        yp = np.asarray(y_pred, np.float64)
        if yp.ndim != 2 or yt.ndim != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs (batch_size, output_dim); "
                f"received y_pred.shape={yp.shape} and y_true.shape={yt.shape}"
            )
        if self.threshold is None:
            yp = (yp >= yp.max(axis=-1, keepdims=True)) & (np.abs(yp) > 1e-9)
        else:
            yp = yp > self.threshold
        yp = yp.astype(np.float64)

        def wsum(v):
            if sample_weight is not None:
                v = v * np.expand_dims(np.asarray(sample_weight, np.float64), 1)
            return np.sum(v, axis=self.axis)

        self.true_positives = self.true_positives + wsum(yp * yt)
        self.false_positives = self.false_positives + wsum(yp * (1 - yt))
        self.false_negatives = self.false_negatives + wsum((1 - yp) * yt)
        self.intermediate_weights = self.intermediate_weights + wsum(yt)

    def result(self):
        tp = np.asarray(self.true_positives, np.float64)
        precision = tp / (tp + self.false_positives + _EPS)
        recall = tp / (tp + self.false_negatives + _EPS)
        b2 = self.beta**2
        f = precision * recall / (b2 * precision + recall + _EPS) * (1 + b2)
        if self.average == "weighted":
            w = self.intermediate_weights / (np.sum(self.intermediate_weights) + _EPS)
            return float(np.sum(f * w))
        if self.average is not None:
            return float(np.mean(f))
        return f.astype(self.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """``keras.metrics.F1Score``: ``FBetaScore`` with ``beta=1``."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


# ---------------------------------------------------------------------------- R2
class R2Score(Metric):
    """``keras.metrics.R2Score``: the coefficient of determination per output, averaged
    by ``class_aggregation``; adjusted for ``num_regressors``."""

    _direction = "up"

    def __init__(
        self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None
    ):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(
                "class_aggregation must be None, 'uniform_average' or "
                f"'variance_weighted_average'; received {class_aggregation!r}"
            )
        if num_regressors < 0:
            raise ValueError(f"num_regressors must be >= 0; received {num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.reset_state()

    def reset_state(self):
        self.sum = self.squared_sum = self.total_mse = self.count = 0.0
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        yt, yp = squeeze_or_expand_to_same_rank(
            np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
        )
        if yt.ndim != 2 or yp.ndim != 2:
            raise ValueError(
                "R2Score expects 2D inputs (batch_size, output_dim); received "
                f"y_pred.shape={yp.shape} and y_true.shape={yt.shape}"
            )
        w = np.asarray(1.0 if sample_weight is None else sample_weight, np.float64)
        if w.ndim == 1:
            w = w[:, None]
        w = np.broadcast_to(w, yt.shape)
        self.sum = self.sum + np.sum(yt * w, axis=0)
        self.squared_sum = self.squared_sum + np.sum(yt * yt * w, axis=0)
        self.total_mse = self.total_mse + np.sum((yt - yp) ** 2 * w, axis=0)
        self.count = self.count + np.sum(w, axis=0)
        self.num_samples += yt.size

    def result(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = np.sum(total * raw) / np.sum(total)
        else:
            r2 = raw
        n, p = self.num_samples, self.num_regressors
        if p != 0 and p < n - 1:
            r2 = 1.0 - (1.0 - r2) * (n - 1.0) / (n - p - 1.0)
        return float(r2) if np.ndim(r2) == 0 else np.asarray(r2, self.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }


# ---------------------------------------------------------------------------- IoU
class IoU(Metric):
    """``keras.metrics.IoU``: intersection over union of the classes
    ``target_class_ids``, from a confusion matrix accumulated over the batches (in the
    metric's integer dtype, as Keras: float sample weights are truncated)."""

    _direction = "up"

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(name=name, dtype=dtype or "int32")
        if max(target_class_ids) >= num_classes:
            raise ValueError(
                f"target_class_ids {list(target_class_ids)} must be < num_classes={num_classes}"
            )
        self.num_classes = num_classes
        self.target_class_ids = list(target_class_ids)
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.axis = axis
        self.reset_state()

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes), np.float64)

    def _cast(self, x):
        x = np.asarray(x)
        return x.astype(self.dtype) if np.dtype(self.dtype).kind in "iu" else x.astype(np.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        yt = self._cast(y_true).reshape(-1)
        yp = self._cast(y_pred).reshape(-1)
        w = self._cast(1 if sample_weight is None else sample_weight).reshape(-1)
        w = np.broadcast_to(w, yt.shape)
        n = self.num_classes
        ok = (yt >= 0) & (yt < n) & (yp >= 0) & (yp < n)
        if self.ignore_class is not None:
            ok &= yt != self.ignore_class
        cm = np.zeros((n, n), np.float64)
        np.add.at(cm, (yt[ok].astype(np.int64), yp[ok].astype(np.int64)), w[ok])
        self.total_cm += cm

    def result(self):
        cm = self.total_cm
        tp = np.diag(cm)
        denom = cm.sum(axis=0) + cm.sum(axis=1) - tp
        ids = self.target_class_ids
        tp, denom = tp[ids], denom[ids]
        valid = denom > 1e-9
        iou = np.where(valid, tp / (denom + _EPS), 0.0)
        return float(np.sum(iou) / (np.sum(valid) + _EPS))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class MeanIoU(IoU):
    """``keras.metrics.MeanIoU``: IoU averaged over all ``num_classes`` classes."""

    def __init__(
        self,
        num_classes,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(
            num_classes,
            list(range(num_classes)),
            name,
            dtype,
            ignore_class,
            sparse_y_true,
            sparse_y_pred,
            axis,
        )

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """``keras.metrics.BinaryIoU``: IoU of predictions thresholded at ``threshold``
    (``>=`` is class 1)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        yp = (np.asarray(y_pred, np.float32) >= self.threshold).astype(np.int32)
        return super().update_state(y_true, yp, sample_weight)

    def get_config(self):
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self.dtype,
        }


class OneHotIoU(IoU):
    """``keras.metrics.OneHotIoU``: IoU of one-hot targets and class scores."""

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_pred=False,
        axis=-1,
    ):
        super().__init__(
            num_classes,
            target_class_ids,
            name,
            dtype,
            ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """``keras.metrics.OneHotMeanIoU``: MeanIoU of one-hot targets and class scores."""

    def __init__(
        self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1
    ):
        super().__init__(
            num_classes,
            name,
            dtype,
            ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


# ---------------------------------------------------------------------------- correlation
def pearson_correlation(y_true, y_pred, axis=-1):
    """``keras.metrics.pearson_correlation``: Pearson's r of each sample along ``axis``."""
    yp = np.asarray(y_pred, np.float64)
    yt = np.asarray(y_true, np.float64)
    yt, yp = squeeze_or_expand_to_same_rank(yt, yp)
    tn = yt - yt.mean(axis=axis, keepdims=True)
    pn = yp - yp.mean(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        tn = tn / tn.std(axis=axis, keepdims=True)
        pn = pn / pn.std(axis=axis, keepdims=True)
    return np.mean(tn * pn, axis=axis).astype(np.float32)


def concordance_correlation(y_true, y_pred, axis=-1):
    """``keras.metrics.concordance_correlation``: Lin's concordance correlation
    coefficient of each sample along ``axis`` (Keras's formula)."""
    yp = np.asarray(y_pred, np.float64)
    yt = np.asarray(y_true, np.float64)
    yt, yp = squeeze_or_expand_to_same_rank(yt, yp)
    tm, pm = yt.mean(axis=axis, keepdims=True), yp.mean(axis=axis, keepdims=True)
    tv, pv = (yt - tm).var(axis=axis, keepdims=True), (yp - pm).var(axis=axis, keepdims=True)
    covar = (yt - pm) * (yp - pm)
    norm = tv + pv + (tm - pm) ** 2
    return np.mean(2 * covar / (norm + _EPS), axis=axis).astype(np.float32)


class PearsonCorrelation(MeanMetricWrapper):
    """``keras.metrics.PearsonCorrelation``: the mean of the samples' Pearson r."""

    _direction = "up"

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class ConcordanceCorrelation(MeanMetricWrapper):
    """``keras.metrics.ConcordanceCorrelation``: the mean of the samples' CCC."""

    _direction = "up"

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


# keras.metrics exposes these loss functions too.
binary_focal_crossentropy = _losses.binary_focal_crossentropy
categorical_focal_crossentropy = _losses.categorical_focal_crossentropy

_NEW_CLASSES = (
    TruePositives,
    FalsePositives,
    TrueNegatives,
    FalseNegatives,
    Precision,
    Recall,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    PrecisionAtRecall,
    RecallAtPrecision,
    AUC,
    FBetaScore,
    F1Score,
    R2Score,
    IoU,
    MeanIoU,
    BinaryIoU,
    OneHotIoU,
    OneHotMeanIoU,
    PearsonCorrelation,
    ConcordanceCorrelation,
)


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
        *_NEW_CLASSES,
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
        pearson_correlation,
        concordance_correlation,
        binary_focal_crossentropy,
        categorical_focal_crossentropy,
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
