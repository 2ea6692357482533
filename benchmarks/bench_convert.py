"""Keras 3 -> ONNX, two converters on the same ``.keras`` files, in one run:

- graphc: ``load_model(path.keras)`` + ``export`` (what ``graphc export m.keras`` does), no
  framework installed;
- Keras's own ``model.export(format="onnx")`` on the torch backend (needs torch).

For each model: conversion time, node count, file size, the output names, onnxruntime
latency at batch 1 and 64 (the two files timed interleaved, best of several rounds) and the
largest difference between the two files' outputs and Keras's ``predict``.
Skipped (with a line saying so) when Keras or torch is not installed.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import warnings

import numpy as np

MODELS = ("lstm", "cnn", "mlp")


def build(keras, name):
    """The three models: the issue's LSTM scorer, the book's MNIST convnet, an MLP."""
    L = keras.layers
    if name == "lstm":
        inputs = keras.Input((50, 32), name="x")
        outputs = L.Dense(1, name="score")(L.LSTM(64)(inputs))
    elif name == "cnn":
        inputs = keras.Input((28, 28, 1), name="x")
        x = L.MaxPooling2D()(L.Conv2D(32, 3, activation="relu")(inputs))
        x = L.MaxPooling2D()(L.Conv2D(64, 3, activation="relu")(x))
        outputs = L.Dense(10, activation="softmax", name="probs")(L.Flatten()(x))
    else:
        inputs = keras.Input((784,), name="x")
        x = L.Dense(512, activation="relu")(inputs)
        x = L.Dense(512, activation="relu")(x)
        outputs = L.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def _session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _latencies(sessions: dict, x: np.ndarray, rounds=5, calls=20) -> dict:
    """Best per-call seconds of each session on ``x``, the sessions interleaved per round."""
    feeds = {k: {s.get_inputs()[0].name: x} for k, s in sessions.items()}
    for k, s in sessions.items():
        s.run(None, feeds[k])  # warm-up
    best = dict.fromkeys(sessions, float("inf"))
    for _ in range(rounds):
        for k, s in sessions.items():
            t = time.perf_counter()
            for _ in range(calls):
                s.run(None, feeds[k])
            best[k] = min(best[k], (time.perf_counter() - t) / calls)
    return best


def convert_one(keras, name, tmp) -> dict:
    import onnx

    import graphc.onnx
    from graphc.models import load_model

    model = build(keras, name)
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal((64, *model.inputs[0].shape[1:])).astype("float32")
    expected = model.predict(x64, verbose=0)  # Keras's export needs a model that ran
    src = os.path.join(tmp, f"{name}.keras")
    model.save(src)

    out = {}
    paths = {"graphc": os.path.join(tmp, f"{name}.graphc.onnx")}
    t = time.perf_counter()
    graphc.onnx.export(load_model(src, compile=False), paths["graphc"])
    out["graphc", "seconds"] = time.perf_counter() - t

    paths["keras"] = os.path.join(tmp, f"{name}.keras.onnx")
    t = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model.export(paths["keras"], format="onnx", verbose=False)
    out["keras", "seconds"] = time.perf_counter() - t

    sessions = {k: _session(p) for k, p in paths.items()}
    for k, p in paths.items():
        proto = onnx.load(p)
        out[k, "nodes"] = len(proto.graph.node)
        out[k, "bytes"] = os.path.getsize(p)
        out[k, "outputs"] = ",".join(o.name for o in proto.graph.output)
        got = sessions[k].run(None, {sessions[k].get_inputs()[0].name: x64})[0]
        out[k, "max_diff"] = float(np.max(np.abs(got - expected)))
    for batch in (1, 64):
        for k, v in _latencies(sessions, x64[:batch]).items():
            out[k, f"ms_b{batch}"] = v * 1e3
    return out


def main() -> dict:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
        import torch  # noqa: F401  (Keras's ONNX export traces with torch.onnx)
    except ImportError as e:
        print(f"skipped: the Keras comparison needs keras and torch ({e})")
        return {}
    if keras.backend.backend() != "torch":
        print(f"skipped: Keras runs on {keras.backend.backend()}, this compares the torch export")
        return {}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            r = results[name] = convert_one(keras, name, tmp)
            print(f"{name}:")
            for k in ("graphc", "keras"):
                print(
                    f"  {k:7s} {r[k, 'nodes']:5d} nodes  {r[k, 'bytes'] / 1e3:8.1f} kB  "
                    f"convert {r[k, 'seconds']:5.2f} s  onnxruntime {r[k, 'ms_b1']:.3f} ms "
                    f"(batch 1) {r[k, 'ms_b64']:.3f} ms (batch 64)  outputs {r[k, 'outputs']}  "
                    f"max |diff| vs Keras {r[k, 'max_diff']:.1e}"
                )
            print(
                "  graphc / Keras: nodes {:.3f}, size {:.2f}, latency {:.2f} (batch 1) "
                "{:.2f} (batch 64)".format(
                    r["graphc", "nodes"] / r["keras", "nodes"],
                    r["graphc", "bytes"] / r["keras", "bytes"],
                    r["graphc", "ms_b1"] / r["keras", "ms_b1"],
                    r["graphc", "ms_b64"] / r["keras", "ms_b64"],
                )
            )
    return results


if __name__ == "__main__":
    main()
