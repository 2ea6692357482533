"""MultiHeadAttention (Keras 3), built from matmul, transpose, softmax and dropout ops.

>>> x = graphc.Input(shape=(None, 16))
>>> layer = graphc.layers.MultiHeadAttention(num_heads=2, key_dim=8)
>>> layer(x, x).shape
(None, None, 16)
>>> [w.shape for w in layer.weights][:2]
[(16, 2, 8), (2, 8)]

Keras's rules kept here:

- weights of its EinsumDense sub-layers ``query``, ``key`` (``gate``), ``value`` and
  ``attention_output``: kernels ``(dim, heads, key_dim)`` / ``(heads, value_dim, *out)``
  and biases ``(heads, key_dim)`` / ``out``, with EinsumDense's initializer fans (the
  input axes' product in, the output axes' out);
- masks: the query's and value's (and key's) Keras masks and ``attention_mask`` are and-ed
  into a ``(batch, heads, T, S)`` mask, with ``use_causal_mask`` and ``sliding_window``;
- a query row whose keys are all masked: uniform attention when Keras takes its
  ``dot_product_attention`` path (``dropout == 0`` and no scores returned), all zeros
  when it takes its Softmax-layer path (see ``graphc.ops.attention``);
- ``return_attention_scores`` returns the probabilities before dropout, ``(B, H, T, S)``.
"""

from __future__ import annotations

import math

import numpy as np

from graphc import initializers, ops
from graphc.errors import ArgumentValueError, ShapeError
from graphc.ir import Value, format_shape
from graphc.layers.base import Layer, get_keras_mask
from graphc.ops import attention as attention_ops
from graphc.ops import masking as mask_ops
from graphc.ops.shapes import known

__all__ = [
    "MultiHeadAttention",
    "GroupedQueryAttention",
    "GroupQueryAttention",
    "Attention",
    "AdditiveAttention",
]

_UNSUPPORTED = (
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
)


class _Projection(Layer):
    """The weights of one of Keras's EinsumDense projections inside MultiHeadAttention:
    ``kernel`` (its first ``n_in`` axes are the input units) and ``bias``. The attention
    layer composes their ops itself, so this layer is never called."""

    def __init__(
        self, name, kernel_shape, n_in, bias_shape, kernel_initializer, bias_initializer, dtype
    ):
        super().__init__(name=name, dtype=dtype)
        fan_in = math.prod(kernel_shape[:n_in])
        fan_out = math.prod(kernel_shape[n_in:])
        init = initializers.get(kernel_initializer)

        def kernel_init(shape, dtype=None):
            # EinsumDense's fans: drawn as the (fan_in, fan_out) matrix it stands for.
            return np.reshape(init((fan_in, fan_out), dtype=dtype), shape)

        self.kernel = self.add_weight(kernel_shape, kernel_init, name="kernel")
        self.bias = (
            None
            if bias_shape is None
            else self.add_weight(bias_shape, bias_initializer, name="bias")
        )
        self.built = True


def _split_inputs(query, value, key, what="MultiHeadAttention"):
    """``(query, value, key)`` from Keras's arguments or graphc's list form
    ``[query, value(, key)]`` (what a saved model's config replays)."""
    if isinstance(query, (list, tuple)):
        if value is not None or key is not None or not 2 <= len(query) <= 3:
            raise ValueError(
                f"{what} takes `query, value[, key]` as separate "
                "arguments or as one list [query, value(, key)], received "
                f"a list of {len(query)} and value={value!r}, key={key!r}"
            )
        query, value, key = (list(query) + [None])[:3]
    if value is None:
        raise TypeError(
            f"{what}.call() missing 1 required positional argument: "
            "'value' (pass the same tensor twice for self-attention)"
        )
    return query, value, key


def _is_shape(s) -> bool:
    return isinstance(s, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in s
    )


def _as_bool(mask):
    """Keras's defensive ``ops.cast(mask, "bool")``."""
    if isinstance(mask, Value):
        return mask if mask.dtype == "bool" else mask_ops.cast(mask, "bool")
    return np.asarray(mask).astype(bool)


class MultiHeadAttention(Layer):
    """Multi-head (scaled dot-product) attention, as ``keras.layers.MultiHeadAttention``.

    Call: ``layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)`` with rank-3
    ``(batch, sequence, features)`` inputs (attention over the sequence axis, Keras's
    default ``attention_axes``; other axes raise NotImplementedError).
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        attention_axes=None,
        sliding_window=None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_gate=False,
        seed=None,
        **kwargs,
    ):
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(
                "Received an invalid value for argument `num_heads`, expected "
                f"a positive integer. Received: num_heads={num_heads}"
            )
        if not isinstance(key_dim, int) or key_dim <= 0:
            raise ValueError(
                "Received an invalid value for argument `key_dim`, expected a "
                f"positive integer. Received: key_dim={key_dim}"
            )
        if value_dim is not None and (not isinstance(value_dim, int) or value_dim <= 0):
            raise ValueError(
                "Received an invalid value for argument `value_dim`, expected "
                f"a positive integer or `None`. Received: value_dim={value_dim}"
            )
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(
                "Invalid value received for argument `dropout`. Expected a "
                f"float value between 0 and 1. Received: dropout={dropout}"
            )
        super().__init__(**kwargs)
        given = dict(
            zip(
                _UNSUPPORTED,
                (
                    kernel_regularizer,
                    bias_regularizer,
                    activity_regularizer,
                    kernel_constraint,
                    bias_constraint,
                ),
            )
        )
        for key, value in given.items():
            if value is not None:
                raise NotImplementedError(
                    f"{type(self).__name__}: {key} is not supported by "
                    "graphc yet; remove it or add the penalty to the "
                    "loss yourself."
                )
        self._num_heads, self._key_dim = num_heads, key_dim
        self._value_dim = value_dim if value_dim else key_dim
        self._dropout = float(dropout)
        self._use_bias = bool(use_bias)
        self._use_gate = bool(use_gate)
        if output_shape:
            if isinstance(output_shape, int):
                output_shape = (output_shape,)
            if not isinstance(output_shape, (tuple, list)) or not all(
                isinstance(d, int) and d > 0 for d in output_shape
            ):
                raise ValueError(
                    f"Invalid `output_shape`: {output_shape}. When specified, "
                    "the `output_shape` should be of type tuple, list, or int "
                    "(of positive integers)."
                )
            output_shape = tuple(output_shape)
        self._output_shape = output_shape or None
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(
                "`attention_axes` must be an int, list, or tuple."
                f"Received: attention_axes={attention_axes}"
            )
        self._attention_axes = tuple(attention_axes) if attention_axes else None
        if sliding_window is not None and (
            not isinstance(sliding_window, int) or sliding_window <= 0
        ):
            raise ValueError(
                "`sliding_window` must be `None` or a positive integer. "
                f"Received: sliding_window={sliding_window}"
            )
        self._sliding_window = sliding_window
        # Flash attention is a kernel choice, not a different result: only its checks.
        self._flash_attention = bool(flash_attention)
        if self._flash_attention and self._dropout > 0.0:
            raise ValueError(
                "Dropout is not supported when flash attention is enabled. "
                "Please set dropout to 0.0 to use flash attention."
            )
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self._key_dim))

    # Keras's read-only properties (``output_shape`` is not one: it would clash with
    # the model's).
    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)

    # ---- building --------------------------------------------------------------------
    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None and not _is_shape(query_shape):
            query_shape, value_shape, key_shape = (list(query_shape) + [None])[:3]
        key_shape = value_shape if key_shape is None else key_shape
        query_shape, value_shape, key_shape = (
            tuple(s) for s in (query_shape, value_shape, key_shape)
        )
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                "All dimensions of `value` and `key`, except the last one, must "
                f"be equal. Received: value_shape={value_shape} and "
                f"key_shape={key_shape}"
            )
        for what, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3:
                raise NotImplementedError(
                    f"{self.name} ({type(self).__name__}): graphc supports rank-3 inputs "
                    f"(batch, sequence, features), received {what} of shape "
                    f"{format_shape(shape)}"
                )
            if not known(shape[-1]):
                raise ValueError(
                    f"{self.name} ({type(self).__name__}): the last dimension of "
                    f"the {what} must be known, received shape "
                    f"{format_shape(shape)}"
                )
        # Keras's default attention axes for rank-3 inputs: the sequence axis, (1,) of the
        # projected (batch, sequence, heads, dim); negative axes count from rank - 1.
        axes = (
            (1,)
            if self._attention_axes is None
            else tuple(a if a >= 0 else 3 + a for a in self._attention_axes)
        )
        if axes != (1,):
            raise NotImplementedError(
                f"{self.name} (MultiHeadAttention): graphc supports attention over the "
                f"sequence axis only (attention_axes=None or (1,)), received "
                f"attention_axes={self._attention_axes}"
            )
        self._attention_axes = axes
        heads, kd, vd = self._num_heads, self._key_dim, self._value_dim
        kv = self._num_key_value_heads()
        out = self._output_shape or (int(query_shape[-1]),)

        def projection(name, kernel_shape, n_in, bias_shape):
            return _Projection(
                name,
                kernel_shape,
                n_in,
                bias_shape if self._use_bias else None,
                self._kernel_initializer,
                self._bias_initializer,
                self.dtype,
            )

        # Keras's creation order, which is the weight order.
        self._query_dense = projection("query", (query_shape[-1], heads, kd), 1, (heads, kd))
        self._key_dense = projection("key", (key_shape[-1], kv, kd), 1, (kv, kd))
        if self._use_gate:
            self._gate_dense = projection("gate", (query_shape[-1], heads, vd), 1, (heads, vd))
        self._value_dense = projection("value", (value_shape[-1], kv, vd), 1, (kv, vd))
        self._output_dense = projection("attention_output", (heads, vd) + tuple(out), 2, tuple(out))

    def _num_key_value_heads(self):
        """The heads of the key and value projections (GroupedQueryAttention's fewer)."""
        return self._num_heads

    def _repeat_key_value(self, x):
        """Projected keys or values ``(B, kv_heads, S, dim)`` to the query's heads."""
        return x

    # ---- calling ---------------------------------------------------------------------
    def __call__(self, query, value=None, key=None, **kwargs):
        query, value, key = _split_inputs(query, value, key, type(self).__name__)
        inputs = [query, value] if key is None else [query, value, key]
        return super().__call__(inputs, **kwargs)

    def compute_mask(self, inputs, previous_mask):
        """The output carries the query's mask (Keras's ``previous_mask``)."""
        if isinstance(previous_mask, (list, tuple)):
            return previous_mask[0] if previous_mask else None
        return previous_mask

    def call(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
    ):
        query, value, key = _split_inputs(query, value, key, type(self).__name__)
        # Keras fills `value_mask` / `key_mask` from the tensors' Keras masks (here, not
        # in __call__: a mask is no layer output, so a saved config could not name it).
        if value_mask is None or isinstance(value_mask, (list, tuple)):
            value_mask = get_keras_mask(value)
        if key is not None and (key_mask is None or isinstance(key_mask, (list, tuple))):
            key_mask = get_keras_mask(key)
        key = value if key is None else key
        # As Keras: the query's own mask, whatever `query_mask` says (GroupedQueryAttention
        # takes a `query_mask` given, as Keras's).
        query_mask = self._query_mask(query, query_mask)
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                "Returning attention scores is not supported when flash "
                "attention is enabled. Please disable flash attention to access "
                "attention scores."
            )
        masks = self._masks(query_mask, value_mask, key_mask, attention_mask)

        q = self._project(query, self._query_dense)  # (B, H, T, key_dim)
        k = self._repeat_key_value(self._project(key, self._key_dense))  # (B, H, S, key_dim)
        v = self._repeat_key_value(self._project(value, self._value_dense))  # (B, H, S, v_dim)
        q = ops.multiply(q, np.float32(self._inverse_sqrt_key_dim))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))  # (B, H, T, S)
        # Keras's fused dot_product_attention path (no dropout, no scores returned)
        # leaves a fully masked row uniform; its Softmax-layer path zeroes it.
        softmax_layer_path = self._dropout > 0.0 or bool(return_attention_scores)
        if masks or use_causal_mask or self._sliding_window is not None:
            probs = ops.masked_softmax(
                scores,
                masks,
                causal=bool(use_causal_mask),
                sliding_window=self._sliding_window,
                zero_fully_masked=softmax_layer_path,
            )
        else:
            probs = ops.softmax(scores, axis=-1)
        weights = probs
        if self._dropout > 0.0 and training is not False:
            weights = ops.dropout(probs, self._dropout, seed=self.seed, training=training)
        out = ops.matmul(weights, v)  # (B, H, T, value_dim)
        if self._use_gate:
            out = ops.multiply(out, ops.sigmoid(self._project(query, self._gate_dense)))
        out = self._output(out)
        return (out, probs) if return_attention_scores else out

    @staticmethod
    def _query_mask(query, query_mask):
        return get_keras_mask(query)

    def _masks(self, query_mask, value_mask, key_mask, attention_mask):
        """Keras's masks as ``(B, 1, T, S)``-broadcastable booleans, and-ed by the op."""
        masks = []
        if query_mask is not None:  # (B, 1, T, 1)
            masks.append(ops.expand_dims(ops.expand_dims(_as_bool(query_mask), 1), -1))
        for m in (value_mask, key_mask):  # (B, 1, 1, S)
            if m is not None:
                masks.append(ops.expand_dims(ops.expand_dims(_as_bool(m), 1), 1))
        if attention_mask is not None:  # (B, T, S) -> 4-D
            m = _as_bool(attention_mask)
            for _ in range(4 - len(m.shape)):
                m = ops.expand_dims(m, -3)
            masks.append(m)
        return masks

    @staticmethod
    def _project(x, dense):
        """``einsum("abc,cde->abde", x, kernel) + bias``, as one ``(B, T, D) @ (D, H*K)``
        (Dense's fast path), then the heads split off: ``(B, H, T, K)``."""
        d, heads, dim = dense.kernel.shape
        y = ops.matmul(x, ops.reshape(dense.kernel, (d, heads * dim)))
        if dense.bias is not None:
            y = ops.add(y, ops.reshape(dense.bias, (heads * dim,)))
        y = attention_ops.reshape_trailing(y, 2, (heads, dim))  # (B, T, H, K)
        return ops.transpose(y, (0, 2, 1, 3))

    def _output(self, out):
        """``einsum("abcd,cde->abe", out, kernel) + bias``: the heads merged back,
        ``(B, T, H*V) @ (H*V, prod(out))``, then the output shape."""
        dense = self._output_dense
        heads, dim, *tail = dense.kernel.shape
        out = ops.transpose(out, (0, 2, 1, 3))  # (B, T, H, V)
        out = attention_ops.reshape_trailing(out, 2, (heads * dim,))
        y = ops.matmul(out, ops.reshape(dense.kernel, (heads * dim, math.prod(tail))))
        if dense.bias is not None:
            y = ops.add(y, ops.reshape(dense.bias, (math.prod(tail),)))
        if len(tail) > 1:
            y = attention_ops.reshape_trailing(y, 2, tail)
        return y

    # ---- config ----------------------------------------------------------------------
    def get_config(self):
        def as_list(t):
            return None if t is None else list(t)

        return {
            **super().get_config(),
            "num_heads": self._num_heads,
            "key_dim": self._key_dim,
            "value_dim": self._value_dim,
            "dropout": self._dropout,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "output_shape": as_list(self._output_shape),
            "attention_axes": as_list(self._attention_axes),
            "sliding_window": self._sliding_window,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            **{key: None for key in _UNSUPPORTED},
            "seed": self.seed,
        }


class GroupedQueryAttention(MultiHeadAttention):
    """Grouped-query attention, as ``keras.layers.GroupQueryAttention`` (Keras's class
    ``GroupedQueryAttention``): ``num_query_heads`` query heads share
    ``num_key_value_heads`` key and value heads, each repeated ``num_query_heads //
    num_key_value_heads`` times (1 key/value head: multi-query attention; as many as the
    query heads: multi-head attention).

    Call: ``layer(query, value, key=None, query_mask=None, value_mask=None,
    key_mask=None, attention_mask=None, return_attention_scores=False, training=None,
    use_causal_mask=False)``, rank-3 inputs whose query and value feature sizes agree.
    Weights, in Keras's order: ``query`` ``(dim, num_query_heads, head_dim)``, ``key``
    and ``value`` ``(dim, num_key_value_heads, head_dim)`` (``gate`` with ``use_gate``,
    between them), ``attention_output`` ``(num_query_heads, head_dim, dim)``, each with
    its bias when ``use_bias``. Masks, dropout, the causal and sliding-window masks and
    the two softmax paths (a fully masked query row) are MultiHeadAttention's.
    """

    def __init__(
        self,
        head_dim,
        num_query_heads,
        num_key_value_heads,
        dropout=0.0,
        use_bias=True,
        sliding_window=None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_gate=False,
        seed=None,
        **kwargs,
    ):
        for what, value in (
            ("head_dim", head_dim),
            ("num_query_heads", num_query_heads),
            ("num_key_value_heads", num_key_value_heads),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ArgumentValueError(
                    f"GroupedQueryAttention: `{what}` must be a positive integer, "
                    f"received {what}={value!r}"
                )
        if num_query_heads % num_key_value_heads != 0:
            raise ArgumentValueError(
                "`num_query_heads` must be divisible by `num_key_value_heads`. Received: "
                f"num_query_heads={num_query_heads}, "
                f"num_key_value_heads={num_key_value_heads}; pick a number of key/value "
                "heads that divides the query heads"
            )
        super().__init__(
            num_heads=int(num_query_heads),
            key_dim=int(head_dim),
            dropout=dropout,
            use_bias=use_bias,
            sliding_window=sliding_window,
            flash_attention=flash_attention,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            use_gate=use_gate,
            seed=seed,
            **kwargs,
        )
        self._num_kv_heads = int(num_key_value_heads)
        self.num_repeats = self._num_heads // self._num_kv_heads

    def config_class_name(self) -> str:
        return "GroupQueryAttention"  # the name Keras's configs give it

    head_dim = property(lambda self: self._key_dim)
    num_query_heads = property(lambda self: self._num_heads)
    num_key_value_heads = property(lambda self: self._num_kv_heads)

    def _num_key_value_heads(self):
        return self._num_kv_heads

    def _repeat_key_value(self, x):
        # Keras's ops.repeat(x, num_repeats, axis=2) on (B, S, kv_heads, dim): each
        # key/value head serves num_repeats consecutive query heads.
        return x if self.num_repeats == 1 else ops.repeat(x, self.num_repeats, axis=1)

    @staticmethod
    def _query_mask(query, query_mask):
        # Keras fills `query_mask` from the query's mask only when none is given (a list:
        # the masks of graphc's list form [query, value(, key)], filled the same way).
        if query_mask is None or isinstance(query_mask, (list, tuple)):
            return get_keras_mask(query)
        return query_mask

    def build(self, query_shape, value_shape=None, key_shape=None):
        self.compute_output_shape(query_shape, value_shape, key_shape)
        if value_shape is None and not _is_shape(query_shape):
            query_shape, value_shape, key_shape = (list(query_shape) + [None])[:3]
        super().build(query_shape, value_shape, key_shape)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        """The query's shape, as Keras's (which checks the feature sizes first)."""
        if value_shape is None and not _is_shape(query_shape):
            query_shape, value_shape, key_shape = (list(query_shape) + [None])[:3]
        key_shape = value_shape if key_shape is None else key_shape
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ShapeError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={format_shape(tuple(value_shape))} and "
                f"key_shape={format_shape(tuple(key_shape))}"
            )
        if query_shape[-1] != value_shape[-1]:
            raise ShapeError(
                "The last dimension of `query_shape` and `value_shape` must be equal, but "
                f"are {query_shape[-1]}, {value_shape[-1]}. Received: "
                f"query_shape={format_shape(tuple(query_shape))}, "
                f"value_shape={format_shape(tuple(value_shape))}; project the value to "
                "the query's feature size first (a Dense layer)"
            )
        return tuple(query_shape)

    def get_config(self):
        return {
            **Layer.get_config(self),
            "head_dim": self._key_dim,
            "num_query_heads": self._num_heads,
            "num_key_value_heads": self._num_kv_heads,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "sliding_window": self._sliding_window,
            "dropout": self._dropout,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            **{key: None for key in _UNSUPPORTED},
            "seed": self.seed,
        }


#: Keras's public name (``keras.layers.GroupQueryAttention``) for the same class.
GroupQueryAttention = GroupedQueryAttention


class Attention(Layer):
    """Keras's dot-product (Luong-style) attention: ``layer([query, value])`` or
    ``layer([query, value, key])``, shapes ``(batch, Tq, dim)``, ``(batch, Tv, dim)``.

    ``score_mode="dot"``: scores ``query @ key^T`` (times a learned scalar ``scale`` with
    ``use_scale``); ``"concat"``: ``concat_score_weight * sum(tanh(scale * (q + k)))``.
    The value's mask (and ``use_causal_mask``) hides keys, the query's mask zeroes output
    rows; ``dropout`` drops attention weights in training; ``return_attention_scores``
    also returns the softmaxed weights.
    """

    _SUPPORTS_MASKING = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode}"
            )
        self.use_scale, self.score_mode = use_scale, score_mode
        self.dropout, self.seed = dropout, seed
        self.scale = self.concat_score_weight = None

    def _validate_inputs(self, inputs, mask=None):
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"{name} layer must be called on a list of inputs, namely [query, value] "
                f"or [query, value, key]. Received: inputs={inputs}."
            )
        if not 2 <= len(inputs) <= 3:
            raise ValueError(
                f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] "
                f"or [query, value, key]. Received length: {len(inputs)}."
            )
        if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
            raise ValueError(
                f"{name} layer mask must be a list of length 2 or 3, namely "
                f"[query_mask, value_mask]. Received: mask={mask}."
            )

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        if self.use_scale:
            self.scale = self.add_weight((), "ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight((), "ones", name="concat_score_weight")

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            return scores if self.scale is None else ops.multiply(scores, self.scale)
        summed = ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3))
        if self.scale is not None:
            summed = ops.multiply(self.scale, summed)
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(summed), axis=-1))

    def call(
        self,
        inputs,
        mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        self._validate_inputs(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._calculate_scores(q, k)
        scores_mask = None if v_mask is None else ops.expand_dims(_as_bool(v_mask), -2)
        if use_causal_mask:
            tq, tv = scores.shape[-2], scores.shape[-1]
            if not (known(tq) and known(tv)):
                raise NotImplementedError(
                    f"{self.name}: use_causal_mask needs known sequence lengths, got scores "
                    f"of shape {format_shape(scores.shape)}"
                )
            causal = np.tril(np.ones((1, tq, tv), dtype=bool))
            scores_mask = causal if scores_mask is None else ops.logical_and(scores_mask, causal)
        if scores_mask is not None:
            big = 65504.0 if str(scores.dtype) == "float16" else 1.0e9
            scores = ops.where(ops.logical_not(scores_mask), ops.subtract(scores, big), scores)
        weights = ops.softmax(scores, axis=-1)
        if training is not False and self.dropout > 0:
            weights = ops.dropout(weights, self.dropout, training=training)
        out = ops.matmul(weights, v)
        if q_mask is not None:
            out = ops.where(ops.expand_dims(_as_bool(q_mask), -1), out, 0.0)
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs, previous_mask):
        """The output carries the query's mask."""
        if isinstance(previous_mask, (list, tuple)):
            return previous_mask[0] if previous_mask else None
        return previous_mask

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], input_shape[1][-1])

    def get_config(self):
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


class AdditiveAttention(Attention):
    """Keras's additive (Bahdanau-style) attention: scores
    ``sum(scale * tanh(query + key), axis=-1)``, ``scale`` a learned ``(dim,)`` vector
    (glorot-uniform) with ``use_scale`` (the default)."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        dim = input_shape[0][-1]
        if self.use_scale:
            if not known(dim):
                raise ValueError(
                    f"{self.name}: the query's last dimension must be known, got "
                    f"{format_shape(tuple(input_shape[0]))}"
                )
            self.scale = self.add_weight((dim,), "glorot_uniform", name="scale")

    def _calculate_scores(self, query, key):
        t = ops.tanh(ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3)))
        if self.use_scale:
            t = ops.multiply(self.scale, t)
        return ops.sum(t, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.pop("score_mode")
        return config
