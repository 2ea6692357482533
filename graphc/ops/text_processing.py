"""Keras 3's ``TextVectorization`` computation in pure Python and NumPy, as a plain
object (no layer, no graph): the ``text_vectorization`` op's kernel builds one from its
attributes, and the ``TextVectorization`` layer holds one and delegates to it (the layer
keeps only what is about layers: the name, ``adapt``'s counts, the config).

Each text goes through: standardize (lowercase ASCII letters and/or remove Keras's 32
punctuation characters), split (ASCII whitespace, or Unicode characters), ngrams (joined
with a space), then lookup in the vocabulary. Outputs are NumPy arrays: int64 token
indices padded with 0 (``"int"``; 1 is the out-of-vocabulary token ``"[UNK]"``), or
float32 ``(batch, depth)`` rows for ``"multi_hot"``, ``"count"`` and ``"tf_idf"``.

>>> v = Vectorizer(output_mode="int", output_sequence_length=4)
>>> v.set_vocabulary(["", "[UNK]", "baz", "bar", "foo"])
>>> v.vectorize([["foo qux bar"], ["qux baz"]])
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

__all__ = ["Vectorizer", "MASK_TOKEN", "OOV_TOKEN", "PUNCTUATION", "OUTPUT_MODES"]

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
_TABLES = {
    "lower": _LOWER,
    "strip_punctuation": _STRIP,
    "lower_and_strip_punctuation": _LOWER_AND_STRIP,
}
OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def validate_string_arg(value, allowed, arg_name, allow_none=False, allow_callables=False):
    """Keras's ``argument_validation.validate_string_arg``."""
    if (allow_none and value is None) or (allow_callables and callable(value)):
        return
    if isinstance(value, str) and value in allowed:
        return
    raise ValueError(
        f"Unknown value for `{arg_name}` argument of TextVectorization. "
        f"Allowed values are: {allowed}. Received: {arg_name}={value}"
    )


def _whitespace_split(text: str) -> list:
    text = text.strip(_ASCII_SPACE)
    return _WHITESPACE.split(text) if text else []


def _ngrams(tokens: list, widths) -> list:
    """tf.strings.ngrams(separator=" "): every width in turn, no padding, and sequences
    shorter than a width give none of that width."""
    out = []
    for w in widths:
        out.extend(" ".join(tokens[i : i + w]) for i in range(len(tokens) - w + 1))
    return out


class Vectorizer:
    """The options (validated, with Keras's errors) and the vocabulary of a
    ``TextVectorization``, and the computation from texts to arrays (``vectorize``).

    The vocabulary state: ``tokens`` (without the special tokens), ``index`` (token ->
    output index), ``idf_weights`` (float32, one per output index, ``"tf_idf"`` only) and
    ``frozen_vocab_size`` (the output width of the vector modes once known)."""

    def __init__(
        self,
        max_tokens=None,
        standardize="lower_and_strip_punctuation",
        split="whitespace",
        ngrams=None,
        output_mode="int",
        output_sequence_length=None,
        pad_to_max_tokens=False,
        encoding="utf-8",
    ):
        validate_string_arg(
            standardize,
            ("lower_and_strip_punctuation", "lower", "strip_punctuation"),
            "standardize",
            allow_none=True,
            allow_callables=True,
        )
        validate_string_arg(
            split, ("whitespace", "character"), "split", allow_none=True, allow_callables=True
        )
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        validate_string_arg(output_mode, OUTPUT_MODES, "output_mode")
        if output_mode == "one_hot":
            raise NotImplementedError(
                "TextVectorization(output_mode='one_hot') needs TensorFlow in Keras too; "
                "use 'int', 'multi_hot', 'count' or 'tf_idf'."
            )
        if not (
            ngrams is None
            or isinstance(ngrams, int)
            or isinstance(ngrams, tuple)
            and all(isinstance(n, int) for n in ngrams)
        ):
            raise ValueError(
                "`ngrams` must be None, an integer, or a tuple of integers. "
                f"Received: ngrams={ngrams}"
            )
        if output_mode == "int" and not (
            isinstance(output_sequence_length, int) or output_sequence_length is None
        ):
            raise ValueError(
                "`output_sequence_length` must be either None or an integer "
                "when `output_mode` is 'int'. Received: "
                f"output_sequence_length={output_sequence_length}"
            )
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(
                "`output_sequence_length` must not be set if `output_mode` is "
                "not 'int'. "
                f"Received output_sequence_length={output_sequence_length}."
            )
        # StringLookup's checks (Keras builds one inside TextVectorization).
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(
                f"If set, `max_tokens` must be greater than 1. Received: max_tokens={max_tokens}"
            )
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(
                f"If pad_to_max_tokens is True, must set `max_tokens`. "
                f"Received: max_tokens={max_tokens}"
            )
        self.max_tokens = max_tokens
        self.pad_to_max_tokens = pad_to_max_tokens
        self.encoding = encoding
        self.standardize = standardize
        self.split = split
        self.ngrams_arg = ngrams  # as given (the config keeps it)
        self.ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.tokens: list[str] = []  # the vocabulary without special tokens
        self.index: dict[str, int] = {}  # token -> output index
        self.idf_weights = None  # float32, one per output index (tf_idf)
        self.frozen_vocab_size = None

    # ---- indices -------------------------------------------------------------------------
    def oov_index(self) -> int:
        # "int" reserves index 0 for padding (the mask token); the other modes drop it.
        return 1 if self.output_mode == "int" else 0

    def token_start(self) -> int:
        return self.oov_index() + 1

    def vocabulary_size(self) -> int:
        """The size of the vocabulary, padding and OOV tokens included."""
        return len(self.tokens) + self.token_start()

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The vocabulary; with the special tokens, a token's position is its index."""
        special = [MASK_TOKEN, OOV_TOKEN] if self.output_mode == "int" else [OOV_TOKEN]
        return (special if include_special_tokens else []) + list(self.tokens)

    def record_vocabulary_size(self):
        # As Keras: the output width of the vector modes must not change once set.
        size = self.vocabulary_size()
        if (
            self.output_mode != "int"
            and not self.pad_to_max_tokens
            and self.frozen_vocab_size is not None
            and size != self.frozen_vocab_size
        ):
            raise RuntimeError(
                f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, "
                "the vocabulary size cannot be changed after the layer is called. Old vocab "
                f"size is {self.frozen_vocab_size}, new vocab size is {size}"
            )
        self.frozen_vocab_size = size

    def set_tokens(self, tokens):
        self.tokens = list(tokens)
        start = self.token_start()
        self.index = {t: start + i for i, t in enumerate(self.tokens)}

    # ---- setting the vocabulary ------------------------------------------------------------
    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list/array of strings, or a file with one per line), and
        for ``"tf_idf"`` the idf weights. Special tokens may lead the list (``["",
        "[UNK]", ...]`` in int mode, ``["[UNK]", ...]`` otherwise)."""
        mode = self.output_mode
        if mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        elif idf_weights is not None:
            raise ValueError(
                "`idf_weights` should only be set if output_mode is "
                f"`'tf_idf'`. Received: output_mode={mode} and "
                f"idf_weights={idf_weights}"
            )
        if isinstance(vocabulary, (str, os.PathLike)):
            path = os.fspath(vocabulary)
            if not os.path.exists(path):
                raise ValueError(f"Vocabulary file {path} does not exist.")
            if mode == "tf_idf":
                raise ValueError(
                    "output_mode `'tf_idf'` does not support loading a vocabulary from file."
                )
            with open(path, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
        vocabulary = (
            np.array(
                [self.decode(t) for t in np.asarray(vocabulary, dtype=object).reshape(-1)],
                dtype=object,
            )
            if np.size(vocabulary)
            else np.array([], dtype=object)
        )
        if vocabulary.size == 0:
            raise ValueError("Cannot set an empty vocabulary. Received: vocabulary=[]")
        token_start = self.token_start()
        special = [MASK_TOKEN] * self.oov_index() + [OOV_TOKEN]
        found_special = list(vocabulary[:token_start]) == special
        tokens = list(vocabulary[token_start:] if found_special else vocabulary)
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(
                "The passed vocabulary has at least one repeated term. Please "
                f"uniquify your dataset. The repeated terms are: {repeated}"
            )
        if MASK_TOKEN in tokens:
            raise ValueError(
                "Found reserved mask token at unexpected location in `vocabulary`. Note "
                "that passed `vocabulary` does not need to include the OOV and mask tokens. "
                "Either remove all mask and OOV tokens, or include them only at the start "
                f"of the vocabulary in precisely this order: {special}. Received: "
                f"mask_token={MASK_TOKEN} at vocabulary index "
                f"{np.argwhere(vocabulary == MASK_TOKEN)[-1]}"
            )
        size = token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(
                "Attempted to set a vocabulary larger than the maximum vocab "
                f"size. Received vocabulary size is {size}; `max_tokens` is "
                f"{self.max_tokens}."
            )
        if mode == "tf_idf":
            idf = np.asarray(idf_weights)
            if len(vocabulary) != len(idf):
                raise ValueError(
                    "`idf_weights` must be the same length as vocabulary. "
                    f"len(idf_weights) is {len(idf)}; len(vocabulary) is "
                    f"{len(vocabulary)}"
                )
            if idf.ndim != 1:
                raise ValueError(
                    "TF-IDF data must be a 1-index array. "
                    f"Received: type(idf_weights)={type(idf_weights)}"
                )
        self.set_tokens(tokens)
        self.record_vocabulary_size()
        if mode == "tf_idf":
            # Without the special tokens given, the OOV weight is the weights' average.
            front = [] if found_special else [np.average(idf)] * token_start
            weights = np.concatenate([np.asarray(front, dtype=np.float64), idf.astype(np.float64)])
            self.idf_weights = self.pad_idf(weights.astype(np.float32))

    def pad_idf(self, weights):
        """Zeros after the vocabulary up to ``max_tokens`` when padding to it."""
        if self.pad_to_max_tokens and self.max_tokens is not None:
            weights = np.pad(weights, (0, self.max_tokens - len(weights)))
        return weights.astype(np.float32)

    # ---- text processing -------------------------------------------------------------------
    def decode(self, x):
        if isinstance(x, bytes):
            return x.decode(self.encoding)
        return x if isinstance(x, str) else str(x)

    def as_string_array(self, inputs) -> np.ndarray:
        """Any list/array of str or bytes as an object array of Python strings."""
        arr = np.asarray(inputs, dtype=object) if not isinstance(inputs, np.ndarray) else inputs
        if arr.dtype.kind not in "USO":
            raise TypeError(
                f"TextVectorization expects strings, received an array of "
                f"dtype {arr.dtype} and shape {arr.shape}."
            )
        out = np.empty(arr.shape, dtype=object)
        flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
        for i, x in enumerate(flat_in):
            if not isinstance(x, (str, bytes, np.str_, np.bytes_)):
                raise TypeError(
                    f"TextVectorization expects strings, received {type(x).__name__} {x!r}."
                )
            flat_out[i] = self.decode(x.item() if isinstance(x, np.generic) else x)
        return out

    def standardized(self, arr: np.ndarray) -> np.ndarray:
        if callable(self.standardize):
            # As Keras on non-TensorFlow backends: the callable gets a NumPy array of
            # unicode strings with the input's shape and returns one of the same shape.
            result = np.asarray(self.standardize(arr.astype(str)))
            return self.as_string_array(result)
        table = _TABLES.get(self.standardize)
        if table is None:
            return arr
        out = np.empty(arr.shape, dtype=object)
        out.reshape(-1)[:] = [s.translate(table) for s in arr.reshape(-1)]
        return out

    def tokenize(self, inputs):
        """Standardize, split and make ngrams: a list of token lists and the batch shape
        they fill (a token list per item of ``lead``)."""
        arr = self.standardized(self.as_string_array(inputs))
        if self.split is None:
            # No split: the last axis holds each sequence's tokens (tf.strings.ngrams and
            # the lookup see the dense tensor as it is).
            if arr.ndim == 0:
                arr = arr.reshape(1)
            lead = arr.shape[:-1]
            rows = (
                [list(r) for r in arr.reshape(-1, arr.shape[-1])]
                if arr.size
                else [[] for _ in range(int(np.prod(lead)))]
            )
        else:
            if arr.ndim > 1:
                if arr.shape[-1] != 1:
                    raise ValueError(
                        "When using `TextVectorization` to tokenize strings, the input rank "
                        "must be 1 or the last shape dimension must be 1. Received: "
                        f"inputs.shape={arr.shape} with rank={arr.ndim}"
                    )
                arr = arr[..., 0]
            lead = arr.shape
            texts = list(arr.reshape(-1))
            if self.split == "whitespace":
                rows = [_whitespace_split(s) for s in texts]
            elif self.split == "character":
                rows = [list(s) for s in texts]
            else:
                rows = self._custom_split(np.array(texts, dtype=str), len(texts))
        if self.ngrams is not None:
            rows = [_ngrams(r, self.ngrams) for r in rows]
        return rows, tuple(lead)

    def _custom_split(self, texts, n):
        """A callable ``split`` gets the 1-D array of standardized strings and returns
        one sequence of tokens per string (a list of lists, or a 2-D array)."""
        result = self.split(texts)
        rows = [
            [self.decode(t.item() if isinstance(t, np.generic) else t) for t in r]
            for r in (result.tolist() if isinstance(result, np.ndarray) else result)
        ]
        if len(rows) != n:
            raise ValueError(
                f"The `split` callable must return one sequence of tokens per "
                f"input string: it returned {len(rows)} for {n} strings."
            )
        return rows

    # ---- vectorization -------------------------------------------------------------------
    def vectorize(self, inputs):
        """Texts -> int64 token indices (``"int"``) or float32 rows (the vector modes)."""
        rows, lead = self.tokenize(inputs)
        oov = self.oov_index()
        index = self.index
        if self.output_mode == "int":
            lookup = [[index.get(t, 0 if t == MASK_TOKEN else oov) for t in r] for r in rows]
            length = self.output_sequence_length
            if length is None:  # pad to the longest sequence, as ragged.to_tensor()
                length = max((len(r) for r in lookup), default=0)
            out = np.zeros((len(lookup), length), dtype=np.int64)
            for i, r in enumerate(lookup):
                r = r[:length]
                out[i, : len(r)] = r
            return out.reshape(lead + (length,))
        if len(lead) > 1:
            raise ValueError(
                "When output_mode is not `'int'`, maximum supported output rank is 2. "
                f"Received output_mode {self.output_mode} and input shape "
                f"{lead + (None,)}, which would result in output rank {len(lead) + 1}."
            )
        depth = self.depth()
        if self.output_mode == "tf_idf" and self.idf_weights is None:
            raise ValueError("When `output_mode` is `'tf_idf'`, `idf_weights` must be provided.")
        # The mask token (an empty string) is dropped, as are indices past the depth.
        lookup = [[index.get(t, oov) for t in r if t != MASK_TOKEN] for r in rows]
        flat = np.fromiter(itertools.chain.from_iterable(lookup), dtype=np.int64)
        row_ids = np.repeat(np.arange(len(rows), dtype=np.int64), [len(r) for r in lookup])
        keep = flat < depth
        keys, counts = np.unique(row_ids[keep] * depth + flat[keep], return_counts=True)
        out = np.zeros((len(rows), depth), dtype=np.float32)
        out.reshape(-1)[keys] = 1.0 if self.output_mode == "multi_hot" else counts
        if self.output_mode == "tf_idf":
            out *= self.idf_weights[:depth]
        return out.reshape(lead + (depth,))

    def depth(self) -> int:
        """The width of the vector modes' output."""
        if self.pad_to_max_tokens:
            return self.max_tokens
        if self.frozen_vocab_size is None:
            raise RuntimeError(
                f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, "
                "you must set the layer's vocabulary before calling it. Either pass a "
                "`vocabulary` argument to the layer, or call `adapt` with some sample data."
            )
        return self.frozen_vocab_size
