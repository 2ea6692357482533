"""Patterns the keras.io guides use (tests/guides/keras_io_harness.py runs the guides
themselves, read at run time; these tests are our own code for the same patterns)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers, ops

PADDED = np.array([[711, 632, 71, 0, 0, 0], [73, 8, 3215, 55, 927, 0], [83, 91, 1, 645, 1253, 927]])


# ---- tensor._keras_mask ------------------------------------------------------------------
def test_symbolic_tensors_carry_keras_mask():
    x = layers.Embedding(10, 4, mask_zero=True)(graphc.Input(shape=(None,), dtype="int32"))
    assert x._keras_mask is not None and x._keras_mask.shape == (None, None)
    assert layers.Dense(3)(graphc.Input(shape=(2,)))._keras_mask is None


def test_eager_outputs_carry_keras_mask():
    out = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(PADDED)
    np.testing.assert_array_equal(out._keras_mask, PADDED != 0)
    masked = layers.Masking()(np.repeat(PADDED[..., None], 10, axis=-1).astype("float32"))
    np.testing.assert_array_equal(masked._keras_mask, PADDED != 0)
    # arithmetic on a masked output gives a plain array: the mask is the output's own
    assert type(out + 1) is np.ndarray and getattr(out + 1, "_keras_mask", None) is None
    assert layers.Dense(2)(np.ones((2, 3), "float32")).__class__ is np.ndarray


def test_eager_custom_compute_mask_splits_the_mask():
    class TemporalSplit(layers.Layer):
        def call(self, inputs):
            return ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else ops.split(mask, 2, axis=1)

    masked = layers.Masking()(np.repeat(PADDED[..., None], 2, axis=-1).astype("float32"))
    first, second = TemporalSplit()(masked)
    np.testing.assert_array_equal(first._keras_mask, PADDED[:, :3] != 0)
    np.testing.assert_array_equal(second._keras_mask, PADDED[:, 3:] != 0)


def test_eager_mask_reaches_a_mask_consumer():
    seen = {}

    class Consumer(layers.Layer):
        def call(self, inputs, mask=None):
            seen["mask"] = mask
            return inputs

    Consumer()(layers.Embedding(5000, 3, mask_zero=True)(PADDED))
    np.testing.assert_array_equal(seen["mask"], PADDED != 0)


# ---- get_config / from_config ------------------------------------------------------------
class _ConfigWithoutName(layers.Layer):
    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")

    def call(self, inputs):
        return ops.matmul(inputs, self.w)

    def get_config(self):
        return {"units": self.units}


def test_functional_from_config_with_a_custom_layer_config_without_name():
    inputs = graphc.Input((4,))
    model = graphc.Model(inputs, _ConfigWithoutName(10)(inputs))
    new = graphc.Model.from_config(
        model.get_config(), custom_objects={"_ConfigWithoutName": _ConfigWithoutName}
    )
    assert new.output.shape == (None, 10)
    np.testing.assert_allclose(new.predict(np.ones((2, 4)), verbose=0), np.full((2, 10), 4.0))


# ---- layer.build() then set_weights() ----------------------------------------------------
def test_build_called_directly_marks_the_layer_built():
    layer = layers.Dense(3)
    layer.build((None, 4))
    assert layer.built
    layer.set_weights([np.ones((4, 3)), np.zeros(3)])
    # the first call keeps the weights set after build() (no second build)
    np.testing.assert_allclose(layer(np.ones((1, 4), "float32")), np.full((1, 3), 4.0))

    class Custom(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="zeros")

        def call(self, x):
            return ops.matmul(x, self.w)

    custom = Custom()
    custom.build((None, 2))
    custom.set_weights([np.ones((2, 2))])
    np.testing.assert_allclose(custom(np.ones((1, 2), "float32")), np.full((1, 2), 2.0))


# ---- add_loss ------------------------------------------------------------------------------
class _MeanPenalty(layers.Layer):
    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


def test_add_loss_eager_losses_are_the_last_calls():
    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = _MeanPenalty(0.5)

        def call(self, inputs):
            return self.inner(inputs)

    layer = Outer()
    assert layer.losses == []
    layer(np.ones((1, 2), "float32"))
    assert len(layer.losses) == 1 and float(layer.losses[0]) == 0.5
    layer(np.full((1, 2), 2.0, "float32"))  # reset at each top-level call
    assert len(layer.losses) == 1 and float(layer.losses[0]) == 1.0


def test_add_loss_joins_the_training_loss_and_trains_without_compiled_loss():
    inputs = graphc.Input(shape=(3,))
    model = graphc.Model(
        inputs, _MeanPenalty(1.0)(layers.Dense(2, kernel_initializer="ones")(inputs))
    )
    x = np.ones((4, 3), "float32")
    model.compile(optimizer="sgd", loss="mse")
    # mse against the outputs themselves is 0: the loss is the penalty, mean(3) = 3
    assert model.evaluate(x, np.full((4, 2), 3.0), verbose=0) == 3.0
    model.compile(optimizer=graphc.optimizers.SGD(0.1))  # no loss: add_loss alone
    history = model.fit(x, epochs=2, verbose=0).history["loss"]
    assert history[0] == 3.0 and history[1] < 3.0  # the penalty's gradient moved the weights


def test_loss_object_called_on_symbolic_tensors_feeds_add_loss():
    class LogisticEndpoint(layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = graphc.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            self.add_loss(self.loss_fn(targets, logits, sample_weights))
            return ops.softmax(logits)

    inputs = graphc.Input(shape=(3,), name="inputs")
    targets = graphc.Input(shape=(4,), name="targets")
    logits = layers.Dense(4)(inputs)
    model = graphc.Model([inputs, targets], LogisticEndpoint(name="predictions")(targets, logits))
    model.compile(optimizer="adam")
    data = {"inputs": np.random.random((3, 3)), "targets": np.random.random((3, 4))}
    loss = model.fit(data, verbose=0).history["loss"][0]
    z = next(la for la in model.layers if isinstance(la, layers.Dense))(data["inputs"])
    expected = graphc.losses.BinaryCrossentropy(from_logits=True)(data["targets"], np.asarray(z))
    assert abs(loss - expected) < 0.05  # one Adam step moved the weights a little


# ---- metrics ---------------------------------------------------------------------------------
def test_metric_add_variable_and_metrics_names():
    class Count(graphc.metrics.Metric):
        def __init__(self, name="count", **kwargs):
            super().__init__(name=name, **kwargs)
            self.n = self.add_variable(shape=(), name="n", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign_add(np.float32(len(y_true)))

        def result(self):
            return self.n

    m = Count()
    m.update_state(np.ones(3), np.ones(3))
    m.update_state(np.ones(2), np.ones(2))
    assert float(m.result()) == 5.0
    m.reset_state()  # the default reset zeroes the variables
    assert float(m.result()) == 0.0

    inputs = graphc.Input((2,))
    model = graphc.Model(inputs, layers.Dense(1)(inputs))
    assert model.metrics_names == []
    model.compile("sgd", "mse", metrics=[Count()])
    assert model.metrics_names == ["loss", "compile_metrics"]
    history = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=4, verbose=0).history
    assert history["count"] == [8.0]


# ---- custom functions and objects in configs -------------------------------------------------
@graphc.saving.register_keras_serializable(package="guide_patterns", name="squared")
def _squared(x):
    return x**2


def _unregistered_cube(x):
    return x**3


def test_custom_activation_functions_save_and_load(tmp_path):
    inputs = graphc.Input(shape=(4,))
    mid = layers.Dense(3, activation=_squared)(inputs)
    model = graphc.Model(inputs, layers.Dense(1, activation=_unregistered_cube)(mid))
    x = np.random.default_rng(0).random((2, 4))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = graphc.models.load_model(
        path, custom_objects={"_unregistered_cube": _unregistered_cube}
    )
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    with graphc.saving.custom_object_scope({"_unregistered_cube": _unregistered_cube}):
        again = graphc.models.load_model(path)
    assert again.layers[-1].activation is _unregistered_cube
    assert again.layers[1].activation is _squared  # found by its registered name
    config = layers.Dense(2, activation=_squared).get_config()["activation"]
    assert config["registered_name"] == "guide_patterns>squared"


def test_get_config_holding_layers_and_regularizers_round_trips():
    class Wrapper(layers.Layer):
        def __init__(self, first_layer, second_layer=None, **kwargs):
            super().__init__(**kwargs)
            self.first_layer = first_layer
            self.second_layer = second_layer or layers.Dense(8)

        def get_config(self):  # returns the layer objects themselves, as the guide does
            return {
                **super().get_config(),
                "first_layer": self.first_layer,
                "second_layer": self.second_layer,
            }

        @classmethod
        def from_config(cls, config):
            config["first_layer"] = layers.deserialize(config["first_layer"])
            config["second_layer"] = layers.deserialize(config["second_layer"])
            return cls(**config)

        def call(self, inputs):
            return self.first_layer(self.second_layer(inputs))

    inner = layers.Dense(3, kernel_regularizer=graphc.regularizers.L1L2(l1=1e-5, l2=1e-4))
    inputs = graphc.Input((5,))
    model = graphc.Model(inputs, Wrapper(first_layer=inner)(inputs))
    config = model.get_config()
    wrapped = config["layers"][1]["config"]
    assert wrapped["first_layer"]["class_name"] == "Dense"
    assert isinstance(wrapped["first_layer"]["config"]["kernel_regularizer"], dict)
    new = graphc.Model.from_config(config, custom_objects={"Wrapper": Wrapper})
    assert new.output.shape == (None, 3)


# ---- keras.random.normal with the batch size of a traced call -------------------------------
class _Sampling(layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = graphc.random.normal(shape=(batch, dim))
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def test_random_normal_with_a_symbolic_batch_size_draws_each_call():
    z_mean = graphc.Input(shape=(3,))
    z_log_var = graphc.Input(shape=(3,))
    z = _Sampling()((z_mean, z_log_var))
    assert z.shape == (None, 3)
    model = graphc.Model([z_mean, z_log_var], z)
    zeros = np.zeros((500, 3), "float32")
    a, b = model.predict([zeros, zeros], verbose=0), model.predict([zeros, zeros], verbose=0)
    assert a.shape == (500, 3) and not np.allclose(a, b)  # a new draw each call
    assert abs(a.mean()) < 0.1 and abs(a.std() - 1) < 0.1  # standard normal
    shifted = model.predict([zeros + 5, np.full_like(zeros, np.log(0.25))], verbose=0)
    assert abs(shifted.mean() - 5) < 0.1 and abs(shifted.std() - 0.5) < 0.05


def test_keras_preprocessing_namespace():
    from graphc.preprocessing.sequence import pad_sequences

    np.testing.assert_array_equal(pad_sequences([[1, 2], [3]], maxlen=3), [[0, 1, 2], [0, 0, 3]])
    assert graphc.preprocessing.image.img_to_array is graphc.utils.img_to_array


def test_random_image_layers_take_uint8_images_as_float32():
    """The transfer-learning guide feeds decoded uint8 images to RandomFlip and
    RandomRotation; Keras casts them to float32, in training and inference alike."""
    x = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3)).astype("uint8")
    for layer in (
        layers.RandomRotation(0.1),
        layers.RandomFlip("horizontal"),
        layers.RandomContrast(0.2),
        layers.RandomCrop(4, 4),
    ):
        assert layer(x, training=True).dtype == np.float32
        np.testing.assert_array_equal(layer(x, training=False), x.astype("float32"))
    inp = graphc.Input((8, 8, 3), dtype="uint8")
    model = graphc.Sequential([inp, layers.RandomFlip(), layers.RandomRotation(0.1)])
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.astype("float32"))


# ---- a Model subclass without `call` (knowledge_distillation's Distiller) -----------------
def test_model_subclass_without_call_wraps_other_models():
    class Distiller(graphc.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

    def small(units):
        return graphc.Sequential([graphc.Input(shape=(3,)), layers.Dense(units)])

    distiller = Distiller(student=small(2), teacher=small(4))
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    assert len(distiller.trainable_weights) == 4  # both wrapped models' kernels and biases
    with pytest.raises(NotImplementedError, match="has no `call` method"):
        distiller(np.ones((1, 3), "float32"))
