"""Writes legacy_mlp.h5, the legacy (Keras 2 layout) HDF5 model file the file fuzzer
mutates: Keras 3 writes that layout for a ``.h5`` name. Run once with Keras installed:

    KERAS_BACKEND=torch python tests/fuzz/data/make_legacy_h5.py
"""

import os

import keras
import numpy as np

keras.utils.set_random_seed(0)
inp = keras.Input(shape=(6,), name="a")
h = keras.layers.Dense(8, activation="relu")(inp)
h = keras.layers.BatchNormalization()(h)
model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(h))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
model.fit(x, np.arange(16) % 2, epochs=1, batch_size=8, verbose=0)
model.save(os.path.join(os.path.dirname(os.path.abspath(__file__)), "legacy_mlp.h5"))
