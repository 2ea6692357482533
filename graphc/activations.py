"""Activation functions by name, as ``keras.activations``. Each composes ops, so it works
on symbolic tensors inside layers and on NumPy arrays."""

from __future__ import annotations

from graphc import ops

__all__ = [
    "sparsemax",
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "leaky_relu",
    "hard_sigmoid",
    "exponential",
    "celu",
    "glu",
    "hard_shrink",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu6",
    "soft_shrink",
    "sparse_plus",
    "sparse_sigmoid",
    "squareplus",
    "tanh_shrink",
    "threshold",
    "get",
    "serialize",
    "deserialize",
]


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


def celu(x, alpha=1.0):
    return ops.celu(x, alpha=alpha)


def glu(x, axis=-1):
    return ops.glu(x, axis=axis)


def hard_shrink(x, threshold=0.5):
    return ops.hard_shrink(x, threshold=threshold)


def hard_silu(x):
    return ops.hard_silu(x)


hard_swish = hard_silu


def hard_tanh(x):
    return ops.hard_tanh(x)


def log_sigmoid(x):
    return ops.log_sigmoid(x)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis=axis)


def mish(x):
    return ops.mish(x)


def relu6(x):
    return ops.relu6(x)


def soft_shrink(x, threshold=0.5):
    return ops.soft_shrink(x, threshold=threshold)


def sparse_plus(x):
    return ops.sparse_plus(x)


def sparse_sigmoid(x):
    return ops.sparse_sigmoid(x)


def squareplus(x, b=4):
    return ops.squareplus(x, b=b)


def tanh_shrink(x):
    return ops.tanh_shrink(x)


def sparsemax(x, axis=-1):
    """The Euclidean projection onto the probability simplex (Martins & Astudillo,
    2016): a softmax whose outputs can be exactly 0."""
    return ops.sparsemax(x, axis=axis)


def threshold(x, threshold, default_value):
    return ops.threshold(x, threshold, default_value)


_BY_NAME = {
    f.__name__: f
    for f in (
        linear,
        relu,
        sigmoid,
        tanh,
        softmax,
        elu,
        selu,
        softplus,
        softsign,
        swish,
        silu,
        gelu,
        leaky_relu,
        hard_sigmoid,
        exponential,
        celu,
        glu,
        hard_shrink,
        hard_silu,
        hard_tanh,
        log_sigmoid,
        log_softmax,
        mish,
        relu6,
        soft_shrink,
        sparse_plus,
        sparse_sigmoid,
        squareplus,
        tanh_shrink,
        sparsemax,
    )
}
# (threshold needs its threshold and default value, so it is no activation by name)
_BY_NAME["hard_swish"] = hard_silu


def get(identifier):
    """A function from a name, ``None`` (linear) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]
        except KeyError:
            raise ValueError(
                f"Unknown activation {identifier!r}; expected one of {', '.join(sorted(_BY_NAME))}"
            ) from None
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict) and isinstance(identifier.get("config"), str):
        # Keras's config of a function: {"class_name": "function", "config": name,
        # "registered_name": "package>name"} (or the registered name as class_name)
        return _custom_function(identifier)
    raise TypeError(f"Could not interpret activation {identifier!r}: expected a name or a callable")


def _custom_function(config: dict):
    """The function a Keras function config names: registered with
    ``register_keras_serializable``, or passed in ``custom_objects`` (a
    ``custom_object_scope``, ``load_model(custom_objects=...)``)."""
    from graphc.layers import serialization

    name = config.get("config")
    registered = config.get("registered_name")
    if not registered:
        kind = config.get("class_name")
        registered = kind if isinstance(kind, str) and kind != "function" else name
    scoped: dict = {}
    for scope in serialization._SCOPES:
        scoped.update(scope)
    for table, key in (
        (scoped, registered),
        (scoped, name),
        (serialization._CUSTOM, registered),
        (_BY_NAME, name),
    ):
        fn = table.get(key) if isinstance(key, str) else None
        if callable(fn):
            return fn
    raise ValueError(
        f"Unknown activation function {registered!r}: register it with "
        f"@graphc.saving.register_keras_serializable() or pass "
        f"custom_objects={{{name!r}: {name}}} when loading."
    )


def serialize(fn):
    """A built-in activation's name; a custom function's Keras config (``{"class_name":
    "function", "config": name, "registered_name": ...}``), which ``get`` reads back."""
    name = getattr(fn, "__name__", None)
    if _BY_NAME.get(name) is fn:
        return name
    if name is None or name == "<lambda>":
        raise ValueError(f"Cannot serialize custom activation {fn!r}: it has no name")
    registered = getattr(fn, "_registered_name", None)
    return {
        "module": None if registered else getattr(fn, "__module__", None),
        "class_name": "function",
        "config": name,
        "registered_name": registered or name,
    }


def deserialize(config, custom_objects=None):
    """``keras.activations.deserialize``: a name, or Keras's ``{"class_name": "function",
    "config": name}`` dict; ``custom_objects`` maps names to functions."""
    if isinstance(config, dict):
        config = config.get("config", config.get("class_name"))
    if isinstance(config, str) and custom_objects and config in custom_objects:
        return custom_objects[config]
    return get(config)
