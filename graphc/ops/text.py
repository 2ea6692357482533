"""Text ops: ``text_vectorization``, the node a ``TextVectorization`` layer records when
called on a string ``Input`` (as in "Deep Learning with Python" ch. 11's end-to-end
inference model).

The attributes are plain data (the options and the vocabulary, special tokens first),
so the graph stays JSON-describable; the kernel builds a ``Vectorizer`` (the computation
the layer delegates to, in ``text_processing``) from them, cached per vocabulary, and
runs it. Strings carry no gradient, and ONNX has no exact lowering of Keras's
standardize/split/lookup, so export refuses with a pointer to exporting the model that
takes the vectorized integers.

>>> import numpy as np
>>> from graphc.ops import get_op
>>> attrs = {"output_mode": "int", "output_sequence_length": 3,
...          "vocabulary": ["", "[UNK]", "b", "a"]}
>>> get_op("text_vectorization").run(attrs, [np.array([["a b c"]])])
array([[3, 2, 1]])
"""

from __future__ import annotations

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op
from graphc.ops.text_processing import Vectorizer

__all__: list = []

# The options the kernel passes to the Vectorizer (the rest of the attributes:
# "vocabulary", "idf_weights", "layer").
OPTIONS = (
    "max_tokens",
    "standardize",
    "split",
    "ngrams",
    "output_mode",
    "output_sequence_length",
    "pad_to_max_tokens",
    "encoding",
)
# vocabulary list id -> (vocabulary, idf_weights, attrs options, vectorizer): a model
# called in a loop copies its node's attrs dict each time, but not the vocabulary list
# inside.
_CACHE: dict = {}
_CACHE_SIZE = 16


def _vectorizer(attrs) -> Vectorizer:
    """The ``Vectorizer`` that computes this node (cached)."""
    vocabulary = attrs.get("vocabulary")
    idf = attrs.get("idf_weights")
    options = {k: attrs[k] for k in OPTIONS if k in attrs}
    hit = _CACHE.get(id(vocabulary))
    if hit is not None and hit[0] is vocabulary and hit[1] is idf and hit[2] == options:
        return hit[3]
    if isinstance(options.get("ngrams"), list):
        options["ngrams"] = tuple(options["ngrams"])
    vectorizer = Vectorizer(**options)
    if vocabulary:
        vectorizer.set_vocabulary(vocabulary, idf)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(vocabulary)] = (vocabulary, idf, dict(options), vectorizer)
    return vectorizer


class TextVectorizationOp(Op):
    """Strings ``(batch, 1)`` or ``(batch,)`` -> int64 ``(batch, output_sequence_length)``
    token indices (``"int"``), or float32 ``(batch, depth)`` (the vector modes)."""

    name = "text_vectorization"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        layer = attrs.get("layer", "text_vectorization")
        if x.dtype != "string":
            raise ShapeError(
                f"TextVectorization layer {layer!r} expects a string tensor "
                f'(Input(..., dtype="string")), got dtype {x.dtype}'
            )
        shape = tuple(x.shape)
        if attrs.get("split", "whitespace") is None:
            lead = shape[:-1]
        elif len(shape) > 1:
            if shape[-1] not in (1, None):
                raise ShapeError(
                    "When using `TextVectorization` to tokenize strings, the input rank "
                    "must be 1 or the last shape dimension must be 1. Received: "
                    f"inputs.shape={format_shape(shape)} with rank={len(shape)}"
                )
            lead = shape[:-1]
        else:
            lead = shape
        mode = attrs.get("output_mode", "int")
        if mode == "int":
            return TensorType(lead + (attrs.get("output_sequence_length"),), "int64")
        if len(lead) > 1:
            raise ShapeError(
                "When output_mode is not `'int'`, maximum supported output "
                f"rank is 2. Received output_mode {mode} and input shape "
                f"{format_shape(shape)}"
            )
        if attrs.get("pad_to_max_tokens"):
            depth = attrs["max_tokens"]
        elif attrs.get("vocabulary"):
            depth = len(attrs["vocabulary"])
        elif attrs.get("vocabulary_size"):  # the vocabulary comes later, from a file's assets
            depth = attrs["vocabulary_size"]
        else:
            raise ShapeError(
                f"When using `output_mode={mode}` and `pad_to_max_tokens=False`, you must "
                "set the layer's vocabulary before calling it. Either pass a `vocabulary` "
                "argument to the layer, or call `adapt` with some sample data."
            )
        return TensorType(lead + (depth,), "float32")

    def kernel(self, attrs, x, *, ctx):
        return _vectorizer(attrs).vectorize(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)  # strings have no gradient

    def lower(self, attrs, b, x):
        layer = attrs.get("layer", "text_vectorization")
        raise NotImplementedError(
            f"TextVectorization layer {layer!r} has no ONNX lowering (ONNX has no exact "
            "equivalent of its standardize, split and vocabulary lookup). Export the model "
            "that takes the vectorized integers instead (the model after the "
            "TextVectorization layer), and vectorize the texts before calling it."
        )
