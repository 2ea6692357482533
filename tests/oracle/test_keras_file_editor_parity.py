"""graphc.saving.KerasFileEditor on files Keras 3 wrote (torch backend): the same weight
tree as Keras's own editor, and an edited file that Keras loads back with the edit."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc.errors import ArgumentValueError, FileFormatError  # noqa: E402
from graphc.models.keras_format import UnsafeFileError  # noqa: E402
from graphc.saving import KerasFileEditor  # noqa: E402


def _keras_model(lstm=True):
    inp = keras.Input((5, 3))
    x = keras.layers.LSTM(4)(inp) if lstm else keras.layers.Flatten()(inp)
    x = keras.layers.Dense(6, activation="relu")(x)
    out = keras.layers.Dense(2, name="head")(x)
    return keras.Model(inp, out)


def _graphc_model():
    inp = graphc.Input((5, 3))
    x = graphc.layers.LSTM(4)(inp)
    x = graphc.layers.Dense(6, activation="relu")(x)
    return graphc.Model(inp, graphc.layers.Dense(2, name="head")(x))


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}/{k}"))
        else:
            out[f"{prefix}/{k}"] = np.asarray(v)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("editor")
    keras.utils.set_random_seed(0)
    m = _keras_model()
    m.compile("adam", "mse")
    m.fit(np.ones((4, 5, 3)), np.ones((4, 2)), verbose=0)
    m.save(root / "m.keras")
    m.save_weights(root / "m.weights.h5")
    flat = _keras_model(lstm=False)
    flat.save(root / "flat.keras")
    return root, m


def test_same_tree_as_keras_editor(files, capsys):
    root, _ = files
    # Keras's editor is right where a layer has no sub-objects (no LSTM cell)
    for name in ("flat.keras", "m.keras", "m.weights.h5"):
        g = KerasFileEditor(str(root / name))
        k = keras.saving.KerasFileEditor(str(root / name))
        gf, kf = _flat(g.weights_dict), _flat(k.weights_dict)
        if name == "flat.keras":
            assert gf.keys() == kf.keys()
        else:  # Keras 3.15 drops the LSTM's cell: graphc has it in addition
            assert set(kf) < set(gf)
            assert {p for p in gf if p not in kf} == {f"/layers/lstm/cell/{i}" for i in range(3)}
        for p in kf:
            np.testing.assert_array_equal(gf[p], kf[p])
            assert gf[p].dtype == kf[p].dtype
        assert g.metadata == k.metadata
        assert g.config == k.config
        for path, meta in k.object_metadata.items():
            assert g.object_metadata[path] == meta
    out = capsys.readouterr().out
    assert "Keras model file" in out and "Saved with Keras 3." in out


def test_edit_save_and_load_back_in_keras(files, tmp_path, capsys):
    root, m = files
    e = KerasFileEditor(root / "m.keras")
    e.summary()
    assert "dense_1 ('head')" in capsys.readouterr().out
    kernel = np.arange(12, dtype="float32").reshape(6, 2)
    e.add_weights("layers/dense_1", {"0": kernel})  # replace the head's kernel
    e.delete_object("optimizer")
    e.save(tmp_path / "edited.weights.h5")
    k = _keras_model()
    k.load_weights(tmp_path / "edited.weights.h5")
    np.testing.assert_array_equal(k.get_layer("head").kernel.numpy(), kernel)
    for a, b in zip(k.layers[1].get_weights(), m.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)  # the cell's weights survive the round trip
    x = np.random.default_rng(0).normal(size=(3, 5, 3)).astype("float32")
    # graphc loads the same file into the same model and predicts as Keras does
    g = _graphc_model()
    g.load_weights(tmp_path / "edited.weights.h5")
    np.testing.assert_allclose(
        g.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    # Keras's own editor reads graphc's file to the same weights
    again = keras.saving.KerasFileEditor(str(tmp_path / "edited.weights.h5"))
    np.testing.assert_array_equal(again.weights_dict["layers"]["dense_1"]["0"], kernel)


def test_compare_rename_delete(files, capsys):
    root, _ = files
    e = KerasFileEditor(root / "m.weights.h5")
    e.delete_object("optimizer")
    assert e.compare(_graphc_model()) == {"status": "success", "error_count": 0, "match_count": 7}
    e.rename_object("dense_1", "head_renamed")
    e.delete_weight("layers/dense", "1")
    result = e.compare(_graphc_model())
    assert result["status"] == "error" and result["error_count"] == 3
    out = capsys.readouterr().out
    assert "...Weight /layers/dense/1 present in reference model, missing from saved file" in out
    e.add_object("layers/dense_1", {"0": np.zeros((6, 2)), "1": np.zeros(2)})
    e.delete_object("head_renamed")
    e.add_weights("dense", {"1": np.zeros(6, "float32")})
    assert e.compare(_graphc_model())["status"] == "success"
    with pytest.raises(ArgumentValueError, match="does not appear"):
        e.delete_object("nope")
    with pytest.raises(ArgumentValueError, match="more than once"):
        e.delete_weight("0", "x")  # "0" names a weight in several objects
    with pytest.raises(ArgumentValueError, match="not found in model"):
        e.add_object("layers/missing/x", {})
    with pytest.raises(ArgumentValueError, match="should be a dict"):
        e.add_weights("dense", [1])
    with pytest.raises(ArgumentValueError, match="leaf name"):
        e.rename_object("dense", "a/b")
    with pytest.raises(ArgumentValueError, match=r"\.weights\.h5"):
        e.save(root / "x.keras")


def test_refuses_bad_and_unsafe_files(tmp_path):
    with pytest.raises(ArgumentValueError, match="Invalid filename"):
        KerasFileEditor(str(tmp_path / "model.h5"))
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError):
        KerasFileEditor(bad)
    linked = tmp_path / "linked.weights.h5"
    with h5py.File(linked, "w") as h:
        h.create_group("layers/dense/vars").create_dataset("0", data=np.ones(3))
        h["layers/alias"] = h5py.SoftLink("/layers/dense")
    with pytest.raises(UnsafeFileError, match="SoftLink"):
        KerasFileEditor(linked)
    strings = tmp_path / "strings.weights.h5"
    with h5py.File(strings, "w") as h:
        h.create_group("layers/dense/vars").create_dataset("0", data=np.array([b"x"]))
    with pytest.raises(UnsafeFileError, match="only numeric"):
        KerasFileEditor(strings)
