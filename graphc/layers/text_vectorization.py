"""``TextVectorization``, as Keras 3's, in pure Python and NumPy (Keras uses TensorFlow's
string ops; graphc does not need TensorFlow).

Each text goes through: standardize (lowercase ASCII letters and/or remove Keras's 32
punctuation characters), split (ASCII whitespace, or Unicode characters), ngrams (joined
with a space), then lookup in a vocabulary learned by ``adapt`` (by descending frequency,
ties broken by descending token) or given directly. Outputs are NumPy arrays: int64 token
indices padded with 0 (``"int"``; 1 is the out-of-vocabulary token ``"[UNK]"``), or float32
``(batch, vocabulary size)`` rows for ``"multi_hot"``, ``"count"`` and ``"tf_idf"``.
The computation and the vocabulary live in ``graphc.ops.text_processing.Vectorizer``
(the ``text_vectorization`` op's kernel uses it too); the layer holds one and adds
``adapt``, the config, and recording the op on symbolic inputs.

The layer runs eagerly on lists or arrays of strings (or bytes), as in the book's data
pipelines, and inside a model on a string ``Input``, as in the book's end-to-end
inference model (it records a ``text_vectorization`` op holding the options and the
vocabulary as they are at that call; such a model predicts and trains on raw strings, but
has no ONNX export: export the model that takes the vectorized integers)::

    inputs = graphc.Input(shape=(1,), dtype="string")
    inference_model = graphc.Model(inputs, model(vectorize(inputs)))
    inference_model.predict(np.array([["a great movie"]]))

>>> vectorize = TextVectorization(max_tokens=20, output_mode="int", output_sequence_length=4)
>>> vectorize.adapt(["foo bar", "bar baz", "baz bada boom"])
>>> vectorize.get_vocabulary()
['', '[UNK]', 'baz', 'bar', 'foo', 'boom', 'bada']
>>> vectorize([["foo qux bar"], ["qux baz"]])
array([[4, 1, 3, 0],
       [1, 2, 0, 0]])
"""

from __future__ import annotations

import collections

import numpy as np

from graphc.layers.base import Layer
from graphc.ops.registry import apply, is_symbolic
from graphc.ops.text_processing import MASK_TOKEN, OOV_TOKEN, Vectorizer

__all__ = ["TextVectorization"]


def _plain(x):
    """Config values as plain lists (Keras's ``listify_tensors``)."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return x


def _adapted_idf(v: Vectorizer):
    """The adapted idf weights, one per vocabulary entry, for the config (tf_idf only)."""
    if v.output_mode != "tf_idf" or v.idf_weights is None or not v.tokens:
        return None
    return v.idf_weights[: v.vocabulary_size()].tolist()


class TextVectorization(Layer):
    """Map texts to token indices or to per-text token vectors (Keras 3's
    ``keras.layers.TextVectorization``; arguments, defaults and errors as Keras's).

    >>> layer = TextVectorization(output_mode="multi_hot", ngrams=2)
    >>> layer.adapt(["the cat sat", "the dog"])
    >>> layer.get_vocabulary()[:4]
    ['[UNK]', 'the', 'the dog', 'the cat']
    >>> layer(["the cat"]).shape
    (1, 8)
    """

    def __init__(
        self,
        max_tokens=None,
        standardize="lower_and_strip_punctuation",
        split="whitespace",
        ngrams=None,
        output_mode="int",
        output_sequence_length=None,
        pad_to_max_tokens=False,
        vocabulary=None,
        idf_weights=None,
        sparse=False,
        ragged=False,
        encoding="utf-8",
        name=None,
        **kwargs,
    ):
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend.")
        if ragged:
            raise ValueError("`ragged=True` can only be used with the TensorFlow backend.")
        # The options' checks (Keras's errors) are the vectorizer's.
        vectorizer = Vectorizer(
            max_tokens,
            standardize,
            split,
            ngrams,
            output_mode,
            output_sequence_length,
            pad_to_max_tokens,
            encoding,
        )
        output_mode = vectorizer.output_mode  # "binary" and "tf-idf" normalized
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                "`idf_weights` should only be set if `output_mode` is "
                f"`'tf_idf'`. Received: idf_weights={idf_weights} and "
                f"output_mode={output_mode}"
            )
        # Hidden options Keras keeps in the config.
        self._has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        vectorizer.frozen_vocab_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        self.built = True  # no weights: the vocabulary is state, not a weight
        # The options, the vocabulary and the computation (shared with the op's kernel).
        self._vectorizer = vectorizer
        # As Keras: a vocabulary file's path is not kept in the config.
        self._input_vocabulary = _plain(vocabulary) if not isinstance(vocabulary, str) else None
        self._input_idf_weights = _plain(idf_weights)
        self.__dict__["_nodes"] = []  # the text_vectorization nodes this layer recorded
        self.__dict__["_lookup_state"] = _LookupState(self)
        self.__dict__["_asset_tokens"] = None  # a tf_idf vocabulary waiting for its weights
        self.reset_state()
        if output_mode == "tf_idf" and self._has_input_vocabulary and idf_weights is None:
            raise ValueError(
                "When specifying the `vocabulary` argument, in TF-IDF output "
                "mode, the `idf_weights` argument must also be provided."
            )
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ---- the options and the vocabulary (kept by the vectorizer) ---------------------------
    @property
    def max_tokens(self):
        return self._vectorizer.max_tokens

    @max_tokens.setter
    def max_tokens(self, value):
        self._vectorizer.max_tokens = value

    @property
    def pad_to_max_tokens(self):
        return self._vectorizer.pad_to_max_tokens

    @pad_to_max_tokens.setter
    def pad_to_max_tokens(self, value):
        self._vectorizer.pad_to_max_tokens = value

    @property
    def encoding(self):
        return self._vectorizer.encoding

    @encoding.setter
    def encoding(self, value):
        self._vectorizer.encoding = value

    @property
    def idf_weights(self):
        """float32, one per output index (``"tf_idf"``; None before a vocabulary)."""
        return self._vectorizer.idf_weights

    @idf_weights.setter
    def idf_weights(self, value):
        self._vectorizer.idf_weights = value

    def vocabulary_size(self) -> int:
        """The size of the vocabulary, padding and OOV tokens included."""
        return self._vectorizer.vocabulary_size()

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The vocabulary; with the special tokens, a token's position is its index."""
        return self._vectorizer.get_vocabulary(include_special_tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list/array of strings, or a file with one per line), and
        for ``"tf_idf"`` the idf weights, instead of adapting. Special tokens may lead the
        list (``["", "[UNK]", ...]`` in int mode, ``["[UNK]", ...]`` otherwise)."""
        self._vectorizer.set_vocabulary(vocabulary, idf_weights)

    # ---- adapt ---------------------------------------------------------------------------
    def reset_state(self):
        self._token_counts = collections.Counter()
        self._document_counts = collections.Counter()
        self._num_documents = 0

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and for ``"tf_idf"`` the idf weights) from ``data``: a
        list or array of strings, or any iterable of batches of strings (e.g. a generator;
        ``steps`` caps the number of batches). ``batch_size`` is accepted and unused, as in
        Keras."""
        self.reset_state()
        if hasattr(data, "__iter__") and not isinstance(data, (list, tuple, np.ndarray)):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        else:
            data = self._vectorizer.as_string_array(data)
            if data.ndim == 1:
                data = data[:, None]
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data):
        """Count the tokens of one batch of texts."""
        rows, lead = self._tokenize(data)
        if self._has_input_vocabulary:
            raise ValueError(
                f"Cannot adapt layer '{self.name}' after setting a static "
                "vocabulary via `vocabulary` argument or `set_vocabulary()` "
                "method."
            )
        for row in rows:
            self._token_counts.update(row)
        if self._vectorizer.output_mode == "tf_idf":
            # A document is one item of the batch's first axis (a lone sequence is one).
            per_doc = len(rows) // lead[0] if lead and lead[0] else len(rows)
            docs = (
                [set().union(*rows[i : i + per_doc]) for i in range(0, len(rows), per_doc)]
                if rows
                else []
            )
            for doc in docs:
                self._document_counts.update(doc)
            self._num_documents += len(docs)

    def finalize_state(self):
        v = self._vectorizer
        counts = self._token_counts
        if self._has_input_vocabulary or not counts:
            v.record_vocabulary_size()  # as Keras, an empty adapt keeps the vocabulary
            return
        counts.pop(MASK_TOKEN, None)
        counts.pop(OOV_TOKEN, None)
        # Keras: np.lexsort((tokens, counts))[::-1], so by descending count, ties broken
        # by descending token (UTF-8 byte order, which is code point order).
        tokens = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if v.max_tokens:
            tokens = tokens[: v.max_tokens - v.token_start()]
        v.set_tokens(tokens)
        if v.output_mode == "tf_idf":
            df = np.array([self._document_counts[t] for t in tokens], dtype=np.int64)
            # Keras: log(1 + num_documents / (1 + document_count)), in float64, then float32;
            # the OOV token gets the average weight.
            idf = np.log(1 + self._num_documents / (1 + df)).astype(np.float32)
            oov = np.float32(idf.mean()) if idf.size else np.float32(np.nan)
            v.idf_weights = v.pad_idf(
                np.concatenate([[oov] * v.token_start(), idf]).astype(np.float32)
            )
        self.reset_state()
        v.record_vocabulary_size()

    def _tokenize(self, inputs):
        """Standardize, split and make ngrams (see ``Vectorizer.tokenize``)."""
        return self._vectorizer.tokenize(inputs)

    # ---- call ----------------------------------------------------------------------------
    def call(self, inputs):
        if is_symbolic(inputs):
            # In a model (``Input(shape=(1,), dtype="string")``): a node whose attributes
            # hold this layer's options and vocabulary as they are now.
            out = apply("text_vectorization", [inputs], **self._op_attrs())
            self._nodes.append(out.producer)
            return out
        return self._vectorizer.vectorize(inputs)

    def _sync_nodes(self):
        """A vocabulary loaded from a Keras file's assets (after the model is built from
        its config) reaches the nodes this layer recorded."""
        for node in self._nodes:
            node.attrs.update(self._op_attrs())

    def _op_attrs(self) -> dict:
        v = self._vectorizer
        attrs = {
            "layer": self.name,
            "max_tokens": v.max_tokens,
            "standardize": v.standardize,
            "split": v.split,
            "ngrams": _plain(v.ngrams_arg),
            "output_mode": v.output_mode,
            "output_sequence_length": v.output_sequence_length,
            "pad_to_max_tokens": v.pad_to_max_tokens,
            "encoding": v.encoding,
            "vocabulary": v.get_vocabulary() if v.tokens else None,
        }
        if _adapted_idf(v) is not None:
            attrs["idf_weights"] = _adapted_idf(v)
        if not v.tokens and v.frozen_vocab_size:
            # (a model built from a Keras config whose vocabulary comes in the assets)
            attrs["vocabulary_size"] = v.frozen_vocab_size
        return attrs

    # ---- Keras's saved state: the vocabulary asset and the idf weights ---------------------
    # Keras's layer keeps a StringLookup at ``_lookup_layer`` and delegates its state to it:
    # an adapted vocabulary is ``vocabulary.txt`` in the assets (one token per line, the
    # special tokens first) and the tf_idf weights are ``idf_weights`` in the weight file,
    # both at the layer's path and again at ``<path>/_lookup_layer`` (Keras's saving walk
    # visits the lookup layer too). graphc writes the vocabulary in the config (Keras
    # reads it there) and the idf weights at both paths, as Keras does.
    def _keras_children(self):
        return [("_lookup_layer", self._lookup_state)]

    def save_assets_dict(self) -> dict:
        return {}

    def load_assets_dict(self, assets: dict) -> None:
        if self._input_vocabulary is not None or "vocabulary.txt" not in assets:
            return
        lines = assets["vocabulary.txt"].decode("utf-8").splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        if not lines:
            return
        v = self._vectorizer
        if v.output_mode == "tf_idf":
            if v.idf_weights is None:  # the weights come after, from the weight file
                self.__dict__["_asset_tokens"] = lines
                return
            idf = np.asarray(v.idf_weights, "float32")[: len(lines)]
            v.set_vocabulary(lines, idf)
        else:
            v.set_vocabulary(lines)
        self._sync_nodes()

    def save_own_variables_dict(self) -> dict:
        v = self._vectorizer
        if v.output_mode == "tf_idf" and v.tokens and v.idf_weights is not None:
            return {"idf_weights": np.asarray(v.idf_weights, "float32")}
        return {}

    def own_variable_names(self) -> tuple:
        """The names ``load_own_variables_dict`` reads from Keras's weight file."""
        return ("idf_weights",) if self._vectorizer.output_mode == "tf_idf" else ()

    def load_own_variables_dict(self, store: dict) -> None:
        v = self._vectorizer
        if v.output_mode != "tf_idf" or "idf_weights" not in store:
            return
        idf = np.asarray(store["idf_weights"], "float32").reshape(-1)
        tokens = self._asset_tokens
        if tokens is not None:
            self.__dict__["_asset_tokens"] = None
            v.set_vocabulary(tokens, idf[: len(tokens)])
        elif v.tokens:
            v.idf_weights = v.pad_idf(idf[: v.vocabulary_size()])
        else:
            return
        self._sync_nodes()

    def compute_output_shape(self, input_shape):
        # (The layer's symbolic calls use the op's shape rule; this is Keras's method.)
        v = self._vectorizer
        if v.output_mode == "int":
            return (input_shape[0], v.output_sequence_length)
        depth = v.max_tokens if v.pad_to_max_tokens else v.frozen_vocab_size
        return (input_shape[0], depth)

    # ---- config and persistence ------------------------------------------------------------
    def get_config(self):
        v = self._vectorizer
        return {
            **super().get_config(),
            "max_tokens": v.max_tokens,
            "standardize": v.standardize,
            "split": v.split,
            "ngrams": _plain(v.ngrams_arg),
            "output_mode": v.output_mode,
            "output_sequence_length": v.output_sequence_length,
            "pad_to_max_tokens": v.pad_to_max_tokens,
            "sparse": False,
            "ragged": False,
            # An adapted vocabulary too (Keras keeps it in the saved assets), so a
            # saved model or from_config vectorizes as this layer does.
            "vocabulary": self._input_vocabulary
            if self._input_vocabulary is not None
            else (v.get_vocabulary() if v.tokens else None),
            "idf_weights": self._input_idf_weights
            if self._input_vocabulary is not None
            else _adapted_idf(v),
            "encoding": v.encoding,
            "vocabulary_size": v.vocabulary_size(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)


class _LookupState:
    """Keras's ``TextVectorization._lookup_layer`` as its saving walk sees it: the same
    vocabulary asset and idf weights as the layer (read and written through it)."""

    def __init__(self, layer):
        self._layer = layer
        self._params: list = []

    @property
    def name(self):
        return f"{self._layer.name}/_lookup_layer"

    def _keras_children(self):
        return []

    def save_assets_dict(self) -> dict:
        return self._layer.save_assets_dict()

    def load_assets_dict(self, assets: dict) -> None:
        self._layer.load_assets_dict(assets)

    def save_own_variables_dict(self) -> dict:
        return self._layer.save_own_variables_dict()

    def own_variable_names(self) -> tuple:
        return self._layer.own_variable_names()

    def load_own_variables_dict(self, store: dict) -> None:
        self._layer.load_own_variables_dict(store)
