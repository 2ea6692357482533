"""graphc: Keras code, compiled. Build with the functional API or Sequential, train in
NumPy, export to ONNX.

>>> import graphc
>>> from graphc import layers
>>> x = graphc.Input(shape=(64,))
>>> model = graphc.Model(x, layers.Dense(10, activation="softmax")(x))

``import graphc`` loads nothing but this file (PEP 562): the first use of a public name
(``graphc.layers``, ``graphc.Input``, ``from graphc import Model``...) loads the modules
that build and inspect models (``_API_MODULES``, NumPy with them) as one unit, so every
registration they make between themselves (the model classes' saved names, the handler
of ops outside layers) holds from then on; the training, file and ONNX modules load on
their own first use.
"""

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

#: What ``import graphc`` used to load: they load together, on the first use of any of
#: them or of ``_API_NAMES``.
_API_MODULES = (
    "activations",
    "constraints",
    "errors",
    "initializers",
    "layers",
    "models",
    "ops",
    "regularizers",
    "utils",
)
#: Top-level names from those modules: name -> the module defining it.
_API_NAMES = {
    "Initializer": "initializers",
    "Input": "layers",
    "InputLayer": "layers",
    "InputSpec": "layers",
    "Layer": "layers",
    "Model": "models",
    "Sequential": "models",
    "Regularizer": "regularizers",
}

# Loaded on their own first use (the training and file modules are not needed to build
# and inspect a model).
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


def _load_api() -> None:
    import importlib

    g = globals()
    for module in _API_MODULES:
        g[module] = importlib.import_module(f"graphc.{module}")
    for name, module in _API_NAMES.items():
        g[name] = getattr(g[module], name)


def _importing_graphc() -> bool:
    """Whether a graphc module is being imported (``from graphc import ops`` at the top
    of a module): then that name alone loads, in the order Python's imports take."""
    import sys

    for name, module in list(sys.modules.items()):
        if name.startswith("graphc.") and getattr(module.__spec__, "_initializing", False):
            return True
    return False


def __getattr__(name):
    if name in _API_MODULES or name in _API_NAMES:
        import importlib

        if not _importing_graphc():
            _load_api()
            return globals()[name]
        module = importlib.import_module(f"graphc.{_API_NAMES.get(name, name)}")
        return module if name in _API_MODULES else getattr(module, name)
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"graphc.{name}")
    if name in _LAZY_NAMES:
        import importlib

        return getattr(importlib.import_module(f"graphc.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_LAZY))
