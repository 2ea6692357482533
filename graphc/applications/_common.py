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
