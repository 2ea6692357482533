"""Connectionist temporal classification: ``ctc_loss`` (with its gradient) and
``ctc_decode`` (greedy and beam search), as ``keras.ops``'s (Keras's torch backend:
``log_softmax`` then ``torch.nn.functional.ctc_loss``; the decoders follow Keras's torch
port of its JAX beam search, tie-breaking included).

Neither has an ONNX equivalent: a model that uses them exports without them (compute
the loss in training only; decode the exported model's logits outside it).
"""

from __future__ import annotations

import numpy as np

from graphc.errors import NotDifferentiableError, ShapeError
from graphc.ir import TensorType
from graphc.ops.elementary import no_onnx
from graphc.ops.registry import Op, apply

__all__ = ["ctc_loss", "ctc_decode"]

_NEG = -np.inf


def _log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    z = x - m
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _lse(*xs):
    m = xs[0]
    for x in xs[1:]:
        m = np.maximum(m, x)
    safe = np.where(np.isfinite(m), m, 0.0)
    total = sum(np.exp(x - safe) for x in xs)
    with np.errstate(divide="ignore"):
        return np.log(total) + safe


def _ctc_tables(target, lp, target_length, output_length, blank):
    """Extended labels, log-probabilities along them, alphas and betas (log space)."""
    b, t_max, _ = lp.shape
    target = np.asarray(target).astype(np.int64).reshape(b, -1)
    tl = np.asarray(target_length).astype(np.int64).reshape(b)
    ol = np.asarray(output_length).astype(np.int64).reshape(b)
    lmax = target.shape[1]
    s_max = 2 * lmax + 1
    ext = np.full((b, s_max), blank, dtype=np.int64)
    ext[:, 1::2] = target
    s_len = 2 * tl + 1
    s_idx = np.arange(s_max)
    valid = s_idx[None, :] < s_len[:, None]
    skip = np.zeros((b, s_max), dtype=bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    lpe = np.take_along_axis(lp, np.broadcast_to(ext[:, None, :], (b, t_max, s_max)), axis=2)
    lpe = np.where(valid[:, None, :], lpe, _NEG)
    alpha = np.full((b, t_max, s_max), _NEG)
    a0 = np.full((b, s_max), _NEG)
    a0[:, 0] = lpe[:, 0, 0]
    if s_max > 1:
        a0[:, 1] = np.where(tl > 0, lpe[:, 0, 1], _NEG)
    alpha[:, 0] = a0
    for t in range(1, t_max):
        prev = alpha[:, t - 1]
        p1 = np.concatenate([np.full((b, 1), _NEG), prev[:, :-1]], axis=1)
        p2 = np.concatenate([np.full((b, 2), _NEG), prev[:, :-2]], axis=1)[:, :s_max]
        p2 = np.where(skip, p2, _NEG)
        alpha[:, t] = _lse(prev, p1, p2) + lpe[:, t]
    beta = np.full((b, t_max, s_max), _NEG)
    rows = np.arange(b)
    last = s_len - 1
    for t in range(t_max - 1, -1, -1):
        nxt = beta[:, t + 1] if t + 1 < t_max else np.full((b, s_max), _NEG)
        n1 = np.concatenate([nxt[:, 1:], np.full((b, 1), _NEG)], axis=1)
        n2 = np.concatenate([nxt[:, 2:], np.full((b, 2), _NEG)], axis=1)[:, :s_max]
        skip_next = np.concatenate([skip[:, 2:], np.zeros((b, 2), bool)], axis=1)[:, :s_max]
        n2 = np.where(skip_next, n2, _NEG)
        cur = _lse(nxt, n1, n2) + lpe[:, t]
        start = np.full((b, s_max), _NEG)
        start[rows, last] = lpe[rows, t, last]
        second = np.maximum(last - 1, 0)
        start[rows, second] = np.where(last >= 1, lpe[rows, t, second], start[rows, second])
        cur = np.where((t == ol - 1)[:, None], start, cur)
        cur = np.where((t >= ol)[:, None], _NEG, cur)
        beta[:, t] = cur
    t_last = np.clip(ol - 1, 0, t_max - 1)
    end = alpha[rows, t_last]
    log_p = _lse(end[rows, last], np.where(last >= 1, end[rows, np.maximum(last - 1, 0)], _NEG))
    return ext, lpe, alpha, beta, log_p, ol


class CtcLoss(Op):
    """Per-sample CTC negative log-likelihood of ``target`` (B, L) under the logits
    ``output`` (B, T, C), with ``target_length`` and ``output_length`` (B,) and the blank
    class ``mask_index``. Gradient: ``softmax - posterior`` of each step's class."""

    name = "ctc_loss"
    vjp_reads_inputs = True

    def infer(self, attrs, target, output, target_length, output_length):
        if len(output.shape) != 3 or len(target.shape) != 2:
            raise ShapeError(
                f"ctc_loss expects target (batch, max_length) and output (batch, time, "
                f"classes); got {target.shape} and {output.shape}"
            )
        dtype = output.dtype if output.dtype in ("float32", "float64") else "float32"
        return TensorType((output.shape[0],), dtype)

    def kernel(self, attrs, target, output, target_length, output_length, *, ctx):
        dtype = output.dtype if output.dtype in (np.float32, np.float64) else np.float32
        lp = _log_softmax(np.asarray(output, dtype=np.float64))
        *_, log_p, _ = _ctc_tables(target, lp, target_length, output_length, attrs["mask_index"])
        return (-log_p).astype(dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        target, output, target_length, output_length = xs
        if not needs[1]:
            return (None, None, None, None)
        x = np.asarray(output, dtype=np.float64)
        lp = _log_softmax(x)
        ext, lpe, alpha, beta, log_p, ol = _ctc_tables(
            target, lp, target_length, output_length, attrs["mask_index"]
        )
        b, t_max, c = x.shape
        with np.errstate(invalid="ignore"):
            post = alpha + beta - lpe  # log P(path through (t, s))
            post = np.where(np.isfinite(lpe), post - log_p[:, None, None], _NEG)
        occ = np.zeros((b, t_max, c))
        np.add.at(
            occ,
            (
                np.arange(b)[:, None, None],
                np.arange(t_max)[None, :, None],
                np.broadcast_to(ext[:, None, :], post.shape),
            ),
            np.exp(post),
        )
        grad = np.exp(lp) - occ
        grad = np.where((np.arange(t_max)[None, :] < ol[:, None])[:, :, None], grad, 0.0)
        grad = grad * np.asarray(gys[0], dtype=np.float64)[:, None, None]
        return (None, grad.astype(output.dtype), None, None)

    def lower(self, attrs, b, *names):
        raise no_onnx("ctc_loss", " (export the model without its CTC loss)")


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """CTC loss per sample, as ``keras.ops.ctc_loss``: ``output`` holds logits (a
    ``log_softmax`` is applied), ``mask_index`` is the blank class."""
    return apply(
        "ctc_loss",
        [target, output, target_length, output_length],
        mask_index=int(mask_index),
    )


# ---- decoding ----------------------------------------------------------------------------
def _greedy(inputs, lengths, merge_repeated, mask_index):
    b, t_max, c = inputs.shape
    if mask_index is None:
        mask_index = c - 1
    indices = np.argmax(inputs, axis=-1).astype(np.int32)
    scores = np.max(inputs, axis=-1)
    seqlen_mask = np.arange(t_max)[None, :] >= lengths[:, None]
    indices = np.where(seqlen_mask, mask_index, indices)
    scores = np.where(seqlen_mask, 0.0, scores)
    if merge_repeated:
        repeat = np.zeros_like(indices, dtype=bool)
        repeat[:, 1:] = indices[:, 1:] == indices[:, :-1]
        indices = np.where(repeat, mask_index, indices)
    invalid = indices == mask_index
    indices = np.where(invalid, -1, indices)
    order = np.where(invalid, t_max, np.tile(np.arange(t_max), (b, 1)))
    order = np.argsort(order, axis=-1, kind="stable")
    indices = np.take_along_axis(indices, order, axis=-1)
    scores = -np.sum(scores, axis=1)[:, None]
    return indices[None].astype(np.int32), scores.astype(inputs.dtype)


_KNUTH = 2654435769


def _unique_padded(paths, size, pad):
    n, t = paths.shape
    p = paths.astype(np.int64) + 1
    with np.errstate(over="ignore"):
        powers = np.ones(t, dtype=np.int64)
        for i in range(1, t):
            powers[i] = powers[i - 1] * np.int64(_KNUTH)
        hashes = (p * powers).sum(axis=1)
    order = np.argsort(hashes, kind="stable")
    sorted_paths = paths[order]
    sorted_hashes = hashes[order]
    is_dup = (sorted_hashes[1:] == sorted_hashes[:-1]) & np.all(
        sorted_paths[1:] == sorted_paths[:-1], axis=1
    )
    is_first = np.concatenate([[True], ~is_dup])
    cum_first = np.cumsum(is_first.astype(np.int64)) - 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = cum_first
    unique = sorted_paths[is_first]
    if unique.shape[0] < size:
        unique = np.concatenate(
            [unique, np.full((size - unique.shape[0], t), pad, dtype=unique.dtype)]
        )
    return unique, inverse


def _merge_scores(inverse, scores, n):
    m = scores.max()
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(scores - m)
    out = np.zeros(n, dtype=scores.dtype)
    np.add.at(out, inverse, e)
    with np.errstate(divide="ignore"):
        return np.log(out) + m


def _beam_extend(paths, scores, masked, x, c, mask_index, pad):
    paths = np.repeat(paths, c, axis=0)
    scores = np.repeat(scores, c)
    masked = np.repeat(masked, c)
    is_pad = paths == pad
    tail = np.argmax(is_pad.astype(np.int32), axis=1)
    rows = np.arange(paths.shape[0])
    tails = paths[rows, tail - 1]
    tails = np.where(tail == 0, pad, tails)
    classes = np.arange(c, dtype=paths.dtype)
    classes[mask_index] = pad
    classes = np.tile(classes, paths.shape[0] // c)
    prev_masked = masked
    masked = classes == pad
    repeat = (~prev_masked) & (tails == classes)
    classes = np.where(repeat, pad, classes)
    paths[rows, tail] = classes
    scores = scores + np.tile(x, paths.shape[0] // c)
    return paths, scores, masked


def _beam_prune(paths, scores, masked, c, beam_width, pad):
    unique, inverse = _unique_padded(paths, 2 * c * beam_width, pad)
    emit = np.where(masked, _NEG, scores)
    blank = np.where(masked, scores, _NEG)
    n = unique.shape[0]
    emit = _merge_scores(inverse, emit, n)
    blank = _merge_scores(inverse, blank, n)
    total = np.logaddexp(emit, blank)
    top = np.argsort(total, kind="stable")[-beam_width:]
    paths = np.tile(unique[top], (2, 1))
    scores = np.concatenate([emit[top], blank[top]])
    masked = np.concatenate([np.zeros(beam_width, bool), np.ones(beam_width, bool)])
    return paths, scores, masked


def _beam_search(inputs, lengths, beam_width, top_paths, mask_index):
    b, t_max, c = inputs.shape
    x_all = _log_softmax(inputs.astype(np.float64)).astype(inputs.dtype)
    if mask_index is None:
        mask_index = c - 1
    x_all = x_all[:, :, ::-1]
    mask_index = c - mask_index - 1
    pad = -1
    n_init = min(c, beam_width)
    out_paths, out_scores = [], []
    for i in range(b):
        x = x_all[i]
        paths = np.full((2 * beam_width, t_max), pad, dtype=np.int32)
        max_classes = np.argsort(x[0], kind="stable")[-n_init:]
        paths[:n_init, 0] = np.where(max_classes == mask_index, pad, max_classes)
        scores = np.full(2 * beam_width, _NEG, dtype=x.dtype)
        scores[:n_init] = x[0, max_classes]
        masked = paths[:, 0] == pad
        for t in range(1, int(lengths[i])):
            paths, scores, masked = _beam_extend(paths, scores, masked, x[t], c, mask_index, pad)
            paths, scores, masked = _beam_prune(paths, scores, masked, c, beam_width, pad)
        unique, inverse = _unique_padded(paths, 2 * c * beam_width, pad)
        scores = _merge_scores(inverse, scores, unique.shape[0])
        top = np.argsort(scores, kind="stable")[-top_paths:][::-1]
        out_paths.append(unique[top])
        out_scores.append(scores[top])
    paths = np.stack(out_paths)
    scores = np.stack(out_scores)
    paths = np.where(paths == pad, pad, c - paths - 1)
    return paths.transpose(1, 0, 2).astype(np.int32), scores.astype(inputs.dtype)


class CtcDecode(Op):
    """Decode CTC logits (B, T, C) with ``sequence_lengths`` (B,): ``(paths, scores)``,
    paths (top_paths, B, T) int32 padded with -1, scores (B, top_paths)."""

    name = "ctc_decode"
    n_outputs = 2
    vjp_reads_inputs = False

    def infer(self, attrs, inputs, lengths):
        if len(inputs.shape) != 3:
            raise ShapeError(f"ctc_decode expects (batch, time, classes); got {inputs.shape}")
        bsz, t, _ = inputs.shape
        top = 1 if attrs["strategy"] == "greedy" else attrs["top_paths"]
        dtype = inputs.dtype if inputs.dtype in ("float32", "float64") else "float32"
        return TensorType((top, bsz, t), "int32"), TensorType((bsz, top), dtype)

    def kernel(self, attrs, inputs, lengths, *, ctx):
        dtype = inputs.dtype if inputs.dtype in (np.float32, np.float64) else np.float32
        x = np.asarray(inputs, dtype=dtype)
        lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
        if attrs["strategy"] == "greedy":
            return _greedy(x, lengths, attrs["merge_repeated"], attrs["mask_index"])
        return _beam_search(
            x, lengths, attrs["beam_width"], attrs["top_paths"], attrs["mask_index"]
        )

    def vjp(self, attrs, xs, ys, gys, needs, out):
        raise NotDifferentiableError(
            "ctc_decode has no gradient (its outputs are class indices and path scores): "
            "decode outside the part of the model that trains"
        )

    def lower(self, attrs, b, *names):
        raise no_onnx("ctc_decode", " (decode the exported model's logits outside it)")


def ctc_decode(
    inputs,
    sequence_lengths,
    strategy="greedy",
    beam_width=100,
    top_paths=1,
    merge_repeated=True,
    mask_index=0,
):
    """Decode CTC outputs, as ``keras.ops.ctc_decode``: ``strategy`` ``"greedy"`` (the
    best class per step, repeats merged, blanks removed; score = -sum of the best
    logits) or ``"beam_search"`` (``beam_width``, the ``top_paths`` best paths with their
    log-probabilities). Returns ``(paths, scores)``; paths are padded with -1."""
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(
            f"Invalid strategy {strategy}. Supported values are 'greedy' and 'beam_search'."
        )
    return apply(
        "ctc_decode",
        [inputs, sequence_lengths],
        strategy=strategy,
        beam_width=int(beam_width),
        top_paths=int(top_paths),
        merge_repeated=bool(merge_repeated),
        mask_index=None if mask_index is None else int(mask_index),
    )
