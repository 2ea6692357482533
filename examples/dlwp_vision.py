"""The computer-vision models of "Deep Learning with Python" (2nd edition), with `keras`
replaced by `graphc`: the model code is the book's, only the imports differ.

- chapter 8: the dogs-vs-cats convnet with data augmentation and dropout;
- chapter 9: the mini-Xception (residual blocks of separable convolutions with batch
  normalization) and the image-segmentation model (strided convolutions, then
  transposed convolutions back to the input size).

The book reads the Kaggle dogs-vs-cats and Oxford-IIIT Pets images, which graphc cannot
download here, so the script trains each model for one step on a few random images: it
shows building, Keras's parameter counts, training and exporting, not accuracy.

    python examples/dlwp_vision.py
    graphc export examples/dlwp_vision.py:build_mini_xception -o xception.onnx
"""

import numpy as np

import graphc as keras
from graphc import layers


def make_data_augmentation():
    data_augmentation = keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.2),
        ]
    )
    return data_augmentation


def build_convnet():
    """Chapter 8: a new convnet for dogs vs. cats, with image augmentation and dropout."""
    data_augmentation = make_data_augmentation()
    inputs = keras.Input(shape=(180, 180, 3))
    x = data_augmentation(inputs)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=256, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=256, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def build_mini_xception():
    """Chapter 9: a mini Xception-like model."""
    data_augmentation = make_data_augmentation()
    inputs = keras.Input(shape=(180, 180, 3))
    x = data_augmentation(inputs)

    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(filters=32, kernel_size=5, use_bias=False)(x)

    for size in [32, 64, 128, 256, 512]:
        residual = x

        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)

        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        residual = layers.Conv2D(size, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])

    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def get_model(img_size, num_classes):
    """Chapter 9: the image-segmentation model."""
    inputs = keras.Input(shape=img_size + (3,))
    x = layers.Rescaling(1.0 / 255)(inputs)

    x = layers.Conv2D(64, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(256, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(256, 3, activation="relu", padding="same")(x)

    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same", strides=2)(x)

    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)

    model = keras.Model(inputs, outputs)
    return model


def build_segmentation():
    img_size = (200, 200)
    model = get_model(img_size=img_size, num_classes=3)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    for build in (build_convnet, build_mini_xception, build_segmentation):
        model = build()
        print(f"\n{build.__name__}")
        model.summary()
        height, width, _ = model.input_shape[1:]
        images = rng.uniform(0, 255, (4, height, width, 3)).astype("float32")
        if build is build_segmentation:
            targets = rng.integers(0, 3, (4, height, width, 1))
        else:
            targets = rng.integers(0, 2, (4, 1)).astype("float32")
        model.fit(images, targets, epochs=1, batch_size=4)
        proto = keras.onnx.export(model)
        diff = np.abs(
            keras.onnx.Runtime(proto).predict(images[:2]) - model.predict(images[:2], verbose=0)
        )
        print(f"{build.__name__}: onnxruntime vs NumPy, largest difference: {diff.max():.2e}")
