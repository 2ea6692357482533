"""Optimizers with Keras 3's update formulas, defaults and config names, in NumPy.

All trainable weights of a model live in one contiguous 1-D buffer and their
gradients in another of the same size, so one optimizer step is a handful of
in-place ufunc calls over whole buffers (split across cores for big models)
instead of a Python loop over variables::

    opt = graphc.optimizers.Adam(learning_rate=1e-3)
    opt.build(param_flat, segments)   # segments[i]: slice of variable i
    ...
    opt.apply(grad_flat)              # updates param_flat in place; grad_flat is scratch

Inside ``apply`` the order is Keras 3's (``keras/src/optimizers/base_optimizer.py``,
``_backend_apply_gradients``): unscale by ``loss_scale_factor``, gradient
accumulation, clipping (``clipnorm`` per variable, else ``global_clipnorm``, else
``clipvalue``), weight decay ``p *= 1 - weight_decay * lr``, the update itself,
the EMA of the weights, and finally ``iterations += 1``. The learning rate (or
schedule) is read at the iteration count *before* the increment.

This module imports only NumPy and the standard library (plus graphc's own
``schedules`` module, re-exported here as ``graphc.optimizers.schedules``).
"""

import math
import os
import re
import threading
import warnings

import numpy as np

from . import schedules
from .interrupts import atomic
from .schedules import LearningRateSchedule

__all__ = [
    "Optimizer",
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adamax",
    "Nadam",
    "Adadelta",
    "Ftrl",
    "Lion",
    "Lamb",
    "Adafactor",
    "ScheduleFreeAdamW",
    "Muon",
    "MultiOptimizer",
    "OptimizerMap",
    "schedules",
    "get",
    "serialize",
    "deserialize",
    "set_num_threads",
]

_MODULE = "keras.optimizers"

# Buffers at least this large are split across a small thread pool; NumPy's
# ufuncs release the GIL, so the chunks really run in parallel.
PARALLEL_THRESHOLD = 1 << 16
# Elements per cache block: 256 KiB of float32 per buffer, so that the four or five
# buffers an update reads and writes stay in a core's L2/L3 share between its passes
# (9 passes for RMSprop, 12 for Adam). Measured on the 784-1024-1024-10 MLP's 1.86M
# parameters (2 shared cores, median CPU time of 25 interleaved rounds): against 1 << 18,
# RMSprop 14.1 -> 12.6 ms and Adam 18.8 -> 15.9 ms per step; 1 << 14 is slower again (the
# calls' own cost). The blocking does not change any number: every pass is elementwise.
BLOCK = 1 << 16
_ALIGN = 16  # chunk boundaries on 64-byte multiples (float32)

_SCRATCH_BY_THREAD = threading.local()  # dtype -> a block's work buffer
_pool = None
_pool_lock = threading.Lock()
_num_threads = None


def _default_num_threads():
    env = os.environ.get("GRAPHC_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def set_num_threads(n):
    """Set how many threads an optimizer step may use (``None``: one per core, max 8).

    Example::

        graphc.optimizers.set_num_threads(1)   # deterministic single-threaded steps
    """
    global _num_threads, _pool
    with _pool_lock:
        _num_threads = None if n is None else max(1, int(n))
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def _forget_pool_in_child():
    # a pool inherited through fork() has no threads behind it
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _threads():
    return _num_threads if _num_threads is not None else _default_num_threads()


def _get_pool():
    global _pool
    if _pool is None:
        # imported here: concurrent.futures costs milliseconds at `import graphc`
        from concurrent.futures import ThreadPoolExecutor

        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=max(1, _threads() - 1), thread_name_prefix="graphc-opt"
                )
    return _pool


def _to_snake_case(name):
    # Keras's keras/src/utils/naming.py: "RMSprop" -> "rm_sprop", "AdamW" -> "adam_w".
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _merge_ranges(ranges):
    out = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class Optimizer:
    """Base class. Subclasses declare their slot buffers and implement ``_update``.

    Common keyword arguments (Keras 3 names and defaults): ``weight_decay``,
    ``clipnorm``, ``clipvalue``, ``global_clipnorm`` (at most one of the three),
    ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``, ``loss_scale_factor``,
    ``gradient_accumulation_steps``, ``name``.

    ``learning_rate`` is a float, a :class:`~graphc.schedules.LearningRateSchedule`
    (called with the iteration count) or a zero-argument callable; the property
    ``optimizer.learning_rate`` returns the current value as a float and can be
    assigned (as ``ReduceLROnPlateau`` does), except when it is a schedule.

    Example::

        opt = SGD(learning_rate=0.1, momentum=0.9)
        opt.build(params, [slice(0, 6), slice(6, 8)])
        opt.apply(grads)
        opt.iterations  # 1
    """

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored.", stacklevel=2
            )
        if "lr" in kwargs:  # Keras 2 spelling still found in tutorials
            learning_rate = kwargs.pop("lr")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                f"be set. Received: clipnorm={clipnorm}, "
                f"clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError(
                "`gradient_accumulation_steps` must be an integer >= 2. "
                f"Received: gradient_accumulation_steps={gradient_accumulation_steps}"
            )
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(
                    "`ema_momentum` must be in the range [0, 1]. "
                    f"Received: ema_momentum={ema_momentum}"
                )
            if ema_overwrite_frequency and (
                not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    "`ema_overwrite_frequency` must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={ema_overwrite_frequency}"
                )
        self.name = name if name is not None else _to_snake_case(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._learning_rate = self._check_learning_rate(learning_rate)
        self._iterations = 0
        self.built = False
        self._param = None
        self._segments = []
        self._names = None
        self._slots = {}
        self._exclude_ids = set()
        self._exclude_pattern = None

    # ------------------------------------------------------------------ learning rate
    @staticmethod
    def _check_learning_rate(lr):
        if isinstance(lr, LearningRateSchedule) or callable(lr):
            return lr
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.number)):
            raise ValueError(
                "Argument `learning_rate` should be float, or an instance "
                "of LearningRateSchedule, or a callable "
                "(that takes in the current iteration value "
                "and returns the corresponding learning rate value). "
                f"Received instead: learning_rate={lr!r}"
            )
        return float(lr)

    @property
    def learning_rate(self):
        """The learning rate for the next step, as a Python float."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self._iterations))
        if callable(lr):
            return float(lr())
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule) or callable(value):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule`"
                " object as its `learning_rate` constructor argument, "
                "hence its learning rate is not settable. If you need the"
                " learning rate to be settable, you should instantiate "
                "the optimizer with a float `learning_rate` argument."
            )
        if isinstance(value, np.ndarray):
            value = value.item()
        self._learning_rate = self._check_learning_rate(value)

    lr = learning_rate  # Keras 2 alias

    # ------------------------------------------------------------------ iterations
    @property
    def iterations(self):
        """Number of optimizer updates applied (Keras: steps // accumulation steps)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value)

    # ------------------------------------------------------------------ build
    def build(self, param_flat, segments=None, names=None):
        """Attach the flat parameter buffer and allocate the slot buffers.

        ``param_flat``: 1-D contiguous float32 (or float64) array, updated in place.
        ``segments``: list of slices, one per variable (used by ``clipnorm``, which
        clips each variable's gradient by its own norm, and by weight-decay
        exclusions); default: the whole buffer is one variable.
        ``names``: optional variable names, for ``exclude_from_weight_decay(var_names=)``.

        Building again with a buffer of the same size and segments keeps the optimizer
        state (as a second ``fit`` keeps Keras's optimizer state); otherwise slots
        are re-allocated.
        """
        p = param_flat
        if not isinstance(p, np.ndarray) or p.ndim != 1:
            raise ValueError("`param_flat` must be a 1-D NumPy array")
        if not np.issubdtype(p.dtype, np.floating):
            raise ValueError(f"`param_flat` must be a floating array, got dtype {p.dtype}")
        if not p.flags.c_contiguous or not p.flags.writeable:
            raise ValueError("`param_flat` must be C-contiguous and writeable")
        n = p.size
        if segments is None:
            segments = [slice(0, n)]
        segs = []
        for s in segments:
            if isinstance(s, slice):
                a, b, step = s.indices(n)
                if step != 1:
                    raise ValueError(f"segment {s} must have step 1")
            else:
                a, b = (int(v) for v in s)
            if not 0 <= a <= b <= n:
                raise ValueError(f"segment {s} is outside the buffer of size {n}")
            segs.append((a, b))
        if names is not None and len(names) != len(segs):
            raise ValueError(f"got {len(names)} names for {len(segs)} segments")
        keep = (
            self.built
            and self._param is not None
            and self._param.size == n
            and self._param.dtype == p.dtype
            and segs == self._segments
        )
        self._param = p
        self._segments = segs
        self._names = list(names) if names is not None else None
        covered = _merge_ranges(segs)
        self._covers_all = covered == [(0, n)] and sum(b - a for a, b in segs) == n
        self._chunks = self._partition(n)
        self._compute_wd_ranges()
        if not keep:
            self._slots = {}
            self._build_slots()
            if self.gradient_accumulation_steps:
                self._slots["gradient_accumulator"] = np.zeros_like(p)
            if self.use_ema:
                self._slots["average"] = np.zeros_like(p)
        self.built = True

    def rebuild(self, param_flat, segments, moved, names=None):
        """Build for a new set of variables, keeping the slot state (momentum, Adam's
        moments, ...) of those that stay: ``moved`` lists ``(old_slice, new_slice)`` pairs.
        The trainer calls this when ``layer.trainable`` changes between fits; Keras keeps
        each variable's optimizer state the same way."""
        old = dict(self._slots) if self.built else {}
        self._param = None  # force fresh slots: the same size may hold other variables
        self.build(param_flat, segments, names)
        for key, buf in self._slots.items():
            if key in old:
                for src, dst in moved:
                    buf[dst] = old[key][src]

    def _partition(self, n):
        threads = _threads()
        if n < PARALLEL_THRESHOLD or threads < 2:
            return [(0, n)]
        k = min(threads, max(1, n // (PARALLEL_THRESHOLD // 2)))
        bounds = [0]
        for i in range(1, k):
            bounds.append((n * i // k) // _ALIGN * _ALIGN)
        bounds.append(n)
        return [(bounds[i], bounds[i + 1]) for i in range(k) if bounds[i + 1] > bounds[i]]

    def _build_slots(self):
        """Subclasses allocate ``self._slots[name] = np.zeros_like(self._param)``."""

    def _slot(self, name, fill=0.0):
        buf = np.full_like(self._param, fill) if fill else np.zeros_like(self._param)
        self._slots[name] = buf
        return buf

    @property
    def variables(self):
        """Optimizer state as ``[(name, array)]``: iterations, then the flat slots."""
        out = [("iteration", np.array(self._iterations, dtype=np.int64))]
        out.extend(self._slots.items())
        return out

    def get_state(self):
        """A dict of arrays (copies) holding all optimizer state; see :meth:`set_state`."""
        state = {"iteration": np.array(self._iterations, dtype=np.int64)}
        for k, v in self._slots.items():
            state[k] = v.copy()
        if not isinstance(self._learning_rate, LearningRateSchedule) and not callable(
            self._learning_rate
        ):
            state["learning_rate"] = np.array(self._learning_rate, dtype=np.float64)
        return state

    def set_state(self, state):
        """Restore :meth:`get_state`'s output (the optimizer must be built)."""
        if not self.built:
            raise ValueError("Call `build(param_flat, segments)` before `set_state()`.")
        for k, v in state.items():
            if k == "iteration":
                self._iterations = int(np.asarray(v))
            elif k == "learning_rate":
                if not isinstance(self._learning_rate, LearningRateSchedule):
                    self._learning_rate = float(np.asarray(v))
            elif k in self._slots:
                v = np.asarray(v)
                if v.shape != self._slots[k].shape:
                    raise ValueError(
                        f"Optimizer slot '{k}' has shape {self._slots[k].shape}, got {v.shape}"
                    )
                self._slots[k][...] = v
            else:
                raise ValueError(f"Unknown optimizer state entry '{k}'")

    # ------------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exclude variables from weight decay.

        ``var_list``: segment indices (ints) or the segment slices themselves;
        ``var_names``: substrings/regexes matched (``re.search``) against the
        ``names`` given to :meth:`build`.
        """
        ids = set()
        for v in var_list or ():
            if isinstance(v, slice):
                ids.add(("slice", v.start, v.stop))
            else:
                ids.add(int(v))
        self._exclude_ids = ids
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None
        if self.built:
            self._compute_wd_ranges()

    def _use_weight_decay(self, i, seg):
        if i in self._exclude_ids or ("slice", seg[0], seg[1]) in self._exclude_ids:
            return False
        if self._exclude_pattern is not None and self._names is not None:
            if self._exclude_pattern.search(str(self._names[i])) is not None:
                return False
        return True

    def _compute_wd_ranges(self):
        n = self._param.size
        ranges = _merge_ranges(
            [seg for i, seg in enumerate(self._segments) if self._use_weight_decay(i, seg)]
        )
        self._wd_all = ranges == [(0, n)]
        self._wd_ranges = ranges

    # ------------------------------------------------------------------ apply
    def scale_loss(self, loss):
        """Multiply the loss by ``loss_scale_factor`` (``apply`` divides the gradient)."""
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def apply(self, grad_flat):
        """One optimizer step: update the built ``param_flat`` in place.

        ``grad_flat`` has the parameter buffer's size; it is used as scratch and
        holds garbage afterwards. Increments ``iterations``. The step is all or
        nothing with respect to Ctrl-C: a SIGINT arriving inside is delivered when the
        step ends (``graphc.interrupts.atomic``).
        """
        with atomic():
            self._apply(grad_flat)

    def _apply(self, grad_flat):
        if not self.built:
            raise ValueError(
                "The optimizer is not built: call `optimizer.build(param_flat, segments)` "
                "before `apply(grad_flat)`."
            )
        p = self._param
        g = grad_flat
        if not isinstance(g, np.ndarray) or g.shape != p.shape:
            raise ValueError(
                f"`grad_flat` must be an array of shape {p.shape}, got "
                f"{getattr(g, 'shape', type(g))}"
            )
        if g.dtype != p.dtype or not g.flags.c_contiguous or not g.flags.writeable:
            g = np.array(g, dtype=p.dtype)
        dt = p.dtype.type
        if self.loss_scale_factor is not None:
            np.divide(g, dt(self.loss_scale_factor), out=g)
        if self.gradient_accumulation_steps:
            steps = self.gradient_accumulation_steps
            acc = self._slots["gradient_accumulator"]
            if (self._iterations + 1) % steps != 0:
                acc += g
                self._update_ema()
                self._iterations += 1
                return
            g += acc
            np.divide(g, dt(steps), out=g)
            acc[...] = 0
        lr = self.learning_rate
        if self.clipnorm or self.global_clipnorm or self.clipvalue:
            self._clip(g)
        self._run(g, lr)
        if self.use_ema:
            self._update_ema()
        self._iterations += 1

    def _clip(self, g):
        dt = g.dtype.type
        if self.clipnorm and self.clipnorm > 0:
            c = dt(self.clipnorm)
            for a, b in self._segments:
                gs = g[a:b]
                norm = dt(math.sqrt(float(np.dot(gs, gs))))
                if norm > c:  # Keras: g * c / max(norm, c); identity otherwise
                    np.multiply(gs, c, out=gs)
                    np.divide(gs, norm, out=gs)
        elif self.global_clipnorm and self.global_clipnorm > 0:
            c = dt(self.global_clipnorm)
            if self._covers_all:
                sq = np.dot(g, g)
            else:
                sq = sum(np.dot(g[a:b], g[a:b]) for a, b in self._segments)
            norm = np.sqrt(dt(sq))
            with np.errstate(divide="ignore", invalid="ignore"):
                # Keras's clip_by_global_norm, including the NaN for a non-finite norm
                # and the "scale = c * (1 / c)" that may differ from 1 by an ulp.
                scale = c * np.minimum(dt(1) / norm, dt(1) / c) + (norm - norm)
            if scale != 1:
                np.multiply(g, scale, out=g)
        elif self.clipvalue and self.clipvalue > 0:
            v = dt(self.clipvalue)
            np.clip(g, -v, v, out=g)

    def _run(self, g, lr):
        dt = self._param.dtype.type
        wd = None
        if self.weight_decay is not None and self._wd_ranges:
            wd = dt(1) - dt(self.weight_decay) * dt(lr)
            if wd == 1:  # p * 1 == p exactly: skip the pass
                wd = None
        consts = self._prepare(lr)
        chunks = self._chunks
        if len(chunks) == 1:
            lo, hi = chunks[0]
            # A small model: one update, no loops (not for optimizers whose _chunk does
            # more than split the range, as Lamb's per-variable norms).
            if wd is None and 0 < hi - lo <= BLOCK and type(self)._chunk is Optimizer._chunk:
                self._update(slice(lo, hi), g, consts)
            else:
                self._chunk(lo, hi, g, wd, consts)
            return
        pool = _get_pool()
        futures = [pool.submit(self._chunk, a, b, g, wd, consts) for a, b in chunks[1:]]
        self._chunk(chunks[0][0], chunks[0][1], g, wd, consts)
        for f in futures:
            f.result()

    def _chunk(self, lo, hi, g, wd, consts):
        p = self._param
        if wd is not None:
            if self._wd_all:
                p[lo:hi] *= wd
            else:
                for a, b in self._wd_ranges:
                    a, b = max(a, lo), min(b, hi)
                    if a < b:
                        p[a:b] *= wd
        # Blocks of BLOCK elements: the dozen passes of an update then run on data that is
        # still in cache, instead of streaming every buffer through memory a dozen times.
        for a in range(lo, hi, BLOCK):
            self._update(slice(a, min(hi, a + BLOCK)), g, consts)

    def _block_scratch(self, sl, k=0):
        """Work buffer ``k`` for the block ``sl``: this thread's own, of at most ``BLOCK``
        elements, so it stays in the core's cache from block to block (a slice of a
        buffer as large as the parameters would be fetched and written back whole)."""
        n = sl.stop - sl.start
        local = _SCRATCH_BY_THREAD.__dict__
        key = (self._param.dtype, k)
        buf = local.get(key)
        if buf is None or buf.size < n:
            buf = local[key] = np.empty(max(n, BLOCK), self._param.dtype)
        return buf[:n]

    def _prepare(self, lr):
        """Scalars for ``_update``, cast to the parameter dtype."""
        return (self._param.dtype.type(lr),)

    def _update(self, sl, g, consts):
        raise NotImplementedError

    def _update_ema(self):
        if not self.use_ema:
            return
        p = self._param
        avg = self._slots["average"]
        dt = p.dtype.type
        it = self.iterations
        mom = dt(self.ema_momentum) if it != 0 else dt(0)
        avg *= mom
        avg += (dt(1) - mom) * p
        if self.ema_overwrite_frequency and (it + 1) % self.ema_overwrite_frequency == 0:
            p[...] = avg

    def finalize_variable_values(self):
        """With ``use_ema=True``, copy the moving average into the parameters
        (Keras's ``fit`` does this after the last epoch)."""
        if self.use_ema and self.built:
            self._param[...] = self._slots["average"]

    # ------------------------------------------------------------------ config
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif callable(lr):
            lr = float(lr())
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(
                config["learning_rate"], custom_objects=custom_objects
            )
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r}>"


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum (Keras 3 formulas).

    ``momentum == 0``: ``p -= lr * g``. Otherwise ``m = momentum * m - lr * g`` and
    ``p += momentum * m - lr * g`` (nesterov) or ``p += m``.

    Example::

        opt = SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            name=name,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            **kwargs,
        )
        if (
            isinstance(momentum, bool)
            or not isinstance(momentum, (int, float, np.number))
            or momentum < 0
            or momentum > 1
        ):
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = float(momentum)
        self.nesterov = nesterov

    def _build_slots(self):
        if self.momentum != 0:
            self._slot("momentum")

    def _prepare(self, lr):
        dt = self._param.dtype.type
        return dt(lr), dt(self.momentum)

    def _update(self, sl, g, consts):
        lr, mu = consts
        p, gs = self._param[sl], g[sl]
        np.multiply(gs, lr, out=gs)  # gs = lr * g
        if self.momentum != 0:
            m = self._slots["momentum"][sl]
            m *= mu
            m -= gs
            if self.nesterov:
                s = self._block_scratch(sl)
                np.multiply(m, mu, out=s)
                s -= gs
                p += s
            else:
                p += m
        else:
            p -= gs

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config


class RMSprop(Optimizer):
    """RMSprop (Keras 3): epsilon inside the square root.

    ``v = rho * v + (1 - rho) * g**2``; centered: ``a = rho * a + (1 - rho) * g``,
    ``denom = v - a**2 + eps`` else ``v + eps``; ``inc = lr * g / sqrt(denom)``;
    with momentum ``m = momentum * m + inc; p -= m`` else ``p -= inc``.

    Example::

        opt = RMSprop(learning_rate=0.001, rho=0.9, centered=True)
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _build_slots(self):
        self._slot("velocity")
        if self.momentum > 0:
            self._slot("momentum")
        if self.centered:
            self._slot("average_gradient")

    def _prepare(self, lr):
        dt = self._param.dtype.type
        return (
            dt(lr),
            dt(self.rho),
            dt(1 - self.rho),
            dt(self.epsilon),
            dt(self.momentum),
        )

    def _update(self, sl, g, consts):
        lr, rho, one_m_rho, eps, mom = consts
        p, gs, s = self._param[sl], g[sl], self._block_scratch(sl)
        v = self._slots["velocity"][sl]
        v *= rho
        np.multiply(gs, gs, out=s)
        s *= one_m_rho
        v += s
        if self.centered:
            a = self._slots["average_gradient"][sl]
            a *= rho
            np.multiply(gs, one_m_rho, out=s)
            a += s
            np.multiply(a, a, out=s)
            np.subtract(v, s, out=s)
            s += eps
        else:
            np.add(v, eps, out=s)
        np.sqrt(s, out=s)
        inc = self._block_scratch(sl, 1)  # not in gs: the gradient is then only read
        np.multiply(gs, lr, out=inc)
        inc /= s
        if self.momentum > 0:
            m = self._slots["momentum"][sl]
            m *= mom
            m += inc
            p -= m
        else:
            p -= inc

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rho": self.rho,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "centered": self.centered,
            }
        )
        return config


class Adam(Optimizer):
    """Adam (Keras 3), epsilon-hat form.

    ``t = iterations + 1``; ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``;
    ``m += (g - m) * (1 - beta_1)``; ``v += (g**2 - v) * (1 - beta_2)``;
    amsgrad: ``v_hat = max(v_hat, v)`` used instead of ``v``;
    ``p -= alpha * m / (sqrt(v) + epsilon)``.

    Example::

        opt = Adam(learning_rate=1e-3, amsgrad=True)
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            name=name,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def _build_slots(self):
        self._slot("momentum")
        self._slot("velocity")
        if self.amsgrad:
            self._slot("velocity_hat")

    def _prepare(self, lr):
        dt = self._param.dtype.type
        # Computed in the variable dtype, as Keras does.
        t = dt(self.iterations + 1)
        b1p = np.power(dt(self.beta_1), t)
        b2p = np.power(dt(self.beta_2), t)
        alpha = dt(lr) * np.sqrt(dt(1) - b2p) / (dt(1) - b1p)
        return (
            dt(alpha),
            dt(self.beta_1),
            dt(1 - self.beta_1),
            dt(self.beta_2),
            dt(1 - self.beta_2),
            dt(self.epsilon),
        )

    def _update(self, sl, g, consts):
        alpha, b1, one_m_b1, b2, one_m_b2, eps = consts
        p, gs, s = self._param[sl], g[sl], self._block_scratch(sl)
        m = self._slots["momentum"][sl]
        v = self._slots["velocity"][sl]
        m *= b1
        np.multiply(gs, one_m_b1, out=s)
        m += s
        v *= b2
        np.multiply(gs, gs, out=s)
        s *= one_m_b2
        v += s
        if self.amsgrad:
            vh = self._slots["velocity_hat"][sl]
            np.maximum(vh, v, out=vh)
            v = vh
        np.sqrt(v, out=s)
        s += eps
        step = self._block_scratch(sl, 1)  # not in gs: the gradient is then only read
        np.multiply(m, alpha, out=step)
        step /= s
        p -= step

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
            }
        )
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - weight_decay * lr`` before the
    Adam update (Keras 3; default ``weight_decay=0.004``).

    Example::

        opt = AdamW(learning_rate=1e-3, weight_decay=0.01)
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            name=name,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            **kwargs,
        )
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")


class Adagrad(Optimizer):
    """Adagrad (Keras 3): ``acc += g**2``; ``p -= lr * g / sqrt(acc + epsilon)``,
    with ``acc`` starting at ``initial_accumulator_value``.

    Example::

        opt = Adagrad(learning_rate=0.01)
    """

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _build_slots(self):
        self._slot("accumulator", fill=self.initial_accumulator_value)

    def _prepare(self, lr):
        dt = self._param.dtype.type
        return dt(lr), dt(self.epsilon)

    def _update(self, sl, g, consts):
        lr, eps = consts
        p, gs, s = self._param[sl], g[sl], self._block_scratch(sl)
        acc = self._slots["accumulator"][sl]
        np.multiply(gs, gs, out=s)
        acc += s
        np.add(acc, eps, out=s)
        np.sqrt(s, out=s)
        gs *= lr
        gs /= s
        p -= gs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon,
            }
        )
        return config


_BASE_ARGS = (
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
    "name",
)


class _Simple(Optimizer):
    """An optimizer whose update is written as whole-array NumPy on each block (the
    formulas of Keras 3's ``update_step``, in the variable dtype); ``_hyper`` lists the
    hyperparameters its config adds."""

    _hyper: tuple = ()

    def __init__(self, learning_rate=0.001, **kwargs):
        base = {k: kwargs.pop(k) for k in list(kwargs) if k in _BASE_ARGS}
        hyper = {k: kwargs.pop(k) for k in list(kwargs) if k in self._hyper}
        super().__init__(learning_rate=learning_rate, **base, **kwargs)
        for k, v in hyper.items():
            setattr(self, k, v)

    def get_config(self):
        config = super().get_config()
        config.update({k: getattr(self, k) for k in self._hyper})
        return config


def _defaults(cls, **values):
    """``cls.__init__`` with Keras's signature (its defaults shown by ``help``)."""
    names = list(values)
    lr_default = values.pop("learning_rate", 0.001)

    def __init__(self, learning_rate=lr_default, **kwargs):
        for k, v in values.items():
            kwargs.setdefault(k, v)
        _Simple.__init__(self, learning_rate=learning_rate, **kwargs)

    cls.__init__ = __init__
    cls._hyper = tuple(n for n in names if n != "learning_rate")
    return cls


class Adamax(_Simple):
    """Adamax (Keras 3): ``m += (g - m)(1 - beta_1)``; ``u = max(beta_2 u, |g|)``;
    ``p -= lr m / ((1 - beta_1^t)(u + epsilon))``."""

    def _build_slots(self):
        self._slot("momentum")
        self._slot("norm")

    def _prepare(self, lr):
        dt = self._param.dtype.type
        b1p = np.power(dt(self.beta_1), dt(self.iterations + 1))
        return dt(lr), dt(self.beta_1), dt(self.beta_2), dt(self.epsilon), dt(1) - b1p

    def _update(self, sl, g, consts):
        lr, b1, b2, eps, one_m_b1p = consts
        p, gs = self._param[sl], g[sl]
        m, u = self._slots["momentum"][sl], self._slots["norm"][sl]
        m += (gs - m) * (1 - b1)
        np.maximum(b2 * u, np.abs(gs), out=u)
        p -= (lr * m) / (one_m_b1p * (u + eps))


_defaults(Adamax, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)


class Nadam(_Simple):
    """Nadam (Keras 3): Adam with Nesterov momentum and the momentum schedule
    ``u_t = beta_1 (1 - 0.5 * 0.96^t)``."""

    def _build_slots(self):
        self._slot("momentum")
        self._slot("velocity")
        self._u_product = 1.0

    def get_state(self):
        state = super().get_state()
        state["u_product"] = np.array(self._u_product, dtype=np.float64)
        return state

    def set_state(self, state):
        state = dict(state)
        u = state.pop("u_product", None)
        super().set_state(state)
        if u is not None:
            self._u_product = float(u)

    def _prepare(self, lr):
        dt = self._param.dtype.type
        t, t1 = dt(self.iterations + 1), dt(self.iterations + 2)
        b1, b2 = dt(self.beta_1), dt(self.beta_2)
        self._u_product = dt(self._u_product) * b1 * (dt(1) - dt(0.5) * np.power(dt(0.96), t))
        u_t = b1 * (dt(1) - dt(0.5) * np.power(dt(0.96), t))
        u_t1 = b1 * (dt(1) - dt(0.5) * np.power(dt(0.96), t1))
        up_t = dt(self._u_product)
        up_t1 = up_t * u_t1
        return dt(lr), b1, b2, dt(self.epsilon), u_t, u_t1, up_t, up_t1, np.power(b2, t)

    def _update(self, sl, g, consts):
        lr, b1, b2, eps, u_t, u_t1, up_t, up_t1, b2p = consts
        p, gs = self._param[sl], g[sl]
        m, v = self._slots["momentum"][sl], self._slots["velocity"][sl]
        m += (gs - m) * (1 - b1)
        v += (gs * gs - v) * (1 - b2)
        m_hat = u_t1 * m / (1 - up_t1) + (1 - u_t) * gs / (1 - up_t)
        v_hat = v / (1 - b2p)
        p -= m_hat * lr / (np.sqrt(v_hat) + eps)


_defaults(Nadam, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)


class Adadelta(_Simple):
    """Adadelta (Keras 3): ``acc_g = rho acc_g + (1 - rho) g^2``; ``d = -sqrt(acc_d +
    eps) g / sqrt(acc_g + eps)``; ``acc_d = rho acc_d + (1 - rho) d^2``; ``p += lr d``."""

    def _build_slots(self):
        self._slot("accumulated_grad")
        self._slot("accumulated_delta_var")

    def _prepare(self, lr):
        dt = self._param.dtype.type
        return dt(lr), dt(self.rho), dt(self.epsilon)

    def _update(self, sl, g, consts):
        lr, rho, eps = consts
        p, gs = self._param[sl], g[sl]
        ag = self._slots["accumulated_grad"][sl]
        ad = self._slots["accumulated_delta_var"][sl]
        ag[...] = rho * ag + (1 - rho) * gs * gs
        delta = -(np.sqrt(ad + eps) * gs) / np.sqrt(ag + eps)
        ad[...] = rho * ad + (1 - rho) * delta * delta
        p += lr * delta


_defaults(Adadelta, learning_rate=0.001, rho=0.95, epsilon=1e-7)


class Ftrl(_Simple):
    """FTRL-proximal (Keras 3), with L1, L2 and L2-shrinkage regularization."""

    def __init__(
        self,
        learning_rate=0.001,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
        **kwargs,
    ):
        for what, v in (
            ("initial_accumulator_value", initial_accumulator_value),
            ("l1_regularization_strength", l1_regularization_strength),
            ("l2_regularization_strength", l2_regularization_strength),
            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength),
        ):
            if v < 0.0:
                raise ValueError(f"`{what}` needs to be positive or zero. Received: {what}={v}.")
        if learning_rate_power > 0.0:
            raise ValueError(
                "`learning_rate_power` needs to be negative or zero. Received: "
                f"learning_rate_power={learning_rate_power}."
            )
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    _hyper = (
        "learning_rate_power",
        "initial_accumulator_value",
        "l1_regularization_strength",
        "l2_regularization_strength",
        "l2_shrinkage_regularization_strength",
        "beta",
    )

    def _build_slots(self):
        self._slot("accumulator", fill=self.initial_accumulator_value)
        self._slot("linear")

    def _prepare(self, lr):
        dt = self._param.dtype.type
        l2 = dt(self.l2_regularization_strength) + dt(self.beta) / (dt(2.0) * dt(lr))
        return (
            dt(lr),
            dt(self.learning_rate_power),
            l2,
            dt(self.l1_regularization_strength),
            dt(2 * self.l2_shrinkage_regularization_strength),
        )

    def _update(self, sl, g, consts):
        lr, power, l2, l1, shrink = consts
        p, gs = self._param[sl], g[sl]
        acc, lin = self._slots["accumulator"][sl], self._slots["linear"][sl]
        grad = gs + shrink * p
        new_acc = acc + gs * gs
        lin += grad - (np.power(new_acc, -power) - np.power(acc, -power)) / lr * p
        quadratic = np.power(new_acc, -power) / lr + 2 * l2
        p[...] = (np.clip(lin, -l1, l1) - lin) / quadratic
        acc[...] = new_acc


class Lion(_Simple):
    """Lion (Keras 3): ``p -= lr sign(beta_1 m + (1 - beta_1) g)``; then ``m = beta_2 m
    + (1 - beta_2) g``."""

    def _build_slots(self):
        self._slot("momentum")

    def _prepare(self, lr):
        dt = self._param.dtype.type
        return dt(lr), dt(self.beta_1), dt(self.beta_2)

    def _update(self, sl, g, consts):
        lr, b1, b2 = consts
        p, gs, m = self._param[sl], g[sl], self._slots["momentum"][sl]
        p -= lr * np.sign(m * b1 + gs * (1 - b1))
        m[...] = m * b2 + gs * (1 - b2)


_defaults(Lion, learning_rate=0.001, beta_1=0.9, beta_2=0.99)
_lion_init = Lion.__init__


def _lion_checked(self, learning_rate=0.001, **kwargs):
    b1 = kwargs.get("beta_1", 0.9)
    if b1 <= 0 or b1 > 1:
        raise ValueError(f"Argument `beta_1` must be in the [0, 1] range. Received: beta_1={b1}.")
    _lion_init(self, learning_rate=learning_rate, **kwargs)


Lion.__init__ = _lion_checked


class Lamb(_Simple):
    """LAMB (Keras 3): the Adam step scaled per variable by the trust ratio
    ``||p|| / ||update||`` (1 when either norm is 0)."""

    def _build_slots(self):
        self._slot("momentum")
        self._slot("velocity")

    def _partition(self, n):
        return [(0, n)]  # the norms are per variable: one pass over the segments

    def _prepare(self, lr):
        dt = self._param.dtype.type
        t = dt(self.iterations + 1)
        return (
            dt(lr),
            dt(self.beta_1),
            dt(self.beta_2),
            dt(self.epsilon),
            np.power(dt(self.beta_1), t),
            np.power(dt(self.beta_2), t),
        )

    def _chunk(self, lo, hi, g, wd, consts):
        p = self._param
        if wd is not None:
            for a, b in self._wd_ranges:
                p[a:b] *= wd
        for a, b in self._segments:
            self._update(slice(a, b), g, consts)

    def _update(self, sl, g, consts):
        lr, b1, b2, eps, b1p, b2p = consts
        p, gs = self._param[sl], g[sl]
        m, v = self._slots["momentum"][sl], self._slots["velocity"][sl]
        m += (gs - m) * (1 - b1)
        v += (gs * gs - v) * (1 - b2)
        update = (m / (1 - b1p)) / (np.sqrt(v / (1 - b2p)) + eps)
        w_norm = np.sqrt(np.sum(p * p))
        g_norm = np.sqrt(np.sum(update * update))
        ratio = w_norm / g_norm if w_norm > 0 and g_norm > 0 else p.dtype.type(1)
        p -= ratio * lr * update


_defaults(Lamb, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)


class Adafactor(_Simple):
    """Adafactor (Keras 3; Shazeer and Stern, 2018). A variable of 2 or more dimensions
    keeps the row and column means of ``g^2 + epsilon_1`` over its last two dimensions
    (``r``, ``c``) instead of a full second moment; the step is
    ``max(epsilon_2, rms(p)) * min(lr, 1/sqrt(t))`` times the update clipped to an RMS of
    ``clip_threshold``. With a constant ``learning_rate`` and ``relative_step``, the
    learning rate is also capped by ``1/sqrt(t)``.

    The factoring needs each variable's shape: ``fit`` gives them; a direct ``build``
    takes ``shapes=`` (without, each variable is treated as a vector).
    """

    _var_shapes = None

    def build(self, param_flat, segments=None, names=None, shapes=None):
        if shapes is not None:
            self._var_shapes = [tuple(int(d) for d in s) for s in shapes]
        super().build(param_flat, segments, names)
        shapes = self._var_shapes
        if shapes is None or len(shapes) != len(self._segments):
            shapes = [(b - a,) for a, b in self._segments]
        for (a, b), s in zip(self._segments, shapes):
            if int(np.prod(s)) != b - a:
                raise ValueError(
                    f"Adafactor: the variable shape {s} does not match its segment "
                    f"of {b - a} values. Pass one shape per segment, in order."
                )
        self._seg_shapes = shapes

    def _build_slots(self):
        # r and c of a variable sit at the start of its own segment of these buffers.
        self._slot("r")
        self._slot("c")
        self._slot("velocity")

    def _partition(self, n):
        return [(0, n)]  # the RMS and the factored moments are per variable

    def _prepare(self, lr):
        dt = self._param.dtype.type
        t = dt(self.iterations + 1)
        lr = dt(lr)
        inv = dt(1) / np.sqrt(t)
        if not callable(self._learning_rate) and self.relative_step:
            lr = np.minimum(lr, inv)
        rho = np.minimum(lr, inv)
        beta_2_t = dt(1) - np.power(t, dt(self.beta_2_decay))
        return (rho, beta_2_t, dt(self.epsilon_1), dt(self.epsilon_2), dt(self.clip_threshold))

    def _chunk(self, lo, hi, g, wd, consts):
        p = self._param
        if wd is not None:
            for a, b in self._wd_ranges:
                p[a:b] *= wd
        for (a, b), shape in zip(self._segments, self._seg_shapes):
            if b > a:
                self._update_var(a, b, shape, g, consts)

    def _update_var(self, a, b, shape, g, consts):
        rho, beta_2_t, eps1, eps2, clip = consts
        dt = self._param.dtype.type
        p = self._param[a:b].reshape(shape)
        gs = g[a:b].reshape(shape)
        v = self._slots["velocity"][a:b].reshape(shape)
        alpha = np.maximum(eps2, np.sqrt(np.mean(np.square(p)))) * rho
        sq = np.square(gs) + eps1
        if len(shape) >= 2:
            nr = int(np.prod(shape[:-1]))
            nc = int(np.prod(shape[:-2])) * shape[-1]
            r = self._slots["r"][a : a + nr].reshape(shape[:-1])
            c = self._slots["c"][a : a + nc].reshape(shape[:-2] + shape[-1:])
            r[...] = beta_2_t * r + (dt(1) - beta_2_t) * np.mean(sq, axis=-1)
            c[...] = beta_2_t * c + (dt(1) - beta_2_t) * np.mean(sq, axis=-2)
            v[...] = np.expand_dims(r / np.mean(r, axis=-1, keepdims=True), -1) * np.expand_dims(
                c, -2
            )
        else:
            v[...] = beta_2_t * v + (dt(1) - beta_2_t) * sq
        u = gs / np.sqrt(v)
        u_hat = u / np.maximum(dt(1), np.sqrt(np.mean(np.square(u))) / clip)
        p -= alpha * u_hat


_defaults(
    Adafactor,
    learning_rate=0.001,
    beta_2_decay=-0.8,
    epsilon_1=1e-30,
    epsilon_2=1e-3,
    clip_threshold=1.0,
    relative_step=True,
)


class ScheduleFreeAdamW(_Simple):
    """Schedule-free AdamW (Defazio et al., 2024), as Keras 3's: no learning-rate
    schedule is needed; ``momentum`` holds the ``z`` sequence (it starts as the
    weights), the weights are the interpolation ``y`` between ``z`` and the running
    average ``x``; ``warmup_steps`` ramps the learning rate linearly. Evaluate with the
    weights as they are (Keras does not swap in ``x``)."""

    def _build_slots(self):
        self._slot("momentum")[...] = self._param
        self._slot("velocity")

    def _prepare(self, lr):
        dt = self._param.dtype.type
        t = dt(self.iterations + 1)
        lr = dt(lr)
        if self.warmup_steps > 0:
            lr = lr * np.minimum(t / dt(self.warmup_steps), dt(1))
        b1, b2 = dt(self.beta_1), dt(self.beta_2)
        return (lr, b1, b2, dt(self.epsilon), dt(1) - np.power(b2, t), dt(1.0) / t)

    def _update(self, sl, g, consts):
        lr, b1, b2, eps, bc2, weight = consts
        p, gs = self._param[sl], g[sl]
        m, v = self._slots["momentum"][sl], self._slots["velocity"][sl]
        v += (gs * gs - v) * (1 - b2)
        denom = np.sqrt(v / bc2) + eps
        # Keras reads `momentum.value` after updating it in place (torch): the new z.
        m -= lr * gs / denom
        x_old = (p - (1 - b1) * m) / b1
        x_new = (1 - weight) * x_old + weight * m
        p[...] = (1 - b1) * m + b1 * x_new


_defaults(
    ScheduleFreeAdamW,
    learning_rate=0.0025,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    warmup_steps=0,
)


class Muon(_Simple):
    """Muon (Keras 3): 2-D weights follow momentum orthogonalised by ``ns_steps``
    Newton-Schulz iterations (coefficients ``muon_a``, ``muon_b``, ``muon_c``), scaled by
    ``sqrt(max(n, m)) * rms_rate``; the others (and embeddings with
    ``exclude_embeddings``, and the paths matching ``exclude_layers``) follow AdamW at
    ``learning_rate * adam_lr_ratio``. Weight decay: ``weight_decay`` for the Muon
    weights, ``adam_weight_decay`` for the AdamW ones.

    Which rule a weight follows needs its shape and path: ``fit`` gives them; a direct
    ``build`` takes ``shapes=`` and ``names=`` (without, every weight follows AdamW).
    """

    _var_shapes = None
    _var_paths = None

    def build(self, param_flat, segments=None, names=None, shapes=None):
        if shapes is not None:
            self._var_shapes = [tuple(int(d) for d in s) for s in shapes]
        if names is not None:
            self._var_paths = [str(n) for n in names]
        super().build(param_flat, segments, names)
        n = len(self._segments)
        shapes = self._var_shapes if self._var_shapes and len(self._var_shapes) == n else None
        paths = self._var_paths if self._var_paths and len(self._var_paths) == n else None
        shapes = shapes or [(b - a,) for a, b in self._segments]
        paths = paths or [""] * n
        self._seg_shapes = shapes
        self._use_adamw = [self._should_use_adamw(s, p) for s, p in zip(shapes, paths)]

    def _should_use_adamw(self, shape, path):
        if len(shape) != 2:
            return True
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(k, path) for k in self.exclude_layers or [])

    def _build_slots(self):
        self._slot("momentum")
        self._slot("velocity")

    def _partition(self, n):
        return [(0, n)]  # the Newton-Schulz iteration is per weight matrix

    def _run(self, g, lr):
        self._chunk(0, self._param.size, g, None, self._prepare(lr))

    def _prepare(self, lr):
        dt = self._param.dtype.type
        t = dt(self.iterations + 1)
        return (dt(lr), t)

    def _chunk(self, lo, hi, g, wd, consts):
        lr, t = consts
        dt = self._param.dtype.type
        for i, ((a, b), shape) in enumerate(zip(self._segments, self._seg_shapes)):
            if b <= a:
                continue
            adamw = self._use_adamw[i]
            p = self._param[a:b]
            decay = self.adam_weight_decay if adamw else self.weight_decay
            if decay is not None and self._use_weight_decay(i, (a, b)):
                p -= p * dt(decay) * lr
            if adamw:
                self._adamw(a, b, g, dt(lr * dt(self.adam_lr_ratio)), t)
            else:
                self._muon(a, b, shape, g, lr)

    def _adamw(self, a, b, g, lr, t):
        dt = self._param.dtype.type
        b1, b2 = dt(self.adam_beta_1), dt(self.adam_beta_2)
        alpha = lr * np.sqrt(dt(1) - np.power(b2, t)) / (dt(1) - np.power(b1, t))
        p, gs = self._param[a:b], g[a:b]
        m, v = self._slots["momentum"][a:b], self._slots["velocity"][a:b]
        m += (gs - m) * (dt(1) - b1)
        v += (gs * gs - v) * (dt(1) - b2)
        p -= (m * alpha) / (np.sqrt(v) + dt(self.epsilon))

    def _muon(self, a, b, shape, g, lr):
        dt = self._param.dtype.type
        mom = dt(self.momentum)
        gs = g[a:b].reshape(shape)
        m = self._slots["momentum"][a:b].reshape(shape)
        m += gs + m * (mom - dt(1))
        upd = gs + mom * m if self.nesterov else m.copy()
        upd = self._newton_schulz(upd)
        step = lr * upd
        if self.rms_rate is not None:
            step = step * np.sqrt(dt(max(shape[0], shape[1]))) * dt(self.rms_rate)
        self._param[a:b] -= step.reshape(-1)

    def _newton_schulz(self, x):
        dt = x.dtype.type
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = np.swapaxes(x, -1, -2)
        x = x / (np.sqrt(np.sum(x * x, axis=(-2, -1), keepdims=True)) + dt(1e-7))
        a, b, c = dt(self.muon_a), dt(self.muon_b), dt(self.muon_c)
        for _ in range(self.ns_steps):
            temp_a = x @ np.swapaxes(x, -1, -2)
            temp_b = b * temp_a + c * temp_a @ temp_a
            x = a * x + temp_b @ x
        return np.swapaxes(x, -1, -2) if tall else x


_defaults(
    Muon,
    learning_rate=0.001,
    adam_beta_1=0.9,
    adam_beta_2=0.999,
    adam_weight_decay=0.004,
    epsilon=1e-7,
    exclude_layers=None,
    exclude_embeddings=True,
    muon_a=3.4445,
    muon_b=-4.7750,
    muon_c=2.0315,
    adam_lr_ratio=1,
    momentum=0.95,
    ns_steps=5,
    nesterov=True,
    rms_rate=0.2,
)
_muon_init = Muon.__init__


def _muon_checked(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
    _muon_init(self, learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
    self.exclude_layers = self.exclude_layers or []


Muon.__init__ = _muon_checked


class _VariableInfo:
    """What an optimizer selector sees of a weight: ``path``, ``name``, ``shape``."""

    def __init__(self, path, shape):
        self.path = path
        self.name = path.rsplit("/", 1)[-1]
        self.shape = tuple(shape)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}>"


class OptimizerMap:
    """Weights' paths (exact, else a ``re.fullmatch`` pattern) to optimizers, with a
    default for the rest, as ``keras.optimizers.OptimizerMap``."""

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(
                f"default_optimizer must be a Keras Optimizer instance. Received: "
                f"{default_optimizer}"
            )
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = dict(optimizer_map or {})

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [p for p in self._optimizer_map if re.fullmatch(p, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}.")
        if matching:
            return self._optimizer_map[matching[0]]
        return self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(
                f"'{key}' already exists in the OptimizerMap with value "
                f"{self._optimizer_map[key]}. Please make sure to not use duplicated keys."
            )
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a Keras Optimizer instance. Received: {optimizer}")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __contains__(self, key):
        return key in self._optimizer_map

    def keys(self):
        return self._optimizer_map.keys()

    def values(self):
        return self._optimizer_map.values()

    def items(self):
        return self._optimizer_map.items()

    def __call__(self, variable):
        return self[variable.path]

    def get_config(self):
        return {
            "default_optimizer": serialize(self._default_optimizer),
            "optimizer_map": {k: serialize(v) for k, v in self._optimizer_map.items()},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        default = deserialize(config["default_optimizer"], custom_objects=custom_objects)
        mapping = {
            k: deserialize(v, custom_objects=custom_objects)
            for k, v in (config.get("optimizer_map") or {}).items()
        }
        return cls(default, mapping)


class MultiOptimizer(Optimizer):
    """Different optimizers for different weights, as ``keras.optimizers.MultiOptimizer``:
    ``optimizer_map`` is an :class:`OptimizerMap` (paths or patterns to optimizers) or a
    callable ``variable -> optimizer`` (it sees ``path``, ``name`` and ``shape``). Each
    inner optimizer updates its own weights with its own state; ``optimizers`` lists
    them. Like Keras's, it has no ``learning_rate``: set it on the inner optimizers.

    In Keras's ``.keras`` files its state has Keras 3.15's layout: its own iteration
    and learning rate, then each inner optimizer's variables (SGD, Adam, AdamW, RMSprop
    and Adagrad are mapped), and each inner optimizer's again at
    ``optimizer/optimizers/<class>/vars``.
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        self._inner_optimizers = []
        for opt in getattr(optimizer_map, "values", lambda: ())():
            if opt not in self._inner_optimizers:
                opt.loss_scale_factor = loss_scale_factor
                self._inner_optimizers.append(opt)
        default = getattr(optimizer_map, "default_optimizer", None)
        if default is not None and default not in self._inner_optimizers:
            default.loss_scale_factor = loss_scale_factor
            self._inner_optimizers.append(default)
        self._groups = []

    @property
    def optimizers(self):
        return self._inner_optimizers

    @property
    def learning_rate(self):
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. "
            "Access the learning rate on the individual sub-optimizers instead."
        )

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError(
            "Learning rate cannot be set on a MultiOptimizer. "
            "Set the learning rate on the individual sub-optimizers instead."
        )

    def build(self, param_flat, segments=None, names=None):
        super().build(param_flat, segments, names)
        n = len(self._segments)
        shapes = getattr(self, "_var_shapes", None)
        paths = getattr(self, "_var_paths", None) or (
            [str(x) for x in names] if names is not None else None
        )
        shapes = shapes if shapes and len(shapes) == n else [(b - a,) for a, b in self._segments]
        paths = paths if paths and len(paths) == n else [f"variable_{i}" for i in range(n)]
        members = {}
        for seg, shape, path in zip(self._segments, shapes, paths):
            opt = self._optimizer_map(_VariableInfo(path, shape))
            if not isinstance(opt, Optimizer):
                raise ValueError(f"Optimizer for variable {path} is not an Optimizer instance.")
            if isinstance(opt, MultiOptimizer):
                raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
            if opt not in self._inner_optimizers:
                opt.loss_scale_factor = self.loss_scale_factor
                self._inner_optimizers.append(opt)
            members.setdefault(id(opt), (opt, []))[1].append((seg, shape, path))
        self._groups = []
        for opt in self._inner_optimizers:
            if id(opt) not in members:
                continue
            segs = members[id(opt)][1]
            index = np.concatenate([np.arange(a, b) for (a, b), _, _ in segs])
            sub = np.ascontiguousarray(self._param[index])
            bounds = np.cumsum([0] + [b - a for (a, b), _, _ in segs])
            opt._var_shapes = [s for _, s, _ in segs]
            opt._var_paths = [p for _, _, p in segs]
            opt.build(sub, [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])])
            self._groups.append((opt, index, sub))

    def rebuild(self, param_flat, segments, moved, names=None):
        self.build(param_flat, segments, names)

    def _apply(self, grad_flat):
        if not self.built:
            raise ValueError(
                "The optimizer is not built: call `optimizer.build(param_flat, segments)` "
                "before `apply(grad_flat)`."
            )
        g = np.asarray(grad_flat, dtype=self._param.dtype)
        if self.loss_scale_factor is not None:
            g = g / self._param.dtype.type(self.loss_scale_factor)
        for opt, index, sub in self._groups:
            sub[...] = self._param[index]  # the weights may have been set since
            opt._apply(np.ascontiguousarray(g[index]))
            self._param[index] = sub
        self._iterations += 1

    def finalize_variable_values(self):
        for opt, index, sub in self._groups:
            sub[...] = self._param[index]
            opt.finalize_variable_values()
            self._param[index] = sub

    def get_state(self):
        """The inner optimizers' slots merged by name into flat buffers over all the
        weights (each weight has one optimizer), so files lay them out per weight."""
        state = {"iteration": np.array(self._iterations, dtype=np.int64)}
        for opt, index, _ in self._groups:
            for key, buf in opt._slots.items():
                if key not in state:
                    state[key] = np.zeros_like(self._param)
                state[key][index] = buf
        return state

    def set_state(self, state):
        if not self.built:
            raise ValueError("Call `build(param_flat, segments)` before `set_state()`.")
        for k, v in state.items():
            if k == "iteration":
                self._iterations = int(np.asarray(v))
                for opt, _, _ in self._groups:
                    opt._iterations = self._iterations
            elif k == "learning_rate":
                continue
            else:
                v = np.asarray(v)
                if v.shape != self._param.shape:
                    raise ValueError(
                        f"Optimizer slot '{k}' has shape {self._param.shape}, got {v.shape}"
                    )
                known = False
                for opt, index, _ in self._groups:
                    if k in opt._slots:
                        opt._slots[k][...] = v[index]
                        known = True
                if not known:
                    raise ValueError(f"Unknown optimizer state entry '{k}'")

    def get_config(self):
        m = self._optimizer_map
        return {
            "optimizer_map": serialize_map(m),
            "loss_scale_factor": self.loss_scale_factor,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        m = config["optimizer_map"]
        if isinstance(m, dict) and m.get("class_name") == "OptimizerMap":
            config["optimizer_map"] = OptimizerMap.from_config(m["config"], custom_objects)
        elif isinstance(m, str) and custom_objects and m in custom_objects:
            config["optimizer_map"] = custom_objects[m]
        return cls(**config)


def serialize_map(m):
    if isinstance(m, OptimizerMap):
        return {
            "module": _MODULE,
            "class_name": "OptimizerMap",
            "config": m.get_config(),
            "registered_name": None,
        }
    return getattr(m, "__name__", repr(m))  # a selector function: by name


_NEW = (Adamax, Nadam, Adadelta, Ftrl, Lion, Lamb, Adafactor, ScheduleFreeAdamW, Muon)

_ALL = {
    cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adam, AdamW, Adagrad, *_NEW, MultiOptimizer)
}


def serialize(optimizer):
    """``{"module", "class_name", "config", "registered_name"}`` like Keras."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"Expected an Optimizer, got {optimizer!r}")
    return {
        "module": _MODULE,
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize` (class names are matched case-insensitively)."""
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret optimizer config: {config!r}")
    name = config["class_name"]
    cls = None
    if custom_objects:
        cls = custom_objects.get(name)
    if cls is None:
        cls = _ALL.get(str(name).lower())
    if cls is None:
        raise ValueError(
            f"Unknown optimizer: '{name}'. Known optimizers: "
            f"{', '.join(c.__name__ for c in _ALL.values())}."
        )
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects)


def get(identifier):
    """An optimizer from a name (``"adam"``, ``"RMSprop"``...), a config dict, a class
    or an instance (returned unchanged).

    Example::

        opt = graphc.optimizers.get("rmsprop")   # RMSprop(learning_rate=0.001)
    """
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
