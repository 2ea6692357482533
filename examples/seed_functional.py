"""The seed tutorial's functional-API code, with `keras` replaced by `graphc`."""

from graphc import Input, layers
from graphc.models import Model, Sequential

# 使用Sequential模型
seq_model = Sequential()
seq_model.add(layers.Dense(32, activation="relu", input_shape=(64,)))
seq_model.add(layers.Dense(32, activation="relu"))
seq_model.add(layers.Dense(10, activation="softmax"))

# 对应的函数式API实现
input_tensor = Input(shape=(64,))
x = layers.Dense(32, activation="relu")(input_tensor)
x = layers.Dense(32, activation="softmax")(x)
output_tensor = layers.Dense(10, activation="softmax")(x)

model = Model(input_tensor, output_tensor)

if __name__ == "__main__":
    seq_model.summary()
    model.summary()
