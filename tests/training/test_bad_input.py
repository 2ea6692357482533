"""Bad input gets a clear ValueError, and nothing is lost: after each error the model
still trains and predicts, and its weights are bit-for-bit what they were. A NaN loss
with TerminateOnNaN stops training within one batch."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import callbacks, layers, optimizers
from graphc.errors import GraphcError


def _model(seed=0, compile=True, optimizer="adam", loss="sparse_categorical_crossentropy"):
    graphc.utils.set_random_seed(seed)
    inp = graphc.Input(shape=(4,), name="features")
    h = layers.Dense(6, activation="relu")(inp)
    model = graphc.Model(inp, layers.Dense(3, activation="softmax", name="probs")(h))
    if compile:
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _two_io(seed=1):
    graphc.utils.set_random_seed(seed)
    a = graphc.Input(shape=(3,), name="left")
    b = graphc.Input(shape=(2,), name="right")
    ha, hb = layers.Dense(4)(a), layers.Dense(4)(b)
    out1 = layers.Dense(1, name="score")(ha)
    out2 = layers.Dense(2, activation="softmax", name="label")(hb)
    model = graphc.Model({"left": a, "right": b}, {"score": out1, "label": out2})
    model.compile(
        optimizer="adam", loss={"score": "mse", "label": "sparse_categorical_crossentropy"}
    )
    return model


def _data(n=20, seed=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


def _two_io_data(n=12, seed=3):
    rng = np.random.default_rng(seed)
    return (
        {
            "left": rng.standard_normal((n, 3)).astype(np.float32),
            "right": rng.standard_normal((n, 2)).astype(np.float32),
        },
        {"score": rng.standard_normal((n, 1)).astype(np.float32), "label": rng.integers(0, 2, n)},
    )


def _assert_unharmed(model, before, x, y):
    """Weights bit-for-bit unchanged, and the model still predicts and trains."""
    after = model.get_weights()
    assert len(after) == len(before)
    for u, v in zip(before, after):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)
    pred = model.predict(x, verbose=0)
    assert all(np.isfinite(p).all() for p in graphc.layers.base.flatten_struct(pred))
    hist = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert not all(np.array_equal(u, v) for u, v in zip(before, model.get_weights()))


def _raises(fn, *fragments):
    with pytest.raises(ValueError) as info:
        fn()
    assert isinstance(info.value, GraphcError), type(info.value)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


# ---- single input / output --------------------------------------------------------------------
def _nan_at(x, where, value):
    x = x.copy()
    x[where] = value
    return x


BAD_SINGLE = {
    "fewer_y_rows": (lambda x, y: (x, y[:-3]), ["x sizes: 20", "y sizes: 17"]),
    "fewer_x_rows": (lambda x, y: (x[:5], y), ["x sizes: 5", "y sizes: 20"]),
    "narrow_features": (
        lambda x, y: (x[:, :3], y),
        ['"features"', "expected shape (None, 4)", "received (20, 3)"],
    ),
    "extra_axis": (
        lambda x, y: (x[:, :, None], y),
        ['"features"', "expected shape (None, 4)", "received (20, 4, 1)"],
    ),
    "one_row_without_batch_axis": (
        lambda x, y: (x[0], y[:1]),
        ['"features"', "expected shape (None, 4)", "(4,)"],
    ),
    "string_x": (lambda x, y: (x.astype(str), y), ["features", "dtype"]),
    "string_y": (lambda x, y: (x, np.array(["cat"] * len(y))), ["probs", "dtype"]),
    "object_x": (
        lambda x, y: (np.array([[1, 2, 3, "a"]] * 20, dtype=object), y),
        ["features", "dtype"],
    ),
    "ragged_x": (lambda x, y: ([[1.0, 2.0], [3.0]], y), ["features"]),
    "nan_in_x": (lambda x, y: (_nan_at(x, (7, 2), np.nan), y), ['"features"', "1 NaN or infinite"]),
    "inf_in_x": (
        lambda x, y: (_nan_at(x, (19, 0), -np.inf), y),
        ['"features"', "1 NaN or infinite"],
    ),
    "wrong_dict_key": (lambda x, y: ({"feature": x}, y), ["feature", "features", "missing"]),
    "wrong_target_key": (lambda x, y: (x, {"prob": y}), ["'prob'", "probs", "missing"]),
    "one_hot_width": (
        lambda x, y: (x, np.eye(5, dtype=np.float32)[y % 5]),
        ['"probs"', "(5,)", "(3,)"],
    ),
    "y_missing": (lambda x, y: (x, None), ["y"]),
}


@pytest.mark.parametrize("case", sorted(BAD_SINGLE))
@pytest.mark.parametrize("entry", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_bad_data_is_refused_and_nothing_is_lost(case, entry):
    x, y = _data()
    model = _model(seed=4, loss="sparse_categorical_crossentropy")
    if case == "one_hot_width":
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        y = np.eye(3, dtype=np.float32)[y]
    model.fit(x, y, epochs=1, verbose=0)  # optimizer state and buffer exist
    before = model.get_weights()
    make, fragments = BAD_SINGLE[case]
    bx, by = make(x, y if case != "one_hot_width" else y.argmax(-1))
    call = {
        "fit": lambda: model.fit(bx, by, epochs=2, batch_size=4, verbose=0),
        "evaluate": lambda: model.evaluate(bx, by, verbose=0),
        "train_on_batch": lambda: model.train_on_batch(bx, by),
        "test_on_batch": lambda: model.test_on_batch(bx, by),
    }[entry]
    _raises(call, *fragments)
    _assert_unharmed(model, before, x, y)


@pytest.mark.parametrize(
    "case",
    [
        "narrow_features",
        "extra_axis",
        "string_x",
        "nan_in_x",
        "inf_in_x",
        "wrong_dict_key",
        "ragged_x",
    ],
)
def test_bad_data_to_predict(case):
    x, y = _data()
    model = _model(seed=5)
    before = model.get_weights()
    make, fragments = BAD_SINGLE[case]
    bx, _ = make(x, y)
    _raises(lambda: model.predict(bx, verbose=0), *fragments)
    if case != "ragged_x":  # see test_predict_on_batch_accepts_nested_lists
        _raises(lambda: model.predict_on_batch(bx), *fragments)
    _assert_unharmed(model, before, x, y)


def test_fit_before_compile():
    x, y = _data()
    model = _model(seed=6, compile=False)
    before = model.get_weights()
    for call in (
        lambda: model.fit(x, y, verbose=0),
        lambda: model.evaluate(x, y, verbose=0),
        lambda: model.train_on_batch(x, y),
        lambda: model.test_on_batch(x, y),
    ):
        with pytest.raises(ValueError, match="compile"):
            call()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    _assert_unharmed(model, before, x, y)


def test_bad_sample_weight_and_class_weight():
    x, y = _data()
    model = _model(seed=7)
    model.fit(x, y, epochs=1, verbose=0)
    before = model.get_weights()
    _raises(
        lambda: model.fit(x, y, sample_weight=np.ones(19), verbose=0), "sample_weight sizes: 19"
    )
    _raises(lambda: model.fit(x, y, class_weight={0: 1.0, 1: 2.0}, verbose=0), "class", "[2]")
    _raises(lambda: model.fit(x, y, validation_split=1.5, verbose=0), "validation_split")
    _assert_unharmed(model, before, x, y)


def test_bad_validation_data_is_refused_before_any_training():
    x, y = _data()
    model = _model(seed=8)
    before = model.get_weights()
    _raises(
        lambda: model.fit(x, y, epochs=2, verbose=0, validation_data=(x[:, :3], y)),
        '"features"',
        "received (20, 3)",
    )
    _raises(
        lambda: model.fit(
            x, y, epochs=2, verbose=0, validation_data=(_nan_at(x, (0, 0), np.nan), y)
        ),
        "NaN",
    )
    _raises(lambda: model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y[:4])), "sizes")
    _raises(lambda: model.fit(x, y, epochs=2, verbose=0, validation_data=x), "validation_data")
    _assert_unharmed(model, before, x, y)


def test_nan_targets_are_refused():
    x, y = _data()
    model = _model(seed=9)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    before = model.get_weights()
    onehot = np.eye(3, dtype=np.float32)[y]
    onehot[3, 1] = np.nan
    _raises(lambda: model.fit(x, onehot, verbose=0), '"probs"', "NaN")
    _assert_unharmed(model, before, x, np.eye(3, dtype=np.float32)[y])


@pytest.mark.parametrize(
    "bad", ["missing_input", "wrong_input_shape", "missing_target", "rows", "list_length"]
)
def test_multi_io_bad_data(bad):
    model = _two_io()
    x, y = _two_io_data()
    model.fit(x, y, epochs=1, verbose=0)
    before = model.get_weights()
    if bad == "missing_input":
        call, frag = lambda: model.fit({"left": x["left"]}, y, verbose=0), ["right", "missing"]
    elif bad == "wrong_input_shape":
        bx = dict(x, right=x["right"][:, :1])
        call, frag = (
            lambda: model.fit(bx, y, verbose=0),
            ['"right"', "expected shape (None, 2)", "received (12, 1)"],
        )
    elif bad == "missing_target":
        call, frag = lambda: model.fit(x, {"score": y["score"]}, verbose=0), ["label", "missing"]
    elif bad == "rows":
        by = dict(y, label=y["label"][:10])
        call, frag = lambda: model.fit(x, by, verbose=0), ["sizes", "10", "12"]
    else:
        call, frag = (lambda: model.fit([x["left"]], y, verbose=0), ["2", "1"])
    _raises(call, *frag)
    _assert_unharmed(model, before, x, y)


def test_integer_and_float64_inputs_are_accepted():
    x, y = _data()
    model = _model(seed=10)
    p32 = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x.astype(np.float64), verbose=0), p32)
    xi = np.round(x * 3).astype(np.int64)
    np.testing.assert_array_equal(
        model.predict(xi, verbose=0), model.predict(xi.astype(np.float32), verbose=0)
    )
    model.fit(xi, y.astype(np.int32), epochs=1, verbose=0)
    model.fit(x.tolist(), y.tolist(), epochs=1, verbose=0)  # nested lists work like arrays


def test_predict_on_batch_accepts_nested_lists():
    x, _ = _data(n=5)
    model = _model(seed=20)
    np.testing.assert_array_equal(model.predict_on_batch(x.tolist()), model.predict(x, verbose=0))


# ---- errors in the middle of an epoch -----------------------------------------------------
def test_out_of_range_label_in_a_late_batch_changes_nothing():
    x, y = _data()
    model = _model(seed=11)
    model.fit(x, y, epochs=1, verbose=0)
    before = model.get_weights()
    bad = y.copy()
    bad[-1] = 7
    _raises(
        lambda: model.fit(x, bad, batch_size=4, shuffle=False, verbose=0), "label 7", "3 classes"
    )
    _assert_unharmed(model, before, x, y)


def test_rank_one_target_for_a_wide_output_names_the_output():
    x, y = _data()
    model = _model(seed=12, loss="mse")
    before = model.get_weights()
    _raises(lambda: model.fit(x, y.astype(np.float32), batch_size=4, verbose=0), '"probs"', "(3,)")
    _assert_unharmed(model, before, x, np.eye(3, dtype=np.float32)[y])


@pytest.mark.parametrize("entry", ["fit", "evaluate", "predict"])
def test_empty_data_is_a_clear_error(entry):
    model = _model(seed=13)
    x, y = np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
    call = {
        "fit": lambda: model.fit(x, y, verbose=0),
        "evaluate": lambda: model.evaluate(x, y, verbose=0),
        "predict": lambda: model.predict(x, verbose=0),
    }[entry]
    with pytest.raises(ValueError, match="features"):
        call()


# ---- TerminateOnNaN -----------------------------------------------------------------------
class BatchRecorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches, self.weights, self.losses, self.epochs_ended = 0, [], [], 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self.weights.append(self.model.get_weights())
        self.losses.append(logs["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_ended += 1


# The overflow is the point of these tests; whether graphc warns about it is tested apart.
_OVERFLOW_OK = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _overflow_data():
    """Finite inputs; the third batch of 4 is ~1e20, so a linear model's squared error
    overflows float32 there (and only there)."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    x[8:12] *= np.float32(1e20)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    return x, y


def _linear(seed=15, lr=0.01):
    graphc.utils.set_random_seed(seed)
    inp = graphc.Input(shape=(4,))
    model = graphc.Model(inp, layers.Dense(1)(inp))
    model.compile(optimizer=optimizers.SGD(lr), loss="mse")
    return model


@_OVERFLOW_OK
def test_terminate_on_nan_stops_after_the_batch_as_keras(capsys):
    # Keras's TerminateOnNaN runs at on_train_batch_end, after the optimizer applied the
    # bad batch's update (its torch trainer never skips one): graphc does the same.
    x, y = _overflow_data()
    model = _linear()
    rec = BatchRecorder()
    with pytest.warns(UserWarning, match="step was applied anyway"):
        hist = model.fit(
            x,
            y,
            batch_size=4,
            epochs=5,
            shuffle=False,
            verbose=0,
            callbacks=[rec, callbacks.TerminateOnNaN()],
        )
    assert rec.batches == 3  # batches 0, 1 and the bad batch 2
    assert np.isfinite(rec.losses[:2]).all() and not np.isfinite(rec.losses[2])
    # the bad batch's update was applied: the weights are those after batch 2
    for u, v in zip(rec.weights[2], model.get_weights()):
        np.testing.assert_array_equal(u, v)
    assert not all(np.isfinite(w).all() for w in model.get_weights())
    assert model.optimizer.iterations == 3
    # as Keras 3: the interrupted epoch still ends (on_epoch_end, one History entry)
    assert rec.epochs_ended == 1 and len(hist.history["loss"]) == 1
    assert not np.isfinite(hist.history["loss"][0])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


@_OVERFLOW_OK
def test_terminate_on_nan_after_a_huge_learning_rate():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    model = _linear(seed=17, lr=1e25)
    rec = BatchRecorder()
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[rec, callbacks.TerminateOnNaN()],
    )
    assert rec.batches < 8
    assert not np.isfinite(rec.losses[-1])
    assert np.isfinite(rec.losses[:-1]).all()
    for u, v in zip(rec.weights[-1], model.get_weights()):
        np.testing.assert_array_equal(u, v)


@_OVERFLOW_OK
def test_without_terminate_on_nan_every_batch_is_applied_as_keras():
    # Keras applies every step, NaN or not; graphc too, and says so once.
    import warnings

    x, y = _overflow_data()
    model = _linear(seed=18)
    rec = BatchRecorder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[rec])
    assert rec.batches == 8
    assert model.optimizer.iterations == 8  # every batch made an optimizer step
    assert not np.isfinite(hist.history["loss"]).any()
    assert not all(np.array_equal(u, v) for u, v in zip(rec.weights[1], rec.weights[2]))
    assert not all(np.isfinite(w).all() for w in model.get_weights())
    mine = [w for w in caught if "step was applied anyway" in str(w.message)]
    assert len(mine) == 1 and "TerminateOnNaN" in str(mine[0].message)


@_OVERFLOW_OK
def test_terminate_on_nan_raise_error():
    x, y = _overflow_data()
    model = _linear(seed=19)
    rec = BatchRecorder()
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[rec, callbacks.TerminateOnNaN(raise_error=True)],
        )
    assert rec.batches == 3
    for u, v in zip(rec.weights[2], model.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_overflowing_loss_emits_no_runtime_warning():
    import warnings

    x, y = _overflow_data()
    model = _linear(seed=21)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[callbacks.TerminateOnNaN()],
        )
    # NumPy's overflow warnings stay quiet; graphc's own (a UserWarning) says it once
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert sum("step was applied anyway" in str(w.message) for w in caught) == 1
