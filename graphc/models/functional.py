"""``Model(inputs, outputs)``: the functional API's model, itself a layer."""

from __future__ import annotations

import numpy as np

from graphc import recording
from graphc.errors import StateUpdateError
from graphc.ir import Graph, Value, gc_paused
from graphc.layers import serialization
from graphc.layers.base import (
    Input,
    Layer,
    TrainingProbe,
    _call_parameters,
    flatten_struct,
    map_struct,
    select_phase,
    to_snake_case,
    unique_name,
)
from graphc.models.training import Trainer
from graphc.ops.registry import apply, is_symbolic

__all__ = ["Model"]


def _check_tensors(struct, what: str) -> list:
    flat = flatten_struct(struct)
    if not flat:
        raise ValueError(f"Model {what} must not be empty")
    for x in flat:
        if not isinstance(x, Value):
            raise TypeError(
                f"Model {what} must be symbolic tensors (from Input() or a layer "
                f"call); received {type(x).__name__}: {x!r:.80}"
            )
    return flat


def _map_shapes(fn, struct):
    """``fn(item, name)`` over one item, a list/tuple or a dict of them (dict keys become
    the Input names, as the data's keys must match them)."""
    if isinstance(struct, dict):
        return {k: fn(v, k) for k, v in struct.items()}
    one_shape = isinstance(struct, (list, tuple)) and all(
        isinstance(d, (int, type(None))) for d in struct
    )
    if isinstance(struct, (list, tuple)) and not one_shape:
        return [fn(v, None) for v in struct]
    return fn(struct, None)


class Model(Trainer, Layer):
    """A graph of layers from ``inputs`` to ``outputs`` (tensors, lists or dicts).

    >>> x = graphc.Input(shape=(64,))
    >>> y = graphc.layers.Dense(10, activation="softmax")(x)
    >>> model = graphc.Model(x, y)

    Subclassing works as in Keras: create layers in ``__init__``, use them in
    ``call(inputs)``; the first data (or ``build``) traces ``call`` into the graph.
    """

    _subclassed = False

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        # Any subclass made without inputs and outputs is a subclassed model, as in Keras,
        # even one without `call` (a wrapper that only overrides `train_step`).
        subclassed = inputs is None and outputs is None and type(self) is not Model
        if not subclassed and (inputs is None or outputs is None):
            raise TypeError(
                "Model(inputs, outputs) needs both arguments; or subclass Model, create the "
                "layers in __init__ and use them in a `call(inputs)` method."
            )
        if name is None:
            base = "functional" if type(self) is Model else to_snake_case(type(self).__name__)
            name = unique_name(base)
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._subclassed = subclassed
        self._graph = None
        if subclassed:
            # Keras's subclassed model: its graph is traced from `call` on the first data
            # (or `build(input_shape)`), then it trains and exports like a functional one.
            self.built = False
        else:
            self._set_graph(inputs, outputs)

    # ---- the graph ---------------------------------------------------------------------
    def _set_graph(self, inputs, outputs):
        from graphc.models._topology import keras_order_and_layers, ordered_layers
        from passes import MODEL_PASSES, Pipeline

        in_list = _check_tensors(inputs, "inputs")
        out_list = _check_tensors(outputs, "outputs")
        with gc_paused():
            graph = Graph.from_outputs(in_list, out_list, name=self.name)
            Pipeline([p() for p in MODEL_PASSES]).run(graph)
            if not self._subclassed:
                # Run the layer calls in Keras's order (a subclassed model's `call` runs
                # in its own order, the recording order): a shared BatchNormalization
                # updates its moving statistics once per call, so the order shows.
                _, self._layers = keras_order_and_layers(graph)
            else:
                self._layers = ordered_layers(graph)
            self._graph = graph
            self._input_struct = inputs
            self._output_struct = outputs
        self.built = True

    @property
    def graph(self) -> Graph:
        """The model's IR (read it; transform a ``clone()``)."""
        if self._graph is None:
            raise ValueError(
                f"Model {self.name!r} has not yet been built. Build the model first by "
                "calling `build(input_shape)` or by calling the model on a batch of data "
                "(fit, evaluate and predict do so)."
            )
        return self._graph

    @property
    def layers(self) -> list:
        """Layers in Keras's order; ops applied outside layers (``a + b``) are not layers,
        as in Keras 3, though the summary shows them. A subclassed model's layers are
        those assigned to its attributes, in order."""
        if self._subclassed:
            return list(self._sublayers)
        from graphc.layers.op_layer import OpLayer

        return [layer for layer in self._layers if not isinstance(layer, OpLayer)]

    # ---- subclassed models: the graph is traced from `call` ----------------------------
    def build(self, input_shape=None):
        """Trace a subclassed model's ``call`` on inputs of ``input_shape`` (with the batch
        dimension: ``(None, 64)``, or a list or dict of shapes), as Keras's
        ``model.build``."""
        if not self._subclassed or self._graph is not None:
            return
        if input_shape is None:
            raise ValueError("You must provide an `input_shape` argument.")
        self._trace(
            _map_shapes(lambda shape, key: Input(batch_shape=tuple(shape), name=key), input_shape)
        )

    def _maybe_build(self, inputs):
        if not self._subclassed or self._graph is not None:
            return

        def placeholder(x, key):
            shape = getattr(x, "shape", None)
            if shape is None:
                x = np.asarray(x)
                shape = x.shape
            # float32, Keras's default input dtype, whatever the data's: fit and predict
            # convert the data to it (an Embedding reads float token ids as integers).
            return Input(batch_shape=(None,) + tuple(shape[1:]), name=key)

        self._trace(_map_shapes(placeholder, inputs))

    def _ensure_built_for(self, x):
        if self._subclassed:
            self._maybe_build(x)
        else:
            super()._ensure_built_for(x)

    def _trace(self, inputs):
        # `call` runs outside this model's own scope, so the nodes belong to the layers it
        # uses, exactly as if they had been wired with the functional API.
        # (inside, a layer call's outputs that stand for its variable updates stay listed
        # in recording's updates, checked against the graph below)
        n_updates = recording.update_count()
        with recording.tracing():  # an assign outside any layer here raises
            if "training" not in _call_parameters(type(self)):
                outputs = self.call(inputs)
            else:
                # As a user's layer: a call that branches on `training` is recorded
                # once per mode (Layer._record_both_modes).
                probe = TrainingProbe()
                outputs = self.call(inputs, training=probe)
                if probe.asked:
                    recording.drop_updates_since(n_updates)
                    branches = []
                    for training in (False, True):
                        with recording.phase("training" if training else "inference"):
                            branches.append(self.call(inputs, training=training))
                    outputs = select_phase(self.name, *branches)
        updates = recording.updates_since(n_updates)
        recording.drop_updates_since(n_updates)
        if isinstance(outputs, tuple):
            outputs = list(outputs)
        self._set_graph(inputs, outputs)
        if updates:
            recorded = set(self._graph.nodes)
            lost = [v.producer for v in updates if v.producer not in recorded]
            if lost:
                self._graph = None
                self.built = False
                raise StateUpdateError(
                    f"Model {self.name!r}: the call of layer {lost[0].scope[0][0].name!r} "
                    "updates variables (assign in its call), but its output reaches none of "
                    "the model's outputs, and graphc runs only what the outputs depend on: "
                    "the update would silently never happen. Use the layer's output (a "
                    "layer called for its state can return its input, to be passed on)."
                )

    @property
    def operations(self) -> list:
        """Every layer and op layer of the graph, in Keras's order (the summary's rows)."""
        return list(self._layers)

    def _tracked_layers(self):
        return self.layers

    @property
    def inputs(self) -> list:
        return list(self.graph.inputs)

    @property
    def outputs(self) -> list:
        return list(self.graph.outputs)

    @property
    def input(self):
        _ = self.graph  # a Sequential model builds its graph on demand
        return self._input_struct

    @property
    def output(self):
        _ = self.graph
        return self._output_struct

    @property
    def input_shape(self):
        shapes = [v.shape for v in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [v.shape for v in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Output names as Keras 3 gives them: the name of the layer making each output."""
        names = []
        for v in self.outputs:
            layer = v.producer.top[0] if v.producer is not None else v.layer
            names.append(layer.name if layer is not None else v.name)
        return names

    def get_layer(self, name=None, index=None):
        if index is not None and name is not None:
            raise ValueError(
                "Provide only a layer name or a layer index, not both "
                f"(received name={name!r}, index={index})."
            )
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model "
                    f"only has {len(layers)} layers."
                )
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: {[layer.name for layer in layers]}."
            )
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def count_params(self) -> int:
        from passes import CountParams

        return CountParams().run(self.graph).total

    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        from graphc.models._summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    # ---- calling a model as a layer --------------------------------------------------
    def call(self, inputs, training=None):
        """Replay the graph on new inputs; the parameters are shared, not copied. On
        arrays, ``training=True`` runs dropout and the random layers as ``fit`` does."""
        if self._subclassed and self._graph is None:
            raise NotImplementedError(
                f"Model {self.name!r} ({type(self).__name__}) has no `call` method, so it "
                f"cannot run on data. A subclassed Model must define `call(inputs)` using "
                f"the layers it creates in `__init__`."
            )
        if training is not None and not any(is_symbolic(x) for x in flatten_struct(inputs)):
            with recording.eager_context(recording.ExecContext(training=bool(training))):
                return self.call(inputs)
        import graphc.backends.numpy  # noqa: F401  (a scan or while node runs its body with it)

        graph = self.graph
        given = self._match_inputs(inputs)
        mapping = dict(zip(graph.inputs, given))
        for node in graph.nodes:
            ins = [mapping.get(v, v) for v in node.inputs]
            with recording.scopes(node.scope):  # the inner layers' scopes, under this call's
                out = apply(node.op, ins, **node.attrs)
            mapping.update(zip(node.outputs, out if isinstance(out, tuple) else (out,)))
        return map_struct(lambda v: mapping.get(v, v), self._output_struct)

    def _match_inputs(self, inputs) -> list:
        graph_inputs = self.graph.inputs
        if isinstance(inputs, dict):
            # Keys as in the dict the model was built with, else the Input names.
            struct = self._input_struct
            keys = {id(v): k for k, v in struct.items()} if isinstance(struct, dict) else {}
            wanted = [keys.get(id(v), v.name) for v in graph_inputs]
            missing = [k for k in wanted if k not in inputs]
            if missing:
                raise ValueError(
                    f"Model {self.name!r} is missing inputs {missing}; it "
                    f"expects {wanted}, received keys {sorted(inputs)}"
                )
            return [inputs[k] for k in wanted]
        flat = flatten_struct(inputs)
        if len(flat) != len(graph_inputs):
            raise ValueError(
                f"Model {self.name!r} expects {len(graph_inputs)} input(s) "
                f"{[v.name for v in graph_inputs]}, received {len(flat)}"
            )
        return flat

    def export(
        self, filepath, format="onnx", verbose=None, input_signature=None, opset=None, **kwargs
    ):
        """Write the model as ONNX (the Keras 3 spelling); see ``graphc.onnx.export``.
        The inputs are the model's own (batch dimension symbolic), so ``input_signature``
        is not needed."""
        if format != "onnx":
            raise ValueError(f"Unsupported export format {format!r}; graphc exports 'onnx'.")
        if input_signature is not None:
            raise NotImplementedError(
                "input_signature is not supported: graphc exports the "
                "model's own inputs with a symbolic batch dimension."
            )
        from graphc.backends.onnx.export import export

        export(self, filepath, opset=opset, verbose=bool(verbose), **kwargs)

    # ---- saving --------------------------------------------------------------------
    def config_class_name(self) -> str:
        # A subclassed model is saved as the graph its `call` traced: it loads back as a
        # functional model of the same layers and weights, without its Python class.
        if type(self) is Model or self._subclassed:
            return "Functional"
        return type(self).__name__

    def get_config(self):
        from graphc.models.saving import model_to_config

        return model_to_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from graphc.models.saving import model_from_config

        name = "Functional" if cls is Model else serialization.class_name(cls.__new__(cls))
        return model_from_config({"class_name": name, "config": config}, custom_objects)

    def to_json(self, **kwargs) -> str:
        import json

        from graphc.models.saving import serialize_layer

        return json.dumps(serialize_layer(self), **kwargs)

    def save(self, filepath, overwrite=True):
        """One file: ``.keras`` (Keras 3's format), ``.h5`` (Keras's legacy format) or
        ``.graphc``, each with the compile settings and the optimizer's state."""
        import os

        from graphc.models.saving import save_model

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        save_model(self, filepath)

    def save_weights(self, filepath, overwrite=True):
        import os

        from graphc.models.saving import save_weights

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        save_weights(self, filepath)

    def load_weights(self, filepath):
        from graphc.models.saving import load_weights

        load_weights(self, filepath)


serialization.register_builtin("Functional", Model)
serialization.register_builtin("Model", Model)
