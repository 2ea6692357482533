"""The LSTM's work buffers kept between calls (graphc.ops.recurrent._Scratch): a buffer is
reused only once nothing refers to it, so interleaved calls, repeated VJPs and outputs
held by the caller keep their numbers."""

from __future__ import annotations

import gc

import numpy as np

from graphc.ops import recurrent
from graphc.ops.registry import REGISTRY, ExecContext


def _inputs(seed, n=6, t=5, f=3, u=4):
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((n, t, f), dtype=np.float32),
        rng.standard_normal((f, 4 * u), dtype=np.float32) * 0.5,
        rng.standard_normal((u, 4 * u), dtype=np.float32) * 0.5,
        rng.standard_normal((4 * u,), dtype=np.float32),
    ]


def _run(xs, gys=None):
    op = REGISTRY["lstm"]
    attrs = dict(units=xs[2].shape[0], use_bias=True, initial_state=False)
    ys = op.kernel(attrs, *xs, ctx=ExecContext(training=True))
    if gys is None:
        gys = [np.ones_like(y) for y in ys]
    return op, attrs, ys, gys


def test_interleaved_calls_and_repeated_vjps_keep_their_numbers():
    xs1, xs2 = _inputs(1), _inputs(2)
    op, attrs, ys1, gys1 = _run(xs1)
    ref_y = [y.copy() for y in ys1]
    ref_g = op.vjp(attrs, xs1, ys1, gys1, [True] * 4, [None] * 4)
    # a second call of the same shape while the first's outputs live, then its VJP
    _, _, ys2, gys2 = _run(xs2)
    op.vjp(attrs, xs2, ys2, gys2, [True] * 4, [None] * 4)
    del ys2
    gc.collect()  # the second call's kept buffers go back to the scratch
    _run(_inputs(3))  # and are written over by a third call
    for a, b in zip(ys1, ref_y):
        np.testing.assert_array_equal(a, b)
    again = op.vjp(attrs, xs1, ys1, gys1, [True] * 4, [None] * 4)  # a second VJP
    for a, b in zip(again, ref_g):
        np.testing.assert_array_equal(a, b)


def test_an_output_never_shares_the_kept_buffers():
    # batch 1, one step: the transposed sequence would be a view of the state buffer
    xs = _inputs(4, n=1, t=1)
    op, attrs, ys, _ = _run(xs)
    first = ys[0].copy()
    infer = op.kernel(attrs, *xs, ctx=ExecContext(training=False))  # released at once
    _run(_inputs(5, n=1, t=1))
    np.testing.assert_array_equal(ys[0], first)
    np.testing.assert_array_equal(infer[0], first)


def test_the_scratch_keeps_at_most_its_budget():
    s = recurrent._Scratch()
    s.MAX_BYTES = 1000
    a, b, c = (np.empty(100, np.float32) for _ in range(3))  # 400 bytes each
    s.give(a, b)
    assert s.empty((100,), np.float32) is b  # the most recently given first
    s.give(b, c)  # 1200 bytes: the oldest shape's buffers go
    assert s._bytes <= 1000
    s.give(np.empty(1000, np.float32))  # larger than the budget: not kept
    assert s._bytes <= 1000
    s.clear()
    assert s.empty((100,), np.float32) is not c
