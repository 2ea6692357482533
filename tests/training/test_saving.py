"""Saving and loading: ``.graphc`` round trips, ``.weights.npz``, JSON, layer configs,
custom layers, no pickle, atomic writes."""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest

import graphc
from graphc import layers, ops, optimizers
from graphc.errors import GraphcError
from graphc.models import load_model, model_from_json


@graphc.saving.register_serializable(package="TestSaving")
class AddPair(layers.Layer):
    def call(self, inputs):
        return ops.add(inputs[0], inputs[1])


@graphc.saving.register_serializable(package="TestSaving")
class Scale(layers.Layer):
    """A custom layer with a weight and a config argument."""

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = float(offset)

    def build(self, input_shape):
        self.s = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="s")

    def call(self, x):
        return ops.add(ops.multiply(x, self.s), np.float32(self.offset))

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


class Unregistered(layers.Layer):
    def call(self, x):
        return ops.multiply(x, np.float32(2.0))


# ---- models ------------------------------------------------------------------------------
def _sequential(seed=0):
    graphc.utils.set_random_seed(seed)
    model = graphc.Sequential(
        [
            layers.Reshape((4, 2), input_shape=(8,)),
            layers.Dense(3, activation="elu"),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(5, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=optimizers.RMSprop(0.003, momentum=0.5),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _sequential_data(n=24, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8)).astype(np.float32), rng.integers(0, 5, n)


def _functional(seed=2):
    """Two inputs, two outputs, a shared layer and a nested model called twice."""
    graphc.utils.set_random_seed(seed)
    ii = graphc.Input(shape=(4,))
    inner = graphc.Model(ii, layers.Dense(3, activation="relu")(ii), name="inner")
    a = graphc.Input(shape=(4,), name="a")
    b = graphc.Input(shape=(4,), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    h = AddPair(name="merge")([inner(shared(a)), inner(shared(b))])
    score = layers.Dense(1, name="score")(h)
    label = layers.Dense(2, activation="softmax", name="label")(h)
    model = graphc.Model([a, b], [score, label], name="two_by_two")
    model.compile(
        optimizer=optimizers.Adam(0.01),
        loss={"score": "mse", "label": "sparse_categorical_crossentropy"},
        loss_weights={"score": 0.5, "label": 2.0},
        metrics={"label": ["accuracy"]},
    )
    return model


def _functional_data(n=20, seed=3):
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((n, 4)).astype(np.float32) for _ in range(2)]
    y = [rng.standard_normal((n, 1)).astype(np.float32), rng.integers(0, 2, n)]
    return x, y


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape and u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


def _flat(pred):
    return pred if isinstance(pred, list) else [pred]


# ---- .graphc round trips ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_save_load_round_trip(tmp_path, kind):
    model = _sequential() if kind == "sequential" else _functional()
    x, y = _sequential_data() if kind == "sequential" else _functional_data()
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "model.graphc"
    model.save(str(path))
    loaded = load_model(str(path))
    assert type(loaded) is type(model)
    assert loaded.name == model.name
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert [p.path for p in loaded.weights] == [p.path for p in model.weights]
    _same(loaded.get_weights(), model.get_weights())
    assert loaded.count_params() == model.count_params()
    _same(_flat(loaded.predict(x, verbose=0)), _flat(model.predict(x, verbose=0)))
    # the compile configuration came along: same numbers without recompiling
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.learning_rate == pytest.approx(model.optimizer.learning_rate)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(
        x, y, verbose=0, return_dict=True
    )
    # and it trains on
    hist = loaded.fit(x, y, epochs=1, verbose=0)
    assert set(hist.history) == set(model.evaluate(x, y, verbose=0, return_dict=True))


def test_functional_structure_survives(tmp_path):
    model = _functional()
    path = tmp_path / "f.graphc"
    model.save(str(path))
    loaded = load_model(str(path))
    assert loaded.input_names == ["a", "b"] and loaded.output_names == ["score", "label"]
    assert len(loaded.trainable_weights) == len(model.trainable_weights) == 8
    inner = loaded.get_layer("inner")
    assert isinstance(inner, graphc.Model)
    # the shared layer and the nested model are still shared: one weight set each
    loaded.get_layer("shared").kernel.assign(np.zeros((4, 4), np.float32))
    x, _ = _functional_data()
    p = loaded.predict(x, verbose=0)
    # with the shared kernel zero, both branches see the same constant: inputs don't matter
    x2 = [x[0] * 0 + 7, x[1] * 0 - 3]
    _same(_flat(loaded.predict(x2, verbose=0)), _flat(p))
    assert loaded.get_config() == model.get_config()


def test_saving_keeps_trainable_flags_and_the_optimizer_config(tmp_path):
    model = _sequential(seed=4)
    model.layers[1].trainable = False
    model.compile(
        optimizer=optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
        loss="sparse_categorical_crossentropy",
    )
    path = tmp_path / "m.graphc"
    model.save(str(path))
    loaded = load_model(str(path))
    assert not loaded.layers[1].trainable
    assert len(loaded.non_trainable_weights) == 2
    opt = loaded.optimizer
    assert type(opt).__name__ == "SGD"
    assert (opt.learning_rate, opt.momentum, opt.nesterov, opt.clipnorm) == pytest.approx(
        (0.05, 0.9, True, 1.0)
    )
    x, y = _sequential_data()
    frozen = loaded.layers[1].get_weights()
    loaded.fit(x, y, epochs=1, verbose=0)
    _same(loaded.layers[1].get_weights(), frozen)


def _adam_mlp(seed=11):
    graphc.utils.set_random_seed(seed)
    inp = graphc.Input(shape=(8,))
    h = layers.Dense(6, activation="relu")(inp)
    model = graphc.Model(inp, layers.Dense(5, activation="softmax")(h))
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def test_training_resumes_with_the_saved_optimizer_state(tmp_path):
    x, y = _sequential_data()
    model = _adam_mlp()
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    path = tmp_path / "m.graphc"
    model.save(str(path))
    with zipfile.ZipFile(path) as z:
        assert "optimizer.npz" in z.namelist()
    loaded = load_model(str(path))
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    _same(loaded.get_weights(), model.get_weights())
    # Without the state (Adam's moments and step restarting) the weights would differ.
    fresh = load_model(str(path))
    fresh.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    fresh.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert not np.array_equal(fresh.get_weights()[0], model.get_weights()[0])


@graphc.saving.register_serializable(package="TestSaving")
class DenseBlock(layers.Layer):
    """A custom layer with a sub-layer: reloading it makes a new, differently named Dense."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = layers.Dense(units, activation="tanh")

    def call(self, x):
        return self.inner(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_optimizer_state_survives_renamed_sub_layers(tmp_path):
    graphc.utils.set_random_seed(12)
    inp = graphc.Input(shape=(8,))
    model = graphc.Model(inp, layers.Dense(5, activation="softmax")(DenseBlock()(inp)))
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x, y = _sequential_data()
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    model.save(str(tmp_path / "block.graphc"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "does not fit" warning
        loaded = load_model(str(tmp_path / "block.graphc"))
    assert [p.path for p in loaded.weights] != [p.path for p in model.weights]
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    _same(loaded.get_weights(), model.get_weights())


def test_no_optimizer_state_before_training_or_without_compile(tmp_path):
    model = _adam_mlp()
    model.save(str(tmp_path / "new.graphc"))
    with zipfile.ZipFile(tmp_path / "new.graphc") as z:
        assert "optimizer.npz" not in z.namelist()
    assert load_model(str(tmp_path / "new.graphc")).optimizer.iterations == 0
    model.fit(*_sequential_data(), epochs=1, verbose=0)
    model.save(str(tmp_path / "trained.graphc"))
    plain = load_model(str(tmp_path / "trained.graphc"), compile=False)
    assert plain.optimizer is None
    _same(plain.get_weights(), model.get_weights())


def test_optimizer_state_that_does_not_fit_warns_and_starts_fresh(tmp_path):
    model = _adam_mlp()
    x, y = _sequential_data()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.graphc"
    model.save(str(path))
    # Rewrite the file with one slot array missing, as a hand-edited file might be.
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    state = np.load(io.BytesIO(entries["optimizer.npz"]), allow_pickle=False)
    kept = {k: state[k] for k in state.files if not k.startswith("momentum/")}
    buf = io.BytesIO()
    np.savez(buf, **kept)
    entries["optimizer.npz"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in entries.items():
            z.writestr(n, data)
    with pytest.warns(UserWarning, match="fresh optimizer state"):
        loaded = load_model(str(path))
    _same(loaded.get_weights(), model.get_weights())
    assert loaded.optimizer.iterations == 0
    loaded.fit(x, y, epochs=1, verbose=0)  # still trains


def test_load_model_compile_false_and_uncompiled_models(tmp_path):
    model = _sequential(seed=5)
    model.save(str(tmp_path / "c.graphc"))
    plain = load_model(str(tmp_path / "c.graphc"), compile=False)
    assert plain.optimizer is None
    with pytest.raises(ValueError, match="compile"):
        plain.evaluate(*_sequential_data(), verbose=0)
    graphc.utils.set_random_seed(6)
    inp = graphc.Input(shape=(3,))
    raw = graphc.Model(inp, layers.Dense(2)(inp))
    raw.save(str(tmp_path / "raw.graphc"))
    again = load_model(str(tmp_path / "raw.graphc"))
    assert again.optimizer is None
    _same(again.get_weights(), raw.get_weights())


def _my_loss(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def test_custom_loss_function_needs_custom_objects(tmp_path):
    model = _sequential(seed=7)
    model.compile(optimizer="sgd", loss=_my_loss)
    model.save(str(tmp_path / "m.graphc"))
    with pytest.raises(ValueError, match="_my_loss"):
        load_model(str(tmp_path / "m.graphc"))
    plain = load_model(str(tmp_path / "m.graphc"), compile=False)
    _same(plain.get_weights(), model.get_weights())


def test_custom_loss_function_loads_with_custom_objects(tmp_path):
    model = _sequential(seed=7)
    model.compile(optimizer="sgd", loss=_my_loss)
    model.save(str(tmp_path / "m.graphc"))
    loaded = load_model(str(tmp_path / "m.graphc"), custom_objects={"_my_loss": _my_loss})
    x, y = _sequential_data()
    onehot = np.eye(5, dtype=np.float32)[y]
    assert loaded.evaluate(x, onehot, verbose=0) == model.evaluate(x, onehot, verbose=0)


# ---- weights files ------------------------------------------------------------------------
def test_save_and_load_weights(tmp_path):
    model = _functional(seed=8)
    x, y = _functional_data()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "w.weights.npz"
    model.save_weights(str(path))
    with np.load(path, allow_pickle=False) as data:
        assert len(data.files) == len(model.weights)
    other = _functional(seed=9)
    assert not np.array_equal(other.get_weights()[0], model.get_weights()[0])
    other.load_weights(str(path))
    _same(other.get_weights(), model.get_weights())
    _same(_flat(other.predict(x, verbose=0)), _flat(model.predict(x, verbose=0)))
    # after loading, training the loaded model goes through its own buffer
    other.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(other.get_weights()[0], model.get_weights()[0])
    # a .graphc file can be a weights source too
    model.save(str(tmp_path / "m.graphc"))
    third = _functional(seed=10)
    third.load_weights(str(tmp_path / "m.graphc"))
    _same(third.get_weights(), model.get_weights())


def test_weights_file_must_end_in_weights_npz(tmp_path):
    model = _sequential(seed=11)
    for bad in ("w.npz", "w.h5", "w.weights"):
        with pytest.raises(ValueError, match=r"\.weights\.h5.*\.weights\.npz"):
            model.save_weights(str(tmp_path / bad))
    with pytest.raises(ValueError, match=r"\.keras.*\.graphc"):
        model.save(str(tmp_path / "m.npz"))
    assert os.listdir(tmp_path) == []


def test_overwrite_false(tmp_path):
    model = _sequential(seed=12)
    path = tmp_path / "m.graphc"
    model.save(str(path))
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        model.save(str(path), overwrite=False)
    model.save_weights(str(tmp_path / "w.weights.npz"))
    with pytest.raises(FileExistsError):
        model.save_weights(str(tmp_path / "w.weights.npz"), overwrite=False)
    assert path.read_bytes() == before


def test_loading_weights_into_the_wrong_model_changes_nothing(tmp_path):
    model = _sequential(seed=13)
    model.save_weights(str(tmp_path / "w.weights.npz"))
    other = _functional(seed=14)
    before = other.get_weights()
    with pytest.raises(ValueError, match="w.weights.npz"):
        other.load_weights(str(tmp_path / "w.weights.npz"))
    _same(other.get_weights(), before)


# ---- JSON and configs --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_to_json_and_model_from_json(kind):
    model = _sequential(seed=15) if kind == "sequential" else _functional(seed=15)
    text = model.to_json()
    assert json.loads(text)["class_name"] in ("Sequential", "Functional")
    rebuilt = model_from_json(text)
    assert rebuilt.to_json() == text
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
    assert rebuilt.optimizer is None  # architecture only, as Keras
    rebuilt.set_weights(model.get_weights())
    x = _sequential_data()[0] if kind == "sequential" else _functional_data()[0]
    _same(_flat(rebuilt.predict(x, verbose=0)), _flat(model.predict(x, verbose=0)))
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()


def _int_input(shape):
    return graphc.Input(shape=shape, dtype="int32")


# (kwargs, input shape per sample, or a list of them for merge layers)
LAYER_CASES = {
    "ConvLSTM1D": ({"filters": 2, "kernel_size": 3, "padding": "same"}, (3, 6, 2)),
    "ConvLSTM2D": ({"filters": 2, "kernel_size": 2, "return_sequences": True}, (2, 4, 4, 1)),
    "ConvLSTM3D": ({"filters": 2, "kernel_size": 2, "strides": 2}, (2, 4, 4, 4, 1)),
    "Dense": (
        {"units": 3, "activation": "relu", "use_bias": False, "kernel_initializer": "he_normal"},
        (4,),
    ),
    "Activation": ({"activation": "softsign"}, (4,)),
    "Dropout": ({"rate": 0.3, "seed": 7}, (4,)),
    "Flatten": ({}, (2, 3)),
    "Reshape": ({"target_shape": (3, 2)}, (6,)),
    "Identity": ({}, (4,)),
    "Masking": ({"mask_value": 0.5}, (3, 4)),
    "Permute": ({"dims": (2, 1)}, (2, 3)),
    "RepeatVector": ({"n": 3}, (4,)),
    "Embedding": ({"input_dim": 10, "output_dim": 3}, "int5"),
    "Conv1D": ({"filters": 2, "kernel_size": 3, "padding": "same"}, (8, 3)),
    "Conv2D": ({"filters": 2, "kernel_size": 3, "strides": 2}, (7, 7, 2)),
    "Conv1DTranspose": ({"filters": 2, "kernel_size": 3, "strides": 2}, (5, 3)),
    "Conv2DTranspose": (
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
        (4, 4, 2),
    ),
    "Conv3DTranspose": ({"filters": 2, "kernel_size": 2}, (2, 3, 2, 2)),
    "UpSampling1D": ({"size": 3}, (4, 2)),
    "UpSampling2D": ({"size": (2, 3)}, (3, 3, 2)),
    "DepthwiseConv1D": ({"kernel_size": 3, "depth_multiplier": 2}, (8, 3)),
    "DepthwiseConv2D": ({"kernel_size": 3, "padding": "same"}, (6, 6, 2)),
    "SeparableConv1D": ({"filters": 2, "kernel_size": 3, "strides": 2}, (8, 3)),
    "SeparableConv2D": ({"filters": 3, "kernel_size": 2, "depth_multiplier": 2}, (6, 6, 2)),
    "MaxPooling1D": ({"pool_size": 2}, (8, 3)),
    "MaxPooling2D": ({"pool_size": 2}, (6, 6, 2)),
    "AveragePooling1D": ({"pool_size": 2}, (8, 3)),
    "AveragePooling2D": ({"pool_size": 2}, (6, 6, 2)),
    "GlobalMaxPooling1D": ({}, (8, 3)),
    "GlobalMaxPooling2D": ({}, (6, 6, 2)),
    "GlobalAveragePooling1D": ({}, (8, 3)),
    "GlobalAveragePooling2D": ({}, (6, 6, 2)),
    "BatchNormalization": ({"momentum": 0.9}, (4,)),
    "LayerNormalization": ({"epsilon": 1e-4}, (4,)),
    "SimpleRNN": ({"units": 3}, (5, 2)),
    "LSTM": ({"units": 3, "return_sequences": True}, (5, 2)),
    "GRU": ({"units": 3, "go_backwards": True}, (5, 2)),
    "Add": ({}, [(4,), (4,)]),
    "Subtract": ({}, [(4,), (4,)]),
    "Multiply": ({}, [(4,), (4,)]),
    "Average": ({}, [(4,), (4,)]),
    "Maximum": ({}, [(4,), (4,)]),
    "Minimum": ({}, [(4,), (4,)]),
    "Concatenate": ({"axis": -1}, [(4,), (3,)]),
    "Dot": ({"axes": -1}, [(4,), (4,)]),
    "ReLU": ({"max_value": 6.0}, (4,)),
    "LeakyReLU": ({"negative_slope": 0.1}, (4,)),
    "Softmax": ({}, (4,)),
    "MultiHeadAttention": (
        {"num_heads": 2, "key_dim": 3, "value_dim": 2, "output_shape": 5, "use_gate": True},
        [(4, 3), (5, 2)],
    ),
    "GroupedQueryAttention": (
        {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2, "use_gate": True},
        [(4, 3), (5, 3)],
    ),
    "ReversibleEmbedding": (
        {"input_dim": 10, "output_dim": 3, "tie_weights": False, "logit_soft_cap": 2.0},
        "int5",
    ),
    "ELU": ({"alpha": 0.5}, (4,)),
    "OpLayer": ({"op": "multiply", "constants": {1: 2.5}}, (4,)),
    "Rescaling": ({"scale": [0.5, 2.0], "offset": 1.0}, (3, 3, 2)),
    "Normalization": ({"axis": -1, "mean": [0.5, 2.0], "variance": [1.0, 4.0]}, (3, 3, 2)),
    "RandomFlip": ({"mode": "vertical", "seed": 3}, (4, 5, 2)),
    "RandomRotation": ({"factor": (-0.1, 0.2), "fill_mode": "constant"}, (4, 5, 2)),
    "RandomPerspective": ({"factor": (0.2, 0.8), "scale": 0.5, "fill_value": 1.0}, (4, 5, 2)),
    "RandomElasticTransform": (
        {"scale": (0.1, 0.4), "fill_mode": "mirror", "value_range": (0, 1)},
        (6, 5, 2),
    ),
    "RandomZoom": ({"height_factor": 0.2, "width_factor": 0.1}, (4, 5, 2)),
    "RandomTranslation": (
        {"height_factor": 0.1, "width_factor": 0.2, "interpolation": "nearest"},
        (4, 5, 2),
    ),
    "Cropping1D": ({"cropping": (2, 1)}, (5, 2)),
    "Cropping2D": ({"cropping": [[1, 0], [0, 2]]}, (4, 5, 2)),
    "Cropping3D": (
        {"cropping": [[1, 0], [0, 1], [1, 1]], "data_format": "channels_last"},
        (3, 3, 4, 2),
    ),
    "ZeroPadding1D": ({"padding": (2, 1)}, (3, 2)),
    "ZeroPadding2D": ({"padding": [[1, 0], [0, 2]]}, (3, 3, 2)),
    "ZeroPadding3D": ({"padding": [[1, 0], [0, 1], [1, 1]]}, (2, 2, 2, 1)),
    "UpSampling3D": ({"size": (2, 1, 2)}, (2, 2, 2, 1)),
    "UnitNormalization": ({"axis": -1}, (4,)),
    "RMSNormalization": ({"axis": -1, "epsilon": 1e-4}, (4,)),
    "PReLU": ({"alpha_initializer": "random_normal", "shared_axes": [1]}, (3, 4)),
    "SpatialDropout1D": ({"rate": 0.3, "seed": 2}, (3, 4)),
    "SpatialDropout2D": ({"rate": 0.3}, (3, 3, 2)),
    "SpatialDropout3D": ({"rate": 0.3}, (2, 2, 2, 2)),
    "GaussianNoise": ({"stddev": 0.2, "seed": 1}, (4,)),
    "GaussianDropout": ({"rate": 0.3}, (4,)),
    "AlphaDropout": ({"rate": 0.2, "noise_shape": (None, 1)}, (3, 4)),
    "Attention": ({"use_scale": True, "score_mode": "concat"}, [(3, 4), (5, 4)]),
    "AdditiveAttention": ({"use_scale": True}, [(3, 4), (5, 4)]),
    "EinsumDense": (
        {"equation": "abc,cde->abde", "output_shape": (None, 2, 3), "bias_axes": "de"},
        (3, 4),
    ),
    "MaxPooling3D": ({"pool_size": 2}, (4, 4, 4, 2)),
    "AveragePooling3D": ({"pool_size": 2, "padding": "same"}, (3, 4, 4, 2)),
    "GlobalMaxPooling3D": ({"keepdims": True}, (3, 4, 4, 2)),
    "GlobalAveragePooling3D": ({}, (3, 4, 4, 2)),
    "AdaptiveAveragePooling1D": ({"output_size": 3}, (8, 2)),
    "AdaptiveAveragePooling2D": ({"output_size": (2, 3)}, (5, 7, 2)),
    "AdaptiveAveragePooling3D": ({"output_size": 2}, (3, 4, 5, 2)),
    "AdaptiveMaxPooling1D": ({"output_size": 3}, (8, 2)),
    "AdaptiveMaxPooling2D": ({"output_size": (2, 3)}, (5, 7, 2)),
    "AdaptiveMaxPooling3D": ({"output_size": 2}, (3, 4, 5, 2)),
    "Conv3D": ({"filters": 2, "kernel_size": 2}, (3, 3, 3, 2)),
    "ActivityRegularization": ({"l1": 0.01, "l2": 0.1}, (4,)),
    "GroupNormalization": ({"groups": 2}, (3, 4)),
    "Resizing": ({"height": 3, "width": 5}, (4, 6, 2)),
    "CenterCrop": ({"height": 3, "width": 2}, (4, 6, 2)),
    "CategoryEncoding": ({"num_tokens": 10, "output_mode": "count"}, "int5"),
    "RandomCrop": ({"height": 3, "width": 4, "seed": 5}, (6, 7, 3)),
    "RandomContrast": ({"factor": [0, 0.3], "value_range": [0, 1]}, (4, 5, 3)),
    "RandomBrightness": ({"factor": [-0.2, 0.1]}, (4, 5, 3)),
    "RandomGrayscale": ({"factor": 0.3}, (4, 5, 3)),
    "RandomHue": ({"factor": [0, 0.2], "seed": 4}, (4, 5, 3)),
    "RandomSaturation": ({"factor": [0.2, 0.7]}, (4, 5, 3)),
    "RandomColorDegeneration": ({"factor": [-0.5, 0.5]}, (4, 5, 3)),
    "RandomColorJitter": ({"brightness_factor": 0.1, "hue_factor": 0.2}, (4, 5, 3)),
    "RandomInvert": ({"factor": [0, 0.5]}, (4, 5, 3)),
    "RandomPosterization": ({"factor": [2, 6]}, (4, 5, 3)),
    "Solarization": ({"addition_factor": [0, 0.1], "threshold_factor": [0.2, 0.5]}, (4, 5, 3)),
    "RandomSharpness": ({"factor": [0, 0.4]}, (4, 5, 3)),
    "AutoContrast": ({"value_range": [0, 1]}, (4, 5, 3)),
    "Equalization": ({"bins": 64}, (4, 5, 3)),
    "MixUp": ({"alpha": 0.4, "seed": 2}, (4, 5, 3)),
    "CutMix": ({"factor": [0.2, 0.9]}, (4, 5, 3)),
    "RandAugment": ({"num_ops": 3, "factor": [0, 0.3], "value_range": [0, 1]}, (4, 5, 3)),
    "RandomShear": ({"x_factor": [0, 0.3], "fill_mode": "nearest"}, (4, 5, 3)),
    "RandomGaussianBlur": ({"factor": [0, 0.5], "kernel_size": [3, 5]}, (4, 5, 3)),
    "RandomErasing": ({"scale": [0.1, 0.3], "fill_value": 0.5}, (4, 5, 3)),
    "AugMix": (
        {"num_chains": 2, "chain_depth": 2, "factor": [0, 0.2], "value_range": [0, 1]},
        (4, 5, 3),
    ),
    "ContrastLimitedAdaptiveHistogramEqualization": (
        {"clip_limit": 2.0, "tile_grid_size": [2, 2], "value_range": [-3, 3]},
        (4, 5, 3),
    ),
    "MaxNumBoundingBoxes": ({"max_number": 4}, (4, 5, 3)),
    "IntegerLookup": ({"vocabulary": [1, 3, 5], "output_mode": "multi_hot"}, "int5"),
    "Hashing": ({"num_bins": 4, "output_mode": "count"}, "int5"),
    "Discretization": ({"bin_boundaries": [-0.5, 0.5], "output_mode": "one_hot"}, (3,)),
    "STFTSpectrogram": (
        {"mode": "psd", "frame_length": 8, "frame_step": 3, "window": "hamming", "padding": "same"},
        (20, 2),
    ),
    "MelSpectrogram": (
        {"fft_length": 32, "sequence_stride": 8, "num_mel_bins": 6, "top_db": 40.0},
        (48,),
    ),
}
# TextVectorization runs eagerly only (strings never enter a graph): its config round
# trip is tested in tests/layers/test_text_vectorization.py.
# Lambda saves its function by name only (tests/api/test_simple_layers.py).
# InputSpec is no layer; Wrapper is a base class; TimeDistributed takes a layer object
# (its round trip: tests/oracle/test_keras_wrappers_parity.py).
_NOT_PLAIN = {
    "Layer",
    "InputLayer",
    "Input",
    "Bidirectional",
    "TextVectorization",
    "StringLookup",  # string inputs, and several inputs (tests/layers/test_lookup_layers.py)
    "HashedCrossing",
    "Pipeline",  # holds layers (tests/oracle/test_keras_image_augmentation_parity.py)
    "Lambda",
    "InputSpec",
    "Wrapper",
    "TimeDistributed",
    # cells take (inputs, states); RNN and the wrappers hold layers (their configs:
    # tests/layers/test_rnn_cells.py and the rnn_cells / spectral_normalization parity tests)
    "RNN",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "StackedRNNCells",
    "SpectralNormalization",
}


def _layer_classes():
    """Every layer class by its own name (Keras aliases such as MaxPool2D are the same
    classes)."""
    return sorted(
        name
        for name in layers.__all__
        if isinstance(getattr(layers, name), type)
        and name not in _NOT_PLAIN
        and getattr(layers, name).__name__ == name
    )


@pytest.mark.parametrize("name", _layer_classes())
def test_every_layer_get_config_from_config(name):
    assert name in LAYER_CASES, f"add {name} to LAYER_CASES in {__file__}"
    kwargs, shape = LAYER_CASES[name]
    cls = getattr(layers, name)
    graphc.utils.set_random_seed(16)
    layer = cls(**kwargs)
    if shape == "int5":
        inputs = _int_input((5,))
        data = np.random.default_rng(17).integers(0, 10, (3, 5))
    elif isinstance(shape, list):
        inputs = [graphc.Input(shape=s) for s in shape]
        data = [
            np.random.default_rng(17 + i).standard_normal((3,) + s).astype(np.float32)
            for i, s in enumerate(shape)
        ]
    else:
        inputs = graphc.Input(shape=shape)
        data = np.random.default_rng(17).standard_normal((3,) + shape).astype(np.float32)
    model = graphc.Model(inputs, layer(inputs))
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config  # plain JSON data
    for key, value in kwargs.items():
        got = config[key]
        if isinstance(value, tuple):
            value = list(value)
            got = list(got)
        if isinstance(value, int) and isinstance(got, list):
            value = [value] * len(got)  # kernel_size=3 is stored as [3, 3], as in Keras
        if key.endswith("initializer") or key in ("activation", "constants"):
            continue
        assert got == value, (key, got, value)
    twin = cls.from_config(config)
    assert type(twin) is cls and twin.get_config() == config
    model2 = graphc.Model(inputs, twin(inputs))
    model2.set_weights(model.get_weights())
    _same(_flat(model2.predict(data, verbose=0)), _flat(model.predict(data, verbose=0)))
    # through a whole model config too
    from graphc.models.saving import model_from_config, serialize_layer

    rebuilt = model_from_config(serialize_layer(model))
    assert rebuilt.get_config() == model.get_config()


# ---- unknown and custom classes ---------------------------------------------------------------
def _rewrite_config(path, edit):
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.weights.npz")
    edit(config)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.npz", weights)


def test_unknown_layer_class_is_a_value_error_naming_it(tmp_path):
    model = _sequential(seed=18)
    path = tmp_path / "m.graphc"
    model.save(str(path))

    def edit(config):
        config["model"]["config"]["layers"][2]["class_name"] = "Frobnicator"

    _rewrite_config(path, edit)
    with pytest.raises(ValueError, match="Frobnicator"):
        load_model(str(path))


def test_registered_custom_layer_loads(tmp_path):
    graphc.utils.set_random_seed(19)
    inp = graphc.Input(shape=(3,))
    h = Scale(offset=0.5)(layers.Dense(3)(inp))
    model = graphc.Model(inp, Scale(offset=-1.0)(h))
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(20).standard_normal((6, 3)).astype(np.float32)
    model.fit(x, x, epochs=1, verbose=0)
    model.save(str(tmp_path / "c.graphc"))
    config = json.loads(zipfile.ZipFile(tmp_path / "c.graphc").read("config.json"))
    assert "TestSaving>Scale" in json.dumps(config)
    loaded = load_model(str(tmp_path / "c.graphc"))
    scales = [layer for layer in loaded.layers if isinstance(layer, Scale)]
    assert sorted(each.offset for each in scales) == [-1.0, 0.5]
    _same(loaded.get_weights(), model.get_weights())
    _same([loaded.predict(x, verbose=0)], [model.predict(x, verbose=0)])
    assert loaded.evaluate(x, x, verbose=0) == model.evaluate(x, x, verbose=0)


def test_unregistered_custom_layer_needs_custom_objects(tmp_path):
    graphc.utils.set_random_seed(21)
    inp = graphc.Input(shape=(3,))
    model = graphc.Model(inp, Unregistered()(layers.Dense(2)(inp)))
    model.save(str(tmp_path / "u.graphc"))
    with pytest.raises(ValueError, match="Unregistered"):
        load_model(str(tmp_path / "u.graphc"))
    loaded = load_model(str(tmp_path / "u.graphc"), custom_objects={"Unregistered": Unregistered})
    x = np.ones((2, 3), np.float32)
    _same([loaded.predict(x, verbose=0)], [model.predict(x, verbose=0)])
    with pytest.raises(ValueError, match="Unregistered"):
        model_from_json(model.to_json())
    assert model_from_json(model.to_json(), custom_objects={"Unregistered": Unregistered})


# ---- never unpickles -----------------------------------------------------------------------------
class _Boom:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pickled_npz(sentinel, n_arrays):
    buf = io.BytesIO()
    arrays = {f"{i:05d}": np.zeros(1, np.float32) for i in range(n_arrays)}
    payload = np.empty(1, dtype=object)
    payload[0] = _Boom(str(sentinel))
    arrays["00000"] = payload
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_weights_file_with_an_object_array_is_refused_not_unpickled(tmp_path):
    model = _sequential(seed=22)
    before = model.get_weights()
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.weights.npz"
    path.write_bytes(_pickled_npz(sentinel, len(before)))
    with np.load(path, allow_pickle=False) as data:  # it really holds an object array
        with pytest.raises(ValueError):
            data["00000"]
    with pytest.raises(ValueError, match="allow_pickle"):
        model.load_weights(str(path))
    assert not sentinel.exists()
    _same(model.get_weights(), before)


def test_model_file_with_an_object_array_is_refused_not_unpickled(tmp_path):
    model = _sequential(seed=23)
    path = tmp_path / "evil.graphc"
    model.save(str(path))
    sentinel = tmp_path / "pwned"
    with zipfile.ZipFile(path) as z:
        config = z.read("config.json")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", config)
        z.writestr("model.weights.npz", _pickled_npz(sentinel, len(model.weights)))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_model(str(path))
    assert not sentinel.exists()
    # a pickle stream disguised as the config is not JSON: refused, not run
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", pickle.dumps(_Boom(str(sentinel))))
        z.writestr("model.weights.npz", b"")
    with pytest.raises(ValueError):
        load_model(str(path))
    assert not sentinel.exists()


def test_not_a_model_file(tmp_path):
    path = tmp_path / "x.graphc"
    path.write_bytes(b"definitely not a zip")
    with pytest.raises(ValueError, match="not a .graphc"):
        load_model(str(path))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("other.txt", "hi")
    with pytest.raises(ValueError, match="config.json"):
        load_model(str(path))
    with pytest.raises(FileNotFoundError):
        load_model(str(tmp_path / "missing.graphc"))


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "m.graphc"
    _sequential(seed=24).save(str(path))

    def edit(config):
        config["format_version"] = 999

    _rewrite_config(path, edit)
    with pytest.raises(GraphcError, match="newer graphc"):
        load_model(str(path))


# ---- atomic writes ---------------------------------------------------------------------------
def _dir_state(path):
    return sorted(os.listdir(path))


def test_failed_model_save_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    model = _sequential(seed=25)
    path = tmp_path / "m.graphc"
    model.save(str(path))
    before_bytes, before_dir = path.read_bytes(), _dir_state(tmp_path)
    model.fit(*_sequential_data(), epochs=1, verbose=0)  # the weights differ now
    real = zipfile.ZipFile.writestr

    def failing_writestr(self, name, data, *args, **kwargs):
        if name == "model.weights.npz":
            raise OSError("disk full (simulated)")
        return real(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="simulated"):
        model.save(str(path))
    monkeypatch.undo()
    assert path.read_bytes() == before_bytes
    assert _dir_state(tmp_path) == before_dir
    load_model(str(path))  # still a good file


def test_failed_weights_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model = _sequential(seed=26)
    path = tmp_path / "w.weights.npz"
    model.save_weights(str(path))
    before_bytes, before_dir = path.read_bytes(), _dir_state(tmp_path)
    model.fit(*_sequential_data(), epochs=1, verbose=0)

    def failing_fsync(fd):
        raise OSError("I/O error (simulated)")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="simulated"):
        model.save_weights(str(path))
    monkeypatch.undo()
    assert path.read_bytes() == before_bytes
    assert _dir_state(tmp_path) == before_dir

    def failing_savez(*args, **kwargs):
        raise RuntimeError("savez failed (simulated)")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(RuntimeError, match="simulated"):
        model.save_weights(str(path))
    with pytest.raises(RuntimeError, match="simulated"):
        model.save(str(tmp_path / "new.graphc"))
    monkeypatch.undo()
    assert path.read_bytes() == before_bytes
    assert _dir_state(tmp_path) == before_dir


def test_interrupt_during_save_leaves_no_temp(tmp_path, monkeypatch):
    model = _sequential(seed=27)
    path = tmp_path / "m.graphc"
    real = zipfile.ZipFile.writestr

    def interrupted(self, name, data, *args, **kwargs):
        real(self, name, data, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "writestr", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.save(str(path))
    monkeypatch.undo()
    assert _dir_state(tmp_path) == []
