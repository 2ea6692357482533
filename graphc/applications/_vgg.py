"""VGG16 and VGG19: one builder, the two differing only in the convolutions per block.

Adapted from Keras's ``keras/src/applications/vgg16.py`` and ``vgg19.py`` (Apache
License 2.0): the same topology, layer names and weight order, so Keras's weight files
load into these models."""

from graphc.applications import imagenet_utils
from graphc.applications._compat import Functional, backend, file_utils, layers, operation_utils
from graphc.errors import ArgumentValueError

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/"


def build_vgg(
    family,
    convs_per_block,
    file_hashes,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
):
    """A VGG of ``family`` ("vgg16"/"vgg19") with ``convs_per_block`` 3x3 convolutions in
    its five blocks; ``file_hashes``: {include_top: md5 of Keras's weight file}."""
    if not (weights in {"imagenet", None} or file_utils.exists(weights)):
        raise ArgumentValueError(
            "The `weights` argument should be either "
            "`None` (random initialization), 'imagenet' "
            "(pre-training on ImageNet), "
            "or the path to the weights file to be loaded.  Received: "
            f"weights={weights}"
        )

    if weights == "imagenet" and include_top and classes != 1000:
        raise ArgumentValueError(
            "If using `weights='imagenet'` with `include_top=True`, "
            "`classes` should be 1000.  "
            f"Received classes={classes}"
        )

    # Determine proper input shape
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=224,
        min_size=32,
        data_format=backend.image_data_format(),
        require_flatten=include_top,
        weights=weights,
    )

    if input_tensor is None:
        img_input = layers.Input(shape=input_shape)
    else:
        if not backend.is_keras_tensor(input_tensor):
            img_input = layers.Input(tensor=input_tensor, shape=input_shape)
        else:
            img_input = input_tensor
    x = img_input
    for block, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block), 1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(
                filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}"
            )(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)

    if include_top:
        # Classification block
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)

        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        if pooling == "avg":
            x = layers.GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D()(x)

    # Ensure that the model takes into account
    # any potential predecessors of `input_tensor`.
    if input_tensor is not None:
        inputs = operation_utils.get_source_inputs(input_tensor)
    else:
        inputs = img_input

    # Create model.
    model = Functional(inputs, x, name=name)

    # Load weights.
    if weights == "imagenet":
        fname = f"{family}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        weights_path = file_utils.get_file(
            fname,
            f"{BASE_WEIGHTS_PATH}{family}/{fname}",
            cache_subdir="models",
            file_hash=file_hashes[include_top],
        )
        model.load_weights(weights_path)
    elif weights is not None:
        model.load_weights(weights)

    return model
