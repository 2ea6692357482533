"""The Transformer encoder of "Deep Learning with Python" (chapter 11: listing 11.21,
the TransformerEncoder layer, and listing 11.22, the text classifier around it), in its
Keras 3 form (`keras.ops` where the 2nd edition used `tf`), with `keras` replaced by
`graphc`: the model code is the book's, only the imports differ. The book reads IMDB
reviews, which graphc cannot download here, so the script trains on random integer
sequences: it shows the model building, training and exporting, not accuracy.

    python examples/dlwp_transformer.py
    graphc export examples/dlwp_transformer.py:build_model -o transformer.onnx
"""

import numpy as np

import graphc as keras
from graphc import layers, ops


class TransformerEncoder(layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
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


vocab_size = 20000
embed_dim = 256
num_heads = 2
dense_dim = 32


def build_model():
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(vocab_size, embed_dim)(inputs)
    x = TransformerEncoder(embed_dim, dense_dim, num_heads)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = rng.integers(1, vocab_size, (64, 20))
    y = (rng.random((64, 1)) > 0.5).astype("float32")
    model = build_model()
    model.summary()
    model.fit(x, y, epochs=2, batch_size=32)
    proto = keras.onnx.export(model)
    diff = np.abs(keras.onnx.Runtime(proto).predict(x[:8]) - model.predict(x[:8], verbose=0))
    print(f"build_model: onnxruntime vs NumPy, largest difference: {diff.max():.2e}")
