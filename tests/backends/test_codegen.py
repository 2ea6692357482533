"""The executor's generated code (graphc/backends/numpy/codegen.py): inspectable, and the
same numbers bit for bit as the interpreted plan, for models that exercise each part of
the plan (inline steps, calls, shared weights, several outputs, stateful and random
layers, regularizers, frozen layers), with no array of one batch overwritten by the next.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.backends.numpy import Executor, KernelError
from graphc.ops import ExecContext


@pytest.fixture
def interpreted(monkeypatch):
    """Every executor made inside the block runs the plan through the interpreter."""

    class Switch:
        def __enter__(self):
            monkeypatch.setattr(Executor, "COMPILE", False)

        def __exit__(self, *exc):
            monkeypatch.setattr(Executor, "COMPILE", True)

    return Switch()


def _seed_mlp():
    inputs = graphc.Input(shape=(6,))
    x = layers.Dense(5, activation="relu")(inputs)
    x = layers.Dense(4, activation="softmax")(x)
    return graphc.Model(inputs, layers.Dense(3, activation="softmax")(x))


def _shared_two_outputs():
    a = graphc.Input(shape=(6,), name="a")
    b = graphc.Input(shape=(6,), name="b")
    shared = layers.Dense(5, activation="tanh")
    ha, hb = shared(a), shared(b)  # one kernel, two gradient contributions
    merged = layers.Add()([ha, hb])
    out1 = layers.Dense(3, activation="softmax", name="cls")(merged)
    out2 = layers.Dense(1, name="reg")(layers.Concatenate()([ha, merged]))
    return graphc.Model([a, b], [out1, out2])


def _stateful_regularized():
    inputs = graphc.Input(shape=(6,))
    x = layers.Dense(
        8,
        kernel_regularizer=graphc.regularizers.L2(0.01),
        activity_regularizer=graphc.regularizers.L1(0.001),
    )(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.3)(x)
    return graphc.Model(inputs, layers.Dense(3, activation="softmax")(x))


def _frozen():
    model = _stateful_regularized()
    model.layers[1].trainable = False  # the regularized Dense
    model.layers[2].trainable = False  # batch norm: runs in inference mode
    return model


def _conv():
    inputs = graphc.Input(shape=(6, 6, 1))
    x = layers.Conv2D(2, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    return graphc.Model(inputs, layers.Dense(3, activation="softmax")(x))


def _data(model, n=20, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.random((n,) + tuple(v.shape[1:]), dtype=np.float32) for v in model.inputs]
    ys = []
    for v in model.outputs:
        width = v.shape[-1]
        ys.append(
            np.eye(width, dtype=np.float32)[rng.integers(0, width, n)]
            if width > 1
            else rng.random((n, 1), dtype=np.float32)
        )
    return xs, ys


def _train(builder, optimizer, loss, interpreted=None, epochs=2):
    graphc.utils.set_random_seed(7)
    model = builder()
    model.compile(optimizer=optimizer, loss=loss)
    xs, ys = _data(model)
    if interpreted is not None:
        with interpreted:
            history = model.fit(xs, ys, batch_size=8, epochs=epochs, verbose=0)
            preds = model.predict(xs, verbose=0)
    else:
        history = model.fit(xs, ys, batch_size=8, epochs=epochs, verbose=0)
        preds = model.predict(xs, verbose=0)
    return model, history.history, preds


class LeftMatmul(layers.Layer):
    """``(w @ x.T).T``: a weight as matmul's first operand (Dense has it second)."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(3, input_shape[-1]), initializer="glorot_uniform")

    def call(self, x):
        return graphc.ops.transpose(graphc.ops.matmul(self.w, graphc.ops.transpose(x)))


def _left_matmul():
    inputs = graphc.Input(shape=(6,))
    shared = layers.Dense(6, activation="relu")
    x = shared(shared(inputs))  # one layer applied twice: two gradients for one weight
    return graphc.Model(inputs, layers.Activation("softmax")(LeftMatmul()(x)))


CASES = {
    "seed mlp, rmsprop": (_seed_mlp, "rmsprop", "categorical_crossentropy"),
    "shared layer, two outputs, adam": (
        _shared_two_outputs,
        "adam",
        ["categorical_crossentropy", "mse"],
    ),
    "batch norm, dropout, regularizers, sgd": (
        _stateful_regularized,
        "sgd",
        "categorical_crossentropy",
    ),
    "frozen layers, rmsprop": (_frozen, "rmsprop", "categorical_crossentropy"),
    "conv and pool (called kernels), adam": (_conv, "adam", "categorical_crossentropy"),
    "a weight on matmul's left, a layer applied twice, sgd": (
        _left_matmul,
        "sgd",
        "categorical_crossentropy",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_compiled_training_is_bitwise_the_interpreted_one(case, interpreted):
    builder, optimizer, loss = CASES[case]
    compiled_model, compiled_history, compiled_preds = _train(builder, optimizer, loss)
    ref_model, ref_history, ref_preds = _train(builder, optimizer, loss, interpreted)
    assert compiled_model._executor(with_masks=True).compiled
    assert not ref_model._executor(with_masks=True).compiled
    assert compiled_history == ref_history  # every loss of every epoch, exactly
    for got, want in zip(compiled_model.get_weights(), ref_model.get_weights()):
        np.testing.assert_array_equal(got, want)
    if not isinstance(ref_preds, list):
        compiled_preds, ref_preds = [compiled_preds], [ref_preds]
    for got, want in zip(compiled_preds, ref_preds, strict=True):
        np.testing.assert_array_equal(got, want)


def test_source_is_straight_line_python_with_the_dense_steps_inline():
    model = _seed_mlp()
    ex = Executor(model.graph, model.trainable_weights)
    src = ex.source()
    assert src.count("def forward(") == 2 and src.count("def backward(") == 1
    # no loop over the plan: one line (or a few) per step
    assert not any(line.lstrip().startswith(("for ", "while ")) for line in src.splitlines())
    assert "mm(v0, v1)" in src  # the first Dense's matmul, inline (np.matmul via _blas.product)
    assert "relu(v" in src  # relu, inline (graphc.ops.elementwise.relu: np.maximum(x, 0))
    assert "# dense" in src  # each step names its layer
    compile(src, "<source>", "exec")  # what source() shows is valid Python
    model.compile(optimizer="sgd", loss="mse")
    assert model.generated_source() == src  # the model-level accessor


def test_a_dense_gemm_runs_as_the_matmul_and_add_it_stands_for():
    """A Dense layer records one gemm on a rank-2 input; the plan runs it as a matmul and
    an add: the same generated code and the same numbers, bit for bit, as the two ops
    recorded by a layer that calls them, and the graph's values keep their readers."""
    from recorded_layers import MatMulAdd

    def build(dense):
        graphc.utils.set_random_seed(5)
        inputs = graphc.Input(shape=(6,))
        x = dense(5, activation="relu")(inputs)
        return graphc.Model(inputs, dense(3, activation="softmax")(x))

    x = np.random.default_rng(0).standard_normal((40, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(40) % 3]
    runs = []
    for dense in (layers.Dense, MatMulAdd):
        model = build(dense)
        uses = [list(v.uses) for n in model.graph.nodes for v in n.inputs + n.outputs]
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"]
        source = model.generated_source()
        runs.append((model, history, source))
        assert [list(v.uses) for n in model.graph.nodes for v in n.inputs + n.outputs] == uses
    (dense_model, dense_history, dense_source), (ops_model, ops_history, ops_source) = runs
    assert [n.op for n in dense_model.graph.nodes] == ["gemm", "relu", "gemm", "softmax"]
    assert [n.op for n in ops_model.graph.nodes][:3] == ["matmul", "add", "relu"]
    assert dense_history == ops_history
    for got, want in zip(dense_model.get_weights(), ops_model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)

    def code(source):  # the comments name the layers, which differ
        return [line for line in source.splitlines() if not line.lstrip().startswith("#")]

    assert code(dense_source) == code(ops_source)


def test_arrays_of_one_batch_survive_the_next():
    """Outputs, watched values and gradients handed out are never buffers the next batch
    writes into."""
    graphc.utils.set_random_seed(3)
    model = _seed_mlp()
    ex = Executor(model.graph, model.trainable_weights)
    rng = np.random.default_rng(0)
    x1, x2 = rng.random((4, 6), dtype=np.float32), rng.random((4, 6), dtype=np.float32)
    ctx = ExecContext(training=True)
    grads = {p: np.zeros(p.shape, np.float32) for p in model.trainable_weights}
    out1, env = ex.forward([x1], ctx, keep_for_backward=True)
    kept = out1[0].copy()
    g_out = np.ones_like(out1[0])
    ex.backward(env, [g_out], grads)
    np.testing.assert_array_equal(g_out, 1)  # the caller's output gradient is not scratch
    first = {p: g.copy() for p, g in grads.items()}
    out2, env = ex.forward([x2], ctx, keep_for_backward=True)
    ex.backward(env, [np.ones_like(out2[0])], grads)
    np.testing.assert_array_equal(out1[0], kept)
    assert not np.array_equal(out1[0], out2[0])
    assert any(not np.array_equal(first[p], grads[p]) for p in grads)
    p1 = model.predict(x1, verbose=0)
    kept = p1.copy()
    model.predict(x2, verbose=0)
    np.testing.assert_array_equal(p1, kept)
    np.testing.assert_array_equal(x1, x1.copy())  # inputs are never written


def test_history_values_are_not_overwritten_by_later_steps():
    graphc.utils.set_random_seed(4)
    model = _seed_mlp()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    xs, ys = _data(model)
    logs = []

    class Keep(graphc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs_=None):
            logs.append(dict(logs_))

    history = model.fit(xs, ys, batch_size=5, epochs=3, verbose=0, callbacks=[Keep()])
    assert len(set(history.history["loss"])) == 3
    assert len({entry["loss"] for entry in logs}) == len(logs)


def test_a_weight_no_loss_reaches_gets_a_zero_gradient():
    """An output without a loss sends no gradient: its Dense's weights stay as they are,
    interpreted or compiled (a skipped step zeroes the buffers it would write first)."""
    for compiled in (True, False):
        graphc.utils.set_random_seed(5)
        inputs = graphc.Input(shape=(4,))
        h = layers.Dense(3)(inputs)
        model = graphc.Model(inputs, [layers.Dense(2)(h), layers.Dense(2, name="unused")(h)])
        model.compile(optimizer="rmsprop", loss=["mse", None])
        before = [w.copy() for w in model.get_layer("unused").get_weights()]
        x = np.random.default_rng(0).random((12, 4), dtype=np.float32)
        y = np.zeros((12, 2), np.float32)
        Executor.COMPILE = compiled
        try:
            model.fit(x, [y, y], batch_size=4, epochs=2, verbose=0)
        finally:
            Executor.COMPILE = True
        for got, want in zip(model.get_layer("unused").get_weights(), before):
            np.testing.assert_array_equal(got, want)


def test_a_failing_kernel_names_its_layer_in_generated_code():
    inputs = graphc.Input(shape=(6,))
    model = graphc.Model(inputs, layers.Dense(3, name="head")(inputs))
    ex = Executor(model.graph, model.trainable_weights)
    with pytest.raises(KernelError, match="head"):
        ex.forward([np.ones((2, 5), np.float32)], ExecContext())  # wrong width


def test_graphs_without_steps_or_gradients_compile():
    inputs = graphc.Input(shape=(3,))
    identity = graphc.Model(inputs, inputs)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(identity.predict(x, verbose=0), x)
    model = graphc.Model(inputs, layers.Dense(2)(inputs))
    ex = Executor(model.graph, [])  # nothing trainable: an empty backward pass
    out, env = ex.forward([x], ExecContext(training=True), keep_for_backward=True)
    ex.backward(env, [np.ones_like(out[0])], {})


def test_float64_leaf_values_give_the_interpreters_gradients():
    """Gradient checks run the plan in float64 (``leaf_values``) into float32 buffers."""
    graphc.utils.set_random_seed(6)
    model = _seed_mlp()
    x = np.random.default_rng(1).random((5, 6))
    leaf = {p: p.data.astype(np.float64) for p in model.weights}
    results = []
    for compiled in (True, False):
        ex = Executor(model.graph, model.trainable_weights, compiled=compiled)
        grads = {p: np.zeros(p.shape, np.float32) for p in model.trainable_weights}
        out, env = ex.forward([x], ExecContext(), keep_for_backward=True, leaf_values=leaf)
        assert out[0].dtype == np.float64
        ex.backward(env, [np.random.default_rng(2).random(out[0].shape)], grads)
        results.append((out[0], grads))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for p in model.trainable_weights:
        np.testing.assert_array_equal(results[0][1][p], results[1][1][p])
