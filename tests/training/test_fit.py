"""fit / evaluate / predict end to end: a learnable task, History, validation, sample and
class weights, epochs, multi-output bookkeeping, the single-batch entry points, lazy
building, freezing, Dropout modes, and set_weights seen by the training buffer."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import callbacks, layers, losses, ops, optimizers
from graphc.datasets import digits


class AddPair(layers.Layer):
    def call(self, inputs):
        return ops.add(inputs[0], inputs[1])


class Recorder(callbacks.Callback):
    """Counts batches and records the batch logs and epochs seen."""

    def __init__(self):
        super().__init__()
        self.batches, self.epochs, self.batch_logs = 0, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self.batch_logs.append(dict(logs or {}))


def _mlp(n_in=4, n_out=3, hidden=8, activation="softmax", seed=0, name=None):
    graphc.utils.set_random_seed(seed)
    inp = graphc.Input(shape=(n_in,))
    h = layers.Dense(hidden, activation="tanh")(inp)
    return graphc.Model(inp, layers.Dense(n_out, activation=activation)(h), name=name)


def _blobs(n=90, n_in=4, n_cls=3, seed=0):
    """Linearly separable Gaussian blobs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_cls, n)
    centers = rng.standard_normal((n_cls, n_in)) * 4
    x = (centers[y] + rng.standard_normal((n, n_in))).astype(np.float32)
    return x, y


def _same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b)) and len(a) == len(b)


# ---- a learnable task ------------------------------------------------------------------------
@pytest.mark.slow
def test_digits_loss_falls_and_accuracy_rises():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train, x_test = x_train / 16.0, x_test / 16.0
    graphc.utils.set_random_seed(0)
    model = graphc.Sequential(
        [
            layers.Flatten(input_shape=(8, 8)),
            layers.Dense(32, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    before = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    hist = model.fit(
        x_train, y_train, epochs=8, batch_size=32, verbose=0, validation_data=(x_test, y_test)
    )
    h = hist.history
    assert sorted(h) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 8 for v in h.values())
    assert hist.epoch == list(range(8))
    assert before["accuracy"] < 0.3 and before["loss"] > 2.0
    assert h["loss"][-1] < 0.25 * h["loss"][0]
    assert all(b < a for a, b in zip(h["loss"][:4], h["loss"][1:5]))
    assert h["accuracy"][-1] > 0.95
    after = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert after["accuracy"] > 0.93
    # the last epoch's validation numbers are evaluate's numbers on the same data
    np.testing.assert_allclose(h["val_loss"][-1], after["loss"], rtol=1e-6)
    np.testing.assert_allclose(h["val_accuracy"][-1], after["accuracy"], rtol=1e-12)
    # and accuracy is what predict says
    pred = model.predict(x_test, verbose=0).argmax(-1)
    np.testing.assert_allclose(after["accuracy"], np.mean(pred == y_test), rtol=1e-12)


# ---- validation ----------------------------------------------------------------------------
def test_validation_split_takes_the_last_rows_before_shuffling():
    # Feature 4 is zero everywhere except in the last 10% of the rows. A linear model's
    # kernel row for that feature only moves if those rows are trained on.
    x, y = _blobs(n=50, n_in=5, seed=1)
    x[:, 4] = 0.0
    x[45:, 4] = 3.0
    graphc.utils.set_random_seed(2)
    inp = graphc.Input(shape=(5,))
    dense = layers.Dense(3, activation="softmax")
    model = graphc.Model(inp, dense(inp))
    model.compile(
        optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    kernel_before = dense.kernel.numpy()
    kernel_row = kernel_before[4].copy()
    rec = Recorder()
    hist = model.fit(
        x, y, epochs=3, batch_size=8, validation_split=0.1, shuffle=True, verbose=0, callbacks=[rec]
    )
    # 45 training rows -> 6 batches of 8 per epoch
    assert rec.batches == 3 * 6
    # never trained on the held-out rows
    np.testing.assert_array_equal(dense.kernel.numpy()[4], kernel_row)
    assert np.abs(dense.kernel.numpy()[:4] - kernel_before[:4]).min() > 0  # the rest trained
    held = model.evaluate(x[45:], y[45:], verbose=0, return_dict=True)
    np.testing.assert_allclose(hist.history["val_loss"][-1], held["loss"], rtol=1e-6)
    np.testing.assert_allclose(hist.history["val_accuracy"][-1], held["accuracy"])
    first = model.evaluate(x[:5], y[:5], verbose=0)
    assert abs(first[0] - held["loss"]) > 1e-3


def test_validation_split_with_sample_weight_splits_the_weights_too():
    x, y = _blobs(n=40, seed=3)
    sw = np.ones(40, np.float32)
    sw[-4:] = np.array([0, 2, 0, 1], np.float32)
    model = _mlp(seed=4)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    hist = model.fit(x, y, sample_weight=sw, validation_split=0.1, epochs=1, verbose=0)
    expected = model.evaluate(x[-4:], y[-4:], sample_weight=sw[-4:], verbose=0)
    np.testing.assert_allclose(hist.history["val_loss"][0], expected, rtol=1e-6)


def test_validation_data_with_sample_weights():
    x, y = _blobs(n=60, seed=5)
    xv, yv = _blobs(n=20, seed=6)
    swv = np.linspace(0, 2, 20).astype(np.float32)
    model = _mlp(seed=7)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=2, verbose=0, validation_data=(xv, yv, swv))
    ev = model.evaluate(xv, yv, sample_weight=swv, verbose=0, return_dict=True)
    np.testing.assert_allclose(hist.history["val_loss"][-1], ev["loss"], rtol=1e-6)
    np.testing.assert_allclose(hist.history["val_accuracy"][-1], ev["accuracy"], rtol=1e-6)
    unweighted = model.evaluate(xv, yv, verbose=0, return_dict=True)
    assert abs(unweighted["loss"] - ev["loss"]) > 1e-4


# ---- determinism and the order of batches ----------------------------------------------------
def _train(seed, shuffle, epochs=3, batch_size=16):
    x, y = _blobs(n=70, seed=8)
    model = _mlp(seed=seed)
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    graphc.utils.set_random_seed(seed + 100)
    hist = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=0)
    return model.get_weights(), hist.history["loss"]


@pytest.mark.parametrize("shuffle", [False, True])
def test_same_seed_same_training(shuffle):
    w1, l1 = _train(0, shuffle)
    w2, l2 = _train(0, shuffle)
    assert _same_weights(w1, w2)
    assert l1 == l2


def test_shuffle_changes_the_batches():
    w1, l1 = _train(0, False)
    w2, l2 = _train(0, True)
    assert not _same_weights(w1, w2)


def test_shuffle_false_equals_train_on_batch_over_consecutive_slices():
    x, y = _blobs(n=70, seed=8)
    fitted = _mlp(seed=9)
    stepped = _mlp(seed=9)
    assert _same_weights(fitted.get_weights(), stepped.get_weights())
    for m in (fitted, stepped):
        m.compile(optimizer=optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy")
    hist = fitted.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    epoch_losses = []
    for _ in range(2):
        total = 0.0
        for start in range(0, 70, 16):
            sl = slice(start, start + 16)
            total += stepped.train_on_batch(x[sl], y[sl]) * len(x[sl])
        epoch_losses.append(total / 70)
    assert _same_weights(fitted.get_weights(), stepped.get_weights())
    # History's loss is the mean of the batch losses weighted by batch size
    np.testing.assert_allclose(hist.history["loss"], epoch_losses, rtol=1e-6)


# ---- sample_weight and class_weight -----------------------------------------------------------
def test_sample_weight_loss_value_is_keras_reduction_by_hand():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y = rng.standard_normal((6, 2)).astype(np.float32)
    sw = np.array([1, 0, 2, 0, 0.5, 1], np.float32)
    graphc.utils.set_random_seed(11)
    inp = graphc.Input(shape=(3,))
    model = graphc.Model(inp, layers.Dense(2)(inp))
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    pred = model.predict(x, verbose=0).astype(np.float64)
    per_sample = np.mean((pred - y) ** 2, axis=-1)
    # Keras: weighted sum divided by the number of samples, not by the sum of the weights
    by_hand = np.sum(sw * per_sample) / 6
    np.testing.assert_allclose(
        model.evaluate(x, y, sample_weight=sw, verbose=0), by_hand, rtol=1e-5
    )
    hist = model.fit(x, y, sample_weight=sw, batch_size=6, epochs=1, verbose=0)
    np.testing.assert_allclose(hist.history["loss"][0], by_hand, rtol=1e-5)


def test_zero_sample_weight_equals_training_without_those_rows():
    # one batch per epoch: zero-weight rows scale the mean by kept/total (Keras divides by
    # the number of samples), so it is training on the kept rows with lr * kept/total
    x, y = _blobs(n=20, seed=12)
    sw = np.ones(20, np.float32)
    drop = [1, 4, 5, 11, 17]
    sw[drop] = 0
    keep = np.setdiff1d(np.arange(20), drop)
    lr = 0.2
    a = _mlp(seed=13)
    b = _mlp(seed=13)
    a.compile(optimizer=optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    b.compile(optimizer=optimizers.SGD(lr * len(keep) / 20), loss="sparse_categorical_crossentropy")
    ha = a.fit(x, y, sample_weight=sw, batch_size=20, epochs=3, shuffle=False, verbose=0)
    hb = b.fit(x[keep], y[keep], batch_size=20, epochs=3, shuffle=False, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.array(ha.history["loss"]) * 20 / len(keep), hb.history["loss"], rtol=1e-5
    )


def test_class_weight_equals_the_matching_sample_weight():
    x, y = _blobs(n=48, seed=14)
    class_weight = {0: 1.0, 1: 3.0, 2: 0.25}
    sw = np.array([class_weight[int(c)] for c in y], np.float32)
    a, b = _mlp(seed=15), _mlp(seed=15)
    for m in (a, b):
        m.compile(
            optimizer=optimizers.Adam(0.01),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    ha = a.fit(x, y, class_weight=class_weight, batch_size=16, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(x, y, sample_weight=sw, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert _same_weights(a.get_weights(), b.get_weights())
    assert ha.history == hb.history


def test_class_weight_with_one_hot_targets():
    x, y = _blobs(n=30, seed=16)
    onehot = np.eye(3, dtype=np.float32)[y]
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0}
    a, b = _mlp(seed=17), _mlp(seed=17)
    a.compile(optimizer="sgd", loss="categorical_crossentropy")
    b.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ha = a.fit(x, onehot, class_weight=class_weight, epochs=1, shuffle=False, verbose=0)
    hb = b.fit(x, y, class_weight=class_weight, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-5)


# ---- epochs, initial_epoch, batch sizes -----------------------------------------------------
def test_initial_epoch_counts_epochs_from_there():
    x, y = _blobs(n=20, seed=18)
    model = _mlp(seed=19)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rec = Recorder()
    hist = model.fit(x, y, epochs=5, initial_epoch=3, batch_size=8, verbose=0, callbacks=[rec])
    assert rec.epochs == [3, 4]
    assert hist.epoch == [3, 4]
    assert len(hist.history["loss"]) == 2
    assert rec.batches == 2 * 3


def test_initial_epoch_equal_to_epochs_trains_nothing():
    x, y = _blobs(n=20, seed=18)
    model = _mlp(seed=19)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    hist = model.fit(x, y, epochs=2, initial_epoch=2, verbose=0)
    assert hist.history == {}
    assert _same_weights(before, model.get_weights())


def test_batch_size_larger_than_the_data_is_one_batch():
    x, y = _blobs(n=10, seed=20)
    a, b = _mlp(seed=21), _mlp(seed=21)
    for m in (a, b):
        m.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    rec = Recorder()
    hist = a.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0, callbacks=[rec])
    assert rec.batches == 2
    losses_ = [b.train_on_batch(x, y) for _ in range(2)]
    np.testing.assert_allclose(hist.history["loss"], losses_, rtol=1e-6)
    assert _same_weights(a.get_weights(), b.get_weights())


def test_default_batch_size_is_32():
    x, y = _blobs(n=70, seed=22)
    model = _mlp(seed=23)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rec = Recorder()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[rec])
    assert rec.batches == 3


# ---- evaluate's return forms --------------------------------------------------------------
def test_evaluate_single_output_forms():
    x, y = _blobs(n=40, seed=24)
    model = _mlp(seed=25)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, float)
    pred = model.predict(x, verbose=0)
    by_hand = np.mean(-np.log(np.clip(pred[np.arange(40), y].astype(np.float64), 1e-7, 1)))
    np.testing.assert_allclose(result, by_hand, rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=7, verbose=0), by_hand, rtol=1e-5)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"loss": result}

    onehot = np.eye(3, dtype=np.float32)[y]
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy", "mse"])
    listed = model.evaluate(x, onehot, verbose=0)
    assert isinstance(listed, list) and len(listed) == 3
    as_dict = model.evaluate(x, onehot, verbose=0, return_dict=True)
    assert set(as_dict) == {"loss", "accuracy", "mse"}
    assert listed == [as_dict[k] for k in ("loss", "accuracy", "mse")]  # Keras 3's order
    np.testing.assert_allclose(listed[0], by_hand, rtol=1e-5)
    np.testing.assert_allclose(listed[1], np.mean(pred.argmax(-1) == y))
    np.testing.assert_allclose(listed[2], np.mean((onehot - pred) ** 2), rtol=1e-5)


def _three_headed(seed=26):
    graphc.utils.set_random_seed(seed)
    inp = graphc.Input(shape=(6,), name="posts")
    h = layers.Dense(10, activation="relu")(inp)
    age = layers.Dense(1, name="age")(h)
    income = layers.Dense(4, activation="softmax", name="income")(h)
    gender = layers.Dense(1, activation="sigmoid", name="gender")(h)
    return graphc.Model(inp, [age, income, gender])


def _three_headed_data(n=48, seed=27):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = {
        "age": rng.standard_normal((n, 1)).astype(np.float32),
        "income": rng.integers(0, 4, n),
        "gender": (rng.random((n, 1)) > 0.5).astype(np.float32),
    }
    return x, y


def test_multi_output_history_keys_loss_weights_and_evaluate_order():
    model = _three_headed()
    x, y = _three_headed_data()
    weights = {"age": 0.25, "income": 1.0, "gender": 4.0}
    model.compile(
        optimizer=optimizers.RMSprop(0.005),
        loss={
            "age": "mse",
            "income": "sparse_categorical_crossentropy",
            "gender": "binary_crossentropy",
        },
        loss_weights=weights,
        metrics={"income": ["accuracy"], "gender": ["accuracy"]},
    )
    hist = model.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.25)
    h = hist.history
    expected = {
        "loss",
        "age_loss",
        "income_loss",
        "gender_loss",
        "income_accuracy",
        "gender_accuracy",
    }
    assert set(h) == expected | {f"val_{k}" for k in expected}
    for e in range(3):
        total = sum(w * h[f"{k}_loss"][e] for k, w in weights.items())
        np.testing.assert_allclose(h["loss"][e], total, rtol=1e-6)
        np.testing.assert_allclose(
            h["val_loss"][e], sum(w * h[f"val_{k}_loss"][e] for k, w in weights.items()), rtol=1e-6
        )
    result = model.evaluate(x, y, verbose=0)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(as_dict) == expected
    # Keras 3's order (_flatten_metrics_in_order): total loss, each output's loss, then
    # the prefixed metric keys sorted (checked with Keras 3.x, torch backend)
    assert result == [
        as_dict[k]
        for k in (
            "loss",
            "age_loss",
            "income_loss",
            "gender_loss",
            "gender_accuracy",
            "income_accuracy",
        )
    ]
    # numbers, from predict
    age, income, gender = model.predict(x, verbose=0)
    np.testing.assert_allclose(as_dict["age_loss"], np.mean((age - y["age"]) ** 2), rtol=1e-5)
    np.testing.assert_allclose(
        as_dict["income_accuracy"], np.mean(income.argmax(-1) == y["income"])
    )
    np.testing.assert_allclose(
        as_dict["gender_accuracy"], np.mean((gender > 0.5) == (y["gender"] > 0.5))
    )
    # targets as a list in output order give the same
    listed = model.evaluate(x, [y["age"], y["income"], y["gender"]], verbose=0)
    assert listed == result


def test_multi_output_loss_list_and_single_loss_for_all_outputs():
    model = _three_headed(seed=28)
    x, y = _three_headed_data(seed=29)
    y_list = [y["age"], y["income"].astype(np.float32)[:, None], y["gender"]]
    model.compile(optimizer="sgd", loss="mse")
    ev = model.evaluate(x, y_list, verbose=0, return_dict=True)
    assert set(ev) == {"loss", "age_loss", "income_loss", "gender_loss"}
    np.testing.assert_allclose(
        ev["loss"], ev["age_loss"] + ev["income_loss"] + ev["gender_loss"], rtol=1e-6
    )
    model.compile(optimizer="sgd", loss=["mse", None, "binary_crossentropy"])
    ev = model.evaluate(x, y_list, verbose=0, return_dict=True)
    assert "income_loss" not in ev
    np.testing.assert_allclose(ev["loss"], ev["age_loss"] + ev["gender_loss"], rtol=1e-6)


def test_loss_dict_with_an_unknown_output_name_is_refused():
    model = _three_headed(seed=30)
    with pytest.raises(ValueError, match="wage"):
        model.compile(optimizer="sgd", loss={"wage": "mse", "income": "mse"})


# ---- predict: input and output structures ----------------------------------------------------
def _two_inputs_dict_out(seed=31):
    graphc.utils.set_random_seed(seed)
    a = graphc.Input(shape=(3,), name="a")
    b = graphc.Input(shape=(2,), name="b")
    h = AddPair()([layers.Dense(4)(a), layers.Dense(4)(b)])
    return graphc.Model(
        {"a": a, "b": b},
        {
            "score": layers.Dense(1, name="score")(h),
            "probs": layers.Dense(2, activation="softmax", name="probs")(h),
        },
    )


def test_predict_accepts_lists_and_dicts_and_keeps_dict_outputs():
    model = _two_inputs_dict_out()
    rng = np.random.default_rng(32)
    xa = rng.standard_normal((37, 3)).astype(np.float32)
    xb = rng.standard_normal((37, 2)).astype(np.float32)
    from_dict = model.predict({"a": xa, "b": xb}, verbose=0)
    from_list = model.predict([xa, xb], verbose=0)
    assert isinstance(from_dict, dict) and set(from_dict) == {"score", "probs"}
    assert from_dict["score"].shape == (37, 1) and from_dict["probs"].shape == (37, 2)
    for k in from_dict:
        np.testing.assert_array_equal(from_dict[k], from_list[k])
    small = model.predict({"a": xa, "b": xb}, batch_size=5, verbose=0)
    for k in from_dict:
        np.testing.assert_allclose(small[k], from_dict[k], rtol=1e-6, atol=1e-7)
    on_batch = model.predict_on_batch({"a": xa, "b": xb})
    for k in from_dict:
        np.testing.assert_allclose(on_batch[k], from_dict[k], rtol=1e-6, atol=1e-7)
    # the same number by hand: one row through the layers' weights
    np.testing.assert_allclose(from_dict["probs"].sum(-1), 1.0, rtol=1e-6)


def test_dict_model_fits_with_dict_targets():
    model = _two_inputs_dict_out(seed=33)
    rng = np.random.default_rng(34)
    xs = {
        "a": rng.standard_normal((24, 3)).astype(np.float32),
        "b": rng.standard_normal((24, 2)).astype(np.float32),
    }
    ys = {"score": rng.standard_normal((24, 1)).astype(np.float32), "probs": rng.integers(0, 2, 24)}
    model.compile(
        optimizer="adam",
        loss={"score": "mse", "probs": "sparse_categorical_crossentropy"},
        metrics={"probs": "accuracy"},
    )
    hist = model.fit(xs, ys, epochs=2, batch_size=8, verbose=0)
    assert set(hist.history) == {"loss", "score_loss", "probs_loss", "probs_accuracy"}


def test_list_outputs_come_back_as_a_list():
    model = _three_headed(seed=35)
    x, _ = _three_headed_data(seed=36)
    out = model.predict(x, verbose=0)
    assert isinstance(out, list) and [o.shape for o in out] == [(48, 1), (48, 4), (48, 1)]
    single = _mlp(seed=37).predict(x[:, :4], verbose=0)
    assert isinstance(single, np.ndarray) and single.shape == (48, 3)
    assert single.dtype == np.float32


# ---- single batches ---------------------------------------------------------------------------
def test_train_test_predict_on_batch():
    x, y = _blobs(n=24, seed=38)
    model = _mlp(seed=39)
    model.compile(
        optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    ev = model.evaluate(x, y, batch_size=24, verbose=0)
    tb = model.test_on_batch(x, y)
    assert tb == ev
    assert model.test_on_batch(x, y, return_dict=True) == {"loss": ev[0], "accuracy": ev[1]}
    before = model.get_weights()
    tr = model.train_on_batch(x, y)
    # the training step reports the loss and metrics before its update
    np.testing.assert_allclose(tr, ev, rtol=1e-6)
    assert not _same_weights(before, model.get_weights())
    after = model.test_on_batch(x, y)
    assert after[0] < ev[0]
    np.testing.assert_array_equal(
        model.predict_on_batch(x), model.predict(x, batch_size=24, verbose=0)
    )


# ---- Sequential built on first fit -----------------------------------------------------------
def _lazy_sequential():
    graphc.utils.set_random_seed(40)
    return graphc.Sequential(
        [layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")]
    )


def test_sequential_without_input_shape_compiles_then_builds_on_fit():
    x, y = _blobs(n=30, seed=41)
    model = _lazy_sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert not model.built
    hist = model.fit(x, y, epochs=2, verbose=0)
    assert model.built and model.input_shape == (None, 4)
    assert len(hist.history["loss"]) == 2


def test_sequential_without_input_shape_builds_on_predict_then_trains():
    x, y = _blobs(n=30, seed=41)
    model = _lazy_sequential()
    assert not model.built
    p = model.predict(x, verbose=0)
    assert p.shape == (30, 3) and model.input_shape == (None, 4)
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    hist = model.fit(x, y, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


# ---- freezing ------------------------------------------------------------------------------
def test_trainable_false_after_compile_freezes_without_recompiling():
    # Keras 3 (checked with keras 3 on torch) also honours it without a recompile.
    x, y = _blobs(n=32, seed=42)
    graphc.utils.set_random_seed(43)
    inp = graphc.Input(shape=(4,))
    first = layers.Dense(8, activation="tanh")
    out = layers.Dense(3, activation="softmax")(first(inp))
    model = graphc.Model(inp, out)
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)  # the training buffer exists now
    first.trainable = False
    frozen = first.get_weights()
    head = model.layers[-1].get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    assert _same_weights(frozen, first.get_weights())
    assert not _same_weights(head, model.layers[-1].get_weights())
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    # unfreezing trains it again
    first.trainable = True
    model.fit(x, y, epochs=1, verbose=0)
    assert not _same_weights(frozen, first.get_weights())


def test_trainable_false_with_recompile_too():
    x, y = _blobs(n=32, seed=44)
    model = _mlp(seed=45)
    model.layers[1].trainable = False
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    frozen = model.layers[1].get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    assert _same_weights(frozen, model.layers[1].get_weights())


# ---- Dropout: training only ---------------------------------------------------------------
def _dropout_model(seed=46):
    graphc.utils.set_random_seed(seed)
    inp = graphc.Input(shape=(8,))
    h = layers.Dense(16, activation="relu")(inp)
    h = layers.Dropout(0.5)(h)
    return graphc.Model(inp, layers.Dense(1)(h))


def test_dropout_active_in_fit_inactive_in_predict_and_evaluate():
    rng = np.random.default_rng(47)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    y = rng.standard_normal((64, 1)).astype(np.float32)
    model = _dropout_model()
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")  # lr 0: weights fixed
    p1 = model.predict(x, verbose=0)
    p2 = model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)
    # inference = the network without the Dropout layer
    d1, d2 = model.layers[1], model.layers[-1]
    h = np.maximum(x @ d1.kernel.numpy() + d1.bias.numpy(), 0)
    np.testing.assert_allclose(p1, h @ d2.kernel.numpy() + d2.bias.numpy(), rtol=1e-5, atol=1e-6)
    eval_loss = model.evaluate(x, y, batch_size=64, verbose=0)
    np.testing.assert_allclose(eval_loss, np.mean((p1 - y) ** 2), rtol=1e-5)
    before = model.get_weights()
    hist = model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    assert _same_weights(before, model.get_weights())
    train_losses = hist.history["loss"]
    assert all(abs(each - eval_loss) > 1e-3 for each in train_losses)
    assert len(set(train_losses)) == 3  # a new mask per step
    t1, t2 = model.train_on_batch(x, y), model.train_on_batch(x, y)
    assert t1 != t2
    np.testing.assert_allclose(model.test_on_batch(x, y), eval_loss, rtol=1e-6)


# ---- the contiguous buffer: set_weights during training ---------------------------------------
def test_set_weights_during_training_is_seen_by_training():
    x, y = _blobs(n=16, seed=48)
    target = [
        np.full(w.shape, 0.05 * (i + 1), np.float32)
        for i, w in enumerate(_mlp(seed=49).get_weights())
    ]

    def reset(epoch, logs=None):
        if epoch == 1:
            model.set_weights(target)

    lr = 0.3
    model = _mlp(seed=49)
    model.compile(optimizer=optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    hist = model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[callbacks.LambdaCallback(on_epoch_begin=reset)],
    )
    # the same as starting from `target` and training one step
    ref = _mlp(seed=49)
    ref.set_weights(target)
    ref.compile(optimizer=optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    ref_loss = ref.train_on_batch(x, y)
    np.testing.assert_allclose(hist.history["loss"][1], ref_loss, rtol=1e-6)
    for u, v in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_assign_and_set_weights_between_fits_are_seen():
    x, y = _blobs(n=16, seed=50)
    model = _mlp(seed=51)
    model.compile(optimizer=optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    new = [w * 0 + 0.1 for w in model.get_weights()]
    model.set_weights(new)
    model.layers[-1].bias.assign(np.array([1.0, -1.0, 0.5], np.float32))
    new[-1] = np.array([1.0, -1.0, 0.5], np.float32)
    model.fit(x, y, epochs=1, verbose=0)  # lr 0: must stay exactly there
    assert _same_weights(model.get_weights(), new)
    ref = _mlp(seed=51)
    ref.set_weights(new)
    np.testing.assert_array_equal(model.predict(x, verbose=0), ref.predict(x, verbose=0))


def test_get_weights_returns_copies_not_views_of_the_buffer():
    x, y = _blobs(n=16, seed=52)
    model = _mlp(seed=53)
    model.compile(optimizer=optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    snapshot = model.get_weights()
    kept = [w.copy() for w in snapshot]
    model.fit(x, y, epochs=1, verbose=0)
    assert _same_weights(snapshot, kept)
    assert not _same_weights(snapshot, model.get_weights())


def test_custom_loss_callable_and_loss_object():
    x, y = _blobs(n=24, seed=54)
    onehot = np.eye(3, dtype=np.float32)[y]

    def my_mse(y_true, y_pred):  # recorded once and differentiated through the ops
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    a, b = _mlp(seed=55), _mlp(seed=55)
    a.compile(optimizer="sgd", loss=my_mse)
    b.compile(optimizer="sgd", loss=losses.MeanSquaredError())
    ha = a.fit(x, onehot, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(x, onehot, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-5)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)


def test_freezing_a_layer_keeps_the_optimizer_state_of_the_others():
    from graphc.backends.numpy import Executor
    from graphc.ops import ExecContext

    x, y = _blobs(n=16, seed=60)
    model = _mlp(seed=61)
    lr, mu = 0.1, 0.9
    model.compile(optimizer=optimizers.SGD(lr, momentum=mu), loss="sparse_categorical_crossentropy")
    head = model.layers[-1]
    w0 = head.get_weights()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # one step: velocity = w1 - w0
    w1 = head.get_weights()
    model.layers[1].trainable = False
    ex = Executor(model.graph, model.trainable_weights)
    outs, env = ex.forward(
        [x.astype(np.float64)],
        ExecContext(training=False),
        keep_for_backward=True,
        leaf_values={p: p.data.astype(np.float64) for p in model.weights},
    )
    _, g = losses.get("sparse_categorical_crossentropy").value_and_grad(y, outs[0])
    grads = {p: np.zeros(p.shape) for p in model.trainable_weights}
    ex.backward(env, [g], grads)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    # Keras's SGD momentum: m = mu * m - lr * g; w += m
    for before, prev, now, p in zip(w0, w1, head.get_weights(), [head.kernel, head.bias]):
        expected = prev + mu * (prev - before) - lr * grads[p]
        np.testing.assert_allclose(now, expected, rtol=1e-4, atol=1e-6, err_msg=p.path)
