"""Peak memory of training the big MLP (784-1024-1024-10, 8,192 samples, batch 256, one
epoch, Adam) in graphc and in PyTorch eager (issue 12, deliverable 4).

Each contender runs in a fresh subprocess measured the same way: the resident set size
(RSS, /proc/self/statm) after the imports, the data and the model exist, then the peak
RSS of the process (VmHWM in /proc/self/status; ``getrusage``'s ``ru_maxrss`` would
include the parent's RSS at the fork) after one epoch. The figure
compared is the training's own peak: peak RSS minus the RSS before training (what the
training step allocates: activations, gradients, optimizer state). Run alternately, a
few times; the range is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys

RUNS = 3
N, BATCH = 8192, 256

_COMMON = f"""
import json, os, resource
import numpy as np

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def peak_mb():
    # VmHWM, the peak RSS of this process's own memory: getrusage's ru_maxrss also
    # counts what the parent held when it forked (a parent with torch loaded).
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

rng = np.random.default_rng(0)
x = rng.random(({N}, 784), dtype=np.float32)
y = rng.integers(0, 10, {N})
"""

GRAPHC = (
    _COMMON
    + f"""
import graphc
from graphc import layers
inputs = graphc.Input(shape=(784,))
h = layers.Dense(1024, activation="relu")(inputs)
h = layers.Dense(1024, activation="relu")(h)
model = graphc.Model(inputs, layers.Dense(10, activation="softmax")(h))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
before = rss_mb()
model.fit(x, y, batch_size={BATCH}, epochs=1, shuffle=False, verbose=0)
print(json.dumps({{"before": before, "peak": peak_mb()}}))
"""
)

TORCH = (
    _COMMON
    + f"""
import torch
torch.set_num_threads(os.cpu_count() or 1)
net = torch.nn.Sequential(
    torch.nn.Linear(784, 1024), torch.nn.ReLU(),
    torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
    torch.nn.Linear(1024, 10),
)
opt = torch.optim.Adam(net.parameters(), foreach=True)
loss_fn = torch.nn.CrossEntropyLoss()
tx, ty = torch.from_numpy(x), torch.from_numpy(y)
before = rss_mb()
for i in range(0, {N}, {BATCH}):
    opt.zero_grad()
    loss = loss_fn(net(tx[i:i + {BATCH}]), ty[i:i + {BATCH}])
    loss.backward()
    opt.step()
print(json.dumps({{"before": before, "peak": peak_mb()}}))
"""
)


def measure(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(runs=RUNS):
    try:
        import torch  # noqa: F401

        contenders = {"graphc": GRAPHC, "PyTorch eager": TORCH}
    except ImportError:
        contenders = {"graphc": GRAPHC}
    print(
        f"Peak memory of one epoch of the MLP 784-1024-1024-10 ({N:,} samples, batch {BATCH}, "
        f"Adam), each in a fresh process, {runs} runs alternately:"
    )
    found: dict = {name: [] for name in contenders}
    for _ in range(runs):
        for name, code in contenders.items():
            found[name].append(measure(code))
    for name, rows in found.items():
        grow = [r["peak"] - r["before"] for r in rows]
        print(
            f"    {name:<14} training peak over the set-up {min(grow):7.1f}-{max(grow):7.1f} MB"
            f"   (process peak {min(r['peak'] for r in rows):7.1f} MB)"
        )
    if len(found) == 2:
        g = [r["peak"] - r["before"] for r in found["graphc"]]
        t = [r["peak"] - r["before"] for r in found["PyTorch eager"]]
        print(f"    graphc / PyTorch training peak: {min(g) / min(t):.2f} (lowest of each)")
    return found


if __name__ == "__main__":
    main()
