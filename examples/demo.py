"""`make demo`: the seed tutorial on graphc, end to end."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import graphc  # noqa: E402
from graphc import Input, Model  # noqa: E402


def banner(text):
    print(f"\n=== {text} " + "=" * max(0, 70 - len(text)))


def main():
    graphc.utils.set_random_seed(0)
    banner("The seed's Sequential model")
    from seed_sequential import seq_model
    seq_model.summary()

    banner("The seed's functional model")
    from seed_functional import model, output_tensor
    model.summary()

    banner("An output that does not follow from the inputs")
    unrelated_input = Input(shape=(32,))
    try:
        Model(unrelated_input, output_tensor)
    except ValueError as e:
        print(f"{type(e).__name__}: {e}")

    banner("Training the seed's model in NumPy (as in the tutorial)")
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    x_train = np.random.random((1000, 64))
    y_train = np.random.random((1000, 10))
    model.fit(x_train, y_train, epochs=10, batch_size=128)
    score = model.evaluate(x_train, y_train)
    print(f"evaluate: loss {score:.4f}")

    banner("A real task: 8x8 handwritten digits (UCI, CC BY 4.0)")
    digits_model = train_digits()
    return digits_model


def train_digits():
    from graphc import layers
    (x_train, y_train), (x_test, y_test) = graphc.datasets.digits.load_data()
    x_train, x_test = x_train / 16.0, x_test / 16.0
    model = graphc.Sequential([
        layers.Flatten(input_shape=(8, 8)),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.1),
        layers.Dense(10, activation="softmax"),
    ], name="digits")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, validation_split=0.1, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"digits test set ({len(y_test)} images): loss {loss:.4f}, "
          f"accuracy {accuracy:.2%} (target >= 95%)")
    return model, (x_test, y_test)


if __name__ == "__main__":
    main()
