"""graphc's directory datasets against Keras 3's own code. Keras's
``image_dataset_from_directory`` needs TensorFlow (not installed), but the pieces it is built
from do not: ``dataset_utils.index_directory`` (the file list, labels and seeded shuffle),
``get_training_or_validation_split``, and ``image_dataset_utils._load_image_grain`` (its
non-TF image reader: Pillow, then ``keras.ops.image.resize``, here on torch). graphc must give
the same files, labels, splits and pixels (bilinear, to float32 rounding)."""

from __future__ import annotations

import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("PIL")
pytestmark = pytest.mark.oracle

from keras.src.utils import dataset_utils as keras_dataset_utils
from keras.src.utils import image_dataset_utils as keras_image_utils
from PIL import Image

import graphc
from graphc.utils import dataset_utils


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Random-noise images of various sizes and modes: three classes, a nested folder,
    upper-case extensions, a hidden folder, a top-level file and a non-image."""
    root = tmp_path_factory.mktemp("tree")
    rng = np.random.default_rng(0)
    names = [
        "b_cls/1.png",
        "b_cls/10.png",
        "b_cls/2.JPG",
        "a_cls/z.bmp",
        "a_cls/sub/y.png",
        "a_cls/sub/deeper/x.gif",
        "c_cls/q.jpeg",
        "c_cls/P.png",
        ".hidden/h.png",
        "top.png",
    ]
    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = 5 + 3 * i, 17 - i
        mode = ["RGB", "L", "RGBA"][i % 3] if not name.lower().endswith(("jpg", "jpeg")) else "RGB"
        shape = (h, w) if mode == "L" else (h, w, len(mode))
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    (root / "b_cls" / "readme.txt").write_text("x")
    return str(root)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"labels": "inferred", "shuffle": False},
        {"labels": "inferred", "shuffle": True, "seed": 1337},
        {"labels": "inferred", "shuffle": True, "seed": 7, "class_names": ["c_cls", "a_cls"]},
        {"labels": None, "shuffle": True, "seed": 3},
        {"labels": [0, 1, 0, 1, 0, 1, 0, 1, 0, 1], "shuffle": True, "seed": 11},
    ],
)
def test_index_directory_matches_keras(tree, kwargs, capsys):
    formats = keras_image_utils.ALLOWLIST_FORMATS
    labels = kwargs.pop("labels")
    keras_labels = list(labels) if isinstance(labels, list) else labels  # shuffled in place
    k_paths, k_labels, k_names = keras_dataset_utils.index_directory(
        tree, keras_labels, formats=formats, **kwargs
    )
    keras_out = capsys.readouterr().out
    g_paths, g_labels, g_names = dataset_utils.index_directory(
        tree, labels, formats=formats, **kwargs
    )
    assert capsys.readouterr().out == keras_out
    assert g_paths == k_paths and g_names == k_names
    if k_labels is None:
        assert g_labels is None
    else:
        assert np.asarray(g_labels).tolist() == np.asarray(k_labels).tolist()
    for split in (0.2, 0.5, 0.75):
        for subset in ("training", "validation"):
            k = keras_dataset_utils.get_training_or_validation_split(
                k_paths, k_labels, split, subset
            )
            keras_out = capsys.readouterr().out
            g = dataset_utils.get_training_or_validation_split(g_paths, g_labels, split, subset)
            assert g[0] == k[0] and np.asarray(g[1]).tolist() == np.asarray(k[1]).tolist()
            assert capsys.readouterr().out == keras_out


def test_split_datasets_match_keras_listing(tree):
    """image_dataset_from_directory's subsets are Keras's seeded listing, then its split."""
    paths, _, _ = keras_dataset_utils.index_directory(
        tree, "inferred", formats=keras_image_utils.ALLOWLIST_FORMATS, seed=42, verbose=False
    )
    train, val = graphc.utils.image_dataset_from_directory(
        tree, image_size=4, seed=42, validation_split=0.3, subset="both", verbose=False
    )
    assert train.file_paths == paths[:-2] and val.file_paths == paths[-2:]  # int(0.3 * 8)


@pytest.mark.parametrize("color_mode,channels", [("rgb", 3), ("grayscale", 1), ("rgba", 4)])
@pytest.mark.parametrize(
    "resize", [{}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True}]
)
def test_images_match_keras_loader(tree, color_mode, channels, resize):
    size = (9, 13)
    for data_format in ("channels_last", "channels_first"):
        ds = graphc.utils.image_dataset_from_directory(
            tree,
            labels=None,
            color_mode=color_mode,
            image_size=size,
            batch_size=None,
            shuffle=False,
            data_format=data_format,
            verbose=False,
            **resize,
        )
        for path, image in zip(ds.file_paths, ds):
            expected = keras_image_utils._load_image_grain(
                path,
                size,
                channels,
                "bilinear",
                data_format,
                crop_to_aspect_ratio=resize.get("crop_to_aspect_ratio", False),
                pad_to_aspect_ratio=resize.get("pad_to_aspect_ratio", False),
            )
            expected = keras.ops.convert_to_numpy(expected)
            assert image.shape == expected.shape and image.dtype == np.float32
            np.testing.assert_allclose(image, expected, atol=2e-3, err_msg=path)


def test_load_img_and_conversions_match_keras(tree):
    path = os.path.join(tree, "b_cls", "10.png")
    for kwargs in (
        {},
        {"color_mode": "grayscale"},
        {"color_mode": "rgba"},
        {"target_size": (7, 5)},
        {"target_size": (7, 5), "interpolation": "bilinear"},
        {"target_size": (6, 6), "keep_aspect_ratio": True},
    ):
        k = keras.utils.img_to_array(keras.utils.load_img(path, **kwargs))
        g = graphc.utils.img_to_array(graphc.utils.load_img(path, **kwargs))
        np.testing.assert_array_equal(g, k)
    x = np.random.default_rng(1).random((4, 5, 3)) * 3 - 1
    np.testing.assert_array_equal(
        np.asarray(graphc.utils.array_to_img(x)), np.asarray(keras.utils.array_to_img(x))
    )
