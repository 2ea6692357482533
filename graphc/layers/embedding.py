"""Embedding: integer indices to dense vectors, ``(batch, ...) -> (batch, ..., output_dim)``.

>>> model = graphc.Sequential([graphc.layers.Embedding(10000, 8, input_length=20),
...                            graphc.layers.Flatten(),
...                            graphc.layers.Dense(1, activation="sigmoid")])
>>> model.count_params()
80161
"""

from __future__ import annotations

import numpy as np

from graphc import initializers, ops
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.ops import masking as mask_ops

__all__ = ["Embedding"]


def _positive_int(value, what):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"`{what}` must be a positive integer. Received: {what}={value} "
            f"(of type {type(value).__name__})."
        )
    return int(value)


class Embedding(Layer):
    """Turns non-negative integers (indexes) into dense vectors of ``output_dim``.

    The weight ``embeddings`` has shape ``(input_dim, output_dim)`` and starts uniform in
    ±0.05, as in Keras. Float inputs (a float32 ``Input``) are cast to integers, as Keras
    does. ``input_length`` (Keras 2) gives the first layer of a Sequential model its input
    shape ``(input_length,)``; ``weights=[matrix]`` sets the initial embeddings (the
    pretrained-vectors recipe of Keras 2 books). ``mask_zero=True`` gives the output the
    mask ``inputs != 0``, so that recurrent layers skip the padding.
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        lora_rank=None,
        lora_alpha=None,
        **kwargs,
    ):
        input_dim = _positive_int(input_dim, "input_dim")
        output_dim = _positive_int(output_dim, "output_dim")
        input_length = kwargs.pop("input_length", None)
        if input_length is not None and not any(
            k in kwargs for k in ("input_shape", "batch_input_shape", "input_dim")
        ):
            # Keras 2: the first layer of a Sequential model knew its input from this.
            kwargs["input_shape"] = (
                (input_length,) if isinstance(input_length, int) else tuple(input_length)
            )
        super().__init__(**kwargs)
        set_weight_options(
            self,
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint,
        )
        if lora_rank:
            raise NotImplementedError("Embedding: LoRA (lora_rank) is not supported")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        if weights is not None:
            self.build(None)
            self.built = True
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            name="embeddings",
        )

    def call(self, inputs):
        return ops.take(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, mask=None):
        """With ``mask_zero=True``, ``inputs != 0``: index 0 is padding."""
        if not self.mask_zero:
            return None
        return mask_ops.not_equal(inputs, 0)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            **weight_options_config(
                self, "embeddings_regularizer", "activity_regularizer", "embeddings_constraint"
            ),
            "mask_zero": self.mask_zero,
        }
