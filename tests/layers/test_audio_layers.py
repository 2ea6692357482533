"""STFTSpectrogram and MelSpectrogram (graphc/layers/audio.py): shapes, weights, configs,
gradients, ONNX and the argument errors. Keras parity:
tests/oracle/test_keras_spectrogram_parity.py."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_gradients, check_layer

import graphc
from graphc import Input, Model, layers
from graphc.errors import ArgumentTypeError, ArgumentValueError, ShapeError

MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]


def _bins(fft_length, mode):
    return (fft_length // 2 + 1) * (2 if mode == "stft" else 1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "data_format,expand_dims", [("channels_last", False), ("channels_first", True)]
)
def test_stft_shapes_and_weights(mode, data_format, expand_dims):
    kwargs = dict(
        mode=mode,
        frame_length=8,
        frame_step=3,
        padding="same",
        expand_dims=expand_dims,
        data_format=data_format,
    )
    cl = data_format == "channels_last"
    shape = (None, 20, 2) if cl else (None, 2, 20)
    f = _bins(8, mode)
    frames = 7  # ceil(20 / 3)
    if expand_dims:
        want = (None, frames, f, 2) if cl else (None, 2, frames, f)
    else:
        want = (None, frames, 2 * f) if cl else (None, 2 * f, frames)
    kernels = 1 if mode in ("real", "imag") else 2
    checked = check_layer(layers.STFTSpectrogram, kwargs, shape, want, kernels * 8 * 5)
    names = [w.name.split("/")[-1] for w in checked.layer.weights]
    want_names = {"real": ["real_kernel"], "imag": ["imag_kernel"]}
    assert names == want_names.get(mode, ["real_kernel", "imag_kernel"])
    assert_onnx_matches(checked.model, [checked.x])


def test_stft_defaults_and_valid_length():
    layer = layers.STFTSpectrogram()
    assert (layer._frame_step, layer._fft_length) == (128, 256)
    y = layer(Input(shape=(1000, 1)))
    assert y.shape == (None, (1000 - 256) // 128 + 1, 129)
    assert layers.STFTSpectrogram(frame_length=100)._fft_length == 128


def _stft_reference(x, mode, frame_length, step, fft_length, window):
    """The same spectrogram straight from np.fft over the frames (valid padding,
    channels_last, one channel), with Keras's 'density' scaling."""
    n = (x.shape[1] - frame_length) // step + 1
    frames = np.stack([x[:, i * step : i * step + frame_length, 0] for i in range(n)], 1)
    spec = np.fft.rfft(frames * window / np.sqrt(np.sum(window**2)), n=fft_length)
    if mode == "real":
        return spec.real
    if mode == "imag":
        return spec.imag
    return np.abs(spec)


@pytest.mark.parametrize("mode", ["real", "imag", "magnitude"])
def test_stft_against_numpy_fft(mode):
    x = np.random.default_rng(0).standard_normal((2, 40, 1)).astype(np.float32)
    layer = layers.STFTSpectrogram(mode=mode, frame_length=12, frame_step=4, fft_length=16)
    got = np.asarray(layer(x))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(12) / 11)  # symmetric Hann
    want = _stft_reference(x.astype(np.float64), mode, 12, 4, 16, window)
    np.testing.assert_allclose(got, want, atol=2e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mode="log", padding="valid"),
        dict(mode="stft", expand_dims=True, data_format="channels_first"),
        dict(mode="psd", expand_dims=True, padding="same"),
    ],
)
def test_stft_gradients_and_onnx(kwargs):
    graphc.utils.set_random_seed(3)
    inp = Input(shape=(18, 2) if kwargs.get("data_format") != "channels_first" else (2, 18))
    out = layers.STFTSpectrogram(frame_length=6, frame_step=4, fft_length=8, **kwargs)(inp)
    model = Model(inp, out)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3,) + tuple(inp.shape[1:])).astype(np.float32)
    check_gradients(model, [x], lambda outs: [rng.standard_normal(o.shape) for o in outs])
    assert_onnx_matches(model, [x])


def test_mel_shapes_and_onnx():
    kwargs = dict(fft_length=32, sequence_stride=8, num_mel_bins=6, sampling_rate=8000)
    checked = check_layer(layers.MelSpectrogram, kwargs, (None, 64), (None, 6, 9), 0)
    assert checked.layer.get_config()["max_freq"] == 4000
    assert checked.layer.get_config()["sequence_length"] == 32
    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    assert_onnx_matches(checked.model, [x], rtol=1e-4, atol=1e-4)
    y = np.asarray(checked.layer(x[0]))  # unbatched
    assert y.shape == (6, 9)


def test_mel_without_db_has_gradients():
    layer = layers.MelSpectrogram(
        fft_length=16, sequence_stride=8, num_mel_bins=4, power_to_db=False, mag_exp=2.0
    )
    # no weights: the gradient reaching the signal is checked through a Dense before it
    inp = Input(shape=(3,))
    model = Model(inp, layer(layers.Dense(48, use_bias=False)(inp)))
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    rng = np.random.default_rng(5)
    check_gradients(model, [x], lambda outs: [rng.standard_normal(o.shape) for o in outs])


def test_mel_matrix_rows():
    from graphc.layers.audio import linear_to_mel_weight_matrix

    m = linear_to_mel_weight_matrix(10, 33, 8000, 20.0, 4000.0)
    assert m.shape == (33, 10) and m.dtype == np.float32
    assert np.all(m[0] == 0) and np.all(m >= 0) and np.all(m <= 1)


def test_errors():
    with pytest.raises(ArgumentValueError, match="frame_step"):
        layers.STFTSpectrogram(frame_length=8, frame_step=9)
    with pytest.raises(ArgumentValueError, match="fft_length"):
        layers.STFTSpectrogram(frame_length=8, fft_length=4)
    with pytest.raises(ArgumentValueError, match="Received: mode=loud"):
        layers.STFTSpectrogram(mode="loud")
    with pytest.raises(ArgumentValueError, match="scaling=both"):
        layers.STFTSpectrogram(scaling="both")
    with pytest.raises(ArgumentValueError, match="padding=causal"):
        layers.STFTSpectrogram(padding="causal")
    with pytest.warns(UserWarning, match="power of two"):
        layers.STFTSpectrogram(frame_length=8, fft_length=12)
    with pytest.raises(ShapeError, match="expected ndim=3, found ndim=2"):
        layers.STFTSpectrogram(frame_length=8)(Input(shape=(20,)))
    with pytest.raises(ArgumentTypeError, match="Received: input type=int32"):
        layers.STFTSpectrogram(frame_length=8)(Input(shape=(20, 1), dtype="int32"))
    with pytest.raises(ArgumentValueError, match="`fft_length` must be greater"):
        layers.MelSpectrogram(fft_length=16, sequence_length=32)
    with pytest.raises(ShapeError, match=r"1-D \(unbatched\) or 2-D"):
        layers.MelSpectrogram(fft_length=16, sequence_stride=8)(Input(shape=(32, 1)))
    with pytest.raises(ShapeError, match=r"samples must be known.*\(None, None\)"):
        layers.MelSpectrogram(fft_length=16, sequence_stride=8)(Input(shape=(None,)))


@pytest.mark.parametrize("expand_dims", [False, True])
def test_stft_unknown_length(expand_dims):
    """The convolutions need no static time length (Keras's reshapes do, in graphc)."""
    inp = Input(shape=(None, 2))
    layer = layers.STFTSpectrogram(frame_length=8, mode="log", expand_dims=expand_dims)
    model = Model(inp, layer(inp))
    assert model.output_shape == ((None, None, 5, 2) if expand_dims else (None, None, 10))
    xs = [np.random.default_rng(t).standard_normal((2, t, 2)).astype(np.float32) for t in (20, 33)]
    assert [model.predict(x, verbose=0).shape[1] for x in xs] == [4, 7]
    assert_onnx_matches(model, xs)
