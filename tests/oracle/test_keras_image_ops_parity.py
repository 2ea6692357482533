"""keras.ops.image's resize, crop_images, pad_images, rgb_to_hsv, hsv_to_rgb,
extract_patches and gaussian_blur against Keras 3 (torch backend), eagerly and recorded
in a model (which also exports to ONNX)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import assert_onnx_matches  # noqa: E402

import graphc  # noqa: E402
from graphc import ops  # noqa: E402

R = np.random.default_rng(0)
IM = R.random((2, 7, 9, 3)).astype("float32")
IM_CF = IM.transpose(0, 3, 1, 2).copy()

CASES = [
    ("resize", (IM, (14, 18)), {}),
    ("resize", (IM, (3, 4)), {}),
    ("resize", (IM, (3, 4)), {"antialias": True}),
    ("resize", (IM, (5, 5)), {"interpolation": "nearest"}),
    ("resize", (IM, (14, 12)), {"interpolation": "nearest"}),
    ("resize", (IM, (4, 4)), {"crop_to_aspect_ratio": True}),
    ("resize", (IM, (4, 4)), {"pad_to_aspect_ratio": True}),
    ("resize", (IM_CF, (4, 5)), {"data_format": "channels_first"}),
    ("crop_images", (IM, 1, 2), {"target_height": 4, "target_width": 5}),
    (
        "crop_images",
        (IM[0],),
        {"top_cropping": 1, "bottom_cropping": 2, "left_cropping": 0, "target_width": 5},
    ),
    ("pad_images", (IM, 1, 2), {"target_height": 10, "target_width": 12}),
    ("rgb_to_hsv", (IM,), {}),
    ("hsv_to_rgb", (IM,), {}),
    ("extract_patches", (IM, 3), {}),
    ("extract_patches", (IM, (2, 3)), {"strides": (1, 2)}),
    ("extract_patches", (IM, 3), {"padding": "same", "strides": 2}),
    ("extract_patches", (IM, 2), {"dilation_rate": 2, "strides": 1}),
    # Keras's torch backend reads data_format=None as channels-first and pads non-square
    # kernels by kernel_size[0] on both axes; graphc uses image_data_format() and "same"
    # padding, so the comparison passes the format and square kernels.
    ("gaussian_blur", (IM,), {"data_format": "channels_last"}),
    (
        "gaussian_blur",
        (IM,),
        {"kernel_size": (5, 5), "sigma": (2.0, 0.7), "data_format": "channels_last"},
    ),
]


@pytest.mark.parametrize(
    "name,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_image_op_matches_keras(name, args, kwargs):
    k_args = [keras.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    want = keras.ops.convert_to_numpy(getattr(keras.ops.image, name)(*k_args, **kwargs))
    got = np.asarray(getattr(ops.image, name)(*args, **kwargs))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_image_ops_record_train_and_export():
    inp = graphc.layers.Input((7, 9, 3))
    x = ops.image.resize(inp, (6, 8), antialias=True)
    x = ops.image.gaussian_blur(ops.image.rgb_to_hsv(x))
    x = ops.image.extract_patches(
        ops.image.pad_images(x, 1, 1, target_height=8, target_width=10), 2
    )
    out = graphc.layers.Dense(2)(graphc.layers.Flatten()(x))
    model = graphc.Model(inp, out)
    eager = ops.image.resize(IM, (6, 8), antialias=True)
    np.testing.assert_allclose(
        graphc.Model(inp, ops.image.resize(inp, (6, 8), antialias=True)).predict(IM, verbose=0),
        eager,
        rtol=1e-6,
    )
    model.compile(optimizer="sgd", loss="mse")
    model.fit(IM, np.zeros((2, 2), "float32"), epochs=1, verbose=0)
    assert_onnx_matches(model, [IM])
