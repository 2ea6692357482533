"""graphc.layers: Keras-compatible layers."""

from graphc.layers.base import Input, InputLayer, Layer
from graphc.layers.core import Activation, Dense, Dropout, Flatten, Identity, Reshape
from graphc.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply,
                                   Subtract, add, average, concatenate, maximum, minimum,
                                   multiply, subtract)
from graphc.layers.op_layer import OpLayer

__all__ = ["Layer", "InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten",
           "Reshape", "Identity", "OpLayer", "Add", "Subtract", "Multiply", "Average",
           "Maximum", "Minimum", "Concatenate", "add", "subtract", "multiply", "average",
           "maximum", "minimum", "concatenate"]
