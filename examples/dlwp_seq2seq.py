"""The sequence-to-sequence RNN of "Deep Learning with Python" (2nd ed., chapter 11:
English-to-Spanish translation with a GRU encoder and decoder), with `keras` replaced by
`graphc`: the model code is the book's, only the import differs. Both embeddings mask the
padding (`mask_zero=True`), so the decoder's output carries a mask and, as in Keras, the
padded steps are left out of the loss and the accuracy. The book reads an English-Spanish
corpus, which graphc cannot download here, so the script trains on random integer
sequences padded with zeros at the end: it shows the model building, training and
exporting, not translation.

    python examples/dlwp_seq2seq.py
"""

import time

import numpy as np
from synthetic_pairs import random_pairs

import graphc as keras
from graphc import layers

vocab_size = 15000
sequence_length = 20
embed_dim = 256
latent_dim = 1024

source = keras.Input(shape=(None,), dtype="int64", name="english")
x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(source)
encoded_source = layers.Bidirectional(layers.GRU(latent_dim), merge_mode="sum")(x)

past_target = keras.Input(shape=(None,), dtype="int64", name="spanish")
x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(past_target)
decoder_gru = layers.GRU(latent_dim, return_sequences=True)
x = decoder_gru(x, initial_state=encoded_source)
x = layers.Dropout(0.5)(x)
target_next_step = layers.Dense(vocab_size, activation="softmax")(x)
seq2seq_rnn = keras.Model([source, past_target], target_next_step)

seq2seq_rnn.compile(
    optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    rng = np.random.default_rng(0)
    inputs, targets = random_pairs(n, rng, vocab_size, sequence_length)
    seq2seq_rnn.summary()
    t = time.perf_counter()
    seq2seq_rnn.fit(inputs, targets, epochs=1, batch_size=64)
    print(f"one epoch on {n} pairs: {time.perf_counter() - t:.1f} s")
    sample = {k: v[:4] for k, v in inputs.items()}
    proto = keras.onnx.export(seq2seq_rnn)
    got = keras.onnx.Runtime(proto).predict(sample)
    diff = np.abs(np.asarray(got) - seq2seq_rnn.predict(sample, verbose=0))
    print(f"seq2seq_rnn: onnxruntime vs NumPy, largest difference: {diff.max():.2e}")
