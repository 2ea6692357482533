"""StringLookup, IntegerLookup, Hashing and HashedCrossing against Keras 3.15's documented
outputs (their docstrings; Keras runs these layers on TensorFlow, which is not installed
here), FarmHash Fingerprint64 and SipHash-2-4 against reference values, configs as
Keras's, models on string inputs, and vocabularies saved as assets in ``.keras`` and
``.graphc`` files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.backends.onnx.export import ExportError
from graphc.ops import farmhash

VOCAB = ["a", "b", "c", "d"]
IVOCAB = [12, 36, 1138, 42]


# ---- the hashes ----------------------------------------------------------------------------
# farmhash::Fingerprint64 of bytes((7 * i + 3) % 256 for i in range(n)), from Google's C++
# implementation (pyfarmhash 0.5.1); every length class of the algorithm.
FINGERPRINTS = [
    (0, 0x9AE16A3B2F90404F),
    (1, 0xBEC09CC447469D8B),
    (3, 0x40B4412E33EEFD64),
    (4, 0xF3C7EE05197A7B92),
    (7, 0x4FEF0B39C12AA9A4),
    (8, 0x0C97ECBC1E9D2626),
    (15, 0x2CA35F0A039B4F1B),
    (16, 0x7EDA0ED8C837A168),
    (17, 0xC9518FE63EBF6127),
    (31, 0xBD5CA6EE28FC43CB),
    (32, 0xA53F806F23A314E8),
    (33, 0xC24F9D7CE864F0E9),
    (63, 0x9643C13FC68D469C),
    (64, 0x0566266CB579ECA2),
    (65, 0x77E0867714E6B0E4),
    (127, 0xCAA19A12C8273B7E),
    (128, 0x666823960B3AC271),
    (129, 0x98206B8579BCA083),
    (200, 0x6D7105B27CBE2FD7),
    (1000, 0xE021806CC1E3DC4C),
]


@pytest.mark.parametrize("n,want", FINGERPRINTS)
def test_fingerprint64_matches_farmhash(n, want):
    data = bytes((7 * i + 3) % 256 for i in range(n))
    assert farmhash.fingerprint64(data) == want


def test_siphash_matches_the_reference_vectors():
    # SipHash-2-4 paper, appendix A: key 00..0f, messages 00..(n-1)
    k0 = int.from_bytes(bytes(range(8)), "little")
    k1 = int.from_bytes(bytes(range(8, 16)), "little")
    assert farmhash.siphash64(k0, k1, b"") == 0x726FDB47DD0E0E31
    assert farmhash.siphash64(k0, k1, bytes(range(15))) == 0xA129CA6149BE45E5


def test_tf_hash_buckets_documented_values():
    # tf.strings.to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3) == [0, 2, 2]
    assert [farmhash.hash_bucket_fast(t, 3) for t in ["Hello", "TensorFlow", "2.x"]] == [0, 2, 2]


# ---- Hashing and HashedCrossing (Keras's docstring examples) -------------------------------
INP = [["A"], ["B"], ["C"], ["D"], ["E"]]


@pytest.mark.parametrize(
    "kwargs,inputs,want",
    [
        ({}, INP, [1, 0, 1, 1, 2]),
        ({"mask_value": ""}, [["A"], ["B"], [""], ["C"], ["D"]], [1, 1, 0, 2, 2]),
        ({"salt": [133, 137]}, INP, [1, 2, 1, 0, 2]),
        ({"salt": 133}, INP, [0, 0, 2, 1, 0]),
    ],
)
def test_hashing_matches_keras_docstring(kwargs, inputs, want):
    out = layers.Hashing(num_bins=3, **kwargs)(inputs)
    assert out.dtype == np.int64 and out.shape == (5, 1)
    np.testing.assert_array_equal(out.ravel(), want)


def test_hashing_integers_hash_their_decimal_text_and_encodes():
    ints = np.array([[12], [7], [-3]])
    want = [farmhash.hash_bucket_fast(str(v), 4) for v in (12, 7, -3)]
    np.testing.assert_array_equal(layers.Hashing(4)(ints).ravel(), want)
    one_hot = layers.Hashing(4, output_mode="one_hot")(ints)
    np.testing.assert_array_equal(one_hot, np.eye(4, dtype="float32")[want])
    counts = layers.Hashing(4, output_mode="count")(np.array([[12, 12, 7]]))
    assert counts.dtype == np.float32
    np.testing.assert_array_equal(counts[0], np.bincount([want[0], want[0], want[1]], minlength=4))


def test_hashed_crossing_matches_keras_docstring():
    f1 = np.array(["A", "B", "A", "B", "A"])
    f2 = np.array([101, 101, 101, 102, 102])
    np.testing.assert_array_equal(layers.HashedCrossing(num_bins=5)((f1, f2)), [1, 4, 1, 1, 3])
    one_hot = layers.HashedCrossing(num_bins=5, output_mode="one_hot")((f1, f2))
    np.testing.assert_array_equal(one_hot, np.eye(5, dtype="float32")[[1, 4, 1, 1, 3]])
    with pytest.raises(ValueError, match="at least two inputs"):
        layers.HashedCrossing(5)((f1,))
    with pytest.raises(ValueError, match="equal shape"):
        layers.HashedCrossing(5)((f1, f2[:3]))


# ---- StringLookup (Keras's docstring examples) ---------------------------------------------
def test_string_lookup_docstring_examples():
    data = [["a", "c", "d"], ["d", "z", "b"]]
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=VOCAB)(data), [[1, 3, 4], [4, 0, 2]]
    )
    layer = layers.StringLookup()
    layer.adapt(data)
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    np.testing.assert_array_equal(layer(data), [[5, 3, 1], [1, 2, 4]])
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=VOCAB, num_oov_indices=2)(
            [["a", "c", "d"], ["m", "z", "b"]]
        ),
        [[2, 4, 5], [0, 1, 3]],
    )
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(["a", "b", "c", "d", "z"]),
        np.eye(5)[[1, 2, 3, 4, 0]],
    )
    data = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(data),
        [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]],
    )
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=VOCAB, output_mode="count")(data),
        [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]],
    )
    layer = layers.StringLookup(output_mode="tf_idf")
    layer.set_vocabulary(VOCAB, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(layer(data), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]])
    layer = layers.StringLookup(output_mode="tf_idf")
    layer.set_vocabulary(["[UNK]"] + VOCAB, idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(layer(data), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]])
    inverse = layers.StringLookup(vocabulary=VOCAB, invert=True)
    out = inverse([[1, 3, 4], [4, 0, 2]])
    assert out.tolist() == [["a", "c", "d"], ["d", "[UNK]", "b"]]
    forward = layers.StringLookup(vocabulary=VOCAB)
    assert inverse(forward([["a", "c", "d"], ["d", "z", "b"]])).tolist() == out.tolist()


def test_string_lookup_mask_token_and_special_tokens_in_vocabulary():
    layer = layers.StringLookup(vocabulary=VOCAB, mask_token="")
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b", "c", "d"]
    np.testing.assert_array_equal(layer([["a", "", "z"]]), [[2, 0, 1]])
    # the special tokens given at the start are recognised, not counted twice
    again = layers.StringLookup(vocabulary=layer.get_vocabulary(), mask_token="")
    assert again.get_vocabulary() == layer.get_vocabulary()
    # a masked token is dropped from the vector modes
    hot = layers.StringLookup(vocabulary=VOCAB, mask_token="", output_mode="multi_hot")
    np.testing.assert_array_equal(hot([["a", "", "z"]]), [[1, 1, 0, 0, 0]])
    with pytest.raises(ValueError, match="reserved mask token"):
        layers.StringLookup(vocabulary=["a", ""], mask_token="")
    with pytest.raises(ValueError, match="repeated"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        layers.StringLookup(vocabulary=VOCAB, num_oov_indices=0)([["zz"]])


def test_string_lookup_adapt_max_tokens_and_tf_idf():
    data = np.array([["x", "y", "y"], ["y", "z", "x"], ["y", "w", "w"]])
    layer = layers.StringLookup(max_tokens=3)
    layer.adapt(data)
    assert layer.get_vocabulary() == ["[UNK]", "y", "x"]  # w and x tie at 2: x wins
    idf = layers.StringLookup(output_mode="tf_idf")
    idf.adapt(data)
    # each row of a 2-D array is a document; tokens by count, ties by token, descending
    assert idf.get_vocabulary() == ["[UNK]", "y", "x", "w", "z"]
    docs = np.array([3, 2, 1, 1])
    weights = np.log(1 + 3 / (1 + docs))
    row = idf([["y", "y", "q"]])
    np.testing.assert_allclose(row, [[weights.mean(), 2 * weights[0], 0, 0, 0]], rtol=1e-6)


def test_string_lookup_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\nc\nd\n")
    layer = layers.StringLookup(vocabulary=str(path))
    assert layer.get_vocabulary() == ["[UNK]"] + VOCAB
    assert layer.get_config()["vocabulary"] is None  # kept as an asset, as Keras
    with pytest.raises(ValueError, match="does not exist"):
        layers.StringLookup(vocabulary=str(tmp_path / "missing.txt"))


def test_string_lookup_config_matches_keras_keys():
    layer = layers.StringLookup(vocabulary=VOCAB, mask_token="", name="sl")
    config = layer.get_config()
    assert {k: config[k] for k in config if k not in ("dtype", "trainable")} == {
        "name": "sl",
        "invert": False,
        "max_tokens": None,
        "num_oov_indices": 1,
        "oov_token": "[UNK]",
        "mask_token": "",
        "output_mode": "int",
        "sparse": False,
        "pad_to_max_tokens": False,
        "idf_weights": None,
        "vocabulary": VOCAB,
        "vocabulary_size": 6,
        "oov_method": "floormod",
        "salt": None,
        "encoding": "utf-8",
    }
    again = layers.StringLookup.from_config(json.loads(json.dumps(config)))
    assert again.get_vocabulary() == layer.get_vocabulary()


# ---- IntegerLookup (Keras's docstring examples) --------------------------------------------
def test_integer_lookup_docstring_examples():
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(
        layers.IntegerLookup(vocabulary=IVOCAB)(data), [[1, 3, 4], [4, 0, 2]]
    )
    layer = layers.IntegerLookup()
    layer.adapt(data)
    assert layer.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    np.testing.assert_array_equal(layer(data), [[5, 2, 1], [1, 3, 4]])
    np.testing.assert_array_equal(
        layers.IntegerLookup(vocabulary=IVOCAB, num_oov_indices=2)(
            np.array([[12, 1138, 42], [37, 1000, 36]])
        ),
        [[2, 4, 5], [1, 0, 3]],
    )
    oov = np.array([100, 300, 700, 1100, 1700, 2000])
    floormod = layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4)
    farm = layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4, oov_method="farmhash")
    np.testing.assert_array_equal(floormod(oov), [0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(farm(oov), [3, 3, 2, 2, 0, 1])
    data = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])
    np.testing.assert_array_equal(
        layers.IntegerLookup(vocabulary=IVOCAB, output_mode="count")(data),
        [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]],
    )
    tfidf = layers.IntegerLookup(
        output_mode="tf_idf", vocabulary=[-1] + IVOCAB, idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4]
    )
    np.testing.assert_allclose(tfidf(data), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]])
    inverse = layers.IntegerLookup(vocabulary=IVOCAB, invert=True)
    np.testing.assert_array_equal(
        inverse(np.array([[1, 3, 4], [4, 0, 2]])), [[12, 1138, 42], [42, -1, 36]]
    )


def test_integer_lookup_errors_like_keras():
    with pytest.raises(ValueError, match="vocabulary_dtype='int64'"):
        layers.IntegerLookup(vocabulary_dtype="int32")
    with pytest.raises(ValueError, match="must be `'int'` when `invert`"):
        layers.IntegerLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="sparse=True"):
        layers.IntegerLookup(vocabulary=IVOCAB, output_mode="count", sparse=True)
    with pytest.raises(RuntimeError, match="must set the layer's vocabulary"):
        layers.IntegerLookup(output_mode="multi_hot")(np.array([[1]]))


# ---- in models, and saved ------------------------------------------------------------------
def _string_model(layer):
    inputs = graphc.Input(shape=(3,), dtype="string")
    x = layer(inputs)
    return graphc.Model(inputs, layers.Dense(2)(x))


X = np.array([["a", "b", "zz"], ["c", "c", "c"], ["b", "d", "a"]])


def test_string_lookup_in_a_model_trains_and_adapts_after_building(tmp_path):
    layer = layers.StringLookup(output_mode="count", max_tokens=6, pad_to_max_tokens=True)
    model = _string_model(layer)
    layer.adapt(X)  # the model sees the new vocabulary, as Keras's shared lookup table
    want = layer(X) @ model.layers[-1].kernel.data + model.layers[-1].bias.data
    np.testing.assert_allclose(model.predict(X, verbose=0), want, rtol=1e-6)
    model.compile("sgd", "mse")
    model.fit(X, np.zeros((3, 2), "float32"), epochs=1, verbose=0)
    with pytest.raises(ExportError, match="no ONNX lowering"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")


def test_integer_and_hashing_layers_in_a_model():
    inputs = graphc.Input(shape=(2,), dtype="int64")
    a = layers.IntegerLookup(vocabulary=IVOCAB, output_mode="multi_hot")(inputs)
    b = layers.Hashing(7, output_mode="count")(inputs)
    model = graphc.Model(inputs, [a, b])
    x = np.array([[12, 7], [42, 42]])
    got = model.predict(x, verbose=0)
    want = layers.IntegerLookup(vocabulary=IVOCAB, output_mode="multi_hot")(x)
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1], layers.Hashing(7, output_mode="count")(x))
    f1 = graphc.Input(shape=(1,), dtype="string")
    f2 = graphc.Input(shape=(1,), dtype="int64")
    crossed = graphc.Model([f1, f2], layers.HashedCrossing(5)([f1, f2]))
    out = crossed.predict([np.array([["A"], ["B"]]), np.array([[101], [101]])], verbose=0)
    np.testing.assert_array_equal(out, [[1], [4]])


@pytest.mark.parametrize("ext", ["keras", "graphc"])
@pytest.mark.parametrize("mode", ["int", "multi_hot"])
def test_adapted_vocabulary_is_saved_as_an_asset(tmp_path, ext, mode):
    layer = layers.StringLookup(output_mode=mode, mask_token="" if mode == "int" else None)
    layer.adapt(X)
    inputs = graphc.Input(shape=(3,), dtype="string")
    out = layer(inputs)
    if mode == "int":
        out = layers.Embedding(8, 2)(out)
    model = graphc.Model(inputs, out)
    want = model.predict(X, verbose=0)
    path = tmp_path / f"m.{ext}"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        vocab = z.read("assets/layers/string_lookup/vocabulary.txt").decode()
        config = json.loads(z.read("config.json"))
    assert vocab.split("\n") == layer.get_vocabulary()
    text = json.dumps(config)
    assert '"vocabulary": null' in text  # Keras's config: the vocabulary is an asset
    loaded = graphc.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), want)
    assert loaded.layers[1].get_vocabulary() == layer.get_vocabulary()


def test_keras_written_asset_layout_is_read(tmp_path):
    """A .keras file laid out as Keras 3 writes an adapted IntegerLookup: config without
    the vocabulary, ``assets/layers/integer_lookup/vocabulary.txt`` with it."""
    inputs = graphc.Input(shape=(2,), dtype="int64")
    model = graphc.Model(inputs, layers.IntegerLookup(name="integer_lookup")(inputs))
    path = tmp_path / "k.keras"
    model.save(path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("assets/layers/integer_lookup/vocabulary.txt", "-1\n42\n7\n")
    loaded = graphc.models.load_model(path)
    np.testing.assert_array_equal(
        loaded.predict(np.array([[7, 42], [5, 7]]), verbose=0), [[2, 1], [0, 2]]
    )


@pytest.mark.parametrize("ext", ["keras", "graphc"])
def test_adapted_tf_idf_saves_its_idf_weights(tmp_path, ext):
    layer = layers.StringLookup(output_mode="tf_idf")
    layer.adapt(X)
    inputs = graphc.Input(shape=(3,), dtype="string")
    model = graphc.Model(inputs, layer(inputs))
    want = model.predict(X, verbose=0)
    path = tmp_path / f"m.{ext}"
    model.save(path)
    if ext == "keras":  # as Keras: the idf weights in the weight file, by name
        import h5py

        with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as h:
            idf = h["layers/string_lookup/vars/idf_weights"][()]
        np.testing.assert_allclose(idf, layer._idf)
    loaded = graphc.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), want, rtol=1e-6)


def test_keras_written_tf_idf_layout_is_read(tmp_path):
    """Keras 3 writes an adapted tf_idf lookup's vocabulary as an asset and its idf
    weights in the weight file only."""
    layer = layers.StringLookup(output_mode="tf_idf")
    layer.adapt(X)
    inputs = graphc.Input(shape=(3,), dtype="string")
    model = graphc.Model(inputs, layer(inputs))
    path, keras_like = tmp_path / "m.keras", tmp_path / "k.keras"
    model.save(path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(keras_like, "w") as dst:
        for name in src.namelist():
            if not name.endswith("idf_weights.txt"):
                dst.writestr(name, src.read(name))
    loaded = graphc.models.load_model(keras_like)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
