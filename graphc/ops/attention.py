"""Attention ops: ``masked_softmax``, the softmax of attention logits over their last axis
with Keras's masking rules (boolean masks, a causal mask and a sliding window), and
``reshape_trailing``, a reshape that keeps the leading (batch, sequence) dimensions as they
are, known or not (splitting and merging attention heads).

Keras masks attention logits in two ways, which differ only on a row where every key is
masked (a padded query position):

- its ``Softmax`` layer (``MultiHeadAttention`` with dropout, or when it returns the
  scores): masked logits become -1e9, and masked probabilities are zeroed afterwards, so
  a fully masked row is all zeros (``zero_fully_masked=True``);
- ``keras.ops.dot_product_attention`` (``MultiHeadAttention`` otherwise): a bias of
  ``-0.7 * 3.38953e38`` is added to the masked logits, so a fully masked row is uniform
  (``zero_fully_masked=False``).

The gradient is the softmax's, ``y * (g - sum(g * y))`` from the final output ``y``, as
autograd computes it for both forms (so a uniform, fully masked row does pass gradient).

>>> import numpy as np
>>> from graphc import ops
>>> x = np.zeros((1, 2, 3), dtype="float32")
>>> ops.masked_softmax(x, [np.array([[[True, True, False]]])])[0, 0]
array([0.5, 0.5, 0. ], dtype=float32)
>>> ops.masked_softmax(x, causal=True)[0, 0]
array([1., 0., 0.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from graphc.errors import NotDifferentiableError, ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import dims_compatible, known, product

__all__ = ["masked_softmax", "onnx_attention"]

_SOFTMAX_FILL = -1e9  # keras.layers.Softmax's masked logits (float32)
_BIAS = 3.38953e38 * -0.7  # keras.ops.dot_product_attention's mask bias (float32)


def _band(attrs, t: int, s: int) -> np.ndarray | None:
    """The ``(t, s)`` causal / sliding-window mask, or None when there is neither."""
    causal, window = attrs.get("causal", False), attrs.get("sliding_window")
    if not causal and window is None:
        return None
    rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
    keep = np.ones((t, s), dtype=bool)
    if causal:
        keep &= rows >= cols
    if window is not None:
        keep &= np.abs(rows - cols) < window
    return keep


class MaskedSoftmax(Op):
    """``softmax(x, axis=-1)`` where the boolean ``masks`` (any number, each broadcasting
    to ``x``; they are and-ed) and the ``causal`` / ``sliding_window`` band (over the last
    two axes, query by key) allow; see the module docstring for ``zero_fully_masked``."""

    name = "masked_softmax"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, x, *masks):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected floating-point logits, got dtype {x.dtype}")
        band = attrs.get("causal", False) or attrs.get("sliding_window") is not None
        if band and len(x.shape) < 2:
            raise ShapeError(
                f"a causal or sliding-window mask needs logits of rank >= 2, "
                f"got {format_shape(x.shape)}"
            )
        window = attrs.get("sliding_window")
        if window is not None and (not isinstance(window, int) or window <= 0):
            raise ShapeError(f"sliding_window must be a positive integer, got {window!r}")
        for m in masks:
            if m.dtype != "bool":
                raise ShapeError(f"masks must be boolean, got dtype {m.dtype}")
            # Each mask dimension is 1 or the logits' own: the mask never widens them.
            tail = x.shape[len(x.shape) - len(m.shape) :] if m.shape else ()
            if len(m.shape) > len(x.shape) or any(
                d != 1 and not dims_compatible(d, xd) for d, xd in zip(m.shape, tail)
            ):
                raise ShapeError(
                    f"mask {format_shape(m.shape)} does not broadcast to the "
                    f"logits {format_shape(x.shape)}"
                )
        return TensorType(tuple(x.shape), x.dtype)

    def kernel(self, attrs, x, *masks, ctx):
        keep = None
        for m in masks:
            keep = m if keep is None else keep & m
        band = _band(attrs, x.shape[-2], x.shape[-1]) if x.ndim >= 2 else None
        if band is not None:
            keep = band if keep is None else keep & band
        if keep is None:
            logits = x
        elif attrs.get("zero_fully_masked", True):
            logits = np.where(keep, x, x.dtype.type(_SOFTMAX_FILL))
        else:
            logits = x + np.where(keep, x.dtype.type(0), x.dtype.type(_BIAS))
        e = logits - logits.max(axis=-1, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=-1, keepdims=True)
        if keep is not None and attrs.get("zero_fully_masked", True):
            e = np.where(keep, e, x.dtype.type(0))
        return e.astype(x.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        y, g = ys[0], gys[0]
        return (y * (g - (g * y).sum(axis=-1, keepdims=True)),) + (None,) * (len(xs) - 1)

    def lower(self, attrs, b, x, *masks):
        keep = None
        for m in masks:
            keep = m if keep is None else b.op("And", keep, m)
        band = self._lower_band(attrs, b, x)
        if band is not None:
            keep = band if keep is None else b.op("And", keep, band)
        if keep is None:
            return b.op("Softmax", x, axis=-1)
        if attrs.get("zero_fully_masked", True):
            y = b.op("Softmax", b.op("Where", keep, x, b.scalar(_SOFTMAX_FILL)), axis=-1)
            return b.op("Where", keep, y, b.scalar(0.0))
        bias = b.op("Where", keep, b.scalar(0.0), b.scalar(_BIAS))
        return b.op("Softmax", b.op("Add", x, bias), axis=-1)

    @staticmethod
    def _lower_band(attrs, b, x):
        """The band mask: a constant when both lengths are known, else built at run time
        from the logits' shape (``Range`` and comparisons, available from opset 11)."""
        if not attrs.get("causal", False) and attrs.get("sliding_window") is None:
            return None
        t, s = b.in_types[0].shape[-2:]
        if isinstance(t, int) and isinstance(s, int):
            return b.const(_band(attrs, t, s))

        def i64(v):
            return b.const(np.asarray(v, dtype=np.int64))

        shape = b.op("Shape", x)
        rank = len(b.in_types[0].shape)
        length = [b.op("Gather", shape, i64(rank + k), axis=0) for k in (-2, -1)]
        rows = b.op("Unsqueeze", b.op("Range", i64(0), length[0], i64(1)), i64([1]))
        cols = b.op("Range", i64(0), length[1], i64(1))
        keep = None
        if attrs.get("causal", False):
            keep = b.op("GreaterOrEqual", rows, cols)
        window = attrs.get("sliding_window")
        if window is not None:
            w = i64(int(window))
            near = b.op(
                "And",
                b.op("Less", b.op("Sub", rows, cols), w),
                b.op("Less", b.op("Sub", cols, rows), w),
            )
            keep = near if keep is None else b.op("And", keep, near)
        return keep


class ReshapeTrailing(Op):
    """Keep the first ``keep`` dimensions and reshape the rest to ``shape`` (one entry
    may be -1): ``(B, T, H * K) -> (B, T, H, K)`` with B and T unknown, which ``reshape``
    (one -1 at most) cannot say. ONNX ``Reshape`` with 0 ("copy this dimension")."""

    name = "reshape_trailing"

    def infer(self, attrs, x):
        keep, shape = int(attrs["keep"]), tuple(attrs["shape"])
        if not 0 <= keep <= len(x.shape):
            raise ShapeError(f"keep={keep} is out of range for a tensor of rank {len(x.shape)}")
        if sum(d == -1 for d in shape) > 1 or any(d < -1 or d == 0 for d in shape):
            raise ShapeError(
                f"the trailing shape takes positive entries and at most one -1, got {shape}"
            )
        total, fixed = product(x.shape[keep:]), product(d for d in shape if d != -1)
        if total is not None and (total % fixed if -1 in shape else total != fixed):
            raise ShapeError(
                f"cannot reshape the trailing dimensions of "
                f"{format_shape(x.shape)} ({total} values) into {shape}"
            )
        fill = total // fixed if known(total) else None
        return TensorType(
            tuple(x.shape[:keep]) + tuple(fill if d == -1 else d for d in shape), x.dtype
        )

    def kernel(self, attrs, x, *, ctx):
        return x.reshape(x.shape[: int(attrs["keep"])] + tuple(attrs["shape"]))

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (gys[0].reshape(xs[0].shape),)

    def lower(self, attrs, b, x):
        target = [0] * int(attrs["keep"]) + [int(d) for d in attrs["shape"]]
        return b.op("Reshape", x, b.const(np.asarray(target, dtype=np.int64)))


def reshape_trailing(x, keep, shape):
    """``x`` with its first ``keep`` dimensions kept and the rest reshaped to ``shape``."""
    return apply("reshape_trailing", [x], keep=int(keep), shape=tuple(int(d) for d in shape))


def masked_softmax(x, masks=(), causal=False, sliding_window=None, zero_fully_masked=True):
    """Softmax over the last axis of attention logits ``x`` (``(..., queries, keys)``),
    keeping only where every boolean mask in ``masks`` is True, the causal band (query
    ``i`` sees keys ``j <= i``) when ``causal``, and ``|i - j| < sliding_window``."""
    attrs = {"causal": bool(causal), "zero_fully_masked": bool(zero_fully_masked)}
    if sliding_window is not None:
        attrs["sliding_window"] = int(sliding_window)
    return apply("masked_softmax", [x, *masks], **attrs)


# ---- ONNX's Attention (opsets 23-25) ------------------------------------------------------
def _attention_parts(attrs, q, k, v, mask, past_k, past_v, nonpad):
    """ONNX Attention's forward pass, as onnx's reference evaluator computes it; returns
    the outputs and what the VJP needs (4-D Q, repeated K and V, the bias, P, softcap)."""
    three_d = q.ndim == 3
    hq, hkv = attrs.get("q_num_heads"), attrs.get("kv_num_heads")
    if three_d:
        b = q.shape[0]
        q = q.reshape(b, q.shape[1], hq, -1).transpose(0, 2, 1, 3)
        k = k.reshape(b, k.shape[1], hkv, -1).transpose(0, 2, 1, 3)
        v = v.reshape(b, v.shape[1], hkv, -1).transpose(0, 2, 1, 3)
    dt = q.dtype.type
    scale = attrs.get("scale")
    scale = 1 / np.sqrt(q.shape[3]) if scale is None else scale
    s = dt(np.sqrt(scale))
    pk = k if past_k is None else np.concatenate((past_k, k), axis=2)
    pv = v if past_v is None else np.concatenate((past_v, v), axis=2)
    tq, tk = q.shape[2], pk.shape[2]
    bias = np.zeros((tq, tk), dtype=q.dtype)
    if mask is not None and tk - mask.shape[-1] > 0:
        fill = False if mask.dtype == np.bool_ else -np.inf
        mask = np.pad(
            mask, [(0, 0)] * (mask.ndim - 1) + [(0, tk - mask.shape[-1])], constant_values=fill
        )
    if nonpad is not None and past_k is None:
        offset = np.asarray(nonpad).reshape(-1) - tq
    else:
        offset = past_k.shape[2] if past_k is not None else 0
    rows, cols = np.arange(tq)[:, None], np.arange(tk)[None, :]
    left, right = attrs.get("left_window_size", -1), attrs.get("right_window_size", -1)

    def band(allowed_of_diff, base):
        per_batch = np.ndim(offset) > 0
        diff = rows + (np.reshape(offset, (-1, 1, 1)) if per_batch else int(offset)) - cols
        allowed = allowed_of_diff(diff)
        add = np.where(allowed, dt(0), dt(-np.inf))
        if per_batch:
            add = add.reshape(add.shape[0], 1, tq, tk)
        return base + add

    if attrs.get("is_causal", 0):
        if mask is not None and mask.dtype == np.bool_:
            mask = np.where(mask, dt(0), dt(-np.inf))
        base = bias if mask is None else mask.astype(q.dtype)
        if left >= 0 or right >= 0:
            base = np.zeros((tq, tk), dtype=q.dtype) + base
        bias = band(lambda d: d >= 0, base)
    elif mask is not None:
        if mask.dtype == np.bool_:
            mask = np.where(mask, dt(0), dt(-np.inf))
        bias = bias + mask.astype(q.dtype)
    if left >= 0 or right >= 0:

        def window(d):
            ok = np.ones_like(d, dtype=bool)
            if left >= 0:
                ok &= d <= left
            if right >= 0:
                ok &= -d <= right
            return ok

        bias = band(window, np.zeros((tq, tk), dtype=q.dtype) + bias)
    if nonpad is not None:
        keep = np.arange(tk) < np.asarray(nonpad).reshape(-1)[:, None]
        pad = np.where(keep, 0, -np.inf).astype(bias.dtype)
        bias = bias + pad.reshape(q.shape[0], 1, 1, tk)
    reps = q.shape[1] // pk.shape[1]
    kr = np.repeat(pk, reps, axis=1) if reps > 1 else pk
    vr = np.repeat(pv, reps, axis=1) if reps > 1 else pv
    logits = np.matmul(q * s, np.swapaxes(kr, -1, -2) * s).astype(q.dtype)
    cap = attrs.get("softcap")
    cap = cap if cap is not None and cap > 0 else None
    capped = logits if cap is None else (np.tanh(logits / dt(cap)) * dt(cap)).astype(q.dtype)
    with_bias = capped + bias
    mode = attrs.get("qk_matmul_output_mode", 0)
    # as onnx's reference: modes 0 and 1 expose the (softcapped) logits, 2 with the bias
    qk = with_bias if mode == 2 else capped
    sm = with_bias
    if attrs.get("softmax_precision") is not None:
        from onnx.helper import tensor_dtype_to_np_dtype

        sm = sm.astype(tensor_dtype_to_np_dtype(attrs["softmax_precision"]))
    top = sm.max(axis=-1, keepdims=True)
    dead = np.isneginf(top)
    e = np.exp(sm - np.where(dead, 0, top))
    total = e.sum(axis=-1, keepdims=True)
    p = e / np.where(total == 0, 1, total)
    p = np.where(np.isneginf(bias.max(axis=-1, keepdims=True)), 0, p)
    if mode == 3:
        qk = p
    p = p.astype(q.dtype)
    y = np.matmul(p, vr).astype(q.dtype)
    if three_d:
        y = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
    outs = (y, pk, pv, qk.astype(q.dtype))
    return outs, dict(q=q, kr=kr, vr=vr, p=p, s=s, cap=cap, capped=capped, reps=reps)


def _attn_dim(d, factor=1, div=1):
    return None if not known(d) else int(d) * factor // div


class Attention(Op):
    """ONNX's ``Attention`` (opsets 23-25): inputs ``(Q, K, V[, attn_mask][, past_key,
    past_value][, nonpad_kv_seqlen])`` as the attributes ``has_mask``, ``has_past`` and
    ``has_nonpad`` say; outputs ``(Y, present_key, present_value, qk_matmul_output)``.
    Attributes are ONNX's (``scale``, ``is_causal``, ``q_num_heads``, ``kv_num_heads``,
    ``softcap``, ``softmax_precision``, ``qk_matmul_output_mode``, ``left_window_size``,
    ``right_window_size``). 3-D inputs ``(B, T, H * D)`` are split into heads; grouped
    query attention repeats each key/value head. The VJP covers Y and the presents (Q, K,
    V, past key/value and a float mask); the qk_matmul_output carries no gradient."""

    name = "attention"
    n_outputs = 4
    vjp_reads_inputs, vjp_reads_outputs = True, False

    @staticmethod
    def _split(attrs, xs):
        xs = list(xs)
        q, k, v = xs[:3]
        rest = xs[3:]
        mask = rest.pop(0) if attrs.get("has_mask") else None
        past_k = past_v = None
        if attrs.get("has_past"):
            past_k, past_v = rest.pop(0), rest.pop(0)
        nonpad = rest.pop(0) if attrs.get("has_nonpad") else None
        return q, k, v, mask, past_k, past_v, nonpad

    def infer(self, attrs, *types):
        q, k, v, mask, past_k, past_v, nonpad = self._split(attrs, types)
        if not q.dtype.startswith("float") or k.dtype != q.dtype or v.dtype != q.dtype:
            raise ShapeError(
                f"Q, K and V must share one float dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
            )
        rank = len(q.shape)
        if rank not in (3, 4) or len(k.shape) != rank or len(v.shape) != rank:
            raise ShapeError(
                f"Q, K and V must all be 3-D or all 4-D, got {format_shape(q.shape)}, "
                f"{format_shape(k.shape)}, {format_shape(v.shape)}"
            )
        if rank == 3:
            hq, hkv = attrs.get("q_num_heads"), attrs.get("kv_num_heads")
            if not hq or not hkv:
                raise ShapeError("3-D Q, K and V need q_num_heads and kv_num_heads")
            bq, tq = q.shape[:2]
            dq = _attn_dim(q.shape[2], 1, hq)
            dk = _attn_dim(k.shape[2], 1, hkv)
            dv = _attn_dim(v.shape[2], 1, hkv)
            tk = k.shape[1]
        else:
            bq, hq, tq, dq = q.shape
            hkv, tk, dk, dv = k.shape[1], k.shape[2], k.shape[3], v.shape[3]
        if known(hq) and known(hkv) and int(hq) % int(hkv):
            raise ShapeError(f"q_num_heads {hq} is not a multiple of kv_num_heads {hkv}")
        if past_k is not None:
            past = past_k.shape[2]
            tk = None if not (known(tk) and known(past)) else int(tk) + int(past)
        y = (bq, tq, _attn_dim(dv, hq) if known(hq) else None) if rank == 3 else (bq, hq, tq, dv)
        return (
            TensorType(y, q.dtype),
            TensorType((bq, hkv, tk, dk), q.dtype),
            TensorType((bq, hkv, tk, dv), q.dtype),
            TensorType((bq, hq, tq, tk), q.dtype),
        )

    def kernel(self, attrs, *xs, ctx):
        return _attention_parts(attrs, *self._split(attrs, xs))[0]

    def vjp(self, attrs, xs, ys, gys, needs, out):
        q0, k0, v0, mask, past_k, past_v, nonpad = self._split(attrs, xs)
        if gys[3] is not None and np.any(gys[3]):
            raise NotImplementedError(
                "attention: the qk_matmul_output output has no gradient (differentiate Y "
                "and the present key/value only)"
            )
        (_, pk, pv, _), c = _attention_parts(attrs, q0, k0, v0, mask, past_k, past_v, nonpad)
        gy = gys[0]
        three_d = q0.ndim == 3
        if three_d:
            hq = attrs["q_num_heads"]
            gy = gy.reshape(gy.shape[0], gy.shape[1], hq, -1).transpose(0, 2, 1, 3)
        q, kr, vr, p, s, reps = c["q"], c["kr"], c["vr"], c["p"], c["s"], c["reps"]
        gvr = np.matmul(np.swapaxes(p, -1, -2), gy)
        gp = np.matmul(gy, np.swapaxes(vr, -1, -2))
        gl = p * (gp - (gp * p).sum(axis=-1, keepdims=True))
        gmask = None
        if mask is not None and mask.dtype != np.bool_:
            gm = gl[..., : mask.shape[-1]]
            lead = gm.ndim - mask.ndim
            gm = gm.sum(axis=tuple(range(lead))) if lead > 0 else gm
            axes = tuple(i for i, d in enumerate(mask.shape) if d == 1 and gm.shape[i] != 1)
            gmask = gm.sum(axis=axes, keepdims=True) if axes else gm
        if c["cap"] is not None:
            t = c["capped"] / q.dtype.type(c["cap"])
            gl = gl * (1 - t * t)
        gs = gl * (s * s)
        gq = np.matmul(gs, kr)
        gkr = np.matmul(np.swapaxes(gs, -1, -2), q)

        def unrepeat(g):
            if reps == 1:
                return g
            b, h, t, d = g.shape
            return g.reshape(b, h // reps, reps, t, d).sum(axis=2)

        gpk, gpv = unrepeat(gkr), unrepeat(gvr)
        if gys[1] is not None:
            gpk = gpk + gys[1]
        if gys[2] is not None:
            gpv = gpv + gys[2]
        past = 0 if past_k is None else past_k.shape[2]
        gk, gv = gpk[:, :, past:], gpv[:, :, past:]

        def back3(g, x):
            return g.transpose(0, 2, 1, 3).reshape(x.shape) if three_d else g

        grads = [back3(gq, q0), back3(gk, k0), back3(gv, v0)]
        if attrs.get("has_mask"):
            grads.append(None if gmask is None else gmask.astype(mask.dtype))
        if attrs.get("has_past"):
            grads += [gpk[:, :, :past], gpv[:, :, :past]]
        if attrs.get("has_nonpad"):
            grads.append(None)
        return tuple(
            None if g is None or not need else np.asarray(g, dtype=x.dtype)
            for g, need, x in zip(grads, needs, xs)
        )

    def lower(self, attrs, b, *names):
        window = attrs.get("left_window_size", -1) >= 0 or attrs.get("right_window_size", -1) >= 0
        need = 25 if window else 24 if attrs.get("has_nonpad") else 23
        if b.opset < need:
            raise NotImplementedError(
                f"attention exports as ONNX Attention, which needs opset {need} or newer "
                f"(exporting at opset {b.opset})"
            )
        ins = list(names[:3])
        rest = list(names[3:])
        ins.append(rest.pop(0) if attrs.get("has_mask") else "")
        if attrs.get("has_past"):
            ins += [rest.pop(0), rest.pop(0)]
        else:
            ins += ["", ""]
        if attrs.get("has_nonpad"):
            ins.append(rest.pop(0))
        while ins and ins[-1] == "":
            ins.pop()
        keys = (
            "scale",
            "is_causal",
            "q_num_heads",
            "kv_num_heads",
            "softcap",
            "softmax_precision",
            "qk_matmul_output_mode",
            "left_window_size",
            "right_window_size",
        )
        onnx_attrs = {key: attrs[key] for key in keys if attrs.get(key) is not None}
        return tuple(b.op("Attention", *ins, outputs=4, **onnx_attrs))


def onnx_attention(
    q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, **attrs
):
    """ONNX's Attention on ``(Q, K, V)`` (3-D with ``q_num_heads``/``kv_num_heads``, or
    4-D): returns ``(Y, present_key, present_value, qk_matmul_output)``."""
    ins = [q, k, v]
    flags = {
        "has_mask": attn_mask is not None,
        "has_past": past_key is not None,
        "has_nonpad": nonpad_kv_seqlen is not None,
    }
    if attn_mask is not None:
        ins.append(attn_mask)
    if past_key is not None:
        ins += [past_key, past_value]
    if nonpad_kv_seqlen is not None:
        ins.append(nonpad_kv_seqlen)
    attrs = {key: val for key, val in attrs.items() if val is not None}
    return apply("attention", ins, **flags, **attrs)


# ---- ONNX's LinearAttention (opset 27) ---------------------------------------------------
LINEAR_ATTENTION_RULES = ("linear", "gated", "delta", "gated_delta")


def _heads(x, h):
    b, t, hd = x.shape
    return x.reshape(b, t, h, hd // h).transpose(0, 2, 1, 3)


class LinearAttention(Op):
    """ONNX's ``LinearAttention``: inputs ``(query, key, value[, past_state][, decay][,
    beta])`` (3-D, ``(B, T, H * D)``) as ``has_past``/``update_rule`` say; outputs
    ``(output, present_state)``. A recurrence over time in float32, after onnx's
    reference; it is not differentiable in graphc (the VJP raises)."""

    name = "linear_attention"
    n_outputs = 2

    @staticmethod
    def _split(attrs, xs):
        rule = attrs.get("update_rule", "gated_delta")
        xs = list(xs)
        q, k, v = xs[:3]
        rest = xs[3:]
        past = rest.pop(0) if attrs.get("has_past") else None
        decay = rest.pop(0) if rule in ("gated", "gated_delta") else None
        beta = rest.pop(0) if rule in ("delta", "gated_delta") else None
        return q, k, v, past, decay, beta

    def infer(self, attrs, *types):
        rule = attrs.get("update_rule", "gated_delta")
        if rule not in LINEAR_ATTENTION_RULES:
            raise ShapeError(f"update_rule must be one of {LINEAR_ATTENTION_RULES}, got {rule!r}")
        q, k, v, past, decay, beta = self._split(attrs, types)
        hq, hkv = int(attrs["q_num_heads"]), int(attrs["kv_num_heads"])
        if hq <= 0 or hkv <= 0 or hq % hkv:
            raise ShapeError(f"q_num_heads {hq} must be a positive multiple of kv_num_heads {hkv}")
        if any(len(x.shape) != 3 for x in (q, k, v)):
            raise ShapeError(
                f"query, key and value must be 3-D (B, T, H * D), got {format_shape(q.shape)}, "
                f"{format_shape(k.shape)}, {format_shape(v.shape)}"
            )
        if not q.dtype.startswith("float"):
            raise ShapeError(f"expected floating-point inputs, got dtype {q.dtype}")
        dk = q.shape[2] // hq if known(q.shape[2]) else None
        dv = v.shape[2] // hkv if known(v.shape[2]) else None
        out_dv = dv * hq if dv is not None else None
        state_dtype = past.dtype if past is not None else q.dtype
        return (
            TensorType((q.shape[0], q.shape[1], out_dv), q.dtype),
            TensorType((q.shape[0], hkv, dk, dv), state_dtype),
        )

    def kernel(self, attrs, *xs, ctx):
        q, k, v, past, decay, beta = self._split(attrs, xs)
        hq, hkv = int(attrs["q_num_heads"]), int(attrs["kv_num_heads"])
        b, t, _ = q.shape
        dk, dv = q.shape[-1] // hq, v.shape[-1] // hkv
        group = hq // hkv
        q4, k4, v4 = (_heads(x, h).astype(np.float32) for x, h in ((q, hq), (k, hkv), (v, hkv)))
        if decay is not None:
            if decay.shape[-1] == hkv:
                decay4 = decay.reshape(b, t, hkv, 1).transpose(0, 2, 1, 3)
            else:
                decay4 = _heads(decay, hkv)
            decay4 = decay4.astype(np.float32)
        if beta is not None:
            beta4 = beta.reshape(b, t, beta.shape[-1], 1).transpose(0, 2, 1, 3).astype(np.float32)
        if past is not None:
            state = past.astype(np.float32).copy()
        else:
            state = np.zeros((b, hkv, dk, dv), dtype=np.float32)
        scale = attrs.get("scale") or 0.0
        scale = 1.0 / np.sqrt(dk) if scale == 0.0 else float(scale)
        out = np.zeros((b, hq, t, dv), dtype=np.float32)
        for i in range(t):
            qt, kt, vt = q4[:, :, i, :], k4[:, :, i, :], v4[:, :, i, :]
            if decay is not None:
                state = state * np.exp(decay4[:, :, i, :])[..., None]
            if beta is not None:
                vt = beta4[:, :, i, :] * (vt - np.einsum("bhdm,bhd->bhm", state, kt))
            state = state + kt[..., :, None] * vt[..., None, :]
            read = state if group == 1 else np.repeat(state, group, axis=1)
            out[:, :, i, :] = scale * np.einsum("bhd,bhdm->bhm", qt, read)
        y = out.transpose(0, 2, 1, 3).reshape(b, t, hq * dv).astype(q.dtype)
        return y, state.astype(past.dtype if past is not None else q.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        raise NotDifferentiableError(
            "linear_attention (ONNX LinearAttention) has no gradient in graphc: it runs in "
            "inference only; freeze the layers before it or leave it out of training"
        )

    def lower(self, attrs, b, *names):
        if b.opset < 27:
            raise NotImplementedError(
                f"linear_attention exports as ONNX LinearAttention, which needs opset 27 or "
                f"newer (exporting at opset {b.opset})"
            )
        rule = attrs.get("update_rule", "gated_delta")
        ins = list(names[:3])
        rest = list(names[3:])
        ins.append(rest.pop(0) if attrs.get("has_past") else "")
        ins.append(rest.pop(0) if rule in ("gated", "gated_delta") else "")
        ins.append(rest.pop(0) if rule in ("delta", "gated_delta") else "")
        while ins[-1] == "":
            ins.pop()
        onnx_attrs = {
            "q_num_heads": int(attrs["q_num_heads"]),
            "kv_num_heads": int(attrs["kv_num_heads"]),
            "update_rule": rule,
        }
        if attrs.get("scale"):
            onnx_attrs["scale"] = float(attrs["scale"])
        return tuple(b.op("LinearAttention", *ins, outputs=2, **onnx_attrs))


# ---- ONNX's RotaryEmbedding (opset 23) ---------------------------------------------------
def _rotary(attrs, x, cos, sin, pos, sign):
    """Rotate ``x`` (``(B, H, S, D)`` or ``(B, S, H * D)``) by the cached angles
    (``sign`` -1 rotates back: the VJP)."""
    shape = x.shape
    if x.ndim == 4:
        x = x.transpose(0, 2, 1, 3)
    else:
        x = x.reshape(shape[0], shape[1], int(attrs["num_heads"]), -1)
    dim = int(attrs.get("rotary_embedding_dim") or 0) or x.shape[3]
    rot, rest = x[..., :dim], x[..., dim:]
    if pos is not None:
        cos, sin = cos[pos], sin[pos]
    cos, sin = cos[:, :, None, :], sign * sin[:, :, None, :]
    if attrs.get("interleaved"):
        x1, x2 = rot[..., 0::2], rot[..., 1::2]
    else:
        x1, x2 = np.split(rot, 2, axis=-1)
    real = cos * x1 - sin * x2
    imag = sin * x1 + cos * x2
    if attrs.get("interleaved"):
        rot = np.stack((real, imag), axis=-1).reshape(rot.shape)
    else:
        rot = np.concatenate((real, imag), axis=-1)
    y = np.concatenate((rot, rest), axis=-1).astype(x.dtype)
    return y.reshape(shape) if len(shape) == 3 else y.transpose(0, 2, 1, 3)


class RotaryEmbedding(Op):
    """ONNX's ``RotaryEmbedding``: inputs ``(x, cos_cache, sin_cache[, position_ids])``
    (``has_positions``), attributes ``interleaved``, ``rotary_embedding_dim``,
    ``num_heads`` (3-D inputs). A rotation of ``x``: its VJP rotates back; the caches get
    no gradient (they are constants; an error says so if asked)."""

    name = "rotary_embedding"

    def infer(self, attrs, x, cos, sin, *pos):
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point input, got dtype {x.dtype}")
        if len(x.shape) not in (3, 4):
            raise ShapeError(f"expected a 3-D or 4-D input, got {format_shape(x.shape)}")
        if len(x.shape) == 3 and not attrs.get("num_heads"):
            raise ShapeError("a 3-D input needs num_heads")
        return TensorType(tuple(x.shape), x.dtype)

    def kernel(self, attrs, x, cos, sin, *pos, ctx):
        return _rotary(attrs, x, cos, sin, pos[0] if pos else None, 1)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        if needs[1] or needs[2]:
            raise NotImplementedError(
                "rotary_embedding: the cos/sin caches have no gradient (they are constants)"
            )
        x, cos, sin = xs[:3]
        pos = xs[3] if len(xs) > 3 else None
        gx = _rotary(attrs, gys[0], cos, sin, pos, -1) if needs[0] else None
        return (gx, None, None) + ((None,) if len(xs) > 3 else ())

    def lower(self, attrs, b, x, cos, sin, *pos):
        if b.opset < 23:
            raise NotImplementedError(
                f"rotary_embedding exports as ONNX RotaryEmbedding, which needs opset 23 or "
                f"newer (exporting at opset {b.opset})"
            )
        onnx_attrs = {
            k: int(attrs[k])
            for k in ("interleaved", "rotary_embedding_dim", "num_heads")
            if attrs.get(k)
        }
        return b.op("RotaryEmbedding", x, cos, sin, *pos, **onnx_attrs)
