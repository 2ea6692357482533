"""VGG16 and VGG19: one builder, the two differing only in the convolutions per block.

Adapted from Keras's ``keras/src/applications/vgg16.py`` and ``vgg19.py`` (Apache
License 2.0): the same topology, layer names and weight order, so Keras's weight files
load into these models."""

from graphc.applications import _common, imagenet_utils
from graphc.applications._compat import layers

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/"

DOC = """Instantiates the {name} model.

Reference:
- [Very Deep Convolutional Networks for Large-Scale Image Recognition](
https://arxiv.org/abs/1409.1556) (ICLR 2015)

For image classification use cases, see
[this page for detailed examples](
  https://keras.io/api/applications/#usage-examples-for-image-classification-models).

For transfer learning use cases, make sure to read the
[guide to transfer learning & fine-tuning](
  https://keras.io/guides/transfer_learning/).

The default input size for this model is 224x224.

Note: each Keras Application expects a specific kind of input preprocessing.
For {name}, call `keras.applications.{module}.preprocess_input` on your
inputs before passing them to the model.
`{module}.preprocess_input` will convert the input images from RGB to BGR,
then will zero-center each color channel with respect to the ImageNet
dataset, without scaling.

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
        has to be `(224, 224, 3)`
        (with `channels_last` data format) or
        `(3, 224, 224)` (with `"channels_first"` data format).
        It should have exactly 3 input channels,
        and width and height should be no smaller than 32.
        E.g. `(200, 200, 3)` would be one valid value.
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
        if no `weights` argument is specified.
    classifier_activation: A `str` or callable. The activation function to
        use on the "top" layer. Ignored unless `include_top=True`. Set
        `classifier_activation=None` to return the logits of the "top"
        layer.  When loading pretrained weights, `classifier_activation`
        can only be `None` or `"softmax"`.
    name: The name of the model (string).

Returns:
    A `Model` instance.
"""


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
    its five blocks; ``file_hashes``: the md5s of Keras's weight files (with the head,
    without it)."""
    img_input = _common.checked_input(weights, include_top, classes, input_tensor, input_shape)
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
        x = _common.pool(x, pooling, named=False)

    base = f"{BASE_WEIGHTS_PATH}{family}/"
    weights_file = _common.tf_kernels_file(base, family, file_hashes, include_top)
    return _common.model(img_input, x, input_tensor, name, weights, weights_file)


def application(module, variant, convs_per_block, file_hashes):
    """``module``'s public function ``variant`` ("VGG16"/"VGG19")."""
    family = variant.lower()

    def build(**kwargs):
        return build_vgg(family, convs_per_block, file_hashes, **kwargs)

    doc = DOC.format(name=variant, module=family)
    return _common.application(module, variant, family, build, doc)
