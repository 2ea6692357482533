"""graphc.applications against keras.applications: Keras builds each model (weights=None,
its batch-norm statistics and scales made random so they matter), saves its weights as
``.weights.h5``; graphc's model of the same arguments has the same layer names, summary
rows and parameter count, loads Keras's file, and predicts as Keras does; its ONNX export
runs in onnxruntime with the same outputs. Small input sizes keep the set to about a
minute; the batch-norm statistics are the only weights changed from Keras's own
initialisation."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

from oracle_harness import summary_rows  # noqa: E402

import graphc  # noqa: E402
from graphc import applications  # noqa: E402

#: (model, keyword arguments): small inputs, every model's head once, a few of the
#: per-model arguments (alpha, minimalistic, include_preprocessing, pooling).
CASES = [
    ("VGG16", {"input_shape": (32, 32, 3), "classes": 7}),
    ("VGG19", {"input_shape": (32, 32, 3), "include_top": False, "pooling": "max"}),
    ("ResNet50", {"input_shape": (32, 32, 3), "classes": 7}),
    ("ResNet50V2", {"input_shape": (32, 32, 3), "classes": 7}),
    ("MobileNet", {"input_shape": (32, 32, 3), "alpha": 0.5, "classes": 7}),
    ("MobileNetV2", {"input_shape": (32, 32, 3), "alpha": 0.35, "classes": 7}),
    ("MobileNetV3Small", {"input_shape": (32, 32, 3), "classes": 7}),
    (
        "MobileNetV3Large",
        {"input_shape": (32, 32, 3), "minimalistic": True, "include_top": False, "pooling": "avg"},
    ),
    ("Xception", {"input_shape": (71, 71, 3), "classes": 7}),
    ("InceptionV3", {"input_shape": (75, 75, 3), "classes": 7}),
    ("DenseNet121", {"input_shape": (32, 32, 3), "classes": 7}),
    ("EfficientNetB0", {"input_shape": (32, 32, 3), "classes": 7}),
    ("ConvNeXtTiny", {"input_shape": (32, 32, 3), "classes": 7}),
]


def _randomize(model, rng):
    """Batch-norm and normalisation statistics, batch-norm scales and ConvNeXt's layer
    scales drawn at random (Keras initialises them to identities, and the layer scales to
    1e-6, which would hide the ConvNeXt blocks)."""
    for w in model.weights:
        name = w.path.rsplit("/", 1)[-1]
        shape = tuple(w.shape)
        if name in ("moving_variance", "variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name in ("moving_mean", "mean"):
            value = rng.normal(0.0, 0.2, shape)
        elif name == "gamma":
            value = rng.uniform(0.7, 1.3, shape)
        elif name == "beta":
            value = rng.normal(0.0, 0.1, shape)
        elif "layer_scale" in w.path:
            value = rng.uniform(0.5, 1.0, shape)
        else:
            continue
        w.assign(value.astype("float32"))


@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] for c in CASES])
def test_application_matches_keras(name, kwargs, tmp_path):
    kwargs = {"weights": None, "classifier_activation": None, **kwargs}
    if not kwargs.get("include_top", True):
        kwargs.pop("classifier_activation")
    keras.utils.clear_session()
    graphc.utils.clear_session()
    k = getattr(keras.applications, name)(**kwargs)
    _randomize(k, np.random.default_rng(0))
    path = str(tmp_path / f"{name}.weights.h5")
    k.save_weights(path)

    g = getattr(applications, name)(**{**kwargs, "weights": path})
    assert g.name == k.name
    assert [layer.name for layer in g.layers] == [layer.name for layer in k.layers]
    assert summary_rows(g) == [
        (type(layer).__name__, tuple(layer.output.shape), layer.count_params())
        for layer in k.layers[1:]
    ]
    assert g.count_params() == k.count_params()

    x = np.random.default_rng(1).uniform(0, 255, (2, *kwargs["input_shape"])).astype("float32")
    x = getattr(applications, _module(name)).preprocess_input(x.copy())
    want = np.asarray(k.predict(x, verbose=0))
    got = g.predict(x, verbose=0)
    scale = float(np.max(np.abs(want)))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(scale, 1.0))
    if name != "VGG16":  # 34M weights: its ONNX check would take 15 s; VGG19's covers it
        runtime = graphc.onnx.Runtime(graphc.onnx.export(g))
        np.testing.assert_allclose(runtime.predict(x), got, rtol=1e-4, atol=1e-4 * max(scale, 1.0))


def _module(name):
    return {
        "VGG16": "vgg16",
        "VGG19": "vgg19",
        "ResNet50": "resnet",
        "ResNet50V2": "resnet_v2",
        "MobileNet": "mobilenet",
        "MobileNetV2": "mobilenet_v2",
        "MobileNetV3Small": "mobilenet_v3",
        "MobileNetV3Large": "mobilenet_v3",
        "Xception": "xception",
        "InceptionV3": "inception_v3",
        "DenseNet121": "densenet",
        "EfficientNetB0": "efficientnet",
        "ConvNeXtTiny": "convnext",
    }[name]


@pytest.mark.parametrize("name", ["ConvNeXtTiny", "EfficientNetB0", "MobileNetV3Small"])
def test_keras_file_round_trip(name, tmp_path):
    """The models with layers outside keras.layers (ConvNeXt's LayerScale and
    StochasticDepth), Normalization, and ops on tensors (MobileNetV3's hard-swish): Keras's
    ``.keras`` file loads in graphc with Keras's predictions; graphc trains a step and
    saves; Keras loads graphc's file with graphc's predictions."""
    kwargs = {"weights": None, "input_shape": (32, 32, 3), "classes": 5}
    k = getattr(keras.applications, name)(**kwargs)
    _randomize(k, np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    want = np.asarray(k.predict(x, verbose=0))
    k.save(tmp_path / "k.keras")
    g = graphc.saving.load_model(str(tmp_path / "k.keras"))
    np.testing.assert_allclose(g.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    # graphc trains a step (batch-norm statistics move too), saves; Keras reads it back.
    # EfficientNet trains its head only: at 32x32 its last blocks are 1x1, and batch
    # statistics over two samples give gradients that overflow in a few steps (in Keras
    # too, whose same step moves stem_conv's kernel by ~500).
    if name == "EfficientNetB0":
        for layer in g.layers[:-1]:
            layer.trainable = False
    g.compile(optimizer=graphc.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    g.fit(x, np.array([0, 3]), epochs=1, batch_size=2, verbose=0)
    trained = g.predict(x, verbose=0)
    assert np.abs(trained - want).max() > 1e-4
    g.save(str(tmp_path / "g.keras"))
    k2 = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(np.asarray(k2.predict(x, verbose=0)), trained, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] for c in CASES])
def test_converter_exports_keras_files(name, kwargs, tmp_path, capsys):
    """The converter on Keras's own ``.keras`` file of every application: ``graphc export
    m.keras -o m.onnx`` writes a checked model, ``graphc check --reference m.keras`` agrees,
    and onnxruntime predicts what Keras does."""
    from graphc.cli import main
    from graphc.onnx import Runtime

    kwargs = {"weights": None, **kwargs}
    keras.utils.clear_session()
    k = getattr(keras.applications, name)(**kwargs)
    _randomize(k, np.random.default_rng(0))
    src, out = str(tmp_path / f"{name}.keras"), str(tmp_path / f"{name}.onnx")
    k.save(src)
    assert main(["export", src, "-o", out]) == 0
    assert main(["check", out, "--reference", src]) == 0
    assert "FAILED" not in capsys.readouterr().out
    x = np.random.default_rng(1).uniform(0, 255, (2, *kwargs["input_shape"])).astype("float32")
    want = k.predict(x, verbose=0)
    np.testing.assert_allclose(
        Runtime(out).predict(x), want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max())
    )
