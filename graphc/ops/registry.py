"""The op registry and the one entry point that applies an op.

An op is defined once, as a subclass of ``Op`` with four rules, each with one signature:

- ``infer(attrs, *types) -> TensorType | tuple``: the shape/dtype rule on ``TensorType``s
  (never runs data, so ``None`` and symbolic dimensions survive); raises ``ShapeError``
  with a plain reason.
- ``kernel(attrs, *arrays, ctx) -> array | tuple``: the NumPy implementation. ``ctx`` (an
  ``ExecContext``: training mode, random generator) is always passed; most kernels
  ignore it.
- ``vjp(attrs, xs, ys, gys, needs, out) -> tuple``: one gradient per input (``None`` where
  there is none), given the forward inputs ``xs``, outputs ``ys`` and the gradients of the
  outputs ``gys``. ``needs[k]`` says whether input ``k`` wants a gradient (skip the work
  when not); ``out[k]`` is a buffer the gradient may be written into and returned (or
  ``None``): the executor's gradient buffer of a weight.
- ``lower(attrs, b, *names) -> name | tuple``: the ONNX lowering; ``b`` is a
  ``graphc.ops.lowering.LoweringContext`` for this node.

and declared facts the executor and the passes read instead of op names:
``n_outputs``; ``vjp_reads_inputs``/``vjp_reads_outputs`` (what the backward pass keeps);
``update_state`` (stateful ops); ``frozen_means_inference`` (a frozen layer runs the op in
inference mode); ``training_only`` and ``training_attrs`` (what inference drops).

Defining the subclass registers it; a test fails any op that leaves a rule out.
ARCHITECTURE.md ("Adding an op") walks through a complete one.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from graphc import recording
from graphc.errors import ShapeError
from graphc.ir import Node, TensorType, Value, dtype_name, format_shape
from graphc.ops.lowering import LoweringContext
from graphc.recording import ExecContext

#: An op's attributes: plain data (numbers, strings, tuples), JSON-describable.
Attrs = dict[str, Any]
Array = np.ndarray

__all__ = [
    "Op",
    "ExecContext",
    "REGISTRY",
    "get_op",
    "apply",
    "RULES",
    "is_symbolic",
    "infer_types",
]

REGISTRY: dict[str, "Op"] = {}
RULES = ("infer", "kernel", "vjp", "lower")


class Op:
    """Base class of every op. Subclasses set ``name`` and implement the four rules."""

    name: str = ""
    n_outputs: int = 1
    #: what ``vjp`` reads, so the executor can free the rest after the forward pass.
    vjp_reads_inputs: bool = True
    vjp_reads_outputs: bool = False
    #: a layer frozen with ``trainable = False`` runs this op in inference mode (Keras 3's
    #: BatchNormalization rule); other context-using ops (dropout) ignore freezing.
    frozen_means_inference: bool = False
    #: the kernel returns a new array that nothing else holds (not a view of an input):
    #: the compiled plan may then run the next step (a relu) in place over it when that
    #: step is its last reader.
    kernel_returns_fresh: bool = False
    #: likewise for the input gradients the VJP returns (other than those written into
    #: an ``out`` buffer): the compiled backward may overwrite them.
    vjp_returns_fresh: bool = False
    #: in inference this op is the identity on its first input; its other outputs record
    #: what training drew (a dropout mask, augmentation transforms). Export removes it.
    training_only: bool = False
    #: attributes that act only in training (recurrent dropout); in inference the op runs
    #: without them, and the outputs past ``n_outputs`` they add (the masks) go away.
    training_attrs: tuple[str, ...] = ()
    #: ``update_state`` runs in inference too (``assign``: Keras applies a variable's
    #: assign whenever ``call`` runs); a node's ``attrs["phase"]`` (``"training"`` or
    #: ``"inference"``) limits it to that mode.
    update_in_inference: bool = False

    def updates_in(self, attrs: Attrs, training: bool) -> bool:
        """Whether a node of this stateful op updates its state in this mode."""
        phase = attrs.get("phase")
        if training:
            return phase != "inference"
        return self.update_in_inference and phase != "training"

    def update_state(self, attrs: Attrs, xs: Sequence[Array], ys: Sequence[Array]) -> None:
        """Ops with state (batch norm's moving statistics) update their state inputs in
        place here; the executor calls it after the kernel, in training mode only (and
        in inference too for an op declaring ``update_in_inference``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            if cls.name in REGISTRY:
                raise ValueError(f"An op named {cls.name!r} is already registered.")
            REGISTRY[cls.name] = cls()

    def infer(self, attrs: Attrs, *types: TensorType) -> TensorType | tuple[TensorType, ...]:
        raise NotImplementedError(f"op {self.name} has no shape rule")

    def kernel(self, attrs: Attrs, *xs: Array, ctx: ExecContext) -> Any:
        raise NotImplementedError(f"op {self.name} has no NumPy kernel")

    def vjp(
        self,
        attrs: Attrs,
        xs: Sequence[Array | None],
        ys: Sequence[Array | None],
        gys: Sequence[Array | None],
        needs: Sequence[bool],
        out: Sequence[Array | None],
    ) -> tuple[Array | None, ...]:
        raise NotImplementedError(f"op {self.name} has no VJP")

    def lower(self, attrs: Attrs, b: LoweringContext, *names: str) -> Any:
        raise NotImplementedError(f"op {self.name} has no ONNX lowering")

    def run(self, attrs: Attrs, xs: Sequence[Array], ctx: ExecContext | None = None) -> Any:
        """Call the kernel on arrays ``xs`` (inference mode unless ``ctx`` says)."""
        return self.kernel(attrs, *xs, ctx=ctx or ExecContext())

    def gradients(
        self,
        attrs: Attrs,
        xs: Sequence[Array | None],
        ys: Sequence[Array | None],
        gys: Sequence[Array | None],
    ) -> tuple[Array | None, ...]:
        """The VJP for every input, with no buffers: how tests and tools call it."""
        n = len(xs)
        return self.vjp(attrs, xs, ys, gys, needs=(True,) * n, out=(None,) * n)

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


def get_op(name: str) -> Op:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"Unknown op {name!r}; registered ops: {', '.join(sorted(REGISTRY))}"
        ) from None


# ---- applying an op --------------------------------------------------------------------
def is_symbolic(x: object) -> bool:
    """A symbolic tensor (graph input or node output), as opposed to data or a weight."""
    return isinstance(x, Value) and x.kind in ("input", "intermediate")


def _as_value(x: Any, like_dtype: str) -> Value:
    """Wrap data as a constant; Python numbers and float arrays take the tensors' dtype."""
    if isinstance(x, Value):
        return x
    arr = _as_array(x, like_dtype)
    if arr.dtype.kind == "f" and np.dtype(like_dtype).kind == "f":
        arr = arr.astype(like_dtype)
    return Value(arr.shape, arr.dtype, kind="const", name="const", data=arr)


def _as_array(x: Any, like_dtype: str) -> Array:
    if isinstance(x, Value):
        return x.data
    if isinstance(x, (int, float, bool)):
        if isinstance(x, float) and np.dtype(like_dtype).kind != "f":
            return np.asarray(x, dtype="float32")  # int tensor and a float: float, as Keras
        return np.asarray(x, dtype=like_dtype)
    return np.asarray(x)


def _float_dtype(inputs: Sequence[Any]) -> str:
    """The dtype Python numbers take: the first float tensor's, else the first integer
    tensor's (``length - 1`` on a size stays an integer, as in Keras), else float32."""
    first_int = first_uint = None
    for x in inputs:
        if isinstance(x, (int, float, bool)):
            continue
        dt = x.dtype if isinstance(x, Value) else getattr(x, "dtype", None)
        if dt is None:
            continue
        name = dtype_name(dt)  # cached: str(np.dtype(...)) is slow at a node a call
        kind = _dtype_kind(name)
        if kind == "f":
            return name
        if kind == "i" and first_int is None:
            first_int = name
        elif kind == "u" and first_uint is None:
            first_uint = name
    return first_int or first_uint or "float32"


_KINDS: dict[str, str] = {"string": "S"}


def _dtype_kind(name: str) -> str:
    try:
        return _KINDS[name]
    except KeyError:
        _KINDS[name] = kind = np.dtype(name).kind
        return kind


#: Shape rules' results by (op, attributes, input types): a model repeats a few layer
#: shapes many times, and the rule runs once at recording and again in every shape pass.
#: Only graphc's own ops (pure functions of attributes and types) and only plain keys
#: (exact types of dims and attribute values, so ``1`` and ``1.0`` stay apart).
_INFERRED: dict = {}
_INFERRED_MAX = 4096
_PURE_RULES: dict = {}
_PLAIN = (int, str, float, bool, type(None))
_DIM_TYPES = frozenset((int, str, type(None)))


def _plain_key(x: Any) -> Any:
    """``x`` with the type of every scalar in it, or None when it holds anything else."""
    t = type(x)
    if t in _PLAIN:
        return (t, x)
    if t is tuple:
        out = []
        for item in x:
            k = _plain_key(item)
            if k is None:
                return None
            out.append(k)
        return tuple(out)
    return None


#: Shapes whose dims were found plain (ints, Nones, names), by id; each is kept alive here,
#: so an id found here is that very tuple. Shapes are shared objects (a rule's memoised
#: result, a weight's interned shape), so most are checked once, not at every key.
_PLAIN_SHAPES: dict[int, tuple] = {}


def _infer_key(op: Op, attrs: Attrs, types: Sequence[tuple]) -> Any:
    pure = _PURE_RULES.get(op.__class__)
    if pure is None:
        cls = op.__class__
        pure = _PURE_RULES[cls] = cls.__module__.startswith("graphc.ops.")
    if not pure:
        return None
    if attrs:
        akey = []
        for name in attrs:
            k = _plain_key(attrs[name])
            if k is None:
                return None
            akey.append((name, k))
        attrs_key: tuple = tuple(akey)
    else:
        attrs_key = ()
    for t in types:
        # A type keys itself when its dims are exactly ints, Nones and symbol names
        # (no two of those are equal) and its dtype a name: the common case, made fast.
        # ``apply`` passes plain ``(shape, dtype)`` pairs, equal to their TensorTypes.
        if t.__class__ is not TensorType and t.__class__ is not tuple:
            return None
        shape, dtype = t
        if dtype.__class__ is not str:
            return None
        if _PLAIN_SHAPES.get(id(shape)) is not shape:
            for d in shape:
                if type(d) not in _DIM_TYPES:
                    return None
            if shape.__class__ is tuple and len(_PLAIN_SHAPES) < _INFERRED_MAX:
                _PLAIN_SHAPES[id(shape)] = shape
    return (op.name, attrs_key, *types)


_new_type = tuple.__new__
_NO_KEY: Any = object()


def infer_types(
    op: Op,
    attrs: Attrs,
    types: Sequence[TensorType],
    where: str | Callable[[], str],
    key: Any = _NO_KEY,
) -> tuple[TensorType, ...]:
    """Run a shape rule; a ``ShapeError`` comes back naming the layer, the op and the
    received shapes: ``dense_2 (matmul): inner dimensions differ, got ...``. ``where``
    may be a function giving that name, called only to report an error. ``key``: what
    ``_infer_key(op, attrs, types)`` gave, when the caller has it."""
    if key is _NO_KEY:
        key = _infer_key(op, attrs, types)
    if key is not None:
        done = _INFERRED.get(key)
        if done is not None:
            return done
    try:
        out = op.infer(attrs, *types)
    except ShapeError as e:
        shapes = [format_shape(t.shape) for t in types]
        said = str(e)
        suffix = (
            ""
            if all(s in said for s in shapes)
            else f" (received input shapes {', '.join(shapes)})"
        )
        named = where() if callable(where) else where
        raise ShapeError(f"{named}: {said}{suffix}") from None
    result = (out,) if isinstance(out, TensorType) else tuple(out)
    if key is not None and len(_INFERRED) < _INFERRED_MAX:
        if all(
            type(t) is TensorType and type(t[1]) is str and all(type(d) in _DIM_TYPES for d in t[0])
            for t in result
        ):
            _INFERRED[key] = result
    return result


_SYMBOLIC_KINDS = ("input", "intermediate")


def _run_updating(op: Op, attrs: Attrs, xs: list) -> Any:
    """Run a stateful op at once and apply its update, as the executor would."""
    ctx = recording.current_eager_context() or ExecContext()
    out = op.run(attrs, xs, ctx)
    if op.updates_in(attrs, bool(ctx.training)):
        op.update_state(attrs, xs, out if op.n_outputs > 1 else (out,))
    return out


def apply(name: str, inputs: Sequence[Any], **attrs: Any) -> Any:
    """Apply op ``name``: record a node when any input is symbolic, else run the kernel.

    Returns one output (or a tuple for multi-output ops) of the same kind as the inputs:
    Values when recording, arrays when eager.
    """
    op = REGISTRY.get(name) or get_op(name)
    # When an op records and when it runs: the table in graphc/recording.py.
    symbolic = weights = False
    all_values = True
    for x in inputs:
        if isinstance(x, Value):
            if x.kind in _SYMBOLIC_KINDS:
                symbolic = True
            else:
                weights = weights or x.kind == "param"
        else:
            all_values = False
    # The dtype Python numbers and arrays take: needed only when some input is not a Value.
    dtype = "float32" if all_values else _float_dtype(inputs)
    if not symbolic and not (weights and recording.is_recording()):
        # Data only: run now. An op on weights inside a recording call (a custom layer's
        # ``ops.exp(self.log_scale)``) is recorded instead: run now, it would freeze the
        # weight's current value into a constant that training never updates.
        if type(op).update_state is not Op.update_state:  # stateful: update it now
            return _run_updating(op, attrs, [_as_array(x, dtype) for x in inputs])
        return op.run(
            attrs, [_as_array(x, dtype) for x in inputs], recording.current_eager_context()
        )
    where_scope = recording.current_scope()
    if not where_scope:
        # An op on symbolic tensors outside any layer gets a layer of its own, as in Keras.
        constants = {
            i: np.asarray(x, dtype=dtype) if isinstance(x, (int, float, bool)) else x
            for i, x in enumerate(inputs)
            if not is_symbolic(x)
        }
        return recording.outside_layer_handler()(
            name, attrs, constants, [x for x in inputs if is_symbolic(x)]
        )
    values = inputs if all_values else [_as_value(x, dtype) for x in inputs]
    # The memo's key from plain ``(shape, dtype)`` pairs, which equal (and hash as) the
    # values' TensorTypes: those are made only when the rule runs.
    pairs = []
    for v in values:
        pairs.append((v.shape, v.dtype))
    key = _infer_key(op, attrs, pairs)
    out_types = _INFERRED.get(key) if key is not None else None
    if out_types is None:
        out_types = infer_types(
            op,
            attrs,
            [_new_type(TensorType, p) for p in pairs],
            lambda: f"{where_scope[-1][0].name} ({name})",
            key,
        )
    node = Node(name, values, out_types, attrs, where_scope)
    return node.outputs[0] if op.n_outputs == 1 else tuple(node.outputs)
