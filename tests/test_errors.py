"""Exact message texts of user errors (ARCHITECTURE.md, "Habits":
a user error is a typed graphc error whose exact text is tested here).

A change of wording must be deliberate: update the text here in the same commit. Messages
known to need better wording are tested for content (as xfail) in the pass/layer tests.
"""

import warnings

import numpy as np
import pytest

import graphc
from graphc import Input, Model, Sequential, layers, ops
from graphc.errors import (
    GraphcError,
    GraphDisconnectedError,
    GraphError,
    InputDataError,
    ShapeError,
)
from graphc.ir import Graph, Node, TensorType, Value


def error_text(fn, exc=Exception):
    with pytest.raises(exc) as e:
        fn()
    return str(e.value)


class AddPair(layers.Layer):
    def call(self, xs):
        return ops.add(xs[0], xs[1])


def test_hierarchy():
    for cls in (ShapeError, GraphDisconnectedError, GraphError, InputDataError):
        assert issubclass(cls, GraphcError) and issubclass(cls, ValueError)


# ---- connectivity ---------------------------------------------------------------------
def test_seed_graph_disconnected():
    input_tensor = Input(shape=(64,), name="te_seed_in")
    x = layers.Dense(32, activation="relu", name="te_seed_d1")(input_tensor)
    x = layers.Dense(32, activation="softmax", name="te_seed_d2")(x)
    output_tensor = layers.Dense(10, activation="softmax", name="te_seed_d3")(x)
    unrelated_input = Input(shape=(32,), name="te_unrelated")
    with pytest.raises(GraphDisconnectedError) as e:
        Model(unrelated_input, output_tensor)
    assert str(e.value) == (
        'Graph disconnected: cannot obtain value for tensor "te_seed_in" (shape (None, 64), '
        'dtype float32) at layer "te_seed_d1". The following previous layers were accessed '
        'without issue: []. The model\'s inputs are ["te_unrelated" (None, 32)], and the '
        'outputs need "te_seed_in" too: add it to the inputs, e.g. '
        "Model(inputs=[te_unrelated, te_seed_in], outputs=...)."
    )
    assert e.value.__notes__ == ["[graphc] pass 'validate_connectivity' failed (the first pass)"]


def test_disconnected_in_the_middle():
    a = Input(shape=(4,), name="te_mid_a")
    b = Input(shape=(4,), name="te_mid_b")
    h = layers.Dense(4, name="te_mid_a1")(a)
    g = layers.Dense(4, name="te_mid_b1")(b)
    out = AddPair(name="te_mid_add")([h, g])
    assert error_text(lambda: Model(a, out), GraphDisconnectedError) == (
        'Graph disconnected: cannot obtain value for tensor "te_mid_b" (shape (None, 4), '
        'dtype float32) at layer "te_mid_b1". The following previous layers were accessed '
        "without issue: ['te_mid_a1']. The model's inputs are [\"te_mid_a\" (None, 4)], and "
        'the outputs need "te_mid_b" too: add it to the inputs, e.g. '
        "Model(inputs=[te_mid_a, te_mid_b], outputs=...)."
    )


def test_duplicate_layer_names():
    i = Input(shape=(4,), name="te_dup_in")
    out = layers.Dense(2, name="te_dup")(layers.Dense(2, name="te_dup")(i))
    assert error_text(lambda: Model(i, out), GraphError) == (
        'The name "te_dup" is used 2 times in the model. All layer names should be unique: '
        "give each layer its own name= (or leave name= out and graphc numbers them)."
    )


def test_input_that_is_not_an_input_tensor():
    i = Input(shape=(4,), name="te_nonin")
    h = layers.Dense(3, name="te_nonin_h")(i)
    o = layers.Dense(2, name="te_nonin_o")(h)
    assert error_text(lambda: Model(h, o), GraphError) == (
        'Model inputs must be tensors returned by graphc.Input(); received "te_nonin_h/gemm" '
        "(shape (None, 3), dtype float32), produced by layer te_nonin_h (gemm). Pass the Input "
        "tensor the graph starts from."
    )


def test_same_input_twice():
    i = Input(shape=(4,), name="te_twice")
    assert (
        error_text(lambda: Model([i, i], layers.Dense(2, name="te_twice_d")(i)), GraphError)
        == "The same Input tensor is listed twice in the model's inputs."
    )


def test_unused_input_warning():
    i = Input(shape=(4,), name="te_used")
    spare = Input(shape=(7,), name="te_spare")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        Model([i, spare], layers.Dense(2, name="te_used_d")(i))
    assert [str(w.message) for w in record] == [
        'Model input "te_spare" (shape (None, 7), dtype float32) is not connected to any '
        "output; it will be fed but ignored. Remove it from `inputs` or use it."
    ]
    assert record[0].category is UserWarning


def test_cycle():
    x = Value((None, 2), kind="input", name="te_cyc_x")
    n1 = Node("relu", [x], [TensorType((None, 2))])
    n2 = Node("tanh", [n1.outputs[0]], [TensorType((None, 2))])
    n1.inputs.append(n2.outputs[0])
    n2.outputs[0].uses.append(n1)
    g = Graph([x], [n2.outputs[0]], [n1, n2], name="te_cycle")
    assert error_text(g.toposort, GraphError) == (
        "Graph 'te_cycle' has a cycle through 2 node(s): relu, tanh. A value cannot depend on "
        "itself; rebuild the graph without the loop."
    )


# ---- shapes -------------------------------------------------------------------------
def test_dense_needs_known_last_dimension():
    assert error_text(
        lambda: layers.Dense(2, name="te_nolast")(Input(shape=(None,), name="te_nolast_in")),
        ShapeError,
    ) == (
        "te_nolast (Dense): the last dimension of the input must be known to build the kernel, "
        "received input shape (None, None)"
    )


def test_reshape_with_minus_one_cannot_divide():
    assert error_text(
        lambda: layers.Reshape((2, -1), name="te_rs")(Input(shape=(7,), name="te_rs_in")),
        ShapeError,
    ) == (
        "te_rs (Reshape): cannot reshape input of shape (None, 7) (7 values per sample) to "
        "target shape (2, -1) (2 values times a free dimension)."
    )


def test_input_dimensions():
    assert error_text(lambda: Input(shape=(0,)), ValueError) == (
        "Input shape dimensions must be positive integers or None, received (0,) (batch size None)"
    )
    assert error_text(lambda: Input(), ValueError) == (
        "Input needs a shape, e.g. Input(shape=(64,))"
    )


# ---- layers and weights ---------------------------------------------------------------
def built_dense():
    d = layers.Dense(3, name="te_w")
    d(Input(shape=(4,)))
    return d


def test_set_weights_wrong_count():
    d = built_dense()
    assert error_text(lambda: d.set_weights([np.zeros((4, 3))]), ValueError) == (
        "You called set_weights(weights) on layer 'te_w' with a weight list of length 1, but "
        "the layer was expecting 2 weights (te_w/kernel, te_w/bias)."
    )


def test_set_weights_wrong_shape():
    d = built_dense()
    assert error_text(lambda: d.set_weights([np.zeros((4, 4)), np.zeros(3)]), ValueError) == (
        "Layer 'te_w' weight shape (4, 3) is not compatible with provided weight shape (4, 4) "
        "(for te_w/kernel)."
    )


def test_assign_wrong_shape():
    d = built_dense()
    assert error_text(lambda: d.kernel.assign(np.zeros(3)), ValueError) == (
        "Cannot assign to variable te_w/kernel: expected shape (4, 3), received (3,)."
    )


def test_count_params_before_build():
    assert error_text(lambda: layers.Dense(2, name="te_unbuilt").count_params(), ValueError) == (
        "You tried to call count_params on layer 'te_unbuilt', but the layer isn't built. "
        "Call it on an input first."
    )


def test_bad_units_rate_and_kwargs():
    assert error_text(lambda: layers.Dense(0), ValueError) == (
        "Received an invalid value for `units`, expected a positive integer. Received: units=0"
    )
    assert error_text(lambda: layers.Dropout(1.5), ValueError) == (
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
        "Received: rate=1.5"
    )
    assert error_text(lambda: layers.Dense(3, foo=1), TypeError) == (
        "Dense.__init__() got unexpected keyword argument(s): foo"
    )


def test_unknown_activation_and_initializer():
    assert error_text(lambda: layers.Dense(3, activation="nope"), ValueError) == (
        "Unknown activation 'nope'; expected one of celu, elu, exponential, gelu, glu, "
        "hard_shrink, hard_sigmoid, hard_silu, hard_swish, hard_tanh, leaky_relu, linear, "
        "log_sigmoid, log_softmax, mish, relu, relu6, selu, sigmoid, silu, soft_shrink, "
        "softmax, softplus, softsign, sparse_plus, sparse_sigmoid, sparsemax, squareplus, swish, "
        "tanh, tanh_shrink"
    )
    assert error_text(lambda: graphc.initializers.get("nope"), ValueError) == (
        "Unknown initializer 'nope'; expected one of constant, glorot_normal, glorot_uniform, "
        "he_normal, he_uniform, identity, lecun_normal, lecun_uniform, normal, ones, orthogonal, "
        "random_normal, random_uniform, stft, truncated_normal, uniform, variance_scaling, zeros"
    )


def test_mixed_symbolic_and_data_call():
    i = Input(shape=(2,))
    assert error_text(lambda: AddPair(name="te_mix")([i, np.zeros((1, 2))]), TypeError) == (
        "Layer 'te_mix' was called on a mix of symbolic tensors and ndarray; pass only tensors "
        "from Input() or layers."
    )


# ---- models ---------------------------------------------------------------------------
def test_get_layer_errors():
    i = Input(shape=(4,), name="te_gl_in")
    m = Model(i, layers.Dense(2, name="te_gl_d")(i))
    assert error_text(lambda: m.get_layer("zzz"), ValueError) == (
        "No such layer: zzz. Existing layers are: ['te_gl_in', 'te_gl_d']."
    )
    assert error_text(lambda: m.get_layer(index=5), ValueError) == (
        "Was asked to retrieve layer at index 5 but model only has 2 layers."
    )
    assert error_text(lambda: m.get_layer(), ValueError) == (
        "Provide either a layer name or layer index at `get_layer`."
    )


def test_model_argument_errors():
    i = Input(shape=(4,))
    assert error_text(lambda: Model(i), TypeError) == (
        "Model(inputs, outputs) needs both arguments; or subclass Model, create the "
        "layers in __init__ and use them in a `call(inputs)` method."
    )
    assert error_text(lambda: Model(np.zeros(3), i), TypeError) == (
        "Model inputs must be symbolic tensors (from Input() or a layer call); received "
        "ndarray: array([0., 0., 0.])"
    )


def test_sequential_errors():
    assert error_text(
        lambda: Sequential([layers.Dense(2)], name="te_seq").summary(), ValueError
    ) == (
        "Sequential model 'te_seq' has not yet been built. Build it by giving the first layer "
        "an input_shape, adding an Input first, calling `build((None, ...))`, or by calling it "
        "on a batch of data."
    )
    m = Sequential([layers.Dense(2, input_shape=(3,), name="te_seq_d")])
    assert error_text(lambda: m.add(layers.Dense(2, name="te_seq_d")), ValueError) == (
        'All layers added to a Sequential model should have unique names. Name "te_seq_d" is '
        "already the name of a layer in this model. Update the `name` argument to pass a "
        "unique name."
    )
    assert error_text(lambda: Sequential().pop(), TypeError) == "There are no layers in the model."


# ---- variable updates in call (graphc/ops/state.py) -------------------------------------
def test_assign_outside_any_recorded_call():
    from graphc.errors import StateUpdateError

    v = graphc.Variable(np.zeros(3, "float32"), trainable=False, name="te_state")
    i = Input(shape=(3,), name="te_state_in")
    assert issubclass(StateUpdateError, GraphcError)
    m = ops.mean(i, axis=0)
    assert error_text(lambda: v.assign(m), StateUpdateError) == (
        f"Variable te_state: assign() received a symbolic tensor ({m.name}) outside any "
        "layer's "
        "call being recorded (a subclassed model's own `call`, or a functional model's "
        "construction). graphc records variable updates made inside a layer's `call`, "
        "where they apply each time the model runs; applied here they would happen once. "
        "Move the update into a layer's `call` (a small layer holding the variable), or "
        "run it on arrays."
    )


def test_export_of_an_assign_in_inference(tmp_path):
    from graphc.backends.onnx.export import ExportError

    class TeCounter(layers.Layer):
        def build(self, input_shape):
            self.n = self.add_weight(shape=(), initializer="zeros", trainable=False, name="n")

        def call(self, x):
            self.n.assign_add(1.0)
            return x

    i = Input(shape=(3,), name="te_count_in")
    model = Model(i, layers.Dense(1, name="te_count_d")(TeCounter(name="te_counter")(i)))
    text = error_text(lambda: model.export(tmp_path / "m.onnx"), ExportError)
    assert text == (
        "te_counter (assign): cannot be exported to ONNX: it assigns the variable "
        "'te_counter/n' each time the model runs, and an ONNX graph holds no variables: "
        "the exported model would silently stop updating it. Assign it only in training "
        "(`if training: ...` in call) to export the inference graph, or export a model "
        "whose layers do not assign"
    )
