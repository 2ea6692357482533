"""The functional API: structures of inputs/outputs, shared layers, models as layers,
Keras naming and layer order, weights order, eager calls."""

import numpy as np
import pytest

import graphc
from graphc import Input, Model, layers, ops


class AddPair(layers.Layer):
    """A two-input layer, written the same way in the Keras reference script."""

    def call(self, xs):
        return ops.add(xs[0], xs[1])


def two_inputs():
    a = Input(shape=(3,), name="fn_a")
    b = Input(shape=(2,), name="fn_b")
    o1 = layers.Dense(1, name="fn_o1")(layers.Dense(4, name="fn_ha")(a))
    o2 = layers.Dense(2, name="fn_o2")(b)
    return a, b, o1, o2


DATA_A = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
DATA_B = np.linspace(0, 1, 4, dtype="float32").reshape(2, 2)


# ---- structures ----------------------------------------------------------------------
def test_single_tensor_in_and_out():
    i = Input(shape=(5,), name="fn_single")
    o = layers.Dense(2, name="fn_single_d")(i)
    m = Model(i, o)
    assert m.inputs == [i] and m.outputs == [o]
    assert m.input is i and m.output is o
    assert m.input_shape == (None, 5) and m.output_shape == (None, 2)
    out = m(np.ones((3, 5), "float32"))
    assert isinstance(out, np.ndarray) and out.shape == (3, 2)


def test_lists_of_inputs_and_outputs():
    a, b, o1, o2 = two_inputs()
    m = Model([a, b], [o1, o2])
    assert m.inputs == [a, b] and m.outputs == [o1, o2]
    assert m.input_shape == [(None, 3), (None, 2)]
    assert m.output_shape == [(None, 1), (None, 2)]
    assert m.input_names == ["fn_a", "fn_b"] and m.output_names == ["fn_o1", "fn_o2"]
    r1, r2 = m([DATA_A, DATA_B])
    assert r1.shape == (2, 1) and r2.shape == (2, 2)
    np.testing.assert_allclose(r2, m.get_layer("fn_o2")(DATA_B))


def test_dicts_of_inputs_and_outputs_keyed_by_input_names():
    a, b, o1, o2 = two_inputs()
    m = Model({"fn_a": a, "fn_b": b}, {"first": o1, "second": o2})
    assert m.inputs == [a, b] and m.outputs == [o1, o2]
    assert m.input == {"fn_a": a, "fn_b": b}
    out = m({"fn_a": DATA_A, "fn_b": DATA_B})
    assert isinstance(out, dict) and list(out) == ["first", "second"]
    assert out["first"].shape == (2, 1) and out["second"].shape == (2, 2)
    r1, r2 = Model([a, b], [o1, o2])([DATA_A, DATA_B])
    np.testing.assert_allclose(out["first"], r1)
    np.testing.assert_allclose(out["second"], r2)


def test_dict_inputs_are_fed_by_their_keys_as_in_keras():
    a, b, o1, o2 = two_inputs()
    m = Model({"x": a, "y": b}, [o1, o2])
    r1, r2 = m({"x": DATA_A, "y": DATA_B})
    assert r1.shape == (2, 1) and r2.shape == (2, 2)


def test_symbolic_call_with_a_dict():
    a, b, o1, o2 = two_inputs()
    m = Model({"fn_a": a, "fn_b": b}, [o1, o2])
    c = Input(shape=(3,), name="fn_dc")
    d = Input(shape=(2,), name="fn_dd")
    r1, r2 = m({"fn_a": c, "fn_b": d})
    assert r1.shape == (None, 1) and r2.shape == (None, 2)
    assert r2.producer.inputs[0] is d  # the Dense's gemm reads the new input


def test_wrong_number_of_inputs():
    a, b, o1, o2 = two_inputs()
    m = Model([a, b], [o1, o2])
    with pytest.raises(ValueError, match=r"expects 2 input\(s\) \['fn_a', 'fn_b'\], received 1"):
        m(DATA_A)


def test_empty_or_non_tensor_structures_are_rejected():
    i = Input(shape=(2,), name="fn_bad")
    with pytest.raises(ValueError, match="must not be empty"):
        Model([], i)
    with pytest.raises(TypeError, match="must be symbolic tensors"):
        Model(i, np.zeros(2))
    with pytest.raises(TypeError, match="needs both arguments"):
        Model(i)


# ---- shared layers and nested models ------------------------------------------------
def test_shared_layer_uses_the_same_weights_for_both_calls():
    a = Input(shape=(4,), name="fn_sh_a")
    b = Input(shape=(4,), name="fn_sh_b")
    shared = layers.Dense(3, name="fn_shared")
    ya, yb = shared(a), shared(b)
    assert ya.producer.inputs[1] is shared.kernel  # each call's gemm
    assert yb.producer.inputs[1] is shared.kernel
    m = Model([a, b], [ya, yb])
    assert m.layers.count(shared) == 1
    assert len(m.weights) == 2 and m.count_params() == 15
    x = np.random.default_rng(1).standard_normal((2, 4)).astype("float32")
    ra, rb = m([x, x])
    np.testing.assert_array_equal(ra, rb)
    assert len(shared._calls) == 2


def test_model_called_as_a_layer_shares_weights():
    i = Input(shape=(4,), name="fn_inner_in")
    inner = Model(i, layers.Dense(3, activation="relu", name="fn_inner_d")(i), name="fn_inner")
    j = Input(shape=(4,), name="fn_outer_in")
    h = inner(j)
    outer = Model(j, layers.Dense(2, name="fn_outer_d")(h), name="fn_outer")
    assert outer.get_layer("fn_inner") is inner
    assert outer.weights[0] is inner.weights[0]
    assert [p.path for p in outer.weights] == [
        "fn_inner_d/kernel",
        "fn_inner_d/bias",
        "fn_outer_d/kernel",
        "fn_outer_d/bias",
    ]
    x = np.random.default_rng(2).standard_normal((5, 4)).astype("float32")
    k1, b1, k2, b2 = outer.get_weights()
    np.testing.assert_allclose(outer(x), np.maximum(x @ k1 + b1, 0) @ k2 + b2, rtol=1e-5, atol=1e-6)
    # Changing the inner model's weights changes the outer model's output.
    inner.set_weights([np.zeros_like(k1), np.ones_like(b1)])
    np.testing.assert_allclose(outer(x), np.ones((5, 3)) @ k2 + b2, rtol=1e-5)
    rows = []
    outer.summary(print_fn=rows.append)
    assert any(r.startswith("fn_inner (Functional)") for r in rows)


def test_nested_model_called_twice():
    i = Input(shape=(3,), name="fn_tw_in")
    inner = Model(i, layers.Dense(3, name="fn_tw_d")(i), name="fn_twice")
    j = Input(shape=(3,), name="fn_tw_outer")
    m = Model(j, inner(inner(j)))
    assert m.count_params() == 12
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(m(x), inner(inner(x)), rtol=1e-6)


# ---- naming ------------------------------------------------------------------------
def test_keras_naming_is_snake_case_with_counters():
    first = layers.Dense(1).name
    assert first == "dense" or first.startswith("dense_")
    start = 0 if first == "dense" else int(first.rsplit("_", 1)[1])
    assert [layers.Dense(1).name for _ in range(2)] == [f"dense_{start + 1}", f"dense_{start + 2}"]
    assert layers.Activation("relu").name.startswith("activation")
    assert AddPair().name.startswith("add_pair")
    assert Input(shape=(2,)).name.startswith("input_layer")
    i = Input(shape=(2,))
    assert Model(i, layers.Dense(1)(i)).name.startswith("functional")


def test_snake_case_rule():
    from graphc.layers.base import to_snake_case

    assert to_snake_case("Dense") == "dense"
    assert to_snake_case("LeakyReLU") == "leaky_re_lu"
    assert to_snake_case("GlobalAveragePooling2D") == "global_average_pooling2d"
    assert to_snake_case("Conv2D") == "conv2d"


def test_explicit_names_are_kept():
    assert layers.Dense(1, name="fn_explicit").name == "fn_explicit"
    with pytest.raises(TypeError, match="name must be a string"):
        layers.Dense(1, name=3)


# ---- get_layer and model.layers order ----------------------------------------------
def test_get_layer_by_name_and_index():
    i = Input(shape=(3,), name="fn_gl_in")
    d1 = layers.Dense(2, name="fn_gl_1")
    d2 = layers.Dense(2, name="fn_gl_2")
    m = Model(i, d2(d1(i)))
    assert m.get_layer("fn_gl_1") is d1
    assert m.get_layer(index=0).name == "fn_gl_in"
    assert m.get_layer(index=2) is d2 and m.get_layer(index=-1) is d2
    with pytest.raises(ValueError, match="No such layer: nope"):
        m.get_layer("nope")
    with pytest.raises(ValueError, match="index 3"):
        m.get_layer(index=3)
    with pytest.raises(ValueError, match="not both"):
        m.get_layer(name="fn_gl_1", index=1)


def two_branch(swap):
    inp = Input(shape=(8,), name="inp")
    b1 = layers.Dense(5, name="b1")(inp)  # created first: the shallow branch
    a1 = layers.Dense(3, name="a1")(inp)
    a2 = layers.Dense(5, name="a2")(a1)
    merged = AddPair(name="merge")([b1, a2] if swap else [a2, b1])
    return Model(inp, layers.Dense(2, name="out")(merged))


# Expected values recorded from Keras 3.15.1 (torch backend) running the same builder code
# (two_branch above, with keras in place of graphc) — layer order by depth, ties in
# traversal order, and get_weights() following it:
KERAS_TWO_BRANCH = {
    False: (
        ["inp", "a1", "a2", "b1", "merge", "out"],
        [(8, 3), (3,), (3, 5), (5,), (8, 5), (5,), (5, 2), (2,)],
    ),
    True: (
        ["inp", "a1", "b1", "a2", "merge", "out"],
        [(8, 3), (3,), (8, 5), (5,), (3, 5), (5,), (5, 2), (2,)],
    ),
}


@pytest.mark.parametrize("swap", [False, True])
def test_layer_order_and_weights_order_match_keras(swap):
    m = two_branch(swap)
    names, shapes = KERAS_TWO_BRANCH[swap]
    assert [layer.name for layer in m.layers] == names
    assert [w.shape for w in m.get_weights()] == shapes


def test_layer_order_with_two_outputs_matches_keras():
    inp = Input(shape=(8,), name="inp")
    x = layers.Dense(4, name="x1")(inp)
    y1 = layers.Dense(2, name="y1")(x)
    y2 = layers.Dense(3, name="y2")(layers.Dense(4, name="z1")(x))
    m = Model(inp, [y1, y2])
    # Recorded from Keras 3.15.1 (torch backend) with the same code.
    assert [layer.name for layer in m.layers] == ["inp", "x1", "z1", "y1", "y2"]


def test_nested_and_shared_order_matches_keras():
    i = Input(shape=(4,), name="x_in")
    inner = Model(i, layers.Dense(3, name="inner_d")(i), name="inner")
    j = Input(shape=(4,), name="outer_in")
    k = Input(shape=(4,), name="outer_in2")
    shared = layers.Dense(4, name="shared")
    h = inner(shared(j))
    h2 = inner(shared(k))
    m = Model([j, k], [layers.Dense(2, name="head")(h), h2], name="outer")
    # Recorded from Keras 3.15.1 (torch backend) with the same code.
    assert [layer.name for layer in m.layers] == [
        "outer_in",
        "shared",
        "outer_in2",
        "inner",
        "head",
    ]
    assert [w.shape for w in m.get_weights()] == [(4, 4), (4,), (4, 3), (3,), (3, 2), (2,)]
    assert m.count_params() == 43


def test_raw_ops_on_tensors_do_not_add_none_to_layers():
    i = Input(shape=(4,), name="fn_raw_in")
    a = layers.Dense(3, name="fn_raw_a")(i)
    b = layers.Dense(3, name="fn_raw_b")(i)
    m = Model(i, a + b)
    assert [layer.name for layer in m.layers] == ["fn_raw_in", "fn_raw_a", "fn_raw_b"]


# ---- weights -----------------------------------------------------------------------
def test_get_and_set_weights_follow_model_layers():
    m = two_branch(False)
    shapes = [w.shape for w in m.get_weights()]
    new = [np.full(s, k, dtype="float32") for k, s in enumerate(shapes)]
    m.set_weights(new)
    assert [float(w.flat[0]) for w in m.get_weights()] == list(range(8))
    np.testing.assert_array_equal(m.get_layer("b1").get_weights()[0], np.full((8, 5), 4.0))
    with pytest.raises(ValueError, match="length 7"):
        m.set_weights(new[:-1])
    assert [p.path for p in m.trainable_weights][:2] == ["a1/kernel", "a1/bias"]


def test_eager_call_equals_hand_computation():
    i = Input(shape=(6,), name="fn_eager_in")
    h = layers.Dense(5, activation="relu", name="fn_eager_h")(i)
    o = layers.Dense(3, activation="softmax", name="fn_eager_o")(h)
    m = Model(i, o)
    x = np.random.default_rng(3).standard_normal((4, 6)).astype("float32")
    k1, b1, k2, b2 = [w.astype(np.float64) for w in m.get_weights()]
    hidden = np.maximum(x @ k1 + b1, 0)
    logits = hidden @ k2 + b2
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    got = m(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-6)


def test_model_is_a_layer():
    i = Input(shape=(2,), name="fn_isl")
    m = Model(i, layers.Dense(1, name="fn_isl_d")(i))
    assert isinstance(m, graphc.Layer) and m.built
    assert graphc.models.Model is Model


def test_calling_a_model_on_arrays_with_training_true_runs_dropout():
    """Keras: ``model(x, training=True)`` behaves as in fit (dropout on), ``model(x)`` and
    ``training=False`` as predict."""
    graphc.utils.set_random_seed(3)
    inputs = graphc.Input(shape=(2000,))
    inner = graphc.Model(inputs, graphc.layers.Dropout(0.5)(inputs))
    outer_in = graphc.Input(shape=(2000,))
    model = graphc.Model(
        outer_in, graphc.layers.Dense(1, kernel_initializer="ones", use_bias=False)(inner(outer_in))
    )
    x = np.ones((3, 2000), "float32")
    np.testing.assert_array_equal(inner(x), x)
    np.testing.assert_array_equal(inner(x, training=False), x)
    dropped = inner(x, training=True)
    assert 0.45 < (dropped == 0).mean() < 0.55
    assert set(np.unique(dropped)) == {0.0, 2.0}
    np.testing.assert_allclose(model(x), 2000.0)
    assert not np.allclose(model(x, training=True), 2000.0)  # through the nested model too
    np.testing.assert_allclose(model.predict(x, verbose=0), 2000.0)


def test_trainable_weights_is_the_trainable_subset_of_weights_in_order():
    # ``trainable_weights`` is computed in one pass (fit reads it on every call): it must
    # stay ``[p for p in weights if p.trainable]`` with frozen, shared and nested layers.
    shared = graphc.layers.Dense(4)
    inner_in = graphc.Input(shape=(4,))
    inner = graphc.Model(inner_in, graphc.layers.BatchNormalization()(shared(inner_in)))
    inputs = graphc.Input(shape=(3,))
    x = graphc.layers.Dense(4, name="first")(inputs)
    x = inner(shared(x))
    model = graphc.Model(inputs, graphc.layers.Dense(2, name="last")(x))

    def check():
        expected = [p for p in model.weights if p.trainable]
        got = model.trainable_weights
        assert len(got) == len(expected)
        assert all(a is b for a, b in zip(got, expected))

    check()
    model.get_layer("first").trainable = False
    check()
    shared.kernel.trainable = False
    check()
    inner.trainable = False
    check()
    model.get_layer("first").trainable = True
    check()
