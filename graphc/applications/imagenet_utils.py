"""Keras's ``keras.applications.imagenet_utils``: ``preprocess_input`` in the "caffe",
"tf" and "torch" modes, ``decode_predictions``, and what the applications share
(``obtain_input_shape``, ``correct_pad``, ``validate_activation``), adapted from Keras
(Apache License 2.0); plus the fetching of Keras's pretrained weight files, which happens
only when the network allows it."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import warnings

import numpy as np

from graphc import activations, ops
from graphc.config import image_data_format
from graphc.errors import ArgumentValueError, GraphcError
from graphc.ops.registry import is_symbolic

__all__ = ["preprocess_input", "decode_predictions", "WeightsUnavailableError"]

CLASS_INDEX = None
CLASS_INDEX_PATH = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
PREPROCESS_INPUT_DOC = """
  Preprocesses a tensor or Numpy array encoding a batch of images.

  Usage example with `applications.MobileNet`:

  ```python
  i = keras.layers.Input([None, None, 3], dtype="uint8")
  x = ops.cast(i, "float32")
  x = keras.applications.mobilenet.preprocess_input(x)
  core = keras.applications.MobileNet()
  x = core(x)
  model = keras.Model(inputs=[i], outputs=[x])
  result = model(image)
  ```

  Args:
        x: A floating point `numpy.array` or a backend-native tensor,
            3D or 4D with 3 color
            channels, with values in the range [0, 255].
            The preprocessed data are written over the input data
        if the data types are compatible. To avoid this
        behaviour, `numpy.copy(x)` can be used.
        data_format: Optional data format of the image tensor/array. None, means
        the global setting `keras.backend.image_data_format()` is used
        (unless you changed it, it uses "channels_last").{mode}
        Defaults to `None`.

  Returns:
      Preprocessed array with type `float32`.
      {ret}

  Raises:
      {error}
  """

PREPROCESS_INPUT_MODE_DOC = """
    mode: One of "caffe", "tf" or "torch".
      - caffe: will convert the images from RGB to BGR,
          then will zero-center each color channel with
          respect to the ImageNet dataset,
          without scaling.
      - tf: will scale pixels between -1 and 1,
          sample-wise.
      - torch: will scale pixels between 0 and 1 and then
          will normalize each channel with respect to the
          ImageNet dataset.
      Defaults to `"caffe"`.
  """

PREPROCESS_INPUT_DEFAULT_ERROR_DOC = """
    ValueError: In case of unknown `mode` or `data_format` argument."""

PREPROCESS_INPUT_ERROR_DOC = """
    ValueError: In case of unknown `data_format` argument."""

PREPROCESS_INPUT_RET_DOC_TF = """
      The inputs pixel values are scaled between -1 and 1, sample-wise."""

PREPROCESS_INPUT_RET_DOC_TORCH = """
      The input pixels values are scaled between 0 and 1 and each channel is
      normalized with respect to the ImageNet dataset."""

PREPROCESS_INPUT_RET_DOC_CAFFE = """
      The images are converted from RGB to BGR, then each color channel is
      zero-centered with respect to the ImageNet dataset, without scaling."""

#: Seconds to wait for the server before saying the network does not allow a download.
PROBE_TIMEOUT = 5.0


class WeightsUnavailableError(GraphcError, OSError):
    """Keras's pretrained file is neither cached nor reachable."""


def _cache_dir() -> str:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, "models")


def _probe(origin: str) -> str | None:
    """None if ``origin`` answers within PROBE_TIMEOUT, else the reason it does not."""
    try:
        req = urllib.request.Request(origin, method="HEAD")
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT):
            return None
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code} {e.reason}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return str(getattr(e, "reason", e))


def fetch(fname: str, origin: str, file_hash=None, what="the ImageNet weights") -> str:
    """The local path of Keras's file ``fname``: from the cache (``~/.keras/models``, or
    ``$KERAS_HOME/models``), else downloaded from ``origin`` if the network answers within
    a few seconds; otherwise a ``WeightsUnavailableError`` saying to pass a local file."""
    from graphc.utils.file_utils import _valid, get_file

    cached = os.path.join(_cache_dir(), fname)
    if os.path.exists(cached) and (file_hash is None or _valid(cached, file_hash, "auto")):
        return cached
    reason = _probe(origin)
    if reason is not None:
        raise WeightsUnavailableError(
            f"Could not download {what} ({fname}) from {origin}: {reason}. The network "
            "does not allow it here. Download the file where it does and pass its local "
            f"path instead, e.g. weights='/path/to/{fname}', or put it in {_cache_dir()}."
        )
    return get_file(fname, origin, cache_subdir="models", file_hash=file_hash)


def load_weights(model, weights, fname=None, origin=None, file_hash=None) -> None:
    """``weights="imagenet"``: Keras's file (fetched as ``fetch`` says); a path: that
    file (Keras's ``.h5``, ``.weights.h5`` or graphc's ``.weights.npz``); None: nothing."""
    if weights == "imagenet":
        if origin is None:
            raise ArgumentValueError(
                f"{model.name}: Keras publishes no ImageNet weights for this "
                "configuration; pass weights=None or a local weights file."
            )
        model.load_weights(fetch(fname, origin, file_hash))
    elif weights is not None:
        model.load_weights(weights)


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocess a batch of images (values in [0, 255]), as Keras's:
    "caffe": RGB to BGR, then each channel zero-centred on ImageNet's mean, no scaling;
    "tf": scaled to [-1, 1]; "torch": scaled to [0, 1], then normalised per channel with
    ImageNet's mean and standard deviation. A NumPy array of floats is modified in place,
    as Keras's; a symbolic tensor gets the same computation as graph ops."""
    if mode not in {"caffe", "tf", "torch"}:
        raise ArgumentValueError(
            f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}"
        )
    if data_format is None:
        data_format = image_data_format()
    elif data_format not in {"channels_first", "channels_last"}:
        raise ArgumentValueError(
            "Expected data_format to be one of `channels_first` or `channels_last`. "
            f"Received: data_format={data_format}"
        )
    if is_symbolic(x):
        return _preprocess_tensor_input(x, data_format, mode)
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    return _preprocess_numpy_input(x, data_format, mode)


def _preprocess_numpy_input(x, data_format, mode):
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype("float32", copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    else:
        if data_format == "channels_first":
            x = x[::-1, ...] if x.ndim == 3 else x[:, ::-1, ...]
        else:
            x = x[..., ::-1]
        mean, std = [103.939, 116.779, 123.68], None
    for c in range(3):
        if data_format == "channels_first":
            idx = (c,) if x.ndim == 3 else (slice(None), c)
        else:
            idx = (Ellipsis, c)
        x[idx] -= mean[c]
        if std is not None:
            x[idx] /= std[c]
    return x


def _preprocess_tensor_input(x, data_format, mode):
    ndim = len(x.shape)
    if mode == "tf":
        return ops.subtract(ops.divide(x, np.float32(127.5)), np.float32(1.0))
    channels_first = data_format == "channels_first"
    axis = (0 if ndim == 3 else 1) if channels_first else ndim - 1
    if mode == "torch":
        x = ops.divide(x, np.float32(255.0))
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    else:
        x = ops.take(x, np.array([2, 1, 0]), axis=axis)
        mean, std = [103.939, 116.779, 123.68], None
    shape = [1] * ndim
    shape[axis] = 3
    x = ops.add(x, (-np.array(mean, "float32")).reshape(shape))
    if std is not None:
        x = ops.divide(x, np.array(std, "float32").reshape(shape))
    return x


def decode_predictions(preds, top=5):
    """The ``top`` classes of each row of ImageNet predictions, as lists of
    ``(class_name, class_description, score)``. The class index is Keras's
    ``imagenet_class_index.json`` (fetched once into ``~/.keras/models``)."""
    global CLASS_INDEX
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ArgumentValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of "
            f"shape (samples, 1000)). Received array with shape: {preds.shape}"
        )
    if CLASS_INDEX is None:
        path = fetch(
            "imagenet_class_index.json",
            CLASS_INDEX_PATH,
            "c2c37ea517e94d9795004a39431a14cb",
            what="ImageNet's class index",
        )
        with open(path) as f:
            CLASS_INDEX = json.load(f)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [tuple(CLASS_INDEX[str(i)]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda t: t[2], reverse=True)
        results.append(result)
    return results


def obtain_input_shape(
    input_shape, default_size, min_size, data_format, require_flatten, weights=None
):
    """A model's input shape from the user's, checked as Keras checks it."""
    if input_shape is not None:
        input_shape = tuple(input_shape)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        if data_format == "channels_first":
            if input_shape[0] not in {1, 3}:
                warnings.warn(
                    "This model usually expects 1 or 3 input channels. However, it was "
                    f"passed an input_shape with {input_shape[0]} input channels.",
                    stacklevel=2,
                )
            default_shape = (input_shape[0], default_size, default_size)
        else:
            if input_shape[-1] not in {1, 3}:
                warnings.warn(
                    "This model usually expects 1 or 3 input channels. However, it was "
                    f"passed an input_shape with {input_shape[-1]} input channels.",
                    stacklevel=2,
                )
            default_shape = (default_size, default_size, input_shape[-1])
    elif data_format == "channels_first":
        default_shape = (3, default_size, default_size)
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ArgumentValueError(
                "When setting `include_top=True` and loading `imagenet` weights, "
                f"`input_shape` should be {default_shape}.  Received: "
                f"input_shape={input_shape}"
            )
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ArgumentValueError("`input_shape` must be a tuple of three integers.")
        ch, (h, w) = (
            (input_shape[0], input_shape[1:])
            if data_format == "channels_first"
            else (input_shape[-1], input_shape[:2])
        )
        if ch != 3 and weights == "imagenet":
            raise ArgumentValueError(
                f"The input must have 3 channels; Received `input_shape={input_shape}`"
            )
        if (h is not None and h < min_size) or (w is not None and w < min_size):
            raise ArgumentValueError(
                f"Input size must be at least {min_size}x{min_size}; Received: "
                f"input_shape={input_shape}"
            )
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if data_format == "channels_first" else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ArgumentValueError(
            "If `include_top` is True, you should specify a static `input_shape`. "
            f"Received: input_shape={input_shape}"
        )
    return input_shape


def correct_pad(inputs, kernel_size):
    """The zero padding before a strided convolution, as Keras's (TF's "same")."""
    img_dim = 2 if image_data_format() == "channels_first" else 1
    input_size = inputs.shape[img_dim : img_dim + 2]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    if input_size[0] is None:
        adjust = (1, 1)
    else:
        adjust = (1 - input_size[0] % 2, 1 - input_size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights):
    """Only None and softmax go with pretrained weights."""
    if weights is None:
        return
    act = activations.get(classifier_activation)
    if act not in {activations.get("softmax"), activations.get(None)}:
        raise ArgumentValueError(
            "Only `None` and `softmax` activations are allowed for the "
            "`classifier_activation` argument when using pretrained weights, with "
            f"`include_top=True`; Received: classifier_activation={classifier_activation}"
        )
