"""The keras.utils, keras.saving, keras.models, keras.random, keras.activations and
keras.initializers names issue 9 added."""

from __future__ import annotations

import os
import pathlib
import tarfile

import numpy as np
import pytest

import graphc
from graphc import activations, initializers, layers, random, saving, utils


# ---- utils ----------------------------------------------------------------------------
def test_to_categorical_and_pad_sequences():
    np.testing.assert_array_equal(utils.to_categorical([[1], [0]], 3), [[0, 1, 0], [1, 0, 0]])
    assert utils.to_categorical(np.zeros((2, 3), int)).shape == (2, 3, 1)
    out = utils.pad_sequences([[1, 2, 3], [4]], maxlen=2)
    np.testing.assert_array_equal(out, [[2, 3], [0, 4]])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(
        utils.pad_sequences([[1, 2, 3], [4]], padding="post", truncating="post", maxlen=2, value=9),
        [[1, 2], [4, 9]],
    )
    with pytest.raises(ValueError, match="Padding type"):
        utils.pad_sequences([[1]], padding="middle")


def test_normalize_any_axis():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0, 0]])
    np.testing.assert_allclose(utils.normalize(x, axis=0), [[1, 1], [0, 0]])


def test_pack_unpack():
    assert utils.unpack_x_y_sample_weight((1, 2)) == (1, 2, None)
    assert utils.unpack_x_y_sample_weight(5) == (5, None, None)
    assert utils.pack_x_y_sample_weight(1, 2) == (1, 2)
    assert utils.pack_x_y_sample_weight((1, 2)) == ((1, 2),)


def test_get_file_local_path_file_url_and_extract(tmp_path):
    src = tmp_path / "data.txt"
    src.write_text("hello")
    cache = tmp_path / "cache"
    p = utils.get_file("copy.txt", origin=str(src), cache_dir=str(cache))
    assert pathlib.Path(p).read_text() == "hello"
    assert p == os.path.join(cache, "datasets", "copy.txt")
    p2 = utils.get_file(origin=src.as_uri(), cache_dir=str(cache), cache_subdir="x")
    assert pathlib.Path(p2).read_text() == "hello" and p2.endswith("data.txt")
    import hashlib

    digest = hashlib.sha256(b"hello").hexdigest()
    assert utils.get_file("copy.txt", origin=str(src), cache_dir=str(cache), file_hash=digest) == p
    with pytest.raises(ValueError, match="hash"):
        utils.get_file("bad.txt", origin=str(src), cache_dir=str(cache), file_hash="0" * 64)
    archive = tmp_path / "arch.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(src, arcname="inner/data.txt")
    d = utils.get_file("arch.tar.gz", origin=archive.as_uri(), cache_dir=str(cache), extract=True)
    assert pathlib.Path(d, "inner", "data.txt").read_text() == "hello"
    assert d.endswith("arch_extracted")


def test_get_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        utils.get_file("a", origin=str(tmp_path / "missing"), cache_dir=str(tmp_path))
    with pytest.raises(OSError, match="offline|URL fetch failure"):
        utils.get_file("a", origin="http://graphc.invalid/a.txt", cache_dir=str(tmp_path))
    assert not (tmp_path / "datasets" / "a").exists()
    with pytest.raises(ValueError, match="origin"):
        utils.get_file("a")


def test_small_utils():
    inp = graphc.Input(shape=(2,))
    assert utils.is_keras_tensor(inp) and not utils.is_keras_tensor(np.ones(2))
    assert utils.standardize_dtype(np.float32) == "float32"
    assert utils.Sequence is utils.PyDataset
    from graphc import recording

    saved = dict(recording._layer_names)
    try:
        utils.clear_session()
        assert layers.Dense(2).name == "dense"
    finally:  # other tests' automatic names go on from where they were
        recording._layer_names.clear()
        recording._layer_names.update(saved)


# ---- saving ----------------------------------------------------------------------------
def test_serialize_deserialize_keras_object():
    d = layers.Dense(3, activation="relu", name="d")
    cfg = saving.serialize_keras_object(d)
    assert cfg["class_name"] == "Dense" and cfg["module"] == "keras.layers"
    back = saving.deserialize_keras_object(cfg)
    assert isinstance(back, layers.Dense) and back.units == 3 and back.name == "d"
    init = saving.deserialize_keras_object(
        saving.serialize_keras_object(initializers.HeNormal(seed=3))
    )
    assert isinstance(init, initializers.HeNormal) and init.seed == 3
    fn = saving.serialize_keras_object(activations.relu)
    assert fn["class_name"] == "function"
    assert saving.deserialize_keras_object(fn) is activations.relu
    assert saving.serialize_keras_object([1, "a", None]) == [1, "a", None]


def test_registered_objects():
    @saving.register_keras_serializable(package="Api")
    class Twice(layers.Layer):
        def call(self, x):
            return x * 2

    assert saving.get_registered_name(Twice) == "Api>Twice"
    assert saving.get_registered_object("Api>Twice") is Twice
    assert "Api>Twice" in saving.get_custom_objects()
    cfg = saving.serialize_keras_object(Twice(name="t"))
    assert cfg["registered_name"] == "Api>Twice"
    assert isinstance(saving.deserialize_keras_object(cfg), Twice)

    def scaled(x):
        return x

    with saving.custom_object_scope({"scaled": scaled}):
        assert saving.get_registered_object("scaled") is scaled
    assert saving.get_registered_object("scaled") is None
    with pytest.raises(ValueError, match="locate"):
        saving.deserialize_keras_object({"class_name": "Nope", "config": {}})
    assert utils.get_registered_name(activations.relu) == "relu"


# ---- models ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_clone_model(kind):
    if kind == "functional":
        inp = graphc.Input(shape=(4,))
        model = graphc.Model(inp, layers.Dense(2)(layers.Dense(3, activation="relu")(inp)))
    else:
        model = graphc.Sequential([graphc.Input(shape=(4,)), layers.Dense(3), layers.Dense(2)])
    clone = graphc.models.clone_model(model)
    assert clone is not model and type(clone) is type(model)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
    clone.set_weights(model.get_weights())
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(NotImplementedError):
        graphc.models.clone_model(model, clone_function=lambda each: each)


def test_models_save_model(tmp_path):
    model = graphc.Sequential([graphc.Input(shape=(2,)), layers.Dense(1)])
    graphc.models.save_model(model, tmp_path / "m.graphc")
    assert graphc.models.load_model(tmp_path / "m.graphc").count_params() == 3


# ---- random ----------------------------------------------------------------------------
def test_random():
    a = random.normal((2, 3), seed=1)
    assert a.shape == (2, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, random.normal((2, 3), seed=1))
    g = random.SeedGenerator(5)
    b1, b2 = random.uniform((4,), seed=g), random.uniform((4,), seed=g)
    assert not np.array_equal(b1, b2)
    np.testing.assert_array_equal(b1, random.uniform((4,), seed=random.SeedGenerator(5)))
    assert np.abs(random.truncated_normal((1000,), seed=0)).max() <= 2
    r = random.randint((100,), 0, 3, seed=0)
    assert r.dtype == np.int32 and set(np.unique(r)) <= {0, 1, 2}
    d = random.dropout(np.ones((1000,), "float32"), 0.5, seed=0)
    assert set(np.unique(d)) <= {0.0, 2.0} and 0.4 < (d == 0).mean() < 0.6
    s = random.shuffle(np.arange(10), seed=0)
    assert sorted(s) == list(range(10))
    c = random.categorical(np.log([[0.0001, 0.9999]]), 20, seed=0)
    assert c.shape == (1, 20) and (c == 1).mean() > 0.8
    assert random.gamma((3,), 2.0, seed=0).shape == (3,)
    assert random.beta((3,), 2.0, 3.0, seed=0).shape == (3,)
    assert random.binomial((3,), 5, 0.5, seed=0).shape == (3,)
    with pytest.raises(ValueError, match="seed"):
        random.normal((2,), seed="x")
    assert graphc.random is random


# ---- activations and initializers --------------------------------------------------------
def test_new_activations_by_name_and_deserialize():
    for name in ("celu", "mish", "relu6", "log_softmax", "hard_swish", "squareplus"):
        assert activations.get(name)(np.zeros((1, 2), "float32")).shape == (1, 2)
    assert activations.deserialize("mish") is activations.mish
    assert (
        activations.deserialize({"class_name": "function", "config": "relu6"}) is activations.relu6
    )
    layer = layers.Dense(2, activation="mish")
    assert layer(np.ones((1, 3), "float32")).shape == (1, 2)


def test_new_initializers():
    np.testing.assert_array_equal(initializers.Identity(2.0)((2, 3)), 2 * np.eye(2, 3))
    assert initializers.get("identity").__class__ is initializers.Identity
    assert initializers.he_normal is initializers.HeNormal
    assert initializers.deserialize({"class_name": "Ones", "config": {}})((2,)).sum() == 2
    assert isinstance(initializers.deserialize("glorot_uniform"), initializers.GlorotUniform)
    assert graphc.Initializer is initializers.Initializer
    assert graphc.Loss is graphc.losses.Loss and graphc.Optimizer is graphc.optimizers.Optimizer
