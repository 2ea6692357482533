"""graphc.models: Model, Sequential, saving and loading."""

from graphc.models.cloning import clone_model
from graphc.models.functional import Model
from graphc.models.saving import load_model, model_from_json, save_model
from graphc.models.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model", "model_from_json", "save_model", "clone_model"]
