"""Embedding: harness, lookup numbers, initializer, gradients (repeated rows add up),
Keras 2 spellings (input_length, weights=), errors, integer inputs, ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_layer

import graphc
from graphc import Input, Model, Sequential, layers, ops
from graphc.backends.numpy import Executor
from graphc.backends.numpy.executor import KernelError
from graphc.ops import ExecContext


def test_embedding_through_the_harness():
    # The harness feeds standard-normal floats: cast to integers (truncated, as Keras),
    # they are small indices, negative ones counting from the end as in Keras.
    r = check_layer(
        layers.Embedding, {"input_dim": 10, "output_dim": 3}, (None, 4), (None, 4, 3), 30
    )
    table = r.layer.get_weights()[0]
    np.testing.assert_array_equal(r.y, table[r.x.astype(np.int64)])
    assert [p.path.split("/")[-1] for p in r.layer.weights] == ["embeddings"]


def test_embedding_any_index_rank():
    check_layer(layers.Embedding, {"input_dim": 7, "output_dim": 2}, (None,), (None, 2), 14)
    check_layer(
        layers.Embedding, {"input_dim": 7, "output_dim": 2}, (None, 3, 2), (None, 3, 2, 2), 14
    )


def test_embedding_initializer_is_uniform_005():
    graphc.utils.set_random_seed(0)
    layer = layers.Embedding(1000, 16)
    layer(Input(shape=(3,)))
    w = layer.get_weights()[0]
    assert w.shape == (1000, 16) and w.dtype == np.float32
    assert np.abs(w).max() <= 0.05 and np.abs(w).max() > 0.049
    assert abs(w.std() - 0.05 / np.sqrt(3)) < 1e-3
    assert layer.get_config()["embeddings_initializer"] == {
        "class_name": "RandomUniform",
        "config": {"minval": -0.05, "maxval": 0.05, "seed": None},
    }


def test_float_indices_truncate_like_a_cast():
    layer = layers.Embedding(5, 2, embeddings_initializer="random_normal")
    x = np.array([[0.0, 1.9, 4.2, 3.0]], dtype=np.float32)
    y = layer(x)
    table = layer.get_weights()[0]
    np.testing.assert_array_equal(y, table[[[0, 1, 4, 3]]])


def test_out_of_range_index_is_a_clear_error():
    model = Sequential([Input(shape=(3,)), layers.Embedding(4, 2)])
    with pytest.raises(KernelError, match="index 4 is out of range for a table of 4 rows"):
        model.predict(np.array([[0, 1, 4]]), verbose=0)


def test_integer_input_and_onnx_cast():
    inp = Input(shape=(5,), dtype="int32", name="ids")
    out = layers.Dense(2)(layers.Flatten()(layers.Embedding(50, 3)(inp)))
    model = Model(inp, out)
    x = np.random.default_rng(0).integers(0, 50, (9, 5)).astype(np.int32)
    assert_onnx_matches(model, [x])


def _gradcheck(model, x, y):
    """float64 reverse pass of an MSE loss against central differences."""
    ex = Executor(model.graph, model.trainable_weights)
    base = {p: p.data.astype(np.float64) for p in model.weights}
    xs = [np.asarray(x, np.float64)]

    def loss(leaf):
        out = ex.forward(xs, ExecContext(training=False), leaf_values=leaf)[0]
        return float(((out - y) ** 2).mean())

    out, env = ex.forward(xs, ExecContext(training=False), keep_for_backward=True, leaf_values=base)
    out = out[0]
    grads = {p: np.full(p.shape, np.nan) for p in model.trainable_weights}
    ex.backward(env, [2 * (out - y) / out.size], grads)
    for p in model.trainable_weights:
        num = np.zeros(p.shape)
        for idx in np.ndindex(*p.shape):
            leaf = dict(base)
            arr = base[p].copy()
            arr[idx] += 1e-6
            leaf[p] = arr
            up = loss(leaf)
            arr[idx] -= 2e-6
            num[idx] = (up - loss(leaf)) / 2e-6
        np.testing.assert_allclose(grads[p], num, rtol=1e-5, atol=1e-9, err_msg=p.path)
    return grads


def test_embedding_gradient_scatters_and_adds_repeated_rows():
    graphc.utils.set_random_seed(2)
    inp = Input(shape=(4,))
    emb = layers.Embedding(6, 3)
    model = Model(inp, layers.Dense(2)(layers.Flatten()(emb(inp))))
    x = np.array([[1, 1, 3, 1], [5, 3, 0, 0]])
    y = np.random.default_rng(0).standard_normal((2, 2))
    grads = _gradcheck(model, x, y)
    g = grads[emb.embeddings]
    assert np.all(g[[2, 4]] == 0)  # rows no sample uses get exactly nothing


def test_shared_embedding_gradients_add():
    graphc.utils.set_random_seed(3)
    a, b = Input(shape=(3,)), Input(shape=(3,))
    emb = layers.Embedding(5, 2)
    merged = layers.concatenate([layers.Flatten()(emb(a)), layers.Flatten()(emb(b))])
    model = Model([a, b], layers.Dense(1)(merged))
    model.compile(optimizer=graphc.optimizers.SGD(0.1), loss="mse")
    xa, xb = np.array([[0, 1, 1]]), np.array([[1, 2, 2]])
    before = emb.get_weights()[0].copy()
    model.train_on_batch([xa, xb], np.ones((1, 1), np.float32))
    after = emb.get_weights()[0]
    np.testing.assert_array_equal(after[[3, 4]], before[[3, 4]])
    assert not np.allclose(after[[0, 1, 2]], before[[0, 1, 2]])
    assert model.count_params() == 10 + 13


def test_keras2_input_length_builds_the_book_model(tmp_path):
    """Deep Learning with Python, ch. 6: Embedding(10000, 8) on length-20 sequences."""
    model = Sequential()
    model.add(layers.Embedding(10000, 8, input_length=20))
    model.add(layers.Flatten())
    model.add(layers.Dense(1, activation="sigmoid"))
    assert model.output_shape == (None, 1)
    assert model.count_params() == 80161
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(None, 20, 8)" in line and "80000" in line for line in lines)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10000, (64, 20))
    y = rng.integers(0, 2, (64, 1))
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "imdb.graphc")
    loaded = graphc.models.load_model(tmp_path / "imdb.graphc")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_pretrained_weights_argument():
    matrix = np.arange(12, dtype=np.float32).reshape(6, 2)
    layer = layers.Embedding(6, 2, weights=[matrix], trainable=False)
    assert layer.built
    np.testing.assert_array_equal(layer(np.array([[5, 0]])), matrix[[[5, 0]]])
    model = Sequential([Input(shape=(2,)), layer, layers.Flatten(), layers.Dense(1)])
    assert model.count_params() == 12 + 5
    assert len(model.non_trainable_weights) == 1
    with pytest.raises(ValueError, match="weight shape"):
        layers.Embedding(5, 2, weights=[matrix])


def test_argument_errors():
    with pytest.raises(
        ValueError,
        match=r"`input_dim` must be a positive integer. "
        r"Received: input_dim=0",
    ):
        layers.Embedding(0, 4)
    with pytest.raises(ValueError, match="output_dim=2.5"):
        layers.Embedding(10, 2.5)
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: 'l3'"):
        layers.Embedding(10, 4, embeddings_regularizer="l3")


def test_embedding_config_round_trip():
    layer = layers.Embedding(10, 4, input_length=7, name="emb_cfg")
    config = layer.get_config()
    assert config["input_dim"] == 10 and config["output_dim"] == 4
    assert config["mask_zero"] is False and config["batch_input_shape"] == [None, 7]
    assert layers.Embedding.from_config(config).get_config() == config


@pytest.mark.parametrize("opset", [13, None])
def test_embedding_model_onnx_parity(opset):
    graphc.utils.set_random_seed(4)
    model = Sequential(
        [
            Input(shape=(6,)),
            layers.Embedding(30, 4),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    proto = graphc.onnx.export(model, opset=opset)
    assert "Gather" in [n.op_type for n in proto.graph.node]
    rng = np.random.default_rng(1)
    xs = [rng.integers(0, 30, (n, 6)).astype(np.float32) for n in (1, 13)]
    assert_onnx_matches(model, xs, proto=proto)


def test_take_along_other_axes_matches_numpy():
    x = np.random.default_rng(0).standard_normal((3, 3, 4)).astype(np.float32)
    idx = np.array([[0, 2], [1, -1]])
    for axis in (None, 0, 1, 2, -1):
        np.testing.assert_array_equal(ops.take(x, idx, axis=axis), np.take(x, idx, axis=axis))
    inp = Input(shape=(3, 4))
    model = Model(inp, ops.take(inp, np.array([2, 0]), axis=2))
    assert model.output_shape == (None, 3, 2)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x[:, :, [2, 0]])
