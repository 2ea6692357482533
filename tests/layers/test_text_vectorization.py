"""TextVectorization against hand-computed results and against Keras's own expectations.

Keras's TextVectorization cannot run in this venv (it raises "Layer TextVectorization
requires TensorFlow" without TensorFlow), so there is no oracle test: the expectations in
the "Keras's own numbers" section are copied from Keras 3's own tests
(keras/src/layers/preprocessing/text_vectorization_test.py) and from the StringLookup
docstring examples (keras/src/layers/preprocessing/string_lookup.py), which Keras runs
against TensorFlow. The other expectations are derived by hand from Keras's source
(text_vectorization.py, index_lookup.py), as each test says.
"""

import json
import math
import re

import numpy as np
import pytest

import graphc
from graphc.layers import TextVectorization


# ---- Keras's own numbers ------------------------------------------------------------------
def test_keras_adapt_flow_and_tie_breaking():
    # text_vectorization_test.test_adapt_flow. Counts: bar 2, baz 2, foo/bada/boom 1;
    # Keras sorts with np.lexsort((tokens, counts))[::-1]: ties by descending token.
    layer = TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert layer.get_vocabulary() == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    out = layer([["foo qux bar"], ["qux baz"]])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[4, 1, 3, 0], [1, 2, 0, 0]])


def test_keras_fixed_and_set_vocabulary():
    # test_fixed_vocabulary and test_set_vocabulary
    fixed = TextVectorization(
        max_tokens=5000, output_sequence_length=4, vocabulary=["baz", "bar", "foo"]
    )
    later = TextVectorization(max_tokens=5000, output_sequence_length=4)
    later.set_vocabulary(["baz", "bar", "foo"])
    for layer in (fixed, later):
        np.testing.assert_array_equal(
            layer([["foo qux bar"], ["qux baz"]]), [[4, 1, 3, 0], [1, 2, 0, 0]]
        )


def test_keras_vector_modes():
    # test_multi_hot_output, test_output_mode_count_output, test_output_mode_tf_idf_output
    vocab = ["foo", "bar", "baz"]
    multi = TextVectorization(output_mode="multi_hot", vocabulary=vocab)
    np.testing.assert_array_equal(
        multi([["foo bar"], ["baz foo foo"]]), [[0, 1, 1, 0], [0, 1, 0, 1]]
    )
    count = TextVectorization(output_mode="count", vocabulary=vocab)
    np.testing.assert_array_equal(count(["foo bar", "baz foo foo"]), [[0, 1, 1, 0], [0, 2, 0, 1]])
    tfidf = TextVectorization(output_mode="tf_idf", vocabulary=vocab, idf_weights=[0.3, 0.5, 0.2])
    out = tfidf(["foo bar", "baz foo foo"])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.3, 0.5, 0.0], [0.0, 0.6, 0.0, 0.2]], rtol=1e-6)


def test_keras_string_lookup_tf_idf_oov_weight():
    # StringLookup docstring: the OOV weight defaults to the average of the idf weights,
    # unless the vocabulary starts with "[UNK]" and its weight is given.
    layer = TextVectorization(output_mode="tf_idf", standardize=None, split=None)
    layer.set_vocabulary(["a", "b", "c", "d"], idf_weights=[0.25, 0.75, 0.6, 0.4])
    data = np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])
    np.testing.assert_allclose(
        layer(data), [[0.0, 0.25, 0.0, 0.6, 0.8], [1.0, 0.0, 0.75, 0.0, 0.4]], rtol=1e-6
    )
    layer = TextVectorization(output_mode="tf_idf", standardize=None, split=None)
    layer.set_vocabulary(["[UNK]", "a", "b", "c", "d"], idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(
        layer(data), [[0.0, 0.25, 0.0, 0.6, 0.8], [1.8, 0.0, 0.75, 0.0, 0.4]], rtol=1e-6
    )


def test_keras_standardize_and_split_modes():
    # test_lower_and_strip_punctuation_standardization, test_lower_standardization,
    # test_strip_punctuation_standardization, test_no_standardization, test_char_splitting,
    # test_no_split
    text = ["Hello, World!. This is just a nice test!"]
    layer = TextVectorization(vocabulary=["hello", "world", "this", "is", "nice", "test"])
    np.testing.assert_array_equal(layer(text), [[2, 3, 4, 5, 1, 1, 6, 7]])
    layer = TextVectorization(
        standardize="lower", vocabulary=["hello,", "hello", "world", "this", "is", "nice", "test"]
    )
    np.testing.assert_array_equal(layer(text), [[2, 1, 5, 6, 1, 1, 7, 1]])
    layer = TextVectorization(
        standardize="strip_punctuation", vocabulary=["Hello", "World", "Test"]
    )
    np.testing.assert_array_equal(layer(["Hello, World! Test."]), [[2, 3, 4]])
    layer = TextVectorization(standardize=None, vocabulary=["Hello", "world"])
    np.testing.assert_array_equal(layer(["Hello hello"]), [[2, 1]])
    layer = TextVectorization(split="character", vocabulary=list("abcde"))
    np.testing.assert_array_equal(layer(["abcf"]), [[2, 3, 4, 1]])
    layer = TextVectorization(split=None, vocabulary=["foo", "bar", "baz"])
    np.testing.assert_array_equal(layer([["foo"], ["bar"], ["unknown"]]), [[2], [3], [1]])


def test_keras_numpy_standardize_callable():
    # test_python_standardize_callable_non_tf_backend: the callable gets a NumPy "U" array.
    seen = []

    def np_standardize(text):
        seen.append(text.dtype.kind)
        return np.char.replace(np.char.lower(text), ",", "")

    layer = TextVectorization(standardize=np_standardize)
    layer.adapt(["Hello, world."])
    assert seen and set(seen) == {"U"}
    assert "hello" in layer.get_vocabulary() and "world." in layer.get_vocabulary()


# ---- standardize / split / ngrams by hand --------------------------------------------------
def test_standardize_is_ascii_lowercase_and_keras_punctuation():
    # tf.strings.lower() without encoding lowercases A-Z only; the regex removes exactly
    # the 32 ASCII punctuation characters (",-." is a range in it and includes "-").
    layer = TextVectorization(split=None, output_mode="int")
    layer.set_vocabulary(["x"])
    rows, _ = layer._tokenize(["ÉCOLE Naïve-Ünïon's (a+b)*c \u00a0«q»"])
    assert rows == [["École naïveÜnïons abc \u00a0«q»"]]


def test_whitespace_split_is_ascii_whitespace_only():
    # tf.strings.split splits on ASCII whitespace, runs count once, ends are trimmed;
    # a no-break space is not a separator (Python's str.split() would split there).
    layer = TextVectorization(standardize=None, split="whitespace")
    rows, lead = layer._tokenize([" a\tb\n\nc\r\x0bd\x0ce  ", "x\u00a0y", ""])
    assert rows == [["a", "b", "c", "d", "e"], ["x\u00a0y"], []]
    assert lead == (3,)


@pytest.mark.parametrize(
    "ngrams, expected",
    [
        (2, ["a", "b", "c", "a b", "b c"]),
        ((1, 3), ["a", "b", "c", "a b c"]),
        ((3, 1), ["a b c", "a", "b", "c"]),
        (4, ["a", "b", "c", "a b", "b c", "a b c"]),
    ],
)
def test_ngrams_order(ngrams, expected):
    # tf.strings.ngrams: each width in the given order, joined by " ", none for widths
    # longer than the sequence.
    layer = TextVectorization(ngrams=ngrams)
    assert layer._tokenize(["A b, C"])[0] == [expected]


def test_character_split_with_ngrams_and_bytes_input():
    layer = TextVectorization(split="character", ngrams=(2,), standardize=None)
    layer.adapt(np.array([b"abab", "bé".encode()], dtype=object))
    # bigrams: "a b" x2, "b a" x1, "b \xe9" x1 -> by count, then descending token
    assert layer.get_vocabulary() == ["", "[UNK]", "a b", "b é", "b a"]
    np.testing.assert_array_equal(layer(np.array([b"abx"])), [[2, 1]])


# ---- vocabulary: order, ties, OOV, max_tokens -----------------------------------------------
def test_vocabulary_order_max_tokens_and_special_tokens():
    texts = ["d c b a", "c b a", "b a", "a", "[UNK] [UNK] [UNK] e"]
    layer = TextVectorization(max_tokens=5, standardize=None)
    layer.adapt(texts)
    # a 4, b 3, c 2, then d/e tied at 1 ("e" > "d"); "[UNK]" is never learned;
    # max_tokens=5 keeps 5 - 2 = 3 learned tokens.
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b", "c"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["a", "b", "c"]
    assert layer.vocabulary_size() == 5
    np.testing.assert_array_equal(layer(["e d c [UNK]"]), [[1, 1, 4, 1]])
    full = TextVectorization(standardize=None)
    full.adapt(texts)
    assert full.get_vocabulary()[2:] == ["a", "b", "c", "e", "d"]
    multi = TextVectorization(output_mode="multi_hot", max_tokens=4, standardize=None)
    multi.adapt(texts)
    assert multi.get_vocabulary() == ["[UNK]", "a", "b", "c"]  # only the OOV token
    np.testing.assert_array_equal(multi(["e a a"]), [[1, 1, 0, 0]])


def test_int_padding_and_truncation():
    layer = TextVectorization(vocabulary=["a", "b", "c"], output_sequence_length=3)
    np.testing.assert_array_equal(layer(["a b c a b", "c", ""]), [[2, 3, 4], [4, 0, 0], [0, 0, 0]])
    ragged = TextVectorization(vocabulary=["a", "b", "c"])
    out = ragged(np.array([["a b c a b"], ["c"]]))  # shape (N, 1) input
    assert out.shape == (2, 5)
    np.testing.assert_array_equal(out, [[2, 3, 4, 2, 3], [4, 0, 0, 0, 0]])
    assert ragged(["", ""]).shape == (2, 0)


def test_empty_string_is_padding_in_int_mode_and_dropped_otherwise():
    # The mask token "" looks up to 0 in int mode; the vector modes drop it.
    layer = TextVectorization(split=None, vocabulary=["a"])
    np.testing.assert_array_equal(layer([["a"], [""], ["z"]]), [[2], [0], [1]])
    layer = TextVectorization(split=None, output_mode="count", vocabulary=["a"])
    np.testing.assert_array_equal(layer([["a"], [""], ["z"]]), [[0, 1], [0, 0], [1, 0]])


def test_pad_to_max_tokens_and_count():
    layer = TextVectorization(output_mode="count", max_tokens=6, pad_to_max_tokens=True)
    layer.adapt(["x y y"])
    out = layer(["y y x z", "y"])
    assert out.shape == (2, 6) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 2, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0]])
    assert layer.compute_output_shape((None, 1)) == (None, 6)


# ---- tf_idf -------------------------------------------------------------------------------
def test_tf_idf_adapt_formula():
    # Keras: idf = log(1 + num_documents / (1 + document_count)); OOV gets the mean.
    texts = ["a a b", "a c", "b"]
    layer = TextVectorization(output_mode="tf_idf", max_tokens=6, pad_to_max_tokens=True)
    layer.adapt(texts)
    assert layer.get_vocabulary() == ["[UNK]", "a", "b", "c"]
    idf = [math.log(1 + 3 / 3), math.log(1 + 3 / 3), math.log(1 + 3 / 2)]
    expected = np.array([np.mean(np.float32(idf))] + idf + [0, 0], dtype=np.float32)
    np.testing.assert_allclose(layer.idf_weights, expected, rtol=1e-6)
    out = layer(["a a z c"])
    np.testing.assert_allclose(out, [[expected[0], 2 * idf[0], 0, idf[2], 0, 0]], rtol=1e-6)


def test_tf_idf_documents_are_batch_rows_of_a_generator():
    def batches():
        yield ["a b", "a"]
        yield ["b"]

    layer = TextVectorization(output_mode="tf_idf")
    layer.adapt(batches())
    # 3 documents: a in 2, b in 2
    np.testing.assert_allclose(layer.idf_weights[1:], [math.log(1 + 3 / 3)] * 2, rtol=1e-6)


# ---- adapt on lists, arrays, generators -----------------------------------------------------
def test_adapt_on_lists_arrays_and_generators_agree():
    texts = ["The cat sat.", "the DOG sat!", "a cat; a dog"]

    def vocab(data, **kwargs):
        layer = TextVectorization(ngrams=2)
        layer.adapt(data, **kwargs)
        return layer.get_vocabulary()

    expected = vocab(texts)
    # the, sat, dog, cat, a: 2 each, by descending token; then the bigrams (1 each)
    assert expected[:7] == ["", "[UNK]", "the", "sat", "dog", "cat", "a"]
    assert expected[7] == "the dog" and len(expected) == 14
    assert vocab(np.array(texts)) == expected
    assert vocab(np.array(texts)[:, None]) == expected
    assert vocab(np.array([t.encode() for t in texts])) == expected
    assert vocab(tuple(texts), batch_size=2) == expected
    assert vocab(iter([texts[:2], texts[2:]])) == expected
    assert vocab(np.array([[t]]) for t in texts) == expected

    # steps stops an endless generator
    def forever():
        while True:
            yield ["only these words"]

    # all 3 times: by descending token ("these words" > "these")
    assert vocab(forever(), steps=3) == [
        "",
        "[UNK]",
        "words",
        "these words",
        "these",
        "only these",
        "only",
    ]


def test_readapt_and_empty_adapt():
    layer = TextVectorization()
    layer.adapt(["a b"])
    layer.adapt(["c"])
    assert layer.get_vocabulary() == ["", "[UNK]", "c"]
    layer.adapt(iter([]))  # nothing counted: the vocabulary stays, as in Keras
    assert layer.get_vocabulary() == ["", "[UNK]", "c"]


def test_custom_split_callable():
    # Keras's test_custom_splitting: "|" is punctuation, stripped before the split.
    def split(texts):
        return [s.split("|") for s in texts]

    layer = TextVectorization(split=split, vocabulary=["foo", "bar", "foobar"])
    np.testing.assert_array_equal(layer(["foo|bar"]), [[4]])
    layer = TextVectorization(split=split, standardize=None, vocabulary=["foo", "bar"])
    np.testing.assert_array_equal(layer(["foo|bar|x", "bar"]), [[2, 3, 1], [3, 0, 0]])


# ---- set_vocabulary, config ---------------------------------------------------------------
def test_set_vocabulary_with_special_tokens_and_file(tmp_path):
    layer = TextVectorization()
    layer.set_vocabulary(["", "[UNK]", "a", "b"])
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b"]
    path = tmp_path / "vocab.txt"
    path.write_text("foo\nbar\nbaz\n")
    layer = TextVectorization(vocabulary=str(path))
    np.testing.assert_array_equal(layer(["foo bar baz unknown"]), [[2, 3, 4, 1]])
    # The path stays out of the config; the words read from it are kept.
    assert layer.get_config()["vocabulary"] == ["", "[UNK]", "foo", "bar", "baz"]


def test_config_round_trip():
    layer = TextVectorization(
        max_tokens=50,
        ngrams=(1, 2),
        output_mode="tf_idf",
        vocabulary=np.array(["a", "b"]),
        idf_weights=(0.5, 0.25),
        name="tv",
    )
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["vocabulary"] == ["a", "b"] and config["vocabulary_size"] == 3
    twin = TextVectorization.from_config(json.loads(json.dumps(config)))
    assert twin.get_config() == config
    np.testing.assert_array_equal(twin(["a b b c"]), layer(["a b b c"]))
    from graphc.models.saving import deserialize_layer, serialize_layer

    spec = json.loads(json.dumps(serialize_layer(layer)))
    assert spec["class_name"] == "TextVectorization"
    assert deserialize_layer(spec).get_config() == config


def test_adapted_layer_rebuilt_from_config():
    # An adapted vocabulary is kept in the config (Keras keeps it in the saved assets).
    layer = TextVectorization(output_mode="multi_hot", standardize=None)
    layer.adapt(["x y", "y"])
    config = layer.get_config()
    assert config["vocabulary"] == ["[UNK]", "y", "x"] and config["vocabulary_size"] == 3
    twin = TextVectorization.from_config(json.loads(json.dumps(config)))
    np.testing.assert_array_equal(twin(["y z"]), layer(["y z"]))


def test_a_numeric_input_is_refused_clearly():
    layer = TextVectorization(vocabulary=["a"])
    with pytest.raises(ValueError, match="expects a string tensor.*got dtype float32"):
        layer(graphc.Input(shape=(1,)))


def test_vectorized_texts_train_a_model():
    texts = ["good great fun", "bad awful boring", "great fun", "boring bad"] * 4
    labels = np.array([1, 0, 1, 0] * 4, dtype="float32")
    tv = TextVectorization(max_tokens=20, output_mode="multi_hot")
    tv.adapt(texts)
    x = tv(texts)
    inputs = graphc.Input(shape=(tv.vocabulary_size(),))
    model = graphc.Model(inputs, graphc.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, labels, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


# ---- bad arguments: Keras's types and messages ----------------------------------------------
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"standardize": "upper"},
            ValueError,
            (
                "Unknown value for `standardize` argument of TextVectorization. Allowed values "
                "are: "
                "('lower_and_strip_punctuation', 'lower', 'strip_punctuation'). Received: "
                "standardize=upper"
            ),
        ),
        ({"split": "comma"}, ValueError, "Unknown value for `split` argument"),
        ({"output_mode": "ints"}, ValueError, "Unknown value for `output_mode` argument"),
        (
            {"ngrams": "2"},
            ValueError,
            "`ngrams` must be None, an integer, or a tuple of integers. Received: ngrams=2",
        ),
        (
            {"output_sequence_length": 2.5},
            ValueError,
            "`output_sequence_length` must be either None or an integer",
        ),
        (
            {"output_mode": "count", "output_sequence_length": 3},
            ValueError,
            "`output_sequence_length` must not be set if `output_mode` is not 'int'",
        ),
        (
            {"max_tokens": 1},
            ValueError,
            "If set, `max_tokens` must be greater than 1. Received: max_tokens=1",
        ),
        ({"pad_to_max_tokens": True}, ValueError, "If pad_to_max_tokens is True, must set"),
        ({"idf_weights": [1.0]}, ValueError, "`idf_weights` should only be set if"),
        (
            {"output_mode": "tf_idf", "vocabulary": ["a"]},
            ValueError,
            "in TF-IDF output mode, the `idf_weights` argument must also be provided",
        ),
        ({"sparse": True}, ValueError, "`sparse=True` can only be used with the TensorFlow"),
        ({"ragged": True}, ValueError, "`ragged=True` can only be used with the TensorFlow"),
        ({"vocabulary": ["a", "b", "a"]}, ValueError, "repeated term"),
        ({"vocabulary": ["a", ""]}, ValueError, "Found reserved mask token"),
        ({"vocabulary": []}, ValueError, "Cannot set an empty vocabulary"),
        (
            {"vocabulary": ["a", "b"], "max_tokens": 3},
            ValueError,
            "Received vocabulary size is 4; `max_tokens` is 3.",
        ),
        ({"vocabulary": "/no/such/vocab.txt"}, ValueError, "does not exist"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        TextVectorization(**kwargs)


def test_bad_calls():
    with pytest.raises(ValueError, match="the last shape dimension must be 1"):
        TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))
    with pytest.raises(RuntimeError, match="you must set the layer's vocabulary"):
        TextVectorization(output_mode="multi_hot")(["a"])
    with pytest.raises(ValueError, match="Cannot adapt layer .* after setting a static"):
        TextVectorization(vocabulary=["a"]).adapt(["a"])
    with pytest.raises(TypeError, match="expects strings"):
        TextVectorization(vocabulary=["a"])(np.zeros((2, 1)))
    layer = TextVectorization(output_mode="multi_hot")
    layer.adapt(["a b"])
    with pytest.raises(RuntimeError, match="vocabulary size cannot be changed"):
        layer.adapt(["a b c"])
    with pytest.raises(ValueError, match="`idf_weights` must be the same length"):
        TextVectorization(output_mode="tf_idf").set_vocabulary(["a"], [0.1, 0.2])
