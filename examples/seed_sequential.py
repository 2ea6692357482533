"""The seed tutorial's Sequential model, with `keras` replaced by `graphc`."""

from graphc import layers
from graphc.models import Sequential

seq_model = Sequential()
seq_model.add(layers.Dense(32, activation="relu", input_shape=(64,)))
seq_model.add(layers.Dense(32, activation="relu"))
seq_model.add(layers.Dense(10, activation="softmax"))

if __name__ == "__main__":
    seq_model.summary()
