"""graphc.layers: Keras-compatible layers."""

# (Modules under private aliases: a family may export a name equal to its module's.)
from graphc.layers import activation_layers as _activation_layers  # noqa: E402
from graphc.layers import attention as _attention  # noqa: E402
from graphc.layers import audio as _audio  # noqa: E402
from graphc.layers import conv_lstm as _conv_lstm  # noqa: E402
from graphc.layers import conv_transpose as _conv_transpose  # noqa: E402

# Registered by name for Keras's files, not exported (as in Keras).
from graphc.layers import convnext_layers as _convnext_layers  # noqa: E402,F401
from graphc.layers import convolutional as _convolutional  # noqa: E402
from graphc.layers import embedding as _embedding  # noqa: E402
from graphc.layers import image_augmentation as _image_augmentation  # noqa: E402
from graphc.layers import image_preprocessing_extra as _image_preprocessing_extra  # noqa: E402
from graphc.layers import image_warping as _image_warping  # noqa: E402
from graphc.layers import lookup as _lookup  # noqa: E402
from graphc.layers import normalization as _normalization  # noqa: E402
from graphc.layers import pooling as _pooling  # noqa: E402
from graphc.layers import preprocessing as _preprocessing  # noqa: E402
from graphc.layers import recurrent as _recurrent  # noqa: E402
from graphc.layers import reshaping as _reshaping  # noqa: E402
from graphc.layers import rnn_cells as _rnn_cells  # noqa: E402
from graphc.layers import simple as _simple  # noqa: E402
from graphc.layers import wrappers as _wrappers  # noqa: E402
from graphc.layers.activation_layers import *  # noqa: F401,F403,E402
from graphc.layers.attention import *  # noqa: F401,F403,E402
from graphc.layers.audio import *  # noqa: F401,F403,E402
from graphc.layers.base import Input, InputLayer, Layer
from graphc.layers.batch_normalization import BatchNormalization  # noqa: E402
from graphc.layers.conv_lstm import *  # noqa: F401,F403,E402
from graphc.layers.conv_transpose import *  # noqa: F401,F403,E402
from graphc.layers.convolutional import *  # noqa: F401,F403,E402
from graphc.layers.core import (
    Activation,
    Dense,
    Dropout,
    EinsumDense,
    Flatten,
    Identity,
    Masking,
    Reshape,
)
from graphc.layers.embedding import *  # noqa: F401,F403,E402
from graphc.layers.image_augmentation import *  # noqa: F401,F403,E402
from graphc.layers.image_preprocessing_extra import *  # noqa: F401,F403,E402
from graphc.layers.image_warping import *  # noqa: F401,F403,E402
from graphc.layers.lookup import *  # noqa: F401,F403,E402
from graphc.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from graphc.layers.normalization import *  # noqa: F401,F403,E402
from graphc.layers.op_layer import OpLayer
from graphc.layers.pooling import *  # noqa: F401,F403,E402
from graphc.layers.preprocessing import *  # noqa: F401,F403,E402
from graphc.layers.recurrent import *  # noqa: F401,F403,E402
from graphc.layers.reshaping import *  # noqa: F401,F403,E402
from graphc.layers.rnn_cells import *  # noqa: F401,F403,E402
from graphc.layers.simple import *  # noqa: F401,F403,E402
from graphc.layers.text_vectorization import TextVectorization  # noqa: E402
from graphc.layers.wrappers import *  # noqa: F401,F403,E402

__all__ = [
    "Layer",
    "InputLayer",
    "Input",
    "Dense",
    "EinsumDense",
    "Activation",
    "Dropout",
    "Flatten",
    "Reshape",
    "Identity",
    "Masking",
    "OpLayer",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "add",
    "subtract",
    "multiply",
    "average",
    "maximum",
    "minimum",
    "concatenate",
    "Dot",
    "dot",
    "BatchNormalization",
    "TextVectorization",
] + (
    _activation_layers.__all__
    + _attention.__all__
    + _audio.__all__
    + _conv_transpose.__all__
    + _convolutional.__all__
    + _embedding.__all__
    + _image_augmentation.__all__
    + _image_warping.__all__
    + _image_preprocessing_extra.__all__
    + _lookup.__all__
    + _normalization.__all__
    + _pooling.__all__
    + _preprocessing.__all__
    + _wrappers.__all__
    + _recurrent.__all__
    + _rnn_cells.__all__
    + _conv_lstm.__all__
    + _reshaping.__all__
    + _simple.__all__
)

# keras.layers.serialize / deserialize (functions, so not in __all__, which lists what a
# saved config may name).
from graphc.layers.serialization import deserialize, serialize  # noqa: E402,F401
