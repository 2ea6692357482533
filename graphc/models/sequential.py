"""``Sequential``: a Model that grows one layer at a time."""

from __future__ import annotations

from graphc.ir import Value
from graphc.layers import serialization
from graphc.layers.base import InputLayer, Layer, flatten_struct, unique_name
from graphc.models.functional import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A plain stack of layers, each with one input and one output tensor.

    >>> model = Sequential([layers.Dense(32, activation="relu", input_shape=(64,)),
    ...                     layers.Dense(10, activation="softmax")])
    """

    def __init__(self, layers=None, trainable=True, name=None):
        Layer.__init__(self, trainable=trainable, name=name or unique_name("sequential"))
        self._stack: list[Layer] = []
        self._input_value: Value | None = None
        self._last_output: Value | None = None
        self._graph = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        if layers:
            self._keras_rebuilt()

    def _keras_rebuilt(self):
        """Keras's Sequential builds an inner ``Functional`` each time it rebuilds with
        an input and a layer (the constructor once, each ``add``, ``pop`` and ``build``),
        and that model takes the next "functional" name: take it too, so the names of
        the models made afterwards are Keras's (``functional_1`` after a Sequential)."""
        if self._input_value is not None and self._stack:
            unique_name("functional")

    def add(self, layer, rebuild=True):
        """Append a layer; with a known input shape it is called at once, so a shape
        mismatch raises here and leaves the model as it was."""
        if isinstance(layer, Value) and layer.kind == "input":
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Only instances of graphc.layers.Layer can be added to a "
                f"Sequential model. Received: {layer!r} of type "
                f"{type(layer).__name__}"
            )
        if isinstance(layer, InputLayer):
            if self._stack or self._input_value is not None:
                raise ValueError(
                    "An Input can only be the first thing added to a Sequential "
                    "model; this model already has layers."
                )
            self._input_value = self._last_output = layer.output
            self.built = True
            return
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(
                f"All layers added to a Sequential model should have unique "
                f'names. Name "{layer.name}" is already the name of a layer in '
                f"this model. Update the `name` argument to pass a unique name."
            )
        if self._input_value is None and not self._stack and layer._batch_input_shape is not None:
            self._input_value = self._last_output = InputLayer(
                batch_shape=layer._batch_input_shape
            ).output
        if self._last_output is not None:
            self._last_output = self._call_one(layer, self._last_output)
            self.built = True
        self._stack.append(layer)
        self._graph = None
        if rebuild:
            self._keras_rebuilt()

    @staticmethod
    def _call_one(layer, x):
        out = layer(x)
        if len(flatten_struct(out)) != 1:
            raise ValueError(
                f"All layers in a Sequential model should have a single output "
                f"tensor; layer {layer.name!r} returned {len(flatten_struct(out))}."
                " Use the functional API for multi-output layers."
            )
        return flatten_struct(out)[0]

    def pop(self):
        """Remove the last layer and rebuild the graph from the input."""
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        if self._input_value is not None:
            x = self._input_value
            for remaining in self._stack:
                x = self._call_one(remaining, x)
            self._last_output = x
        self._graph = None
        self._keras_rebuilt()
        return layer

    def build(self, input_shape=None):
        """Build from ``input_shape`` (with the batch dimension), as Keras's
        ``model.build((None, 64))``."""
        if self._input_value is not None:
            return
        if input_shape is None:
            raise ValueError("You must provide an `input_shape` argument.")
        self._input_value = self._last_output = InputLayer(batch_shape=input_shape).output
        for layer in self._stack:
            self._last_output = self._call_one(layer, self._last_output)
        self.built = True
        self._graph = None
        self._keras_rebuilt()

    @property
    def graph(self):
        if self._graph is None:
            if self._input_value is None:
                raise ValueError(
                    f"Sequential model {self.name!r} has not yet been built. Build it by "
                    "giving the first layer an input_shape, adding an Input first, calling "
                    "`build((None, ...))`, or by calling it on a batch of data."
                )
            output = self._last_output if self._stack else self._input_value
            self._set_graph(self._input_value, output)
        return self._graph

    @property
    def layers(self) -> list:
        return list(self._stack)

    operations = layers

    def _tracked_layers(self):
        return self.layers

    def _maybe_build(self, inputs):
        if self._input_value is None:
            shape = inputs.shape if hasattr(inputs, "shape") else None
            self.build((None,) + tuple(shape[1:]) if shape is not None else None)


serialization.register_builtin("Sequential", Sequential)
