"""Layer configs by class name, as ``keras.layers.serialize``/``deserialize``: the table
of classes a saved file may name (graphc's own layers, the model classes, and classes the
user registers), and ``custom_object_scope``. A file only ever names a class; nothing is
imported or unpickled.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

__all__ = [
    "serialize",
    "deserialize",
    "register_serializable",
    "register_builtin",
    "register_lazy_builtin",
    "custom_object_scope",
    "get_custom_objects",
    "class_name",
    "lookup",
]

# Classes registered with @register_serializable ("package>Name" -> class).
_CUSTOM: dict[str, type] = {}
# graphc's classes beyond graphc.layers.__all__ (the model classes), by saved name.
_BUILTIN: dict[str, type] = {}
# custom_objects given to a load, innermost last; nested deserialization finds them.
_SCOPES: list[dict] = []


def register_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: make a custom layer class loadable by name (``package>Name``)."""

    def decorate(cls):
        key = f"{package}>{name or cls.__name__}"
        _CUSTOM[key] = cls
        cls._registered_name = key
        return cls

    return decorate


def register_builtin(name: str, cls: type) -> None:
    """graphc's own classes outside graphc.layers (``Functional``, ``Sequential``)."""
    _BUILTIN[name] = cls


#: Builtins whose module loads on first use (``OnnxGraphLayer``: the ONNX importer and
#: ``onnx`` cost more than the rest of ``import graphc``): name -> a function returning
#: the class. Registered by the module above that knows where the class lives.
_LAZY_BUILTIN: dict[str, Callable[[], type]] = {}


def register_lazy_builtin(name: str, load: Callable[[], type]) -> None:
    """Like ``register_builtin``, but ``load()`` gives the class when a config names it."""
    _LAZY_BUILTIN[name] = load


def get_custom_objects() -> dict:
    """The registered custom classes by name (the live table, as in Keras)."""
    return _CUSTOM


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict | None) -> Iterator[None]:
    """Classes and functions that configs deserialized inside may name."""
    _SCOPES.append(dict(custom_objects or {}))
    try:
        yield
    finally:
        _SCOPES.pop()


def _builtin_classes() -> dict[str, type]:
    from graphc import layers

    table = {
        name: getattr(layers, name)
        for name in layers.__all__
        if isinstance(getattr(layers, name), type)
    }
    table.update(_BUILTIN)
    return table


def class_name(layer) -> str:
    """The name a config gives ``layer``'s class: its registered name, else the layer's
    own (a model traced from a subclass saves as ``Functional``)."""
    registered = getattr(type(layer), "_registered_name", None)
    return registered or layer.config_class_name()


def lookup(name: str, custom_objects=None) -> type:
    """The class a config names; a clear error for an unknown one."""
    short = name.split(">")[-1]
    scoped: dict = {}
    for scope in _SCOPES:
        scoped.update(scope)
    scoped.update(custom_objects or {})
    for table in (scoped, _CUSTOM, _builtin_classes()):
        if name in table:
            return table[name]
        if short in table and table is scoped:
            return table[short]
    if name in _LAZY_BUILTIN:
        return _LAZY_BUILTIN[name]()
    raise ValueError(
        f"Unknown layer class {name!r} in the saved model. If it is a custom layer, "
        f"register it with @graphc.saving.register_serializable() or pass "
        f"custom_objects={{{short!r}: {short}}} when loading."
    )


def serialize(layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}``; objects the config holds
    (a sub-layer, a regularizer: a custom layer's get_config may return them as they
    are) become their own configs, as Keras's ``serialize_keras_object`` does."""
    return {"class_name": class_name(layer), "config": serialize_config(layer.get_config())}


def serialize_config(config):
    """``config`` with the layers, regularizers, initializers and constraints in it
    replaced by their configs (recursively; plain data is left as it is)."""
    from graphc import constraints, initializers, regularizers
    from graphc.layers.base import Layer

    if isinstance(config, dict):
        return {k: serialize_config(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return type(config)(serialize_config(v) for v in config)
    if isinstance(config, Layer):
        return serialize(config)
    for module, base in (
        (regularizers, regularizers.Regularizer),
        (initializers, initializers.Initializer),
        (constraints, constraints.Constraint),
    ):
        if isinstance(config, base):
            return module.serialize(config)
    return config


def deserialize(spec: dict, custom_objects=None):
    """The layer (or model) a ``serialize`` result describes."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"Not a layer config: {str(spec)[:80]!r}")
    cls = lookup(spec["class_name"], custom_objects)
    with custom_object_scope(custom_objects):
        return cls.from_config(dict(spec.get("config", {})))
