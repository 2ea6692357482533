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


def deserialize_dict(config, kind: str, functions: dict, classes: dict, wrapper,
                     custom_objects=None):
    """The inverse of ``serialize_object`` for a config dict: a function by name, the
    function wrapper class, or a class by name (``custom_objects`` first)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret {kind} config: {config!r}")
    name = config["class_name"]
    inner = config.get("config")
    if name == "function":
        table = {**functions, **(custom_objects or {})}
        if inner not in table:
            raise ValueError(f"Unknown {kind} function '{inner}'")
        return table[inner]
    if name == wrapper.__name__:
        return wrapper.from_config(inner or {}, custom_objects=custom_objects)
    cls = {**classes, **(custom_objects or {})}.get(name)
    if cls is None:
        raise ValueError(f"Unknown {kind} class '{name}'; pass "
                         f"custom_objects={{'{name}': cls}}.")
    return cls.from_config(dict(inner or {}))
