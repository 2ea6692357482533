"""fit / evaluate / predict on datasets (iterables of batches), generators and
PyDataset, as Keras 3: the same numbers as the same batches given as arrays."""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.errors import InputDataError

N, BS = 24, 4  # 6 batches


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.1).astype(np.float32)
    return x, y


def _model(seed=1, built=True):
    graphc.utils.set_random_seed(seed)
    stack = [layers.Dense(5, activation="tanh"), layers.Dense(1)]
    model = graphc.Sequential(([graphc.Input((3,))] if built else []) + stack)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


class Batches:
    """A re-iterable dataset: each ``iter`` starts over (tf.data's semantics)."""

    def __init__(self, *arrays, batch_size=BS):
        self.arrays, self.batch_size = arrays, batch_size
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        n = len(self.arrays[0])
        for i in range(0, n, self.batch_size):
            batch = tuple(a[i : i + self.batch_size] for a in self.arrays)
            yield batch if len(batch) > 1 else batch[0]


class SizedBatches(Batches):
    """One whose number of batches is known (``len``), as a tf.data cardinality."""

    def __len__(self):
        return -(-len(self.arrays[0]) // self.batch_size)


def _gen(*arrays, batch_size=BS, start=0):
    for i in range(start, len(arrays[0]), batch_size):
        yield tuple(a[i : i + batch_size] for a in arrays)


class Seq(graphc.utils.PyDataset):
    def __init__(self, x, y, batch_size=BS, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.begins = self.ends = 0
        self.read = []

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, idx):
        self.read.append(idx)
        rows = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        return self.x[rows], self.y[rows]

    def on_epoch_begin(self):
        self.begins += 1

    def on_epoch_end(self):
        self.ends += 1


def _same_training(h_ds, m_ds, h_arr, m_arr):
    assert h_ds.history.keys() == h_arr.history.keys()
    for k in h_arr.history:
        np.testing.assert_allclose(h_ds.history[k], h_arr.history[k], rtol=1e-6)
    for a, b in zip(m_ds.get_weights(), m_arr.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def _fit_arrays(x, y, epochs=2, **kw):
    model = _model()
    h = model.fit(x, y, batch_size=BS, epochs=epochs, shuffle=False, verbose=0, **kw)
    return h, model


@pytest.mark.parametrize("kind", [Batches, SizedBatches])
def test_reiterable_dataset_is_read_once_per_epoch_and_equals_arrays(kind):
    x, y = _data()
    ds = kind(x, y)
    model = _model()
    h = model.fit(ds, epochs=3, verbose=0)
    assert ds.passes == 3 and h.epoch == [0, 1, 2]
    _same_training(h, model, *_fit_arrays(x, y, epochs=3))


def test_generator_with_steps_per_epoch_is_consumed_across_epochs():
    x, y = _data()
    model = _model()
    h = model.fit(_gen(x, y), steps_per_epoch=3, epochs=2, verbose=0)
    # Epoch 1 reads batches 0-2, epoch 2 batches 3-5: two fits on the two halves.
    ref = _model()
    h1 = ref.fit(x[:12], y[:12], batch_size=BS, shuffle=False, verbose=0)
    h2 = ref.fit(x[12:], y[12:], batch_size=BS, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        h.history["loss"], h1.history["loss"] + h2.history["loss"], rtol=1e-6
    )
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_generator_without_steps_runs_one_pass_then_runs_out_of_data():
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting"):
        h = model.fit(_gen(x, y), epochs=3, verbose=0)
    assert h.epoch == [0]
    _same_training(h, model, *_fit_arrays(x, y, epochs=1))


def test_steps_beyond_the_data_warn_and_end_the_epoch():
    x, y = _data()
    ds = SizedBatches(x, y)  # 6 batches
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(ds, steps_per_epoch=4, epochs=3, verbose=0)
    # 4 batches, then 2 (used up: warning), then the dataset starts over.
    assert h.epoch == [0, 1, 2] and ds.passes == 2
    ref = _model()
    losses = [
        ref.fit(x[a:b], y[a:b], batch_size=BS, shuffle=False, verbose=0).history["loss"][0]
        for a, b in ((0, 16), (16, 24), (0, 16))
    ]
    np.testing.assert_allclose(h.history["loss"], losses, rtol=1e-6)


def test_one_shot_generator_used_up_by_steps_stops_training():
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(_gen(x, y), steps_per_epoch=3, epochs=5, verbose=0)
    assert h.epoch == [0, 1]


def test_pydataset_is_read_by_index_and_told_each_epoch():
    x, y = _data()
    seq = Seq(x, y)
    model = _model()
    h = model.fit(seq, epochs=3, shuffle=False, verbose=0)
    assert seq.begins == 3 and seq.ends == 3
    assert seq.read == list(range(6)) * 3
    _same_training(h, model, *_fit_arrays(x, y, epochs=3))


def test_pydataset_shuffle_reorders_the_batches_each_epoch():
    x, y = _data()
    seq = Seq(x, y)
    _model().fit(seq, epochs=4, verbose=0)  # shuffle=True, the default
    epochs = [seq.read[i * 6 : (i + 1) * 6] for i in range(4)]
    assert all(sorted(e) == list(range(6)) for e in epochs)
    assert any(e != list(range(6)) for e in epochs)


def test_pydataset_accepts_keras_loader_arguments_and_warns_without_super():
    x, y = _data()
    seq = Seq(x, y, workers=4, use_multiprocessing=True, max_queue_size=3)
    assert (seq.workers, seq.use_multiprocessing, seq.max_queue_size) == (4, True, 3)

    class NoSuper(graphc.utils.PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__"):
        assert NoSuper().workers == 1
    assert list(Seq(x, y))[1][0].shape == (BS, 3)  # iterable by hand too


def test_batches_with_sample_weights_equal_arrays_with_sample_weight():
    x, y = _data()
    sw = np.linspace(0.1, 2.0, N).astype(np.float32)
    model = _model()
    h = model.fit(Batches(x, y, sw), epochs=2, verbose=0)
    _same_training(h, model, *_fit_arrays(x, y, sample_weight=sw))


def test_class_weight_with_a_dataset_equals_arrays():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, 3)).astype(np.float32)
    y = rng.integers(0, 3, N)

    def model():
        graphc.utils.set_random_seed(2)
        m = graphc.Sequential([graphc.Input((3,)), layers.Dense(3, activation="softmax")])
        m.compile("sgd", "sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
        return m

    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    m1, m2 = model(), model()
    h1 = m1.fit(Batches(x, y), class_weight=cw, epochs=2, verbose=0)
    h2 = m2.fit(x, y, batch_size=BS, class_weight=cw, epochs=2, shuffle=False, verbose=0)
    _same_training(h1, m1, h2, m2)
    with pytest.raises(ValueError, match="`class_weight` and `sample_weight`"):
        model().fit(Batches(x, y, np.ones(N)), class_weight=cw, verbose=0)


def _two_io_model():
    graphc.utils.set_random_seed(4)
    a, b = graphc.Input((3,), name="a"), graphc.Input((2,), name="b")
    h = layers.Dense(4, activation="relu")(layers.Concatenate()([a, b]))
    model = graphc.Model(
        {"a": a, "b": b}, {"p": layers.Dense(1, name="p")(h), "q": layers.Dense(2, name="q")(h)}
    )
    model.compile("adam", loss={"p": "mse", "q": "mse"}, metrics={"q": ["mae"]})
    return model


def test_dict_inputs_and_targets_per_batch():
    rng = np.random.default_rng(5)
    xa, xb = rng.standard_normal((N, 3)), rng.standard_normal((N, 2))
    yp, yq = rng.standard_normal((N, 1)), rng.standard_normal((N, 2))

    class DictBatches:
        def __iter__(self):
            for i in range(0, N, BS):
                s = slice(i, i + BS)
                yield {"a": xa[s], "b": xb[s]}, {"p": yp[s], "q": yq[s]}

    m1, m2 = _two_io_model(), _two_io_model()
    h1 = m1.fit(DictBatches(), epochs=2, verbose=0)
    h2 = m2.fit(
        {"a": xa, "b": xb}, {"p": yp, "q": yq}, batch_size=BS, epochs=2, shuffle=False, verbose=0
    )
    assert {"p_loss", "q_loss", "q_mae"} <= set(h1.history)
    _same_training(h1, m1, h2, m2)
    pred = m1.predict(({"a": xa[i : i + 5], "b": xb[i : i + 5]} for i in range(0, N, 5)), verbose=0)
    ref = m1.predict({"a": xa, "b": xb}, verbose=0)
    np.testing.assert_allclose(pred["q"], ref["q"], rtol=1e-6)


def test_validation_data_as_a_dataset_with_validation_steps():
    x, y = _data()
    vx, vy = _data(seed=9)
    val = Seq(vx, vy)
    model = _model()
    h = model.fit(Batches(x, y), validation_data=val, validation_steps=2, epochs=2, verbose=0)
    assert val.read == [0, 1, 0, 1]  # read from its start at each validation
    ref_model = _model()
    ref = ref_model.fit(
        x, y, batch_size=BS, epochs=2, shuffle=False, verbose=0, validation_data=(vx[:8], vy[:8])
    )
    _same_training(h, model, ref, ref_model)
    assert {"val_loss", "val_mae"} <= set(h.history)


def test_validation_data_as_a_generator_and_validation_freq():
    x, y = _data()
    vx, vy = _data(seed=9)
    model = _model()
    h = model.fit(Batches(x, y), validation_data=_gen(vx, vy), epochs=1, verbose=0)
    ref = _model()
    np.testing.assert_allclose(
        h.history["val_loss"],
        ref.fit(x, y, batch_size=BS, shuffle=False, verbose=0, validation_data=(vx, vy)).history[
            "val_loss"
        ],
        rtol=1e-6,
    )


def test_evaluate_and_predict_on_datasets():
    x, y = _data()
    model = _model()
    model.fit(x, y, verbose=0)
    ref = model.evaluate(x, y, batch_size=BS, return_dict=True, verbose=0)
    assert model.evaluate(Batches(x, y), return_dict=True, verbose=0) == ref
    assert model.evaluate(Seq(x, y), return_dict=True, verbose=0) == ref
    assert model.evaluate(_gen(x, y), verbose=0) == model.evaluate(x, y, verbose=0, batch_size=BS)
    part = model.evaluate(Batches(x, y), steps=2, return_dict=True, verbose=0)
    assert part == model.evaluate(x[:8], y[:8], batch_size=BS, return_dict=True, verbose=0)
    expected = model.predict(x, verbose=0)
    for data in (Batches(x), _gen(x), Batches(x, y), Seq(x, y), _gen(x, y)):
        np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(Batches(x), steps=2, verbose=0), expected[:8])


def test_models_built_lazily_build_from_the_first_batch():
    x, y = _data()
    lazy = _model(built=False)
    h = lazy.fit(Batches(x, y), epochs=2, verbose=0)
    _same_training(h, lazy, *_fit_arrays(x, y))

    class Sub(graphc.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, inputs):
            return self.d(inputs)

    graphc.utils.set_random_seed(0)
    sub = Sub()
    sub.compile("sgd", "mse")
    assert sub.predict(_gen(x), verbose=0).shape == (N, 2)
    graphc.utils.set_random_seed(0)
    sub = Sub()
    sub.compile("sgd", "mse")
    sub.fit(_gen(x, np.zeros((N, 2), np.float32)), verbose=0)
    assert sub.built


def test_batch_size_and_shuffle_are_not_used_with_a_dataset():
    x, y = _data()
    model = _model()
    h = model.fit(Batches(x, y), batch_size=7, shuffle=True, epochs=2, verbose=0)
    _same_training(h, model, *_fit_arrays(x, y))


def test_arguments_refused_with_a_dataset():
    x, y = _data()
    model = _model()
    with pytest.raises(
        ValueError, match="When providing `x` as a generator, `y` should not be passed"
    ):
        model.fit(_gen(x, y), y)
    with pytest.raises(ValueError, match="as a PyDataset, `sample_weights` should not"):
        model.fit(Seq(x, y), sample_weight=np.ones(N))
    with pytest.raises(ValueError, match="as a dataset, `y` should not"):
        model.evaluate(Batches(x, y), y)
    with pytest.raises(
        ValueError, match="`validation_split` is only supported for tensors or NumPy arrays"
    ):
        model.fit(Batches(x, y), validation_split=0.2)
    with pytest.raises(ValueError, match="yielded no batch"):
        model.fit(_gen(x[:0], y[:0]))


def test_bad_batches_get_the_array_errors_naming_the_batch():
    x, y = _data()

    def bad_shape():
        yield x[:4], y[:4]
        yield x[4:8], y[4:8]
        yield x[8:12, :2], y[8:12]

    model = _model()
    with pytest.raises(
        InputDataError,
        match=r"Batch 2 of the generator: .*expected shape "
        r"\(None, 3\), received \(4, 2\)",
    ):
        model.fit(bad_shape(), verbose=0)

    def bad_rows():
        yield x[:4], y[:3]

    with pytest.raises(InputDataError, match="Batch 0 of the generator: Data cardinality"):
        _model().fit(bad_rows(), verbose=0)
    with pytest.raises(InputDataError, match="Batch 0 of the dataset: y is required"):
        _model().fit(Batches(x), verbose=0)
    with pytest.raises(ValueError, match=r"format `x`, `\(x,\)`, `\(x, y\)`"):
        _model().fit(Batches(x, y, y, y), verbose=0)

    class BadSeq(Seq):
        def __getitem__(self, idx):
            return 3

    with pytest.raises(ValueError, match=r"PyDataset.__getitem__\(\) must return a tuple"):
        _model().evaluate(BadSeq(x, y), verbose=0)


def test_progress_bar_counts_unknown_steps_then_knows_them(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(graphc.progbar.time, "time", _Clock())
    x, y = _data()
    _model().fit(Batches(x, y), epochs=2, verbose=1)
    monkeypatch.undo()
    first, second = stream.getvalue().split("Epoch 2/2\n")
    frames = [f for f in first.split("\r") if f.strip()]
    assert frames[1].startswith("      1/Unknown - ") and "loss: " in frames[1]
    assert frames[-1].startswith("6/6 [==============================]")
    assert second.split("\r")[1].startswith("1/6 [====>")


def test_verbose_2_with_an_unknown_number_of_steps(capsys):
    x, y = _data()
    h = _model().fit(_gen(x, y), verbose=2)
    out = capsys.readouterr().out.strip()
    assert out.startswith("6/6 - ") and out.endswith(f"mae: {h.history['mae'][0]:.4f}")


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_callbacks_see_each_dataset_step():
    x, y = _data()
    seen = []

    class Spy(graphc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a normal pass
        _model().fit(_gen(x, y), callbacks=[Spy()], verbose=0)
    assert seen == list(range(6))
