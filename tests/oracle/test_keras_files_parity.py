"""Keras 3's own files, both ways: Keras builds and saves (``.keras`` and
``.weights.h5``); graphc loads them and predicts as Keras does; graphc trains a step and
saves both files; Keras loads graphc's files and predicts as graphc does."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402

N = 8
RNG = np.random.default_rng(0)
TOL = 1e-5


def _mlp(K):
    return K.Sequential(
        [
            K.Input((6,)),
            K.layers.Dense(8, activation="relu"),
            K.layers.Dropout(0.2),
            K.layers.Dense(3, activation="softmax"),
        ]
    )


def _convnet(K):
    L = K.layers
    x = K.Input((8, 8, 3))
    y = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    y = L.BatchNormalization()(y)
    y = L.MaxPooling2D()(y)
    y = L.Conv2D(5, 3)(y)
    y = L.GlobalAveragePooling2D()(y)
    return K.Model(x, L.Dense(2)(y))


def _embedding_lstm(K):
    L = K.layers
    x = K.Input((7,), dtype="int32")
    y = L.Embedding(20, 4, mask_zero=True)(x)
    y = L.LSTM(5)(y)
    return K.Model(x, L.Dense(1, name="score")(y))


def _bidirectional_gru(K):
    L = K.layers
    return K.Sequential(
        [K.Input((6, 3)), L.Bidirectional(L.GRU(4, return_sequences=True)), L.GRU(3), L.Dense(2)]
    )


def _shared_two_inputs(K):
    L = K.layers
    a, b = K.Input((5,), name="left"), K.Input((5,), name="right")
    shared = L.Dense(4, activation="tanh", name="shared")
    y = L.Concatenate()([shared(a), shared(b)])
    return K.Model([a, b], L.Dense(1)(y))


def _nested_sequential(K):
    L = K.layers
    inner = K.Sequential([K.Input((4,)), L.Dense(6, activation="relu"), L.Dense(3)], name="inner")
    x = K.Input((4,))
    y = inner(x)
    y = L.Add()([y, L.Dense(3)(x)])
    return K.Model(x, L.Dense(2)(y))


FAMILIES = {
    "mlp": (_mlp, [(6,)], (3,)),
    "convnet_batchnorm": (_convnet, [(8, 8, 3)], (2,)),
    "embedding_lstm": (_embedding_lstm, ["tokens"], (1,)),
    "bidirectional_gru": (_bidirectional_gru, [(6, 3)], (2,)),
    "shared_two_inputs": (_shared_two_inputs, [(5,), (5,)], (1,)),
    "nested_sequential": (_nested_sequential, [(4,)], (2,)),
}


def _data(shapes, out_shape):
    xs = []
    for s in shapes:
        if s == "tokens":
            t = RNG.integers(1, 20, (N, 7)).astype("int32")
            t[:, 5:] = 0  # padding, masked
            xs.append(t)
        else:
            xs.append(RNG.standard_normal((N,) + s).astype("float32"))
    y = RNG.standard_normal((N,) + out_shape).astype("float32")
    return (xs[0] if len(xs) == 1 else xs), y


def _flat(p):
    return [np.asarray(a) for a in (p if isinstance(p, list) else [p])]


def _close(a, b):
    for u, v in zip(_flat(a), _flat(b)):
        np.testing.assert_allclose(u, v, rtol=0, atol=TOL)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keras_to_graphc_to_keras(family, tmp_path):
    build, shapes, out_shape = FAMILIES[family]
    x, y = _data(shapes, out_shape)
    km = build(keras)
    km.compile(optimizer="sgd", loss="mse")
    km.fit(x, y, epochs=1, batch_size=N, verbose=0)  # moves the batch-norm statistics
    km.save(tmp_path / "k.keras")
    km.save_weights(tmp_path / "k.weights.h5")
    kp = km.predict(x, verbose=0)

    # Keras -> graphc: the whole model, and the weights into a model of the same config.
    gm = graphc.models.load_model(tmp_path / "k.keras")
    _close(gm.predict(x, verbose=0), kp)
    assert gm.count_params() == km.count_params()
    gm2 = graphc.models.load_model(tmp_path / "k.keras", compile=False)
    for p in gm2.weights:
        p.assign(np.zeros(p.shape, p.dtype))
    gm2.load_weights(tmp_path / "k.weights.h5")
    _close(gm2.predict(x, verbose=0), kp)

    # graphc trains a step and saves both files.
    gm.compile(optimizer="sgd", loss="mse")
    gm.fit(x, y, epochs=1, batch_size=N, verbose=0)
    gp = gm.predict(x, verbose=0)
    assert max(float(np.abs(a - b).max()) for a, b in zip(_flat(gp), _flat(kp))) > TOL
    gm.save(tmp_path / "g.keras")
    gm.save_weights(tmp_path / "g.weights.h5")

    # graphc -> Keras.
    km2 = keras.saving.load_model(tmp_path / "g.keras")
    _close(km2.predict(x, verbose=0), gp)
    km.load_weights(tmp_path / "g.weights.h5")
    _close(km.predict(x, verbose=0), gp)


def test_graphc_built_model_loads_in_keras(tmp_path):
    """A model written with graphc's API (not loaded from Keras) opens in Keras."""
    L = graphc.layers
    a = graphc.Input((5,), name="a")
    t = graphc.Input((6,), dtype="int32", name="t")
    e = L.GlobalAveragePooling1D()(L.Embedding(10, 3)(t))
    y = L.Dense(4, activation="relu")(L.Concatenate()([a, e]))
    y = 1.0 - graphc.ops.sigmoid(y * 2.0 + y)  # operations outside layers
    m = graphc.Model([a, t], [L.Dense(1, name="out1")(y), L.Dense(2, name="out2")(y)])
    x = [RNG.standard_normal((N, 5)).astype("float32"), RNG.integers(0, 10, (N, 6)).astype("int32")]
    m.save(tmp_path / "m.keras")
    km = keras.saving.load_model(tmp_path / "m.keras")
    _close(km.predict(x, verbose=0), m.predict(x, verbose=0))


def test_compile_config_round_trip(tmp_path):
    km = _mlp(keras)
    km.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    km.save(tmp_path / "k.keras")
    gm = graphc.models.load_model(tmp_path / "k.keras")
    assert type(gm._compiled.optimizer).__name__ == "Adam"
    assert abs(float(gm._compiled.optimizer.learning_rate) - 0.01) < 1e-7
    gm.save(tmp_path / "g.keras")
    km2 = keras.saving.load_model(tmp_path / "g.keras")
    assert type(km2.optimizer).__name__ == "Adam"


@keras.saving.register_keras_serializable(package="FilesTest")
class KScaledDense(keras.layers.Layer):
    def __init__(self, units=3, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.scale = units, scale

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], self.units), name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="ones", name="b")

    def call(self, x):
        return keras.ops.matmul(x, self.w) * self.scale + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale}


@graphc.saving.register_serializable(package="FilesTest", name="KScaledDense")
class GScaledDense(graphc.layers.Layer):
    def __init__(self, units=3, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.scale = units, scale

    def build(self, shape):
        self.w = self.add_weight((shape[-1], self.units), name="w")
        self.b = self.add_weight((self.units,), initializer="ones", name="b")

    def call(self, x):
        return graphc.ops.add(graphc.ops.multiply(graphc.ops.matmul(x, self.w), self.scale), self.b)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale}


def test_custom_layer_registered_on_both_sides(tmp_path):
    x = RNG.standard_normal((N, 4)).astype("float32")
    inp = keras.Input((4,))
    km = keras.Model(inp, keras.layers.Dense(2)(KScaledDense(3, scale=0.5)(inp)))
    km.save(tmp_path / "k.keras")
    gm = graphc.models.load_model(tmp_path / "k.keras")
    assert type(gm.layers[1]) is GScaledDense and gm.layers[1].scale == 0.5
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    gm.layers[1].w.assign(gm.layers[1].w.numpy() + 1)
    gm.save(tmp_path / "g.keras")
    km2 = keras.saving.load_model(tmp_path / "g.keras")
    assert type(km2.layers[1]) is KScaledDense
    _close(km2.predict(x, verbose=0), gm.predict(x, verbose=0))


# One layer each (Keras's own config options included): Keras saves, graphc loads and
# predicts the same; graphc changes the weights and saves; Keras loads and predicts the same.
LAYERS = {
    "activation": ((5,), lambda L: L.Activation("tanh")),
    "elu": ((5,), lambda L: L.ELU()),
    "leaky_relu": ((5,), lambda L: L.LeakyReLU(0.2)),
    "relu": ((5,), lambda L: L.ReLU(max_value=1.0)),
    "softmax": ((5,), lambda L: L.Softmax()),
    "reshape": ((6,), lambda L: L.Reshape((2, 3))),
    "permute": ((2, 3), lambda L: L.Permute((2, 1))),
    "repeat_vector": ((3,), lambda L: L.RepeatVector(2)),
    "layer_normalization": ((4, 3), lambda L: L.LayerNormalization()),
    "conv1d": ((8, 3), lambda L: L.Conv1D(4, 3, strides=2, padding="same")),
    "conv2d_transpose": ((5, 5, 2), lambda L: L.Conv2DTranspose(3, 3, strides=2)),
    "conv1d_transpose": ((5, 2), lambda L: L.Conv1DTranspose(3, 3)),
    "depthwise_conv2d": ((6, 6, 2), lambda L: L.DepthwiseConv2D(3, depth_multiplier=2)),
    "separable_conv2d": ((6, 6, 2), lambda L: L.SeparableConv2D(3, 3)),
    "separable_conv1d": ((6, 2), lambda L: L.SeparableConv1D(3, 3)),
    "upsampling2d": ((3, 3, 2), lambda L: L.UpSampling2D()),
    "average_pooling1d": ((6, 2), lambda L: L.AveragePooling1D(2)),
    "global_max_pooling2d": ((6, 6, 2), lambda L: L.GlobalMaxPooling2D()),
    "rescaling": ((5,), lambda L: L.Rescaling(0.5, offset=1.0)),
    "random_flip": ((4, 4, 3), lambda L: L.RandomFlip()),
    "random_rotation": ((4, 4, 3), lambda L: L.RandomRotation(0.1)),
    "simple_rnn": ((4, 3), lambda L: L.SimpleRNN(3, return_sequences=True)),
    "gru_reset_before": ((4, 3), lambda L: L.GRU(3, reset_after=False)),
    "bidirectional_lstm_sum": ((4, 3), lambda L: L.Bidirectional(L.LSTM(3), merge_mode="sum")),
    "dense_regularized": (
        (5,),
        lambda L: L.Dense(
            3, kernel_regularizer="l2", kernel_constraint="max_norm", activity_regularizer="l1"
        ),
    ),
    "masking_lstm": ((4, 3), lambda L: lambda x: L.LSTM(3)(L.Masking()(x))),
    "multi_head_attention": (
        (4, 6),
        lambda L: lambda x: L.MultiHeadAttention(2, 3, dropout=0.1)(x, x),
    ),
    "dot_normalized": ((4,), lambda L: lambda x: L.Dot(axes=1, normalize=True)([L.Dense(4)(x), x])),
    "merging": (
        (4,),
        lambda L: (
            lambda x: L.Concatenate()(
                [
                    f()([x, L.Dense(4)(x)])
                    for f in (L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)
                ]
            )
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_round_trip(name, tmp_path):
    shape, make = LAYERS[name]
    x = RNG.standard_normal((3,) + shape).astype("float32")
    if name == "masking_lstm":
        x[:, 2:] = 0.0
    inp = keras.Input(shape)
    km = keras.Model(inp, make(keras.layers)(inp))
    km.save(tmp_path / "k.keras")
    gm = graphc.models.load_model(tmp_path / "k.keras")
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    for p in gm.weights:
        p.assign(p.numpy() + 0.01)
    gm.save(tmp_path / "g.keras")
    km2 = keras.saving.load_model(tmp_path / "g.keras")
    _close(km2.predict(x, verbose=0), gm.predict(x, verbose=0))


def test_nested_functional_called_twice(tmp_path):
    """A functional model inside a functional model, called on two inputs (Keras counts
    the inner model's construction as its node 0)."""
    L = keras.layers
    i = keras.Input((4,))
    inner = keras.Model(i, L.Dense(3, activation="tanh")(i), name="encoder")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    y = L.Concatenate()([inner(a), inner(b)])
    km = keras.Model([a, b], L.Dense(1)(y))
    x = [RNG.standard_normal((N, 4)).astype("float32") for _ in range(2)]
    km.save(tmp_path / "k.keras")
    gm = graphc.models.load_model(tmp_path / "k.keras")
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    for p in gm.weights:
        p.assign(p.numpy() * 1.5)
    gm.save(tmp_path / "g.keras")
    km2 = keras.saving.load_model(tmp_path / "g.keras")
    _close(km2.predict(x, verbose=0), gm.predict(x, verbose=0))


def test_subclassed_graphc_model_saves_as_functional(tmp_path):
    class Net(graphc.Model):
        def __init__(self):
            super().__init__()
            self.d1 = graphc.layers.Dense(4, activation="relu")
            self.d2 = graphc.layers.Dense(2)

        def call(self, x):
            return self.d2(self.d1(x))

    x = RNG.standard_normal((N, 3)).astype("float32")
    gm = Net()
    gp = gm.predict(x, verbose=0)
    gm.save(tmp_path / "g.keras")
    km = keras.saving.load_model(tmp_path / "g.keras")
    _close(km.predict(x, verbose=0), gp)


def test_nested_functional_as_output(tmp_path):
    L = keras.layers
    i = keras.Input((4,))
    inner = keras.Model(i, L.Dense(3)(i), name="inner")
    a = keras.Input((4,))
    km = keras.Model(a, [inner(a), L.Dense(2)(a)])
    x = RNG.standard_normal((N, 4)).astype("float32")
    km.save(tmp_path / "k.keras")
    gm = graphc.models.load_model(tmp_path / "k.keras")
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    gm.save(tmp_path / "g.keras")
    km2 = keras.saving.load_model(tmp_path / "g.keras")
    _close(km2.predict(x, verbose=0), gm.predict(x, verbose=0))


@pytest.mark.parametrize("opt", ["adam", "sgd_momentum", "rmsprop_centered"])
def test_optimizer_state_resumes_both_ways(opt, tmp_path):
    """The optimizer's variables travel in the .keras file: training resumed after loading
    takes the same step in Keras and in graphc."""

    def make(K):
        return {
            "adam": lambda: K.optimizers.Adam(0.01),
            "sgd_momentum": lambda: K.optimizers.SGD(0.05, momentum=0.9),
            "rmsprop_centered": lambda: K.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
        }[opt]()

    x, y = _data([(6,)], (3,))
    km = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )  # no dropout: steps are deterministic
    km.compile(optimizer=make(keras), loss="mse")
    km.fit(x, y, epochs=2, batch_size=N, shuffle=False, verbose=0)
    km.save(tmp_path / "k.keras")
    gm = graphc.models.load_model(tmp_path / "k.keras")
    assert gm._compiled.optimizer.iterations == 2
    km.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))

    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm.save(tmp_path / "g.keras")
    km2 = keras.saving.load_model(tmp_path / "g.keras")
    assert int(km2.optimizer.iterations) == 4
    km2.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    _close(km2.predict(x, verbose=0), gm.predict(x, verbose=0))


def test_multi_optimizer_state_resumes_both_ways(tmp_path):
    """A MultiOptimizer's variables in Keras 3.15's layout (``optimizer/vars``: its own
    iteration and learning rate, then each inner optimizer's; again per inner optimizer
    at ``optimizer/optimizers/<class>/vars``): training resumed after loading takes the
    same step in Keras and in graphc, and Keras reads graphc's file without a warning."""
    import warnings

    import h5py

    def make(K):
        inputs = K.Input((6,))
        h = K.layers.Dense(8, activation="relu", name="encoder")(inputs)
        model = K.Model(inputs, K.layers.Dense(3, name="head")(h))
        opts = K.optimizers.OptimizerMap(K.optimizers.SGD(0.05, momentum=0.9))
        opts["encoder/.*"] = K.optimizers.Adam(0.01)
        model.compile(optimizer=K.optimizers.MultiOptimizer(opts), loss="mse")
        return model

    x, y = _data([(6,)], (3,))
    km = make(keras)
    km.fit(x, y, epochs=2, batch_size=N, shuffle=False, verbose=0)
    km.save(tmp_path / "k.keras")
    gm = graphc.models.load_model(tmp_path / "k.keras")
    opt = gm._compiled.optimizer
    assert type(opt).__name__ == "MultiOptimizer" and opt.iterations == 2
    assert [type(o).__name__ for o in opt.optimizers] == ["Adam", "SGD"]
    km.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))

    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm.save(tmp_path / "g.keras")
    import io
    import zipfile

    with zipfile.ZipFile(tmp_path / "g.keras") as z, zipfile.ZipFile(tmp_path / "k.keras") as k:
        with (
            h5py.File(io.BytesIO(z.read("model.weights.h5"))) as hg,
            h5py.File(io.BytesIO(k.read("model.weights.h5"))) as hk,
        ):
            groups = []
            hk.visit(lambda n: groups.append(n) if n.startswith("optimizer") else None)
            for name in groups:  # the same variables, the same shapes, where Keras puts them
                assert name in hg, name
                if isinstance(hk[name], h5py.Dataset):
                    assert hg[name].shape == hk[name].shape, name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        km2 = keras.saving.load_model(tmp_path / "g.keras")
    assert not [w for w in caught if "optimizer" in str(w.message).lower()]
    assert int(km2.optimizer.iterations) == 4
    assert [int(o.iterations) for o in km2.optimizer.optimizers] == [4, 4]
    km2.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    _close(km2.predict(x, verbose=0), gm.predict(x, verbose=0))


def test_frozen_layers(tmp_path):
    L = keras.layers
    km = keras.Sequential([keras.Input((4,)), L.Dense(5), L.BatchNormalization(), L.Dense(2)])
    km.layers[0].trainable = False
    km.layers[1].trainable = False
    x, y = _data([(4,)], (2,))
    km.compile(optimizer="adam", loss="mse")
    km.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    km.save(tmp_path / "k.keras")
    gm = graphc.models.load_model(tmp_path / "k.keras")
    assert [layer.trainable for layer in gm.layers] == [False, False, True]
    assert len(gm.trainable_weights) == 2
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    km.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    gm.save(tmp_path / "g.keras")
    km2 = keras.saving.load_model(tmp_path / "g.keras")
    assert [layer.trainable for layer in km2.layers] == [False, False, True]
    _close(km2.predict(x, verbose=0), gm.predict(x, verbose=0))


def test_converter_keras_file_to_onnx(tmp_path, capsys):
    """`graphc export model.keras -o model.onnx`: onnxruntime predicts what Keras does,
    with the LSTM as one native node and the output named after its layer."""
    import onnx

    from graphc.cli import main
    from graphc.onnx import Runtime

    km = keras.Sequential(
        [keras.Input((20, 8)), keras.layers.LSTM(16), keras.layers.Dense(1, name="score")]
    )
    km.save(tmp_path / "m.keras")
    out = str(tmp_path / "m.onnx")
    assert main(["export", str(tmp_path / "m.keras"), "-o", out]) == 0
    assert main(["check", out, "--reference", str(tmp_path / "m.keras")]) == 0
    assert "FAILED" not in capsys.readouterr().out
    proto = onnx.load(out)
    assert [o.name for o in proto.graph.output] == ["score"]
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 1
    x = RNG.standard_normal((N, 20, 8)).astype("float32")
    _close(Runtime(out).predict(x), km.predict(x, verbose=0))


def test_legacy_h5_whole_model_and_weights(tmp_path):
    """Keras's legacy HDF5 format (Keras 3's own legacy writer): whole model and weights."""
    from keras.src.legacy.saving import legacy_h5_format

    L = keras.layers
    inner = keras.Sequential([keras.Input((5,)), L.Dense(4), L.BatchNormalization()], name="inner")
    a = keras.Input((5,))
    y = L.Bidirectional(L.LSTM(2))(L.Reshape((4, 1))(inner(a)))
    km = keras.Model(a, L.Dense(2)(y))
    x, yy = _data([(5,)], (2,))
    km.compile(optimizer="sgd", loss="mse")
    km.fit(x, yy, epochs=1, batch_size=N, verbose=0)
    km.save(tmp_path / "m.h5")
    gm = graphc.models.load_model(tmp_path / "m.h5")
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    import h5py

    with h5py.File(tmp_path / "w.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, km)
    for p in gm.weights:
        p.assign(np.zeros(p.shape, p.dtype))
    gm.load_weights(tmp_path / "w.h5")
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    from graphc.cli import main

    assert main(["export", str(tmp_path / "m.h5"), "-o", str(tmp_path / "m.onnx")]) == 0
    assert main(["check", str(tmp_path / "m.onnx"), "--reference", str(tmp_path / "m.h5")]) == 0


@pytest.mark.parametrize("family", ["convnet_batchnorm", "bidirectional_gru", "nested_sequential"])
def test_graphc_writes_legacy_h5_keras_reads(family, tmp_path):
    """``model.save("m.h5")`` writes Keras's legacy HDF5 layout: Keras 3's legacy loader
    rebuilds the model, its weights and its compile settings, and graphc reads it back."""
    build, shapes, out_shape = FAMILIES[family]
    x, y = _data(shapes, out_shape)
    gm = build(graphc)
    gm.compile(optimizer="adam", loss="mse", metrics=["mae"])
    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm.save(tmp_path / "g.h5")
    km = keras.saving.load_model(tmp_path / "g.h5")
    _close(km.predict(x, verbose=0), gm.predict(x, verbose=0))
    assert type(km.optimizer).__name__ == "Adam"
    np.testing.assert_allclose(
        km.evaluate(x, y, batch_size=N, verbose=0),
        gm.evaluate(x, y, batch_size=N, verbose=0),
        rtol=1e-5,
    )  # the same loss and metric
    gm2 = graphc.models.load_model(tmp_path / "g.h5")
    assert [layer.name for layer in gm2.layers] == [layer.name for layer in gm.layers]
    _close(gm2.predict(x, verbose=0), gm.predict(x, verbose=0))


def test_legacy_h5_optimizer_state_both_ways(tmp_path):
    """The optimizer's variables travel in the legacy file too (``optimizer_weights``):
    training resumed after loading takes the same step in Keras and in graphc."""
    x, y = _data([(6,)], (3,))

    def build(K):
        return K.Sequential(
            [K.Input((6,)), K.layers.Dense(8, activation="relu"), K.layers.Dense(3)]
        )

    km = build(keras)
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    km.fit(x, y, epochs=2, batch_size=N, shuffle=False, verbose=0)
    km.save(tmp_path / "k.h5")
    gm = graphc.models.load_model(tmp_path / "k.h5")
    assert gm._compiled.optimizer.iterations == 2
    km.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    _close(gm.predict(x, verbose=0), km.predict(x, verbose=0))

    # Keras 3.15 reads only the counters of a legacy file's optimizer (it builds the
    # optimizer over the model's own variables, none; the same with its own files) and
    # then refuses to fit, so graphc checks the slots it wrote by reading them back.
    gm.save(tmp_path / "g.h5")
    km2 = keras.saving.load_model(tmp_path / "g.h5")
    assert int(km2.optimizer.iterations) == 3
    gm2 = graphc.models.load_model(tmp_path / "g.h5")
    gm.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    gm2.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    np.testing.assert_array_equal(gm2.predict(x, verbose=0), gm.predict(x, verbose=0))
