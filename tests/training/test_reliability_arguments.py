"""Issue 13, item 7: every public argument of compile / fit / evaluate / predict /
*_on_batch and the built-in callbacks is checked for type and range, with a typed error
(a GraphcError that is also a TypeError or ValueError) naming the argument, what was
received and what is expected. Before, ``evaluate(batch_size=-1)`` returned ``[]``,
``batch_size=0`` raised ZeroDivisionError, a negative predict batch IndexError and
``fit(batch_size=2.5)`` trained with batches of 2."""

import numpy as np
import pytest

import graphc
from graphc import callbacks, layers
from graphc.errors import ArgumentTypeError, ArgumentValueError, GraphcError

T, V = ArgumentTypeError, ArgumentValueError


@pytest.fixture(scope="module")
def model():
    graphc.utils.set_random_seed(0)
    inp = graphc.Input(shape=(3,))
    m = graphc.Model(inp, layers.Dense(2, activation="softmax")(inp))
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return m


X = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
Y = np.array([0, 1] * 4)

# (entry, keyword arguments, error type, fragments the message must contain)
CASES = [
    ("fit", dict(batch_size=2.5), T, ["batch_size", "2.5", "float", "positive integer"]),
    ("fit", dict(batch_size=0), V, ["batch_size=0", "positive integer"]),
    ("fit", dict(batch_size=-4), V, ["batch_size=-4"]),
    ("fit", dict(batch_size="32"), T, ["batch_size", "'32'", "str"]),
    ("fit", dict(batch_size=True), T, ["batch_size", "True", "bool"]),
    ("fit", dict(epochs=1.5), T, ["epochs", "1.5"]),
    ("fit", dict(epochs=-1), V, ["epochs=-1", ">= 0"]),
    ("fit", dict(initial_epoch=-2), V, ["initial_epoch=-2"]),
    ("fit", dict(verbose=3), V, ["verbose", "'auto', 0, 1 or 2", "3"]),
    ("fit", dict(verbose="yes"), V, ["verbose", "'yes'"]),
    ("fit", dict(validation_split=1.5), V, ["validation_split", "between 0 and 1", "1.5"]),
    ("fit", dict(validation_split=1.0), V, ["validation_split", "1.0"]),
    ("fit", dict(validation_split=-0.1), V, ["validation_split", "-0.1"]),
    ("fit", dict(validation_split="0.2"), T, ["validation_split", "'0.2'"]),
    ("fit", dict(shuffle="yes"), T, ["shuffle", "True or False", "'yes'"]),
    ("fit", dict(class_weight=[1.0, 2.0]), T, ["class_weight", "dict", "list"]),
    ("fit", dict(steps_per_epoch=0), V, ["steps_per_epoch=0"]),
    ("fit", dict(steps_per_epoch=2.0), T, ["steps_per_epoch", "2.0"]),
    ("fit", dict(validation_steps=-1), V, ["validation_steps=-1"]),
    ("fit", dict(validation_batch_size=0), V, ["validation_batch_size=0"]),
    ("fit", dict(validation_freq=0), V, ["validation_freq=0"]),
    ("fit", dict(callbacks=["EarlyStopping"]), T, ["callbacks", "'EarlyStopping'", "Callback"]),
    ("fit", dict(callbacks=[None]), T, ["callbacks", "None"]),
    ("fit", dict(callbacks=callbacks.History()), T, ["callbacks", "list", "History"]),
    ("evaluate", dict(batch_size=-1), V, ["Model.evaluate()", "batch_size=-1"]),
    ("evaluate", dict(batch_size=0), V, ["batch_size=0"]),
    ("evaluate", dict(batch_size=1.5), T, ["batch_size", "1.5"]),
    ("evaluate", dict(steps=0), V, ["steps=0"]),
    ("evaluate", dict(verbose=-1), V, ["verbose"]),
    ("evaluate", dict(return_dict="yes"), T, ["return_dict", "'yes'"]),
    ("evaluate", dict(callbacks=[1]), T, ["callbacks"]),
    ("predict", dict(batch_size=-2), V, ["Model.predict()", "batch_size=-2"]),
    ("predict", dict(batch_size=0), V, ["batch_size=0"]),
    ("predict", dict(batch_size=np.float32(4)), T, ["batch_size", "float32"]),
    ("predict", dict(steps=-1), V, ["steps=-1"]),
    ("predict", dict(verbose=5), V, ["verbose"]),
    ("train_on_batch", dict(class_weight=(1, 2)), T, ["class_weight", "tuple"]),
    ("train_on_batch", dict(return_dict=1), T, ["return_dict"]),
    ("test_on_batch", dict(return_dict="no"), T, ["return_dict"]),
]


def _call(model, entry, kwargs):
    if entry == "fit":
        return model.fit(X, Y, **{"verbose": 0, **kwargs})
    if entry == "evaluate":
        return model.evaluate(X, Y, **{"verbose": 0, **kwargs})
    if entry == "predict":
        return model.predict(X, **{"verbose": 0, **kwargs})
    if entry == "train_on_batch":
        return model.train_on_batch(X, Y, **kwargs)
    return model.test_on_batch(X, Y, **kwargs)


def _id(value):
    """A stable test id: an object's class, not its address."""
    if isinstance(value, (int, float, str, bool, type(None), list, tuple, dict)):
        return repr(value)
    return type(value).__name__


@pytest.mark.parametrize(
    "entry,kwargs,error,fragments",
    CASES,
    ids=[f"{e}-{'-'.join(f'{k}={_id(v)}' for k, v in kw.items())}" for e, kw, _, _ in CASES],
)
def test_bad_argument_is_a_typed_error(model, entry, kwargs, error, fragments):
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(error) as info:
        _call(model, entry, kwargs)
    assert isinstance(info.value, GraphcError)
    assert isinstance(info.value, TypeError if error is T else ValueError)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    for u, v in zip(before, model.get_weights()):  # refused before any work
        np.testing.assert_array_equal(u, v)


# Values Keras accepts stay accepted.
GOOD = [
    ("fit", dict(batch_size=np.int64(4), epochs=np.int32(1))),
    ("fit", dict(verbose=True)),
    ("fit", dict(verbose="auto")),
    ("fit", dict(validation_split=0)),
    ("fit", dict(validation_split=np.float32(0.25), shuffle=np.bool_(False))),
    ("fit", dict(epochs=0)),
    ("fit", dict(class_weight={0: 1.0, 1: 2.0}, callbacks=(callbacks.History(),))),
    ("evaluate", dict(batch_size=3, return_dict=True)),
    ("predict", dict(batch_size=100)),
]


@pytest.mark.parametrize("entry,kwargs", GOOD, ids=[f"{e}-{sorted(kw)}" for e, kw in GOOD])
def test_good_arguments_are_accepted(model, entry, kwargs):
    _call(model, entry, kwargs)


def test_fit_batch_size_is_exact(model):
    """batch_size=3 gives 3 steps for 8 rows (never a truncated 2.5 -> 2)."""
    seen = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    model.fit(X, Y, batch_size=3, epochs=1, verbose=0, callbacks=[cb])
    assert seen == [0, 1, 2]


# ---- compile -----------------------------------------------------------------------
COMPILE = [
    (dict(run_eagerly="no"), T, ["run_eagerly"]),
    (dict(steps_per_execution=0), V, ["steps_per_execution=0"]),
    (dict(steps_per_execution=1.5), T, ["steps_per_execution"]),
    (dict(jit_compile="yes"), T, ["jit_compile"]),
    (dict(auto_scale_loss=None), T, ["auto_scale_loss"]),
    (dict(loss_weights=["a"]), T, ["loss_weights", "'a'"]),
    (dict(loss_weights=[float("nan")]), T, ["loss_weights", "nan"]),
]


@pytest.mark.parametrize(
    "kwargs,error,fragments", COMPILE, ids=[str(sorted(kw.items())) for kw, _, _ in COMPILE]
)
def test_bad_compile_argument(kwargs, error, fragments):
    inp = graphc.Input(shape=(3,))
    m = graphc.Model(inp, layers.Dense(2)(inp))
    with pytest.raises(error) as info:
        m.compile(optimizer="sgd", loss="mse", **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


# ---- callbacks ---------------------------------------------------------------------
CALLBACKS = [
    (lambda: callbacks.EarlyStopping(patience=-1), V, ["patience=-1"]),
    (lambda: callbacks.EarlyStopping(patience=2.5), T, ["patience", "2.5"]),
    (lambda: callbacks.EarlyStopping(monitor=3), T, ["monitor", "3"]),
    (lambda: callbacks.EarlyStopping(min_delta="0.1"), T, ["min_delta"]),
    (lambda: callbacks.EarlyStopping(restore_best_weights="yes"), T, ["restore_best_weights"]),
    (lambda: callbacks.EarlyStopping(start_from_epoch=-1), V, ["start_from_epoch"]),
    (lambda: callbacks.EarlyStopping(baseline="high"), T, ["baseline"]),
    (lambda: callbacks.ModelCheckpoint("m.graphc", save_freq=0), V, ["save_freq=0"]),
    (
        lambda: callbacks.ModelCheckpoint("m.graphc", save_freq="batch"),
        V,
        ["Unrecognized save_freq", "'batch'"],
    ),
    (lambda: callbacks.ModelCheckpoint("m.graphc", save_freq=2.5), V, ["save_freq", "2.5"]),
    (lambda: callbacks.ModelCheckpoint(None), T, ["filepath", "None"]),
    (lambda: callbacks.ModelCheckpoint("m.graphc", save_best_only="yes"), T, ["save_best_only"]),
    (lambda: callbacks.ReduceLROnPlateau(factor=1.0), V, ["factor >= 1.0", "factor=1.0"]),
    (lambda: callbacks.ReduceLROnPlateau(factor=-0.5), V, ["factor", "-0.5"]),
    (lambda: callbacks.ReduceLROnPlateau(factor="0.5"), T, ["factor"]),
    (lambda: callbacks.ReduceLROnPlateau(patience=-3), V, ["patience=-3"]),
    (lambda: callbacks.ReduceLROnPlateau(cooldown=0.5), T, ["cooldown"]),
    (lambda: callbacks.ReduceLROnPlateau(min_lr=-1e-3), V, ["min_lr"]),
    (lambda: callbacks.LearningRateScheduler(0.1), T, ["schedule", "function"]),
    (lambda: callbacks.CSVLogger("log.csv", separator=1), T, ["separator"]),
    (lambda: callbacks.CSVLogger("log.csv", append="yes"), T, ["append"]),
    (lambda: callbacks.TerminateOnNaN(raise_error="yes"), T, ["raise_error"]),
    (lambda: callbacks.LambdaCallback(on_epoch_end=1), T, ["on_epoch_end", "function"]),
]


@pytest.mark.parametrize(
    "make,error,fragments", CALLBACKS, ids=[str(i) for i in range(len(CALLBACKS))]
)
def test_bad_callback_argument(make, error, fragments):
    with pytest.raises(error) as info:
        make()
    assert isinstance(info.value, GraphcError)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_good_callback_arguments():
    callbacks.EarlyStopping(patience=np.int64(2), min_delta=np.float32(0.1), baseline=1)
    callbacks.ModelCheckpoint("m.graphc", save_freq=np.int64(10))
    callbacks.ReduceLROnPlateau(factor=0, min_lr=0)
