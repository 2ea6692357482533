"""Activation functions by name, as ``keras.activations``. Each composes ops, so it works
on symbolic tensors inside layers and on NumPy arrays."""

from __future__ import annotations

from graphc import ops

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus",
           "softsign", "swish", "silu", "gelu", "leaky_relu", "hard_sigmoid", "exponential",
           "get", "serialize"]


def linear(x):
    return x


def relu(x):
    return ops.relu(x)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha=alpha)


def selu(x):
    return ops.selu(x)


def softplus(x):
    return ops.softplus(x)


def softsign(x):
    return ops.softsign(x)


def silu(x):
    return ops.silu(x)


def swish(x):
    return ops.silu(x)


def gelu(x, approximate=False):
    return ops.gelu(x, approximate=approximate)


def leaky_relu(x, negative_slope=0.2):
    """Slope 0.2 as Keras 3's function; the ``LeakyReLU`` layer defaults to 0.3."""
    return ops.leaky_relu(x, negative_slope=negative_slope)


def hard_sigmoid(x):
    return ops.hard_sigmoid(x)


def exponential(x):
    return ops.exp(x)


_BY_NAME = {f.__name__: f for f in (linear, relu, sigmoid, tanh, softmax, elu, selu, softplus,
                                    softsign, swish, silu, gelu, leaky_relu, hard_sigmoid,
                                    exponential)}


def get(identifier):
    """A function from a name, ``None`` (linear) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]
        except KeyError:
            raise ValueError(f"Unknown activation {identifier!r}; expected one of "
                             f"{', '.join(sorted(_BY_NAME))}") from None
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret activation {identifier!r}: expected a name or a "
                    "callable")


def serialize(fn) -> str:
    name = getattr(fn, "__name__", None)
    if _BY_NAME.get(name) is fn:
        return name
    raise ValueError(f"Cannot serialize custom activation {name or fn!r} by name")
