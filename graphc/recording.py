"""The recording state: every piece of process-wide state that decides what an op call
does, and the counters that name what it creates. Nothing else in graphc keeps such state.

When ``graphc.ops.registry.apply`` (behind every ``graphc.ops`` function, ``x + y`` on
symbolic tensors and every layer) is called, the state here decides:

=============================================  ==================  ====================
inputs                                         innermost call      the op ...
=============================================  ==================  ====================
any symbolic tensor (graph input or output)    inside a layer      records a node in
                                               call (``scope``)    that layer's scope
any symbolic tensor                            outside any layer   gets a layer of its
                                                                   own (an ``OpLayer``,
                                                                   as Keras records ops
                                                                   on KerasTensors)
arrays and weights only                        recording layer     records a node: run
                                               call                now, a weight would
                                                                   freeze into a constant
arrays and weights only                        ``eager()``, or no  runs its kernel at
                                               layer call          once, with the
                                                                   ``eager_context``
                                                                   (``training=True``
                                                                   under ``model(x,
                                                                   training=True)``)
arrays only (no weight)                        any                 runs at once
=============================================  ==================  ====================

Also here: the Keras mask of each symbolic tensor (``tensor._keras_mask`` in Keras),
the counters behind node ids, value names and layer names (``dense``, ``dense_1``), and
the weight-size check a model file's loader sets while it rebuilds the layers.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from graphc import rng

__all__ = [
    "ExecContext",
    "scope",
    "scopes",
    "eager",
    "eager_context",
    "current_scope",
    "is_recording",
    "current_eager_context",
    "set_outside_layer_handler",
    "outside_layer_handler",
    "get_keras_mask",
    "set_keras_mask",
    "is_mask_value",
    "any_mask_values",
    "next_id",
    "unique_value_name",
    "unique_layer_name",
]


@dataclass
class ExecContext:
    """What a kernel may need beyond its inputs: the mode and the random generator."""

    training: bool = False
    rng: np.random.Generator = field(default_factory=rng.generator)


# ---- which layer call is recording -----------------------------------------------------
# ``(layer, call_index)`` entries, outermost first: the scope of every recorded node.
_SCOPE: list[tuple] = []
# ``tuple(_SCOPE)``, made once per change of the scope: the nodes of one layer call share
# it (None: to be made again).
_SCOPE_TUPLE: list = [()]
# Whether ops are being recorded into a graph (a layer called on symbolic tensors) or run
# at once (a layer or model called on arrays); the innermost call decides.
_RECORDING: list[bool] = [False]
# The context of ops run at once (a model called on arrays).
_EAGER_CONTEXT: list[ExecContext] = []


class scope:
    """Record the ops applied inside ``layer``'s call number ``call_index``
    (``with scope(layer, i): ...``; a class, not a generator: entered once per layer call)."""

    __slots__ = ("entry",)

    def __init__(self, layer: Any, call_index: int) -> None:
        self.entry = (layer, call_index)

    def __enter__(self) -> None:
        _SCOPE.append(self.entry)
        _SCOPE_TUPLE[0] = None
        _RECORDING.append(True)

    def __exit__(self, *exc: object) -> None:
        _SCOPE.pop()
        _SCOPE_TUPLE[0] = None
        _RECORDING.pop()
        if not _SCOPE and _UPDATES and not _TRACING[0]:
            # each layer call attached its updates to its outputs (a subclassed model's
            # trace checks that the outputs standing for them reach its graph)
            _UPDATES.clear()


@contextlib.contextmanager
def scopes(entries: Iterable[tuple]) -> Iterator[None]:
    """Re-enter recorded scopes under the current one (a model replaying its graph keeps
    its inner layers' scopes under the call that replays it)."""
    depth = len(_SCOPE)
    _SCOPE.extend(entries)
    _SCOPE_TUPLE[0] = None
    try:
        yield
    finally:
        del _SCOPE[depth:]
        _SCOPE_TUPLE[0] = None


@contextlib.contextmanager
def eager() -> Iterator[None]:
    """Run ops at once, even inside a recording layer call."""
    _RECORDING.append(False)
    try:
        yield
    finally:
        _RECORDING.pop()


@contextlib.contextmanager
def eager_context(ctx: ExecContext) -> Iterator[None]:
    """Run the ops applied at once inside with ``ctx`` (training mode, random generator)."""
    _EAGER_CONTEXT.append(ctx)
    try:
        yield
    finally:
        _EAGER_CONTEXT.pop()


def current_scope() -> tuple:
    t = _SCOPE_TUPLE[0]
    if t is None:
        t = _SCOPE_TUPLE[0] = tuple(_SCOPE)
    return t


def is_recording() -> bool:
    """Whether the innermost call records ops on weights (see the table above)."""
    return _RECORDING[-1]


def current_eager_context() -> ExecContext | None:
    return _EAGER_CONTEXT[-1] if _EAGER_CONTEXT else None


# ---- variable updates (``Variable.assign`` in a recording call; graphc/ops/state.py) ----
# The outputs of the ``assign`` nodes recorded under the outermost layer call now: each
# layer call passes its outputs through the ones recorded during it (``after_updates``).
_UPDATES: list = []
# ``len(_SCOPE)`` at each ``build`` running now: an assign in a build runs at once.
_BUILDING: list[int] = []
# How many subclassed models' ``call``s are being traced into their graphs.
_TRACING: list[int] = [0]


def record_update(value: Any) -> None:
    """Note the output of an ``assign`` node recorded in the current layer call."""
    _UPDATES.append(value)


def update_count() -> int:
    return len(_UPDATES)


def updates_since(n: int) -> list:
    return _UPDATES[n:]


def drop_updates_since(n: int) -> None:
    del _UPDATES[n:]


# The mode of the branch of a layer's call being recorded (a call that branches on
# `training` is recorded once per mode): an assign recorded there updates in it only.
_PHASE: list[str | None] = [None]


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Record the ``"training"`` or ``"inference"`` branch of a layer's call."""
    _PHASE.append(name)
    try:
        yield
    finally:
        _PHASE.pop()


def current_phase() -> str | None:
    return _PHASE[-1]


class building:
    """A layer's ``build`` runs inside: variables it assigns change at once (``with
    building(): ...``; a class, not a generator: entered once per layer built)."""

    __slots__ = ()

    def __enter__(self) -> None:
        _BUILDING.append(len(_SCOPE))

    def __exit__(self, *exc: object) -> None:
        _BUILDING.pop()


@contextlib.contextmanager
def tracing() -> Iterator[None]:
    """A subclassed model's ``call`` is traced inside (``Model._trace``)."""
    _TRACING[0] += 1
    try:
        yield
    finally:
        _TRACING[0] -= 1


def assign_mode() -> str:
    """What ``Variable.assign`` does now: ``"record"`` a node (a recording layer call),
    ``"eager"`` (change the array now: data calls, ``build``, no call at all) or
    ``"refuse"`` (a model's ``call`` being traced, outside any layer: applied once now,
    the update would silently not apply when the model runs)."""
    if _BUILDING and _BUILDING[-1] == len(_SCOPE):
        return "eager"
    if _RECORDING[-1]:
        return "record"
    if _TRACING[0] and not _SCOPE:
        return "refuse"
    return "eager"


# What ``apply`` does with an op on symbolic tensors outside any layer call. The layers
# package installs its ``OpLayer`` here (ops sit below layers and may not import them).
_OUTSIDE_LAYER: list[Callable[..., Any]] = []


def set_outside_layer_handler(handler: Callable[..., Any]) -> None:
    _OUTSIDE_LAYER[:] = [handler]


def outside_layer_handler() -> Callable[..., Any]:
    if not _OUTSIDE_LAYER:
        raise RuntimeError(
            "An op was applied to symbolic tensors outside any layer before "
            "graphc.layers was imported; import graphc.layers (or use any name of the "
            "API, e.g. graphc.Input) first."
        )
    return _OUTSIDE_LAYER[0]


# ---- masks -------------------------------------------------------------------------------
# The mask of each symbolic tensor (Keras keeps it in ``tensor._keras_mask``), and every
# value used as a mask: the layer topology leaves those out, as Keras's graph does.
_MASKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MASK_VALUES: weakref.WeakSet = weakref.WeakSet()


def get_keras_mask(x: object) -> Any:
    """The mask attached to symbolic tensor ``x``, or None."""
    if not _MASKS:  # no mask at all, the common case (a lookup makes a weakref)
        return None
    try:
        return _MASKS.get(x)
    except TypeError:  # not weak-referenceable: an array or a number has no mask
        return None


def set_keras_mask(x: object, mask: Any) -> None:
    """Attach ``mask`` (a boolean symbolic tensor, or None to remove it) to ``x``."""
    if mask is None:
        _MASKS.pop(x, None)
        return
    _MASKS[x] = mask
    _MASK_VALUES.add(mask)


def any_mask_values() -> bool:
    """Whether any value is attached as a mask now (else ``is_mask_value`` is False)."""
    return bool(_MASK_VALUES)


def is_mask_value(v: object) -> bool:
    """Whether ``v`` was attached to a tensor as its mask."""
    if not _MASK_VALUES:  # no mask at all, the common case (a lookup makes a weakref)
        return False
    try:
        return v in _MASK_VALUES
    except TypeError:
        return False


# ---- ids and names -------------------------------------------------------------------------
_ids = itertools.count()
_value_names: dict[str, int] = {}
_layer_names: dict[str, int] = {}


#: ``next_id()``: increasing ids of values and nodes, in recording order (toposort ties
#: keep it). The counter's own ``__next__``: a C call, made several times per layer call.
next_id: Callable[[], int] = _ids.__next__


def unique_value_name(base: str) -> str:
    n = _value_names.get(base, 0)
    _value_names[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def unique_layer_name(base: str) -> str:
    """``dense``, ``dense_1``, ``dense_2`` ... per process, as Keras."""
    if base in _layer_names:
        _layer_names[base] += 1
        return f"{base}_{_layer_names[base]}"
    _layer_names[base] = 0
    return base


def reset_layer_names() -> None:
    """Start layer names afresh (``dense`` again), as ``keras.utils.clear_session``."""
    _layer_names.clear()


# ---- loading -------------------------------------------------------------------------------
#: Set by the model loader while it rebuilds layers from a file's config: called with
#: ``(layer, shape, dtype)`` before a weight is allocated, so that a config asking for
#: more than the file's weights hold fails before allocating (graphc.models.saving).
weight_check: contextvars.ContextVar[Callable[..., None] | None] = contextvars.ContextVar(
    "graphc_weight_check", default=None
)
