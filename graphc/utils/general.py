"""Small ``keras.utils`` names: ``clear_session``, ``is_keras_tensor``,
``standardize_dtype`` and the serialization helpers Keras also exports here."""

from __future__ import annotations

import gc

from graphc import recording
from graphc.ir import Value, dtype_name
from graphc.saving import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)

__all__ = [
    "clear_session",
    "is_keras_tensor",
    "standardize_dtype",
    "CustomObjectScope",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_keras_serializable",
    "serialize_keras_object",
]


def clear_session(free_memory=True):
    """Layer names start afresh (the next ``Dense`` is ``dense`` again), as Keras's."""
    recording.reset_layer_names()
    if free_memory:
        gc.collect()


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic tensor (a graph input or a layer's output)."""
    return isinstance(x, Value) and x.kind in ("input", "intermediate")


def standardize_dtype(dtype) -> str:
    """A dtype's canonical name (``"float32"``, ``"int64"``, ...); None is float32."""
    if dtype is None:
        return "float32"
    if dtype in ("string", str):
        return "string"
    return dtype_name(dtype)


def get_source_inputs(tensor):
    """``keras.utils.get_source_inputs``: the graph inputs (``Input`` tensors) that
    ``tensor`` is computed from, in the order they are first reached (an input itself
    gives ``[tensor]``)."""
    from graphc.ir import Value

    if not isinstance(tensor, Value):
        raise TypeError(
            f"get_source_inputs takes a symbolic tensor; received {type(tensor).__name__}"
        )
    found, seen, stack = [], set(), [tensor]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v.kind == "input":
            found.append(v)
        elif v.producer is not None:
            stack.extend(reversed(v.producer.inputs))
    return found
