"""AugMix (Keras 3's ``keras.layers.AugMix``): the ``aug_mix`` op.

In training, ``num_chains`` chains each apply up to ``chain_depth`` augmentations drawn
from Keras's list (shear, translation, rotation, posterization, solarization,
auto-contrast, equalization and, with ``all_ops``, brightness, colour degeneration,
contrast and sharpness: each step one of those or nothing, uniformly), built from
``factor`` and ``value_range`` as Keras builds them; the chains' outputs are summed with
Dirichlet(``alpha``) weights and blended with the images by a Beta(``alpha``, ``alpha``)
weight, then clipped to ``value_range``. The weights and the choices are drawn once per
batch (Keras's rule), each augmentation's own parameters per image. The identity in
inference (``training_only``; the export pass drops it).

``draw_aug_mix`` draws the parameters (Keras's order: the chain weights, the blend
weight, then per chain and step the choice and its layer's draws) and ``apply_aug_mix``
applies them, so a test can give the apply Keras's own draws.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.image import _transform_batch, draw_transforms
from graphc.ops.image_augment import (
    _check_batch,
    _no_gradient,
    _rand_augment_parts,
    apply_augment,
    auto_contrast,
    draw_augment,
)
from graphc.ops.registry import Op, apply

__all__ = ["aug_mix", "draw_aug_mix", "apply_aug_mix", "AUG_MIX_OPS", "AUG_MIX_OPS_ALL"]

#: Keras's AUGMENT_LAYERS and AUGMENT_LAYERS_ALL, in its order (graphc's kind names).
AUG_MIX_OPS = (
    "shear",
    "translation",
    "rotation",
    "posterization",
    "solarization",
    "auto_contrast",
    "equalization",
)
AUG_MIX_OPS_ALL = AUG_MIX_OPS[:] + (
    "brightness",
    "color_degeneration",
    "contrast",
    "sharpness",
)


def _ops(attrs):
    return AUG_MIX_OPS_ALL if attrs.get("all_ops", True) else AUG_MIX_OPS


def _parts(attrs) -> dict:
    return dict(_rand_augment_parts(attrs))


def _hw(sub, shape):
    return (shape[2], shape[3]) if sub["data_format"] == "channels_first" else shape[1:3]


def draw_step(name, sub, rng, n, shape) -> dict:
    """One augmentation's per-image parameters (its Keras layer's draws)."""
    if name in ("translation", "rotation"):
        h, w = _hw(sub, shape)
        return {"transforms": draw_transforms(sub, rng, n, h, w, "float32")}
    return draw_augment(sub, rng, n, shape)


def draw_aug_mix(attrs, rng, n: int, shape) -> dict:
    """``{"chain_mixing_weights", "weight_sample", "chains"}``: ``chains`` a list (one per
    chain) of ``(name, params)`` steps, the skipped steps left out."""
    alpha = float(attrs.get("alpha", 1.0))
    chains_n = int(attrs.get("num_chains", 3))
    gamma = np.asarray(rng.gamma(alpha, 1.0, chains_n), dtype="float32")
    weights = gamma / np.sum(gamma, dtype="float32")
    weight_sample = np.float32(rng.beta(alpha, alpha))
    names = _ops(attrs)
    parts = _parts(attrs)
    chains = []
    for _ in range(chains_n):
        steps = []
        for _ in range(int(attrs.get("chain_depth", 3))):
            k = int(rng.integers(0, len(names) + 1))
            if k == len(names):  # Keras's `None` choice: no step
                continue
            name = names[k]
            steps.append((name, draw_step(name, parts[name], rng, n, shape)))
        chains.append(steps)
    return {"chain_mixing_weights": weights, "weight_sample": weight_sample, "chains": chains}


def apply_step(name, sub, x, params):
    """One augmentation, given its parameters (Keras's ``transform_images``)."""
    if name in ("translation", "rotation"):
        return _transform_batch(
            x, params["transforms"], sub["interpolation"], "reflect", 0.0, sub["data_format"]
        ).astype(x.dtype, copy=False)
    if name == "auto_contrast":
        return auto_contrast(x, sub["value_range"])
    return apply_augment(sub, x, params)


def apply_aug_mix(attrs, x, params):
    """Keras's ``AugMix.transform_images`` given the drawn ``params``."""
    x = np.asarray(x, dtype="float32")
    parts = _parts(attrs)
    weights = np.asarray(params["chain_mixing_weights"], dtype="float32").reshape(-1)
    ws = np.float32(params["weight_sample"])
    mixed = np.zeros_like(x)
    for i, steps in enumerate(params["chains"]):
        y = x.copy()
        for name, p in steps:
            y = apply_step(name, parts[name], y, p)
        mixed += y * weights[i]
    out = ws * x + (np.float32(1.0) - ws) * mixed
    lo, hi = attrs["value_range"]
    return np.clip(out, np.float32(lo), np.float32(hi)).astype("float32", copy=False)


class AugMix(Op):
    """AugMix of a batch of images in training mode (see the module); the identity
    otherwise."""

    name = "aug_mix"
    training_only = True
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        _check_batch(x, "brightness")
        if attrs.get("all_ops", True):  # colour degeneration needs RGB
            c = x.shape[1] if attrs.get("data_format") == "channels_first" else x.shape[-1]
            if c is not None and c != 3:
                raise ShapeError(
                    "AugMix with all_ops=True needs images with 3 channels (its colour "
                    f"degeneration step), but received images with {c} channels. Pass "
                    "all_ops=False for other channel counts."
                )
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        if not (ctx.training or attrs.get("force_training")):
            return x
        params = draw_aug_mix(attrs, ctx.rng, x.shape[0], x.shape)
        return apply_aug_mix(attrs, x, params).astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        if needs[0]:
            _no_gradient("aug_mix", attrs)
        return (None,)

    def lower(self, attrs, b, x):
        return b.op("Identity", x)


def aug_mix(x, training=None, **attrs):
    """Record (or run) AugMix (see ``AugMix``)."""
    if training:
        attrs["force_training"] = True
    return apply("aug_mix", [x], **attrs)
