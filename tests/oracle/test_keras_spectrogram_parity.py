"""STFTSpectrogram and MelSpectrogram against Keras 3 itself (torch backend): graphc's own
DFT kernels equal Keras's, and with Keras's weights copied the outputs agree to 1e-5 of
their largest entry for every mode, padding, data format and expand_dims; the configs
match; a .keras file written by Keras loads in graphc; a short fit trains alike; the ONNX
export runs in onnxruntime.

Keras's string windows need SciPy, which is not installed: Keras gets the same window as
an array (NumPy's Hann/Hamming, SciPy's), graphc its name."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import assert_onnx_matches, fit_both  # noqa: E402

import graphc  # noqa: E402

RNG = np.random.default_rng(0)
MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]


def _keras_window(name, n, periodic):
    if name is None or not isinstance(name, str):
        return name
    fn = {"hann": np.hanning, "hamming": np.hamming}[name]
    return fn(n + 1)[:-1] if periodic else fn(n)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _assert_rel(got, want, rel=1e-5):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    scale = float(np.max(np.abs(want)))
    err = float(np.max(np.abs(got - want)))
    assert err <= rel * scale, f"max |diff| {err} > {rel} * {scale}"


def _stft_pair(kwargs, input_shape):
    frame_length = kwargs.get("frame_length", 256)
    k_kwargs = dict(kwargs)
    k_kwargs["window"] = _keras_window(
        kwargs.get("window", "hann"), frame_length, kwargs.get("periodic", False)
    )
    models = []
    for lib, kw in ((keras, k_kwargs), (graphc, kwargs)):
        models.append(lib.Sequential([lib.Input(input_shape), lib.layers.STFTSpectrogram(**kw)]))
    k, g = models
    kw_ = [_np(w) for w in k.get_weights()]
    assert [w.shape for w in g.get_weights()] == [w.shape for w in kw_]
    for a, b in zip(g.get_weights(), kw_):  # graphc's own kernels are Keras's
        np.testing.assert_allclose(a, b, atol=1e-5)  # Keras computes them in float32
    g.set_weights(kw_)
    return k, g


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("expand_dims", [False, True])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_stft_spectrogram_modes(mode, data_format, expand_dims, padding):
    kwargs = dict(
        mode=mode,
        frame_length=16,
        frame_step=5,
        fft_length=32,
        padding=padding,
        expand_dims=expand_dims,
        data_format=data_format,
    )
    shape = (50, 2) if data_format == "channels_last" else (2, 50)
    k, g = _stft_pair(kwargs, shape)
    x = RNG.standard_normal((3,) + shape).astype("float32")
    _assert_rel(g.predict(x, verbose=0), _np(k.predict(x, verbose=0)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # the defaults: log, 256 / 128 / 256, hann, density, valid
        dict(frame_length=20, window="hamming", periodic=True, scaling="spectrum"),
        dict(frame_length=12, frame_step=12, window=None, scaling=None, mode="magnitude"),
        dict(frame_length=10, fft_length=16, scaling=None, mode="psd", padding="same"),
        dict(frame_length=9, frame_step=2, mode="stft", periodic=True, expand_dims=True),
    ],
)
def test_stft_spectrogram_options(kwargs):
    shape = (600, 3)
    k, g = _stft_pair(kwargs, shape)
    x = RNG.standard_normal((2,) + shape).astype("float32")
    _assert_rel(g.predict(x, verbose=0), _np(k.predict(x, verbose=0)))
    gc, kc = g.layers[-1].get_config(), k.layers[-1].get_config()
    for key in set(kc) - {"dtype", "window", "name"}:
        assert gc[key] == kc[key], key


@pytest.mark.slow
def test_stft_spectrogram_trains_alike_and_exports():
    kwargs = dict(mode="psd", frame_length=8, frame_step=4, padding="same")
    shape = (32, 1)
    models = []
    for lib, window in ((keras, _keras_window("hann", 8, False)), (graphc, "hann")):
        models.append(
            lib.Sequential(
                [
                    lib.Input(shape),
                    lib.layers.STFTSpectrogram(window=window, **kwargs),
                    lib.layers.Flatten(),
                    lib.layers.Dense(1),
                ]
            )
        )
    k, g = models
    g.set_weights([_np(w) for w in k.get_weights()])
    for m in (k, g):
        m.compile(optimizer="sgd", loss="mse")
    x = RNG.standard_normal((16,) + shape).astype("float32")
    y = RNG.standard_normal((16, 1)).astype("float32")
    kh, gh = fit_both(k, g, x, y, epochs=2, batch_size=8)
    np.testing.assert_allclose(gh["loss"], kh["loss"], rtol=1e-4)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-3, atol=1e-5)
    assert_onnx_matches(g, [x])


def test_keras_file_with_stft_spectrogram_loads(tmp_path):
    kwargs = dict(mode="psd", frame_length=16, frame_step=8, window=None, scaling="spectrum")
    k = keras.Sequential([keras.Input((64, 2)), keras.layers.STFTSpectrogram(**kwargs)])
    k.set_weights([w * 1.5 for w in k.get_weights()])  # not the initial kernels
    path = str(tmp_path / "k.keras")
    k.save(path)
    g = graphc.saving.load_model(path)
    x = RNG.standard_normal((3, 64, 2)).astype("float32")
    _assert_rel(g.predict(x, verbose=0), _np(k.predict(x, verbose=0)))
    # and Keras reads graphc's file back
    path2 = str(tmp_path / "g.keras")
    g.save(path2)
    back = keras.saving.load_model(path2)
    _assert_rel(_np(back.predict(x, verbose=0)), g.predict(x, verbose=0))


MEL_CASES = [
    {},
    dict(window="hamming", power_to_db=False, mag_exp=1.0),
    dict(sequence_length=48, window=None, top_db=20.0, ref_power=2.0, min_freq=100.0),
    dict(num_mel_bins=16, sampling_rate=8000, min_power=1e-3, max_freq=3000.0),
]


@pytest.mark.parametrize("case", MEL_CASES)
def test_mel_spectrogram(case):
    kwargs = dict(fft_length=64, sequence_stride=16, num_mel_bins=10)
    kwargs.update(case)
    k, g = keras.layers.MelSpectrogram(**kwargs), graphc.layers.MelSpectrogram(**kwargs)
    x = RNG.standard_normal((3, 200)).astype("float32")
    _assert_rel(g(x), _np(k(x)))
    _assert_rel(g(x[1]), _np(k(x[1])))  # unbatched
    gc, kc = g.get_config(), k.get_config()
    skip = ("dtype", "name")  # graphc's dtype is its name; name counters differ
    assert {key: v for key, v in gc.items() if key not in skip} == {
        key: v for key, v in kc.items() if key not in skip
    }
    # in a model, through ONNX
    inp = graphc.Input((200,))
    model = graphc.Model(inp, graphc.layers.MelSpectrogram(**kwargs)(inp))
    _assert_rel(model.predict(x, verbose=0), _np(k(x)))
    assert_onnx_matches(model, [x], rtol=1e-4, atol=1e-4)


def test_keras_file_with_mel_spectrogram_loads(tmp_path):
    kwargs = dict(fft_length=32, sequence_stride=8, num_mel_bins=6, top_db=50.0)
    k = keras.Sequential([keras.Input((96,)), keras.layers.MelSpectrogram(**kwargs)])
    path = str(tmp_path / "k.keras")
    k.save(path)
    g = graphc.saving.load_model(path)
    x = RNG.standard_normal((2, 96)).astype("float32")
    _assert_rel(g.predict(x, verbose=0), _np(k.predict(x, verbose=0)))
