"""``ops.shape`` and ``ops.arange`` (graphc/ops/dynamic.py): eager and symbolic, unknown
and known lengths, a model whose positions follow the input length (predict at several
lengths, training reaches the position embeddings, ONNX with a symbolic length)."""

import numpy as np
import pytest

import graphc
from graphc import layers, ops
from graphc.ir import Value


class PositionalEmbedding(layers.Layer):
    """The book's layer (DLwP ch. 11, Keras 3 form)."""

    def __init__(self, sequence_length, input_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_embeddings = layers.Embedding(input_dim=input_dim, output_dim=output_dim)
        self.position_embeddings = layers.Embedding(
            input_dim=sequence_length, output_dim=output_dim
        )

    def call(self, inputs):
        length = ops.shape(inputs)[-1]
        positions = ops.arange(0, length, 1)
        return self.token_embeddings(inputs) + self.position_embeddings(positions)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)


def _model(length=None):
    inputs = graphc.Input(shape=(length,), dtype="int64")
    pe = PositionalEmbedding(8, 30, 4)
    x = pe(inputs)
    outputs = layers.Dense(1)(layers.GlobalAveragePooling1D()(x))
    return graphc.Model(inputs, outputs), pe


# ---- shape -----------------------------------------------------------------------------
def test_shape_of_an_array_is_a_tuple_of_ints():
    out = ops.shape(np.zeros((2, 5), dtype="float32"))
    assert out == (2, 5) and all(type(d) is int for d in out)


def test_shape_of_a_symbolic_tensor_keeps_known_dims_as_ints():
    x = graphc.Input(shape=(None, 3))
    batch, length, dim = ops.shape(x)
    assert dim == 3 and type(dim) is int
    for d in (batch, length):
        assert isinstance(d, Value) and d.shape == () and d.dtype == "int64"
    assert length.producer.op == "shape" and length.producer.attrs == {"axis": 1}


# ---- arange ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args,kwargs,want",
    [
        ((5,), {}, np.arange(5, dtype="int32")),
        ((1, 7, 2), {}, np.arange(1, 7, 2, dtype="int32")),
        ((0.0, 1.0, 0.25), {}, np.arange(0, 1, 0.25, dtype="float32")),
        ((0, 2, 0.5), {}, np.arange(0, 2, 0.5, dtype="float32")),  # a Python float: floatx
        ((np.int64(4),), {}, np.arange(4, dtype="int64")),
        ((3,), {"dtype": "float64"}, np.arange(3, dtype="float64")),
        ((5, 0, -2), {}, np.arange(5, 0, -2, dtype="int32")),
    ],
)
def test_arange_on_numbers_runs_at_once_with_keras_dtypes(args, kwargs, want):
    got = ops.arange(*args, **kwargs)
    assert isinstance(got, np.ndarray) and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_arange_of_an_unknown_length_is_recorded_with_unknown_length():
    x = graphc.Input(shape=(None,), dtype="int64")
    positions = ops.arange(0, ops.shape(x)[-1], 1)
    assert isinstance(positions, Value)
    assert positions.shape == (None,) and positions.dtype == "int32"  # Keras's ints
    one_arg = ops.arange(ops.shape(x)[-1], dtype="int64")
    assert one_arg.dtype == "int64"


def test_arange_rejects_a_non_scalar_tensor():
    x = graphc.Input(shape=(None,), dtype="int64")
    with pytest.raises(ValueError, match="scalars"):
        ops.arange(x)


def test_arange_of_a_known_length_is_data():
    x = graphc.Input(shape=(6,), dtype="int64")
    np.testing.assert_array_equal(ops.arange(0, ops.shape(x)[-1], 1), np.arange(6))


# ---- a model whose positions follow the input length ---------------------------------
def test_predict_at_different_lengths_from_one_model():
    model, pe = _model()
    assert model.output.shape == (None, 1)
    tokens = pe.token_embeddings.embeddings.numpy()
    positions = pe.position_embeddings.embeddings.numpy()
    dense_w, dense_b = model.layers[-1].get_weights()
    rng = np.random.default_rng(0)
    for length in (3, 8):
        x = rng.integers(1, 30, (2, length))
        want = (tokens[x] + positions[:length]).mean(axis=1) @ dense_w + dense_b
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="out of range"):
        model.predict(rng.integers(1, 30, (1, 9)), verbose=0)  # longer than the table


@pytest.mark.parametrize("length", [None, 5])
def test_training_reaches_the_position_embeddings(length):
    """Known length: arange runs at once, yet the position lookup is recorded on the
    weight (not frozen into a constant)."""
    model, pe = _model(length)
    model.compile(optimizer="sgd", loss="mse")
    before = pe.position_embeddings.embeddings.numpy().copy()
    x = np.random.default_rng(1).integers(1, 30, (4, 5))
    model.fit(x, np.ones((4, 1)), epochs=1, verbose=0)
    moved = np.abs(pe.position_embeddings.embeddings.numpy() - before).max(axis=1)
    assert (moved[:5] > 0).all() and (moved[5:] == 0).all()


def test_onnx_export_with_a_symbolic_length():
    ort = pytest.importorskip("onnxruntime")
    model, _ = _model()
    proto = graphc.onnx.export(model)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert not dims[1].HasField("dim_value")  # the length stays symbolic
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    for length in (2, 7):
        x = rng.integers(0, 30, (3, length)).astype("int64")
        got = sess.run(None, {proto.graph.input[0].name: x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_integer_arithmetic_on_a_size_stays_integer():
    """``ops.arange(0, length - 1)``: a Python int with an integer tensor keeps its dtype
    (Keras's rule), so the size arithmetic works in NumPy and in ONNX."""
    ort = pytest.importorskip("onnxruntime")
    inputs = graphc.Input(shape=(None,), dtype="int64")
    length = ops.shape(inputs)[-1]
    assert (length - 1).dtype == "int64"
    shorter = layers.Embedding(10, 2)(ops.arange(0, length - 1))
    assert shorter.shape == (None, 2)
    model = graphc.Model(inputs, ops.add(ops.sum(shorter), ops.sum(ops.cast(inputs, "float32"))))
    proto = graphc.onnx.export(model)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    weights = model.layers[1].get_weights()[0]
    for n in (3, 6):
        x = np.ones((2, n), "int64")
        want = weights[: n - 1].sum() + 2 * n
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5)
        np.testing.assert_allclose(
            sess.run(None, {proto.graph.input[0].name: x})[0], want, rtol=1e-5
        )
