"""Keras's config format for losses and metrics: ``{"module", "class_name", "config",
"registered_name"}`` for objects, ``class_name="function"`` for plain functions."""

from __future__ import annotations


def serialize_object(obj, base: type, module: str, kind: str):
    """A name stays a name; an instance of ``base`` and a function become config dicts."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, base):
        return {"module": module, "class_name": type(obj).__name__,
                "config": obj.get_config(), "registered_name": None}
    if callable(obj):
        return {"module": "builtins", "class_name": "function", "config": obj.__name__,
                "registered_name": "function"}
    raise TypeError(f"Cannot serialize {kind} {obj!r}")
