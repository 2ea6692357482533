"""graphc.utils' directory datasets, Dataset and image helpers.

Keras's ``image_dataset_from_directory`` needs TensorFlow, which is not installed here, so
the expectations below are computed by hand from Keras 3's source
(keras/src/utils/dataset_utils.py: ``index_directory`` lists the class subdirectories
sorted, skipping hidden ones, walks each recursively with roots and file names sorted,
keeps names whose lower-cased extension is allowed, then shuffles paths and labels with
``np.random.RandomState(seed)``; ``get_training_or_validation_split`` keeps the last
``int(split * n)`` files for validation). tests/oracle/test_keras_dataset_utils_parity.py
runs Keras's own listing and non-TF image loader against these functions.
"""

import os

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image

from graphc.utils import (
    Dataset,
    array_to_img,
    image_dataset_from_directory,
    img_to_array,
    load_img,
    save_img,
    text_dataset_from_directory,
)
from graphc.utils.image_utils import resize_image

RED, BLUE = (255, 0, 0), (0, 0, 255)
# The files of the `images` fixture in Keras's order with shuffle=False: classes sorted,
# each class's walk sorted by directory then name (upper case sorts before lower case).
SORTED = ["cats/a.png", "cats/b.png", "cats/c.bmp", "dogs/E.PNG", "dogs/d.jpg", "dogs/more/f.png"]


@pytest.fixture
def images(tmp_path):
    """cats (red, 3 files) and dogs (blue, 3 files, one in a nested folder), of various
    sizes, plus files Keras skips: a .txt, a hidden folder, a top-level image."""
    root = tmp_path / "images"
    files = {
        "cats/a.png": (12, 10),
        "cats/b.png": (8, 20),
        "cats/c.bmp": (5, 5),
        "dogs/E.PNG": (14, 9),
        "dogs/d.jpg": (16, 16),
        "dogs/more/f.png": (7, 7),
        ".hidden/g.png": (4, 4),
        "top.png": (6, 6),
    }
    for name, (w, h) in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), BLUE if name.startswith("dogs") else RED).save(
            path, format="JPEG" if name.endswith("jpg") else None
        )
    (root / "dogs" / "notes.txt").write_text("not an image")
    return str(root)


@pytest.fixture
def texts(tmp_path):
    root = tmp_path / "texts"
    for cls, n in [("neg", 7), ("pos", 5)]:
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i:02d}.txt").write_text(f"{cls} {i} caf\u00e9", encoding="utf-8")
        (root / cls / "skip.md").write_text("ignored")
    return str(root)


def relative(paths, root):
    return [os.path.relpath(p, root).replace(os.sep, "/") for p in paths]


def test_counts_class_order_and_batches(images, capsys):
    ds = image_dataset_from_directory(images, image_size=(20, 30), batch_size=4, shuffle=False)
    assert capsys.readouterr().out == "Found 6 files belonging to 2 classes.\n"
    assert ds.class_names == ["cats", "dogs"]
    assert relative(ds.file_paths, images) == SORTED
    assert len(ds) == ds.cardinality() == 2
    batches = list(ds)
    assert [x.shape for x, _ in batches] == [(4, 20, 30, 3), (2, 20, 30, 3)]
    assert all(x.dtype == np.float32 and y.dtype == np.int32 for x, y in batches)
    labels = np.concatenate([y for _, y in batches])
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])
    x = np.concatenate([x for x, _ in batches])
    # Flat-coloured PNG/BMP images stay exactly their colour through the bilinear resize.
    np.testing.assert_array_equal(x[0], np.broadcast_to(np.float32(RED), (20, 30, 3)))
    np.testing.assert_array_equal(x[5], np.broadcast_to(np.float32(BLUE), (20, 30, 3)))
    assert 0 <= x.min() and x.max() <= 255
    assert next(iter(ds))[0].shape == (4, 20, 30, 3)  # re-iterable


def test_class_names_argument_orders_and_selects(images, capsys):
    ds = image_dataset_from_directory(
        images, class_names=["dogs", "cats"], image_size=4, shuffle=False, batch_size=None
    )
    assert ds.class_names == ["dogs", "cats"]
    assert relative(ds.file_paths, images)[:3] == SORTED[3:]
    assert [int(y) for _, y in ds] == [0, 0, 0, 1, 1, 1]
    only = image_dataset_from_directory(images, class_names=["dogs"], image_size=4)
    assert len(only.file_paths) == 3 and only.class_names == ["dogs"]
    assert "Found 3 files belonging to 1 classes." in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"Expected: \['cats', 'dogs'\].*class_names=\['birds'"):
        image_dataset_from_directory(images, class_names=["birds"])


def test_label_modes(images, capsys):
    kw = {"image_size": (3, 4), "shuffle": False, "batch_size": 6}
    x, y = next(iter(image_dataset_from_directory(images, label_mode="categorical", **kw)))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[1, 0]] * 3 + [[0, 1]] * 3)
    x, y = next(iter(image_dataset_from_directory(images, label_mode="binary", **kw)))
    assert y.dtype == np.float32 and y.shape == (6, 1)
    np.testing.assert_array_equal(y[:, 0], [0, 0, 0, 1, 1, 1])
    x = next(iter(image_dataset_from_directory(images, label_mode=None, **kw)))
    assert isinstance(x, np.ndarray) and x.shape == (6, 3, 4, 3)
    capsys.readouterr()
    # labels=None indexes every image below the directory (hidden folders and top level
    # too), walked by sorted directory: the top level's files first.
    ds = image_dataset_from_directory(images, labels=None, **kw)
    assert capsys.readouterr().out == "Found 8 files.\n"
    assert ds.class_names is None
    assert relative(ds.file_paths, images) == ["top.png", ".hidden/g.png"] + SORTED
    # Explicit labels follow the same sorted order; class names are the sorted labels.
    ds = image_dataset_from_directory(images, labels=[1, 0, 1, 0, 1, 0, 1, 0], **kw)
    assert ds.class_names == ["0", "1"]
    assert np.concatenate([y for _, y in ds]).tolist() == [1, 0, 1, 0, 1, 0, 1, 0]


def test_color_modes_data_format_and_unbatched(images):
    kw = {"image_size": (5, 7), "shuffle": False}
    gray = next(iter(image_dataset_from_directory(images, color_mode="grayscale", **kw)))[0]
    assert gray.shape == (6, 5, 7, 1)
    assert gray[0, 0, 0, 0] == 76  # Pillow's L = (299 R + 587 G + 114 B) / 1000, red -> 76
    rgba = next(iter(image_dataset_from_directory(images, color_mode="rgba", **kw)))[0]
    assert rgba.shape == (6, 5, 7, 4) and np.all(rgba[..., 3] == 255)
    first = next(iter(image_dataset_from_directory(images, data_format="channels_first", **kw)))[0]
    assert first.shape == (6, 3, 5, 7)
    single = image_dataset_from_directory(images, batch_size=None, **kw)
    assert len(single) == 6
    x, y = next(iter(single))
    assert x.shape == (5, 7, 3) and y.shape == () and y.dtype == np.int32


def test_validation_split_is_keras_seeded_shuffle_then_split(images, capsys):
    # 6 files, split 0.34: int(0.34 * 6) = 2 for validation (the last 2 of the shuffled
    # list), 4 for training.
    train, val = image_dataset_from_directory(
        images, image_size=(4, 4), batch_size=3, validation_split=0.34, subset="both", seed=1337
    )
    out = capsys.readouterr().out
    assert "Using 4 files for training.\nUsing 2 files for validation.\n" in out
    order = list(SORTED)
    np.random.RandomState(1337).shuffle(order)  # index_directory's global shuffle
    assert relative(train.file_paths, images) == order[:4]
    assert relative(val.file_paths, images) == order[4:]
    assert not set(train.file_paths) & set(val.file_paths)
    assert (len(train), len(val)) == (2, 1)
    # The separate subsets are the same as "both".
    alone = image_dataset_from_directory(
        images, image_size=(4, 4), validation_split=0.34, subset="training", seed=1337
    )
    assert alone.file_paths == train.file_paths
    alone = image_dataset_from_directory(
        images, image_size=(4, 4), validation_split=0.34, subset="validation", seed=1337
    )
    assert alone.file_paths == val.file_paths
    # Each label still belongs to its image after the shuffles (cats red, dogs blue).
    for ds in (train, val):
        for x, y in ds:
            np.testing.assert_array_equal(y, (x[:, 0, 0, 2] > x[:, 0, 0, 0]).astype(int))
    # The validation set of "both" is not shuffled: the same order every epoch.
    assert [y.tolist() for _, y in val] == [y.tolist() for _, y in val]


def test_reshuffles_each_epoch_repeatably(texts):
    def epochs(ds, n=3):
        return [[t for x, _ in ds for t in x.tolist()] for _ in range(n)]

    ds = text_dataset_from_directory(texts, batch_size=2, seed=5, verbose=False)
    orders = epochs(ds)
    assert all(sorted(o) == sorted(orders[0]) and len(o) == 12 for o in orders)
    assert len({tuple(o) for o in orders}) == 3  # a new order each epoch
    # The same seed gives the same sequence of orders.
    assert epochs(text_dataset_from_directory(texts, batch_size=2, seed=5, verbose=False)) == orders
    unshuffled = text_dataset_from_directory(texts, batch_size=5, shuffle=False, verbose=False)
    assert epochs(unshuffled, 2)[0] == epochs(unshuffled, 2)[1]


def test_text_dataset(texts, capsys):
    ds = text_dataset_from_directory(texts, batch_size=5, shuffle=False)
    assert capsys.readouterr().out == "Found 12 files belonging to 2 classes.\n"
    assert ds.class_names == ["neg", "pos"] and len(ds) == 3
    x, y = next(iter(ds))
    assert x.dtype.kind in "UO" and x.shape == (5,)
    assert x.tolist() == [f"neg {i} caf\u00e9" for i in range(5)]
    assert y.tolist() == [0] * 5 and y.dtype == np.int32
    short = text_dataset_from_directory(
        texts, max_length=5, batch_size=None, shuffle=False, label_mode="binary", verbose=False
    )
    x, y = list(short)[-1]
    assert str(x) == "pos 4" and y.tolist() == [1.0]
    texts_only = text_dataset_from_directory(texts, label_mode=None, batch_size=4, verbose=False)
    assert [x.shape for x in texts_only] == [(4,), (4,), (4,)]
    empty = os.path.join(os.path.dirname(texts), "empty")
    os.makedirs(os.path.join(empty, "a"))
    with pytest.raises(ValueError, match="No text files found in directory .*Allowed format: .txt"):
        text_dataset_from_directory(empty, verbose=False)


def test_errors(images, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        image_dataset_from_directory(str(tmp_path / "nowhere"))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"No images found in directory .*\('.bmp'"):
        image_dataset_from_directory(str(tmp_path / "empty"), verbose=False)
    with pytest.raises(ValueError, match="If `subset` is set, `validation_split` must be set"):
        image_dataset_from_directory(images, subset="training")
    with pytest.raises(ValueError, match="you must provide a `seed`"):
        image_dataset_from_directory(images, validation_split=0.2, subset="training")
    with pytest.raises(
        ValueError,
        match='`subset` must be either "training", "validation" or "both", received: train',
    ):
        image_dataset_from_directory(images, validation_split=0.2, subset="train", seed=1)
    with pytest.raises(ValueError, match="between 0 and 1, received: 1.5"):
        image_dataset_from_directory(images, validation_split=1.5, subset="training", seed=1)
    with pytest.raises(
        ValueError, match="label_mode` argument must be one of .*Received: label_mode=sparse"
    ):
        image_dataset_from_directory(images, label_mode="sparse")
    with pytest.raises(ValueError, match="color_mode` must be one of .*Received: color_mode=bgr"):
        image_dataset_from_directory(images, color_mode="bgr")
    with pytest.raises(ValueError, match="interpolation=cubic"):
        image_dataset_from_directory(images, interpolation="cubic")
    with pytest.raises(
        ValueError,
        match="Expected a tuple of 2 integers. Received: "
        r"image_size=\(1, 2, 3\)",
    ):
        image_dataset_from_directory(images, image_size=(1, 2, 3))
    with pytest.raises(ValueError, match="Only one of `pad_to_aspect_ratio`"):
        image_dataset_from_directory(images, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="`labels=None` .* `class_names` cannot be specified"):
        image_dataset_from_directory(images, labels=None, class_names=["cats"], verbose=False)
    with pytest.raises(ValueError, match="len\\(labels\\) is 2 while we found 8 files"):
        image_dataset_from_directory(images, labels=[0, 1], verbose=False)
    (tmp_path / "images" / "birds").mkdir()
    Image.new("RGB", (3, 3)).save(tmp_path / "images" / "birds" / "x.png")
    with pytest.raises(
        ValueError,
        match="exactly 2 class_names. Received: "
        r"class_names=\['birds', 'cats', 'dogs'\]",
    ):
        image_dataset_from_directory(images, label_mode="binary", verbose=False)


def test_dataset_from_tensor_slices_and_transformations():
    x, y = np.arange(10, dtype="float32"), np.arange(10) % 3
    ds = Dataset.from_tensor_slices((x, y))
    assert len(ds) == 10 and ds.prefetch(Dataset.AUTOTUNE) is ds and ds.cache() is ds
    batched = ds.batch(4)
    assert len(batched) == 3 and [b[0].tolist() for b in batched][2] == [8.0, 9.0]
    assert len(ds.batch(4, drop_remainder=True)) == 2
    doubled = batched.map(lambda a, b: (a * 2, b), num_parallel_calls=4)
    assert next(iter(doubled))[0].tolist() == [0, 2, 4, 6]
    only_x = batched.map(lambda a, b: a)
    assert isinstance(next(iter(only_x)), np.ndarray)
    assert [a.tolist() for a in only_x.take(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(batched.take(2)) == 2 and len(batched.take(-1)) == 3
    assert [a.tolist() for a in only_x.skip(2)] == [[8, 9]]
    back = batched.unbatch()
    assert back.cardinality() == -2
    with pytest.raises(TypeError, match="length is unknown"):
        len(back)
    assert [(float(a), int(b)) for a, b in back] == list(zip(x.tolist(), y.tolist()))
    assert [a.tolist() for a, _ in back.batch(5)] == [x[:5].tolist(), x[5:].tolist()]
    # A lazy map runs again on every pass (nothing is cached).
    calls = []
    counted = ds.map(lambda a, b: calls.append(1) or a)
    list(counted), list(counted)
    assert len(calls) == 20
    shuffled = Dataset.from_tensor_slices(np.arange(50)).shuffle(50, seed=0)
    first, second = list(shuffled), list(shuffled)
    assert sorted(first) == list(range(50)) and first != second
    fixed = Dataset.from_tensor_slices(np.arange(50)).shuffle(
        50, seed=0, reshuffle_each_iteration=False
    )
    assert list(fixed) == list(fixed)
    assert next(iter(Dataset.from_tensor_slices({"a": [[1, 2], [3, 4]]})))["a"].tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"same first dimension.*\[3, 2\]"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(2)))


def test_load_img_and_array_round_trip(tmp_path):
    data = np.zeros((6, 8, 3), dtype="float32")
    data[:, 4:, 1] = 200  # right half green
    path = str(tmp_path / "img.png")
    save_img(path, data, scale=False)
    img = load_img(path)
    assert img.size == (8, 6) and img.mode == "RGB"
    x = img_to_array(img)
    assert x.dtype == np.float32 and x.shape == (6, 8, 3)
    np.testing.assert_array_equal(x, data)
    assert img_to_array(load_img(path, color_mode="grayscale")).shape == (6, 8, 1)
    assert img_to_array(img, data_format="channels_first").shape == (3, 6, 8)
    small = img_to_array(load_img(path, target_size=(3, 4)))  # nearest by default
    assert small.shape == (3, 4, 3)
    np.testing.assert_array_equal(small[:, :, 1], [[0, 0, 200, 200]] * 3)
    # keep_aspect_ratio crops the centre 6x6 window (columns 1..6) before resizing.
    square = img_to_array(load_img(path, target_size=(6, 6), keep_aspect_ratio=True))
    np.testing.assert_array_equal(square[0, :, 1], [0, 0, 0, 200, 200, 200])
    scaled = img_to_array(array_to_img(data))  # scale=True stretches to [0, 255]
    assert scaled.max() == 255
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Invalid interpolation method cubic"):
        load_img(path, target_size=(2, 2), interpolation="cubic")


def test_resize_rules():
    # TF's half-pixel bilinear, [0, 10] -> 4 samples: sources -0.25, 0.25, 0.75, 1.25,
    # clamped at the borders -> 0, 2.5, 7.5, 10.
    row = np.array([[[0.0], [10.0]]], dtype="float32")
    np.testing.assert_allclose(resize_image(row, (1, 4))[0, :, 0], [0, 2.5, 7.5, 10])
    # TF's nearest: floor((out + 0.5) * in / out): 3 -> 5 takes 0, 0, 1, 2, 2.
    row = np.array([[[1.0], [2.0], [3.0]]], dtype="float32")
    np.testing.assert_array_equal(resize_image(row, (1, 5), "nearest")[0, :, 0], [1, 1, 2, 3, 3])
    # crop: 4x8 to a square keeps columns 2..5; pad: 4x8 to a square adds 2 zero rows
    # above and below (Keras's int((pad - size) / 2) on each side).
    cols = np.tile(np.arange(8, dtype="float32")[None, :, None], (4, 1, 1))
    np.testing.assert_array_equal(
        resize_image(cols, (4, 4), crop_to_aspect_ratio=True)[0, :, 0], [2, 3, 4, 5]
    )
    padded = resize_image(cols + 1, (8, 8), pad_to_aspect_ratio=True)[:, 0, 0]
    np.testing.assert_array_equal(padded, [0, 0, 1, 1, 1, 1, 0, 0])
    assert resize_image(cols, (3, 5), "bicubic").shape == (3, 5, 1)
