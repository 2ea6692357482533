"""graphc: Keras code, compiled. Build with the functional API or Sequential, train in
NumPy, export to ONNX.

>>> import graphc
>>> from graphc import layers
>>> x = graphc.Input(shape=(64,))
>>> model = graphc.Model(x, layers.Dense(10, activation="softmax")(x))
"""

__version__ = "0.1.0"

from graphc import (activations, callbacks, datasets, errors, initializers, layers,  # noqa: E402
                    losses, metrics, models, ops, optimizers, saving, utils)
from graphc.layers import Input, InputLayer, Layer  # noqa: E402
from graphc.models import Model, Sequential  # noqa: E402

__all__ = ["Input", "InputLayer", "Layer", "Model", "Sequential", "layers", "models", "ops",
           "activations", "initializers", "errors", "utils", "losses", "metrics", "optimizers",
           "callbacks", "datasets", "saving", "__version__"]
