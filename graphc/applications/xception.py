"""Xception

Adapted from Keras's ``keras/src/applications/xception.py`` (Apache License 2.0): the same
topology, layer names and weight order, so Keras's weight files load into these models."""

from graphc.applications import _common, imagenet_utils
from graphc.applications._compat import backend, layers

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
#: The hashes of Keras's weight files (with the head, without it).
WEIGHTS_HASHES = ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")


def Xception(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="xception",
):
    """Instantiates the Xception architecture.

    Reference:
    - [Xception: Deep Learning with Depthwise Separable Convolutions](
        https://arxiv.org/abs/1610.02357) (CVPR 2017)

    For image classification use cases, see
    [this page for detailed examples](
      https://keras.io/api/applications/#usage-examples-for-image-classification-models).

    For transfer learning use cases, make sure to read the
    [guide to transfer learning & fine-tuning](
      https://keras.io/guides/transfer_learning/).

    The default input image size for this model is 299x299.

    Note: each Keras Application expects a specific kind of input preprocessing.
    For Xception, call `keras.applications.xception.preprocess_input`
    on your inputs before passing them to the model.
    `xception.preprocess_input` will scale input pixels between -1 and 1.

    Args:
        include_top: whether to include the 3 fully-connected
            layers at the top of the network.
        weights: one of `None` (random initialization),
            `"imagenet"` (pre-training on ImageNet),
            or the path to the weights file to be loaded.
        input_tensor: optional Keras tensor
            (i.e. output of `layers.Input()`)
            to use as image input for the model.
        input_shape: optional shape tuple, only to be specified
            if `include_top` is `False` (otherwise the input shape
            has to be `(299, 299, 3)`.
            It should have exactly 3 inputs channels,
            and width and height should be no smaller than 71.
            E.g. `(150, 150, 3)` would be one valid value.
        pooling: Optional pooling mode for feature extraction
            when `include_top` is `False`.
            - `None` means that the output of the model will be
                the 4D tensor output of the
                last convolutional block.
            - `avg` means that global average pooling
                will be applied to the output of the
                last convolutional block, and thus
                the output of the model will be a 2D tensor.
            - `max` means that global max pooling will
                be applied.
        classes: optional number of classes to classify images
            into, only to be specified if `include_top` is `True`, and
            if no `weights` argument is specified. Defaults to `1000`.
        classifier_activation: A `str` or callable. The activation function to
            use on the "top" layer. Ignored unless `include_top=True`. Set
            `classifier_activation=None` to return the logits of the "top"
            layer.  When loading pretrained weights, `classifier_activation` can
            only be `None` or `"softmax"`.
        name: The name of the model (string).

    Returns:
        A model instance.
    """
    img_input = _common.checked_input(
        weights, include_top, classes, input_tensor, input_shape, default_size=299, min_size=71
    )

    channel_axis = 1 if backend.image_data_format() == "channels_first" else -1

    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=channel_axis, name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=channel_axis, name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)

    for block, filters in ((2, 128), (3, 256), (4, 728)):
        x = _entry_block(x, block, filters, filters, channel_axis)

    for i in range(8):
        residual = x
        prefix = f"block{i + 5}"
        for j in (1, 2, 3):
            x = layers.Activation("relu", name=f"{prefix}_sepconv{j}_act")(x)
            x = layers.SeparableConv2D(
                728, (3, 3), padding="same", use_bias=False, name=f"{prefix}_sepconv{j}"
            )(x)
            x = layers.BatchNormalization(axis=channel_axis, name=f"{prefix}_sepconv{j}_bn")(x)
        x = layers.add([x, residual])

    x = _entry_block(x, 13, 728, 1024, channel_axis)

    x = layers.SeparableConv2D(
        1536, (3, 3), padding="same", use_bias=False, name="block14_sepconv1"
    )(x)
    x = layers.BatchNormalization(axis=channel_axis, name="block14_sepconv1_bn")(x)
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)

    x = layers.SeparableConv2D(
        2048, (3, 3), padding="same", use_bias=False, name="block14_sepconv2"
    )(x)
    x = layers.BatchNormalization(axis=channel_axis, name="block14_sepconv2_bn")(x)
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)

    x = _common.top(
        x, include_top, pooling, classes, classifier_activation, weights, named_pooling=False
    )
    weights_file = _common.tf_kernels_file(
        BASE_WEIGHTS_PATH, "xception", WEIGHTS_HASHES, include_top
    )
    return _common.model(img_input, x, input_tensor, name, weights, weights_file)


def _entry_block(x, block, filters, out_filters, channel_axis):
    """Keras's blocks 2, 3, 4 and 13: two separable convolutions (``filters``, then
    ``out_filters``) and a strided max pooling, plus a strided 1x1 convolution of the
    input; block 2 starts without an activation."""
    residual = layers.Conv2D(out_filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(axis=channel_axis)(residual)

    if block != 2:
        x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = layers.SeparableConv2D(
        filters, (3, 3), padding="same", use_bias=False, name=f"block{block}_sepconv1"
    )(x)
    x = layers.BatchNormalization(axis=channel_axis, name=f"block{block}_sepconv1_bn")(x)
    x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = layers.SeparableConv2D(
        out_filters, (3, 3), padding="same", use_bias=False, name=f"block{block}_sepconv2"
    )(x)
    x = layers.BatchNormalization(axis=channel_axis, name=f"block{block}_sepconv2_bn")(x)

    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.add([x, residual])


preprocess_input = _common.preprocess_input_of("tf", __name__)
decode_predictions = imagenet_utils.decode_predictions
