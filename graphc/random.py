"""``graphc.random``, as ``keras.random``: random tensors drawn with NumPy.

``seed`` is an int (the same draw every call, as Keras's integer seeds), a
``SeedGenerator`` (a new draw each call, repeatable from its seed) or ``None`` (graphc's
global generator, which ``graphc.utils.set_random_seed`` seeds). The values are NumPy's,
not those of Keras's backends: the same distributions, not the same numbers.
"""

from __future__ import annotations

import numpy as np

from graphc import rng as _rng

__all__ = [
    "SeedGenerator",
    "normal",
    "uniform",
    "truncated_normal",
    "randint",
    "dropout",
    "shuffle",
    "categorical",
    "gamma",
    "beta",
    "binomial",
]


class SeedGenerator:
    """``keras.random.SeedGenerator``: a generator state that advances with each draw."""

    def __init__(self, seed=None, name=None, **kwargs):
        self.seed = seed
        self.name = name
        self._generator = np.random.default_rng(seed)

    def next(self, ordered=True) -> np.random.Generator:
        return self._generator

    def get_config(self) -> dict:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _gen(seed) -> np.random.Generator:
    if seed is None:
        return _rng.generator()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise ValueError(f"seed must be None, an int or a SeedGenerator, received {seed!r}")


def _shape(shape) -> tuple:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def _dtype(dtype) -> str:
    return str(np.dtype(dtype or "float32"))


def _symbolic_zeros(shape, dtype):
    """Zeros of ``shape`` whose unknown sizes are ``ops.shape(x)[i]`` values (a traced
    model's batch size: ``ops.shape(z_mean)[0]``), as a symbolic tensor."""
    from graphc import ops
    from graphc.ir import Value

    out = None
    known_shape = []
    for k, d in enumerate(shape):
        if isinstance(d, Value):
            node = d.producer
            if node is None or node.op != "shape":
                raise ValueError(
                    f"random: dimension {k} of shape {shape} is a symbolic tensor that is not "
                    "a size read with ops.shape(x)[i]; graphc draws with a static shape or "
                    "with sizes of other tensors."
                )
            x, axis = node.inputs[0], node.attrs["axis"]
            others = [a for a in range(len(x.shape)) if a != axis]
            line = ops.sum(ops.zeros_like(ops.cast(x, dtype)), axis=others) if others else None
            line = ops.zeros_like(ops.cast(x, dtype)) if line is None else line
            line = ops.reshape(line, (-1,) + (1,) * (len(shape) - k - 1))
            out = line if out is None else out + line
            known_shape.append(1)
        else:
            known_shape.append(int(d))
    return out + np.zeros(known_shape, dtype=dtype)


def _symbolic_shape(shape) -> bool:
    from graphc.ops.registry import is_symbolic

    return not isinstance(shape, (int, np.integer)) and any(is_symbolic(d) for d in shape)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    if _symbolic_shape(shape):  # inside a traced call: a random op in the graph
        from graphc.ops.registry import apply

        zeros = _symbolic_zeros(shape, _dtype(dtype))
        noise = apply(
            "random_noise",
            [zeros],
            kind="gaussian_noise",
            stddev=float(stddev),
            force_training=True,
        )[0]
        return noise + mean if mean else noise
    return _gen(seed).normal(mean, stddev, _shape(shape)).astype(_dtype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return _gen(seed).uniform(minval, maxval, _shape(shape)).astype(_dtype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples redrawn until within two standard deviations of the mean."""
    g = _gen(seed)
    out = g.standard_normal(_shape(shape))
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = g.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return (mean + stddev * out).astype(_dtype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return _gen(seed).integers(minval, maxval, _shape(shape)).astype(dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero each entry with probability ``rate`` and scale the rest by ``1 / (1 - rate)``
    (``noise_shape`` broadcasts the mask, as Keras's)."""
    x = np.asarray(inputs)
    shape = (
        x.shape
        if noise_shape is None
        else tuple(x.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    )
    keep = _gen(seed).uniform(size=shape) >= rate
    return np.where(keep, x / (1.0 - rate), 0).astype(x.dtype)


def shuffle(x, axis=0, seed=None):
    x = np.asarray(x)
    return np.take(x, _gen(seed).permutation(x.shape[axis]), axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """Samples of class indices from unnormalised log-probabilities, one row per batch
    entry: shape ``(batch, num_samples)``."""
    logits = np.asarray(logits, dtype=np.float64)
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    g = _gen(seed)
    return np.stack([g.choice(p.shape[-1], size=num_samples, p=row) for row in p]).astype(dtype)


def gamma(shape, alpha, dtype=None, seed=None):
    return _gen(seed).gamma(alpha, 1.0, _shape(shape)).astype(_dtype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None):
    return _gen(seed).beta(alpha, beta, _shape(shape)).astype(_dtype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    return _gen(seed).binomial(counts, probabilities, _shape(shape)).astype(_dtype(dtype))
