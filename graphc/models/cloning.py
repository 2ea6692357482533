"""``keras.models.clone_model``: the same architecture with new layers and new weights."""

from __future__ import annotations

__all__ = ["clone_model"]


def clone_model(
    model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs
):
    """A new model of ``model``'s architecture: each layer rebuilt from its config (the
    same names, freshly initialised weights), as Keras's default clone. A custom
    ``clone_function``, ``call_function`` or ``input_tensors`` is not supported yet."""
    from graphc.layers.serialization import class_name, custom_object_scope
    from graphc.models.functional import Model
    from graphc.models.saving import model_from_config, model_to_config
    from graphc.models.sequential import Sequential

    if clone_function is not None or call_function is not None or input_tensors is not None:
        raise NotImplementedError(
            "clone_model: clone_function, call_function and input_tensors are not supported yet"
        )
    if not isinstance(model, (Model, Sequential)):
        raise ValueError(f"Expected a Model or Sequential instance, received {model!r}")
    custom = {type(model).__name__: type(model)}
    with custom_object_scope(custom):
        return model_from_config(
            {"class_name": class_name(model), "config": model_to_config(model)}, custom
        )
