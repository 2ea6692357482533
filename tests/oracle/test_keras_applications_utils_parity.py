"""What the applications share, against Keras 3 itself: ``preprocess_input`` in each
mode and data format (arrays and symbolic tensors), the ``Normalization`` layer (given or
adapted statistics, its weights and config), and Keras's legacy ``.h5`` weight files (the
format of the published ImageNet weights) loading into graphc's models."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc import applications  # noqa: E402
from graphc.applications import imagenet_utils  # noqa: E402


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("rank", [3, 4])
def test_preprocess_input_matches_keras(mode, data_format, rank):
    shape = (5, 6, 3) if data_format == "channels_last" else (3, 5, 6)
    shape = shape if rank == 3 else (2, *shape)
    x = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
    want = keras.applications.imagenet_utils.preprocess_input(
        x.copy(), data_format=data_format, mode=mode
    )
    got = imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
    if rank == 4:
        inp = graphc.Input(shape=shape[1:])
        model = graphc.Model(
            inp, imagenet_utils.preprocess_input(inp, data_format=data_format, mode=mode)
        )
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(
    "module", ["vgg16", "vgg19", "resnet", "resnet50", "resnet_v2", "mobilenet",
               "mobilenet_v2", "mobilenet_v3", "xception", "inception_v3", "densenet",
               "efficientnet", "convnext"],
)  # fmt: skip
def test_each_module_preprocesses_as_keras(module):
    x = np.random.default_rng(1).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    want = getattr(keras.applications, module).preprocess_input(x.copy())
    got = getattr(applications, module).preprocess_input(x.copy())
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6, atol=1e-5)


def test_public_functions_have_keras_signatures():
    """Every application (most made from a table by one builder) and each module's
    ``preprocess_input``/``decode_predictions`` take Keras's arguments, in Keras's order,
    with Keras's defaults; the docstrings open as Keras's."""
    import inspect

    for name in applications.__all__:
        ours = getattr(applications, name)
        if not inspect.isfunction(ours):
            continue
        theirs = getattr(keras.applications, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name
        assert ours.__name__ == name
        first_line = inspect.getdoc(ours).splitlines()[0]
        assert first_line == inspect.getdoc(theirs).splitlines()[0], name
        module = getattr(applications, ours.__module__.rsplit(".", 1)[-1])
        for fn in ("preprocess_input", "decode_predictions"):
            assert inspect.signature(getattr(module, fn)) == inspect.signature(
                getattr(getattr(keras.applications, module.__name__.rsplit(".", 1)[-1]), fn)
            ), (name, fn)


def _config(layer):
    c = layer.get_config()
    return json.loads(json.dumps({k: v for k, v in c.items() if k not in ("dtype", "name")}))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]},
        {"axis": 1, "mean": [1.0, 2.0, 3.0, 4.0], "variance": [1.0, 2.0, 3.0, 4.0]},
        {"axis": None, "mean": 2.0, "variance": 4.0, "invert": True},
        {"axis": -1},
        {"axis": (1, 3)},
    ],
)
def test_normalization_matches_keras(kwargs):
    rng = np.random.default_rng(2)
    data = rng.normal(3.0, 2.0, (20, 4, 5, 3)).astype("float32")
    x = rng.normal(3.0, 2.0, (3, 4, 5, 3)).astype("float32")
    k, g = keras.layers.Normalization(**kwargs), graphc.layers.Normalization(**kwargs)
    if "mean" not in kwargs:
        k.adapt(data)
        g.adapt(data)
        for a, b in zip(g.get_weights(), k.get_weights()):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)
        assert [w.dtype for w in g.weights] == [str(w.dtype) for w in k.weights]
    np.testing.assert_allclose(np.asarray(g(x)), np.asarray(k(x)), rtol=1e-5, atol=1e-5)
    assert _config(g) == _config(k)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("MobileNetV2", {"alpha": 0.35, "input_shape": (32, 32, 3), "classes": 5}),
        ("EfficientNetB0", {"include_top": False, "input_shape": (32, 32, 3)}),
    ],
)
def test_legacy_h5_weights_load(name, kwargs, tmp_path):
    """Keras's published ImageNet files are Keras 2 ``.h5`` weight files, read by layer
    order: one written by Keras's legacy writer loads into graphc's model."""
    h5py = pytest.importorskip("h5py")
    from keras.src.legacy.saving import legacy_h5_format

    k = getattr(keras.applications, name)(weights=None, **kwargs)
    rng = np.random.default_rng(3)
    k.set_weights([rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in k.get_weights()])
    path = str(tmp_path / "legacy.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, k)
    g = getattr(applications, name)(weights=path, **kwargs)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b))
