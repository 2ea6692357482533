"""The Transformer sequence-to-sequence model of "Deep Learning with Python" (chapter 11:
English-to-Spanish translation with a Transformer encoder and decoder), in its Keras 3 form
(keras.io's "English-to-Spanish translation with a sequence-to-sequence Transformer":
`keras.ops` where the 2nd edition used `tf`), with `keras` replaced by `graphc`: the model
code is the book's, only the imports differ. It uses the dynamic-shape idioms of Keras 3
code: `ops.shape(inputs)[-1]` and `ops.arange` make the positions of a sequence whose
length is known only at run time, and the decoder is called with two tensors. The
positional embeddings mask the padding, so the output carries the decoder's mask and the
padded steps are left out of the loss and the accuracy, as in Keras. The book reads an
English-Spanish corpus, which graphc cannot download here, so the script trains on random
integer sequences padded with zeros at the end: it shows the model building, training
and exporting, not translation.

    python examples/dlwp_transformer_seq2seq.py [number of pairs]
"""

import time

import numpy as np
from dlwp_transformer import TransformerEncoder  # the book's encoder, listing 11.21
from synthetic_pairs import random_pairs

import graphc as keras
from graphc import layers, ops


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
        self.dense_proj = keras.Sequential(
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


vocab_size = 15000
sequence_length = 20
embed_dim = 256
dense_dim = 2048
num_heads = 8

encoder_inputs = keras.Input(shape=(None,), dtype="int64", name="english")
x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(encoder_inputs)
encoder_outputs = TransformerEncoder(embed_dim, dense_dim, num_heads)(x)

decoder_inputs = keras.Input(shape=(None,), dtype="int64", name="spanish")
x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(decoder_inputs)
x = TransformerDecoder(embed_dim, dense_dim, num_heads)(x, encoder_outputs)
x = layers.Dropout(0.5)(x)
decoder_outputs = layers.Dense(vocab_size, activation="softmax")(x)
transformer = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)

transformer.compile(
    optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)


if __name__ == "__main__":
    import sys

    # 128 pairs (two batches) keep one epoch short at the book's sizes: the data is
    # shrunk, not the model.
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    rng = np.random.default_rng(0)
    inputs, targets = random_pairs(n, rng, vocab_size, sequence_length)
    transformer.summary()
    t = time.perf_counter()
    transformer.fit(inputs, targets, epochs=1, batch_size=64)
    print(f"one epoch on {n} pairs: {time.perf_counter() - t:.1f} s")
    # Shorter sentences than in training: the positions follow the input's length.
    sample = {"english": inputs["english"][:4, :12], "spanish": inputs["spanish"][:4, :9]}
    proto = keras.onnx.export(transformer)
    got = keras.onnx.Runtime(proto).predict(sample)
    diff = np.abs(np.asarray(got) - transformer.predict(sample, verbose=0))
    print(f"transformer: onnxruntime vs NumPy, largest difference: {diff.max():.2e}")
