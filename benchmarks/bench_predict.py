"""NumPy ``Model.predict`` beside onnxruntime running graphc's export of the same model,
interleaved in one run, at the same batch size (issue 12, deliverable 4; target: at most
1.2x onnxruntime on the MLP):

- MLP 784-1024-1024-10 (relu, relu, softmax), 4,096 samples;
- CNN Conv2D(32,3)-MaxPool-Conv2D(64,3)-MaxPool-Flatten-Dense(10), 28x28x1, 512 images.

onnxruntime gets the rows in the same batches ``predict`` uses (one session run per
batch, outputs concatenated), so both pay per batch. Each round times every contender
once, in turns; the figures are the best time of each and the range of the per-round
ratios (this machine is shared: the range says how much to trust the best).
"""

from __future__ import annotations

import time

import numpy as np

import graphc
from graphc import layers

ROUNDS = 5
MLP_TARGET = 1.2


def big_mlp():
    inputs = graphc.Input(shape=(784,), name="x")
    x = layers.Dense(1024, activation="relu")(inputs)
    x = layers.Dense(1024, activation="relu")(x)
    return graphc.Model(inputs, layers.Dense(10, activation="softmax", name="y")(x))


def cnn():
    inputs = graphc.Input(shape=(28, 28, 1), name="x")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return graphc.Model(inputs, layers.Dense(10, activation="softmax", name="y")(x))


def compare(name, model, x, batch_size, rounds=ROUNDS):
    """Best seconds of each contender and the per-round ratio range, printed."""
    import onnxruntime as ort

    session = ort.InferenceSession(
        graphc.onnx.export(model).SerializeToString(), providers=["CPUExecutionProvider"]
    )

    def onnxruntime_predict():
        parts = [
            session.run(None, {"x": x[i : i + batch_size]})[0] for i in range(0, len(x), batch_size)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def numpy_predict():
        return model.predict(x, batch_size=batch_size, verbose=0)

    np.testing.assert_allclose(numpy_predict(), onnxruntime_predict(), rtol=1e-3, atol=1e-5)
    best = {"numpy": float("inf"), "ort": float("inf")}
    ratios = []
    for _ in range(rounds):
        t = {}
        for key, fn in (("numpy", numpy_predict), ("ort", onnxruntime_predict)):
            start = time.perf_counter()
            fn()
            t[key] = time.perf_counter() - start
            best[key] = min(best[key], t[key])
        ratios.append(t["numpy"] / t["ort"])
    ratio = best["numpy"] / best["ort"]
    print(
        f"    {name}, batch {batch_size:>5}: NumPy predict {best['numpy'] * 1e3:8.1f} ms   "
        f"onnxruntime {best['ort'] * 1e3:8.1f} ms   ratio {ratio:4.2f} "
        f"(rounds {min(ratios):.2f}-{max(ratios):.2f})"
    )
    return ratio, ratios


def main(rounds=ROUNDS):
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("onnxruntime not installed: no predict comparison")
        return {}
    rng = np.random.default_rng(0)
    print(f"NumPy predict / onnxruntime, same batches, interleaved ({rounds} rounds, best of each)")
    results = {}
    model, x = big_mlp(), rng.random((4096, 784), dtype=np.float32)
    for bs in (4096, 256):
        results[("mlp", bs)] = compare("MLP 784-1024-1024-10, 4,096 rows", model, x, bs, rounds)
    model, x = cnn(), rng.random((512, 28, 28, 1), dtype=np.float32)
    for bs in (512, 64):
        results[("cnn", bs)] = compare("CNN 32-64 conv, 512 images     ", model, x, bs, rounds)
    ratio = results[("mlp", 4096)][0]
    verdict = "met" if ratio <= MLP_TARGET else "NOT met"
    print(f"    MLP NumPy predict <= {MLP_TARGET}x onnxruntime, one batch: {verdict} ({ratio:.2f})")
    return results


if __name__ == "__main__":
    main()
