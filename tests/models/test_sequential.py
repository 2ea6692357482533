"""Sequential: add/pop, input_shape/input_dim, Input first, deferred build, bad adds."""

import numpy as np
import pytest

from graphc import Input, Model, Sequential, layers
from graphc.errors import ShapeError


def seed_sequential():
    m = Sequential()
    m.add(layers.Dense(32, activation="relu", input_shape=(64,)))
    m.add(layers.Dense(32, activation="relu"))
    m.add(layers.Dense(10, activation="softmax"))
    return m


def test_seed_model():
    m = seed_sequential()
    assert m.built
    assert m.input_shape == (None, 64) and m.output_shape == (None, 10)
    assert [layer.count_params() for layer in m.layers] == [2080, 1056, 330]
    assert m.count_params() == 3466
    assert all(isinstance(layer, layers.Dense) for layer in m.layers)  # no InputLayer in .layers
    assert [w.shape for w in m.get_weights()] == [(64, 32), (32,), (32, 32), (32,), (32, 10), (10,)]


def test_layers_list_in_constructor():
    m = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)], name="sq_list")
    assert m.name == "sq_list"
    assert m.output_shape == (None, 2) and m.count_params() == 16 + 10


def test_input_dim_and_batch_size():
    assert Sequential([layers.Dense(2, input_dim=7)]).input_shape == (None, 7)
    assert Sequential([layers.Dense(2, input_shape=(7,), batch_size=4)]).input_shape == (4, 7)


def test_input_added_first():
    m = Sequential()
    m.add(Input(shape=(5,), name="sq_first_in"))
    assert m.built
    m.add(layers.Dense(3))
    assert m.input_shape == (None, 5) and m.output_shape == (None, 3)
    assert len(m.layers) == 1
    assert m.inputs[0].name == "sq_first_in"


def test_input_after_layers_is_rejected():
    m = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="An Input can only be the first thing added"):
        m.add(Input(shape=(2,)))


def test_non_layer_is_rejected():
    with pytest.raises(TypeError, match="Only instances of graphc.layers.Layer"):
        Sequential().add("dense")


def test_pop():
    m = seed_sequential()
    last = m.layers[-1]
    assert m.pop() is last
    assert len(m.layers) == 2
    assert m.output_shape == (None, 32)
    assert m.count_params() == 2080 + 1056
    m.add(layers.Dense(3))
    assert m.output_shape == (None, 3)
    x = np.ones((2, 64), "float32")
    assert m(x).shape == (2, 3)
    m.pop()
    m.pop()
    m.pop()
    with pytest.raises(TypeError, match="There are no layers in the model"):
        m.pop()


def test_deferred_build_summary_raises_helpful_error():
    m = Sequential([layers.Dense(4), layers.Dense(2)], name="sq_deferred")
    assert not m.built
    with pytest.raises(ValueError) as e:
        m.summary()
    msg = str(e.value)
    assert "'sq_deferred' has not yet been built" in msg
    assert "input_shape" in msg and "build((None, ...))" in msg
    with pytest.raises(ValueError, match="not yet been built"):
        m.count_params()
    m.build((None, 64))
    assert m.built and m.output_shape == (None, 2)
    lines = []
    m.summary(print_fn=lines.append)
    assert "Total params: 270" in lines


def test_deferred_build_on_first_call_with_data():
    m = Sequential([layers.Dense(3, activation="relu"), layers.Dense(1)])
    y = m(np.ones((4, 5), "float32"))
    assert y.shape == (4, 1)
    assert m.input_shape == (None, 5)
    assert m.count_params() == 18 + 4


def test_build_needs_a_shape():
    with pytest.raises(ValueError, match="input_shape"):
        Sequential([layers.Dense(2)]).build()


def test_bad_layer_raises_and_leaves_the_model_usable():
    m = Sequential([layers.Dense(6, input_shape=(4,))])
    with pytest.raises(ShapeError, match="cannot reshape"):
        m.add(layers.Reshape((4,)))
    assert len(m.layers) == 1 and m.output_shape == (None, 6)
    # A Dense already built for another width cannot join either.
    other = layers.Dense(2)
    other(Input(shape=(3,)))
    with pytest.raises(ShapeError, match="expected an input whose last dimension is 3"):
        m.add(other)
    assert len(m.layers) == 1
    m.add(layers.Reshape((3, 2)))
    assert m.output_shape == (None, 3, 2)
    lines = []
    m.summary(print_fn=lines.append)
    assert "Total params: 30" in lines
    m.graph.lint()


def test_unique_names():
    m = Sequential([layers.Dense(2, input_shape=(3,), name="sq_same")])
    with pytest.raises(ValueError, match='Name "sq_same" is already the name of a layer'):
        m.add(layers.Dense(2, name="sq_same"))
    assert len(m.layers) == 1
    auto = Sequential([layers.Dense(2, input_shape=(3,)), layers.Dense(2), layers.Dense(2)])
    names = [layer.name for layer in auto.layers]
    assert len(set(names)) == 3 and all(n.startswith("dense") for n in names)
    assert Sequential().name.startswith("sequential")


def test_sequential_as_a_layer_in_a_functional_model():
    block = Sequential(
        [layers.Dense(4, input_shape=(3,), activation="relu"), layers.Dense(2)], name="sq_block"
    )
    i = Input(shape=(3,), name="sq_outer_in")
    m = Model(i, layers.Dense(1, name="sq_outer_head")(block(i)))
    assert [layer.name for layer in m.layers] == ["sq_outer_in", "sq_block", "sq_outer_head"]
    assert m.count_params() == 16 + 10 + 3
    lines = []
    m.summary(print_fn=lines.append)
    assert any(line.startswith("sq_block (Sequential)") for line in lines)
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(m(x), m.get_layer("sq_outer_head")(block(x)), rtol=1e-6)


def test_eager_equals_hand_computation():
    m = Sequential([layers.Dense(3, activation="tanh", input_shape=(2,))])
    k, b = m.get_weights()
    x = np.array([[0.5, -1.0]], dtype="float32")
    np.testing.assert_allclose(m(x), np.tanh(x @ k + b), rtol=1e-6)
