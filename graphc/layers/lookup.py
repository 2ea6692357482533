"""Keras 3's categorical preprocessing layers: ``StringLookup``, ``IntegerLookup``,
``Hashing`` and ``HashedCrossing``, in pure Python and NumPy (Keras runs them on
TensorFlow's lookup tables and string hashes; graphc needs no TensorFlow: the hashes are
FarmHash's ``Fingerprint64`` and SipHash-2-4, in ``graphc.ops.farmhash``).

Each runs eagerly on lists or arrays (strings, bytes or integers) and inside a model on
a symbolic input (``Input(shape=(1,), dtype="string")``), where it records one op holding
its options and vocabulary as they are at that call. Such a model predicts and trains
on raw tokens but has no ONNX export (export the model that takes the indices).

Outputs: int64 indices (``"int"``), or float32 vectors for ``"one_hot"``,
``"multi_hot"``, ``"count"`` and ``"tf_idf"`` (Keras declares float32 for its symbolic
outputs; its eager TensorFlow path returns int64 counts with the same values).

An adapted vocabulary is saved as Keras saves it: in the ``.keras`` file's assets
(``assets/<layer path>/vocabulary.txt``), with ``vocabulary=None`` in the config; the
``.graphc`` format keeps it in the config.

>>> layer = StringLookup(vocabulary=["a", "b", "c", "d"])
>>> layer([["a", "c", "d"], ["d", "z", "b"]])
array([[1, 3, 4],
       [4, 0, 2]])
"""

from __future__ import annotations

import collections
import os

import numpy as np

from graphc.layers.base import Layer
from graphc.ops.lookup import (
    Lookup,
    as_token_array,
    encode_ids,
    hash_values,
    hashed_crossing_values,
    index_lookup,
)
from graphc.ops.registry import apply, is_symbolic

__all__ = ["StringLookup", "IntegerLookup", "Hashing", "HashedCrossing"]

_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _listify(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return x


def _validate(value, allowed, caller, arg):
    """Keras's ``argument_validation.validate_string_arg``."""
    if isinstance(value, str) and value in allowed:
        return
    raise ValueError(
        f"Unknown value for `{arg}` argument of {caller}. Allowed values are: "
        f"{allowed}. Received: {arg}={value}"
    )


class _IndexLookup(Layer):
    """Keras's ``IndexLookup``: the vocabulary, ``adapt``, the config and the call."""

    _vocabulary_dtype = "string"

    def __init__(
        self,
        max_tokens,
        num_oov_indices,
        mask_token,
        oov_token,
        vocabulary_dtype,
        vocabulary=None,
        idf_weights=None,
        invert=False,
        output_mode="int",
        sparse=False,
        pad_to_max_tokens=False,
        oov_method="floormod",
        name=None,
        salt=None,
        **kwargs,
    ):
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(
                f"If set, `max_tokens` must be greater than 1. Received: max_tokens={max_tokens}"
            )
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(
                "If pad_to_max_tokens is True, must set `max_tokens`. "
                f"Received: max_tokens={max_tokens}"
            )
        if num_oov_indices < 0:
            raise ValueError(
                "`num_oov_indices` must be greater than or equal to 0. "
                f"Received: num_oov_indices={num_oov_indices}"
            )
        _validate(oov_method, ("floormod", "farmhash"), type(self).__name__, "oov_method")
        integer = vocabulary_dtype != "string"
        if salt is not None:
            if integer and oov_method != "farmhash":
                raise ValueError(
                    "`salt` can only be used when `oov_method='farmhash'`. "
                    f"Received: oov_method={oov_method}"
                )
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = list(salt)
            elif isinstance(salt, int):
                salt = [salt, salt]
            else:
                raise ValueError(
                    "The `salt` argument for `IndexLookup` can only be a tuple of 2 "
                    f"integers, or a single integer. Received: salt={salt}."
                )
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        _validate(output_mode, _OUTPUT_MODES, type(self).__name__, "output_mode")
        if invert and output_mode != "int":
            raise ValueError(
                "`output_mode` must be `'int'` when `invert` is true. "
                f"Received: output_mode={output_mode}"
            )
        if sparse and output_mode == "int":
            raise ValueError(
                "`sparse` may only be true if `output_mode` is `'one_hot'`, `'multi_hot'`, "
                f"`'count'` or `'tf_idf'`. Received: sparse={sparse} and "
                f"output_mode={output_mode}"
            )
        if sparse:
            raise ValueError(
                f"{type(self).__name__}(sparse=True) is not supported: graphc's tensors "
                "are dense (Keras too allows it only on the TensorFlow backend). Pass "
                "sparse=False."
            )
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                "`idf_weights` should only be set if `output_mode` is `'tf_idf'`. "
                f"Received: idf_weights={idf_weights} and output_mode={output_mode}"
            )
        frozen = kwargs.pop("vocabulary_size", None)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("dtype", None)
        trainable = kwargs.pop("trainable", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword argument(s): {kwargs}")
        super().__init__(name=name)
        if trainable is not None:
            self.trainable = trainable
        self.invert, self.max_tokens = bool(invert), max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, oov_token
        self.output_mode, self.sparse = output_mode, sparse
        self.pad_to_max_tokens = pad_to_max_tokens
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method, self.salt = oov_method, salt
        self._frozen_vocab_size = frozen
        # the config keeps a vocabulary given as tokens; a file's is saved as an asset
        self.input_vocabulary = vocabulary if not isinstance(vocabulary, str) else None
        self.input_idf_weights = idf_weights
        self._has_input_vocabulary = has_input_vocabulary
        self._tokens: list = []
        self._idf = None  # the padded idf weights (tf_idf)
        self._counts: collections.Counter = collections.Counter()
        self._doc_counts: collections.Counter = collections.Counter()
        self._num_documents = 0
        self.__dict__["_nodes"] = []  # the index_lookup nodes this layer recorded
        if output_mode == "tf_idf" and has_input_vocabulary and idf_weights is None:
            raise ValueError(
                "When specifying the `vocabulary` argument, in TF-IDF output mode, the "
                "`idf_weights` argument must also be provided."
            )
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ---- indices --------------------------------------------------------------------
    def _oov_start_index(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self):
        return self._oov_start_index() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The vocabulary's size, with the mask and OOV indices."""
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens=True) -> list:
        return self._lookup_object().vocabulary(include_special_tokens)

    def _lookup_object(self, depth=None) -> Lookup:
        return Lookup(
            self._tokens,
            self.vocabulary_dtype,
            num_oov_indices=self.num_oov_indices,
            mask_token=self.mask_token,
            oov_token=self.oov_token,
            invert=self.invert,
            output_mode=self.output_mode,
            depth=depth,
            idf_weights=self._idf,
            oov_method=self.oov_method,
            salt=self.salt,
            layer=self.name,
            encoding=getattr(self, "encoding", "utf-8"),
        )

    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size

    # ---- the vocabulary -------------------------------------------------------------
    def _read_vocabulary_file(self, path) -> list:
        if not os.path.exists(path):
            raise ValueError(f"Vocabulary file {path} does not exist.")
        if self.output_mode == "tf_idf":
            raise ValueError(
                "output_mode `'tf_idf'` does not support loading a vocabulary from file."
            )
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        # TextFileInitializer: one token per line (a final newline ends the last line)
        if lines and lines[-1] == "":
            lines.pop()
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        if self.vocabulary_dtype == "string":
            return lines
        return [int(line) for line in lines]

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list, a 1-D array or a text file's path, one token per
        line) and, in "tf_idf" mode, the idf weights, as Keras's ``set_vocabulary``."""
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        elif idf_weights is not None:
            raise ValueError(
                "`idf_weights` should only be set if output_mode is `'tf_idf'`. Received: "
                f"output_mode={self.output_mode} and idf_weights={idf_weights}"
            )
        from_file = isinstance(vocabulary, str)
        if from_file:
            vocabulary = self._read_vocabulary_file(vocabulary)
        vocab = list(np.asarray(vocabulary).tolist()) if not from_file else vocabulary
        if self.vocabulary_dtype == "string":
            vocab = [v.decode("utf-8") if isinstance(v, bytes) else v for v in vocab]
        else:
            vocab = [int(v) for v in vocab]
        if not vocab:
            raise ValueError(f"Cannot set an empty vocabulary. Received: vocabulary={vocabulary}")
        oov_start, token_start = self._oov_start_index(), self._token_start_index()
        special = [self.mask_token] * oov_start + [self.oov_token] * self.num_oov_indices
        found_special = vocab[:token_start] == special
        tokens = vocab[token_start:] if found_special else vocab
        if from_file:
            # TensorFlow's TextFileInitializer takes the file's lines as they are
            found_special, tokens = False, vocab
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(
                "The passed vocabulary has at least one repeated term. Please uniquify "
                f"your dataset. The repeated terms are: {repeated}"
            )

        def check_reserved(kind, token):
            if token is not None and token in tokens:
                raise ValueError(
                    f"Found reserved {kind} token at unexpected location in `vocabulary`. "
                    "Note that passed `vocabulary` does not need to include the OOV and mask "
                    "tokens. Either remove all mask and OOV tokens, or include them only at "
                    f"the start of the vocabulary in precisely this order: {special}. "
                    f"Received: {kind.lower()}_token={token} at vocabulary index "
                    f"{[len(vocab) - 1 - vocab[::-1].index(token)]}"
                )

        check_reserved("mask", self.mask_token)
        if self.invert:
            check_reserved("OOV", self.oov_token)
        size = token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(
                "Attempted to set a vocabulary larger than the maximum vocab size. "
                f"Received vocabulary size is {size}; `max_tokens` is {self.max_tokens}."
            )
        self._tokens = list(tokens)
        self._frozen_vocab_size = self.vocabulary_size()
        try:
            self._set_idf(idf_weights, vocab, found_special, token_start)
        finally:
            self._sync_nodes()

    def _set_idf(self, idf_weights, vocab, found_special, token_start):
        if self.output_mode == "tf_idf" and idf_weights is not None:
            idf = np.asarray(idf_weights, dtype="float64")
            if len(vocab) != len(idf):
                raise ValueError(
                    "`idf_weights` must be the same length as vocabulary. "
                    f"len(idf_weights) is {len(idf)}; len(vocabulary) is {len(vocab)}"
                )
            if idf.ndim != 1:
                raise ValueError(
                    f"TF-IDF data must be a 1-index array. Received: idf_weights={idf_weights}"
                )
            front, front_value = (0, 0) if found_special else (token_start, np.average(idf))
            back = (
                self.max_tokens - front - len(idf)
                if self.pad_to_max_tokens and self.max_tokens is not None
                else 0
            )
            self._idf = np.pad(idf, (front, back), constant_values=(front_value, 0)).astype(
                "float32"
            )

    # ---- adapt ----------------------------------------------------------------------
    def reset_state(self):
        if self._has_input_vocabulary:
            return
        self._counts = collections.Counter()
        self._doc_counts = collections.Counter()
        self._num_documents = 0

    def adapt(self, data, steps=None):
        """Learn the vocabulary from ``data`` (an array, a list, or an iterable of
        batches): tokens by decreasing count, ties by decreasing token, the first
        ``max_tokens`` minus the special ones kept; "tf_idf" learns
        ``log(1 + documents / (1 + documents with the token))``."""
        self.reset_state()
        if isinstance(data, (list, tuple, np.ndarray)) or not hasattr(data, "__iter__"):
            arr = as_token_array(data, self.vocabulary_dtype, self.name)
            if arr.ndim == 1:
                arr = arr[:, None]
            self.update_state(arr)
        else:
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data):
        if self._has_input_vocabulary:
            raise ValueError(
                f"Cannot adapt layer '{self.name}' after setting a static vocabulary via "
                "`vocabulary` argument or `set_vocabulary()` method."
            )
        arr = as_token_array(data, self.vocabulary_dtype, self.name)
        if arr.ndim == 0:
            arr = arr[None]
        if arr.ndim == 1:
            arr = arr[None]
        self._counts.update(arr.reshape(-1).tolist())
        if self.output_mode == "tf_idf":
            for row in arr:
                self._doc_counts.update(set(np.asarray(row).reshape(-1).tolist()))
            self._num_documents += arr.shape[0]

    def finalize_state(self):
        if self._has_input_vocabulary or not self._counts:
            self._frozen_vocab_size = self.vocabulary_size()
            return
        counts = dict(self._counts)
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(special, None)
        tokens = list(counts)
        # np.lexsort((tokens, counts))[::-1]: by count then token, both descending
        # (TensorFlow compares strings as UTF-8 bytes)
        if self.vocabulary_dtype == "string":
            keys = [t.encode("utf-8") for t in tokens]
        else:
            keys = tokens
        order = sorted(range(len(tokens)), key=lambda i: (counts[tokens[i]], keys[i]))[::-1]
        if self.max_tokens:
            order = order[: self.max_tokens - self._token_start_index()]
        self._tokens = [tokens[i] for i in order]
        if self.output_mode == "tf_idf":
            docs = np.array([self._doc_counts[t] for t in self._tokens], dtype="float64")
            idf = np.log(1 + self._num_documents / (1 + docs)).astype("float32")
            mean = idf.mean() if len(idf) else 0.0
            idf = np.pad(idf, (self._token_start_index(), 0), constant_values=mean)
            if self.pad_to_max_tokens and self.max_tokens is not None:
                idf = np.pad(idf, (0, self.max_tokens - len(idf)))
            self._idf = idf.astype("float32")
        self.reset_state()
        self._frozen_vocab_size = self.vocabulary_size()
        self._sync_nodes()

    # ---- call -----------------------------------------------------------------------
    def _check_ready(self):
        if self.output_mode == "int" or self.pad_to_max_tokens:
            return
        if self._frozen_vocab_size is None:
            raise RuntimeError(
                f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, "
                "you must set the layer's vocabulary before calling it. Either pass a "
                "`vocabulary` argument to the layer, or call `adapt` with some sample data."
            )

    def call(self, inputs):
        self._check_ready()
        depth = None if self.output_mode == "int" else self._depth()
        if is_symbolic(inputs):
            out = index_lookup(inputs, self._tokens, **self._op_attrs(depth))
            self._nodes.append(out.producer)
            return out
        return self._lookup_object(depth).lookup(inputs)

    def _sync_nodes(self):
        """A new vocabulary reaches the models already built on this layer (Keras's
        lookup table is the layer's state, which its models share); so does a model
        loaded from a file, whose vocabulary comes from the assets after it is built."""
        for node in self._nodes:
            depth = node.attrs.get("depth")
            node.attrs.update(self._op_attrs(depth), tokens=tuple(self._tokens))

    def _op_attrs(self, depth) -> dict:
        attrs = {
            "layer": self.name,
            "vocabulary_dtype": self.vocabulary_dtype,
            "num_oov_indices": self.num_oov_indices,
            "mask_token": self.mask_token,
            "oov_token": self.oov_token,
            "invert": self.invert,
            "output_mode": self.output_mode,
            "depth": depth,
            "oov_method": self.oov_method,
            "salt": None if self.salt is None else tuple(self.salt),
        }
        if self._idf is not None:
            attrs["idf_weights"] = tuple(float(w) for w in self._idf)
        if hasattr(self, "encoding"):
            attrs["encoding"] = self.encoding
        return attrs

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self._depth()
        input_shape = tuple(input_shape)
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,)

    # ---- config and assets ----------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary_dtype": self.vocabulary_dtype,
            "idf_weights": _listify(self.input_idf_weights),
            "vocabulary": _listify(self.input_vocabulary),
            "vocabulary_size": self._frozen_vocab_size,
            "oov_method": self.oov_method,
            "salt": self.salt,
        }

    def save_assets_dict(self) -> dict:
        """Keras's ``save_assets``: an adapted (or file) vocabulary as
        ``vocabulary.txt``, one token per line, the special tokens included; nothing when
        the config holds the vocabulary. In "tf_idf" mode graphc adds the idf weights as
        ``idf_weights.txt`` (Keras keeps them in the weight file, which graphc's ``.keras``
        files hold too; a ``.graphc`` file has only this)."""
        if self.input_vocabulary is not None or not self._tokens:
            return {}
        text = "\n".join(str(w) for w in self.get_vocabulary(include_special_tokens=True))
        out = {"vocabulary.txt": text.encode("utf-8")}
        if self.output_mode == "tf_idf" and self._idf is not None:
            out["idf_weights.txt"] = "\n".join(repr(float(w)) for w in self._idf).encode()
        return out

    def load_assets_dict(self, assets: dict) -> None:
        """Keras's ``load_assets`` (the idf weights may come before, from the weight
        file, or here, from graphc's ``idf_weights.txt``)."""
        if self.input_vocabulary is not None or "vocabulary.txt" not in assets:
            return
        lines = assets["vocabulary.txt"].decode("utf-8").splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        values = lines if self.vocabulary_dtype == "string" else [int(v) for v in lines]
        if "idf_weights.txt" in assets:
            text = assets["idf_weights.txt"].decode("utf-8").split()
            self._idf = np.asarray([float(v) for v in text], "float32")
        if self.output_mode != "tf_idf":
            self.set_vocabulary(values)
            return
        # the saved vocabulary starts with the special tokens, and the idf weights are
        # already padded: set both as they are
        start = self._token_start_index()
        self._tokens = list(values[start:])
        self._frozen_vocab_size = self.vocabulary_size()
        self._sync_nodes()

    # The tf_idf weights are a variable in Keras's weight file.
    def save_own_variables_dict(self) -> dict:
        if self.output_mode == "tf_idf" and self._idf is not None:
            return {"idf_weights": self._idf}
        return {}

    def own_variable_names(self) -> tuple:
        """The names ``load_own_variables_dict`` reads from Keras's weight file."""
        return ("idf_weights",) if self.output_mode == "tf_idf" else ()

    def load_own_variables_dict(self, store: dict) -> None:
        if self.output_mode == "tf_idf" and "idf_weights" in store:
            self._idf = np.asarray(store["idf_weights"], "float32")
            self._sync_nodes()

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class StringLookup(_IndexLookup):
    """Map strings to integer indices from a vocabulary (Keras 3's
    ``keras.layers.StringLookup``: arguments, defaults and errors as Keras's).

    >>> layer = StringLookup(vocabulary=["a", "b", "c", "d"], output_mode="multi_hot")
    >>> layer([["a", "c", "d", "d"], ["d", "z", "b", "z"]])
    array([[0., 1., 0., 1., 1.],
           [1., 0., 1., 0., 1.]], dtype=float32)
    """

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token="[UNK]",
        vocabulary=None,
        idf_weights=None,
        invert=False,
        output_mode="int",
        pad_to_max_tokens=False,
        sparse=False,
        encoding="utf-8",
        name=None,
        salt=None,
        **kwargs,
    ):
        self.__dict__["encoding"] = encoding
        kwargs.pop("vocabulary_dtype", None)
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            pad_to_max_tokens=pad_to_max_tokens,
            sparse=sparse,
            name=name,
            salt=salt,
            vocabulary_dtype="string",
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        del config["vocabulary_dtype"]
        return {**config, "encoding": self.encoding}


class IntegerLookup(_IndexLookup):
    """Map integers to indices from a vocabulary (Keras 3's ``keras.layers.IntegerLookup``).

    >>> layer = IntegerLookup(vocabulary=[12, 36, 1138, 42])
    >>> layer([[12, 1138, 42], [42, 1000, 36]])
    array([[1, 3, 4],
           [4, 0, 2]])
    """

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token=-1,
        vocabulary=None,
        vocabulary_dtype="int64",
        idf_weights=None,
        invert=False,
        output_mode="int",
        sparse=False,
        pad_to_max_tokens=False,
        oov_method="floormod",
        salt=None,
        name=None,
        **kwargs,
    ):
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(
                "If `max_tokens` is set for `IntegerLookup`, it must be greater than 1. "
                f"Received: max_tokens={max_tokens}"
            )
        if num_oov_indices < 0:
            raise ValueError(
                "The value of `num_oov_indices` argument for `IntegerLookup` must >= 0. "
                f"Received: num_oov_indices={num_oov_indices}"
            )
        if vocabulary_dtype != "int64":
            raise ValueError(
                "Only `vocabulary_dtype='int64'` is supported at this time. Received: "
                f"vocabulary_dtype={vocabulary_dtype}"
            )
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            vocabulary_dtype=vocabulary_dtype,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            oov_method=oov_method,
            salt=salt,
            name=name,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        if config["oov_token"] is not None:
            config["oov_token"] = int(config["oov_token"])
        if config["mask_token"] is not None:
            config["mask_token"] = int(config["mask_token"])
        if config["vocabulary"] is not None:
            config["vocabulary"] = [int(v) for v in config["vocabulary"]]
        return config


class Hashing(Layer):
    """Hash strings or integers into ``num_bins`` bins (Keras 3's ``keras.layers.Hashing``:
    FarmHash Fingerprint64, or SipHash-2-4 with a ``salt``, exactly as TensorFlow's).

    >>> Hashing(num_bins=3)([["A"], ["B"], ["C"], ["D"], ["E"]]).ravel()
    array([1, 0, 1, 1, 2])
    """

    def __init__(
        self,
        num_bins,
        mask_value=None,
        salt=None,
        output_mode="int",
        sparse=False,
        **kwargs,
    ):
        dtype = kwargs.pop("dtype", None)
        if isinstance(dtype, dict):  # a serialized dtype policy
            dtype = dtype.get("config", {}).get("name", dtype)
        if dtype is None:
            dtype = "int64" if output_mode == "int" else "float32"
        super().__init__(dtype=dtype, **kwargs)
        if num_bins is None or num_bins <= 0:
            raise ValueError(
                "The `num_bins` for `Hashing` cannot be `None` or non-positive values. "
                f"Received: num_bins={num_bins}."
            )
        if output_mode == "int" and self.dtype not in ("int32", "int64"):
            raise ValueError(
                "When `output_mode=\"int\"`, `dtype` should be an integer type, 'int32' "
                f"or 'in64'. Received: dtype={dtype}"
            )
        modes = ("int", "one_hot", "multi_hot", "count")
        if output_mode not in modes:
            raise ValueError(
                f"Invalid value for argument `output_mode`. Expected one of {modes}. "
                f"Received: output_mode={output_mode}"
            )
        if sparse and output_mode == "int":
            raise ValueError(
                '`sparse` may only be true if `output_mode` is `"one_hot"`, `"multi_hot"`, '
                f'or `"count"`. Received: sparse={sparse} and output_mode={output_mode}'
            )
        if sparse:
            raise ValueError(
                "Hashing(sparse=True) is not supported: graphc's tensors are dense. Pass "
                "sparse=False."
            )
        self.num_bins, self.mask_value = num_bins, mask_value
        self.strong_hash = salt is not None
        self.output_mode, self.sparse = output_mode, sparse
        self.salt = None
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                self.salt = list(salt)
            elif isinstance(salt, int):
                self.salt = [salt, salt]
            else:
                raise ValueError(
                    "The `salt` argument for `Hashing` can only be a tuple of size 2 "
                    f"integers, or a single integer. Received: salt={salt}."
                )

    def _attrs(self) -> dict:
        mask = self.mask_value
        if isinstance(mask, np.generic):
            mask = mask.item()
        return {
            "layer": self.name,
            "num_bins": int(self.num_bins),
            "mask_value": mask,
            "salt": None if self.salt is None else tuple(self.salt),
            "output_mode": self.output_mode,
            "dtype": self.dtype,
        }

    def call(self, inputs):
        if is_symbolic(inputs):
            return apply("hashing", [inputs], **self._attrs())
        x = np.asarray(inputs) if not isinstance(inputs, np.ndarray) else inputs
        if self.output_mode == "one_hot" and x.ndim and x.shape[-1] == 1:
            x = x[..., 0]
        ids = hash_values(x, self.num_bins, self.mask_value, self.salt)
        if self.output_mode == "int":
            return ids.astype(self.dtype)
        return encode_ids(ids, self.output_mode, int(self.num_bins)).astype(self.dtype)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_bins,)
        return tuple(input_shape[:-1]) + (self.num_bins,)

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "salt": self.salt,
            "mask_value": self.mask_value,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }


class HashedCrossing(Layer):
    """Cross two or more categorical features into ``num_bins`` bins (Keras 3's
    ``keras.layers.HashedCrossing``: TensorFlow's ``sparse.cross_hashed``).

    >>> layer = HashedCrossing(num_bins=5)
    >>> layer((np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])))
    array([1, 4, 1, 1, 3])
    """

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        if isinstance(dtype, dict):
            dtype = dtype.get("config", {}).get("name")
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        kwargs.pop("trainable", None)
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend.")
        _validate(output_mode, ("int", "one_hot"), "HashedCrossing", "output_mode")
        self.num_bins, self.output_mode, self.sparse = num_bins, output_mode, sparse

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                "`HashedCrossing` should be called on a list or tuple of inputs. "
                f"Received: inputs={inputs}"
            )
        if len(inputs) < 2:
            raise ValueError(
                "`HashedCrossing` should be called on at least two inputs. "
                f"Received: inputs={inputs}"
            )

    def call(self, inputs):
        self._check(inputs)
        attrs = {
            "layer": self.name,
            "num_bins": int(self.num_bins),
            "output_mode": self.output_mode,
            "dtype": self.dtype if self.output_mode == "int" else "float32",
        }
        if is_symbolic(inputs[0]):
            return apply("hashed_crossing", list(inputs), **attrs)
        arrays = [np.asarray(x) for x in inputs]
        first = arrays[0].shape
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise ValueError(
                "All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or "
                f"`(batch_size, 1)`. Received: inputs={inputs}"
            )
        if not all(a.shape == first for a in arrays[1:]):
            raise ValueError(
                f"All `HashedCrossing` inputs should have equal shape. Received: inputs={inputs}"
            )
        ids = hashed_crossing_values(arrays, self.num_bins)
        if self.output_mode == "int":
            return ids.astype(self.dtype)
        return encode_ids(ids, "one_hot", int(self.num_bins)).astype(self.dtype)

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        if self.output_mode == "int":
            return first
        if first and first[-1] == 1:
            return first[:-1] + (self.num_bins,)
        return first + (self.num_bins,)

    def get_config(self):
        return {
            "num_bins": self.num_bins,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "name": self.name,
            "dtype": self.dtype,
        }
