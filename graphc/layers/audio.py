"""Keras 3's audio layers: ``STFTSpectrogram`` and ``MelSpectrogram``, made of existing ops.

``STFTSpectrogram`` holds Keras's DFT kernels (``real_kernel``/``imag_kernel``, shape
``(frame_length, 1, fft_length // 2 + 1)``, from ``initializers.STFT``) and applies them
as strided convolutions, as Keras does. Where Keras reshapes ``(batch * channels, time,
1)`` and back, graphc convolves all channels at once, so no shape needs to be static but
the channels': without ``expand_dims`` a grouped ``conv`` (one group per channel, the
kernel tiled) gives Keras's layout ``(..., channels * freq)`` directly; with it, a 2-D
``conv`` over ``(time, channels)`` with a ``(frame_length, 1)`` kernel.

>>> graphc.layers.STFTSpectrogram(frame_length=16, padding="same")(
...     graphc.Input(shape=(64, 2))).shape
(None, 8, 18)

``MelSpectrogram`` is ``ops.stft`` (centred), the magnitude to ``mag_exp``, a constant
mel matrix (Keras's HTK ``linear_to_mel_weight_matrix``) and the decibel scale, whose
``top_db`` floor is relative to the maximum over the whole batch, as in Keras.

>>> graphc.layers.MelSpectrogram(fft_length=64, sequence_stride=16, num_mel_bins=8)(
...     graphc.Input(shape=(128,))).shape
(None, 8, 9)
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from graphc import initializers, ops
from graphc.config import epsilon, standardize_data_format
from graphc.errors import ArgumentTypeError, ArgumentValueError, ShapeError
from graphc.ir import format_shape
from graphc.layers.base import Layer
from graphc.layers.convolutional import check_input_rank
from graphc.ops.shapes import known

__all__ = ["STFTSpectrogram", "MelSpectrogram"]

_MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]


def _check_float(layer, x):
    dtype = str(np.dtype(x.dtype))
    if dtype not in ("float16", "float32", "float64"):
        raise ArgumentTypeError(
            f"{layer.name} ({type(layer).__name__}): invalid input type. Expected `float16`, "
            f"`float32` or `float64`. Received: input type={dtype}; cast the signal to float32"
        )


class STFTSpectrogram(Layer):
    """``keras.layers.STFTSpectrogram``: the STFT of each channel of ``(batch, time,
    channels)`` (or ``(batch, channels, time)``) as a log/magnitude/psd/real/imag/angle
    spectrogram or the ``stft`` (real then imaginary bins)."""

    def __init__(
        self,
        mode="log",
        frame_length=256,
        frame_step=None,
        fft_length=None,
        window="hann",
        periodic=False,
        scaling="density",
        padding="valid",
        expand_dims=False,
        data_format=None,
        **kwargs,
    ):
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ArgumentValueError(
                "`frame_step` should be a positive integer not greater than `frame_length`. "
                f"Received frame_step={frame_step}, frame_length={frame_length}"
            )
        if fft_length is not None and fft_length < frame_length:
            raise ArgumentValueError(
                "`fft_length` should be not less than `frame_length`. "
                f"Received fft_length={fft_length}, frame_length={frame_length}"
            )
        if fft_length is not None and (fft_length & -fft_length) != fft_length:
            warnings.warn(
                "`fft_length` is recommended to be a power of two. "
                f"Received fft_length={fft_length}",
                stacklevel=2,
            )
        if mode not in _MODES:
            raise ArgumentValueError(
                f"Output mode is invalid, it must be one of {', '.join(_MODES)}. "
                f"Received: mode={mode}"
            )
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ArgumentValueError(
                "Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                f"Received scaling={scaling}"
            )
        if padding not in ("valid", "same"):
            raise ArgumentValueError(
                f"Padding is invalid, it should be 'valid', 'same'. Received: padding={padding}"
            )
        initializers.STFT("real", window, scaling, periodic)  # checks a window's name
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = int(frame_length)
        self.frame_step = frame_step
        self._frame_step = int(frame_step or self.frame_length // 2)
        self.fft_length = fft_length
        self._fft_length = int(fft_length or 2 ** int(math.ceil(math.log2(frame_length))))
        if isinstance(window, np.ndarray):
            window = window.tolist()
        self.window = window
        self.periodic = periodic
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = expand_dims
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape):
        check_input_rank(self, input_shape, 3)
        channels = input_shape[-1 if self.data_format == "channels_last" else 1]
        if not known(channels):
            raise ShapeError(
                f"{self.name} (STFTSpectrogram): the number of channels must be known; "
                f"received input shape {format_shape(tuple(input_shape))}"
            )
        self._channels = int(channels)
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.real_kernel = self.add_weight(
                name="real_kernel",
                shape=shape,
                initializer=initializers.STFT("real", self.window, self.scaling, self.periodic),
            )
        if self.mode != "real":
            self.imag_kernel = self.add_weight(
                name="imag_kernel",
                shape=shape,
                initializer=initializers.STFT("imag", self.window, self.scaling, self.periodic),
            )

    # The raw layouts: without expand_dims Keras's own output layout, (B, T', C*F) or
    # (B, C*F, T'); with it (B, T', C, F) (channels_last) or (B, C, T', F).
    def _freq_axis(self):
        return -1 if self.expand_dims or self.data_format == "channels_last" else -2

    def _conv(self, inputs, kernel):
        c, cl = self._channels, self.data_format == "channels_last"
        if np.dtype(kernel.dtype) != np.dtype(inputs.dtype):
            kernel = ops.cast(kernel, str(np.dtype(inputs.dtype)))
        if not self.expand_dims:
            if c > 1:
                kernel = ops.concatenate([kernel] * c, axis=-1)
            return ops.conv(
                inputs,
                kernel,
                strides=self._frame_step,
                padding=self.padding,
                data_format=self.data_format,
                groups=c,
            )
        x = ops.expand_dims(inputs, -1)  # (B, T, C, 1) or (B, C, T, 1)
        f = kernel.shape[-1]
        n = self.frame_length
        kernel = ops.reshape(kernel, (n, 1, 1, f) if cl else (1, n, 1, f))
        strides = (self._frame_step, 1) if cl else (1, self._frame_step)
        return ops.conv(
            x, kernel, strides=strides, padding=self.padding, data_format="channels_last"
        )

    def _finish(self, y):
        if self.expand_dims and self.data_format == "channels_last":
            return ops.transpose(y, (0, 1, 3, 2))  # (B, T', F, C)
        return y

    def _per_bin(self, values):
        """A constant over the frequency bins, laid out as the raw outputs are."""
        values = np.asarray(values, dtype=np.float32)
        if not self.expand_dims:
            values = np.tile(values, self._channels)
            if self.data_format == "channels_first":
                values = values[:, None]
        return values

    def call(self, inputs):
        _check_float(self, inputs)
        real = imag = None
        if self.mode == "stft":
            both = ops.concatenate([self.real_kernel, self.imag_kernel], axis=-1)
            return self._finish(self._conv(inputs, both))
        if self.mode != "imag":
            real = self._conv(inputs, self.real_kernel)
        if self.mode != "real":
            imag = self._conv(inputs, self.imag_kernel)
        if self.mode == "real":
            return self._finish(real)
        if self.mode == "imag":
            return self._finish(imag)
        if self.mode == "angle":
            return self._finish(ops.arctan2(imag, real))
        power = ops.add(ops.square(real), ops.square(imag))
        if self.mode == "psd":
            # Keras adds the bins 1..F-2 once more (a one-sided spectrum): x + x is 2x exactly
            bins = self._fft_length // 2 + 1
            scale = np.ones(bins)
            scale[1:-1] = 2.0
            return self._finish(ops.multiply(power, self._per_bin(scale).astype(power.dtype)))
        eps = epsilon()
        linear = ops.sqrt(ops.maximum(power, eps))
        if self.mode == "magnitude":
            return self._finish(linear)
        return self._finish(ops.log(ops.maximum(linear, eps)))

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "window": self.window,
            "periodic": self.periodic,
            "scaling": self.scaling,
            "padding": self.padding,
            "data_format": self.data_format,
            "expand_dims": self.expand_dims,
        }


_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _hertz_to_mel(f):
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + f / _MEL_BREAK_FREQUENCY_HERTZ)


def linear_to_mel_weight_matrix(
    num_mel_bins=20,
    num_spectrogram_bins=129,
    sampling_rate=8000,
    lower_edge_hertz=125.0,
    upper_edge_hertz=3800.0,
    dtype="float32",
):
    """Keras's ``MelSpectrogram.linear_to_mel_weight_matrix`` (HTK's mel scale, peaks of
    1, the DC bin zero): ``(num_spectrogram_bins, num_mel_bins)``, computed in ``dtype``
    as Keras does."""
    dt = np.dtype(dtype).type
    nyquist = dt(sampling_rate) / dt(2.0)
    freqs = np.linspace(dt(0.0), nyquist, int(num_spectrogram_bins), dtype=dt)[1:]
    bins_mel = _hertz_to_mel(freqs)[:, None]
    edges = np.linspace(
        _hertz_to_mel(dt(lower_edge_hertz)),
        _hertz_to_mel(dt(upper_edge_hertz)),
        int(num_mel_bins) + 2,
        dtype=dt,
    )
    lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    lower_slopes = (bins_mel - lower) / (center - lower)
    upper_slopes = (upper - bins_mel) / (upper - center)
    weights = np.maximum(dt(0.0), np.minimum(lower_slopes, upper_slopes))
    return np.pad(weights, [(1, 0), (0, 0)]).astype(dt)


class MelSpectrogram(Layer):
    """``keras.layers.MelSpectrogram``: audio ``(..., samples)`` to a (decibel) mel
    spectrogram ``(..., num_mel_bins, frames)``."""

    def __init__(
        self,
        fft_length=2048,
        sequence_stride=512,
        sequence_length=None,
        window="hann",
        sampling_rate=16000,
        num_mel_bins=128,
        min_freq=20.0,
        max_freq=None,
        power_to_db=True,
        top_db=80.0,
        mag_exp=2.0,
        min_power=1e-10,
        ref_power=1.0,
        **kwargs,
    ):
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length or fft_length
        if self.fft_length < self.sequence_length:
            raise ArgumentValueError(
                "`fft_length` must be greater than or equal to  "
                f" `sequence_length`. Received: `sequence_length`="
                f"{self.sequence_length}, `fft_length`={self.fft_length}."
            )
        if isinstance(window, np.ndarray):
            window = window.tolist()
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = power_to_db
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power
        super().__init__(**kwargs)

    def call(self, inputs):
        _check_float(self, inputs)
        dtype = self.dtype if self.dtype in ("float32", "float64") else "float32"
        x = inputs if str(np.dtype(inputs.dtype)) == dtype else ops.cast(inputs, dtype)
        if len(x.shape) not in (1, 2):
            raise ShapeError(
                f"{self.name} (MelSpectrogram): expected a 1-D (unbatched) or 2-D (batched) "
                f"signal of shape (..., samples); received shape {format_shape(tuple(x.shape))}"
            )
        if not known(x.shape[-1]):
            raise ShapeError(
                f"{self.name} (MelSpectrogram): the number of samples must be known (the "
                f"STFT's frames and DFT are fixed when the model is built); received shape "
                f"{format_shape(tuple(x.shape))}. Give the input a fixed length, e.g. "
                "Input(shape=(16000,))"
            )
        window = self.window if not isinstance(self.window, list) else np.asarray(self.window)
        real, imag = ops.stft(
            x,
            sequence_length=self.sequence_length,
            sequence_stride=self.sequence_stride,
            fft_length=self.fft_length,
            window=window,
            center=True,
        )
        spec = ops.sqrt(ops.add(ops.square(real), ops.square(imag)))
        spec = ops.power(spec, self.mag_exp)
        mel = linear_to_mel_weight_matrix(
            num_mel_bins=self.num_mel_bins,
            num_spectrogram_bins=self.fft_length // 2 + 1,
            sampling_rate=self.sampling_rate,
            lower_edge_hertz=self.min_freq,
            upper_edge_hertz=self.max_freq,
        )
        out = ops.matmul(spec, mel.astype(dtype))  # tensordot over the last axis
        if self.power_to_db:
            log_spec = ops.multiply(ops.log10(ops.maximum(out, self.min_power)), 10.0)
            ref = 10.0 * np.log10(max(abs(float(self.ref_power)), self.min_power))
            log_spec = ops.subtract(log_spec, np.asarray(ref, dtype=dtype))
            out = ops.maximum(log_spec, ops.subtract(ops.max(log_spec), self.top_db))
        out = ops.swapaxes(out, -1, -2)
        return out if dtype == self.dtype else ops.cast(out, self.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "fft_length": self.fft_length,
            "sequence_stride": self.sequence_stride,
            "sequence_length": self.sequence_length,
            "window": self.window,
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "min_freq": self.min_freq,
            "max_freq": self.max_freq,
            "power_to_db": self.power_to_db,
            "top_db": self.top_db,
            "mag_exp": self.mag_exp,
            "min_power": self.min_power,
            "ref_power": self.ref_power,
        }
