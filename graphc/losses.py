"""Losses with Keras 3's formulas, defaults and config names, plus exact gradients.

Every :class:`Loss` gives the reduced value Keras gives and the analytic gradient
of exactly that value with respect to ``y_pred``::

    from graphc import losses
    cce = losses.CategoricalCrossentropy()
    value = cce(y_true, y_pred)                      # float, like keras.losses
    value, dy = cce.value_and_grad(y_true, y_pred)   # dy: d value / d y_pred

Keras details reproduced here (``keras/src/losses/losses.py``, ``loss.py`` and
``keras/src/backend/*/nn.py``):

- probabilities-crossentropy divides ``y_pred`` by its sum over the class axis,
  *then* clips to ``[1e-7, 1 - 1e-7]`` (``y_true`` is used as given, even when it
  does not sum to one); the gradient is zero where the clip is active, as autodiff
  of ``clip`` gives, and flows through the normalisation elsewhere;
- ``"sum_over_batch_size"`` divides the weighted sum of the per-sample losses by
  their *number*, not by the sum of the sample weights;
- ``y_true``/``y_pred`` whose ranks differ by one with a trailing 1 are squeezed
  or expanded to the same rank first (``squeeze_or_expand_to_same_rank``).

Custom losses: a plain callable ``f(y_true, y_pred) -> per-sample losses`` or a
subclass that only implements ``call``, written with ``graphc.ops``, is accepted. Its
value is ``f`` run on the arrays (the ops run at once); its gradient comes from recording
``f`` once per input signature (``graphc.backends.numpy.trace``) and running the ops'
VJPs backward, with the reduction's weights as the output gradient -- the same way a
model's gradients are made. A function written with NumPy calls on its arguments cannot
be recorded and raises :class:`graphc.errors.TraceError` in ``value_and_grad`` (and so in
``fit``). For a hand-written gradient, subclass :class:`Loss` and implement
``call_and_grad(y_true, y_pred) -> (values, jac)`` where ``jac`` has ``y_pred``'s shape
and holds ``d values[i] / d y_pred[i, j]`` (``values`` being ``y_pred`` reduced along its
last axis). The built-in losses are such hand-written fast paths;
``tests/training/test_loss_gradients_traced.py`` checks each against the recorded
gradient of the same loss written with ``graphc.ops``.

Float32 in, float32 out; float64 inputs are computed in float64.
"""

import math
import re

import numpy as np

from graphc.backends.numpy.trace import value_and_pullback
from graphc.config import EPSILON
from graphc.ops.registry import is_symbolic

try:  # ``np.clip`` of a float array by two scalars is this ufunc behind Python wrappers
    from numpy._core.umath import clip as _clip_ufunc
except ImportError:  # pragma: no cover - older NumPy
    _clip_ufunc = np.clip
_add_reduce = np.add.reduce  # what ``ndarray.sum`` calls, without its Python wrapper

__all__ = [
    "Loss",
    "LossFunctionWrapper",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Huber",
    "LogCosh",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "CosineSimilarity",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
    "mse",
    "MSE",
    "mae",
    "MAE",
    "mape",
    "MAPE",
    "msle",
    "MSLE",
    "kld",
    "KLD",
    "kullback_leibler_divergence",
    "logcosh",
    "bce",
    "BCE",
    "get",
    "serialize",
    "deserialize",
    "squeeze_or_expand_to_same_rank",
]

_MODULE = "keras.losses"
_REDUCTIONS = {"sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight"}
_TRACE_ADVICE = (
    "For example ops.mean(ops.square(y_pred - y_true), axis=-1) instead of "
    "np.mean((y_pred - y_true) ** 2, axis=-1); or subclass graphc.losses.Loss and implement "
    "call_and_grad(y_true, y_pred) -> (per-sample values, d values / d y_pred)."
)


# ---------------------------------------------------------------------------- helpers
def _to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def standardize_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(
            "Invalid value for argument `reduction`. "
            f"Expected one of {_REDUCTIONS}. Received: reduction={reduction}"
        )
    return reduction


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: if ranks differ by exactly one and the longer has a trailing
    1, squeeze it (or expand the rank-1 one)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = np.expand_dims(x2, -1)
        else:
            x1 = np.squeeze(x1, -1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = np.expand_dims(x1, -1)
        else:
            x2 = np.squeeze(x2, -1)
    return x1, x2


def _compute_dtype(y_pred, dtype):
    if dtype is not None:
        return np.dtype(dtype)
    if y_pred.dtype == np.float64:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _unbroadcast(x, shape):
    """Sum ``x`` down to ``shape`` (the adjoint of broadcasting)."""
    if x.shape == tuple(shape):
        return x
    extra = x.ndim - len(shape)
    if extra > 0:
        x = x.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and x.shape[i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def _apply_mask(sample_weight, mask, dtype, reduction):
    """keras/src/losses/loss.py apply_mask: the mask folded into the sample weights.
    For the mean reductions the valid entries weigh ``total / valid`` (0 when every
    entry is masked), so that the mean over all entries is the mean over the valid ones.
    Per-sample weights ``(batch,)`` with a ``(batch, time)`` mask, which Keras refuses
    (its broadcast fails), weigh every step of their sample."""
    mask = np.asarray(mask)
    if reduction in ("mean", "sum_over_batch_size"):
        total = dtype.type(mask.size)
        valid = dtype.type(np.count_nonzero(mask))
        mask_weight = total / valid if valid != 0 else dtype.type(0)
        float_mask = np.where(mask, mask_weight, dtype.type(0)).astype(dtype)
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is not None:
        float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
        if (
            sample_weight.ndim < float_mask.ndim
            and sample_weight.shape == float_mask.shape[: sample_weight.ndim]
        ):
            sample_weight = sample_weight.reshape(
                sample_weight.shape + (1,) * (float_mask.ndim - sample_weight.ndim)
            )
        return sample_weight * float_mask
    return float_mask


def _merge_masks(in_mask, out_mask):
    """Keras's Loss.__call__: the prediction's mask and the one the loss makes
    (``ignore_class``) both apply."""
    if in_mask is None:
        return out_mask
    in_mask = np.asarray(in_mask).astype(bool, copy=False)
    return in_mask if out_mask is None else in_mask & out_mask


def _reduce(values, sample_weight, mask, reduction, dtype, need_grad):
    """Keras's reduce_weighted_values; also returns d loss / d values."""
    values = np.asarray(values, dtype=dtype)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=dtype)
    if mask is not None:
        sw = _apply_mask(sw, mask, dtype, reduction)
    v = values
    if sw is not None:
        v, sw = squeeze_or_expand_to_same_rank(values, sw)
        try:
            weighted = v * sw
        except ValueError:
            # Per-sample weights for per-timestep losses: align on the leading axes.
            sw = sw.reshape(sw.shape + (1,) * (v.ndim - sw.ndim))
            weighted = v * sw
    else:
        weighted = v
    if reduction is None or reduction == "none" or weighted.shape in ((), (0,)):
        if not need_grad:
            return weighted, None
        if reduction is None or reduction == "none":
            raise ValueError(
                "value_and_grad needs a scalar loss: reduction=None/'none' gives one "
                "loss per sample. Use 'sum_over_batch_size', 'sum' or 'mean'."
            )
        d = np.ones_like(weighted) if sw is None else np.broadcast_to(sw, weighted.shape)
        return weighted, _unbroadcast(np.asarray(d, dtype=dtype), v.shape).reshape(values.shape)
    total = weighted.sum(dtype=dtype)
    if reduction == "sum":
        divisor = dtype.type(1)
    elif reduction == "mean_with_sample_weight" and sw is not None:
        divisor = sw.sum(dtype=dtype)
    else:
        divisor = dtype.type(weighted.size)
    inv = dtype.type(1) / divisor if divisor != 0 else dtype.type(0)
    loss = total * inv if divisor != 0 else dtype.type(0)
    if not need_grad:
        return loss, None
    if sw is None:
        d = np.full(v.shape, inv, dtype=dtype)
    else:
        d = _unbroadcast(np.broadcast_to(sw * inv, weighted.shape), v.shape)
    return loss, np.asarray(d, dtype=dtype).reshape(values.shape)


def _check_same_shape(y_true, y_pred):
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}"
        )


_BOUNDS: dict = {}
_INVERSES: dict = {}


def _inverse_f32(n):
    """``np.float32(1) / np.float32(n)``, computed once per ``n``."""
    inv = _INVERSES.get(n)
    if inv is None:
        if len(_INVERSES) > 256:
            _INVERSES.clear()
        inv = _INVERSES[n] = np.float32(1) / np.float32(n)
    return inv


def _clip_bounds(dtype):
    bounds = _BOUNDS.get(dtype)
    if bounds is None:
        bounds = _BOUNDS[dtype] = (dtype.type(EPSILON), dtype.type(1.0 - EPSILON))
    return bounds


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _maximum_grad(a, b):
    """d max(a, b) / d a as torch/TF give it: 1 where a > b, 1/2 on ties."""
    return (a > b) + 0.5 * (a == b)


# ---------------------------------------------------------------------------- base
class Loss:
    """Base class of all losses.

    ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced loss as a float
    (an array for ``reduction=None``); ``loss.value_and_grad(...)`` also returns
    ``d loss / d y_pred``. ``reduction`` is one of ``"sum_over_batch_size"``
    (default), ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"`` or ``None``.

    Example::

        class MyMSE(Loss):
            def call(self, y_true, y_pred):
                return ops.mean(ops.square(y_pred - y_true), axis=-1)

    ``call`` written with ``graphc.ops`` is differentiated by recording it (see the
    module docstring); ``call_and_grad`` gives a hand-written gradient instead.
    """

    _squeeze = False  # Keras's LossFunctionWrapper squeezes/expands ranks first
    _grad_axis = -1  # the axis of y_pred that per-sample values reduce over

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _to_snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = dtype

    # -- subclass API ---------------------------------------------------------
    def call(self, y_true, y_pred):
        """Per-sample losses, written with ``graphc.ops`` (arrays in, array out; it is
        also called once on symbolic tensors to record its gradient)."""
        raise NotImplementedError(
            f"Loss '{type(self).__name__}' must implement `call(y_true, y_pred)`."
        )

    def call_and_grad(self, y_true, y_pred):
        """Optional: ``(values, jac)``, see the module docstring."""
        raise NotImplementedError

    def _forward(self, y_true, y_pred, need_grad):
        """``(values, jac, mask or None)``. ``jac`` is None without ``need_grad``; else
        either the Jacobian of each sample's value (an array of ``y_pred``'s shape, the
        fast path of the built-in losses and of ``call_and_grad``), or a pullback
        ``u -> d sum(u * values) / d y_pred`` from the recording of ``call``."""
        if need_grad and type(self).call_and_grad is not Loss.call_and_grad:
            values, jac = self.call_and_grad(y_true, y_pred)
            return np.asarray(values), np.asarray(jac, dtype=y_pred.dtype), None
        if need_grad:
            return self._traced(y_true, y_pred)
        return np.asarray(self.call(y_true, y_pred)), None, None

    def _traced(self, y_true, y_pred):
        """Values and pullback of ``call``, recorded once per input signature."""
        values, pullback = value_and_pullback(
            self.call,
            [y_true, y_pred],
            wrt=(1,),
            batched=(0, 1),
            owner=self,
            what="loss",
            names=("y_true", "y_pred"),
            label=self._label(),
            advice=_TRACE_ADVICE,
        )
        return values, (lambda u: pullback(u)[0]), None

    def _label(self):
        return f"{type(self).__name__}.call (named {self.name!r})"

    # -- plumbing --------------------------------------------------------------
    def _convert_true(self, y_true, dtype):
        return np.asarray(y_true, dtype=dtype)

    def _prepare(self, y_true, y_pred):
        yp_in = np.asarray(y_pred)
        dtype = _compute_dtype(yp_in, self.dtype)
        yp = yp_in.astype(dtype, copy=False)
        yt = self._convert_true(y_true, dtype)
        if self._squeeze:
            yt, yp = squeeze_or_expand_to_same_rank(yt, yp)
        return yp_in, dtype, yt, yp

    def _values(self, y_true, y_pred):
        _, dtype, yt, yp = self._prepare(y_true, y_pred)
        with np.errstate(divide="ignore", invalid="ignore"):
            values, _, _ = self._forward(yt, yp, need_grad=False)
        return np.asarray(values, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        """The reduced loss. ``mask`` is ``y_pred``'s Keras mask (Keras reads it from
        the tensor; NumPy arrays carry none, so the trainer passes it): masked entries
        are left out, e.g. the mean is over the valid time steps."""
        if any(is_symbolic(x) for x in (y_true, y_pred, sample_weight)):
            return self._symbolic_call(y_true, y_pred, sample_weight)
        _, dtype, yt, yp = self._prepare(y_true, y_pred)
        # Like Keras, bad inputs (a zero-sum probability row, log of a negative)
        # give NaN/inf quietly; TerminateOnNaN is the place to catch them.
        with np.errstate(divide="ignore", invalid="ignore"):
            values, _, out_mask = self._forward(yt, yp, need_grad=False)
            mask = _merge_masks(mask, out_mask)
            loss, _ = _reduce(values, sample_weight, mask, self.reduction, dtype, need_grad=False)
        if np.ndim(loss) == 0:
            return float(loss)
        return loss

    def _symbolic_values(self, y_true, y_pred):
        """Per-sample values on symbolic tensors, with ``graphc.ops`` (``call``)."""
        return self.call(y_true, y_pred)

    def _symbolic_call(self, y_true, y_pred, sample_weight):
        """The loss on symbolic tensors (a loss object called inside a layer's ``call``,
        Keras's "endpoint layer"): recorded with ``graphc.ops``, so it can feed
        ``add_loss`` and take its gradient from the ops' VJPs."""
        from graphc import ops

        values = self._symbolic_values(y_true, y_pred)
        if sample_weight is not None:
            weight = ops.cast(sample_weight, values.dtype)
            while len(weight.shape) > len(values.shape):
                weight = ops.squeeze(weight, axis=-1)
            values = ops.multiply(values, weight)
        if self.reduction in ("sum_over_batch_size", "mean"):
            return ops.mean(values)
        if self.reduction == "sum":
            return ops.sum(values)
        if self.reduction is None or self.reduction == "none":
            return values
        raise NotImplementedError(
            f"Loss {self.name!r}: reduction={self.reduction!r} on symbolic tensors is not "
            "supported; use 'sum_over_batch_size' or 'sum'."
        )

    def value_and_grad(self, y_true, y_pred, sample_weight=None, mask=None):
        """``(loss, dloss/dy_pred)``: the reduced value (float) and its exact gradient,
        an array of ``y_pred``'s shape and floating dtype (``mask`` as in ``__call__``)."""
        yp_in, dtype, yt, yp = self._prepare(y_true, y_pred)
        with np.errstate(divide="ignore", invalid="ignore"):
            values, jac, out_mask = self._forward(yt, yp, need_grad=True)
            mask = _merge_masks(mask, out_mask)
            loss, u = _reduce(values, sample_weight, mask, self.reduction, dtype, need_grad=True)
            if callable(jac):  # recorded: pull the reduction's weights back
                grad = jac(u)
            else:
                axis = self._grad_axis % yp.ndim if yp.ndim else 0
                grad = jac * np.expand_dims(u, axis) if yp.ndim else jac * u
        out_dtype = yp_in.dtype if np.issubdtype(yp_in.dtype, np.floating) else dtype
        grad = np.asarray(grad, dtype=out_dtype).reshape(yp_in.shape)
        return float(loss), grad

    # -- config ----------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class LossFunctionWrapper(Loss):
    """A Loss made from a function ``fn(y_true, y_pred, **kwargs)`` returning
    per-sample losses. graphc's own loss functions get their analytic gradient;
    other functions, written with ``graphc.ops``, are recorded and differentiated
    through the ops' VJPs (see the module docstring).

    Example::

        def scaled_mse(y_true, y_pred, scale=2.0):
            return scale * ops.mean(ops.square(y_pred - y_true), axis=-1)
        loss = LossFunctionWrapper(scaled_mse, scale=3.0)
    """

    _squeeze = True

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if name is None:
            name = _to_snake_case(getattr(fn, "__name__", type(fn).__name__))
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        impl = _FUNCTION_CLASSES.get(fn)
        self._impl = impl(dtype=dtype, **kwargs) if impl is not None else None

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _label(self):
        fn = getattr(self.fn, "__qualname__", None) or repr(self.fn)
        return f"function {fn!r}"

    def _convert_true(self, y_true, dtype):
        if self._impl is not None:
            return self._impl._convert_true(y_true, dtype)
        return super()._convert_true(y_true, dtype)

    def _forward(self, y_true, y_pred, need_grad):
        if self._impl is not None:
            return self._impl._forward(y_true, y_pred, need_grad)
        if need_grad:
            return self._traced(y_true, y_pred)
        return np.asarray(self.call(y_true, y_pred)), None, None

    def get_config(self):
        config = super().get_config()
        config["fn"] = getattr(self.fn, "__name__", repr(self.fn))
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        fn = config.pop("fn")
        if isinstance(fn, dict):
            fn = fn.get("config")
        if isinstance(fn, str):
            table = dict(_FUNCTIONS)
            table.update(custom_objects or {})
            if fn not in table:
                raise ValueError(
                    f"Unknown loss function '{fn}': pass custom_objects={{'{fn}': fn}}."
                )
            fn = table[fn]
        return cls(fn, **config)

    def __repr__(self):
        fn = getattr(self.fn, "__name__", self.fn)
        return f"<LossFunctionWrapper({fn}, kwargs={self._fn_kwargs})>"


class _Builtin(Loss):
    """Loss with an analytic gradient; Keras wraps these functions, so it squeezes."""

    _squeeze = True

    def call(self, y_true, y_pred):
        return self._values(y_true, y_pred)

    def _symbolic_values(self, y_true, y_pred):
        """Per-sample values on symbolic tensors (a loss object called inside a layer's
        ``call``): one ``custom_gradient`` op that runs this loss's own NumPy forward and
        its analytic gradient, made once per loss object."""
        fn = self.__dict__.get("_values_op")
        if fn is None:
            from graphc.ops import custom_gradient

            loss = self

            def per_sample_loss(y_true, y_pred):
                _, dtype, yt, yp = loss._prepare(y_true, y_pred)
                with np.errstate(divide="ignore", invalid="ignore"):
                    values, jac, _ = loss._forward(yt, yp, need_grad=True)
                values = np.asarray(values, dtype=dtype)

                def grad(*args, upstream=None):
                    u = np.asarray(args[-1] if upstream is None else upstream, dtype=dtype)
                    if not yp.ndim:
                        return None, jac * u
                    axis = loss._grad_axis % yp.ndim
                    return None, (jac * np.expand_dims(u, axis)).reshape(np.shape(y_pred))

                return values, grad

            fn = self.__dict__["_values_op"] = custom_gradient(per_sample_loss)
        return fn(y_true, y_pred)


# ---------------------------------------------------------------------------- crossentropy
class CategoricalCrossentropy(_Builtin):
    """Crossentropy between one-hot (or any non-negative) targets and predictions.

    Probabilities (``from_logits=False``): ``o = y_pred / sum(y_pred, axis)``,
    ``o = clip(o, 1e-7, 1 - 1e-7)``, loss ``-sum(y_true * log(o), axis)``.
    Logits: ``-sum(y_true * log_softmax(y_pred), axis)``. ``label_smoothing``
    replaces ``y_true`` by ``y_true * (1 - ls) + ls / num_classes``.

    Example::

        CategoricalCrossentropy()([[0, 1, 0]], [[0.05, 0.95, 0.0]])  # 0.0513
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        if isinstance(axis, bool):
            raise ValueError(f"`axis` must be of type `int`. Received: axis={axis}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self._grad_axis = axis

    def value_and_grad(self, y_true, y_pred, sample_weight=None, mask=None):
        # The training step's common case (probabilities, float32 arrays of one shape,
        # no weights or mask, the mean over the batch) without the general path's
        # plumbing: the same operations on the same values, so the same numbers.
        if (
            sample_weight is None
            and mask is None
            and not self.from_logits
            and not self.label_smoothing
            and self.reduction == "sum_over_batch_size"
            and self.dtype is None
            and type(y_pred) is np.ndarray
            and type(y_true) is np.ndarray
            and y_pred.dtype == np.float32
            and y_true.dtype == np.float32
            and y_pred.shape == y_true.shape
            and y_pred.ndim >= 2  # a rank-1 prediction reduces to one value: general path
            and y_pred.size
        ):
            with np.errstate(divide="ignore", invalid="ignore"):
                values, jac, _ = self._forward(y_true, y_pred, need_grad=True)
                inv = _inverse_f32(values.size)
                loss = _add_reduce(values, axis=None, dtype=np.float32) * inv
                # The general path multiplies by an array full of ``inv``: the same products.
                jac *= inv
            return float(loss), jac
        return super().value_and_grad(y_true, y_pred, sample_weight, mask)

    def _forward(self, yt, yp, need_grad):
        _check_same_shape(yt, yp)
        if yp.ndim < 1:
            raise ValueError("Arguments `target` and `output` must be at least rank 1.")
        dt = yp.dtype
        ax = self.axis
        if self.label_smoothing:
            ls = self.label_smoothing
            yt = yt * dt.type(1.0 - ls) + dt.type(ls / yt.shape[-1])
        if self.from_logits:
            z = yp - yp.max(axis=ax, keepdims=True)
            lse = np.log(np.exp(z).sum(axis=ax, keepdims=True))
            logp = z - lse
            values = -(yt * logp).sum(axis=ax)
            if not need_grad:
                return values, None, None
            jac = np.exp(logp) * yt.sum(axis=ax, keepdims=True) - yt
            return values, jac, None
        lo, hi = _clip_bounds(dt)
        s = _add_reduce(yp, axis=ax, keepdims=True)
        o = yp / s
        oc = _clip_ufunc(o, lo, hi)
        # -(yt * log(oc)).sum(axis), with one temporary when the dtypes agree: products
        # commute exactly.
        t = np.log(oc)
        same = yt.dtype == t.dtype
        if same:
            t *= yt
            np.negative(t, out=t)
        else:
            t = -(yt * t)
        values = _add_reduce(t, axis=ax)
        if not need_grad:
            return values, None, None
        # In place where the arithmetic is the same: fewer temporaries per batch.
        g = np.negative(yt)
        g /= oc
        # (o >= lo) & (o <= hi): where the clip left o unchanged (NaN compares unequal).
        g *= o == oc
        if same and g.dtype == t.dtype:
            np.multiply(g, o, out=t)
        else:
            t = g * o
        g -= _add_reduce(t, axis=ax, keepdims=True)
        g /= s
        return values, g, None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing,
                "axis": self.axis,
            }
        )
        return config


class SparseCategoricalCrossentropy(_Builtin):
    """Crossentropy with integer labels, shape ``(N,)`` or ``(N, 1)`` for ``(N, C)``
    predictions (any leading shape works). Same normalise-then-clip rule as
    :class:`CategoricalCrossentropy`. ``ignore_class`` labels contribute nothing
    and the mean is then taken over the other entries, as in Keras.

    Example::

        SparseCategoricalCrossentropy()([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])  # 1.177
    """

    _squeeze = False

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis
        self._grad_axis = axis

    def _convert_true(self, y_true, dtype):
        return np.asarray(y_true)

    def _forward(self, yt, yp, need_grad):
        ax = self.axis % yp.ndim if yp.ndim else 0
        if yp.ndim < 1:
            raise ValueError("Argument `output` must be at least rank 1.")
        if yt.ndim == yp.ndim and yt.shape[ax] == 1:
            yt = np.squeeze(yt, axis=ax)
        expected = yp.shape[:ax] + yp.shape[ax + 1 :]
        if yt.shape != expected:
            raise ValueError(
                "Arguments `target` and `output` must have the same shape "
                "up until the last dimension: "
                f"target.shape={yt.shape}, output.shape={yp.shape}"
            )
        labels = yt.astype(np.int64) if yt.dtype.kind != "i" else yt.astype(np.int64, copy=False)
        dt = yp.dtype
        num_classes = yp.shape[ax]
        ypm = np.moveaxis(yp, ax, -1)
        mask = None
        if self.ignore_class is not None:
            mask = labels != self.ignore_class
            labels = np.where(mask, labels, 0)
            ypm = np.where(mask[..., None], ypm, dt.type(1))
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            bad = labels[(labels < 0) | (labels >= num_classes)].ravel()[0]
            raise ValueError(
                f"sparse_categorical_crossentropy: label {bad} is out of range for "
                f"{num_classes} classes (labels must be in [0, {num_classes - 1}])."
            )
        idx = labels[..., None]
        if self.from_logits:
            z = ypm - ypm.max(axis=-1, keepdims=True)
            lse = np.log(np.exp(z).sum(axis=-1, keepdims=True))
            values = -(np.take_along_axis(z, idx, -1) - lse)[..., 0]
            jac = None
            if need_grad:
                jac = np.exp(z - lse)
                np.put_along_axis(jac, idx, np.take_along_axis(jac, idx, -1) - dt.type(1), -1)
        else:
            lo, hi = _clip_bounds(dt)
            s = ypm.sum(axis=-1, keepdims=True)
            ol = np.take_along_axis(ypm, idx, -1) / s
            olc = np.clip(ol, lo, hi)
            values = -np.log(olc)[..., 0]
            jac = None
            if need_grad:
                gl = np.where((ol >= lo) & (ol <= hi), -1 / olc, dt.type(0))  # d value / d o_label
                jac = np.broadcast_to(-(gl * ol) / s, ypm.shape).copy()
                np.put_along_axis(jac, idx, (gl - gl * ol) / s, -1)
        values = values.astype(dt, copy=False)
        if mask is not None:
            values = np.where(mask, values, dt.type(0))
            if jac is not None:
                jac = np.where(mask[..., None], jac, dt.type(0))
        if jac is not None:
            jac = np.moveaxis(jac.astype(dt, copy=False), -1, ax)
        return values, jac, mask

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "ignore_class": self.ignore_class})
        return config


class BinaryCrossentropy(_Builtin):
    """Binary crossentropy, averaged over the last axis.

    Probabilities: ``p = clip(y_pred, 1e-7, 1 - 1e-7)``,
    ``-(y * log(p) + (1 - y) * log(1 - p))``; logits: the stable
    ``max(x, 0) - x * y + log(1 + exp(-|x|))``. ``label_smoothing`` squeezes
    targets towards 0.5: ``y * (1 - ls) + 0.5 * ls``.

    Example::

        BinaryCrossentropy()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])  # 0.815
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self._grad_axis = axis

    def _symbolic_values(self, y_true, y_pred):
        from graphc import ops

        y_true = ops.cast(y_true, "float32")
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        elem = ops.binary_crossentropy(y_true, y_pred, from_logits=self.from_logits)
        return ops.mean(elem, axis=self.axis)

    def _forward(self, yt, yp, need_grad):
        _check_same_shape(yt, yp)
        dt = yp.dtype
        if self.label_smoothing:
            ls = self.label_smoothing
            yt = yt * dt.type(1.0 - ls) + dt.type(0.5 * ls)
        ax = self.axis
        n = yp.shape[ax] if yp.ndim else 1
        if self.from_logits:
            elem = np.maximum(yp, 0) - yp * yt + np.log1p(np.exp(-np.abs(yp)))
            values = elem.mean(axis=ax) if yp.ndim else elem
            jac = (_sigmoid(yp) - yt) / dt.type(n) if need_grad else None
            return values, jac, None
        lo, hi = _clip_bounds(dt)
        p = np.clip(yp, lo, hi)
        elem = -(yt * np.log(p) + (1 - yt) * np.log(1 - p))
        values = elem.mean(axis=ax) if yp.ndim else elem
        if not need_grad:
            return values, None, None
        jac = (-(yt / p) + (1 - yt) / (1 - p)) * ((yp >= lo) & (yp <= hi)) / dt.type(n)
        return values, jac, None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing,
                "axis": self.axis,
            }
        )
        return config


# ---------------------------------------------------------------------------- regression
class _Elementwise(_Builtin):
    """Losses that are ``mean(f(y_true, y_pred), axis=-1)``; subclasses give ``_elem``."""

    def _forward(self, yt, yp, need_grad):
        elem, d = self._elem(yt, yp, need_grad)
        n = yp.shape[-1] if yp.ndim else 1
        values = elem.mean(axis=-1) if yp.ndim else elem
        jac = d / yp.dtype.type(n) if need_grad else None
        return values, jac, None


class MeanSquaredError(_Elementwise):
    """``mean(square(y_true - y_pred), axis=-1)``.

    Example::

        MeanSquaredError()([1.0, 0.0, 1.0], [0.9, 0.1, 0.8])  # 0.02
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _elem(self, yt, yp, need_grad):
        diff = yp - yt
        return diff * diff, (2 * diff if need_grad else None)

    def _symbolic_values(self, y_true, y_pred):
        from graphc import ops

        return ops.mean(ops.square(ops.subtract(y_pred, ops.cast(y_true, "float32"))), axis=-1)


class MeanAbsoluteError(_Elementwise):
    """``mean(abs(y_true - y_pred), axis=-1)``.

    Example::

        MeanAbsoluteError()([1.0, 0.0], [0.5, 0.5])  # 0.5
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _elem(self, yt, yp, need_grad):
        diff = yp - yt
        return np.abs(diff), (np.sign(diff) if need_grad else None)


class MeanAbsolutePercentageError(_Elementwise):
    """``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), 1e-7)), axis=-1)``."""

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="mean_absolute_percentage_error",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _elem(self, yt, yp, need_grad):
        dt = yp.dtype
        denom = np.maximum(np.abs(yt), dt.type(EPSILON))
        diff = (yt - yp) / denom
        d = dt.type(100) * np.sign(yp - yt) / denom if need_grad else None
        return dt.type(100) * np.abs(diff), d


class MeanSquaredLogarithmicError(_Elementwise):
    """``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)``."""

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="mean_squared_logarithmic_error",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _elem(self, yt, yp, need_grad):
        eps = yp.dtype.type(EPSILON)
        a = np.maximum(yp, eps) + 1
        diff = np.log(a) - np.log(np.maximum(yt, eps) + 1)
        d = 2 * diff / a * _maximum_grad(yp, eps) if need_grad else None
        return diff * diff, d


class Huber(_Elementwise):
    """``0.5 * e**2`` where ``|e| <= delta`` else ``delta * |e| - 0.5 * delta**2``,
    averaged over the last axis (``e = y_pred - y_true``).

    Example::

        Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])  # 0.155
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = delta

    def _elem(self, yt, yp, need_grad):
        dt = yp.dtype
        delta = dt.type(self.delta)
        err = yp - yt
        a = np.abs(err)
        small = a <= delta
        half = dt.type(0.5)
        elem = np.where(small, half * err * err, delta * a - half * delta * delta)
        d = np.where(small, err, delta * np.sign(err)) if need_grad else None
        return elem, d

    def get_config(self):
        # Keras 3 forgets `delta` here (so it is lost on a round trip); graphc keeps it.
        config = super().get_config()
        config["delta"] = self.delta
        return config


class LogCosh(_Elementwise):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed stably."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _elem(self, yt, yp, need_grad):
        x = yp - yt
        elem = x + np.logaddexp(0, -2 * x) - yp.dtype.type(math.log(2.0))
        return elem, (np.tanh(x) if need_grad else None)


class Poisson(_Elementwise):
    """``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _elem(self, yt, yp, need_grad):
        q = yp + yp.dtype.type(EPSILON)
        return yp - yt * np.log(q), (1 - yt / q if need_grad else None)


def _hinge_labels(yt):
    if np.all((yt == 0) | (yt == 1)):
        return 2 * yt - 1
    return yt


class Hinge(_Elementwise):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; 0/1 labels become -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _elem(self, yt, yp, need_grad):
        t = _hinge_labels(yt)
        z = 1 - t * yp
        d = -t * _maximum_grad(z, 0) if need_grad else None
        return np.maximum(z, 0), d


class SquaredHinge(_Elementwise):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _elem(self, yt, yp, need_grad):
        t = _hinge_labels(yt)
        m = np.maximum(1 - t * yp, 0)
        return m * m, (-2 * m * t if need_grad else None)


class CategoricalHinge(_Builtin):
    """``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _forward(self, yt, yp, need_grad):
        pos = (yt * yp).sum(axis=-1)
        w = (1 - yt) * yp
        neg = w.max(axis=-1)
        z = neg - pos + 1
        values = np.maximum(z, 0)
        if not need_grad:
            return values, None, None
        ties = w == neg[..., None]
        share = ties / ties.sum(axis=-1, keepdims=True)  # amax splits ties evenly
        jac = (share * (1 - yt) - yt) * _maximum_grad(z, 0)[..., None]
        return values, jac, None


class CosineSimilarity(_Builtin):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)`` (Keras's
    ``x * min(rsqrt(sum(x**2)), 1 / 1e-7)`` normalisation)."""

    def __init__(
        self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.axis = axis
        self._grad_axis = axis

    def _forward(self, yt, yp, need_grad):
        ax = self.axis
        dt = yp.dtype
        cap = dt.type(1.0 / EPSILON)
        with np.errstate(divide="ignore"):
            rt = np.minimum(1 / np.sqrt((yt * yt).sum(axis=ax, keepdims=True)), cap)
            rp_raw = 1 / np.sqrt((yp * yp).sum(axis=ax, keepdims=True))
        rp = np.minimum(rp_raw, cap)
        tn = yt * rt
        values = -(tn * yp * rp).sum(axis=ax)
        if not need_grad:
            return values, None, None
        # d/dy of y * r(y) with r = |y|^-1: r * (I - r^2 y y^T); capped r is a constant
        free = rp_raw < cap
        proj = (tn * yp).sum(axis=ax, keepdims=True) * rp * rp * rp * yp
        jac = -np.where(free, tn * rp - proj, tn * rp)
        return values, jac, None

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class KLDivergence(_Builtin):
    """``sum(t * log(t / p), axis=-1)`` with ``t = clip(y_true, 1e-7, 1)`` and
    ``p = clip(y_pred, 1e-7, 1)``.

    Example::

        KLDivergence()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])  # 0.458
    """

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _forward(self, yt, yp, need_grad):
        dt = yp.dtype
        eps, one = dt.type(EPSILON), dt.type(1)
        t = np.clip(yt, eps, one)
        p = np.clip(yp, eps, one)
        values = (t * np.log(t / p)).sum(axis=-1)
        if not need_grad:
            return values, None, None
        jac = -t / p * ((yp >= eps) & (yp <= one))
        return values, jac, None


# ---------------------------------------------------------------------------- functions
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical crossentropy (see :class:`CategoricalCrossentropy`)."""
    return CategoricalCrossentropy(
        from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
    )._values(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample sparse categorical crossentropy (integer labels)."""
    return SparseCategoricalCrossentropy(
        from_logits=from_logits, ignore_class=ignore_class, axis=axis
    )._values(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary crossentropy, averaged over ``axis``."""
    return BinaryCrossentropy(
        from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
    )._values(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``."""
    return MeanSquaredError()._values(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    return MeanAbsoluteError()._values(y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)``."""
    return MeanAbsolutePercentageError()._values(y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean(square(log1p(max(y_pred, eps)) - log1p(max(y_true, eps))), axis=-1)``."""
    return MeanSquaredLogarithmicError()._values(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss."""
    return Huber(delta=delta)._values(y_true, y_pred)


def log_cosh(y_true, y_pred):
    """Per-sample log-cosh loss."""
    return LogCosh()._values(y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """Per-sample Kullback-Leibler divergence."""
    return KLDivergence()._values(y_true, y_pred)


def poisson(y_true, y_pred):
    """Per-sample Poisson loss."""
    return Poisson()._values(y_true, y_pred)


def hinge(y_true, y_pred):
    """Per-sample hinge loss."""
    return Hinge()._values(y_true, y_pred)


def squared_hinge(y_true, y_pred):
    """Per-sample squared hinge loss."""
    return SquaredHinge()._values(y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """Per-sample categorical hinge loss."""
    return CategoricalHinge()._values(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample negative cosine similarity."""
    return CosineSimilarity(axis=axis)._values(y_true, y_pred)


# Legacy aliases (keras._legacy.losses / keras.losses ALL_OBJECTS_DICT)
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
bce = BCE = binary_crossentropy

_CLASSES = {
    cls.__name__: cls
    for cls in (
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        BinaryCrossentropy,
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        Huber,
        LogCosh,
        KLDivergence,
        Poisson,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        CosineSimilarity,
    )
}

# function -> Loss class with the same semantics (the class takes the same kwargs)
_FUNCTION_CLASSES = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    huber: Huber,
    log_cosh: LogCosh,
    kl_divergence: KLDivergence,
    poisson: Poisson,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge,
    cosine_similarity: CosineSimilarity,
}

_FUNCTIONS = {fn.__name__: fn for fn in _FUNCTION_CLASSES}
_FUNCTIONS.update(
    {
        "mse": mse,
        "MSE": mse,
        "mae": mae,
        "MAE": mae,
        "mape": mape,
        "MAPE": mape,
        "msle": msle,
        "MSLE": msle,
        "kld": kld,
        "KLD": kld,
        "kullback_leibler_divergence": kld,
        "logcosh": logcosh,
        "bce": bce,
        "BCE": bce,
    }
)


# ------------------------------------------------------------- losses written with ops
# Keras's formulas (keras/src/losses/losses.py) in graphc.ops: their values run the ops at
# once, their gradients come from recording them (see the module docstring).
def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    """Binary crossentropy scaled by ``(1 - p_t) ** gamma`` (Lin et al., 2017), and by
    ``alpha``/``1 - alpha`` with ``apply_class_balancing``; the mean over ``axis``."""
    from graphc import ops

    y_true = ops.cast(y_true, ops.dtype(y_pred))
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    bce = ops.binary_crossentropy(y_true, y_pred, from_logits=False)
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = ops.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(
    y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """Categorical crossentropy scaled by ``alpha * (1 - p) ** gamma`` per class."""
    from graphc import ops

    if isinstance(axis, bool):
        raise TypeError(f"axis must be an int; received axis={axis!r}")
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    if label_smoothing:
        n = y_true.shape[-1]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / n
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    out = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    out = ops.clip(out, EPSILON, 1.0 - EPSILON)
    cce = ops.negative(y_true) * ops.log(out)
    return ops.sum(ops.power(1.0 - out, gamma) * alpha * cce, axis=axis)


def dice(y_true, y_pred, axis=None):
    """``1 - 2 |y_true . y_pred| / (|y_true| + |y_pred|)`` over ``axis`` (None: all)."""
    from graphc import ops

    y_true = ops.cast(y_true, ops.dtype(y_pred))
    inter = ops.sum(y_true * y_pred, axis=axis)
    total = ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) + EPSILON
    return 1.0 - ops.divide(2.0 * inter, total)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha FP + beta FN)`` over ``axis`` (Salehi et al., 2017)."""
    from graphc import ops

    y_true = ops.cast(y_true, ops.dtype(y_pred))
    inter = ops.sum(y_true * y_pred, axis=axis)
    fp = ops.sum((1.0 - y_pred) * y_true, axis=axis)
    fn = ops.sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - ops.divide(inter, inter + fp * alpha + fn * beta + EPSILON)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """``(1 - p ** q) / q`` of the true class's probability ``p`` (Zhang & Sabuncu,
    2018); ``y_true`` holds class indices."""
    from graphc import ops

    n = y_pred.shape[-1]
    onehot = ops.cast(ops.one_hot(ops.cast(y_true, "int32"), n), ops.dtype(y_pred))
    p = ops.sum(y_pred * onehot, axis=-1)
    return (1.0 - ops.power(p, q)) / q


class _OpsLoss(LossFunctionWrapper):
    """A Keras loss class over one of the functions above, with its arguments."""

    _fn = None
    _default_name = ""

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(
            type(self)._fn,
            reduction=reduction,
            name=name or self._default_name,
            dtype=dtype,
            **kwargs,
        )

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


class BinaryFocalCrossentropy(_OpsLoss):
    """``keras.losses.BinaryFocalCrossentropy``."""

    _fn = staticmethod(binary_focal_crossentropy)
    _default_name = "binary_focal_crossentropy"

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalFocalCrossentropy(_OpsLoss):
    """``keras.losses.CategoricalFocalCrossentropy``."""

    _fn = staticmethod(categorical_focal_crossentropy)
    _default_name = "categorical_focal_crossentropy"

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class Dice(_OpsLoss):
    """``keras.losses.Dice``."""

    _fn = staticmethod(dice)

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, axis=axis)


class Tversky(_OpsLoss):
    """``keras.losses.Tversky``."""

    _fn = staticmethod(tversky)

    def __init__(
        self,
        alpha=0.5,
        beta=0.5,
        reduction="sum_over_batch_size",
        name="tversky",
        axis=None,
        dtype=None,
    ):
        super().__init__(
            reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis
        )


class CategoricalGeneralizedCrossEntropy(_OpsLoss):
    """``keras.losses.CategoricalGeneralizedCrossEntropy``: robust to noisy labels."""

    _fn = staticmethod(categorical_generalized_cross_entropy)

    def __init__(
        self,
        q=0.5,
        reduction="sum_over_batch_size",
        name="categorical_generalized_cross_entropy",
        dtype=None,
    ):
        if not 0 < q < 1:
            raise ValueError(f"q must be in the interval (0, 1); received q={q}")
        super().__init__(reduction=reduction, name=name, dtype=dtype, q=q)


def circle(
    y_true,
    y_pred,
    ref_labels=None,
    ref_embeddings=None,
    remove_diagonal=True,
    gamma=80,
    margin=0.4,
):
    """Circle loss (Sun et al., 2020) of L2-normalised embeddings ``y_pred`` with the
    integer labels ``y_true``: each sample's positives (same label; not itself with
    ``remove_diagonal``) and negatives among ``ref_embeddings`` (default: the batch),
    as Keras's ``circle``."""
    from graphc import ops

    y_true = ops.cast(y_true, "int32")
    ref_embeddings = y_pred if ref_embeddings is None else ref_embeddings
    ref_labels = y_true if ref_labels is None else ops.cast(ref_labels, "int32")
    optim_pos, optim_neg = margin, 1 + margin
    delta_pos, delta_neg = margin, 1 - margin
    distances = 1 - ops.matmul(y_pred, ops.transpose(ref_embeddings))
    distances = ops.maximum(distances, 0.0)
    q = ops.reshape(y_true, (-1, 1)) if ops.ndim(y_true) == 1 else y_true
    k = ops.reshape(ref_labels, (-1, 1)) if ops.ndim(ref_labels) == 1 else ref_labels
    positive = ops.equal(q, ops.transpose(k))
    negative = ops.logical_not(positive)
    if remove_diagonal:
        n_q, n_k = distances.shape
        positive = ops.logical_and(positive, ops.logical_not(ops.eye(n_q, n_k, k=0, dtype="bool")))
    dtype = ops.dtype(distances)
    pos_mask, neg_mask = ops.cast(positive, dtype), ops.cast(negative, dtype)
    pos_weights = ops.maximum((optim_pos + distances) * pos_mask, 0.0)
    neg_weights = ops.maximum((optim_neg - distances) * neg_mask, 0.0)
    pos_wdists = -1 * gamma * pos_weights * (delta_pos - distances)
    neg_wdists = gamma * neg_weights * (delta_neg - distances)
    # Keras fills the left-out pairs with -inf; a finite -1e30 gives the same values (a
    # row with no pair: softplus(-1e30 + ...) == 0) and zero gradients, as torch's
    # logsumexp does, where a row of -inf would give NaN through max and log.
    p_loss = ops.logsumexp(ops.where(positive, pos_wdists, -1e30), axis=1)
    n_loss = ops.logsumexp(ops.where(negative, neg_wdists, -1e30), axis=1)
    return ops.softplus(p_loss + n_loss)


class Circle(_OpsLoss):
    """``keras.losses.Circle``: ``y_true`` integer labels, ``y_pred`` L2-normalised
    embeddings. As Keras, samples whose loss is 0 (no positive pair) are masked out of
    the reduction."""

    _fn = staticmethod(circle)
    _free_target_shape = True  # (batch,) labels for (batch, dim) embeddings

    def __init__(
        self,
        gamma=80.0,
        margin=0.4,
        remove_diagonal=True,
        reduction="sum_over_batch_size",
        name="circle",
        dtype=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            gamma=gamma,
            margin=margin,
            remove_diagonal=remove_diagonal,
        )
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = remove_diagonal

    def _forward(self, y_true, y_pred, need_grad):
        values, jac, _ = super()._forward(y_true, y_pred, need_grad)
        # Keras sets the mask `loss > 0` on circle's output; the reduction reads it.
        return values, jac, np.asarray(values) > 0


def ctc(y_true, y_pred):
    """CTC loss per sample, as ``keras.losses.ctc``: ``y_true`` (batch, max_length)
    integer labels padded with 0 (the blank), ``y_pred`` (batch, time, classes) logits;
    every sample uses all the time steps."""
    from graphc import ops

    if len(y_true.shape) != 2:
        raise ValueError(
            "Targets `y_true` are expected to be a tensor of shape "
            "`(batch_size, max_length)` in integer format. "
            f"Received: y_true.shape={tuple(y_true.shape)}"
        )
    if len(y_pred.shape) != 3:
        raise ValueError(
            "Logits `y_pred` are expected to be a tensor of shape "
            "`(batch_size, max_length, num_classes)`. "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    mask_index = 0
    batch_length = ops.shape(y_pred)[0]
    input_length = ops.shape(y_pred)[1] * ops.ones((batch_length,), dtype="int32")
    present = ops.cast(ops.not_equal(y_true, mask_index), "float32")
    label_length = ops.cast(ops.sum(present, axis=-1), "int32")
    return ops.ctc_loss(
        ops.cast(y_true, "int32"), y_pred, label_length, input_length, mask_index=mask_index
    )


class CTC(_OpsLoss):
    """``keras.losses.CTC``: connectionist temporal classification (see ``ctc``)."""

    _fn = staticmethod(ctc)
    _free_target_shape = True  # (batch, max_length) labels for (batch, time, classes)

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def _convert_true(self, y_true, dtype):
        return np.asarray(y_true)  # integer labels stay integers


_OPS_LOSSES = (
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    Dice,
    Tversky,
    CategoricalGeneralizedCrossEntropy,
    Circle,
    CTC,
)
_CLASSES.update({cls.__name__: cls for cls in _OPS_LOSSES})
_FUNCTIONS.update({cls._fn.__name__: cls._fn for cls in _OPS_LOSSES})
__all__ += [cls.__name__ for cls in _OPS_LOSSES] + [cls._fn.__name__ for cls in _OPS_LOSSES]


def _resolve_crossentropy(y_true_shape, y_pred_shape):
    # keras/src/trainers/compile_utils.py get_loss / is_binary_or_sparse_categorical
    if y_true_shape is None or y_pred_shape is None:
        raise ValueError(
            "The loss 'crossentropy' is resolved from the shapes of the targets and "
            "predictions; call get(..., y_true_shape=, y_pred_shape=)."
        )
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1
    )
    if is_binary:
        return binary_crossentropy
    if is_sparse:
        return sparse_categorical_crossentropy
    return categorical_crossentropy


def _from_function(fn, name):
    cls = _FUNCTION_CLASSES.get(fn)
    if cls is not None:
        return cls(name=name)
    return LossFunctionWrapper(fn, name=name)


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """A :class:`Loss` object from a name, a class, a config dict, a Loss or a callable.

    Names follow Keras (``"categorical_crossentropy"``, ``"mse"``, ``"Huber"``...);
    as in ``model.compile``, a loss given by a string or function is named after
    it (``get("mse").name == "mse"``). ``"crossentropy"``/``"ce"`` pick binary,
    sparse or categorical crossentropy from the shapes, as Keras 3's compile does.
    A callable that graphc does not know becomes a :class:`LossFunctionWrapper`,
    differentiated by recording it (see the module docstring).

    Example::

        loss = graphc.losses.get("sparse_categorical_crossentropy")
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
        return obj if isinstance(obj, Loss) else _from_function(obj, _fn_name(obj))
    if isinstance(identifier, str):
        if identifier.lower() in ("crossentropy", "ce"):
            fn = _resolve_crossentropy(y_true_shape, y_pred_shape)
            return _from_function(fn, identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier in _FUNCTIONS:
            return _from_function(_FUNCTIONS[identifier], identifier)
        low = identifier.lower()
        for table in (_CLASSES, _FUNCTIONS):
            for k, v in table.items():
                if k.lower() == low:
                    return v() if table is _CLASSES else _from_function(v, identifier)
        raise ValueError(
            f"Unknown loss: '{identifier}'. Known losses: "
            f"{', '.join(sorted(set(_FUNCTIONS) | set(_CLASSES), key=str.lower))}."
        )
    if callable(identifier):
        return _from_function(identifier, _fn_name(identifier))
    raise ValueError(f"Could not interpret loss identifier: {identifier}")


def _fn_name(fn):
    return _to_snake_case(getattr(fn, "__name__", type(fn).__name__))


def serialize(loss):
    """Keras-format dict for a Loss; ``{"class_name": "function", ...}`` for a function."""
    from graphc._serialization import serialize_object

    return serialize_object(loss, Loss, _MODULE, "loss")


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize` (also reads Keras-saved loss configs)."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            obj = custom_objects[config]
            return obj() if isinstance(obj, type) else obj
        return get(config)
    from graphc._serialization import deserialize_dict

    return deserialize_dict(
        config, "loss", _FUNCTIONS, _CLASSES, LossFunctionWrapper, custom_objects
    )
