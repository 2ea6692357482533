"""Weight initializers with Keras 3's names, defaults and formulas.

>>> graphc.initializers.get("glorot_uniform")((64, 32)).shape
(64, 32)
"""

from __future__ import annotations

import math

import numpy as np

from graphc import rng as _random

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomUniform",
    "RandomNormal",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Orthogonal",
    "get",
    "serialize",
    "compute_fans",
    "Identity",
    "STFT",
    "STFTInitializer",
    "stft",
    "IdentityInitializer",
    "OrthogonalInitializer",
    "deserialize",
    "zeros",
    "ones",
    "constant",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "variance_scaling",
    "orthogonal",
    "identity",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
]


def compute_fans(shape) -> tuple[int, int]:
    """Keras's fans: ``(in, out)`` for a matrix; convolution kernels multiply both by the
    receptive field ``prod(shape[:-2])``."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


_SCALARS: dict = {}


def _scalar(x: float) -> np.ndarray:
    """``x`` as a 0-d float64 array, made once per value: an in-place ufunc with a 0-d
    array operand costs half what it costs with a Python float (NumPy's scalar
    conversion), for the same double arithmetic. Zeros (``0.0 == -0.0``) are not kept."""
    a = _SCALARS.get(x)
    if a is None:
        a = np.array(x)
        if x and len(_SCALARS) < 256:
            _SCALARS[x] = a
    return a


def _uniform(rng: np.random.Generator, low, high, shape) -> np.ndarray:
    """``rng.uniform(low, high, shape)``, the same numbers (NumPy computes ``low + (high -
    low) * u`` from the same doubles ``u``) at a third of the cost for Python floats:
    ``Generator.uniform``'s argument handling costs more than drawing a Dense kernel."""
    if type(low) is not float or type(high) is not float:
        return rng.uniform(low, high, shape)
    out = rng.random(shape)
    out *= _scalar(high - low)
    out += _scalar(low)
    return out


_NP_DTYPES: dict = {}


def _np_dtype(dtype):
    """``np.dtype(dtype)`` for a dtype's name, cached (``astype("float32")`` parses the
    name at every call); any other spelling is passed on as it is."""
    if dtype.__class__ is not str:
        return dtype
    d = _NP_DTYPES.get(dtype)
    if d is None:
        d = _NP_DTYPES[dtype] = np.dtype(dtype)
    return d


class Initializer:
    """``init(shape, dtype="float32") -> ndarray``."""

    def __init__(self, seed=None):
        self.seed = seed

    @property
    def rng(self) -> np.random.Generator:
        """With a seed, a fresh generator per call: the same values every call, as Keras 3
        gives; without, graphc's global generator (``set_random_seed``)."""
        return np.random.default_rng(self.seed) if self.seed is not None else _random.generator()

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _truncated_normal(self, shape, mean, stddev):
        """Normal samples redrawn until within two standard deviations, as Keras does."""
        rng = self.rng
        out = rng.standard_normal(shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(out) > 2
        return mean + stddev * out


class Zeros(Initializer):
    def __init__(self):
        self.seed = None  # Initializer.__init__(), spelled out: one per Dense layer

    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=_np_dtype(dtype))

    def get_config(self):
        return {}


class Ones(Zeros):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return np.broadcast_to(np.asarray(self.value, dtype=dtype), shape).copy()

    def get_config(self):
        value = self.value
        return {"value": value.tolist() if isinstance(value, np.ndarray) else value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        return _uniform(self.rng, self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        return (self.mean + self.stddev * self.rng.standard_normal(shape)).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype="float32"):
        return self._truncated_normal(shape, self.mean, self.stddev).astype(dtype)


class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if scale <= 0:
            raise ValueError(f"scale must be positive, received {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be fan_in, fan_out or fan_avg, received {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                "distribution must be truncated_normal, untruncated_normal or "
                f"uniform, received {distribution!r}"
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32"):
        if shape.__class__ is tuple and len(shape) == 2:  # compute_fans of a matrix
            fan_in, fan_out = shape[0] * 1, shape[1] * 1
        else:
            fan_in, fan_out = compute_fans(shape)
        mode = self.mode
        if mode == "fan_in":
            fan = fan_in
        elif mode == "fan_out":
            fan = fan_out
        elif mode == "fan_avg":
            fan = (fan_in + fan_out) / 2
        else:
            raise KeyError(mode)  # what the lookup this replaces raised
        scale = self.scale / max(1.0, fan)
        if self.distribution == "truncated_normal":
            # 0.879...: the stddev of a unit normal truncated to (-2, 2).
            out = self._truncated_normal(shape, 0.0, math.sqrt(scale) / 0.87962566103423978)
        elif self.distribution == "untruncated_normal":
            out = math.sqrt(scale) * self.rng.standard_normal(shape)
        else:
            limit = math.sqrt(3.0 * scale)
            out = _uniform(self.rng, -limit, limit, shape)
        return out.astype(_np_dtype(dtype))

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


def _variance_scaling(name, scale, mode, distribution):
    VarianceScaling(scale, mode, distribution)  # the arguments are valid

    def __init__(self, seed=None):
        # VarianceScaling.__init__(self, scale, mode, distribution, seed) without its
        # checks (passed above), in its order: one per Dense layer.
        self.seed = seed
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        if len(shape) < 2:
            raise ValueError(
                f"The Orthogonal initializer needs a shape of rank >= 2, received {tuple(shape)}"
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self.rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # makes the distribution uniform (Keras does the same)
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


_CLASSES = {
    c.__name__: c
    for c in (
        Zeros,
        Ones,
        Constant,
        RandomUniform,
        RandomNormal,
        TruncatedNormal,
        VarianceScaling,
        GlorotUniform,
        GlorotNormal,
        HeUniform,
        HeNormal,
        LecunUniform,
        LecunNormal,
        Orthogonal,
    )
}
_ALIASES = {
    "zeros": "Zeros",
    "ones": "Ones",
    "constant": "Constant",
    "random_uniform": "RandomUniform",
    "uniform": "RandomUniform",
    "random_normal": "RandomNormal",
    "normal": "RandomNormal",
    "truncated_normal": "TruncatedNormal",
    "variance_scaling": "VarianceScaling",
    "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform",
    "he_normal": "HeNormal",
    "lecun_uniform": "LecunUniform",
    "lecun_normal": "LecunNormal",
    "orthogonal": "Orthogonal",
}


class Identity(Initializer):
    """``keras.initializers.Identity``: ``gain`` times the identity matrix (2-D shapes)."""

    def __init__(self, gain=1.0):
        super().__init__(None)
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        if len(shape) != 2:
            raise ValueError(f"The Identity initializer needs a 2-D shape, received {tuple(shape)}")
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


_WINDOWS = {
    "hann": np.hanning,
    "hanning": np.hanning,
    "hamming": np.hamming,
    "blackman": np.blackman,
    "bartlett": np.bartlett,
    "boxcar": np.ones,
    "rect": np.ones,
    "ones": np.ones,
}


def _window(name, n, periodic):
    """``scipy.signal.get_window(name, n, fftbins=periodic)`` for the common windows."""
    fn = _WINDOWS.get(name)
    if fn is None:
        raise ValueError(
            f"Unknown window {name!r}: graphc provides {', '.join(sorted(_WINDOWS))}; "
            "pass the window as an array for others"
        )
    return fn(n + 1)[:-1] if periodic and fn is not np.ones else fn(n)


class STFT(Initializer):
    """``keras.initializers.STFT``: the real (``side="real"``) or imaginary part of the
    DFT kernel of shape ``(frame_length, 1, fft_bins)``, windowed and scaled ("density":
    by the window's L2 norm; "spectrum": by its sum), as Keras's STFTSpectrogram uses."""

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        super().__init__(None)
        if side not in ("real", "imag"):
            raise ValueError(f"side should be 'real' or 'imag', not {side}")
        if isinstance(window, str):
            _window(window, 1, periodic)
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(
                "Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                f"Received scaling={scaling}"
            )
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape, dtype="float32"):
        frame_length, _, fft_bins = shape
        n = (fft_bins - 1) * 2
        t = np.arange(frame_length, dtype=np.float64).reshape(frame_length, 1, 1)
        f = np.arange(fft_bins, dtype=np.float64).reshape(1, 1, fft_bins) / n
        args = -2 * t * f * np.pi
        kernel = np.cos(args) if self.side == "real" else np.sin(args)
        if self.window is not None:
            win = self.window
            win = _window(win, frame_length, self.periodic) if isinstance(win, str) else win
            win = np.asarray(win, dtype=np.float64)
            if win.shape != (frame_length,):
                raise ValueError(
                    "The shape of `window` must be equal to [frame_length]. Received: "
                    f"window shape={win.shape}"
                )
            win = win.reshape(frame_length, 1, 1)
            scale = 1.0
            if self.scaling == "density":
                scale = np.sqrt(np.sum(win * win))
            elif self.scaling == "spectrum":
                scale = np.sum(np.abs(win))
            kernel = kernel * win / scale
        return kernel.astype(dtype)

    def get_config(self):
        window = self.window.tolist() if isinstance(self.window, np.ndarray) else self.window
        return {
            "side": self.side,
            "window": window,
            "periodic": self.periodic,
            "scaling": self.scaling,
        }


STFTInitializer = stft = STFT
_CLASSES["STFT"] = STFT
_CLASSES["STFTInitializer"] = STFT
_ALIASES["stft"] = "STFT"

IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal
_CLASSES["Identity"] = Identity
_CLASSES["IdentityInitializer"] = Identity
_CLASSES["OrthogonalInitializer"] = Orthogonal
_ALIASES["identity"] = "Identity"

# Keras's lower-case names are the classes themselves (keras.initializers.he_normal()).
zeros, ones, constant = Zeros, Ones, Constant
random_uniform, random_normal, truncated_normal = RandomUniform, RandomNormal, TruncatedNormal
variance_scaling, orthogonal, identity = VarianceScaling, Orthogonal, Identity
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, LecunNormal


def get(identifier):
    """An initializer from a name, a ``{"class_name", "config"}`` dict, an instance or a
    callable ``f(shape, dtype)``."""
    if identifier.__class__ is str:  # the usual case first: "glorot_uniform"
        cls = _CLASSES.get(_ALIASES.get(identifier, identifier))
        if cls is not None:
            return cls()
    if identifier is None:
        return None
    if isinstance(identifier, Initializer) or (
        callable(identifier) and not isinstance(identifier, type)
    ):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown initializer class {identifier.get('class_name')!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name in _CLASSES:
            return _CLASSES[name]()
        raise ValueError(
            f"Unknown initializer {identifier!r}; expected one of {', '.join(sorted(_ALIASES))}"
        )
    raise TypeError(
        f"Could not interpret initializer {identifier!r}: expected a name, a "
        "config dict, an Initializer or a callable(shape, dtype)"
    )


def serialize(initializer) -> dict | str:
    if isinstance(initializer, Initializer):
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    name = getattr(initializer, "__name__", None)
    raise ValueError(
        f"Cannot serialize custom initializer {name or initializer!r}; use a "
        "graphc.initializers.Initializer subclass"
    )


def deserialize(config, custom_objects=None):
    """``keras.initializers.deserialize``: an initializer from a name or a
    ``{"class_name", "config"}`` dict (``custom_objects`` maps class names to classes)."""
    if isinstance(config, dict) and custom_objects and config.get("class_name") in custom_objects:
        return custom_objects[config["class_name"]].from_config(config.get("config", {}))
    return get(config)
