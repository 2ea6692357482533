"""Models and data shared by the graphc.distributed tests (imported by name: pytest puts
this folder on sys.path)."""

from __future__ import annotations

import numpy as np

import graphc
from graphc import layers


def digits_data():
    (xt, yt), (xs, ys) = graphc.datasets.digits.load_data()
    return ((xt / 16.0).astype("float32"), yt), ((xs / 16.0).astype("float32"), ys)


def build_digits(seed=0, epochs=2):
    graphc.utils.set_random_seed(seed)
    (xt, yt), _ = digits_data()
    model = graphc.Sequential(
        [
            graphc.Input(shape=(8, 8), name="pixels"),
            layers.Flatten(),
            layers.Dense(32, activation="relu", kernel_regularizer="l2"),
            layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="digits",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xt, yt, epochs=epochs, batch_size=64, verbose=0)
    return model


def build_two_outputs(seed=1):
    """Two inputs, two named outputs (one a small convolution): the dict/list paths."""
    graphc.utils.set_random_seed(seed)
    img = graphc.Input(shape=(8, 8, 1), name="img")
    extra = graphc.Input(shape=(3,), name="extra")
    h = layers.Conv2D(4, 3, activation="relu")(img)
    h = layers.GlobalAveragePooling2D()(h)
    h = layers.Concatenate()([h, layers.Dense(4)(extra)])
    cls = layers.Dense(10, activation="softmax", name="cls")(h)
    reg = layers.Dense(2, name="reg")(h)
    model = graphc.Model([img, extra], [cls, reg], name="two")
    model.compile(
        optimizer="sgd",
        loss=["sparse_categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics=[["accuracy"], ["mae"]],
    )
    return model


def two_output_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "img": rng.random((n, 8, 8, 1), dtype=np.float32),
        "extra": rng.random((n, 3), dtype=np.float32),
    }
    y = {"cls": rng.integers(0, 10, n), "reg": rng.random((n, 2), dtype=np.float32)}
    return x, y
