"""Training steps of a small CNN and an LSTM: graphc's NumPy backend beside PyTorch eager
and a straightforward hand-written NumPy version, all interleaved in one run.

(c) CNN Conv2D(32, 3, relu)-MaxPool(2)-Conv2D(64, 3, relu)-MaxPool(2)-Flatten-Dense(10,
    softmax), 28x28x1, batch 64, Adam: milliseconds per training step.
(d) LSTM(64) over 50 steps x 32 features, then Dense(10, softmax), batch 64, Adam:
    milliseconds per training step.

Each contender runs one epoch of ``STEPS`` batches per turn; the turns go round-robin so
that load from other processes hits all of them alike. The figures are the best turn of
each, and the range of graphc / PyTorch over the turns (both measured back to back).

    python benchmarks/bench_train_kernels.py          # both rows
    python benchmarks/bench_train_kernels.py lstm     # one row (cnn or lstm)

Timings are wall-clock with every library's default threads; on a shared machine the
per-turn range says how much the load moved them.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

# Measure the checkout this file is in (a worktree may share another's environment).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import graphc  # noqa: E402

BATCH = 64
STEPS = 8  # batches per epoch of each contender's turn
ROUNDS = 6


def _interleaved(fns: dict, rounds=ROUNDS):
    """Per-turn ``{clock: {name: [seconds, ...]}}`` of each contender, in turns, by the
    wall clock and by this process's CPU time (all threads)."""
    times = {clock: {name: [] for name in fns} for clock in ("wall", "cpu")}
    for fn in fns.values():
        fn()  # warm-up: first-call allocations, caches
    for _ in range(rounds):
        for name, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times["wall"][name].append(time.perf_counter() - t)
            times["cpu"][name].append(time.process_time() - c)
    return times


def _report(title, times, graphc_name, torch_name, target):
    """Best turn of each contender, by both clocks. The wall clock is the figure; on a
    loaded machine the CPU time (run with OMP_NUM_THREADS=1 so that no library spins
    waiting for a core) is the steadier one."""
    print(title)
    best = {clock: {n: min(ts) for n, ts in by.items()} for clock, by in times.items()}
    ref = {clock: b.get(torch_name) for clock, b in best.items()}
    for name in best["wall"]:
        line = f"    {name:<28}"
        for clock in ("wall", "cpu"):
            t = best[clock][name]
            vs = f" ({t / ref[clock]:4.2f}x)" if ref[clock] else ""
            line += f"  {clock} {t / STEPS * 1e3:7.2f} ms/step{vs}"
        print(line)
    if ref["wall"] is None:
        print("    (PyTorch not installed: no ratio)")
        return
    for clock in ("wall", "cpu"):
        w = times[clock]
        per_turn = [g / p for g, p in zip(w[graphc_name], w[torch_name])]
        ratio = best[clock][graphc_name] / ref[clock]
        hand = [n for n in best[clock] if n.startswith("hand")]
        vs_hand = best[clock][graphc_name] / best[clock][hand[0]] if hand else float("nan")
        print(
            f"    {clock:>4}: graphc / PyTorch eager = {ratio:.2f} (best turns; per turn "
            f"{min(per_turn):.2f}-{max(per_turn):.2f}), target <= {target}: "
            f"{'met' if ratio <= target else 'NOT met'}; graphc / hand NumPy = {vs_hand:.2f}"
        )


def _adam(params, grads, m, v, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    """Keras's Adam over separate arrays, as a user would write it."""
    alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    for p, g, mi, vi in zip(params, grads, m, v):
        mi += (g - mi) * (1 - b1)
        vi += (g * g - vi) * (1 - b2)
        p -= alpha * mi / (np.sqrt(vi) + eps)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _glorot(rng, fan_in, fan_out, shape):
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    # As NumPy's BLAS: OMP_NUM_THREADS if set, else every core.
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    return torch


# ---- (c) the CNN -----------------------------------------------------------------------
def cnn_model(lib):
    inputs = lib.Input(shape=(28, 28, 1))
    x = lib.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = lib.layers.MaxPooling2D(2)(x)
    x = lib.layers.Conv2D(64, 3, activation="relu")(x)
    x = lib.layers.MaxPooling2D(2)(x)
    x = lib.layers.Flatten()(x)
    return lib.Model(inputs, lib.layers.Dense(10, activation="softmax")(x))


def _im2col(x, k):
    """``(N, H, W, C)`` -> ``(N * Ho * Wo, k * k * C)``, valid padding, stride 1."""
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    # (N, Ho, Wo, C, k, k) -> (N, Ho, Wo, k, k, C)
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * x.shape[-1])


def _col2im(dcols, shape, k):
    n, h, w, c = shape
    ho, wo = h - k + 1, w - k + 1
    d = dcols.reshape(n, ho, wo, k, k, c)
    dx = np.zeros(shape, np.float32)
    for i in range(k):
        for j in range(k):
            dx[:, i : i + ho, j : j + wo] += d[:, :, :, i, j]
    return dx


def _pool(a):
    """2x2 max pooling (floor), and the argmax mask for the backward pass."""
    n, h, w, c = a.shape
    a = a[:, : h // 2 * 2, : w // 2 * 2]
    blocks = a.reshape(n, h // 2, 2, w // 2, 2, c)
    y = blocks.max(axis=(2, 4))
    mask = blocks == y[:, :, None, :, None]
    return y, mask


def _unpool(g, mask, shape):
    dx = np.zeros(shape, np.float32)
    n, h, w, c = shape
    d = mask * g[:, :, None, :, None]
    dx[:, : h // 2 * 2, : w // 2 * 2] = d.reshape(n, h // 2 * 2, w // 2 * 2, c)
    return dx


def hand_numpy_cnn(x, y, seed=0):
    """One epoch of the CNN by hand: im2col convolutions, reshape pooling, Adam."""
    rng = np.random.default_rng(seed)
    params = [
        _glorot(rng, 9, 288, (9, 32)),
        np.zeros(32, np.float32),
        _glorot(rng, 288, 576, (288, 64)),
        np.zeros(64, np.float32),
        _glorot(rng, 1600, 10, (1600, 10)),
        np.zeros(10, np.float32),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = [0]

    def epoch():
        for s in range(0, len(x), BATCH):
            xb, yb = x[s : s + BATCH], y[s : s + BATCH]
            n = len(xb)
            W1, b1, W2, b2, W3, b3 = params
            c1 = _im2col(xb, 3)
            a1 = np.maximum(c1 @ W1 + b1, 0).reshape(n, 26, 26, 32)
            p1, m1 = _pool(a1)
            c2 = _im2col(p1, 3)
            a2 = np.maximum(c2 @ W2 + b2, 0).reshape(n, 11, 11, 64)
            p2, m2 = _pool(a2)
            f = p2.reshape(n, -1)
            p = _softmax(f @ W3 + b3)
            g3 = (p - yb) / n
            gf = g3 @ W3.T
            ga2 = _unpool(gf.reshape(p2.shape), m2, a2.shape) * (a2 > 0)
            ga2 = ga2.reshape(-1, 64)
            gp1 = _col2im(ga2 @ W2.T, p1.shape, 3)
            ga1 = (_unpool(gp1, m1, a1.shape) * (a1 > 0)).reshape(-1, 32)
            grads = [c1.T @ ga1, ga1.sum(0), c2.T @ ga2, ga2.sum(0), f.T @ g3, g3.sum(0)]
            t[0] += 1
            _adam(params, grads, m, v, t[0])

    return epoch


def _torch_cnn(torch, x, y):
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(1600, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ty = torch.from_numpy(y.argmax(1))
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        for s in range(0, len(tx), BATCH):
            loss = loss_fn(model(tx[s : s + BATCH]), ty[s : s + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def bench_cnn():
    rng = np.random.default_rng(0)
    n = BATCH * STEPS
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    g = cnn_model(graphc)
    g.compile(optimizer="adam", loss="categorical_crossentropy")
    fns = {
        "graphc fit(verbose=0)": lambda: g.fit(
            x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False
        ),
        "hand-written NumPy (im2col)": hand_numpy_cnn(x, y),
    }
    torch = _torch()
    if torch is not None:
        fns["PyTorch eager"] = _torch_cnn(torch, x, y)
    _report(
        "(c) CNN Conv(32,3)-Pool-Conv(64,3)-Pool-Dense(10), 28x28x1, batch 64, Adam: per step",
        _interleaved(fns),
        "graphc fit(verbose=0)",
        "PyTorch eager",
        1.2,
    )


# ---- (d) the LSTM ----------------------------------------------------------------------
T_STEPS, FEATURES, UNITS = 50, 32, 64


def lstm_model(lib):
    inputs = lib.Input(shape=(T_STEPS, FEATURES))
    x = lib.layers.LSTM(UNITS)(inputs)
    return lib.Model(inputs, lib.layers.Dense(10, activation="softmax")(x))


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


def hand_numpy_lstm(x, y, seed=0):
    """One epoch of the LSTM by hand: the input projection of all steps as one GEMM, a
    per-step loop forward and back (BPTT), the weight gradients as one GEMM each, Adam."""
    rng = np.random.default_rng(seed)
    u = UNITS
    params = [
        _glorot(rng, FEATURES, 4 * u, (FEATURES, 4 * u)),
        _glorot(rng, u, 4 * u, (u, 4 * u)),
        np.zeros(4 * u, np.float32),
        _glorot(rng, u, 10, (u, 10)),
        np.zeros(10, np.float32),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = [0]

    def epoch():
        for s in range(0, len(x), BATCH):
            xb, yb = x[s : s + BATCH], y[s : s + BATCH]
            n = len(xb)
            W, R, b, Wd, bd = params
            xt = np.ascontiguousarray(xb.transpose(1, 0, 2))  # (T, N, F)
            xw = (xt.reshape(-1, FEATURES) @ W + b).reshape(T_STEPS, n, 4 * u)
            hs = np.zeros((T_STEPS + 1, n, u), np.float32)
            cs = np.zeros((T_STEPS + 1, n, u), np.float32)
            gates = np.empty((T_STEPS, n, 4 * u), np.float32)
            for k in range(T_STEPS):
                z = xw[k] + hs[k] @ R
                a = gates[k]
                a[:, : 2 * u] = _sigmoid(z[:, : 2 * u])
                a[:, 2 * u : 3 * u] = np.tanh(z[:, 2 * u : 3 * u])
                a[:, 3 * u :] = _sigmoid(z[:, 3 * u :])
                cs[k + 1] = a[:, u : 2 * u] * cs[k] + a[:, :u] * a[:, 2 * u : 3 * u]
                hs[k + 1] = a[:, 3 * u :] * np.tanh(cs[k + 1])
            p = _softmax(hs[-1] @ Wd + bd)
            g = (p - yb) / n
            dh = g @ Wd.T
            dc = np.zeros((n, u), np.float32)
            dz = np.empty_like(gates)
            for k in range(T_STEPS - 1, -1, -1):
                a = gates[k]
                i, f, gg, o = a[:, :u], a[:, u : 2 * u], a[:, 2 * u : 3 * u], a[:, 3 * u :]
                tc = np.tanh(cs[k + 1])
                dc += dh * o * (1 - tc * tc)
                d = dz[k]
                d[:, :u] = dc * gg * i * (1 - i)
                d[:, u : 2 * u] = dc * cs[k] * f * (1 - f)
                d[:, 2 * u : 3 * u] = dc * i * (1 - gg * gg)
                d[:, 3 * u :] = dh * tc * o * (1 - o)
                dc *= f
                dh = d @ R.T
            dz2 = dz.reshape(-1, 4 * u)
            grads = [
                xt.reshape(-1, FEATURES).T @ dz2,
                hs[:-1].reshape(-1, u).T @ dz2,
                dz2.sum(0),
                hs[-1].T @ g,
                g.sum(0),
            ]
            t[0] += 1
            _adam(params, grads, m, v, t[0])

    return epoch


def _torch_lstm(torch, x, y):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
            self.dense = torch.nn.Linear(UNITS, 10)

        def forward(self, xb):
            _, (h, _) = self.lstm(xb)
            return self.dense(h[0])

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.argmax(1))
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        for s in range(0, len(tx), BATCH):
            loss = loss_fn(model(tx[s : s + BATCH]), ty[s : s + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def bench_lstm():
    rng = np.random.default_rng(0)
    n = BATCH * STEPS
    x = rng.standard_normal((n, T_STEPS, FEATURES), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    g = lstm_model(graphc)
    g.compile(optimizer="adam", loss="categorical_crossentropy")
    fns = {
        "graphc fit(verbose=0)": lambda: g.fit(
            x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False
        ),
        "hand-written NumPy BPTT": hand_numpy_lstm(x, y),
    }
    torch = _torch()
    if torch is not None:
        fns["PyTorch eager"] = _torch_lstm(torch, x, y)
    _report(
        f"(d) LSTM({UNITS}) over {T_STEPS} steps x {FEATURES} features, then Dense(10), "
        f"batch {BATCH}, Adam: per step",
        _interleaved(fns),
        "graphc fit(verbose=0)",
        "PyTorch eager",
        1.0,
    )


ROWS = {"cnn": bench_cnn, "lstm": bench_lstm}


def main(argv=()):
    for name in argv or ROWS:
        ROWS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
