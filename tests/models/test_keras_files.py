"""Keras 3 files without Keras: graphc's own round trip of ``.keras`` and ``.weights.h5``,
and the refusals (code in the file, links out of it, sizes beyond the limits, shapes
that do not fit)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import graphc  # noqa: E402
from graphc.models import keras_format  # noqa: E402

L = graphc.layers
RNG = np.random.default_rng(0)


def _model():
    a, b = graphc.Input((4,), name="a"), graphc.Input((4,), name="b")
    shared = L.Dense(3, name="shared")
    y = L.Concatenate()([shared(a), shared(b)])
    y = L.BatchNormalization()(y)
    return graphc.Model([a, b], L.Dense(2, name="out")(y))


X = [RNG.standard_normal((5, 4)).astype("float32") for _ in range(2)]


def _rewrite(src, dst, config=None, weights=None):
    """Copy a .keras file, replacing its config (a function of the dict) or its weights
    (a function of the open h5 file)."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if config is not None:
        spec = json.loads(members["config.json"])
        config(spec)
        members["config.json"] = json.dumps(spec).encode()
    if weights is not None:
        buf = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buf, "a") as h:
            weights(h)
        members["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


def test_round_trip_keras_and_weights_h5(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")
    m.save_weights(tmp_path / "m.weights.h5")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert set(z.namelist()) == {"metadata.json", "config.json", "model.weights.h5"}
        spec = json.loads(z.read("config.json"))
    assert spec["class_name"] == "Functional"
    m2 = graphc.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(m2.predict(X, verbose=0), m.predict(X, verbose=0))
    for p in m2.weights:
        p.assign(np.zeros(p.shape, p.dtype))
    m2.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(m2.predict(X, verbose=0), m.predict(X, verbose=0))
    # The HDF5 tree is Keras's: layers by class name, the shared layer once.
    with h5py.File(tmp_path / "m.weights.h5") as h:
        assert h["layers/dense/vars"].attrs["name"] == "shared"
        assert h["layers/dense_1/vars"].attrs["name"] == "out"
        assert len(h["layers/batch_normalization/vars"]) == 4


def test_sequential_and_nested(tmp_path):
    inner = graphc.Sequential([L.Input((3,)), L.Dense(4), L.Dense(2)], name="inner")
    x = graphc.Input((3,))
    m = graphc.Model(x, L.Dense(1)(inner(x)))
    m.save(tmp_path / "n.keras")
    m2 = graphc.models.load_model(tmp_path / "n.keras")
    xs = RNG.standard_normal((3, 3)).astype("float32")
    np.testing.assert_array_equal(m2.predict(xs, verbose=0), m.predict(xs, verbose=0))
    with h5py.File(io.BytesIO(zipfile.ZipFile(tmp_path / "n.keras").read("model.weights.h5"))) as h:
        assert "layers/sequential/layers/dense_1/vars/1" in h


def test_model_checkpoint_writes_keras_files(tmp_path):
    m = _model()
    m.compile(optimizer="sgd", loss="mse")
    y = RNG.standard_normal((5, 2)).astype("float32")
    cbs = [
        graphc.callbacks.ModelCheckpoint(str(tmp_path / "ck.keras")),
        graphc.callbacks.ModelCheckpoint(str(tmp_path / "ck.weights.h5"), save_weights_only=True),
    ]
    m.fit(X, y, epochs=1, verbose=0, callbacks=cbs)
    m2 = graphc.models.load_model(tmp_path / "ck.keras")
    np.testing.assert_array_equal(m2.predict(X, verbose=0), m.predict(X, verbose=0))
    m2.load_weights(tmp_path / "ck.weights.h5")


def test_lambda_layer_refused_with_how_to_register(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")

    def add_lambda(spec):
        spec["config"]["layers"].insert(
            2,
            {
                "module": "keras.layers",
                "class_name": "Lambda",
                "name": "lam",
                "config": {
                    "name": "lam",
                    "function": {
                        "class_name": "__lambda__",
                        "config": {"value": "4wEAAAAAAAAA", "defaults": None, "closure": None},
                    },
                },
                "inbound_nodes": [],
            },
        )

    _rewrite(tmp_path / "m.keras", tmp_path / "lam.keras", config=add_lambda)
    with pytest.raises(keras_format.UnsafeFileError, match="register_serializable"):
        graphc.models.load_model(tmp_path / "lam.keras")


def test_lambda_function_anywhere_is_refused(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")

    def code_in_activation(spec):
        spec["config"]["layers"][-1]["config"]["activation"] = {
            "class_name": "__lambda__",
            "config": {"value": "AAAA"},
        }

    _rewrite(tmp_path / "m.keras", tmp_path / "act.keras", config=code_in_activation)
    with pytest.raises(keras_format.UnsafeFileError, match="never runs code"):
        graphc.models.load_model(tmp_path / "act.keras")


def test_module_key_is_never_imported(tmp_path, monkeypatch):
    import builtins

    m = _model()
    m.save(tmp_path / "m.keras")

    def evil_module(spec):
        for entry in spec["config"]["layers"]:
            entry["module"] = "graphc_test_evil_module"

    _rewrite(tmp_path / "m.keras", tmp_path / "mod.keras", config=evil_module)
    real_import = builtins.__import__

    def guard(name, *args, **kwargs):
        assert "evil" not in name, "a module named in the file was imported"
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guard)
    m2 = graphc.models.load_model(tmp_path / "mod.keras")  # classes by name only
    np.testing.assert_array_equal(m2.predict(X, verbose=0), m.predict(X, verbose=0))


def test_unknown_class_is_an_error(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")

    def unknown(spec):
        spec["config"]["layers"][-1]["class_name"] = "os.system"

    _rewrite(tmp_path / "m.keras", tmp_path / "u.keras", config=unknown)
    with pytest.raises(ValueError, match="Unknown layer class"):
        graphc.models.load_model(tmp_path / "u.keras")


def test_wrong_dataset_shape_refused_before_reading(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")

    def big(h):
        del h["layers/dense_1/vars/0"]
        h["layers/dense_1/vars"].create_dataset("0", shape=(3000, 2000), dtype="f4")

    _rewrite(tmp_path / "m.keras", tmp_path / "big.keras", weights=big)
    with pytest.raises(ValueError, match=r"shape \(6, 2\).*\(3000, 2000\)"):
        graphc.models.load_model(tmp_path / "big.keras")


def test_wrong_variable_count_and_non_numeric_data(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")

    def extra(h):
        h["layers/dense_1/vars"].create_dataset("2", data=np.zeros(2, "f4"))

    _rewrite(tmp_path / "m.keras", tmp_path / "extra.keras", weights=extra)
    with pytest.raises(ValueError, match="expects 2 variables"):
        graphc.models.load_model(tmp_path / "extra.keras")

    def strings(h):
        del h["layers/dense_1/vars/1"]
        h["layers/dense_1/vars"].create_dataset("1", data=np.array([b"a", b"b"]))

    _rewrite(tmp_path / "m.keras", tmp_path / "str.keras", weights=strings)
    with pytest.raises(keras_format.UnsafeFileError, match="only numeric"):
        graphc.models.load_model(tmp_path / "str.keras")


def test_external_link_refused(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")
    with h5py.File(tmp_path / "other.h5", "w") as o:
        o["0"] = np.zeros((6, 2), "f4")

    def link(h):
        del h["layers/dense_1/vars/0"]
        h["layers/dense_1/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/0")

    _rewrite(tmp_path / "m.keras", tmp_path / "link.keras", weights=link)
    with pytest.raises(keras_format.UnsafeFileError, match="link"):
        graphc.models.load_model(tmp_path / "link.keras")


def test_declared_weight_size_limited_before_allocating(tmp_path, monkeypatch):
    m = _model()
    m.save(tmp_path / "m.keras")

    def huge(spec):
        spec["config"]["layers"][-1]["config"]["units"] = 10**12

    _rewrite(tmp_path / "m.keras", tmp_path / "huge.keras", config=huge)
    with pytest.raises(ValueError, match="graphc.s limits for a loaded file"):
        graphc.models.load_model(tmp_path / "huge.keras")


def test_zip_member_size_limit(tmp_path, monkeypatch):
    m = _model()
    m.save(tmp_path / "m.keras")
    monkeypatch.setattr(keras_format, "MAX_CONFIG_BYTES", 100)
    with pytest.raises(keras_format.UnsafeFileError, match="limit"):
        graphc.models.load_model(tmp_path / "m.keras")


def test_ops_outside_layers(tmp_path):
    x = graphc.Input((3,))
    y = L.Dense(3)(x)
    m = graphc.Model(x, 1.0 - graphc.ops.relu(y * 2.0 + x))  # Keras's operation entries
    m.save(tmp_path / "op.keras")
    xs = RNG.standard_normal((4, 3)).astype("float32")
    m2 = graphc.models.load_model(tmp_path / "op.keras")
    np.testing.assert_array_equal(m2.predict(xs, verbose=0), m.predict(xs, verbose=0))
    m = graphc.Model(x, graphc.ops.sum(y, axis=-1))  # attributes: not written
    with pytest.raises(NotImplementedError, match="outside a layer"):
        m.save(tmp_path / "attrs.keras")
    m.save(tmp_path / "op.graphc")  # graphc's own format keeps it


def test_total_weight_size_limited(tmp_path, monkeypatch):
    m = _model()
    m.save(tmp_path / "m.keras")
    monkeypatch.setattr(keras_format, "MAX_TOTAL_ELEMENTS", 20)
    with pytest.raises(ValueError, match=r"in all\)"):
        graphc.models.load_model(tmp_path / "m.keras")
    monkeypatch.setattr(keras_format, "MAX_TOTAL_ELEMENTS", 10**6)
    graphc.models.load_model(tmp_path / "m.keras")


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad"])
def test_optimizer_state_in_keras_file(tmp_path, optimizer):
    """Training resumed from a .keras file takes the same steps as uninterrupted."""

    def make():
        graphc.utils.set_random_seed(3)
        x = graphc.Input((4,))
        m = graphc.Model(x, L.Dense(2)(L.Dense(5, activation="tanh")(x)))
        m.compile(optimizer=optimizer, loss="mse")
        return m

    xs = RNG.standard_normal((8, 4)).astype("float32")
    ys = RNG.standard_normal((8, 2)).astype("float32")
    a = make()
    a.fit(xs, ys, epochs=2, batch_size=8, shuffle=False, verbose=0)
    a.save(tmp_path / "a.keras")
    a.save_weights(tmp_path / "a.weights.h5")
    b = graphc.models.load_model(tmp_path / "a.keras")
    assert b._compiled.optimizer.iterations == 2
    c = make()
    c.fit(xs, ys, epochs=1, batch_size=8, shuffle=False, verbose=0)  # builds, then replaced
    c.load_weights(tmp_path / "a.weights.h5")
    assert c._compiled.optimizer.iterations == 2
    for m in (a, b, c):
        m.fit(xs, ys, epochs=2, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(b.predict(xs, verbose=0), a.predict(xs, verbose=0), atol=1e-6)
    np.testing.assert_allclose(c.predict(xs, verbose=0), a.predict(xs, verbose=0), atol=1e-6)


def test_legacy_h5_without_config_or_matching_layers(tmp_path):
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as h:
        h.attrs["layer_names"] = [b"dense"]
        h.create_group("dense").attrs["weight_names"] = [b"dense/kernel:0"]
    with pytest.raises(ValueError, match="no model config"):
        graphc.models.load_model(path)
    with pytest.raises(ValueError, match="1 layers"):
        _model().load_weights(path)


def test_assets_are_refused(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras", "a") as z:
        z.writestr("assets/text_vectorization/vocabulary.txt", "the\ncat\n")
    with pytest.raises(ValueError, match="vocabulary"):
        graphc.models.load_model(tmp_path / "m.keras")


def test_weight_file_larger_than_the_model_justifies(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")

    def padding(h):
        h.create_dataset("junk", data=np.zeros(2**20, "f8"))  # 8 MiB no weight needs

    _rewrite(tmp_path / "m.keras", tmp_path / "pad.keras", weights=padding)
    with pytest.raises(keras_format.UnsafeFileError, match="limit"):
        graphc.models.load_model(tmp_path / "pad.keras")


def test_deeply_nested_config(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        members = {n: z.read(n) for n in z.namelist()}
    depth = 100000
    members["config.json"] = (
        '{"class_name": "Functional", "config": ' + '{"x": ' * depth + "{}" + "}" * depth + "}"
    ).encode()
    with zipfile.ZipFile(tmp_path / "deep.keras", "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.raises(keras_format.UnsafeFileError, match="nested too deeply"):
        graphc.models.load_model(tmp_path / "deep.keras")


def test_keras2_style_legacy_h5(tmp_path):
    """A file in tf.keras 2's layout: `batch_input_shape`, calls as nested lists, weight
    names with `:0`, an LSTM's `implementation`."""
    config = {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "input_1",
                    "inbound_nodes": [],
                    "config": {
                        "batch_input_shape": [None, 3, 2],
                        "dtype": "float32",
                        "sparse": False,
                        "ragged": False,
                        "name": "input_1",
                    },
                },
                {
                    "class_name": "LSTM",
                    "name": "lstm",
                    "config": {
                        "name": "lstm",
                        "trainable": True,
                        "dtype": "float32",
                        "units": 4,
                        "return_sequences": False,
                        "implementation": 2,
                        "time_major": False,
                        "unit_forget_bias": True,
                    },
                    "inbound_nodes": [[["input_1", 0, 0, {}]]],
                },
                {
                    "class_name": "Dense",
                    "name": "dense",
                    "config": {
                        "name": "dense",
                        "units": 1,
                        "activation": "sigmoid",
                        "kernel_initializer": {
                            "class_name": "GlorotUniform",
                            "config": {"seed": None},
                        },
                    },
                    "inbound_nodes": [[["lstm", 0, 0, {}]]],
                },
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense", 0, 0]],
        },
    }
    rng = np.random.default_rng(1)
    w = {
        "lstm": [
            ("lstm/lstm_cell/kernel:0", (2, 16)),
            ("lstm/lstm_cell/recurrent_kernel:0", (4, 16)),
            ("lstm/lstm_cell/bias:0", (16,)),
        ],
        "dense": [("dense/kernel:0", (4, 1)), ("dense/bias:0", (1,))],
    }
    values = {}
    with h5py.File(tmp_path / "k2.h5", "w") as h:
        h.attrs["model_config"] = json.dumps(config)
        h.attrs["keras_version"] = "2.13.1"
        g = h.create_group("model_weights")
        g.attrs["layer_names"] = [b"input_1", b"lstm", b"dense"]
        g.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for layer, items in w.items():
            lg = g.create_group(layer)
            lg.attrs["weight_names"] = [n.encode() for n, _ in items]
            for n, shape in items:
                values[n] = rng.standard_normal(shape).astype("float32")
                lg.create_dataset(n, data=values[n])
    m = graphc.models.load_model(tmp_path / "k2.h5")
    x = rng.standard_normal((4, 3, 2)).astype("float32")
    ref = graphc.Sequential([graphc.Input((3, 2)), L.LSTM(4), L.Dense(1, activation="sigmoid")])
    ref.set_weights([values[n] for items in w.values() for n, _ in items])
    np.testing.assert_allclose(m.predict(x, verbose=0), ref.predict(x, verbose=0), atol=1e-6)
    m2 = graphc.models.load_model(tmp_path / "k2.h5")
    for p in m2.weights:
        p.assign(np.zeros(p.shape, p.dtype))
    m2.load_weights(tmp_path / "k2.h5")
    np.testing.assert_allclose(m2.predict(x, verbose=0), ref.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_legacy_h5_round_trip_resumes_training(tmp_path, optimizer):
    """``model.save("m.h5")`` writes Keras's legacy layout (shared layers once, groups by
    layer name, ``optimizer_weights``); loading it back resumes training exactly."""
    m = _model()
    m.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    y = RNG.standard_normal((5, 2)).astype("float32")
    m.fit(X, y, epochs=2, batch_size=5, shuffle=False, verbose=0)
    m.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as h:
        g = h["model_weights"]
        assert [n.decode() for n in g.attrs["layer_names"]] == [layer.name for layer in m.layers]
        assert [n.decode() for n in g["shared"].attrs["weight_names"]] == [
            "shared/kernel",
            "shared/bias",
        ]
        assert json.loads(h.attrs["training_config"])["optimizer_config"]["class_name"] in (
            "Adam",
            "RMSprop",
        )
        assert "optimizer_weights" in h
    m2 = graphc.models.load_model(tmp_path / "m.h5")
    assert m2._compiled.optimizer.iterations == 2
    for each in (m, m2):
        each.fit(X, y, epochs=1, batch_size=5, shuffle=False, verbose=0)
    np.testing.assert_array_equal(m2.predict(X, verbose=0), m.predict(X, verbose=0))
    assert graphc.models.load_model(tmp_path / "m.h5", compile=False)._compiled is None


def test_model_checkpoint_writes_legacy_h5(tmp_path):
    m = _model()
    m.compile(optimizer="sgd", loss="mse")
    y = RNG.standard_normal((5, 2)).astype("float32")
    m.fit(
        X,
        y,
        epochs=1,
        verbose=0,
        callbacks=[graphc.callbacks.ModelCheckpoint(str(tmp_path / "ck.h5"))],
    )
    np.testing.assert_array_equal(
        graphc.models.load_model(tmp_path / "ck.h5").predict(X, verbose=0), m.predict(X, verbose=0)
    )


def test_multi_optimizer_state_round_trips_in_keras_layout(tmp_path):
    opts = graphc.optimizers
    inputs = graphc.Input((4,))
    h = L.Dense(3, name="encoder")(inputs)
    model = graphc.Model(inputs, L.Dense(2, name="head")(h))
    multi = opts.MultiOptimizer(
        opts.OptimizerMap(opts.SGD(0.1, momentum=0.9), {"encoder/.*": opts.Adam(0.01)})
    )
    model.compile(optimizer=multi, loss="mse")
    x, y = X[0], RNG.standard_normal((5, 2)).astype("float32")
    model.fit(x, y, epochs=3, batch_size=5, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        with h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
            # own (iteration, learning rate), Adam's 2 + 2 x 2, SGD's 2 + 2
            assert len(f["optimizer/vars"]) == 2 + 6 + 4
            assert len(f["optimizer/optimizers/adam/vars"]) == 6
            assert len(f["optimizer/optimizers/sgd/vars"]) == 4
            assert int(f["optimizer/vars/0"][()]) == 3
    loaded = graphc.models.load_model(tmp_path / "m.keras")
    loaded._param_store()
    want, got = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, err_msg=k)
    assert [o.iterations for o in loaded.optimizer.optimizers] == [3, 3]
    model.fit(x, y, epochs=1, batch_size=5, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=5, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), 1e-6)
