"""``graphc.saving``, as ``keras.saving``: files and custom-object registration."""

from graphc.layers.serialization import custom_object_scope, get_custom_objects
from graphc.models.saving import (load_model, load_weights, model_from_json,
                                  register_serializable, save_model, save_weights)
from graphc.onnx import importer as _importer  # noqa: F401  (registers OnnxGraphLayer)

register_keras_serializable = register_serializable
CustomObjectScope = custom_object_scope

__all__ = ["load_model", "save_model", "load_weights", "save_weights", "model_from_json",
           "register_serializable", "register_keras_serializable", "custom_object_scope",
           "CustomObjectScope", "get_custom_objects"]
