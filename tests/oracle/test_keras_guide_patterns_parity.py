"""Patterns of the keras.io guides, against Keras 3 itself (tests/api/test_guide_patterns.py
has the rest): the same code for both libraries, Keras's weights copied over."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402

TOKENS = np.array([[5, 3, 9, 0, 0, 0], [7, 8, 2, 5, 1, 0], [4, 9, 1, 6, 2, 3]])


def _eager_masked_lstm(lib):
    embedding = lib.layers.Embedding(input_dim=10, output_dim=4, mask_zero=True)
    lstm = lib.layers.LSTM(3)
    embedding.build((None, None))
    lstm.build((None, None, 4))
    return embedding, lstm


def test_eager_mask_flows_from_embedding_to_lstm():
    (ke, kl), (ge, gl) = _eager_masked_lstm(keras), _eager_masked_lstm(graphc)
    ge.set_weights(ke.get_weights())
    gl.set_weights(kl.get_weights())
    k_out = keras.ops.convert_to_numpy(kl(ke(TOKENS)))
    g_out = gl(ge(TOKENS))
    np.testing.assert_allclose(g_out, k_out, rtol=1e-4, atol=1e-5)
    # the mask made a difference: without it the padded steps would count
    g_unmasked = gl(np.asarray(ge(TOKENS)))
    assert not np.allclose(g_unmasked[0], g_out[0])


def _endpoint_model(lib):
    class LogisticEndpoint(lib.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = lib.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            self.add_loss(self.loss_fn(targets, logits, sample_weights))
            return lib.ops.softmax(logits)

    class MeanPenalty(lib.layers.Layer):
        def call(self, inputs):
            self.add_loss(0.1 * lib.ops.sum(inputs))
            return inputs

    inputs = lib.Input(shape=(3,), name="inputs")
    targets = lib.Input(shape=(4,), name="targets")
    logits = lib.layers.Dense(4)(MeanPenalty()(lib.layers.Dense(5)(inputs)))
    out = LogisticEndpoint(name="predictions")(targets, logits)
    return lib.Model([inputs, targets], out)


def test_add_loss_only_model_trains_like_keras():
    k, g = _endpoint_model(keras), _endpoint_model(graphc)
    g.set_weights(k.get_weights())
    for model, lib in ((k, keras), (g, graphc)):
        model.compile(optimizer=lib.optimizers.SGD(0.05))
    rng = np.random.default_rng(0)
    data = {"inputs": rng.random((16, 3)), "targets": rng.random((16, 4))}
    kh = k.fit(data, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    gh = g.fit(data, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(gh, kh, rtol=1e-3)
    for gw, kw in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(gw, kw, rtol=1e-3, atol=1e-4)
    k_eval = k.evaluate(data, verbose=0)
    np.testing.assert_allclose(g.evaluate(data, verbose=0), k_eval, rtol=1e-4)


def _count_metric(lib):
    class CategoricalTruePositives(lib.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = lib.ops.reshape(lib.ops.argmax(y_pred, axis=1), (-1, 1))
            values = lib.ops.cast(y_true, "int32") == lib.ops.cast(y_pred, "int32")
            self.true_positives.assign_add(lib.ops.sum(lib.ops.cast(values, "float32")))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)

    inputs = lib.Input((4,))
    model = lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(inputs))
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=[CategoricalTruePositives()],
    )
    return model


def test_stateful_custom_metric_with_add_variable_matches_keras():
    k, g = _count_metric(keras), _count_metric(graphc)
    g.set_weights(k.get_weights())
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 4)), rng.integers(0, 3, (40, 1))
    kh = k.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    gh = g.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert gh["categorical_true_positives"] == kh["categorical_true_positives"]
    assert g.metrics_names == k.metrics_names


LOSSES = {
    "categorical_crossentropy": lambda lib: lib.losses.CategoricalCrossentropy(),
    "categorical_crossentropy_logits": lambda lib: lib.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.1
    ),
    "kl_divergence": lambda lib: lib.losses.KLDivergence(),
    "huber": lambda lib: lib.losses.Huber(delta=0.5),
    "mean_absolute_error": lambda lib: lib.losses.MeanAbsoluteError(),
    "cosine_similarity": lambda lib: lib.losses.CosineSimilarity(),
    "poisson": lambda lib: lib.losses.Poisson(),
}


def _loss_endpoint_model(lib, make_loss):
    class Endpoint(lib.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = make_loss(lib)

        def call(self, targets, probs):
            self.add_loss(self.loss_fn(targets, probs))
            return probs

    inputs = lib.Input(shape=(3,), name="inputs")
    targets = lib.Input(shape=(4,), name="targets")
    probs = lib.layers.Dense(4, activation="softmax")(lib.layers.Dense(5)(inputs))
    return lib.Model([inputs, targets], Endpoint(name="endpoint")(targets, probs))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_builtin_loss_objects_on_symbolic_tensors_train_like_keras(name):
    """A built-in loss object called inside ``call`` (the guides' endpoint layer), for
    the losses beyond BinaryCrossentropy and MSE: its values and gradient come from the
    loss's own NumPy forward and analytic gradient."""
    k = _loss_endpoint_model(keras, LOSSES[name])
    g = _loss_endpoint_model(graphc, LOSSES[name])
    g.set_weights(k.get_weights())
    for model, lib in ((k, keras), (g, graphc)):
        model.compile(optimizer=lib.optimizers.SGD(0.1))
    rng = np.random.default_rng(1)
    targets = rng.random((16, 4))
    data = {"inputs": rng.random((16, 3)), "targets": targets / targets.sum(-1, keepdims=True)}
    kh = k.fit(data, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    gh = g.fit(data, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(gh, kh, rtol=1e-4, atol=1e-6)
    for gw, kw in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(gw, kw, rtol=1e-4, atol=1e-5)


def _variable_attribute_model(lib):
    class Linear(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.w = lib.Variable(initializer=np.ones((3, 2), "float32"), name="w")
            self.b = lib.Variable(
                initializer=np.full((2,), 0.5, "float32"), name="b", trainable=False
            )

        def call(self, x):
            return lib.ops.matmul(x, self.w) + self.b

    inputs = lib.Input((3,))
    return lib.Model(inputs, Linear()(inputs))


def test_variables_assigned_to_layer_attributes_are_tracked_like_keras():
    k, g = _variable_attribute_model(keras), _variable_attribute_model(graphc)
    assert [w.path for w in g.weights] == [w.path for w in k.weights]
    assert len(g.trainable_weights) == len(k.trainable_weights) == 1
    assert g.count_params() == k.count_params()
    x = np.random.default_rng(2).random((8, 3)).astype("float32")
    y = np.zeros((8, 2), "float32")
    for model, lib in ((k, keras), (g, graphc)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    kh = k.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    gh = g.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(gh, kh, rtol=1e-5)
    for gw, kw in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(gw, kw, rtol=1e-5, atol=1e-6)


# ---- lstm_seq2seq: train, save, reload, re-wire the trained layers for sampling ----------
def _seq2seq(lib, tokens=5, latent=6):
    enc_in = lib.Input(shape=(None, tokens))
    _, h, c = lib.layers.LSTM(latent, return_state=True)(enc_in)
    dec_in = lib.Input(shape=(None, tokens))
    dec = lib.layers.LSTM(latent, return_sequences=True, return_state=True)
    out, _, _ = dec(dec_in, initial_state=[h, c])
    out = lib.layers.Dense(tokens, activation="softmax")(out)
    return lib.Model([enc_in, dec_in], out)


def _sampling_models(lib, model, latent=6):
    """The example's inference models, built from the reloaded model's layers."""
    enc_in = model.input[0]
    _, h_enc, c_enc = model.layers[2].output
    encoder = lib.Model(enc_in, [h_enc, c_enc])
    dec_in = model.input[1]
    states_in = [lib.Input(shape=(latent,)), lib.Input(shape=(latent,))]
    out, h_dec, c_dec = model.layers[3](dec_in, initial_state=states_in)
    out = model.layers[4](out)
    return encoder, lib.Model([dec_in] + states_in, [out, h_dec, c_dec])


@pytest.mark.slow
def test_seq2seq_reloaded_and_rewired_for_sampling_as_in_keras(tmp_path):
    k, g = _seq2seq(keras), _seq2seq(graphc)
    g.set_weights(k.get_weights())
    rng = np.random.default_rng(0)
    eye = np.eye(5, dtype="float32")
    enc = eye[rng.integers(0, 5, size=(12, 7))]
    dec = eye[rng.integers(0, 5, size=(12, 4))]
    target = eye[rng.integers(0, 5, size=(12, 4))]
    losses = []
    for model, lib in ((k, keras), (g, graphc)):
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
        hist = model.fit([enc, dec], target, batch_size=4, epochs=2, shuffle=False, verbose=0)
        losses.append(hist.history["loss"])
        model.save(tmp_path / f"{lib.__name__}.keras")
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-3)

    k_enc, k_dec = _sampling_models(keras, keras.models.load_model(tmp_path / "keras.keras"))
    g_enc, g_dec = _sampling_models(graphc, graphc.models.load_model(tmp_path / "graphc.keras"))
    k_states = k_enc.predict(enc[:2], verbose=0)
    g_states = g_enc.predict(enc[:2], verbose=0)
    for got, want in zip(g_states, k_states):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    step = eye[[[0], [3]]]  # one character each
    k_out = k_dec.predict([step] + list(k_states), verbose=0)
    g_out = g_dec.predict([step] + list(g_states), verbose=0)
    assert [o.shape for o in g_out] == [(2, 1, 5), (2, 6), (2, 6)]
    for got, want in zip(g_out, k_out):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
