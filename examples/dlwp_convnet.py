"""The MNIST convnet of "Deep Learning with Python" (2nd edition, listing 8.1), with
`keras` replaced by `graphc`: the model code is the book's, only the imports differ.

    python examples/dlwp_convnet.py            # prints Keras's summary: 104,202 params
    graphc export examples/dlwp_convnet.py:build_model -o convnet.onnx
"""

import graphc as keras
from graphc import layers


def build_model():
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


if __name__ == "__main__":
    model = build_model()
    model.summary()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
