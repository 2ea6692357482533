"""``Layer``, ``InputLayer`` and ``Input``.

A layer holds configuration and weights, nothing else: ``build(input_shape)`` creates the
weights, ``call(inputs)`` composes ops. Calling a layer on symbolic tensors records the
ops' nodes under the layer's scope; calling it on arrays runs them at once.

Masks (Keras 3): a symbolic tensor may carry a boolean ``(batch, time)`` mask, itself a
value of the graph (``get_keras_mask``). A layer whose ``call`` takes ``mask`` receives
its input's mask; a layer that ``supports_masking`` gives its outputs ``compute_mask``
(by default the input's mask); any other layer drops the mask with Keras's warning.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import warnings
from collections.abc import Mapping
from functools import partial
from types import MappingProxyType

import numpy as np

from graphc import constraints, initializers, recording, regularizers
from graphc.ir import Parameter, Value, format_shape
from graphc.ops.registry import apply, is_symbolic
from graphc.recording import (
    _UPDATES,
    eager,
    get_keras_mask,
    is_mask_value,
    scope,
    set_keras_mask,
)

__all__ = [
    "Layer",
    "InputLayer",
    "Input",
    "to_snake_case",
    "flatten_struct",
    "get_keras_mask",
    "set_keras_mask",
    "is_mask_value",
]

_CALL_TAKES_MASK: dict = {}
_CALL_PARAMETERS: dict = {}


def _call_parameters(cls) -> list:
    """The names of ``cls.call``'s parameters after ``self``."""
    try:
        return _CALL_PARAMETERS[cls]
    except KeyError:
        names = list(inspect.signature(cls.call).parameters)[1:]
        _CALL_PARAMETERS[cls] = names
        return names


def _other_tensor_arguments(layer, inputs, args, kwargs) -> dict:
    """The symbolic tensors passed to ``call`` besides the first argument, by parameter
    name in call order (Keras's ``CallSpec.tensor_arguments_dict`` without the first)."""
    names = _call_parameters(type(layer))
    out = {}
    for i, value in enumerate(args, start=1):
        out[names[i] if i < len(names) else f"arg_{i}"] = value
    out.update(kwargs)
    return {k: v for k, v in out.items() if any(is_symbolic(x) for x in flatten_struct(v))}


def _plain_call_options(kwargs, others) -> dict:
    """The keyword arguments of a symbolic call that a config can replay as they are:
    Python booleans, numbers and strings (`reverse=True`), not tensors, not `training`
    (the run's mode decides it), not a None left at its default."""
    return {
        k: v
        for k, v in kwargs.items()
        if k != "training" and k not in others and type(v) in (bool, int, float, str)
    }


_EAGER_DEPTH = 0  # how many eager layer calls are running (nested ones inside)


class KerasArray(np.ndarray):
    """An array a layer returned eagerly with a Keras mask attached (``._keras_mask``), as
    Keras's eager tensors carry theirs. Arithmetic on it gives plain arrays: the mask
    belongs to this output only."""

    _keras_mask = None

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        obj = np.asarray(obj)
        return obj[()] if return_scalar else obj


@contextlib.contextmanager
def _eager_mode(training: bool):
    """An eager call given ``training``: the ops it runs at once run in that mode (batch
    statistics and their moving-average update, as Keras's eager ``bn(x, training=True)``),
    with the random generator of the enclosing run."""
    outer = recording.current_eager_context()
    ctx = recording.ExecContext(training=training)
    if outer is not None:
        ctx.rng = outer.rng
    with recording.phase("training" if training else "inference"), recording.eager_context(ctx):
        yield


def _eager_mask(x):
    return getattr(x, "_keras_mask", None) if isinstance(x, np.ndarray) else None


def _attach_eager_masks(layer, inputs, outputs, previous_mask):
    """Keras's eager mask propagation: the outputs of a masking-aware layer called on
    arrays carry ``compute_mask``'s result, when there is one."""
    masks = layer.compute_mask(inputs, previous_mask)
    if masks is None or all(m is None for m in flatten_struct(masks)):
        return outputs
    flat_outputs, flat_masks = flatten_struct(outputs), flatten_struct(masks)
    if len(flat_outputs) != len(flat_masks):
        return outputs
    tagged = iter(
        _with_mask(y, m) if m is not None else y for y, m in zip(flat_outputs, flat_masks)
    )
    return map_struct(lambda _: next(tagged), outputs)


def _with_mask(y, mask):
    if not isinstance(y, np.ndarray) or isinstance(mask, Value):
        return y
    out = np.asarray(y).view(KerasArray)
    out._keras_mask = np.asarray(mask)
    return out


def _call_takes_mask(cls) -> bool:
    try:
        return _CALL_TAKES_MASK[cls]
    except KeyError:
        params = inspect.signature(cls.call).parameters
        _CALL_TAKES_MASK[cls] = out = "mask" in params
        return out


def to_snake_case(name: str) -> str:
    """Keras's rule: ``Dense -> dense``, ``LeakyReLU -> leaky_re_lu``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


unique_name = recording.unique_layer_name

_SNAKE_CASE: dict = {}


def _snake_case_of(cls) -> str:
    """``to_snake_case`` of a class's name, once per class (three regexes a layer add up
    over thousands of layers)."""
    try:
        return _SNAKE_CASE[cls]
    except KeyError:
        _SNAKE_CASE[cls] = out = to_snake_case(cls.__name__)
        return out


_DTYPE_STR: dict = {}

#: The ``__call__`` of graphc's initializers that return a new C-ordered array of the
#: dtype asked for (``np.zeros``, ``.astype(dtype)``, ``.copy()``), owned by nobody else:
#: ``add_weight`` keeps it as it is instead of copying it (a subclass overriding
#: ``__call__`` has a function of its own, and gets the copy).
_FRESH_INITS = frozenset(
    cls.__call__
    for cls in (
        initializers.Zeros,
        initializers.Ones,
        initializers.Constant,
        initializers.RandomUniform,
        initializers.RandomNormal,
        initializers.TruncatedNormal,
        initializers.VarianceScaling,
    )
)


def _dtype_str(dtype) -> str:
    """``str(np.dtype(dtype))``, cached (it is slow, and every layer and weight asks)."""
    try:
        return _DTYPE_STR[dtype]
    except (KeyError, TypeError):
        out = str(np.dtype(dtype))
        try:
            _DTYPE_STR[dtype] = out
        except TypeError:  # an unhashable spelling
            pass
        return out


def flatten_struct(x) -> list:
    """The tensors of a tensor, a list/tuple, or a dict (in key order), flattened."""
    out, stack = [], [x]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def map_struct(fn, x):
    if isinstance(x, dict):
        return {k: map_struct(fn, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(map_struct(fn, v) for v in x)
    return fn(x)


def set_weight_options(layer, **options) -> None:
    """Resolve a layer's ``*_regularizer`` / ``*_constraint`` arguments (names, configs,
    objects or functions) onto attributes of the same names, as Keras layers keep them."""
    for key, value in options.items():
        if value is None:  # the usual case: None stays None, and None is no layer
            _set_attribute(layer, key, None)  # not layer.__dict__: see Layer.__init__
            continue
        module = regularizers if key.endswith("_regularizer") else constraints
        setattr(layer, key, module.get(value))


def weight_options_config(layer, *keys) -> dict:
    """The config entries of ``set_weight_options``'s attributes, serialized as Keras."""
    return {
        key: (regularizers if key.endswith("_regularizer") else constraints).serialize(
            getattr(layer, key)
        )
        for key in keys
    }


_NO_ENTRIES: Mapping = MappingProxyType({})  # read-only: a write goes to _own_table's dict


def _own_table(layer, name: str) -> dict:
    """``layer``'s own dict ``name`` (``_call_extras``...), made at its first entry."""
    table = layer.__dict__.get(name)
    if table is None:
        table = layer.__dict__[name] = {}
    return table


_SYMBOLIC_KINDS = ("input", "intermediate")
_BUILDING = recording.building()  # stateless: one context for every build


def _own_output(layer, first_new: int, v):
    """A tensor ``layer``'s call returned, as the call's output: one it did not record
    (its input, a weight) gets an identity node, as a pass-through still gets a node."""
    if not isinstance(v, Value):
        raise TypeError(
            f"Layer {layer.name!r} returned {type(v).__name__} from "
            "call(); a layer must return symbolic tensors"
        )
    if v.producer is None or v.producer._id < first_new:
        return apply("identity", [v])
    return v


def _after_updates(outputs, n_updates: int):
    """The call's outputs, each passed through the ``assign`` nodes the call recorded
    (``Variable.assign`` in ``call``) and the outputs of inner layer calls that updated
    but that nothing reads (a sublayer called for its state only): every graph reading
    an output runs the updates. The outputs then stand for the call's updates in the
    enclosing call's list."""
    pending = recording.updates_since(n_updates)
    recording.drop_updates_since(n_updates)
    updates = [v for v in pending if v.producer.op == "assign" or not v.uses]
    if not updates:
        return outputs
    outputs = map_struct(lambda v: apply("after_updates", [v, *updates]), outputs)
    for v in flatten_struct(outputs):
        recording.record_update(v)
    return outputs


def _training_in(cls, args) -> bool:
    """Whether ``training`` is among the positional arguments ``args`` (after the inputs)
    of ``cls.call``."""
    if not args:
        return False
    params = _call_parameters(cls)
    return "training" in params and len(args) >= params.index("training")


def select_phase(name, inference, training):
    """``phase_select(inference, training)`` for each output of the two recordings of
    ``name``'s call (a layer's or a subclassed model's); the run's mode picks."""
    flat_train = flatten_struct(training)
    if len(flatten_struct(inference)) != len(flat_train):
        raise ValueError(
            f"Layer {name!r}: call() returned {len(flatten_struct(inference))} "
            f"tensor(s) with training=False and {len(flat_train)} with training=True; "
            "graphc records both branches of a call that branches on `training`, so "
            "they must return the same structure."
        )
    trained = iter(flat_train)
    return map_struct(lambda v: apply("phase_select", [v, next(trained)]), inference)


class TrainingProbe:
    """The ``training`` a user's layer gets when recorded with no mode given (Keras's
    ``training=None``): false, as None is, but it notes whether ``call`` asked."""

    __slots__ = ("asked",)

    def __init__(self):
        self.asked = False

    def __bool__(self):
        self.asked = True
        return False

    def __repr__(self):
        return "None"


def _shape_of(x):
    if isinstance(x, Value):
        return x.shape
    return tuple(np.shape(x))


class Layer:
    """Base class of all layers (Keras 3 semantics).

    >>> class Scale(Layer):
    ...     def build(self, input_shape):
    ...         self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones")
    ...     def call(self, x):
    ...         return graphc.ops.multiply(x, self.s)
    """

    #: Layers that pass masks on (Keras sets ``self.supports_masking = True``); a layer
    #: that overrides ``compute_mask`` supports masking too, as in Keras.
    _SUPPORTS_MASKING = False
    #: Keras's ``InputSpec`` checked at each call when a layer sets one (None: no check).
    #: A class default, so the check per call finds it without a failed attribute lookup.
    input_spec = None
    #: The activity penalties of the last call, as Keras's (a list of its own once a call
    #: has some).
    _activity_losses: tuple | list = ()

    #: Tables a layer has few entries in, if any: each layer gets a dict of its own at its
    #: first entry (``_own_table``), and reads this empty one until then (a model of
    #: thousands of layers would carry thousands of empty dicts for the garbage collector
    #: to walk). Keras keeps a weight's regularizer and constraint on the variable;
    #: graphc's Parameter has fixed slots, so the layer that made the weight keeps them.
    _weight_regularizers: Mapping = _NO_ENTRIES
    _weight_constraints: Mapping = _NO_ENTRIES
    #: call index -> the other tensor arguments of that call, by name (`encoder_outputs`)
    _call_extras: Mapping = _NO_ENTRIES
    #: call index -> the plain (non-tensor) keyword arguments of that call
    #: (`reverse=True`, `use_causal_mask=True`), which a saved config replays
    _call_options: Mapping = _NO_ENTRIES

    #: The sub-layers tracked so far, in tracking order (a list of the layer's own from
    #: the first one, ``_track_sublayer``; most layers have none).
    _sublayers: tuple | list = ()

    #: A user's layer whose ``call`` takes ``training``: recorded with no mode given, it
    #: gets a ``TrainingProbe``, and is recorded once per mode if it branches on it.
    _PROBES_TRAINING = False
    #: A class defining a data descriptor (a read-only ``dtype`` property, say) under a
    #: name ``Layer.__init__`` sets: that one writes its attributes into the instance's
    #: dict, past the descriptor, as it always has; other layers keep them inline.
    _INIT_IN_DICT = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._INIT_IN_DICT = any(
            hasattr(type(c.__dict__.get(k)), "__set__") for c in cls.__mro__ for k in _INIT_ATTRS
        )
        cls._PROBES_TRAINING = not cls.__module__.startswith("graphc.") and (
            "training" in _call_parameters(cls)
        )
        # Keras: a layer whose build() was called directly (`layer.build((None, 4))`)
        # is built; a first call then keeps the weights set since (set_weights).
        build = cls.__dict__.get("build")
        if build is None or getattr(build, "_sets_built", False):
            return
        if any(c.__module__.startswith("graphc.models") for c in cls.__mro__):
            return  # a model's build traces its call; it says itself when it is built

        @functools.wraps(build)
        def build_wrapper(self, *args, **kw):
            with _BUILDING:  # a variable assigned in build changes at once
                out = build(self, *args, **kw)
            self.built = True
            return out

        build_wrapper._sets_built = True
        cls.build = build_wrapper

    def __init__(self, trainable=True, name=None, dtype=None, activity_regularizer=None, **kwargs):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, received {type(name).__name__}")
        # None of these holds a layer: set directly, past the tracking ``__setattr__``, and
        # not through ``self.__dict__``, which would make the layer's dict a separate
        # object (CPython keeps an instance's attributes inline until its ``__dict__`` is
        # asked for): one object less per layer for the cyclic garbage collector to walk.
        # ``_sublayers`` is made by the first sub-layer (``_track_sublayer``); the
        # ``_added_losses`` (add_loss() values of the last eager call) and
        # ``_symbolic_losses`` (those recorded by symbolic calls) by the first add_loss(),
        # ``_activity_losses`` by the first call that has some: most layers never have
        # any, and a model of thousands of layers would carry thousands of empty lists
        # for the garbage collector to walk.
        setattr_ = _set_in_dict if self._INIT_IN_DICT else _set_attribute
        setattr_(self, "_params", [])
        setattr_(
            self,
            "activity_regularizer",
            None if activity_regularizer is None else regularizers.get(activity_regularizer),
        )
        setattr_(self, "_calls", [])  # (inputs, outputs) per symbolic call
        setattr_(self, "_trainable", bool(trainable))
        setattr_(self, "built", False)
        setattr_(
            self,
            "dtype",
            "float32"  # _dtype_str("float32"), the usual case
            if dtype is None
            else "string"
            if dtype == "string"
            else _dtype_str(dtype or "float32"),
        )
        setattr_(self, "name", name or unique_name(_snake_case_of(type(self))))
        if not kwargs:  # the usual case: none of the spellings below
            setattr_(self, "_batch_input_shape", None)
            return
        # Keras 2 spellings that tutorials use on the first layer of a Sequential model.
        batch_shape = kwargs.pop("batch_input_shape", None)
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None and batch_shape is None:
            batch_shape = (batch_size,) + tuple(input_shape)
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
        setattr_(self, "_batch_input_shape", batch_shape)
        kwargs.pop("autocast", None)
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected keyword "
                f"argument(s): {', '.join(sorted(kwargs))}"
            )

    # ---- attribute tracking: sub-layers assigned as attributes are tracked ----------
    def __setattr__(self, key, value):
        if isinstance(value, _TRACKED):  # a layer or a weight; most values are neither
            if isinstance(value, Layer):
                if key != "_sublayers":
                    _track_sublayer(self, value)
            elif value.layer is None:
                # A Variable made by hand (``self.w = graphc.Variable(...)``) becomes one
                # of this layer's weights, as Keras tracks variables assigned to attributes.
                params = self.__dict__.get("_params")
                if params is not None and not any(p is value for p in params):
                    value.layer = self
                    params.append(value)
        _set_attribute(self, key, value)

    # ---- weights ---------------------------------------------------------------------
    def add_weight(
        self,
        shape=None,
        initializer=None,
        dtype=None,
        trainable=True,
        regularizer=None,
        constraint=None,
        name=None,
    ):
        """A new weight. ``regularizer`` adds a penalty on it to the training loss;
        ``constraint`` projects it after every optimizer step (both as in Keras)."""
        if regularizer is not None:
            regularizer = regularizers.get(regularizer)
        if constraint is not None:
            constraint = constraints.get(constraint)
        shape = tuple(map(int, shape)) if shape else ()
        dtype = dtype or self.dtype
        dtype = (_DTYPE_STR.get(dtype) if dtype.__class__ is str else None) or _dtype_str(dtype)
        if initializer is None:
            initializer = "glorot_uniform" if dtype.startswith("float") else "zeros"
        init = (
            initializer
            if isinstance(initializer, initializers.Initializer)
            else initializers.get(initializer)
        )
        check = recording.weight_check.get()
        if check is not None:
            check(self, shape, dtype)
        data = init(shape, dtype=dtype)
        if data.__class__ is not np.ndarray or init.__class__.__call__ not in _FRESH_INITS:
            # np.array, not np.ascontiguousarray: that one turns a scalar weight into
            # shape (1,). graphc's own initializers return a new C-ordered array of the
            # dtype asked for, which needs no copy.
            data = np.array(data, dtype=dtype, order="C")
        if data.shape != shape:
            raise ValueError(
                f"{self.name}: initializer returned shape "
                f"{format_shape(data.shape)} for a weight of shape "
                f"{format_shape(shape)}"
            )
        param = Parameter(
            data, name or f"variable_{len(self._params)}", layer=self, trainable=trainable
        )
        self._params.append(param)
        if regularizer is not None:
            _own_table(self, "_weight_regularizers")[param] = regularizer
        if constraint is not None:
            _own_table(self, "_weight_constraints")[param] = constraint
        return param

    def _regularized_weights(self):
        """``(weight, regularizer)`` for the trainable weights that have one, in
        ``trainable_weights`` order (Keras penalises trainable weights only)."""
        out = []
        for p in self.trainable_weights:
            reg = p.layer._weight_regularizers.get(p) if p.layer is not None else None
            if reg is not None:
                out.append((p, reg))
        return out

    def _constrained_weights(self):
        """``(weight, constraint)`` for the trainable weights that have one."""
        out = []
        for p in self.trainable_weights:
            con = p.layer._weight_constraints.get(p) if p.layer is not None else None
            if con is not None:
                out.append((p, con))
        return out

    @property
    def losses(self) -> list:
        """The current penalties, as Keras's ``layer.losses``: the activity penalties of
        the last call (of this layer and its sub-layers), then one per regularized
        trainable weight, on its current value."""
        out = []
        for layer in self._all_layers():
            out.extend(layer.__dict__.get("_added_losses", ()))
            out.extend(layer._activity_losses)
        for p, reg in self._regularized_weights():
            out.append(regularizers.penalty_value(reg, p))
        return out

    def add_loss(self, loss):
        """Add a loss to minimise (Keras's ``Layer.add_loss``), from ``call``: on symbolic
        tensors it becomes part of the model's graph, and ``fit`` adds its sum to the
        training loss (a model compiled without a loss trains on these alone); called on
        arrays, ``layer.losses`` holds the values of the last call."""
        if any(is_symbolic(x) for x in flatten_struct(loss)):
            for x in flatten_struct(loss):
                self.__dict__.setdefault("_symbolic_losses", []).append(x)
        else:
            for x in flatten_struct(loss):
                self.__dict__.setdefault("_added_losses", []).append(np.asarray(x))

    def _all_layers(self):
        """This layer and its sub-layers, depth first, each once (iterative)."""
        seen, out, stack = set(), [], [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._tracked_layers()))
        return out

    def _tracked_layers(self):
        return self._sublayers

    @property
    def weights(self) -> list[Parameter]:
        """Own weights (trainable first, in creation order, then the others), then the
        sub-layers' in tracking order, as Keras 3."""
        if not self._sublayers and type(self)._tracked_layers is Layer._tracked_layers:
            # No sub-layers (most layers): the own weights alone, without the walk.
            params = self._params
            own = [p for p in params if p._trainable]
            if len(own) != len(params):
                own += [p for p in params if not p._trainable]
            if len(set(own)) == len(own):
                return own
        out, seen = [], set()
        for layer in self._all_layers():
            own = [p for p in layer._params if p._trainable] + [
                p for p in layer._params if not p._trainable
            ]
            for p in own:
                if p not in seen:
                    seen.add(p)
                    out.append(p)
        return out

    @property
    def trainable_weights(self):
        # ``[p for p in self.weights if p.trainable]`` in one pass (``fit`` reads it on
        # every call): only weights with ``_trainable`` set can be trainable, and they come
        # first in each layer's list, in creation order. Parameters compare by identity.
        out, seen = [], set()
        for layer in self._all_layers():
            for p in layer._params:
                if p._trainable and id(p) not in seen:
                    seen.add(id(p))
                    if p.trainable:
                        out.append(p)
        return out

    @property
    def non_trainable_weights(self):
        return [p for p in self.weights if not p.trainable]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        for layer in self._all_layers():
            layer._trainable = bool(value)

    def get_weights(self) -> list[np.ndarray]:
        return [p.numpy() for p in self.weights]

    def set_weights(self, weights) -> None:
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(
                f"You called set_weights(weights) on layer {self.name!r} with a weight list "
                f"of length {len(weights)}, but the layer was expecting {len(params)} "
                f"weights ({', '.join(p.path for p in params) or 'none'})."
            )
        for p, w in zip(params, weights):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(
                    f"Layer {self.name!r} weight shape {format_shape(p.shape)} is not "
                    f"compatible with provided weight shape {format_shape(w.shape)} "
                    f"(for {p.path})."
                )
        for p, w in zip(params, weights):  # validated first, so a bad list changes nothing
            p.assign(w)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer {self.name!r}, but "
                "the layer isn't built. Call it on an input first."
            )
        return int(sum(int(np.prod(p.shape)) for p in self.weights))

    # ---- masks -----------------------------------------------------------------------
    @property
    def supports_masking(self) -> bool:
        value = self.__dict__.get("_supports_masking")
        if value is None:
            value = (
                type(self)._SUPPORTS_MASKING or type(self).compute_mask is not Layer.compute_mask
            )
        return value

    @supports_masking.setter
    def supports_masking(self, value):
        self.__dict__["_supports_masking"] = bool(value)

    def compute_mask(self, inputs, previous_mask):
        """The outputs' mask(s); by default the input's."""
        return previous_mask

    def _set_mask_metadata(self, inputs, outputs, previous_mask):
        flat_outputs = flatten_struct(outputs)
        if all(get_keras_mask(x) is not None for x in flat_outputs):
            return  # the call set them (Masking)
        masks = self.compute_mask(inputs, previous_mask)
        if masks is None:
            return
        flat_masks = flatten_struct(masks)
        for tensor, mask in zip(flat_outputs, flat_masks):
            if get_keras_mask(tensor) is None and mask is not None:
                set_keras_mask(tensor, mask)

    def _drops_mask_silently(self) -> bool:
        return False

    # ---- building and calling --------------------------------------------------------
    def build(self, input_shape):
        """Create the weights; the default layer has none."""

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not implement call()")

    def _maybe_build(self, inputs):
        if not self.built:
            shapes = map_struct(_shape_of, inputs)
            self.build(shapes)
            self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if (
            type(inputs) is Value
            and not args
            and not kwargs
            and inputs.kind in _SYMBOLIC_KINDS
            and self.input_spec is None
            and get_keras_mask(inputs) is None
            and type(self).compute_mask is Layer.compute_mask
            and not self._PROBES_TRAINING
            and recording._PHASE[-1] is None
        ):
            # The common call (one symbolic tensor, no other argument, no mask, a layer
            # whose outputs get no mask of their own): the general path below without its
            # structure and mask helpers, which all find nothing to do here.
            if type(self)._maybe_build is not Layer._maybe_build:
                self._maybe_build(inputs)
            elif not self.built:
                self.build(inputs.shape)
                if not self.built:  # a build that does not say so (the wrapper does)
                    self.built = True
            call_index = len(self._calls)
            first_new = recording.next_id()
            n_updates = len(_UPDATES)  # recording.update_count()
            with scope(self, call_index):
                outputs = self.call(inputs)
                if type(outputs) is Value:
                    if outputs.producer is None or outputs.producer._id < first_new:
                        outputs = apply("identity", [outputs])
                else:
                    outputs = map_struct(partial(_own_output, self, first_new), outputs)
                if len(_UPDATES) != n_updates:
                    outputs = _after_updates(outputs, n_updates)
            self._calls.append((inputs, outputs))
            return outputs
        flat = flatten_struct(inputs)
        if getattr(self, "input_spec", None) is not None:
            from graphc.layers.wrappers import assert_input_compatibility

            assert_input_compatibility(self.input_spec, flat, self.name)
        symbolic = [x for x in flat if is_symbolic(x)]
        if not symbolic:
            self._maybe_build(inputs)
            if recording.is_recording():
                # Called on data inside an outer layer's symbolic call (a Transformer's
                # `self.position_embeddings(ops.arange(5))` when the length is known):
                # record the ops on the weights, else the weights would freeze into
                # constants that training never updates.
                return self.call(inputs, *args, **kwargs)
            input_masks = map_struct(_eager_mask, inputs)
            has_masks = any(m is not None for m in flatten_struct(input_masks))
            if has_masks and kwargs.get("mask") is None and _call_takes_mask(type(self)):
                kwargs["mask"] = input_masks
            global _EAGER_DEPTH
            if _EAGER_DEPTH == 0:  # Keras: each top-level call starts its losses afresh
                for layer in self._all_layers():
                    if layer.__dict__.get("_added_losses"):
                        layer.__dict__["_added_losses"] = []
            training = kwargs.get("training")
            if (
                training is None
                and recording.current_phase() is not None
                and not _training_in(type(self), args)
            ):
                if "training" in _call_parameters(type(self)):
                    # the mode of the enclosing call passes down (Keras's call context)
                    training = kwargs["training"] = recording.current_phase() == "training"
            mode = (
                _eager_mode(bool(training))
                if isinstance(training, (bool, np.bool_))
                else contextlib.nullcontext()
            )
            _EAGER_DEPTH += 1
            try:
                with eager(), mode:
                    outputs = self.call(inputs, *args, **kwargs)
            finally:
                _EAGER_DEPTH -= 1
            with eager():
                if self.supports_masking:
                    previous = kwargs["mask"] if kwargs.get("mask") is not None else input_masks
                    outputs = _attach_eager_masks(self, inputs, outputs, previous)
            self._activity_losses = (
                []
                if self.activity_regularizer is None
                else [
                    regularizers.activity_penalty_value(self.activity_regularizer, np.asarray(y))
                    for y in flatten_struct(outputs)
                ]
            )
            return outputs
        if len(symbolic) != len(flat):
            bad = next(x for x in flat if not is_symbolic(x))
            raise TypeError(
                f"Layer {self.name!r} was called on a mix of symbolic tensors and "
                f"{type(bad).__name__}; pass only tensors from Input() or layers."
            )
        self._maybe_build(inputs)
        # Keras's "populate mask argument(s)": with one tensor argument its mask goes to
        # a `mask` parameter; with several (`decoder(x, encoder_outputs)`), each one's
        # mask goes to a `<name>_mask` parameter where call() has one, and none to `mask`.
        input_masks = map_struct(get_keras_mask, inputs)
        others = _other_tensor_arguments(self, inputs, args, kwargs) if args or kwargs else {}
        options = _plain_call_options(kwargs, others) if kwargs else None
        if options:
            _own_table(self, "_call_options")[len(self._calls)] = options
        if others:
            _own_table(self, "_call_extras")[len(self._calls)] = others
            params = _call_parameters(type(self))
            for name, value in [("", inputs)] + list(others.items()):
                name = name or next(iter(params), "inputs")
                masks = map_struct(get_keras_mask, value)
                if (
                    f"{name}_mask" in params
                    and kwargs.get(f"{name}_mask") is None
                    and any(m is not None for m in flatten_struct(masks))
                ):
                    kwargs[f"{name}_mask"] = masks
        elif (
            kwargs.get("mask") is None
            and _call_takes_mask(type(self))
            and any(m is not None for m in flatten_struct(input_masks))
        ):
            kwargs["mask"] = input_masks
        previous_mask = kwargs["mask"] if kwargs.get("mask") is not None else input_masks
        call_index = len(self._calls)
        first_new = recording.next_id()  # every node recorded from here on belongs to this call
        n_updates = recording.update_count()
        probe = None
        unset = (
            kwargs.get("training") is None or isinstance(kwargs["training"], TrainingProbe)
        ) and not _training_in(type(self), args)
        if unset and "training" in kwargs and not self._PROBES_TRAINING:
            # a user's layer passing its probe on to graphc's: None, which they resolve
            # when the model runs
            kwargs = {**kwargs, "training": None}
        phase = recording.current_phase()
        if unset and phase is not None and "training" in _call_parameters(type(self)):
            # Inside one mode's branch of an outer call, the mode passes down (Keras's
            # call context).
            kwargs = {**kwargs, "training": phase == "training"}
        elif unset and self._PROBES_TRAINING:
            probe = TrainingProbe()
            kwargs = {**kwargs, "training": probe}
        with scope(self, call_index):
            outputs = self.call(inputs, *args, **kwargs)

            outputs = map_struct(partial(_own_output, self, first_new), outputs)
            if recording.update_count() != n_updates:
                outputs = _after_updates(outputs, n_updates)
            if probe is not None and probe.asked:
                # `call` branches on `training`: record each mode's branch, and let the
                # run's mode pick (the probe's own recording is left unread).
                outputs = self._record_both_modes(inputs, args, kwargs, n_updates)
            if self.supports_masking:
                self._set_mask_metadata(inputs, outputs, previous_mask)
            elif (
                any(m is not None for m in flatten_struct(previous_mask))
                and not self._drops_mask_silently()
            ):
                warnings.warn(
                    f"Layer '{self.name}' (of type {type(self).__name__}) was passed an "
                    "input with a mask attached to it. However, this layer does not support "
                    "masking and will therefore destroy the mask information. Downstream "
                    "layers will not see the mask.",
                    stacklevel=2,
                )
        self._calls.append((inputs, outputs))
        return outputs

    def _record_both_modes(self, inputs, args, kwargs, n_updates):
        """Record ``call`` with ``training=False`` and with ``training=True``; each output
        is ``phase_select(inference, training)``, which the run's mode resolves (the
        export keeps the inference branch). An assign recorded in a branch updates in
        that branch's mode only."""
        recording.drop_updates_since(n_updates)
        branches = []
        for training in (False, True):
            first = recording.next_id()
            n = recording.update_count()
            with recording.phase("training" if training else "inference"):
                out = self.call(inputs, *args, **{**kwargs, "training": training})
                out = map_struct(partial(_own_output, self, first), out)
                if recording.update_count() != n:
                    out = _after_updates(out, n)
            branches.append(out)
        outputs = select_phase(self.name, *branches)
        if recording.update_count() != n_updates:  # the outputs stand for the updates
            recording.drop_updates_since(n_updates)
            for v in flatten_struct(outputs):
                recording.record_update(v)
        return outputs

    # ---- what the first call saw -----------------------------------------------------
    def _first_call(self):
        if not self._calls:
            raise AttributeError(
                f"Layer {self.name!r} has never been called and thus has "
                "no defined input or output."
            )
        return self._calls[0]

    def _call_tensors(self, index) -> list:
        """Every tensor call ``index`` took, the first argument's first (Keras's node
        ``input_tensors``)."""
        return flatten_struct(self._calls[index][0]) + flatten_struct(
            list(self._call_extras.get(index, {}).values())
        )

    @property
    def input(self):
        return self._first_call()[0]

    @property
    def output(self):
        return self._first_call()[1]

    def compute_output_shape(self, input_shape):
        """Output shape(s) for an input shape, from the ops' shape rules (never written
        twice): the layer is traced on placeholder inputs."""

        def probe(shape):
            return Input(batch_shape=shape, name="shape_probe")

        if _is_shape(input_shape):
            placeholders = probe(input_shape)
        elif isinstance(input_shape, dict):
            placeholders = {k: probe(s) for k, s in input_shape.items()}
        else:
            placeholders = [probe(s) for s in input_shape]
        out = self(placeholders)
        self._calls.pop()
        _own_table(self, "_call_extras").pop(len(self._calls), None)
        _own_table(self, "_call_options").pop(len(self._calls), None)
        return map_struct(lambda v: v.shape, out)

    # ---- config ----------------------------------------------------------------------
    def config_class_name(self) -> str:
        """The class name a saved config gives this layer (models override it)."""
        return type(self).__name__

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _track_sublayer(layer, sub) -> None:
    """Add ``sub`` to ``layer``'s sub-layers (once; not the layer itself, nor before
    ``Layer.__init__`` ran, which a subclass may call after setting attributes)."""
    d = layer.__dict__
    if sub is layer or "_params" not in d:
        return
    subs = d.get("_sublayers")
    if subs is None:
        subs = d["_sublayers"] = []
    if sub not in subs:
        subs.append(sub)


#: What ``Layer.__setattr__`` tracks: sub-layers and weights made by hand.
_TRACKED = (Layer, Parameter)
_set_attribute = object.__setattr__

#: The attributes ``Layer.__init__`` sets.
_INIT_ATTRS = (
    "_params",
    "activity_regularizer",
    "_calls",
    "_trainable",
    "built",
    "dtype",
    "name",
    "_batch_input_shape",
)


def _set_in_dict(obj, key, value) -> None:
    obj.__dict__[key] = value


def _is_shape(x) -> bool:
    return isinstance(x, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in x
    )


class InputLayer(Layer):
    """The layer behind ``Input``: it owns the graph-input Value."""

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        batch_shape=None,
        name=None,
        sparse=None,
        **kwargs,
    ):
        shape = kwargs.pop("input_shape", shape)
        batch_shape = kwargs.pop("batch_input_shape", batch_shape)
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse:
            raise NotImplementedError("sparse inputs are not supported")
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input needs a shape, e.g. Input(shape=(64,))")
            if isinstance(shape, (int, np.integer)):
                shape = (shape,)
            if not isinstance(shape, (tuple, list)):
                raise TypeError(
                    f"Input shape must be a tuple, received {type(shape).__name__}: {shape!r}"
                )
            batch_shape = (batch_size,) + tuple(shape)
        batch_shape = tuple(batch_shape)
        for d in batch_shape:
            if d is not None and not (isinstance(d, (int, np.integer)) and d > 0):
                raise ValueError(
                    f"Input shape dimensions must be positive integers or None, "
                    f"received {batch_shape[1:]} (batch size {batch_shape[0]})"
                )
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.built = True
        value = Value(self.batch_shape, self.dtype, kind="input", layer=self)
        value.name = self.name
        self._output = value
        self._calls.append(((), value))

    def call(self, inputs):
        raise TypeError("An InputLayer is not called on tensors; use its output")

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(
    shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None
):
    """A symbolic graph input: ``Input(shape=(64,))`` has shape ``(None, 64)``."""
    if tensor is not None:
        raise NotImplementedError("Input(tensor=...) is not supported")
    return InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        name=name,
    ).output
