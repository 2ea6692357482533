"""``TextVectorization``, as Keras 3's, in pure Python and NumPy (Keras uses TensorFlow's
string ops; graphc does not need TensorFlow).

Each text goes through: standardize (lowercase ASCII letters and/or remove Keras's 32
punctuation characters), split (ASCII whitespace, or Unicode characters), ngrams (joined
with a space), then lookup in a vocabulary learned by ``adapt`` (by descending frequency,
ties broken by descending token) or given directly. Outputs are NumPy arrays: int64 token
indices padded with 0 (``"int"``; 1 is the out-of-vocabulary token ``"[UNK]"``), or float32
``(batch, vocabulary size)`` rows for ``"multi_hot"``, ``"count"`` and ``"tf_idf"``.

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
import itertools
import os
import re
import string

import numpy as np

from graphc.layers.base import Layer
from graphc.ops.registry import apply, is_symbolic

__all__ = ["TextVectorization"]

MASK_TOKEN = ""
OOV_TOKEN = "[UNK]"
# The characters of Keras's regex r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']' (",-\." is
# the range ",-."): exactly string.punctuation.
PUNCTUATION = string.punctuation
# tf.strings.lower without an encoding lowercases ASCII letters only ("É" stays).
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_STRIP = str.maketrans("", "", PUNCTUATION)
_LOWER_AND_STRIP = str.maketrans(string.ascii_uppercase, string.ascii_lowercase, PUNCTUATION)
# tf.strings.split(sep=None) splits on C's isspace: ASCII whitespace only (not "\xa0",
# which Python's str.split() would also split on).
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_SPACE = " \t\n\v\f\r"
_TABLES = {"lower": _LOWER, "strip_punctuation": _STRIP,
           "lower_and_strip_punctuation": _LOWER_AND_STRIP}
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _validate_string_arg(value, allowed, arg_name, allow_none=False, allow_callables=False):
    """Keras's ``argument_validation.validate_string_arg``."""
    if (allow_none and value is None) or (allow_callables and callable(value)):
        return
    if isinstance(value, str) and value in allowed:
        return
    raise ValueError(f"Unknown value for `{arg_name}` argument of TextVectorization. "
                     f"Allowed values are: {allowed}. Received: {arg_name}={value}")


def _plain(x):
    """Config values as plain lists (Keras's ``listify_tensors``)."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return x


def _whitespace_split(text: str) -> list:
    text = text.strip(_ASCII_SPACE)
    return _WHITESPACE.split(text) if text else []


def _ngrams(tokens: list, widths) -> list:
    """tf.strings.ngrams(separator=" "): every width in turn, no padding, and sequences
    shorter than a width give none of that width."""
    out = []
    for w in widths:
        out.extend(" ".join(tokens[i:i + w]) for i in range(len(tokens) - w + 1))
    return out


def _adapted_idf(layer):
    """The adapted idf weights, one per vocabulary entry, for the config (tf_idf only)."""
    if layer._output_mode != "tf_idf" or layer.idf_weights is None or not layer._tokens:
        return None
    return layer.idf_weights[:layer.vocabulary_size()].tolist()


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

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 **kwargs):
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend.")
        if ragged:
            raise ValueError("`ragged=True` can only be used with the TensorFlow backend.")
        _validate_string_arg(standardize, ("lower_and_strip_punctuation", "lower",
                                           "strip_punctuation"), "standardize",
                             allow_none=True, allow_callables=True)
        _validate_string_arg(split, ("whitespace", "character"), "split", allow_none=True,
                             allow_callables=True)
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        _validate_string_arg(output_mode, _OUTPUT_MODES, "output_mode")
        if output_mode == "one_hot":
            raise NotImplementedError(
                "TextVectorization(output_mode='one_hot') needs TensorFlow in Keras too; "
                "use 'int', 'multi_hot', 'count' or 'tf_idf'.")
        if not (ngrams is None or isinstance(ngrams, int) or isinstance(ngrams, tuple)
                and all(isinstance(n, int) for n in ngrams)):
            raise ValueError("`ngrams` must be None, an integer, or a tuple of integers. "
                             f"Received: ngrams={ngrams}")
        if output_mode == "int" and not (isinstance(output_sequence_length, int)
                                         or output_sequence_length is None):
            raise ValueError("`output_sequence_length` must be either None or an integer "
                             "when `output_mode` is 'int'. Received: "
                             f"output_sequence_length={output_sequence_length}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError("`output_sequence_length` must not be set if `output_mode` is "
                             "not 'int'. "
                             f"Received output_sequence_length={output_sequence_length}.")
        # StringLookup's checks (Keras builds one inside TextVectorization).
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"If set, `max_tokens` must be greater than 1. Received: "
                             f"max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"If pad_to_max_tokens is True, must set `max_tokens`. "
                             f"Received: max_tokens={max_tokens}")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError("`idf_weights` should only be set if `output_mode` is "
                             f"`'tf_idf'`. Received: idf_weights={idf_weights} and "
                             f"output_mode={output_mode}")
        # Hidden options Keras keeps in the config.
        self._has_input_vocabulary = kwargs.pop("has_input_vocabulary",
                                                vocabulary is not None)
        self._frozen_vocab_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        self.built = True  # no weights: the vocabulary is state, not a weight

        self.max_tokens = max_tokens
        self.pad_to_max_tokens = pad_to_max_tokens
        self.encoding = encoding
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        # As Keras: a vocabulary file's path is not kept in the config.
        self._input_vocabulary = _plain(vocabulary) if not isinstance(vocabulary, str) \
            else None
        self._input_idf_weights = _plain(idf_weights)
        self._tokens: list[str] = []          # the vocabulary without special tokens
        self._index: dict[str, int] = {}      # token -> output index
        self.idf_weights = None               # float32, one per output index (tf_idf)
        self.reset_state()
        if output_mode == "tf_idf" and self._has_input_vocabulary and idf_weights is None:
            raise ValueError("When specifying the `vocabulary` argument, in TF-IDF output "
                             "mode, the `idf_weights` argument must also be provided.")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ---- indices -------------------------------------------------------------------------
    def _oov_index(self) -> int:
        # "int" reserves index 0 for padding (the mask token); the other modes drop it.
        return 1 if self._output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_index() + 1

    def vocabulary_size(self) -> int:
        """The size of the vocabulary, padding and OOV tokens included."""
        return len(self._tokens) + self._token_start()

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The vocabulary; with the special tokens, a token's position is its index."""
        special = [MASK_TOKEN, OOV_TOKEN] if self._output_mode == "int" else [OOV_TOKEN]
        return (special if include_special_tokens else []) + list(self._tokens)

    def _record_vocabulary_size(self):
        # As Keras: the output width of the vector modes must not change once set.
        size = self.vocabulary_size()
        if self._output_mode != "int" and not self.pad_to_max_tokens \
                and self._frozen_vocab_size is not None and size != self._frozen_vocab_size:
            raise RuntimeError(
                f"When using `output_mode={self._output_mode}` and `pad_to_max_tokens=False`, "
                "the vocabulary size cannot be changed after the layer is called. Old vocab "
                f"size is {self._frozen_vocab_size}, new vocab size is {size}")
        self._frozen_vocab_size = size

    def _set_tokens(self, tokens):
        self._tokens = list(tokens)
        start = self._token_start()
        self._index = {t: start + i for i, t in enumerate(self._tokens)}

    # ---- setting the vocabulary ------------------------------------------------------------
    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list/array of strings, or a file with one per line), and
        for ``"tf_idf"`` the idf weights, instead of adapting. Special tokens may lead the
        list (``["", "[UNK]", ...]`` in int mode, ``["[UNK]", ...]`` otherwise)."""
        mode = self._output_mode
        if mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        elif idf_weights is not None:
            raise ValueError("`idf_weights` should only be set if output_mode is "
                             f"`'tf_idf'`. Received: output_mode={mode} and "
                             f"idf_weights={idf_weights}")
        if isinstance(vocabulary, (str, os.PathLike)):
            path = os.fspath(vocabulary)
            if not os.path.exists(path):
                raise ValueError(f"Vocabulary file {path} does not exist.")
            if mode == "tf_idf":
                raise ValueError("output_mode `'tf_idf'` does not support loading a "
                                 "vocabulary from file.")
            with open(path, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
        vocabulary = np.array([self._decode(t) for t in np.asarray(vocabulary, dtype=object)
                               .reshape(-1)], dtype=object) \
            if np.size(vocabulary) else np.array([], dtype=object)
        if vocabulary.size == 0:
            raise ValueError("Cannot set an empty vocabulary. Received: vocabulary=[]")
        token_start = self._token_start()
        special = [MASK_TOKEN] * self._oov_index() + [OOV_TOKEN]
        found_special = list(vocabulary[:token_start]) == special
        tokens = list(vocabulary[token_start:] if found_special else vocabulary)
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError("The passed vocabulary has at least one repeated term. Please "
                             f"uniquify your dataset. The repeated terms are: {repeated}")
        if MASK_TOKEN in tokens:
            raise ValueError(
                "Found reserved mask token at unexpected location in `vocabulary`. Note "
                "that passed `vocabulary` does not need to include the OOV and mask tokens. "
                "Either remove all mask and OOV tokens, or include them only at the start "
                f"of the vocabulary in precisely this order: {special}. Received: "
                f"mask_token={MASK_TOKEN} at vocabulary index "
                f"{np.argwhere(vocabulary == MASK_TOKEN)[-1]}")
        size = token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError("Attempted to set a vocabulary larger than the maximum vocab "
                             f"size. Received vocabulary size is {size}; `max_tokens` is "
                             f"{self.max_tokens}.")
        if mode == "tf_idf":
            idf = np.asarray(idf_weights)
            if len(vocabulary) != len(idf):
                raise ValueError("`idf_weights` must be the same length as vocabulary. "
                                 f"len(idf_weights) is {len(idf)}; len(vocabulary) is "
                                 f"{len(vocabulary)}")
            if idf.ndim != 1:
                raise ValueError("TF-IDF data must be a 1-index array. "
                                 f"Received: type(idf_weights)={type(idf_weights)}")
        self._set_tokens(tokens)
        self._record_vocabulary_size()
        if mode == "tf_idf":
            # Without the special tokens given, the OOV weight is the weights' average.
            front = [] if found_special else [np.average(idf)] * token_start
            weights = np.concatenate([np.asarray(front, dtype=np.float64),
                                      idf.astype(np.float64)])
            self.idf_weights = self._pad_idf(weights.astype(np.float32))

    def _pad_idf(self, weights):
        """Zeros after the vocabulary up to ``max_tokens`` when padding to it."""
        if self.pad_to_max_tokens and self.max_tokens is not None:
            weights = np.pad(weights, (0, self.max_tokens - len(weights)))
        return weights.astype(np.float32)

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
            data = self._as_string_array(data)
            if data.ndim == 1:
                data = data[:, None]
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data):
        """Count the tokens of one batch of texts."""
        rows, lead = self._tokenize(data)
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static "
                             "vocabulary via `vocabulary` argument or `set_vocabulary()` "
                             "method.")
        for row in rows:
            self._token_counts.update(row)
        if self._output_mode == "tf_idf":
            # A document is one item of the batch's first axis (a lone sequence is one).
            per_doc = len(rows) // lead[0] if lead and lead[0] else len(rows)
            docs = [set().union(*rows[i:i + per_doc]) for i in range(0, len(rows), per_doc)] \
                if rows else []
            for doc in docs:
                self._document_counts.update(doc)
            self._num_documents += len(docs)

    def finalize_state(self):
        counts = self._token_counts
        if self._has_input_vocabulary or not counts:
            self._record_vocabulary_size()  # as Keras, an empty adapt keeps the vocabulary
            return
        counts.pop(MASK_TOKEN, None)
        counts.pop(OOV_TOKEN, None)
        # Keras: np.lexsort((tokens, counts))[::-1], so by descending count, ties broken
        # by descending token (UTF-8 byte order, which is code point order).
        tokens = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens:
            tokens = tokens[:self.max_tokens - self._token_start()]
        self._set_tokens(tokens)
        if self._output_mode == "tf_idf":
            df = np.array([self._document_counts[t] for t in tokens], dtype=np.int64)
            # Keras: log(1 + num_documents / (1 + document_count)), in float64, then float32;
            # the OOV token gets the average weight.
            idf = np.log(1 + self._num_documents / (1 + df)).astype(np.float32)
            oov = np.float32(idf.mean()) if idf.size else np.float32(np.nan)
            self.idf_weights = self._pad_idf(
                np.concatenate([[oov] * self._token_start(), idf]).astype(np.float32))
        self.reset_state()
        self._record_vocabulary_size()

    # ---- text processing -------------------------------------------------------------------
    def _decode(self, x):
        if isinstance(x, bytes):
            return x.decode(self.encoding)
        return x if isinstance(x, str) else str(x)

    def _as_string_array(self, inputs) -> np.ndarray:
        """Any list/array of str or bytes as an object array of Python strings."""
        arr = np.asarray(inputs, dtype=object) if not isinstance(inputs, np.ndarray) \
            else inputs
        if arr.dtype.kind not in "USO":
            raise TypeError(f"TextVectorization expects strings, received an array of "
                             f"dtype {arr.dtype} and shape {arr.shape}.")
        out = np.empty(arr.shape, dtype=object)
        flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
        for i, x in enumerate(flat_in):
            if not isinstance(x, (str, bytes, np.str_, np.bytes_)):
                raise TypeError(f"TextVectorization expects strings, received "
                                 f"{type(x).__name__} {x!r}.")
            flat_out[i] = self._decode(x.item() if isinstance(x, np.generic) else x)
        return out

    def _standardized(self, arr: np.ndarray) -> np.ndarray:
        if callable(self._standardize):
            # As Keras on non-TensorFlow backends: the callable gets a NumPy array of
            # unicode strings with the input's shape and returns one of the same shape.
            result = np.asarray(self._standardize(arr.astype(str)))
            return self._as_string_array(result)
        table = _TABLES.get(self._standardize)
        if table is None:
            return arr
        out = np.empty(arr.shape, dtype=object)
        out.reshape(-1)[:] = [s.translate(table) for s in arr.reshape(-1)]
        return out

    def _tokenize(self, inputs):
        """Standardize, split and make ngrams: a list of token lists and the batch shape
        they fill (a token list per item of ``lead``)."""
        arr = self._standardized(self._as_string_array(inputs))
        if self._split is None:
            # No split: the last axis holds each sequence's tokens (tf.strings.ngrams and
            # the lookup see the dense tensor as it is).
            if arr.ndim == 0:
                arr = arr.reshape(1)
            lead = arr.shape[:-1]
            rows = [list(r) for r in arr.reshape(-1, arr.shape[-1])] if arr.size else \
                [[] for _ in range(int(np.prod(lead)))]
        else:
            if arr.ndim > 1:
                if arr.shape[-1] != 1:
                    raise ValueError(
                        "When using `TextVectorization` to tokenize strings, the input rank "
                        "must be 1 or the last shape dimension must be 1. Received: "
                        f"inputs.shape={arr.shape} with rank={arr.ndim}")
                arr = arr[..., 0]
            lead = arr.shape
            texts = list(arr.reshape(-1))
            if self._split == "whitespace":
                rows = [_whitespace_split(s) for s in texts]
            elif self._split == "character":
                rows = [list(s) for s in texts]
            else:
                rows = self._custom_split(np.array(texts, dtype=str), len(texts))
        if self._ngrams is not None:
            rows = [_ngrams(r, self._ngrams) for r in rows]
        return rows, tuple(lead)

    def _custom_split(self, texts, n):
        """A callable ``split`` gets the 1-D array of standardized strings and returns
        one sequence of tokens per string (a list of lists, or a 2-D array)."""
        result = self._split(texts)
        rows = [[self._decode(t.item() if isinstance(t, np.generic) else t) for t in r]
                for r in (result.tolist() if isinstance(result, np.ndarray) else result)]
        if len(rows) != n:
            raise ValueError(f"The `split` callable must return one sequence of tokens per "
                             f"input string: it returned {len(rows)} for {n} strings.")
        return rows

    # ---- call ----------------------------------------------------------------------------
    def call(self, inputs):
        if is_symbolic(inputs):
            # In a model (``Input(shape=(1,), dtype="string")``): a node whose attributes
            # hold this layer's options and vocabulary as they are now.
            return apply("text_vectorization", [inputs], **self._op_attrs())
        return self._vectorize(inputs)

    def _op_attrs(self) -> dict:
        attrs = {"layer": self.name, "max_tokens": self.max_tokens,
                 "standardize": self._standardize, "split": self._split,
                 "ngrams": _plain(self._ngrams_arg), "output_mode": self._output_mode,
                 "output_sequence_length": self._output_sequence_length,
                 "pad_to_max_tokens": self.pad_to_max_tokens, "encoding": self.encoding,
                 "vocabulary": self.get_vocabulary() if self._tokens else None}
        if _adapted_idf(self) is not None:
            attrs["idf_weights"] = _adapted_idf(self)
        return attrs

    def _vectorize(self, inputs):
        """The eager computation (also the ``text_vectorization`` op's kernel)."""
        rows, lead = self._tokenize(inputs)
        oov = self._oov_index()
        index = self._index
        if self._output_mode == "int":
            lookup = [[index.get(t, 0 if t == MASK_TOKEN else oov) for t in r] for r in rows]
            length = self._output_sequence_length
            if length is None:  # pad to the longest sequence, as ragged.to_tensor()
                length = max((len(r) for r in lookup), default=0)
            out = np.zeros((len(lookup), length), dtype=np.int64)
            for i, r in enumerate(lookup):
                r = r[:length]
                out[i, :len(r)] = r
            return out.reshape(lead + (length,))
        if len(lead) > 1:
            raise ValueError(
                "When output_mode is not `'int'`, maximum supported output rank is 2. "
                f"Received output_mode {self._output_mode} and input shape "
                f"{lead + (None,)}, which would result in output rank {len(lead) + 1}.")
        depth = self._depth()
        if self._output_mode == "tf_idf" and self.idf_weights is None:
            raise ValueError("When `output_mode` is `'tf_idf'`, `idf_weights` must be "
                             "provided.")
        # The mask token (an empty string) is dropped, as are indices past the depth.
        lookup = [[index.get(t, oov) for t in r if t != MASK_TOKEN] for r in rows]
        flat = np.fromiter(itertools.chain.from_iterable(lookup), dtype=np.int64)
        row_ids = np.repeat(np.arange(len(rows), dtype=np.int64), [len(r) for r in lookup])
        keep = flat < depth
        keys, counts = np.unique(row_ids[keep] * depth + flat[keep], return_counts=True)
        out = np.zeros((len(rows), depth), dtype=np.float32)
        out.reshape(-1)[keys] = 1.0 if self._output_mode == "multi_hot" else counts
        if self._output_mode == "tf_idf":
            out *= self.idf_weights[:depth]
        return out.reshape(lead + (depth,))

    def _depth(self) -> int:
        if self.pad_to_max_tokens:
            return self.max_tokens
        if self._frozen_vocab_size is None:
            raise RuntimeError(
                f"When using `output_mode={self._output_mode}` and `pad_to_max_tokens=False`, "
                "you must set the layer's vocabulary before calling it. Either pass a "
                "`vocabulary` argument to the layer, or call `adapt` with some sample data.")
        return self._frozen_vocab_size

    def compute_output_shape(self, input_shape):
        # (The layer's symbolic calls use the op's shape rule; this is Keras's method.)
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        return (input_shape[0], depth)

    # ---- config and persistence ------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(),
                "max_tokens": self.max_tokens,
                "standardize": self._standardize,
                "split": self._split,
                "ngrams": _plain(self._ngrams_arg),
                "output_mode": self._output_mode,
                "output_sequence_length": self._output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens,
                "sparse": False,
                "ragged": False,
                # An adapted vocabulary too (Keras keeps it in the saved assets), so a
                # saved model or from_config vectorizes as this layer does.
                "vocabulary": self._input_vocabulary if self._input_vocabulary is not None
                else (self.get_vocabulary() if self._tokens else None),
                "idf_weights": self._input_idf_weights if self._input_vocabulary is not None
                else _adapted_idf(self),
                "encoding": self.encoding,
                "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)
