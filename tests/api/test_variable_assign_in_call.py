"""``Variable.assign`` / ``assign_add`` / ``assign_sub`` inside a layer's ``call`` traced
symbolically: recorded in the graph, applied each time the model runs (predict,
evaluate, fit, ``model(x)``), as Keras applies them whenever ``call`` runs."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers, ops
from graphc.backends.numpy.executor import Executor
from graphc.backends.onnx.export import ExportError
from graphc.errors import StateUpdateError


class Counter(layers.Layer):
    """Counts its calls (the rows too), passes its input through scaled."""

    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")
        self.rows = self.add_weight(shape=(), initializer="zeros", trainable=False, name="rows")

    def call(self, x):
        self.count.assign_add(1.0)
        self.rows.assign_add(ops.sum(ops.ones_like(x[:, 0])))
        return x * 2.0

    def get_config(self):
        return super().get_config()


class RunningMean(layers.Layer):
    """Subtracts a running mean of its input that it updates at each call."""

    def build(self, input_shape):
        self.mean = self.add_weight(
            shape=(input_shape[-1],), initializer="zeros", trainable=False, name="mean"
        )

    def call(self, x):
        self.mean.assign(0.9 * self.mean + 0.1 * ops.mean(x, axis=0))
        return x - self.mean


CUSTOM = {"Counter": Counter, "RunningMean": RunningMean}


def _model():
    i = graphc.Input((3,))
    h = RunningMean(name="running")(Counter(name="counter")(i))
    return graphc.Model(i, layers.Dense(2, name="head")(h))


def _x(n=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3)).astype("float32")


def _running_mean(batches, start=None):
    mean = np.zeros(3, "float32") if start is None else start
    for b in batches:
        mean = 0.9 * mean + 0.1 * (2 * b).mean(axis=0)
    return mean


def test_building_a_model_assigns_nothing():
    model = _model()
    assert float(model.get_layer("counter").count.numpy()) == 0.0
    assert not model.get_layer("running").mean.numpy().any()
    assert "assign" in {n.op for n in model.graph.nodes}


@pytest.mark.parametrize("compiled", [True, False])
def test_predict_applies_the_updates_once_per_batch(compiled):
    previous = Executor.COMPILE
    Executor.COMPILE = compiled
    try:
        model = _model()
        x = _x()
        model.predict(x, batch_size=4, verbose=0)
    finally:
        Executor.COMPILE = previous
    counter, running = model.get_layer("counter"), model.get_layer("running")
    assert float(counter.count.numpy()) == 2.0
    assert float(counter.rows.numpy()) == 8.0
    np.testing.assert_allclose(running.mean.numpy(), _running_mean([x[:4], x[4:]]), rtol=1e-6)


def test_the_output_sees_the_value_assigned_in_the_same_call():
    model = _model()
    x = _x(4)
    head = model.get_layer("head")
    y = model.predict(x, verbose=0)
    mean = _running_mean([x])
    expected = (2 * x - mean) @ head.kernel.numpy() + head.bias.numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_fit_evaluate_and_direct_calls_apply_the_updates():
    model = _model()
    model.compile("sgd", "mse")
    x, y = _x(), np.zeros((8, 2), "float32")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    counter = model.get_layer("counter")
    assert float(counter.count.numpy()) == 4.0  # no extra call to build the metrics
    model.evaluate(x, y, batch_size=8, verbose=0)
    assert float(counter.count.numpy()) == 5.0
    model(x)
    model(x, training=True)
    assert float(counter.count.numpy()) == 7.0
    model.predict_on_batch(x)
    model.train_on_batch(x, y)
    model.test_on_batch(x, y)
    assert float(counter.count.numpy()) == 10.0
    assert float(counter.rows.numpy()) == 4 * 4 + 6 * 8
    counter(x)  # the layer alone, on arrays
    assert float(counter.count.numpy()) == 11.0


def test_a_shared_layer_updates_once_per_call():
    counter = Counter()
    i = graphc.Input((3,))
    model = graphc.Model(i, counter(counter(i)))
    model.predict(_x(), verbose=0)
    assert float(counter.count.numpy()) == 2.0


def test_a_nested_model_keeps_its_layers_updates():
    inner = _model()
    i = graphc.Input((3,))
    outer = graphc.Model(i, layers.Dense(1)(inner(i)))
    outer.predict(_x(), batch_size=4, verbose=0)
    assert float(inner.get_layer("counter").count.numpy()) == 2.0


def test_a_subclassed_model_traces_its_layers_updates():
    class Net(graphc.Model):
        def __init__(self):
            super().__init__()
            self.counter = Counter()
            self.head = layers.Dense(1)

        def call(self, x):
            return self.head(self.counter(x))

    net = Net()
    net.compile("sgd", "mse")
    net.fit(_x(), np.zeros((8, 1)), batch_size=2, verbose=0)
    assert float(net.counter.count.numpy()) == 4.0
    net.predict(_x(), batch_size=8, verbose=0)
    assert float(net.counter.count.numpy()) == 5.0


def test_gradients_do_not_flow_through_the_assign():
    """A layer that assigns a statistic of its trainable weight's output trains exactly
    as the same layer without the assign."""

    class Scale(layers.Layer):
        def __init__(self, track, **kw):
            super().__init__(**kw)
            self.track = track

        def build(self, input_shape):
            self.w = self.add_weight(shape=(3,), initializer="ones", name="w")
            self.stat = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x):
            y = x * self.w
            if self.track:
                self.stat.assign(ops.sum(y * y))
            return y

    x, y = _x(), _x(8, 1)
    weights = []
    for track in (True, False):
        i = graphc.Input((3,))
        layer = Scale(track)
        model = graphc.Model(i, layer(i))
        model.compile("sgd", "mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        weights.append(layer.w.numpy())
        if track:
            assert float(layer.stat.numpy()) > 0.0
    np.testing.assert_array_equal(weights[0], weights[1])


def test_a_variable_assigned_in_build_changes_at_once():
    class Built(layers.Layer):
        def build(self, input_shape):
            self.v = self.add_weight(shape=(), initializer="zeros", trainable=False)
            self.v.assign(5.0)

        def call(self, x):
            return x + self.v

    layer = Built()
    i = graphc.Input((3,))
    model = graphc.Model(i, layer(i))
    assert float(layer.v.numpy()) == 5.0
    assert "assign" not in {n.op for n in model.graph.nodes}


def test_assign_returns_the_assigned_tensor():
    class Returns(layers.Layer):
        def build(self, input_shape):
            self.last = self.add_weight(
                shape=(input_shape[-1],), initializer="zeros", trainable=False
            )

        def call(self, x):
            return self.last.assign(ops.max(x, axis=0)) + 0.0 * x

    layer = Returns()
    i = graphc.Input((3,))
    model = graphc.Model(i, layer(i))
    x = _x()
    y = model.predict(x, verbose=0)
    np.testing.assert_array_equal(layer.last.numpy(), x.max(axis=0))
    np.testing.assert_array_equal(y, np.broadcast_to(x.max(axis=0), x.shape))


@pytest.mark.parametrize("suffix", [".keras", ".graphc"])
def test_assigned_values_are_saved_and_loaded(tmp_path, suffix):
    model = _model()
    x = _x()
    model.predict(x, batch_size=4, verbose=0)
    path = tmp_path / f"m{suffix}"
    model.save(path)
    loaded = graphc.models.load_model(path, custom_objects=CUSTOM)
    for name, attr in (("counter", "count"), ("running", "mean")):
        np.testing.assert_array_equal(
            getattr(loaded.get_layer(name), attr).numpy(),
            getattr(model.get_layer(name), attr).numpy(),
        )
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert float(loaded.get_layer("counter").count.numpy()) == 3.0  # it keeps counting


def test_export_refuses_an_update_of_the_inference_graph(tmp_path):
    with pytest.raises(ExportError, match=r"counter.*holds no variables"):
        _model().export(tmp_path / "m.onnx")


def test_an_assign_in_a_subclassed_models_own_call_is_refused():
    class Net(graphc.Model):
        def __init__(self):
            super().__init__()
            self.head = layers.Dense(1)
            self.calls = graphc.Variable(0.0, trainable=False, name="calls")

        def call(self, x):
            self.calls.assign_add(1.0)
            return self.head(x)

    with pytest.raises(StateUpdateError, match=r"calls: assign_add\(\) received a value"):
        Net().predict(_x(), verbose=0)


def test_an_assign_of_a_symbolic_tensor_outside_any_layer_is_refused():
    v = graphc.Variable(np.zeros(3, "float32"), trainable=False, name="v")
    i = graphc.Input((3,))
    with pytest.raises(StateUpdateError, match="received a symbolic tensor"):
        v.assign(ops.mean(i, axis=0))


def test_eager_assign_still_changes_the_array():
    v = graphc.Variable(np.zeros(2, "float32"), name="v")
    v.assign([1.0, 2.0])
    v.assign_add(np.ones(2, "float32"))
    v.assign_sub(np.full(2, 0.5, "float32"))
    np.testing.assert_array_equal(v.numpy(), [1.5, 2.5])


# ---- a call that branches on `training` ------------------------------------------------
class TrainingMean(layers.Layer):
    """Keras's running-mean pattern: the mean moves in training only; the call count
    moves in every mode; a BatchNormalization inside gets the mode."""

    def __init__(self, with_bn=False, **kw):
        super().__init__(**kw)
        self.bn = layers.BatchNormalization(name="inner_bn") if with_bn else None

    def build(self, input_shape):
        n = input_shape[-1]
        self.mean = self.add_weight(shape=(n,), initializer="zeros", trainable=False)
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=None):
        self.calls.assign_add(1.0)
        if training:
            self.mean.assign(0.9 * self.mean + 0.1 * ops.mean(x, axis=0))
        y = x - self.mean
        return self.bn(y) if self.bn is not None else y


def _training_model(with_bn=False):
    i = graphc.Input((3,))
    layer = TrainingMean(with_bn, name="tm")
    return graphc.Model(i, layers.Dense(1, name="head")(layer(i))), layer


def test_an_update_made_only_in_training_waits_for_fit():
    model, layer = _training_model()
    x, y = _x(), np.zeros((8, 1), "float32")
    model.predict(x, batch_size=4, verbose=0)
    assert not layer.mean.numpy().any()
    assert float(layer.calls.numpy()) == 2.0
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(layer.mean.numpy(), _running_mean([x[:4] / 2, x[4:] / 2]), rtol=1e-6)
    assert float(layer.calls.numpy()) == 4.0
    model.evaluate(x, y, batch_size=8, verbose=0)
    mean = layer.mean.numpy()
    model(x, training=False)
    np.testing.assert_array_equal(layer.mean.numpy(), mean)
    model(x, training=True)
    np.testing.assert_allclose(layer.mean.numpy(), 0.9 * mean + 0.1 * x.mean(axis=0), rtol=1e-6)
    assert float(layer.calls.numpy()) == 7.0


def test_each_mode_runs_its_own_branch():
    model, layer = _training_model()
    layer.mean.assign(np.ones(3, "float32"))
    x = _x()
    head = model.get_layer("head")
    expected = (x - 1.0) @ head.kernel.numpy() + head.bias.numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    y_train = model(x, training=True)  # the branch sees the mean it just assigned
    mean = layer.mean.numpy()
    expected = (x - mean) @ head.kernel.numpy() + head.bias.numpy()
    np.testing.assert_allclose(y_train, expected, rtol=1e-5, atol=1e-6)


def test_a_layer_inside_a_branch_gets_the_mode_once():
    """The BatchNormalization inside is recorded in both branches (with training=False
    in the inference one); its moving statistics move once per training step."""
    model, layer = _training_model(with_bn=True)
    x, y = _x(), np.zeros((8, 1), "float32")
    model.predict(x, verbose=0)
    assert not layer.bn.moving_mean.numpy().any()
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # the mean moved first (0.1 * mean(x)); the BN saw x minus it, with momentum 0.99
    np.testing.assert_allclose(layer.bn.moving_mean.numpy(), 0.01 * 0.9 * x.mean(axis=0), rtol=1e-5)
    assert float(layer.calls.numpy()) == 2.0


def test_export_keeps_the_inference_branch(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

    class TrainingOnly(TrainingMean):
        def call(self, x, training=None):
            if training:
                self.mean.assign(0.9 * self.mean + 0.1 * ops.mean(x, axis=0))
            return x - self.mean

    i = graphc.Input((3,))
    layer = TrainingOnly()
    model = graphc.Model(i, layers.Dense(1)(layer(i)))
    layer.mean.assign(np.full(3, 0.5, "float32"))
    path = tmp_path / "m.onnx"
    model.export(path)
    assert [n.op_type for n in onnx.load(path).graph.node] == ["Sub", "Gemm"]
    x = _x()
    session = ort.InferenceSession(str(path))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_branches_of_different_structures_are_refused():
    class Odd(layers.Layer):
        def call(self, x, training=None):
            return [x, x] if training else x

    with pytest.raises(ValueError, match="returned 1 tensor"):
        Odd()(graphc.Input((3,)))


def test_a_call_that_does_not_branch_is_recorded_once():
    class Plain(layers.Layer):
        def call(self, x, training=None):
            return layers.Dropout(0.5)(x, training=training)

    i = graphc.Input((3,))
    model = graphc.Model(i, Plain()(i))
    assert [n.op for n in model.graph.nodes] == ["dropout"]


def test_a_subclassed_models_call_branching_on_training_is_recorded_per_mode():
    class Net(graphc.Model):
        def __init__(self):
            super().__init__()
            self.mean = TrainingMean()
            self.head = layers.Dense(1, kernel_initializer="ones")

        def call(self, x, training=None):
            h = self.mean(x)  # gets the mode from the call, as in Keras
            return self.head(h * 0.5 if training else h)

    net = Net()
    x = _x()
    net.predict(x, verbose=0)
    assert not net.mean.mean.numpy().any()
    np.testing.assert_allclose(
        net(x, training=True),
        0.5 * (x - net.mean.mean.numpy()).sum(axis=1, keepdims=True),
        rtol=1e-5,
        atol=1e-6,
    )
    assert net.mean.mean.numpy().any()


@pytest.mark.parametrize("suffix", [".keras", ".graphc"])
def test_a_model_recorded_per_mode_saves_and_loads(tmp_path, suffix):
    model, layer = _training_model()
    x, y = _x(), np.zeros((8, 1), "float32")
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / f"m{suffix}"
    model.save(path)
    loaded = graphc.models.load_model(path, custom_objects={"TrainingMean": TrainingMean})
    moved = loaded.get_layer("tm")
    np.testing.assert_array_equal(moved.mean.numpy(), layer.mean.numpy())
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(moved.mean.numpy(), layer.mean.numpy())  # inference
    loaded.compile("sgd", "mse")
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not np.array_equal(moved.mean.numpy(), layer.mean.numpy())


def test_a_sublayer_called_for_its_updates_only_still_updates():
    class Outer(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.counter = Counter()
            self.stats = TrainingMean()

        def call(self, x):
            self.counter(x)  # output unread: called for its count
            self.stats(x)  # likewise, for its running mean (in training)
            return x + 1.0

    i = graphc.Input((3,))
    outer = Outer()
    model = graphc.Model(i, layers.Dense(1)(outer(i)))
    x = _x()
    model.predict(x, batch_size=4, verbose=0)
    assert float(outer.counter.count.numpy()) == 2.0
    assert float(outer.stats.calls.numpy()) == 2.0
    assert not outer.stats.mean.numpy().any()
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((8, 1)), batch_size=8, verbose=0)
    assert float(outer.counter.count.numpy()) == 3.0
    np.testing.assert_allclose(outer.stats.mean.numpy(), 0.1 * x.mean(axis=0), rtol=1e-6)


def test_a_subclassed_model_refuses_an_update_its_outputs_never_reach():
    class Net(graphc.Model):
        def __init__(self):
            super().__init__()
            self.counter = Counter(name="lonely_counter")
            self.head = layers.Dense(1)

        def call(self, x):
            self.counter(x)  # Keras would run it; its output reaches nothing here
            return self.head(x)

    with pytest.raises(StateUpdateError, match="lonely_counter.*reaches none"):
        Net().predict(_x(), verbose=0)


def test_each_mode_runs_only_its_branch():
    class Branchy(layers.Layer):
        def call(self, x, training=None):
            return ops.cos(x) if training else ops.sin(x)

    def fit_once(compiled):
        previous = Executor.COMPILE
        Executor.COMPILE = compiled
        try:
            i = graphc.Input((3,))
            model = graphc.Model(i, layers.Dense(1, kernel_initializer="ones")(Branchy()(i)))
            model.compile("sgd", "mse")
            x = _x()
            model.fit(x, np.ones((8, 1)), batch_size=4, shuffle=False, verbose=0)
            return model, model.predict(x, verbose=0), model.get_weights()
        finally:
            Executor.COMPILE = previous

    model, y, weights = fit_once(True)
    training, _, inference = model.generated_source().partition("def backward")
    inference = inference.partition("# inference")[2]
    assert "(cos)" in training and "(sin)" not in training
    assert "(sin)" in inference and "(cos)" not in inference
    _, y_interpreted, weights_interpreted = fit_once(False)
    np.testing.assert_array_equal(y, y_interpreted)
    for a, b in zip(weights, weights_interpreted):
        np.testing.assert_array_equal(a, b)
    kernel, bias = weights
    np.testing.assert_allclose(y, np.sin(_x()) @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_a_mode_passed_positionally_is_kept():
    class Positional(layers.Layer):
        def call(self, x, training=None):
            return ops.cos(x) if training else ops.sin(x)

    i = graphc.Input((3,))
    assert [n.op for n in graphc.Model(i, Positional()(i, True)).graph.nodes] == ["cos"]
    assert [n.op for n in graphc.Model(i, Positional()(i, False)).graph.nodes] == ["sin"]
    np.testing.assert_allclose(Positional()(_x(), True), np.cos(_x()), rtol=1e-6)


def test_a_failed_training_step_puts_the_assigned_variables_back(monkeypatch):
    """A step is all or nothing: the forward pass assigned, the loss then failed, and the
    variables are those of the steps before (as batch norm's moving statistics)."""
    model = _model()
    model.compile("sgd", "mse")
    x, y = _x(), np.zeros((8, 2), "float32")
    model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    counter, running = model.get_layer("counter"), model.get_layer("running")
    count, mean = float(counter.count.numpy()), running.mean.numpy()

    def failing(*args, **kwargs):
        raise RuntimeError("loss failed")

    monkeypatch.setattr(model, "_losses", failing)
    with pytest.raises(RuntimeError, match="loss failed"):
        model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    assert float(counter.count.numpy()) == count == 2.0
    np.testing.assert_array_equal(running.mean.numpy(), mean)


@pytest.mark.parametrize("compiled", [True, False])
def test_a_gradient_reading_the_variable_before_its_assign_sees_the_old_value(compiled):
    """``y = x * scale`` then ``scale.assign(...)``: the gradient of ``x`` is taken at the
    value ``y`` was computed with (Keras's torch backend refuses this graph; its other
    backends give this)."""

    class Adaptive(layers.Layer):
        def __init__(self, assign, **kw):
            super().__init__(**kw)
            self.do_assign = assign

        def build(self, input_shape):
            self.scale = self.add_weight(
                shape=(input_shape[-1],), initializer="ones", trainable=False
            )

        def call(self, x):
            y = x * self.scale
            if self.do_assign:
                self.scale.assign(self.scale * 3.0)
            return y + self.scale  # reads the new value

    previous = Executor.COMPILE
    Executor.COMPILE = compiled
    try:
        x, target = _x(), _x(8, 1)
        results = []
        for assign in (True, False):
            i = graphc.Input((3,))
            dense = layers.Dense(3, kernel_initializer="ones", name="first")
            adaptive = Adaptive(assign)
            model = graphc.Model(i, adaptive(dense(i)))
            if not assign:
                # the same step as a model whose scale is the old value for the product
                # and the new one for the sum: its bias has the new value's offset
                adaptive.scale.assign(np.ones(3, "float32"))
            model.compile("sgd", "mse")
            offset = 0.0 if assign else 2.0
            model.fit(x, target - offset, batch_size=8, shuffle=False, verbose=0)
            results.append(dense.get_weights())
            if assign:
                np.testing.assert_array_equal(adaptive.scale.numpy(), np.full(3, 3.0))
    finally:
        Executor.COMPILE = previous
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
