"""graphc.layers: Keras-compatible layers."""

from graphc.layers.base import Input, InputLayer, Layer
from graphc.layers.core import Activation, Dense, Dropout, Flatten, Identity, Reshape
from graphc.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply,
                                   Subtract, add, average, concatenate, maximum, minimum,
                                   multiply, subtract)
from graphc.layers.op_layer import OpLayer
from graphc.layers import (activation_layers, convolutional, embedding,  # noqa: E402
                           normalization, pooling, recurrent, reshaping)
from graphc.layers.activation_layers import *  # noqa: F401,F403,E402
from graphc.layers.convolutional import *  # noqa: F401,F403,E402
from graphc.layers.embedding import *  # noqa: F401,F403,E402
from graphc.layers.normalization import *  # noqa: F401,F403,E402
from graphc.layers.pooling import *  # noqa: F401,F403,E402
from graphc.layers.recurrent import *  # noqa: F401,F403,E402
from graphc.layers.reshaping import *  # noqa: F401,F403,E402

__all__ = ["Layer", "InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten",
           "Reshape", "Identity", "OpLayer", "Add", "Subtract", "Multiply", "Average",
           "Maximum", "Minimum", "Concatenate", "add", "subtract", "multiply", "average",
           "maximum", "minimum", "concatenate"] + activation_layers.__all__ \
    + convolutional.__all__ + embedding.__all__ + normalization.__all__ + pooling.__all__ \
    + recurrent.__all__ + reshaping.__all__
