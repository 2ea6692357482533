"""``graphc.saving``, as ``keras.saving``: files and custom-object registration."""

from __future__ import annotations

import inspect

from graphc.layers.serialization import (
    custom_object_scope,
    get_custom_objects,
    register_lazy_builtin,
)
from graphc.models.file_editor import KerasFileEditor
from graphc.models.saving import (
    load_model,
    load_weights,
    model_from_json,
    register_serializable,
    save_model,
    save_weights,
)


def _onnx_graph_layer() -> type:
    # The ONNX importer loads when a saved model names its layer, not at `import graphc`
    # (it and what it imports take longer than the rest of the package).
    from graphc.onnx.importer import OnnxGraphLayer

    return OnnxGraphLayer


register_lazy_builtin("OnnxGraphLayer", _onnx_graph_layer)

register_keras_serializable = register_serializable
CustomObjectScope = custom_object_scope

__all__ = [
    "KerasFileEditor",
    "load_model",
    "save_model",
    "load_weights",
    "save_weights",
    "model_from_json",
    "register_serializable",
    "register_keras_serializable",
    "custom_object_scope",
    "CustomObjectScope",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "serialize_keras_object",
    "deserialize_keras_object",
]

# Where a class name is looked up when no custom object or registration names it
# (Keras's own module of the object first, from the config's "module").
_MODULES = {
    "keras.layers": "graphc.layers",
    "keras.losses": "graphc.losses",
    "keras.metrics": "graphc.metrics",
    "keras.optimizers": "graphc.optimizers",
    "keras.optimizers.schedules": "graphc.schedules",
    "keras.initializers": "graphc.initializers",
    "keras.regularizers": "graphc.regularizers",
    "keras.constraints": "graphc.constraints",
    "keras.activations": "graphc.activations",
    "keras.models": "graphc.models",
    "keras.random": "graphc.random",
}


def get_registered_name(obj) -> str:
    """The name ``register_keras_serializable`` gave ``obj``'s class (``package>Name``),
    else its own name."""
    cls = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    return getattr(cls, "_registered_name", None) or cls.__name__


def _scoped() -> dict:
    from graphc.layers import serialization as s

    table: dict = {}
    for scope in s._SCOPES:
        table.update(scope)
    return table


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class or function called ``name``: from ``custom_objects``, an enclosing
    ``custom_object_scope``, the registered objects, then ``module_objects``; else None."""
    for table in (custom_objects or {}, _scoped(), get_custom_objects(), module_objects or {}):
        if name in table:
            return table[name]
    return None


def serialize_keras_object(obj):
    """Keras's config dict for ``obj``: plain data stays as it is; a function becomes
    ``{"class_name": "function", "config": name}``; an object with ``get_config`` becomes
    ``{"module", "class_name", "config", "registered_name"}``."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return {
            "module": getattr(obj, "__module__", None),
            "class_name": "function",
            "config": obj.__name__,
            "registered_name": getattr(obj, "_registered_name", obj.__name__),
        }
    if hasattr(obj, "get_config"):
        cls = type(obj)
        registered = getattr(cls, "_registered_name", None)
        module = cls.__module__
        for keras_mod, graphc_mod in _MODULES.items():
            if module == graphc_mod or module.startswith(graphc_mod + "."):
                module = keras_mod
        return {
            "module": module,
            "class_name": cls.__name__,
            "config": obj.get_config(),
            "registered_name": registered,
        }
    raise TypeError(f"Cannot serialize {obj!r}: it has no get_config()")


def _find_class(name, module, custom_objects):
    import importlib

    found = get_registered_object(name, custom_objects)
    if found is not None:
        return found
    candidates = [_MODULES[module]] if module in _MODULES else []
    candidates += [m for m in _MODULES.values() if m not in candidates]
    for mod_name in candidates:
        obj = getattr(importlib.import_module(mod_name), name, None)
        if obj is not None:
            return obj
    return None


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The inverse of ``serialize_keras_object``."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):
        found = _find_class(config, None, custom_objects)
        if found is None:
            raise ValueError(
                f"Could not locate object {config!r}; pass it in "
                "custom_objects or register it with "
                "@graphc.saving.register_keras_serializable()."
            )
        return found
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(v, custom_objects) for v in config]
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_keras_object(v, custom_objects) for k, v in config.items()}
    name, inner = config["class_name"], config["config"]
    if name == "function":
        key = config.get("registered_name") or inner
        found = get_registered_object(key, custom_objects) or _find_class(
            inner, config.get("module"), custom_objects
        )
        if found is None:
            raise ValueError(
                f"Could not locate function {inner!r}; pass it in custom_objects or register it."
            )
        return found
    cls = None
    if config.get("registered_name"):
        cls = get_registered_object(config["registered_name"], custom_objects)
    if cls is None:
        cls = _find_class(name, config.get("module"), custom_objects)
    if cls is None:
        raise ValueError(
            f"Could not locate class {name!r}; pass it in custom_objects or "
            "register it with @graphc.saving.register_keras_serializable()."
        )
    with custom_object_scope(custom_objects):
        if hasattr(cls, "from_config"):
            return cls.from_config(dict(inner or {}))
        return cls(**(inner or {}))
