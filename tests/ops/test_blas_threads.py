"""graphc.ops._blas.single_threaded: one OpenBLAS thread inside, the count restored after,
nested and concurrent uses counted; the recurrent ops run under it with the same numbers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from graphc.ops import _blas
from graphc.ops.registry import REGISTRY, ExecContext


def test_single_threaded_lowers_and_restores_the_count():
    before = _blas.threads()
    with _blas.single_threaded():
        assert all(n == 1 for n in _blas.threads())
        with _blas.single_threaded():  # nested: still one, and the outer exit restores
            assert all(n == 1 for n in _blas.threads())
        assert all(n == 1 for n in _blas.threads())
    assert _blas.threads() == before


def test_single_threaded_restores_after_an_error():
    before = _blas.threads()
    with pytest.raises(RuntimeError), _blas.single_threaded():
        raise RuntimeError("boom")
    assert _blas.threads() == before


def test_concurrent_uses_restore_the_count_once_all_have_left():
    before = _blas.threads()
    inside, release = threading.Barrier(3), threading.Event()

    def run():
        with _blas.single_threaded():
            inside.wait()
            release.wait()

    workers = [threading.Thread(target=run) for _ in range(2)]
    for w in workers:
        w.start()
    inside.wait()
    assert all(n == 1 for n in _blas.threads())
    release.set()
    for w in workers:
        w.join()
    assert _blas.threads() == before


def test_disabled_leaves_the_count_alone(monkeypatch):
    before = _blas.threads()
    monkeypatch.setattr(_blas, "ENABLED", False)
    with _blas.single_threaded():
        assert _blas.threads() == before


@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn"])
def test_recurrent_ops_give_the_same_numbers_either_way(monkeypatch, name):
    rng = np.random.default_rng(0)
    op = REGISTRY[name]
    g = op.gates
    x = rng.standard_normal((32, 12, 40), dtype=np.float32)
    w = rng.standard_normal((40, g * 48), dtype=np.float32) * 0.2
    r = rng.standard_normal((48, g * 48), dtype=np.float32) * 0.2
    b = rng.standard_normal((2, g * 48) if name == "gru" else (g * 48,), dtype=np.float32)
    attrs = dict(units=48, use_bias=True, initial_state=False)
    xs = [x, w, r, b]

    def run():
        ctx = ExecContext(training=True)
        ys = op.kernel(attrs, *xs, ctx=ctx)
        gys = [np.ones_like(y) for y in ys]
        return ys, op.vjp(attrs, xs, ys, gys, [True] * 4, [None] * 4)

    ys1, gs1 = run()
    monkeypatch.setattr(_blas, "ENABLED", False)
    ys2, gs2 = run()
    for a, b2 in zip(list(ys1) + list(gs1), list(ys2) + list(gs2)):
        np.testing.assert_allclose(a, b2, rtol=1e-5, atol=1e-5)


def test_large_products_keep_their_threads():
    before = _blas.threads()
    with _blas.single_threaded(_blas.SMALL_MACS):
        assert _blas.threads() == before
    with _blas.single_threaded(_blas.SMALL_MACS - 1):
        assert all(n == 1 for n in _blas.threads())


def test_the_worker_runs_only_beside_single_threaded_products(monkeypatch):
    monkeypatch.setattr(_blas, "OVERLAP", True)
    assert _blas.submit(int, "3") is None  # outside: the BLAS threads have the cores
    with _blas.single_threaded():
        job = _blas.submit(int, "3")
    if _blas._cores() >= 2:
        assert job.result() == 3
    else:
        assert job is None


def test_the_worker_waits_for_an_idle_core(monkeypatch):
    monkeypatch.setattr(_blas, "_cores", lambda: 2)
    monkeypatch.setattr(_blas, "_machine_busy", lambda: None)  # the load average decides
    monkeypatch.setattr(_blas, "_idle_checked", (-1.0, False))
    monkeypatch.setattr(_blas.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    with _blas.single_threaded():
        assert _blas.submit(int, "3") is None  # loaded: run inline
    monkeypatch.setattr(_blas, "_idle_checked", (-1.0, False))
    monkeypatch.setattr(_blas.os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    with _blas.single_threaded():
        assert _blas.submit(int, "3").result() == 3
    monkeypatch.setattr(_blas, "OVERLAP", False)
    with _blas.single_threaded():
        assert _blas.submit(int, "3") is None


@pytest.mark.parametrize("n", [64, 33])
def test_lstm_gives_the_same_numbers_with_or_without_the_worker(monkeypatch, n):
    """With work handed to the worker thread or not (it depends on the load), the LSTM's
    outputs and gradients are the same bits, run after run."""
    monkeypatch.setattr(_blas, "_cores", lambda: 2)
    rng = np.random.default_rng(0)
    op = REGISTRY["lstm"]
    x = rng.standard_normal((n, 20, 12), dtype=np.float32)
    w = rng.standard_normal((12, 4 * 16), dtype=np.float32) * 0.3
    r = rng.standard_normal((16, 4 * 16), dtype=np.float32) * 0.3
    b = rng.standard_normal((4 * 16,), dtype=np.float32)
    h0, c0 = rng.standard_normal((2, n, 16), dtype=np.float32)
    attrs = dict(units=16, use_bias=True, initial_state=True)
    xs = [x, w, r, b, h0, c0]
    gys0 = [rng.standard_normal(s, dtype=np.float32) for s in [(n, 20, 16), (n, 16), (n, 16)]]

    def run(overlap):
        monkeypatch.setattr(_blas, "OVERLAP", overlap)
        ctx = ExecContext(training=True)
        ys = op.kernel(attrs, *xs, ctx=ctx)
        return list(ys) + list(op.vjp(attrs, xs, ys, list(gys0), [True] * 6, [None] * 6))

    one, two, again = run(False), run(True), run(True)
    assert len(one) == 9
    for a, b2, c in zip(one, two, again):
        np.testing.assert_array_equal(a, b2)
        np.testing.assert_array_equal(b2, c)


def test_the_idle_check_leaves_out_this_process(monkeypatch):
    """From /proc/stat: the machine's busy time since the last check less this
    process's own CPU time (its second thread must not count against itself)."""
    clock = {"wall": 100.0, "busy": 0.0, "own": 0.0}
    monkeypatch.setattr(_blas.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(_blas, "_machine_busy", lambda: clock["busy"])
    monkeypatch.setattr(
        _blas.os, "times", lambda: type("T", (), dict(user=clock["own"], system=0.0))
    )
    monkeypatch.setattr(_blas.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    monkeypatch.setattr(_blas, "_idle_checked", (-1.0, False))
    monkeypatch.setattr(_blas, "_cpu_sample", None)
    assert not _blas._core_idle(2)  # first check: the load average
    clock.update(wall=102.0, busy=4.0, own=3.8)  # both cores busy, nearly all ours
    assert _blas._core_idle(2)
    clock.update(wall=102.5, busy=8.0, own=3.8)  # within the second: the cached answer
    assert _blas._core_idle(2)
    clock.update(wall=104.0, busy=8.0, own=5.8)  # another process used one core
    assert not _blas._core_idle(2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(7744, 289, 64), (43264, 10, 32), (1000, 37, 9)])
def test_a_product_cut_at_row_align_gives_the_same_bits(dtype, shape):
    """in_pieces cuts products at multiples of ROW_ALIGN rows: with one BLAS thread, the
    same bits as the whole product (OpenBLAS computes rows in fixed groups)."""
    m, k, n = shape
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    with _blas.single_threaded():
        whole = a @ b
        s = m // 2 // _blas.ROW_ALIGN * _blas.ROW_ALIGN
        y = np.empty_like(whole)
        np.matmul(a[:s], b, out=y[:s])
        np.matmul(a[s:], b, out=y[s:])
    np.testing.assert_array_equal(y, whole)


@pytest.mark.parametrize("overlap", [False, True])
@pytest.mark.parametrize("n", [1, 7, 64, 97])
def test_in_pieces_covers_the_range_once(monkeypatch, n, overlap):
    monkeypatch.setattr(_blas, "OVERLAP", overlap)
    seen = np.zeros(n, dtype=int)
    cuts = []

    def mark(lo, hi):
        seen[lo:hi] += 1
        cuts.append(lo)

    _blas.in_pieces(mark, n, align=4)
    assert (seen == 1).all()
    assert all(c % 4 == 0 for c in cuts)


def test_in_pieces_leaves_no_piece_running_after_an_error(monkeypatch):
    import time

    monkeypatch.setattr(_blas, "OVERLAP", True)
    running = []

    def piece(lo, hi):
        if lo == 0:  # the worker's first piece
            running.append(lo)
            time.sleep(0.05)
            running.remove(lo)
        else:
            raise ValueError("boom")

    with pytest.raises(ValueError):
        _blas.in_pieces(piece, 100)
    assert running == []


def _conv_step(xs, attrs):
    op = REGISTRY["conv"]
    ys = op.kernel(attrs, *xs, ctx=ExecContext(training=True))
    g = np.cos(ys)  # any gradient
    out = [None, np.empty_like(xs[1]), np.empty_like(xs[2])]
    return [ys] + list(op.vjp(attrs, xs, (ys,), (g,), [True] * 3, out))


@pytest.mark.parametrize("shape", [(64, 13, 13, 32, 64), (64, 28, 28, 1, 32), (5, 9, 9, 3, 4)])
def test_conv_gives_the_same_bits_with_or_without_the_worker(monkeypatch, shape):
    """The conv op's products on one BLAS thread, cut in pieces and partly run on the
    worker: the same bits whether the worker runs or not, and as one whole product."""
    monkeypatch.setattr(_blas, "_cores", lambda: 2)
    n, h, w, c, f = shape
    rng = np.random.default_rng(0)
    xs = [
        rng.standard_normal((n, h, w, c), dtype=np.float32),
        rng.standard_normal((3, 3, c, f), dtype=np.float32),
        rng.standard_normal((f,), dtype=np.float32),
    ]
    attrs = dict(strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1)
    monkeypatch.setattr(_blas, "OVERLAP", False)
    one = _conv_step(xs, attrs)
    monkeypatch.setattr(_blas, "OVERLAP", True)
    two = _conv_step(xs, attrs)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    # the forward as one product over the im2col matrix with its column of ones
    win = np.lib.stride_tricks.sliding_window_view(xs[0], (3, 3), axis=(1, 2))
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 9 * c)
    cols = np.concatenate([cols, np.ones((len(cols), 1), np.float32)], axis=1)
    rhs = np.concatenate([xs[1].reshape(-1, f), xs[2][None]])
    with _blas.single_threaded():
        whole = cols @ rhs
    np.testing.assert_array_equal(one[0].reshape(-1, f), whole)


def test_conv_reused_im2col_buffers_keep_the_numbers():
    """The im2col matrices go to a scratch pool once used: interleaved forwards (training
    and inference) and VJPs of the same shape give the numbers of separate runs."""
    rng = np.random.default_rng(3)
    attrs = dict(strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1)
    w = rng.standard_normal((3, 3, 4, 8), dtype=np.float32)
    b = rng.standard_normal((8,), dtype=np.float32)
    xa, xb = (rng.standard_normal((40, 12, 12, 4), dtype=np.float32) for _ in range(2))
    alone = [_conv_step([xa, w, b], attrs), _conv_step([xb, w, b], attrs)]
    op = REGISTRY["conv"]
    train = ExecContext(training=True)
    ya = op.kernel(attrs, xa, w, b, ctx=train)
    yb = op.kernel(attrs, xb, w, b, ctx=train)
    op.kernel(attrs, xb, w, b, ctx=ExecContext(training=False))  # gives its matrix back
    gb_ = op.vjp(attrs, [xb, w, b], (yb,), (np.cos(yb),), [True] * 3, [None] * 3)
    ga_ = op.vjp(attrs, [xa, w, b], (ya,), (np.cos(ya),), [True] * 3, [None] * 3)
    for got, want in zip([[ya, *ga_], [yb, *gb_]], alone):
        for a, c in zip(got, want):
            np.testing.assert_array_equal(a, c)
