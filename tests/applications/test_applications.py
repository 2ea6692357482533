"""graphc.applications without Keras: parameter counts (the numbers are Keras 3.15's,
measured with keras.applications; tests/oracle/test_keras_applications_parity.py checks
names, weights and predictions against Keras itself), the constructor's checks, the
"imagenet" weights when the network is not there, preprocess_input and
decode_predictions."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import applications
from graphc.applications import imagenet_utils
from graphc.errors import ArgumentValueError

SMALL = {"Xception": 71, "InceptionV3": 75}

#: (model, arguments, Keras's count_params()). With include_top the count does not depend
#: on the input size (global pooling) except for VGG, built at 224x224.
COUNTS = [
    ("VGG16", {}, 138357544),
    ("VGG16", {"include_top": False}, 14714688),
    ("VGG19", {}, 143667240),
    ("VGG19", {"include_top": False}, 20024384),
    ("ResNet50", {}, 25636712),
    ("ResNet50", {"include_top": False}, 23587712),
    ("ResNet50V2", {}, 25613800),
    ("ResNet50V2", {"include_top": False}, 23564800),
    ("MobileNet", {}, 4253864),
    ("MobileNet", {"include_top": False}, 3228864),
    ("MobileNet", {"alpha": 0.25}, 475544),
    ("MobileNet", {"alpha": 0.75, "depth_multiplier": 2, "include_top": False}, 3647352),
    ("MobileNetV2", {}, 3538984),
    ("MobileNetV2", {"include_top": False}, 2257984),
    ("MobileNetV2", {"alpha": 0.35}, 1691208),
    ("MobileNetV2", {"alpha": 1.4}, 6156712),
    ("MobileNetV3Small", {}, 2554968),
    ("MobileNetV3Small", {"include_top": False}, 939120),
    ("MobileNetV3Small", {"alpha": 0.75}, 2051552),
    ("MobileNetV3Small", {"minimalistic": True}, 2056848),
    ("MobileNetV3Large", {}, 5507432),
    ("MobileNetV3Large", {"include_top": False}, 2996352),
    ("MobileNetV3Large", {"alpha": 0.75, "minimalistic": True}, 3069400),
    ("Xception", {}, 22910480),
    ("Xception", {"include_top": False}, 20861480),
    ("InceptionV3", {}, 23851784),
    ("InceptionV3", {"include_top": False}, 21802784),
    ("DenseNet121", {}, 8062504),
    ("DenseNet121", {"include_top": False}, 7037504),
    ("EfficientNetB0", {}, 5330571),
    ("EfficientNetB0", {"include_top": False}, 4049571),
    ("ConvNeXtTiny", {}, 28589128),
    ("ConvNeXtTiny", {"include_top": False}, 27820128),
]


def _case(name, kwargs, count):
    # Building initialises every weight: the big ones take seconds.
    marks = [pytest.mark.slow] if count > 10_000_000 else []
    label = name + "".join(f"-{k}={v}" for k, v in kwargs.items())
    return pytest.param(name, kwargs, count, marks=marks, id=label)


@pytest.mark.parametrize("name,kwargs,count", [_case(*c) for c in COUNTS])
def test_parameter_count_is_keras(name, kwargs, count):
    kwargs = {"weights": None, **kwargs}
    size = (
        224 if name.startswith("VGG") and kwargs.get("include_top", True) else SMALL.get(name, 32)
    )
    kwargs["input_shape"] = (size, size, 3)
    model = getattr(applications, name)(**kwargs)
    assert model.count_params() == count


def test_names_shapes_and_summary():
    graphc.utils.clear_session()
    model = applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(32, 32, 3))
    assert model.name == "mobilenetv2_0.35_32"
    assert [layer.name for layer in model.layers[:4]] == [
        "input_layer",
        "Conv1",
        "bn_Conv1",
        "Conv1_relu",
    ]
    assert model.layers[-1].name == "predictions"
    assert model.output_shape == (None, 1000)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "mobilenetv2_0.35_32"' in text
    assert "Total params: 1,691,208" in text


def test_pooling_and_input_tensor():
    base = applications.ResNet50(
        weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg"
    )
    assert base.output_shape == (None, 2048)
    x = graphc.Input(shape=(32, 32, 3))
    model = applications.MobileNet(weights=None, input_tensor=x, alpha=0.25, classes=5)
    assert model.inputs[0] is x
    assert model.output_shape == (None, 5)


def test_constructor_checks(tmp_path):
    with pytest.raises(ArgumentValueError, match="`weights` argument should be either"):
        applications.VGG16(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ArgumentValueError, match="`classes` should be 1000"):
        applications.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ArgumentValueError, match="Input size must be at least 71x71"):
        applications.Xception(weights=None, include_top=False, input_shape=(32, 32, 3))
    with pytest.raises(ArgumentValueError, match="Only `None` and `softmax`"):
        applications.MobileNetV2(
            weights=str(tmp_path), input_shape=(32, 32, 3), classifier_activation="relu"
        )


def test_imagenet_weights_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "_probe", lambda origin: "offline (test)")
    with pytest.raises(applications.WeightsUnavailableError) as e:
        applications.MobileNetV3Small(weights="imagenet")
    msg = str(e.value)
    assert "weights_mobilenet_v3_small_224_1.0_float.h5" in msg
    assert "offline (test)" in msg
    assert "pass its local path instead" in msg
    assert str(tmp_path / "models") in msg


def test_imagenet_weights_from_the_cache(tmp_path, monkeypatch):
    """A file already in ~/.keras/models (here $KERAS_HOME/models) is used without the
    network when its hash is right; a wrong one needs the network, as in Keras."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "_probe", lambda origin: "offline (test)")
    (tmp_path / "models").mkdir()
    cached = tmp_path / "models" / "some.h5"
    cached.write_bytes(b"weights")
    origin = "https://example.invalid/some.h5"
    assert imagenet_utils.fetch("some.h5", origin) == str(cached)
    md5 = "7d6b9f6dc6b2d0f1b7f2b1ef3e3e0a9c"  # not the file's
    with pytest.raises(applications.WeightsUnavailableError, match="offline"):
        imagenet_utils.fetch("some.h5", origin, md5)


@pytest.mark.slow
def test_weights_from_a_local_file(tmp_path):
    a = applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), alpha=0.75)
    path = str(tmp_path / "w.weights.h5")
    a.save_weights(path)
    b = applications.MobileNetV3Small(weights=path, input_shape=(32, 32, 3), alpha=0.75)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


MEAN_BGR = np.array([103.939, 116.779, 123.68], "float32")


@pytest.mark.parametrize("module", ["vgg16", "resnet", "resnet50", "densenet", "xception"])
def test_preprocess_input_modes(module):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    got = getattr(applications, module).preprocess_input(x.copy())
    mode = {"vgg16": "caffe", "resnet": "caffe", "resnet50": "caffe", "densenet": "torch"}.get(
        module, "tf"
    )
    if mode == "caffe":
        want = x[..., ::-1] - MEAN_BGR
    elif mode == "torch":
        want = (x / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    else:
        want = x / 127.5 - 1.0
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_symbolic_equals_numpy(mode, data_format):
    shape = (4, 4, 3) if data_format == "channels_last" else (3, 4, 4)
    x = np.random.default_rng(1).uniform(0, 255, (2, *shape)).astype("float32")
    inp = graphc.Input(shape=shape)
    out = imagenet_utils.preprocess_input(inp, data_format=data_format, mode=mode)
    model = graphc.Model(inp, out)
    want = imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-4)


def test_preprocess_input_checks_its_arguments():
    with pytest.raises(ValueError, match="mode to be one of"):
        imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="keras")
    with pytest.raises(ValueError, match="data_format to be one of"):
        imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), data_format="nhwc")


def test_efficientnet_and_convnext_preprocess_input_is_the_identity():
    x = np.arange(12, dtype="float32").reshape(1, 2, 2, 3)
    for module in (applications.efficientnet, applications.convnext):
        np.testing.assert_array_equal(module.preprocess_input(x), x)


def test_decode_predictions(monkeypatch):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", index)
    preds = np.zeros((2, 1000), "float32")
    preds[0, [3, 7]] = [0.9, 0.1]
    preds[1, 999] = 1.0
    top = applications.vgg16.decode_predictions(preds, top=2)
    assert [r[:2] for r in top[0]] == [("n00000003", "class_3"), ("n00000007", "class_7")]
    assert top[1][0][:2] == ("n00000999", "class_999")
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\)"):
        applications.resnet.decode_predictions(np.zeros((2, 10)))


@pytest.mark.slow
def test_onnx_export_runs_in_onnxruntime():
    pytest.importorskip("onnxruntime")
    model = applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), alpha=0.75, minimalistic=True, classes=5
    )
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    runtime = graphc.onnx.Runtime(graphc.onnx.export(model))
    np.testing.assert_allclose(runtime.predict(x), model.predict(x, verbose=0), atol=1e-5)


def test_imagenet_weights_downloaded_when_the_network_answers(tmp_path, monkeypatch):
    """The download branch of weights="imagenet", served by a local HTTP server (this
    machine has no route to Keras's storage): the file is fetched into $KERAS_HOME/models,
    its hash checked, and loaded; a file with the wrong hash is refused."""
    import hashlib
    import http.server
    import threading

    from graphc.errors import GraphcError

    served = tmp_path / "served"
    served.mkdir()
    source = applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), alpha=0.75)
    fname = "weights_test.h5"
    source.save_weights(str(served / "w.weights.h5"))
    (served / fname).write_bytes((served / "w.weights.h5").read_bytes())
    digest = hashlib.sha256((served / fname).read_bytes()).hexdigest()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(served), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
        origin = f"http://127.0.0.1:{server.server_address[1]}/{fname}"
        target = applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), alpha=0.75)
        imagenet_utils.load_weights(target, "imagenet", fname, origin, digest)
        assert (tmp_path / "home" / "models" / fname).exists()
        for a, b in zip(source.get_weights(), target.get_weights()):
            np.testing.assert_array_equal(a, b)
        (tmp_path / "home" / "models" / fname).unlink()
        with pytest.raises(GraphcError, match="hash"):
            imagenet_utils.fetch(fname, origin, "0" * 64)
    finally:
        server.shutdown()
