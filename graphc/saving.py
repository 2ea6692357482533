"""``graphc.saving``, as ``keras.saving``: files and custom-object registration."""

from graphc.models.saving import (load_model, load_weights, model_from_json,  # noqa: F401
                                  register_serializable, save_model, save_weights)

register_keras_serializable = register_serializable

__all__ = ["load_model", "save_model", "load_weights", "save_weights", "model_from_json",
           "register_serializable", "register_keras_serializable"]
