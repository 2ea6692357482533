"""The sequence models of "Deep Learning with Python" (2nd edition, chapter 11: a
bidirectional LSTM over learned word embeddings, listing 11.16, and the same with masking
enabled, listing 11.17), with `keras` replaced by `graphc`: the model code is the book's,
only the imports differ. The book reads IMDB reviews through keras.datasets, which graphc
cannot download here, so the script trains on random integer sequences, padded with
zeros at the end for the masked model: it shows the model building, training and
exporting, not accuracy.

    python examples/dlwp_text.py
    graphc export examples/dlwp_text.py:build_model -o text.onnx
"""

import numpy as np

import graphc as keras
from graphc import layers

max_tokens = 20000


def build_model():
    inputs = keras.Input(shape=(None,), dtype="int64")
    embedded = layers.Embedding(input_dim=max_tokens, output_dim=256)(inputs)
    x = layers.Bidirectional(layers.LSTM(32))(embedded)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def build_masked_model():
    inputs = keras.Input(shape=(None,), dtype="int64")
    embedded = layers.Embedding(input_dim=max_tokens, output_dim=256, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(32))(embedded)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = rng.integers(1, max_tokens, (256, 40))
    lengths = rng.integers(5, 41, 256)
    x_padded = np.where(np.arange(40) < lengths[:, None], x, 0)  # zeros after each review
    y = (rng.random((256, 1)) > 0.5).astype("float32")
    for build, data in ((build_model, x), (build_masked_model, x_padded)):
        print(f"\n{build.__name__}")
        model = build()
        model.summary()
        model.fit(data, y, epochs=2, batch_size=32)
        proto = keras.onnx.export(model)
        diff = np.abs(
            keras.onnx.Runtime(proto).predict(data[:8]) - model.predict(data[:8], verbose=0)
        )
        print(f"{build.__name__}: onnxruntime vs NumPy, largest difference: {diff.max():.2e}")
