"""The losses of issue 9's second batch (focal crossentropies, Dice, Tversky, generalized
crossentropy) against Keras 3 (torch backend): values with and without sample weights,
gradients (torch autograd on Keras's loss vs graphc's recorded VJPs) and configs."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402

R = np.random.default_rng(0)
YT = (R.random((4, 5)) > 0.5).astype("float32")
YP = R.uniform(0.05, 0.95, (4, 5)).astype("float32")
PROBS = YP / YP.sum(-1, keepdims=True)
IDS = R.integers(0, 5, 4).astype("float32")
SW = np.float32([1, 0.5, 2, 0])

CASES = [
    ("BinaryFocalCrossentropy", {}, YT, YP),
    (
        "BinaryFocalCrossentropy",
        {"apply_class_balancing": True, "gamma": 1.5, "label_smoothing": 0.1},
        YT,
        YP,
    ),
    ("BinaryFocalCrossentropy", {"from_logits": True}, YT, YP * 4 - 2),
    ("CategoricalFocalCrossentropy", {}, YT, PROBS),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, YT, YP),
    ("Dice", {}, YT, YP),
    ("Dice", {"axis": -1}, YT, YP),
    ("Tversky", {"alpha": 0.3, "beta": 0.7}, YT, YP),
    ("Tversky", {"axis": 1}, YT, YP),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.7}, IDS, PROBS),
]


@pytest.mark.parametrize(
    "name,kwargs,y_true,y_pred", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_loss_matches_keras(name, kwargs, y_true, y_pred):
    k = getattr(keras.losses, name)(**kwargs)
    g = getattr(graphc.losses, name)(**kwargs)
    np.testing.assert_allclose(g(y_true, y_pred), float(k(y_true, y_pred)), rtol=1e-5)
    if kwargs.get("axis", -1) is not None:  # per-sample values: sample weights apply
        np.testing.assert_allclose(
            g(y_true, y_pred, sample_weight=SW),
            float(k(y_true, y_pred, sample_weight=SW)),
            rtol=1e-5,
        )
    t = torch.tensor(y_pred, requires_grad=True)
    k(torch.tensor(y_true), t).backward()
    _, grad = g.value_and_grad(y_true, y_pred)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-4, atol=1e-6)
    config = g.get_config()
    assert config == {key: v for key, v in k.get_config().items() if key in config}
    assert set(config) == set(k.get_config())
    np.testing.assert_allclose(type(g).from_config(config)(y_true, y_pred), g(y_true, y_pred))


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("binary_focal_crossentropy", {"gamma": 3.0}),
        ("categorical_focal_crossentropy", {}),
        ("dice", {"axis": -1}),
        ("tversky", {"axis": -1}),
    ],
)
def test_loss_function_matches_keras(name, kwargs):
    y_pred = PROBS if name == "categorical_focal_crossentropy" else YP
    want = keras.ops.convert_to_numpy(getattr(keras.losses, name)(YT, y_pred, **kwargs))
    np.testing.assert_allclose(getattr(graphc.losses, name)(YT, y_pred, **kwargs), want, rtol=1e-5)


def test_a_model_trains_with_a_focal_loss_by_name():
    model = graphc.Sequential(
        [graphc.layers.Input((3,)), graphc.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="sgd", loss="binary_focal_crossentropy")
    x = R.standard_normal((16, 3)).astype("float32")
    hist = model.fit(x, (x[:, :1] > 0).astype("float32"), epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
