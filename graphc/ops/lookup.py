"""Vocabulary lookup, as Keras 3's ``IndexLookup`` (the computation behind
``StringLookup`` and ``IntegerLookup``), in pure Python and NumPy: the ``index_lookup``
op, which a lookup layer records on a symbolic input, and ``Lookup``, the plain object
both the op's kernel and the layers' eager calls use.

Token ``i`` of the vocabulary (the tokens without the special ones) gets index
``token_start + i``, where ``token_start`` counts the mask index (0, in ``"int"`` mode
when ``mask_token`` is set) and the ``num_oov_indices`` out-of-vocabulary indices. An
unknown token maps to the one OOV index, or with several to ``token % num_oov_indices``
(integers, ``oov_method="floormod"``) or its FarmHash Fingerprint64 modulo the count
(``oov_method="farmhash"``, and strings; see ``graphc.ops.farmhash``). ``invert=True``
maps indices back to tokens (unknown indices to ``oov_token``). The vector modes
(``"one_hot"``, ``"multi_hot"``, ``"count"``, ``"tf_idf"``) encode the indices as Keras's
bincount path does; a masked token is dropped from them.

>>> lk = Lookup(["a", "b", "c"], "string")
>>> lk.lookup(np.array([["a", "c"], ["z", "b"]]))
array([[1, 3],
       [0, 2]])
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType
from graphc.ops.farmhash import cross_hash, hash_bucket_fast, hash_bucket_strong
from graphc.ops.registry import Op, apply

__all__ = ["Lookup", "index_lookup", "as_token_array"]

VECTOR_MODES = ("one_hot", "multi_hot", "count", "tf_idf")


def _decode(x, encoding="utf-8"):
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, bytes):
        return x.decode(encoding)
    return x


def as_token_array(inputs, vocabulary_dtype, layer="lookup", encoding="utf-8") -> np.ndarray:
    """``inputs`` (a list or an array of strings/bytes, or of integers) as an array of
    Python strings (object dtype) or int64."""
    if vocabulary_dtype == "string":
        arr = np.asarray(inputs, dtype=object) if not isinstance(inputs, np.ndarray) else inputs
        if arr.dtype.kind not in "USO":
            raise TypeError(
                f"Layer {layer!r} expects strings, received an array of dtype {arr.dtype} "
                f"and shape {arr.shape}. Pass strings (or bytes), or use IntegerLookup for "
                "integer tokens."
            )
        out = np.empty(arr.shape, dtype=object)
        flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
        for i, x in enumerate(flat_in):
            x = _decode(x, encoding)
            if not isinstance(x, str):
                raise TypeError(
                    f"Layer {layer!r} expects strings, received {type(x).__name__} {x!r}."
                )
            flat_out[i] = x
        return out
    arr = np.asarray(inputs)
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.equal(np.mod(arr, 1), 0)):
            return arr.astype("int64")
        raise TypeError(
            f"Layer {layer!r} expects integer tokens, received an array of dtype "
            f"{arr.dtype} and shape {arr.shape}. Cast the inputs to int64 first."
        )
    return arr.astype("int64")


def _hash_buckets(tokens: np.ndarray, num_buckets: int, salt=None) -> np.ndarray:
    """``tf.strings.to_hash_bucket_fast`` (FarmHash Fingerprint64 modulo the count) of
    each token's text (integers as their decimal text, as ``tf.strings.as_string``), or
    ``to_hash_bucket_strong`` (SipHash-2-4 keyed by ``salt``, two integers)."""
    flat = tokens.reshape(-1)
    out = np.empty(flat.shape, dtype="int64")
    for i, t in enumerate(flat.tolist()):
        text = t if isinstance(t, (str, bytes)) else str(int(t))
        if salt is None:
            out[i] = hash_bucket_fast(text, num_buckets)
        else:
            out[i] = hash_bucket_strong(text, num_buckets, salt)
    return out.reshape(tokens.shape)


def encode_ids(ids: np.ndarray, mode: str, depth: int, idf_weights=None) -> np.ndarray:
    """Keras's ``encode_categorical_inputs`` on integer ids (ids outside ``[0, depth)``,
    such as a masked token's, are dropped): float32 ``"one_hot"`` (a last axis of 1
    squeezed), or ``"multi_hot"``/``"count"``/``"tf_idf"`` rows over the last axis."""
    if ids.ndim == 0:
        ids = ids[None]
    if mode == "one_hot":
        if ids.shape[-1] == 1 and ids.ndim > 1:
            ids = ids[..., 0]
        valid = (ids >= 0) & (ids < depth)
        out = np.zeros(ids.shape + (depth,), "float32")
        idx = np.nonzero(valid)
        out[idx + (ids[valid],)] = 1.0
        return out
    if ids.ndim > 2:
        raise ValueError(
            "When output_mode is not `'int'`, maximum supported output rank is 2. "
            f"Received output_mode {mode} and input shape {ids.shape}, "
            f"which would result in output rank {ids.ndim}."
        )
    rows = ids[None] if ids.ndim == 1 else ids
    out = np.zeros((rows.shape[0], depth), "float32")
    for r, row in enumerate(rows):
        row = row[(row >= 0) & (row < depth)]
        np.add.at(out[r], row, 1.0)
    if mode == "multi_hot":
        out = np.minimum(out, 1.0)
    elif mode == "tf_idf":
        out = out * idf_weights[:depth]
    return out[0] if ids.ndim == 1 else out


class Lookup:
    """The vocabulary and options of one lookup; ``lookup(inputs)`` gives Keras's output.

    ``tokens`` are the vocabulary without special tokens, in index order."""

    def __init__(
        self,
        tokens,
        vocabulary_dtype,
        num_oov_indices=1,
        mask_token=None,
        oov_token="[UNK]",
        invert=False,
        output_mode="int",
        depth=None,
        idf_weights=None,
        oov_method="floormod",
        salt=None,
        layer="lookup",
        encoding="utf-8",
    ):
        self.tokens = list(tokens)
        self.vocabulary_dtype = vocabulary_dtype
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert, self.output_mode = bool(invert), output_mode
        self.depth = depth
        self.idf_weights = None if idf_weights is None else np.asarray(idf_weights, "float32")
        self.oov_method, self.salt = oov_method, salt
        self.layer, self.encoding = layer, encoding
        self.oov_start = 1 if mask_token is not None and output_mode == "int" else 0
        self.token_start = self.oov_start + self.num_oov_indices
        self.table = {t: self.token_start + i for i, t in enumerate(self.tokens)}

    def lookup(self, inputs) -> np.ndarray:
        if self.invert:
            return self._invert(inputs)
        x = as_token_array(inputs, self.vocabulary_dtype, self.layer, self.encoding)
        flat = x.reshape(-1)
        table = self.table
        ids = np.fromiter((table.get(t, -1) for t in flat.tolist()), "int64", len(flat))
        oov = ids < 0
        masked = None
        if self.mask_token is not None:
            masked = flat == self.mask_token
            oov &= ~masked
        if oov.any():
            if self.num_oov_indices == 0:
                raise ValueError(
                    "When `num_oov_indices=0` all inputs should be in vocabulary, found "
                    f"OOV values {flat[oov].tolist()}, consider setting `num_oov_indices=1`."
                )
            if self.num_oov_indices == 1:
                ids[oov] = self.oov_start
            elif self.vocabulary_dtype != "string" and self.oov_method != "farmhash":
                ids[oov] = np.mod(flat[oov].astype("int64"), self.num_oov_indices)
                ids[oov] += self.oov_start
            else:
                ids[oov] = _hash_buckets(flat[oov], self.num_oov_indices, self.salt)
                ids[oov] += self.oov_start
        if masked is not None:
            # 0 in "int" mode; dropped by the vector modes (Keras maps it to int64 max)
            ids[masked] = 0 if self.output_mode == "int" else -1
        ids = ids.reshape(x.shape)
        if self.output_mode == "int":
            return ids
        return self._encode(ids)

    def _encode(self, ids: np.ndarray) -> np.ndarray:
        return encode_ids(ids, self.output_mode, int(self.depth), self.idf_weights)

    def _invert(self, inputs) -> np.ndarray:
        ids = np.asarray(inputs)
        if ids.dtype.kind not in "iu":
            raise TypeError(
                f"Layer {self.layer!r} (invert=True) expects integer indices, received "
                f"an array of dtype {ids.dtype}."
            )
        ids = ids.astype("int64")
        vocab = self.vocabulary()
        string = self.vocabulary_dtype == "string"
        out = np.empty(ids.shape, dtype=object if string else "int64")
        flat_in, flat_out = ids.reshape(-1), out.reshape(-1)
        n = len(vocab)
        for i, k in enumerate(flat_in.tolist()):
            flat_out[i] = vocab[k] if self.token_start <= k < n else self.oov_token
            if k == 0 and self.mask_token is not None:
                flat_out[i] = self.mask_token
        return out

    def vocabulary(self, include_special_tokens=True) -> list:
        """Keras's ``get_vocabulary``: the mask token (at 0, "int" mode), the OOV token
        at each OOV index, then the tokens."""
        vocab = [self.oov_token] * self.token_start + list(self.tokens)
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        return vocab if include_special_tokens else vocab[self.token_start :]


class IndexLookupOp(Op):
    """Tokens (strings or integers) -> int64 indices of the same shape (``"int"``), or
    float32 vectors of ``depth`` (the vector modes); with ``invert``, indices -> tokens.
    Attributes: ``tokens``, ``vocabulary_dtype`` and the ``Lookup`` options."""

    name = "index_lookup"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        layer = attrs.get("layer", "index_lookup")
        string = attrs.get("vocabulary_dtype", "string") == "string"
        invert = attrs.get("invert", False)
        if invert:
            if not x.dtype.startswith("int"):
                raise ShapeError(
                    f"Lookup layer {layer!r} (invert=True) expects integer indices, got "
                    f"dtype {x.dtype}"
                )
            return TensorType(x.shape, "string" if string else "int64")
        if string and x.dtype != "string":
            raise ShapeError(
                f"StringLookup layer {layer!r} expects a string tensor "
                f'(Input(..., dtype="string")), got dtype {x.dtype}'
            )
        if not string and not x.dtype.startswith("int"):
            raise ShapeError(
                f"IntegerLookup layer {layer!r} expects an integer tensor "
                f'(Input(..., dtype="int64")), got dtype {x.dtype}'
            )
        mode = attrs.get("output_mode", "int")
        shape = tuple(x.shape)
        if mode == "int":
            return TensorType(shape, "int64")
        depth = attrs.get("depth")
        if depth is None:
            raise ShapeError(
                f"When using `output_mode={mode}` and `pad_to_max_tokens=False`, you must "
                "set the layer's vocabulary before calling it. Either pass a `vocabulary` "
                "argument to the layer, or call `adapt` with some sample data."
            )
        if mode == "one_hot":
            lead = shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape
            return TensorType(lead + (depth,), "float32")
        if len(shape) > 2:
            raise ShapeError(
                "When output_mode is not `'int'`, maximum supported output rank is 2. "
                f"Received output_mode {mode} and input shape {shape}"
            )
        return TensorType(shape[:-1] + (depth,), "float32")

    def kernel(self, attrs, x, *, ctx):
        return lookup_from_attrs(attrs).lookup(x)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)  # tokens and indices have no gradient

    def lower(self, attrs, b, x):
        layer = attrs.get("layer", "index_lookup")
        raise NotImplementedError(
            f"Lookup layer {layer!r} has no ONNX lowering (a vocabulary lookup of strings "
            "has no ONNX equivalent in the default domain). Export the model that takes "
            "the looked-up indices instead, and look the tokens up before calling it."
        )


_CACHE: dict = {}


def lookup_from_attrs(attrs) -> Lookup:
    key = id(attrs.get("tokens"))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is attrs.get("tokens") and hit[1] == _options(attrs):
        return hit[2]
    lk = Lookup(**_options(attrs), tokens=attrs.get("tokens", ()))
    if len(_CACHE) >= 16:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (attrs.get("tokens"), _options(attrs), lk)
    return lk


def _options(attrs) -> dict:
    return {
        "vocabulary_dtype": attrs.get("vocabulary_dtype", "string"),
        "num_oov_indices": attrs.get("num_oov_indices", 1),
        "mask_token": attrs.get("mask_token"),
        "oov_token": attrs.get("oov_token", "[UNK]"),
        "invert": attrs.get("invert", False),
        "output_mode": attrs.get("output_mode", "int"),
        "depth": attrs.get("depth"),
        "idf_weights": attrs.get("idf_weights"),
        "oov_method": attrs.get("oov_method", "floormod"),
        "salt": attrs.get("salt"),
        "layer": attrs.get("layer", "index_lookup"),
        "encoding": attrs.get("encoding", "utf-8"),
    }


def index_lookup(x, tokens, **attrs):
    """Record (or run) a vocabulary lookup; see ``IndexLookupOp``."""
    return apply("index_lookup", [x], tokens=tuple(tokens), **attrs)


# ---- Hashing and HashedCrossing ---------------------------------------------------------
def hash_values(values, num_bins, mask_value=None, salt=None) -> np.ndarray:
    """Keras's ``Hashing._hash_values_to_bins``: each value's bin (floats cast to int64,
    integers hashed as their decimal text); with ``mask_value``, bin 0 is the mask's and
    the others are ``1 + hash % (num_bins - 1)``."""
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind == "f":
        arr = arr.astype("int64")
    elif arr.dtype.kind in "USO":
        arr = as_token_array(arr, "string", "hashing")
    bins, mask = int(num_bins), None
    if mask_value is not None and bins > 1:
        bins -= 1
        mask = arr == mask_value
    out = _hash_buckets(arr, bins, salt)
    if mask is not None:
        out = np.where(mask, 0, out + 1)
    return out.astype("int64")


class HashingOp(Op):
    """Strings or integers -> int bins of the same shape (``"int"``) or float32 vectors of
    ``num_bins`` (``"one_hot"``, ``"multi_hot"``, ``"count"``)."""

    name = "hashing"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        mode, n = attrs.get("output_mode", "int"), attrs["num_bins"]
        shape = tuple(x.shape)
        if mode == "int":
            return TensorType(shape, attrs.get("dtype", "int64"))
        if mode == "one_hot" and shape and shape[-1] == 1:
            shape = shape[:-1]
            return TensorType(shape + (n,), "float32")
        if mode == "one_hot":
            return TensorType(shape + (n,), "float32")
        return TensorType(shape[:-1] + (n,), "float32")

    def kernel(self, attrs, x, *, ctx):
        mode, n = attrs.get("output_mode", "int"), attrs["num_bins"]
        x = np.asarray(x)
        if mode == "one_hot" and x.ndim and x.shape[-1] == 1:
            x = x[..., 0]
        ids = hash_values(x, n, attrs.get("mask_value"), attrs.get("salt"))
        if mode == "int":
            return ids.astype(attrs.get("dtype", "int64"))
        return encode_ids(ids, mode, n)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)

    def lower(self, attrs, b, x):
        raise NotImplementedError(
            f"Hashing layer {attrs.get('layer', 'hashing')!r} has no ONNX lowering (ONNX "
            "has no FarmHash). Export the model that takes the hashed bins instead."
        )


def hashed_crossing_values(inputs, num_bins) -> np.ndarray:
    """``tf.sparse.cross_hashed`` of equally shaped ``()``, ``(batch,)`` or ``(batch, 1)``
    features: one int64 bin per sample."""
    arrays = []
    for x in inputs:
        a = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if a.dtype.kind in "USO":
            a = as_token_array(a, "string", "hashed_crossing")
        elif a.dtype.kind not in "iub":
            raise ValueError(
                "All `HashedCrossing` inputs should have an integer or string dtype. "
                f"Received: an input of dtype {a.dtype}"
            )
        arrays.append(a)
    shape = arrays[0].shape
    flat = [a.reshape(-1).tolist() for a in arrays]
    out = np.fromiter(
        (cross_hash(vals, int(num_bins)) for vals in zip(*flat)), "int64", len(flat[0])
    )
    return out.reshape(shape)


class HashedCrossingOp(Op):
    """Two or more features ``()``, ``(batch,)`` or ``(batch, 1)`` -> int64 crossed bins
    of the same shape (``"int"``) or float32 one-hot rows of ``num_bins``."""

    name = "hashed_crossing"
    vjp_reads_inputs = False

    def infer(self, attrs, *xs):
        first = tuple(xs[0].shape)
        if len(xs) < 2:
            raise ShapeError(
                "`HashedCrossing` should be called on at least two inputs. "
                f"Received: {len(xs)} input"
            )
        if len(first) > 2 or (len(first) == 2 and first[-1] not in (1, None)):
            raise ShapeError(
                "All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or "
                f"`(batch_size, 1)`. Received: shape {first}"
            )
        if any(tuple(x.shape) != first for x in xs[1:]):
            raise ShapeError(
                "All `HashedCrossing` inputs should have equal shape. Received: shapes "
                f"{[tuple(x.shape) for x in xs]}"
            )
        if not all(x.dtype == "string" or x.dtype.startswith(("int", "uint")) for x in xs):
            raise ShapeError(
                "All `HashedCrossing` inputs should have an integer or string dtype. "
                f"Received: dtypes {[x.dtype for x in xs]}"
            )
        n = attrs["num_bins"]
        if attrs.get("output_mode", "int") == "int":
            return TensorType(first, attrs.get("dtype", "int64"))
        if first and first[-1] == 1:
            return TensorType(first[:-1] + (n,), "float32")
        return TensorType(first + (n,), "float32")

    def kernel(self, attrs, *xs, ctx):
        ids = hashed_crossing_values(xs, attrs["num_bins"])
        if attrs.get("output_mode", "int") == "int":
            return ids.astype(attrs.get("dtype", "int64"))
        return encode_ids(ids, "one_hot", attrs["num_bins"])

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return tuple(None for _ in xs)

    def lower(self, attrs, b, *xs):
        raise NotImplementedError(
            f"HashedCrossing layer {attrs.get('layer', 'hashed_crossing')!r} has no ONNX "
            "lowering (ONNX has no FarmHash). Export the model that takes the crossed bins."
        )
