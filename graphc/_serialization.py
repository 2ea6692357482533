"""Keras's config format for losses, metrics, regularizers and constraints: ``{"module",
"class_name", "config", "registered_name"}`` for objects, ``class_name="function"`` for
plain functions."""

from __future__ import annotations


def serialize_object(obj, base: type, module: str, kind: str):
    """A name stays a name; an instance of ``base`` and a function become config dicts."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, base):
        return {
            "module": module,
            "class_name": type(obj).__name__,
            "config": obj.get_config(),
            "registered_name": None,
        }
    if callable(obj):
        return {
            "module": "builtins",
            "class_name": "function",
            "config": obj.__name__,
            "registered_name": "function",
        }
    raise TypeError(f"Cannot serialize {kind} {obj!r}")


def deserialize_dict(
    config, kind: str, functions: dict, classes: dict, wrapper, custom_objects=None
):
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
        raise ValueError(f"Unknown {kind} class '{name}'; pass custom_objects={{'{name}': cls}}.")
    return cls.from_config(dict(inner or {}))


def deserialize_named(config, kind: str, table: dict, custom_objects=None):
    """A Keras name (``"l2"``) or config dict back to an object of ``kind``. ``table`` maps
    class names and snake-case aliases to classes or factory functions; ``custom_objects``
    come first. A name gives the default object, a dict the one its config describes."""
    custom = dict(custom_objects or {})
    if isinstance(config, str):
        found = custom.get(config) or table.get(config)
        if found is None:
            aliases = ", ".join(sorted(k for k in table if k.islower()))
            raise ValueError(
                f"Could not interpret {kind} identifier: {config!r}; expected one of {aliases}"
            )
        # A custom plain function is the object itself; a class or a factory makes one.
        return found if config in custom and not isinstance(found, type) else found()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret {kind} identifier: {config!r}")
    name, inner = config["class_name"], config.get("config")
    if name == "function":
        if inner not in custom:
            raise ValueError(
                f"Unknown {kind} function {inner!r}; pass custom_objects={{{inner!r}: fn}}."
            )
        return custom[inner]
    cls = custom.get(name) or table.get(name)
    if cls is None:
        raise ValueError(f"Unknown {kind} class {name!r}; pass custom_objects={{{name!r}: cls}}.")
    inner = dict(inner or {})
    return cls.from_config(inner) if isinstance(cls, type) else cls(**inner)
