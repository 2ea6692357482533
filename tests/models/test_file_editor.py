"""graphc.saving.KerasFileEditor on files graphc wrote: edit, save atomically, load back
into graphc (tests/oracle/test_keras_file_editor_parity.py checks files Keras wrote)."""

import os

import numpy as np
import pytest

import graphc
from graphc.errors import ArgumentTypeError
from graphc.saving import KerasFileEditor


def _model():
    inp = graphc.Input((4,))
    x = graphc.layers.BatchNormalization()(inp)
    return graphc.Model(inp, graphc.layers.Dense(2, name="head")(x))


def test_edit_graphc_file_and_load_back(tmp_path, capsys):
    m = _model()
    m.save(tmp_path / "m.keras")
    e = KerasFileEditor(tmp_path / "m.keras")
    assert e.config["class_name"] == "Functional" and e.metadata["keras_version"]
    assert sorted(e.weights_dict["layers"]) == ["batch_normalization", "dense"]
    assert e.object_metadata["/layers/dense"]["name"] == "head"
    e.summary()
    out = capsys.readouterr().out
    assert "dense ('head')" in out and "0: shape=(4, 2), dtype=float32" in out
    kernel = np.full((4, 2), 0.5, "float32")
    e.add_weights("layers/dense", {"0": kernel})
    target = tmp_path / "edited.weights.h5"
    target.write_bytes(b"an older file")
    e.resave_weights(target)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".") or n.endswith(".tmp")]
    fresh = _model()
    fresh.load_weights(target)
    np.testing.assert_array_equal(fresh.get_layer("head").kernel.numpy(), kernel)
    np.testing.assert_array_equal(fresh.layers[1].get_weights()[3], m.layers[1].get_weights()[3])
    assert KerasFileEditor(target).compare(fresh)["status"] == "success"


def test_typed_argument_errors(tmp_path):
    with pytest.raises(ArgumentTypeError, match="file path"):
        KerasFileEditor(3)
    m = _model()
    m.save_weights(tmp_path / "m.weights.h5")
    e = KerasFileEditor(tmp_path / "m.weights.h5")
    with pytest.raises(ArgumentTypeError, match="graphc model"):
        e.compare("not a model")
    e.add_weights("dense", {"2": np.array(["text"])})
    with pytest.raises(ArgumentTypeError, match="not numeric"):
        e.save(tmp_path / "x.weights.h5")
    assert not (tmp_path / "x.weights.h5").exists()
