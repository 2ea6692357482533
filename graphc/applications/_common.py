"""What every application shares, once: Keras's checks of ``weights`` and ``classes``, the
image input, the pooling of the features, the classifier, the model with its weights, the
public function of Keras's common signature and ``preprocess_input``.

Adapted from the code each of Keras's ``keras/src/applications/*.py`` repeats (Apache
License 2.0)."""

from graphc.applications import imagenet_utils
from graphc.applications._compat import Functional, backend, file_utils, layers, operation_utils
from graphc.errors import ArgumentValueError


def check_weights(weights, include_top, classes):
    """``weights`` is None, "imagenet" or an existing file; ImageNet's head has 1000
    classes."""
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


def image_input(input_tensor, input_shape):
    """The model's input: a new ``Input`` of ``input_shape``, or ``input_tensor`` (wrapped
    in an ``Input`` when it is not a symbolic tensor)."""
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if not backend.is_keras_tensor(input_tensor):
        return layers.Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def rows_cols(shape):
    """The height and width in an image ``shape`` without the batch axis."""
    if backend.image_data_format() == "channels_first":
        return shape[1], shape[2]
    return shape[0], shape[1]


def default_size(input_shape, sizes, input_tensor=None):
    """The MobileNets' default size: the input's (``input_shape``, else a symbolic
    ``input_tensor``'s) when it is square and one of ``sizes``, else 224."""
    if input_shape is not None:
        rows, cols = rows_cols(input_shape)
    elif input_tensor is not None and backend.is_keras_tensor(input_tensor):
        rows, cols = rows_cols(input_tensor.shape[1:])
    else:
        return 224
    return rows if rows == cols and rows in sizes else 224


def check_input_tensor(input_tensor, input_shape):
    """With both ``input_shape`` and ``input_tensor`` given, MobileNetV2's and V3's check:
    ``input_tensor`` is a symbolic tensor and its width is ``input_shape``'s."""
    if input_shape is None or input_tensor is None:
        return
    if not backend.is_keras_tensor(input_tensor):
        raise ArgumentValueError(
            f"input_tensor is not a Keras tensor; Received `input_tensor={input_tensor}`"
        )
    if backend.image_data_format() == "channels_first":
        if input_tensor.shape[1] != input_shape[1]:
            raise ArgumentValueError(
                "input_shape[1] must equal shape(input_tensor)[1] "
                "when `image_data_format` is `channels_first`; "
                f"Received `input_tensor.shape={input_tensor.shape}`, "
                f"`input_shape={input_shape}`"
            )
    elif input_tensor.shape[2] != input_shape[1]:
        raise ArgumentValueError(
            "input_tensor.shape[2] must equal input_shape[1]; "
            f"Received `input_tensor.shape={input_tensor.shape}`, "
            f"`input_shape={input_shape}`"
        )


def checked_input(
    weights, include_top, classes, input_tensor, input_shape, default_size=224, min_size=32
):
    """Keras's preamble: the checks of ``weights`` and ``classes``, the input shape
    (``obtain_input_shape``), and the image input."""
    check_weights(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=min_size,
        data_format=backend.image_data_format(),
        require_flatten=include_top,
        weights=weights,
    )
    return image_input(input_tensor, input_shape)


def pool(x, pooling, named=True):
    """The features pooled as ``pooling`` says ("avg", "max" or None), in layers named
    "avg_pool"/"max_pool" when ``named``."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool" if named else None)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool" if named else None)(x)
    return x


def top(x, include_top, pooling, classes, classifier_activation, weights, named_pooling=True):
    """The common head: with ``include_top``, global average pooling ("avg_pool") and the
    classifier ("predictions"); without, the features pooled as ``pooling`` says."""
    if not include_top:
        return pool(x, pooling, named_pooling)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    imagenet_utils.validate_activation(classifier_activation, weights)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def model(img_input, x, input_tensor, name, weights, weights_file=None):
    """The model from the input (or ``input_tensor``'s source inputs, as Keras takes any
    predecessors of ``input_tensor`` in) to ``x``, with its weights: Keras's file
    ``weights_file`` = (file name, address, hash) for "imagenet", or the file at the path
    ``weights``."""
    inputs = img_input if input_tensor is None else operation_utils.get_source_inputs(input_tensor)
    result = Functional(inputs, x, name=name)
    load_weights(result, weights, weights_file)
    return result


def load_weights(model, weights, weights_file=None):
    """``weights`` into ``model``: Keras's file ``weights_file`` = (file name, address,
    hash) for "imagenet", the file at the path ``weights``, or nothing for None."""
    fname, origin, file_hash = weights_file or (None, None, None)
    imagenet_utils.load_weights(model, weights, fname, origin, file_hash)


def weights_file(base, fname, hashes, include_top):
    """Keras's weight file ``fname`` at the address ``base``: (file name, address, hash),
    the hash from ``hashes`` = (with the head, without it); None without ``hashes``."""
    if hashes is None:
        return None
    return fname, base + fname, hashes[0 if include_top else 1]


def make_divisible(v, divisor=8, min_value=None):
    """``v`` rounded to a multiple of ``divisor`` (at least ``min_value``, by default
    ``divisor``), not more than 10% below ``v``: the MobileNets' channel counts."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    # Make sure that round down does not go down by more than 10%.
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def mobilenet_bn(x, name):
    """MobileNetV2's and V3's batch normalization (epsilon 1e-3, momentum 0.999) of ``x``
    over the channel axis."""
    channel_axis = 1 if backend.image_data_format() == "channels_first" else -1
    return layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=name)(x)


def tf_kernels_file(base, stem, hashes, include_top):
    """``weights_file`` of Keras's "{stem}_weights_tf_dim_ordering_tf_kernels.h5" (with
    "_notop" before ".h5" without the head), the name VGG, ResNet, DenseNet, InceptionV3
    and Xception share."""
    notop = "" if include_top else "_notop"
    fname = f"{stem}_weights_tf_dim_ordering_tf_kernels{notop}.h5"
    return weights_file(base, fname, hashes, include_top)


def application(module, variant, default_name, build, doc):
    """``module``'s public function ``variant``, of Keras's common signature: ``build``
    called with its arguments by keyword; ``doc`` is its docstring."""

    def application(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=default_name,
    ):
        return build(
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
        )

    return named(application, variant, module, doc)


def named(function, name, module, doc):
    """``function`` as the module-level function ``module.name`` with docstring ``doc``."""
    function.__name__ = function.__qualname__ = name
    function.__module__ = module
    function.__doc__ = doc
    return function


_RETURNS = {
    "caffe": imagenet_utils.PREPROCESS_INPUT_RET_DOC_CAFFE,
    "tf": imagenet_utils.PREPROCESS_INPUT_RET_DOC_TF,
    "torch": imagenet_utils.PREPROCESS_INPUT_RET_DOC_TORCH,
}


def preprocess_input_of(mode, module):
    """``module``'s ``preprocess_input``: ``imagenet_utils.preprocess_input`` in ``mode``
    ("caffe", "tf" or "torch"), with Keras's docstring."""

    def preprocess_input(x, data_format=None):
        return imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)

    doc = imagenet_utils.PREPROCESS_INPUT_DOC.format(
        mode="", ret=_RETURNS[mode], error=imagenet_utils.PREPROCESS_INPUT_ERROR_DOC
    )
    return named(preprocess_input, "preprocess_input", module, doc)
