"""The ``text_vectorization`` op computes with ``graphc.ops.text_processing.Vectorizer``,
not a layer (issue 8: ops may not import layers), and the ``TextVectorization`` layer
delegates to the same object, so the two paths give the same arrays and errors."""

import numpy as np
import pytest

from graphc.layers import TextVectorization
from graphc.layers.base import Layer
from graphc.ops import get_op
from graphc.ops import text as text_op
from graphc.ops.text_processing import Vectorizer

TEXTS = ["The cat sat.", "a DOG, a cat", "", "the cat and the dog sat"]


@pytest.mark.parametrize(
    "options",
    [
        {"output_mode": "int", "output_sequence_length": 5},
        {"output_mode": "int", "ngrams": 2},
        {"output_mode": "multi_hot"},
        {"output_mode": "count", "max_tokens": 12, "pad_to_max_tokens": True},
        {"output_mode": "tf_idf", "ngrams": (1, 2)},
    ],
)
def test_the_op_kernel_matches_the_layer_without_building_a_layer(options, monkeypatch):
    layer = TextVectorization(**options)
    layer.adapt(TEXTS)
    attrs = layer._op_attrs()
    expected = layer(np.array(TEXTS)[:, None])

    def no_layers(self, *args, **kwargs):
        raise AssertionError("the text_vectorization kernel built a Layer")

    monkeypatch.setattr(Layer, "__init__", no_layers)
    text_op._CACHE.clear()
    got = get_op("text_vectorization").run(attrs, [np.array(TEXTS)[:, None]])
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype


def test_the_layer_keeps_its_vocabulary_in_its_vectorizer():
    layer = TextVectorization(output_mode="tf_idf", max_tokens=10, pad_to_max_tokens=True)
    layer.adapt(TEXTS)
    v = layer._vectorizer
    assert isinstance(v, Vectorizer)
    assert layer.get_vocabulary() == v.get_vocabulary()
    assert layer.idf_weights is v.idf_weights and layer.idf_weights.shape == (10,)
    # The public attributes write through: the computation sees the new value.
    layer.pad_to_max_tokens = False
    assert v.pad_to_max_tokens is False
    assert layer(["cat"]).shape == (1, layer.vocabulary_size())


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"standardize": "upper"}, ValueError, "Unknown value for `standardize`"),
        ({"output_mode": "one_hot"}, NotImplementedError, "needs TensorFlow"),
        ({"ngrams": [1, 2]}, ValueError, "`ngrams` must be None, an integer"),
        ({"max_tokens": 1}, ValueError, "must be greater than 1"),
        ({"pad_to_max_tokens": True}, ValueError, "must set `max_tokens`"),
    ],
)
def test_the_vectorizer_and_the_layer_refuse_the_same_options(options, error, match):
    with pytest.raises(error, match=match) as from_vectorizer:
        Vectorizer(**options)
    with pytest.raises(error, match=match) as from_layer:
        TextVectorization(**options)
    assert str(from_vectorizer.value) == str(from_layer.value)


def test_a_vector_mode_kernel_without_vocabulary_says_how_to_fix():
    text_op._CACHE.clear()
    with pytest.raises(RuntimeError, match="call `adapt` with some sample data"):
        get_op("text_vectorization").run({"output_mode": "multi_hot"}, [np.array(["a"])])
