"""fit / evaluate / predict on generators, PyDatasets and torch DataLoaders: the same
data fed to Keras 3 (torch backend) and to graphc give the same History (keys and
values), weights, evaluation and predictions, and the same progress line."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
# slow: the tests here train models, most in both libraries (Keras on torch steps slowly)
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

from oracle_harness import assert_same_training, compile_both, pair  # noqa: E402

import graphc  # noqa: E402

N, BS = 48, 8  # 6 batches


def _data(seed=0, classes=None):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, 5)).astype(np.float32)
    if classes:
        return x, rng.integers(0, classes, N).astype(np.int64)
    return x, (x @ rng.standard_normal((5, 2)) + 0.3).astype(np.float32)


def _models(out=2, activation=None, **compile_kwargs):
    def build(lib):
        inputs = lib.Input((5,))
        h = lib.layers.Dense(8, activation="tanh")(inputs)
        return lib.Model(inputs, lib.layers.Dense(out, activation=activation)(h))

    keras.utils.set_random_seed(0)
    k_model, g_model = pair(build, shapes=False)
    compile_both(k_model, g_model, lambda lib: lib.optimizers.Adam(0.01), **compile_kwargs)
    return k_model, g_model


def _gen(*arrays, batch_size=BS):
    for i in range(0, len(arrays[0]), batch_size):
        yield tuple(a[i : i + batch_size] for a in arrays)


def _seq_class(lib):
    class Seq(lib.utils.PyDataset):
        def __init__(self, *arrays, **kwargs):
            super().__init__(**kwargs)
            self.arrays = arrays
            self.ends = 0

        def __len__(self):
            return -(-len(self.arrays[0]) // BS)

        def __getitem__(self, idx):
            return tuple(a[idx * BS : (idx + 1) * BS] for a in self.arrays)

        def on_epoch_end(self):
            self.ends += 1

    return Seq


def _assert_same(k_model, g_model, k_hist, g_hist):
    assert_same_training(k_model, g_model, k_hist.history, g_hist.history, weights_atol=1e-5)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():  # Keras warns that shuffle is ignored, and more
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_generator_with_steps_and_pydataset_validation():
    x, y = _data()
    vx, vy = _data(seed=1)
    k_model, g_model = _models(loss="mse", metrics=["mae"])
    hists = [
        _quiet(
            m.fit,
            _gen(x, y),
            steps_per_epoch=3,
            epochs=2,
            verbose=0,
            validation_data=_seq_class(lib)(vx, vy),
            validation_steps=4,
        )
        for lib, m in ((keras, k_model), (graphc, g_model))
    ]
    assert set(hists[1].history) == {"loss", "mae", "val_loss", "val_mae"}
    _assert_same(k_model, g_model, *hists)


def test_pydataset_with_sample_weights_then_evaluate_and_predict():
    x, y = _data()
    sw = np.linspace(0.2, 1.5, N).astype(np.float32)
    k_model, g_model = _models(loss="mse", metrics=["mae"], weighted_metrics=["mse"])
    k_seq, g_seq = _seq_class(keras)(x, y, sw), _seq_class(graphc)(x, y, sw)
    k_hist = _quiet(k_model.fit, k_seq, epochs=3, shuffle=False, verbose=0)
    g_hist = g_model.fit(g_seq, epochs=3, shuffle=False, verbose=0)
    _assert_same(k_model, g_model, k_hist, g_hist)
    assert g_seq.ends == 3
    k_eval = _quiet(k_model.evaluate, _seq_class(keras)(x, y), return_dict=True, verbose=0)
    g_eval = g_model.evaluate(_seq_class(graphc)(x, y), return_dict=True, verbose=0)
    assert set(g_eval) == set(k_eval)
    for key in k_eval:
        np.testing.assert_allclose(g_eval[key], k_eval[key], rtol=1e-3, err_msg=key)
    k_pred = _quiet(k_model.predict, ((b,) for b in np.split(x, 6)), verbose=0)
    np.testing.assert_allclose(
        g_model.predict(((b,) for b in np.split(x, 6)), verbose=0), k_pred, rtol=1e-3, atol=1e-5
    )


def test_pydataset_with_class_weight():
    x, y = _data(classes=3)
    cw = {0: 0.5, 1: 2.0, 2: 1.0}
    k_model, g_model = _models(
        out=3,
        activation="softmax",
        loss="sparse_categorical_crossentropy",
        weighted_metrics=["accuracy"],
    )
    k_hist = _quiet(
        k_model.fit, _seq_class(keras)(x, y), class_weight=cw, epochs=2, shuffle=False, verbose=0
    )
    g_hist = g_model.fit(
        _seq_class(graphc)(x, y), class_weight=cw, epochs=2, shuffle=False, verbose=0
    )
    _assert_same(k_model, g_model, k_hist, g_hist)


def test_torch_dataloader_is_a_reiterable_dataset():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    x, y = _data()
    loader = DataLoader(
        TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=BS, shuffle=False
    )
    k_model, g_model = _models(loss="mse")
    k_hist = _quiet(k_model.fit, loader, epochs=3, verbose=0)
    g_hist = g_model.fit(loader, epochs=3, verbose=0)
    _assert_same(k_model, g_model, k_hist, g_hist)


def _progress_line(text):
    line = text.strip().splitlines()[-1]
    return re.sub(r"\d+(?:us|ms|s)/step", "T/step", re.sub(r" - \d+s - ", " - Ts - ", line))


def test_progress_line_of_a_generator_of_unknown_length(capsys):
    x, y = _data()
    k_model, g_model = _models(loss="mse", metrics=["mae"])
    _quiet(k_model.fit, _gen(x, y), verbose=2)
    k_line = _progress_line(capsys.readouterr().out)
    g_model.fit(_gen(x, y), verbose=2)
    g_line = _progress_line(capsys.readouterr().out)
    assert k_line.startswith("6/6 - Ts - T/step - loss: ")
    assert g_line == k_line
