"""The Transformer sequence-to-sequence model of "Deep Learning with Python" ch. 11 (Keras 3
form, as keras.io's "English-to-Spanish translation with a sequence-to-sequence
Transformer"), against Keras 3 itself: the same builder code for both libraries, Keras's
initial weights copied, predictions on padded batches, a 3-epoch fit, and ONNX.

What it exercises: ``ops.shape`` / ``ops.arange`` on a symbolic length (positions), an
Embedding on a tensor without a batch dimension, the broadcast add ``(B, T, D) + (T, D)``,
a layer called with two tensors (``decoder(x, encoder_outputs)``: Keras populates no
``mask`` argument then, and the output takes the first argument's mask), causal
self-attention, and training a model whose output carries the decoder's padding mask.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
# The book's TransformerEncoder drops the mask it uses (Keras warns, and so does graphc).
pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore:.*does not support masking")]

from oracle_harness import (  # noqa: E402
    assert_onnx_matches,
    assert_trains_alike,
    compile_both,
    pair,
    torch_math_attention,
)

VOCAB, SEQ, EMBED, DENSE, HEADS = 30, 8, 8, 16, 2


def model_classes(lib):
    """The book's layers, verbatim but for the import (``lib`` is keras or graphc)."""
    layers, ops = lib.layers, lib.ops

    class TransformerEncoder(layers.Layer):
        def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim = embed_dim
            self.dense_dim = dense_dim
            self.num_heads = num_heads
            self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.dense_proj = lib.Sequential(
                [
                    layers.Dense(dense_dim, activation="relu"),
                    layers.Dense(embed_dim),
                ]
            )
            self.layernorm_1 = layers.LayerNormalization()
            self.layernorm_2 = layers.LayerNormalization()

        def call(self, inputs, mask=None):
            if mask is not None:
                mask = ops.expand_dims(mask, axis=1)
            attention_output = self.attention(inputs, inputs, attention_mask=mask)
            proj_input = self.layernorm_1(inputs + attention_output)
            proj_output = self.dense_proj(proj_input)
            return self.layernorm_2(proj_input + proj_output)

        def get_config(self):
            config = super().get_config()
            config.update(
                {
                    "embed_dim": self.embed_dim,
                    "num_heads": self.num_heads,
                    "dense_dim": self.dense_dim,
                }
            )
            return config

    class PositionalEmbedding(layers.Layer):
        def __init__(self, sequence_length, input_dim, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.token_embeddings = layers.Embedding(input_dim=input_dim, output_dim=output_dim)
            self.position_embeddings = layers.Embedding(
                input_dim=sequence_length, output_dim=output_dim
            )
            self.sequence_length = sequence_length
            self.input_dim = input_dim
            self.output_dim = output_dim

        def call(self, inputs):
            length = ops.shape(inputs)[-1]
            positions = ops.arange(0, length, 1)
            embedded_tokens = self.token_embeddings(inputs)
            embedded_positions = self.position_embeddings(positions)
            return embedded_tokens + embedded_positions

        def compute_mask(self, inputs, mask=None):
            return ops.not_equal(inputs, 0)

        def get_config(self):
            config = super().get_config()
            config.update(
                {
                    "sequence_length": self.sequence_length,
                    "input_dim": self.input_dim,
                    "output_dim": self.output_dim,
                }
            )
            return config

    class TransformerDecoder(layers.Layer):
        def __init__(self, embed_dim, latent_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim = embed_dim
            self.latent_dim = latent_dim
            self.num_heads = num_heads
            self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.dense_proj = lib.Sequential(
                [
                    layers.Dense(latent_dim, activation="relu"),
                    layers.Dense(embed_dim),
                ]
            )
            self.layernorm_1 = layers.LayerNormalization()
            self.layernorm_2 = layers.LayerNormalization()
            self.layernorm_3 = layers.LayerNormalization()
            self.supports_masking = True

        def call(self, inputs, encoder_outputs, mask=None):
            inputs_padding_mask, encoder_outputs_padding_mask = None, None
            if mask is not None:
                inputs_padding_mask, encoder_outputs_padding_mask = mask

            attention_output_1 = self.attention_1(
                query=inputs,
                value=inputs,
                key=inputs,
                query_mask=inputs_padding_mask,
                value_mask=inputs_padding_mask,
                key_mask=inputs_padding_mask,
                use_causal_mask=True,
            )
            out_1 = self.layernorm_1(inputs + attention_output_1)

            attention_output_2 = self.attention_2(
                query=out_1,
                value=encoder_outputs,
                key=encoder_outputs,
                query_mask=inputs_padding_mask,
                value_mask=encoder_outputs_padding_mask,
                key_mask=encoder_outputs_padding_mask,
            )
            out_2 = self.layernorm_2(out_1 + attention_output_2)

            proj_output = self.dense_proj(out_2)
            return self.layernorm_3(out_2 + proj_output)

        def get_config(self):
            config = super().get_config()
            config.update(
                {
                    "embed_dim": self.embed_dim,
                    "latent_dim": self.latent_dim,
                    "num_heads": self.num_heads,
                }
            )
            return config

    return TransformerEncoder, PositionalEmbedding, TransformerDecoder


def transformer(lib, rate=0.5):
    layers = lib.layers
    TransformerEncoder, PositionalEmbedding, TransformerDecoder = model_classes(lib)
    sequence_length, vocab_size, embed_dim = SEQ, VOCAB, EMBED
    dense_dim, num_heads = DENSE, HEADS
    encoder_inputs = lib.Input(shape=(None,), dtype="int64", name="english")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(encoder_inputs)
    encoder_outputs = TransformerEncoder(embed_dim, dense_dim, num_heads)(x)
    decoder_inputs = lib.Input(shape=(None,), dtype="int64", name="spanish")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(decoder_inputs)
    x = TransformerDecoder(embed_dim, dense_dim, num_heads)(x, encoder_outputs)
    x = layers.Dropout(rate)(x)
    decoder_outputs = layers.Dense(vocab_size, activation="softmax")(x)
    return lib.Model([encoder_inputs, decoder_inputs], decoder_outputs)


def padded_pairs(n, rng, length=SEQ):
    """Random sentence pairs padded with 0: each row has 2..length tokens."""

    def batch():
        x = rng.integers(1, VOCAB, (n, length))
        lengths = rng.integers(2, length + 1, n)
        x[np.arange(length)[None, :] >= lengths[:, None]] = 0
        return x.astype("int64")

    return batch(), batch()


def twins(rate=0.5):
    return pair(lambda lib: transformer(lib, rate), shapes=False)


def test_structure_matches_keras():
    k, g = twins()
    assert [type(layer).__name__ for layer in g.layers] == [
        type(layer).__name__ for layer in k.layers
    ]
    assert [w.shape for w in g.weights] == [tuple(w.shape) for w in k.weights]
    assert g.count_params() == k.count_params()
    # the decoder takes its first argument's mask (Keras's previous_mask): the loss is masked
    from graphc.layers.base import get_keras_mask

    assert getattr(k.output, "_keras_mask", None) is not None
    assert get_keras_mask(g.output) is not None


@pytest.mark.slow
def test_predictions_match_keras_on_padded_batches():
    k, g = twins()
    rng = np.random.default_rng(0)
    for length in (SEQ, 5):
        src, tgt = padded_pairs(6, rng, length)
        with torch_math_attention():
            want = np.asarray(k.predict([src, tgt], verbose=0))
        got = g.predict([src, tgt], verbose=0)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_fit_matches_keras():
    k, g = twins(rate=0.0)
    rng = np.random.default_rng(1)
    src, tgt = padded_pairs(24, rng)
    y = np.roll(tgt, -1, axis=1)
    y[:, -1] = 0
    compile_both(k, g, "rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with torch_math_attention():  # Keras's fit; graphc's does not use torch
        assert_trains_alike(
            k,
            g,
            [src, tgt],
            y,
            epochs=3,
            batch_size=8,
            keys=("loss", "accuracy"),
            weights_atol=1e-5,
        )


@pytest.mark.slow
def test_onnx_export_matches_numpy():
    pytest.importorskip("onnxruntime")
    _, g = twins()
    rng = np.random.default_rng(2)
    assert_onnx_matches(g, [list(padded_pairs(3, rng, length)) for length in (SEQ, 4)], atol=1e-6)
