"""graphc: Keras code, compiled. Build with the functional API or Sequential, train in
NumPy, export to ONNX.

>>> import graphc
>>> from graphc import layers
>>> x = graphc.Input(shape=(64,))
>>> model = graphc.Model(x, layers.Dense(10, activation="softmax")(x))
"""

from graphc import (  # noqa: E402
    activations,
    constraints,
    errors,
    initializers,
    layers,
    models,
    ops,
    regularizers,
    utils,
)
from graphc.initializers import Initializer  # noqa: E402
from graphc.layers import Input, InputLayer, InputSpec, Layer  # noqa: E402
from graphc.models import Model, Sequential  # noqa: E402
from graphc.regularizers import Regularizer  # noqa: E402
from graphc.version import __version__

__all__ = [
    "InputSpec",
    "Input",
    "InputLayer",
    "Layer",
    "Model",
    "Sequential",
    "layers",
    "models",
    "ops",
    "activations",
    "initializers",
    "regularizers",
    "constraints",
    "errors",
    "utils",
    "losses",
    "metrics",
    "optimizers",
    "callbacks",
    "datasets",
    "saving",
    "random",
    "applications",
    "Initializer",
    "Regularizer",
    "Loss",
    "Metric",
    "Optimizer",
    "Variable",
    "KerasTensor",
    "name_scope",
    "tree",
    "__version__",
]

# Loaded on first use, so `import graphc` stays fast (the training and file modules are
# not needed to build and inspect a model).
_LAZY = (
    "losses",
    "metrics",
    "optimizers",
    "callbacks",
    "datasets",
    "saving",
    "schedules",
    "onnx",
    "random",
    "applications",
    "tree",
    "preprocessing",
)
# Base classes of the lazily loaded modules, as Keras's top-level names.
_LAZY_NAMES = {
    "Loss": "losses",
    "Metric": "metrics",
    "Optimizer": "optimizers",
    "Variable": "variables",
    "KerasTensor": "variables",
    "name_scope": "variables",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"graphc.{name}")
    if name in _LAZY_NAMES:
        import importlib

        return getattr(importlib.import_module(f"graphc.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")
