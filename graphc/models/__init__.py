"""graphc.models: Model, Sequential, and (with the training backend) loading."""

from graphc.models.functional import Model
from graphc.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
