"""Subclassed models (Keras's ``class M(keras.Model)`` with layers made in ``__init__`` and
used in ``call``), as in "Deep Learning with Python" ch. 7: built from the first data or
``build``, trained, summarized, saved, exported, mixed with functional models."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_reference import assert_reference_matches

import graphc
from graphc import layers


def ticket_model_class(lib):
    """The book's CustomerTicketModel (listing 7.14), for either library."""

    class CustomerTicketModel(lib.Model):
        def __init__(self, num_departments):
            super().__init__()
            self.concat_layer = lib.layers.Concatenate()
            self.mixing_layer = lib.layers.Dense(64, activation="relu")
            self.priority_scorer = lib.layers.Dense(1, activation="sigmoid")
            self.department_classifier = lib.layers.Dense(num_departments, activation="softmax")

        def call(self, inputs):
            title = inputs["title"]
            text_body = inputs["text_body"]
            tags = inputs["tags"]
            features = self.concat_layer([title, text_body, tags])
            features = self.mixing_layer(features)
            priority = self.priority_scorer(features)
            department = self.department_classifier(features)
            return priority, department

    return CustomerTicketModel


def ticket_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "title": rng.integers(0, 2, (n, 30)),
        "text_body": rng.integers(0, 2, (n, 30)),
        "tags": rng.integers(0, 2, (n, 6)),
    }
    y = [rng.random((n, 1)), np.eye(4)[rng.integers(0, 4, n)]]
    return x, y


def _compile(model, lib):
    model.compile(
        optimizer=lib.optimizers.RMSprop(0.01),
        loss=["mean_squared_error", "categorical_crossentropy"],
        metrics=[["mean_absolute_error"], ["accuracy"]],
    )


def test_unbuilt_model_says_how_to_build_it():
    model = ticket_model_class(graphc)(num_departments=4)
    assert not model.built
    assert [layer.name for layer in model.layers] == [
        layer.name
        for layer in (
            model.concat_layer,
            model.mixing_layer,
            model.priority_scorer,
            model.department_classifier,
        )
    ]
    with pytest.raises(ValueError, match=r"has not yet been built.*build\(input_shape\)"):
        model.summary()


def test_first_eager_call_builds_and_computes(capsys):
    graphc.utils.set_random_seed(0)
    model = ticket_model_class(graphc)(num_departments=4)
    x, _ = ticket_data()
    priority, department = model(x)  # eager: NumPy arrays out, as Keras gives tensors
    assert isinstance(priority, np.ndarray) and priority.shape == (48, 1)
    assert department.shape == (48, 4)
    np.testing.assert_allclose(department.sum(axis=1), 1.0, rtol=1e-5)
    assert model.built and model.count_params() == 66 * 64 + 64 + 65 + 260
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(predicted[1], department, rtol=1e-6)
    model.summary()
    out = capsys.readouterr().out
    assert "InputLayer" not in out and "Connected to" not in out  # Keras's layout
    rows = [
        line.split()[0] for line in out.splitlines() if "(Dense)" in line or "(Concatenate)" in line
    ]
    assert rows == [layer.name for layer in model.layers]
    assert "Total params: 4,613" in out


def test_fit_evaluate_predict_save_and_export(tmp_path):
    graphc.utils.set_random_seed(1)
    model = ticket_model_class(graphc)(num_departments=4)
    _compile(model, graphc)
    x, y = ticket_data()
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)  # fit builds it
    assert history.history["loss"][-1] < history.history["loss"][0]
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(history.history["loss"][-1], rel=0.5)
    path = tmp_path / "ticket.graphc"
    model.save(str(path))
    loaded = graphc.models.load_model(str(path))  # no class needed: the traced graph
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    proto = graphc.onnx.export(model)
    runtime = graphc.onnx.Runtime(proto)
    for a, b in zip(runtime.predict(x), model.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert_reference_matches(
        proto, runtime, x, lambda xs: model.predict(xs, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_build_from_an_input_shape():
    class Mlp(graphc.Model):
        def __init__(self):
            super().__init__(name="mlp")
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(2)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    model = Mlp()
    model.build((None, 5))
    assert model.count_params() == 5 * 8 + 8 + 8 * 2 + 2
    assert model.output_shape == (None, 2)
    with pytest.raises(ValueError, match="input_shape"):
        Mlp().build()


def test_dropout_follows_the_training_flag():
    class Dropper(graphc.Model):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.5)
            self.dense = layers.Dense(3, kernel_initializer="ones")

        def call(self, inputs, training=None):
            return self.dense(self.drop(inputs, training=training))

    model = Dropper()
    x = np.ones((4, 6), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), 6.0)  # inference: no dropout
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((4, 3)), epochs=1, verbose=0)  # dropout active while training


def test_mixing_with_functional_models():
    """The book's listings 7.16 and 7.17: a subclassed model inside a functional one, and
    a functional model inside a subclassed one."""

    class Classifier(graphc.Model):
        def __init__(self, num_classes=2):
            super().__init__()
            if num_classes == 2:
                num_units = 1
                activation = "sigmoid"
            else:
                num_units = num_classes
                activation = "softmax"
            self.dense = layers.Dense(num_units, activation=activation)

        def call(self, inputs):
            return self.dense(inputs)

    inputs = graphc.Input(shape=(3,))
    features = layers.Dense(64, activation="relu")(inputs)
    outputs = Classifier(num_classes=10)(features)
    model = graphc.Model(inputs=inputs, outputs=outputs)
    assert model.count_params() == 3 * 64 + 64 + 64 * 10 + 10
    assert model.output_shape == (None, 10)

    inputs = graphc.Input(shape=(64,))
    outputs = layers.Dense(1, activation="sigmoid")(inputs)
    binary_classifier = graphc.Model(inputs=inputs, outputs=outputs)

    class MyModel(graphc.Model):
        def __init__(self, num_classes=2):
            super().__init__()
            self.dense = layers.Dense(64, activation="relu")
            self.classifier = binary_classifier

        def call(self, inputs):
            features = self.dense(inputs)
            return self.classifier(features)

    model = MyModel()
    x = np.random.default_rng(0).random((6, 10)).astype("float32")
    model.compile("rmsprop", "binary_crossentropy")
    model.fit(x, np.ones((6, 1)), verbose=0)
    assert model.predict(x, verbose=0).shape == (6, 1)
    assert [layer.name for layer in model.layers] == [model.dense.name, binary_classifier.name]


def test_a_plain_model_without_inputs_or_call_is_refused():
    with pytest.raises(TypeError, match="subclass Model"):
        graphc.Model()
    with pytest.raises(TypeError, match="needs both arguments"):
        graphc.Model(inputs=graphc.Input(shape=(2,)))


@pytest.mark.slow
@pytest.mark.oracle
def test_ticket_model_trains_as_in_keras():
    """The same subclass code in both libraries, Keras's weights copied: the same losses
    per epoch and the same final weights."""
    keras = pytest.importorskip("keras")
    x, y = ticket_data()
    k_model = ticket_model_class(keras)(num_departments=4)
    g_model = ticket_model_class(graphc)(num_departments=4)
    k_model(x)
    g_model(x)
    g_model.set_weights(k_model.get_weights())
    fits = []
    for model, lib in ((k_model, keras), (g_model, graphc)):
        _compile(model, lib)
        fits.append(model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0))
    np.testing.assert_allclose(fits[1].history["loss"], fits[0].history["loss"], rtol=1e-3)
    for g, k in zip(g_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(g, k, rtol=1e-3, atol=1e-4)


def test_log_keys_name_the_losses_not_the_outputs(tmp_path):
    """Keras 3 gives a subclassed model's outputs no names: each output's loss key is
    named after its loss, metric keys have no output prefix, repeats get ``_1``
    (tests/oracle/test_keras_metric_names_parity.py checks these against Keras)."""
    graphc.utils.set_random_seed(2)
    model = ticket_model_class(graphc)(num_departments=4)
    _compile(model, graphc)
    x, y = ticket_data()
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert list(history.history) == [
        "accuracy",
        "categorical_crossentropy_loss",
        "loss",
        "mean_absolute_error",
        "mean_squared_error_loss",
    ]
    model.compile("rmsprop", loss="mse", metrics=[["mae"], ["mae"]])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mae", "mae_1", "mse_loss"]
    priority, department = model.predict(x, verbose=0)
    # the shared key keeps the last output's loss, as Keras's logs dict does
    assert logs["mse_loss"] == pytest.approx(np.mean((department - y[1]) ** 2), rel=1e-5)
    assert logs["mae"] == pytest.approx(np.mean(np.abs(priority - y[0])), rel=1e-5)
    model.save(str(tmp_path / "t.graphc"))  # the reloaded (functional) copy keeps them
    loaded = graphc.models.load_model(str(tmp_path / "t.graphc"))
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(logs)
    with pytest.raises(TypeError, match="subclassed model.*cannot be a dict"):
        model.compile("rmsprop", loss={"priority": "mse", "department": "mse"})
