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
from graphc.errors import ArgumentValueError
from graphc.layers.base import Layer, set_weight_options, weight_options_config
from graphc.ops import masking as mask_ops

__all__ = ["Embedding", "ReversibleEmbedding"]


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


#: Keras's quantization modes, which graphc (float32 training) does not run.
_QUANTIZATION_MODES = ("int8", "int4", "float8", "gptq", "awq")


def _refuse_quantization(layer_name, what):
    return ArgumentValueError(
        f"{layer_name}: quantization is not supported by graphc (it trains and runs in "
        f"float32), received {what}; Keras's modes "
        f"{', '.join(repr(m) for m in _QUANTIZATION_MODES)} are refused. Use the "
        "float32 layer, or quantize the exported ONNX model instead"
    )


class ReversibleEmbedding(Embedding):
    """An Embedding that can also project back to the vocabulary, as
    ``keras.layers.ReversibleEmbedding``: ``layer(ids)`` embeds, ``layer(hidden,
    reverse=True)`` gives logits ``hidden @ embeddings.T`` (the weights tied, the
    default) or ``hidden @ reverse_embeddings`` (``tie_weights=False``: a second weight
    ``(output_dim, input_dim)``, created after ``embeddings``, with the same initializer).
    ``logit_soft_cap`` caps the logits at ``tanh(logits / cap) * cap``;
    ``reverse_dtype`` casts the reverse projection's operands. With ``mask_zero`` the
    embedded output carries ``ids != 0``; the logits carry no mask, as Keras's.
    Quantization (``quantize``, an ``int8``/``int4`` dtype policy) is refused.
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        tie_weights=True,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        reverse_dtype=None,
        logit_soft_cap=None,
        **kwargs,
    ):
        dtype = kwargs.get("dtype")
        mode = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
        if isinstance(mode, str) and mode.split("_from_")[0].split("/")[0] in _QUANTIZATION_MODES:
            raise _refuse_quantization("ReversibleEmbedding", f"dtype={mode!r}")
        if kwargs.get("quantization_config") is not None:
            raise _refuse_quantization(
                "ReversibleEmbedding", f"quantization_config={kwargs['quantization_config']!r}"
            )
        kwargs.pop("quantization_config", None)
        if logit_soft_cap is not None and (
            isinstance(logit_soft_cap, bool)
            or not isinstance(logit_soft_cap, (int, float, np.integer, np.floating))
            or not logit_soft_cap > 0
        ):
            raise ArgumentValueError(
                "ReversibleEmbedding: `logit_soft_cap` must be None or a positive number, "
                f"received logit_soft_cap={logit_soft_cap!r}"
            )
        # Embedding(weights=...) builds at once: the reverse weight must be decided first.
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap
        self._reversed = False
        super().__init__(
            input_dim,
            output_dim,
            embeddings_initializer=embeddings_initializer,
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint,
            mask_zero=mask_zero,
            **kwargs,
        )

    def build(self, input_shape=None):
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                (self.output_dim, self.input_dim),
                self.embeddings_initializer,
                name="reverse_embeddings",
            )

    def call(self, inputs, reverse=False):
        self._reversed = bool(reverse)
        if not reverse:
            return super().call(inputs)
        if self.tie_weights:
            kernel = ops.transpose(self.embeddings)
        else:
            kernel = self.reverse_embeddings
        if self.reverse_dtype is not None:
            inputs = mask_ops.cast(inputs, self.reverse_dtype)
            kernel = mask_ops.cast(kernel, self.reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            cap = float(self.logit_soft_cap)
            logits = ops.multiply(ops.tanh(ops.divide(logits, cap)), cap)
        return logits

    def compute_mask(self, inputs, mask=None):
        """``ids != 0`` after an embedding call with ``mask_zero``; none after a reverse
        one (Keras sets the mask in ``call`` and returns none here)."""
        if self._reversed:
            return None
        return super().compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape, reverse=False):
        shape = list(input_shape)
        if reverse:
            shape[-1] = self.input_dim
        else:
            shape.append(self.output_dim)
        return tuple(shape)

    def quantize(self, mode=None, type_check=True, config=None):
        raise _refuse_quantization("ReversibleEmbedding", f"quantize(mode={mode!r})")

    def get_config(self):
        return {
            **super().get_config(),
            "tie_weights": self.tie_weights,
            "reverse_dtype": self.reverse_dtype,
            "logit_soft_cap": self.logit_soft_cap,
        }
