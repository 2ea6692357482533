"""Datasets from directories of files, as Keras 3's ``image_dataset_from_directory`` and
``text_dataset_from_directory``, in Python and NumPy (Pillow reads the images); no
TensorFlow.

They return a small :class:`Dataset`, graphc's stand-in for ``tf.data.Dataset``: a
re-iterable of NumPy batches (``(x, y)``, or ``x`` alone without labels) that reads files
only when a batch is made, with the ``tf.data`` methods the book's code calls (``map``,
``take``, ``batch``, ``shuffle``, ``prefetch``, ``cache``, ...).

>>> train_ds = image_dataset_from_directory("cats_vs_dogs/train", image_size=(180, 180))
Found 2000 files belonging to 2 classes.
>>> for images, labels in train_ds:
...     print(images.shape, labels.shape)        # (32, 180, 180, 3) (32,)
...     break

The file listing, its seeded shuffle and the training/validation split follow Keras's
``dataset_utils.index_directory`` and ``get_training_or_validation_split`` line by line, so
the same ``seed`` puts the same files in each subset as Keras does.
"""

from __future__ import annotations

import os
import wave

import numpy as np

from graphc import rng as graphc_random
from graphc.config import standardize_data_format
from graphc.errors import ArgumentValueError, FileFormatError
from graphc.utils import image_utils

__all__ = [
    "Dataset",
    "audio_dataset_from_directory",
    "image_dataset_from_directory",
    "text_dataset_from_directory",
]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
INFINITE_CARDINALITY = -1  # tf.data's constants
UNKNOWN_CARDINALITY = -2


# --------------------------------------------------------------------------- Dataset


def _map_struct(fn, element):
    if isinstance(element, tuple):
        return tuple(_map_struct(fn, e) for e in element)
    if isinstance(element, dict):
        return {k: _map_struct(fn, v) for k, v in element.items()}
    return fn(element)


def _stack(elements):
    """A list of like-structured elements as one batch (the structure of the first)."""
    first = elements[0]
    if isinstance(first, tuple):
        return tuple(_stack([e[i] for e in elements]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements]) for k in first}
    return np.stack([np.asarray(e) for e in elements])


def _pad_stack(elements):
    """Like ``_stack``, each array zero-padded at the end of every axis to the largest
    shape in the batch (tf.data's ``padded_batch`` with its default padding)."""
    first = elements[0]
    if isinstance(first, tuple):
        return tuple(_pad_stack([e[i] for e in elements]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _pad_stack([e[k] for e in elements]) for k in first}
    arrays = [np.asarray(e) for e in elements]
    shape = tuple(max(d) for d in zip(*(a.shape for a in arrays))) if arrays[0].ndim else ()
    out = np.zeros((len(arrays),) + shape, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[(i,) + tuple(slice(0, d) for d in a.shape)] = a
    return out


def _unstack(batch):
    """The elements of one batch (inverse of ``_stack``)."""
    if isinstance(batch, tuple):
        return list(zip(*(_unstack(b) for b in batch)))
    if isinstance(batch, dict):
        keys = list(batch)
        return [dict(zip(keys, vals)) for vals in zip(*(_unstack(batch[k]) for k in keys))]
    return list(np.asarray(batch))


def _call(fn, element):
    # As tf.data: a tuple element is spread over the function's arguments.
    return fn(*element) if isinstance(element, tuple) else fn(element)


class Dataset:
    """A re-iterable pipeline of NumPy elements, after ``tf.data.Dataset``.

    Each ``iter()`` starts over (and reshuffles, where a shuffle asks for it); elements are
    computed as they are pulled, so iterating holds one batch at a time.

    >>> ds = Dataset.from_tensor_slices((np.arange(10.0), np.arange(10) % 2)).batch(4)
    >>> [x.shape for x, y in ds]
    [(4,), (4,), (2,)]
    >>> len(ds)
    3
    """

    # tf.data.AUTOTUNE, for code that passes it to prefetch/map (graphc ignores it).
    AUTOTUNE = -1

    def __init__(self, make_iterator, cardinality):
        self._make_iterator = make_iterator
        self._cardinality = cardinality

    # -- constructors --------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        """One element per row of ``tensors`` (an array, or a tuple/dict of arrays with
        the same first dimension); a list is one array, as in ``tf.data``."""
        tensors = _lists_to_arrays(tensors)
        sizes = []
        _map_struct(lambda a: sizes.append(a.shape[0] if a.ndim else None), tensors)
        if None in sizes:
            raise ValueError(
                "Unbatching a tensor is only supported for rank >= 1: "
                "from_tensor_slices needs arrays with a first dimension."
            )
        if len(set(sizes)) != 1:
            raise ValueError(
                "All the arrays passed to from_tensor_slices must have the "
                f"same first dimension. Received first dimensions: {sizes}"
            )
        n = sizes[0]

        def make_iterator():
            for i in range(n):
                yield _map_struct(lambda a, i=i: a[i], tensors)

        return Dataset(make_iterator, n)

    # -- iteration -----------------------------------------------------------------
    def __iter__(self):
        return iter(self._make_iterator())

    def as_numpy_iterator(self):
        """An iterator over the elements (they already are NumPy arrays)."""
        return iter(self)

    def cardinality(self):
        """The number of elements (batches, once batched); -2 if unknown, as tf.data."""
        return self._cardinality

    def __len__(self):
        if self._cardinality == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    def __repr__(self):
        return f"<Dataset cardinality={self._cardinality}>"

    # -- transformations -----------------------------------------------------------
    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """Apply ``map_func`` to each element when it is pulled (a tuple element's parts
        are its arguments: ``ds.map(lambda x, y: (f(x), y))``). ``num_parallel_calls``
        is accepted and the calls run one after another."""

        def make_iterator():
            for element in self:
                yield _call(map_func, element)

        return Dataset(make_iterator, self._cardinality)

    def batch(
        self,
        batch_size,
        drop_remainder=False,
        num_parallel_calls=None,
        deterministic=None,
        name=None,
    ):
        """Stack ``batch_size`` consecutive elements into one (the last may be short)."""
        return self._grouped(batch_size, drop_remainder, _stack)

    def _grouped(self, batch_size, drop_remainder, combine):
        """``combine`` applied to each run of ``batch_size`` consecutive elements."""
        batch_size = int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer. Received: {batch_size}")

        def make_iterator():
            pending = []
            for element in self:
                pending.append(element)
                if len(pending) == batch_size:
                    yield combine(pending)
                    pending = []
            if pending and not drop_remainder:
                yield combine(pending)

        n = self._cardinality
        if n >= 0:
            n = n // batch_size if drop_remainder else -(-n // batch_size)
        return Dataset(make_iterator, n)

    def padded_batch(
        self,
        batch_size,
        padded_shapes=None,
        padding_values=None,
        drop_remainder=False,
        name=None,
    ):
        """Batch ``batch_size`` consecutive elements, each array zero-padded to the
        largest shape in its batch (tf.data's default; ``padded_shapes`` and
        ``padding_values`` other than None are not supported)."""
        if padded_shapes is not None or padding_values is not None:
            raise NotImplementedError(
                "graphc's Dataset.padded_batch pads with zeros to the largest shape of "
                "each batch; padded_shapes and padding_values are not supported. Pad the "
                "elements in a map() before batch() instead."
            )
        return self._grouped(batch_size, drop_remainder, _pad_stack)

    def unbatch(self, name=None):
        """Split each element along its first axis."""

        def make_iterator():
            for batch in self:
                yield from _unstack(batch)

        return Dataset(make_iterator, UNKNOWN_CARDINALITY)

    def take(self, count, name=None):
        """The first ``count`` elements (all of them if ``count`` is -1)."""
        count = int(count)

        def make_iterator():
            if count == 0:
                return
            for i, element in enumerate(self):
                yield element
                if i + 1 == count:
                    return

        n = self._cardinality
        if count >= 0 and n != UNKNOWN_CARDINALITY:
            n = count if n == INFINITE_CARDINALITY else min(n, count)
        return Dataset(make_iterator, n)

    def skip(self, count, name=None):
        """All but the first ``count`` elements."""
        count = int(count)

        def make_iterator():
            for i, element in enumerate(self):
                if i >= count:
                    yield element

        n = self._cardinality
        if n >= 0:
            n = max(n - count, 0)
        return Dataset(make_iterator, n)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None):
        """tf.data's buffered shuffle: keep ``buffer_size`` elements and yield a random
        one of them each step. A new order each iteration unless
        ``reshuffle_each_iteration=False``; ``seed`` makes the orders repeatable."""
        buffer_size = int(buffer_size)
        if buffer_size <= 0:
            raise ValueError(f"buffer_size must be a positive integer. Received: {buffer_size}")
        if seed is None:
            seed = int(graphc_random.generator().integers(2**31))
        seeds = np.random.default_rng(seed)

        def make_iterator():
            rng = np.random.default_rng(
                seed if not reshuffle_each_iteration else int(seeds.integers(2**63))
            )
            buffer = []
            for element in self:
                buffer.append(element)
                if len(buffer) == buffer_size:
                    i = rng.integers(buffer_size)
                    buffer[i], buffer[-1] = buffer[-1], buffer[i]
                    yield buffer.pop()
            while buffer:
                i = rng.integers(len(buffer))
                buffer[i], buffer[-1] = buffer[-1], buffer[i]
                yield buffer.pop()

        return Dataset(make_iterator, self._cardinality)

    def prefetch(self, buffer_size=None, name=None):
        """Returns the dataset: graphc reads each batch when it is asked for."""
        return self

    def cache(self, filename="", name=None):
        """Returns the dataset (no caching: each pass reads the files again)."""
        return self


def _lists_to_arrays(tensors):
    if isinstance(tensors, tuple):
        return tuple(_lists_to_arrays(t) for t in tensors)
    if isinstance(tensors, dict):
        return {k: _lists_to_arrays(v) for k, v in tensors.items()}
    return np.asarray(tensors)


# --------------------------------------------------------------- listing the files


def check_validation_split_arg(validation_split, subset, shuffle, seed):
    """Keras's checks of ``validation_split`` / ``subset`` / ``seed``."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(
            f"`validation_split` must be between 0 and 1, received: {validation_split}"
        )
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(
            f'`subset` must be either "training", "validation" or "both", received: {subset}'
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must "
            "provide a `seed` argument, to make sure that there is no "
            "overlap between the training and validation subset."
        )


def _iter_valid_files(directory, follow_links, formats):
    # Every file below `directory` (sub-subdirectories too), directories and names sorted.
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda x: x[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                yield root, fname


def index_directory(
    directory,
    labels,
    formats,
    class_names=None,
    shuffle=True,
    seed=None,
    follow_links=False,
    verbose=True,
):
    """``(file_paths, labels, class_names)`` as Keras's ``index_directory``: class
    subdirectories in sorted order (or ``class_names``' order), their files sorted, then
    one global shuffle with ``np.random.RandomState(seed)``."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"Directory not found: {directory!r} (expected a directory "
            "of files, or of one subdirectory of files per class)."
        )
    if labels == "inferred":
        subdirs = [
            d
            for d in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")
        ]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the "
                    "subdirectories of the target directory. "
                    f"Expected: {subdirs} (or a subset of it), "
                    f"but received: class_names={class_names}"
                )
            subdirs = list(class_names)  # keep the given order
    else:
        subdirs = [""]  # explicit or no labels: index from the directory itself down
        if class_names is not None:
            if labels is None:
                raise ValueError(
                    "When `labels=None` (no labels), argument `class_names` cannot be specified."
                )
            raise ValueError(
                "When argument `labels` is specified, argument `class_names` "
                "cannot be specified (the `class_names` will be the sorted "
                "list of labels)."
            )
    class_names = subdirs
    filenames, found_labels = [], []
    for index, subdir in enumerate(subdirs):
        subdir_path = os.path.join(directory, subdir)
        for root, fname in _iter_valid_files(subdir_path, follow_links, formats):
            filenames.append(
                os.path.join(subdir, os.path.relpath(os.path.join(root, fname), subdir_path))
            )
            found_labels.append(index)

    if labels == "inferred":
        labels = np.array(found_labels, dtype="int32")
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files "
                f"in the target directory. len(labels) is {len(labels)} while "
                f"we found {len(filenames)} files in directory {directory}."
            )
        class_names = [str(label) for label in sorted(set(labels))]
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, fname) for fname in filenames]
    if shuffle:
        # One shuffle of the whole list (to erase the class blocks), paths and labels
        # with the same permutation: two generators from the same seed, as Keras.
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            labels = np.array(labels)  # a copy: Keras shuffles a caller's list in place
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def get_training_or_validation_split(samples, labels, validation_split, subset):
    """Keras's split: the last ``int(validation_split * n)`` samples are the validation
    set, the rest the training set (with Keras's messages, printed even when not verbose)."""
    if not validation_split:
        return samples, labels
    num_val_samples = int(validation_split * len(samples))
    # Keras slices with [:-k] / [-k:]: with k == 0 the training set is empty and the
    # validation set is everything; kept as is (the caller then reports no files).
    if subset == "training":
        print(f"Using {len(samples) - num_val_samples} files for training.")
        samples = samples[:-num_val_samples]
        if labels is not None:
            labels = labels[:-num_val_samples]
    elif subset == "validation":
        print(f"Using {num_val_samples} files for validation.")
        samples = samples[-num_val_samples:]
        if labels is not None:
            labels = labels[-num_val_samples:]
    else:
        raise ValueError(f'`subset` must be either "training" or "validation", received: {subset}')
    return samples, labels


def _check_common_args(labels, label_mode, class_names):
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same "
                "size as the number of files in the target directory. If you wish to "
                "infer the labels from the subdirectory names in the target directory, "
                'pass `labels="inferred"`. If you wish to get a dataset that only contains '
                f"the files (no labels), pass `labels=None`. Received: labels={labels}"
            )
        if class_names:
            raise ValueError(
                'You can only pass `class_names` if `labels="inferred"`. '
                f"Received: labels={labels}, and class_names={class_names}"
            )
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError(
            '`label_mode` argument must be one of "int", "categorical", '
            f'"binary", or None. Received: label_mode={label_mode}'
        )


def _encode_label(label, label_mode, num_classes):
    if label_mode == "binary":
        return np.array([label], dtype="float32")
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[label]
    return np.int32(label)


def _make_dataset(
    paths, labels, label_mode, num_classes, load, batch_size, shuffle, seed, batcher="batch"
):
    """Keras's pipeline: (path, label) slices -> shuffle (buffer of 8 batches) -> load each
    file -> batch. ``load`` runs when an element is pulled."""
    if label_mode:
        encoded = [_encode_label(int(label), label_mode, num_classes) for label in labels]

        def make_iterator():
            for i in range(len(paths)):
                yield (paths[i], encoded[i])
    else:

        def make_iterator():
            yield from paths

    ds = Dataset(make_iterator, len(paths))
    if shuffle:
        ds = ds.shuffle(batch_size * 8 if batch_size is not None else 1024, seed=seed)
    ds = ds.map((lambda path, label: (load(path), label)) if label_mode else load)
    if batch_size is None:
        return ds
    if batcher == "ragged":
        return _ragged_batch(ds, batch_size)
    return getattr(ds, batcher)(batch_size)


def _ragged_batch(ds, batch_size):
    """Batches whose samples keep their own lengths: the samples as a list of arrays
    (graphc's stand-in for a ``tf.RaggedTensor``), the labels stacked."""

    def pack(pending):
        if isinstance(pending[0], tuple):
            return ([e[0] for e in pending], _stack([e[1] for e in pending]))
        return list(pending)

    def make_iterator():
        pending = []
        for element in ds:
            pending.append(element)
            if len(pending) == batch_size:
                yield pack(pending)
                pending = []
        if pending:
            yield pack(pending)

    n = ds._cardinality
    return Dataset(make_iterator, -(-n // batch_size) if n >= 0 else n)


def _datasets_from_directory(
    directory,
    labels,
    label_mode,
    class_names,
    formats,
    load,
    batch_size,
    shuffle,
    seed,
    validation_split,
    subset,
    follow_links,
    verbose,
    what,
    batcher="batch",
):
    """The listing, split and datasets shared by the image, text and audio loaders."""
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = index_directory(
        directory,
        labels,
        formats=formats,
        class_names=class_names,
        shuffle=shuffle,
        seed=seed,
        follow_links=follow_links,
        verbose=verbose,
    )
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            'When passing `label_mode="binary"`, there must be exactly 2 '
            f"class_names. Received: class_names={class_names}"
        )
    num_classes = len(class_names) if class_names else 0
    allowed = f"Allowed formats: {formats}" if len(formats) > 1 else f"Allowed format: {formats[0]}"

    def build(subset_name, subset_shuffle, prefix):
        sub_paths, sub_labels = get_training_or_validation_split(
            paths, labels, validation_split, subset_name
        )
        if not sub_paths:
            raise ValueError(f"No {prefix}{what} found in directory {directory}. {allowed}")
        ds = _make_dataset(
            sub_paths,
            sub_labels,
            label_mode,
            num_classes,
            load,
            batch_size,
            subset_shuffle,
            seed,
            batcher,
        )
        ds.class_names = class_names
        ds.file_paths = sub_paths
        return ds

    if subset == "both":
        # As Keras: the validation set is never shuffled.
        return [build("training", shuffle, "training "), build("validation", False, "validation ")]
    return build(subset, shuffle, "")


# ------------------------------------------------------------------------- loaders


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode="rgb",
    batch_size=32,
    image_size=(256, 256),
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    interpolation="bilinear",
    follow_links=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    data_format=None,
    verbose=True,
):
    """A :class:`Dataset` of images from ``directory``, as Keras 3's
    ``keras.utils.image_dataset_from_directory``.

    With ``labels="inferred"`` each subdirectory is a class (alphanumeric order, or
    ``class_names``' order), and its ``.bmp .gif .jpeg .jpg .png`` files (searched
    recursively; a GIF gives its first frame) are its samples. Prints
    ``Found N files belonging to C classes.``

    Batches are ``(images, labels)``: images float32 ``(batch, height, width, channels)``
    with values in [0, 255] (1, 3 or 4 channels for ``color_mode`` ``"grayscale"``,
    ``"rgb"``, ``"rgba"``; channels first with ``data_format="channels_first"``); labels
    int32 ``(batch,)`` (``"int"``), float32 one-hot ``(batch, classes)``
    (``"categorical"``) or float32 ``(batch, 1)`` (``"binary"``); images alone when
    ``label_mode`` or ``labels`` is None. ``batch_size=None`` yields single samples.

    ``validation_split`` with ``subset`` (``"training"``, ``"validation"`` or ``"both"``,
    which returns the two datasets) splits the seeded shuffle of the file list exactly as
    Keras does; the training set reshuffles each epoch (tf.data's buffer of 8 batches),
    the validation set of ``"both"`` is not shuffled. The result has ``class_names`` and
    ``file_paths`` attributes.

    Resizing: ``"bilinear"`` (the default) and ``"nearest"`` use TensorFlow's rules
    (half-pixel centres, no antialiasing) computed in NumPy; ``"bilinear"`` agrees with
    Keras's ``ops.image.resize`` to float32 rounding. ``"bicubic"``, ``"area"``,
    ``"lanczos3"``, ``"lanczos5"``, ``"gaussian"`` and ``"mitchellcubic"`` use the nearest
    Pillow filter (bicubic, box, Lanczos, Hamming), so their pixel values differ from
    TensorFlow's; shapes and dtype are the same. The shuffle order of samples within an
    epoch cannot match TensorFlow's random numbers; the file list and the split do.

    >>> train_ds = image_dataset_from_directory("train", image_size=(180, 180), batch_size=32)
    Found 2000 files belonging to 2 classes.
    """
    _check_common_args(labels, label_mode, class_names)
    if labels is None or label_mode is None:
        labels = label_mode = None
    channels = {"rgb": 3, "rgba": 4, "grayscale": 1}.get(color_mode)
    if channels is None:
        raise ValueError(
            '`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
            f"Received: color_mode={color_mode}"
        )
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(
            "Invalid `image_size` value. Expected a tuple of 2 integers. "
            f"Received: image_size={image_size}"
        )
    image_size = tuple(int(s) for s in image_size)
    interpolation = str(interpolation).lower()
    if interpolation not in image_utils.RESIZE_INTERPOLATIONS:
        raise ValueError(
            "Argument `interpolation` should be one of "
            f"{image_utils.RESIZE_INTERPOLATIONS}. "
            f"Received: interpolation={interpolation}"
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            "Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`."
        )
    data_format = standardize_data_format(data_format)
    image_utils.pil_image()  # Pillow missing: say so now, not at the first batch

    def load(path):
        img = image_utils.img_to_array(image_utils.load_img(path, color_mode=color_mode))
        img = image_utils.resize_image(
            img,
            image_size,
            interpolation,
            crop_to_aspect_ratio=crop_to_aspect_ratio,
            pad_to_aspect_ratio=pad_to_aspect_ratio,
        )
        return img.transpose(2, 0, 1) if data_format == "channels_first" else img

    return _datasets_from_directory(
        directory,
        labels,
        label_mode,
        class_names,
        ALLOWLIST_FORMATS,
        load,
        batch_size,
        shuffle,
        seed,
        validation_split,
        subset,
        follow_links,
        verbose,
        "images",
    )


def text_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    batch_size=32,
    max_length=None,
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    follow_links=False,
    verbose=True,
):
    """A :class:`Dataset` of texts from the ``.txt`` files in ``directory``, as Keras 3's
    ``keras.utils.text_dataset_from_directory`` (directory layout, labels, shuffling and
    splitting as :func:`image_dataset_from_directory`).

    Batches are ``(texts, labels)`` with ``texts`` a NumPy array of Python strings (the
    files read as UTF-8, cut to ``max_length`` characters if given — Keras's non-TF
    reader; TensorFlow's yields bytes cut to ``max_length`` bytes). ``graphc``'s
    ``TextVectorization`` takes these arrays directly.

    >>> train_ds = text_dataset_from_directory("aclImdb/train", batch_size=32)
    Found 25000 files belonging to 2 classes.
    >>> text_only_ds = train_ds.map(lambda x, y: x)
    """
    _check_common_args(labels, label_mode, class_names)
    if labels is None or label_mode is None:
        labels = label_mode = None

    def load(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return text if max_length is None else text[:max_length]

    return _datasets_from_directory(
        directory,
        labels,
        label_mode,
        class_names,
        (".txt",),
        load,
        batch_size,
        shuffle,
        seed,
        validation_split,
        subset,
        follow_links,
        verbose,
        "text files",
    )


def read_wav(path, output_sequence_length=None):
    """A PCM ``.wav`` file as float32 ``(samples, channels)`` in [-1, 1) and its sampling
    rate, as ``tf.audio.decode_wav`` decodes it (integer samples over 2**(bits - 1); 8-bit
    samples are unsigned), cut or zero-padded to ``output_sequence_length`` samples."""
    try:
        with wave.open(os.fspath(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise FileFormatError(
            f"{path} is not a PCM .wav file that Python's wave module reads ({e}). "
            "Convert it to 8-, 16-, 24- or 32-bit integer PCM."
        ) from None
    frames = len(raw) // (width * channels)
    raw = raw[: frames * width * channels]
    if width == 1:
        audio = (np.frombuffer(raw, np.uint8).astype("float32") - 128.0) / 128.0
    elif width == 3:  # 24-bit little-endian: widen to 32 bits
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        wide = np.zeros((b.shape[0], 4), np.uint8)
        wide[:, 1:] = b
        audio = wide.view("<i4").ravel().astype("float32") / 2.0**31
    else:
        dtype = {2: "<i2", 4: "<i4"}.get(width)
        if dtype is None:
            raise FileFormatError(f"{path}: {8 * width}-bit samples are not supported.")
        audio = np.frombuffer(raw, dtype).astype("float32") / 2.0 ** (8 * width - 1)
    audio = audio.reshape(frames, channels)
    if output_sequence_length is not None and output_sequence_length != frames:
        n = int(output_sequence_length)
        fitted = np.zeros((n, channels), "float32")
        fitted[: min(n, frames)] = audio[:n]
        audio = fitted
    return audio, rate


def audio_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    batch_size=32,
    sampling_rate=None,
    output_sequence_length=None,
    ragged=False,
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    follow_links=False,
    verbose=True,
):
    """A :class:`Dataset` of the ``.wav`` files in ``directory``, as Keras 3's
    ``keras.utils.audio_dataset_from_directory`` (directory layout, labels, shuffling and
    splitting as :func:`image_dataset_from_directory`), read with Python's ``wave``
    module: no TensorFlow.

    Batches are ``(audio, labels)``: audio float32 ``(batch, samples, channels)`` in
    [-1, 1) (PCM samples over 2**(bits - 1), as ``tf.audio.decode_wav``), cut or
    zero-padded to ``output_sequence_length``, or padded with zeros to the longest file
    of the batch when it is None; with ``ragged=True`` the audio of a batch is a list of
    arrays of their own lengths. Labels as the image loader's; audio alone without
    labels.

    ``sampling_rate``: Keras resamples with tensorflow-io; graphc does not resample, so
    a file whose rate differs from ``sampling_rate`` raises when it is read.
    """
    _check_common_args(labels, label_mode, class_names)
    if ragged and output_sequence_length is not None:
        raise ArgumentValueError(
            "Cannot set both `ragged` and `output_sequence_length`: a ragged batch keeps "
            "each file's length. Pass one of them."
        )
    if sampling_rate is not None:
        if not isinstance(sampling_rate, int) or isinstance(sampling_rate, bool):
            raise ArgumentValueError(
                "`sampling_rate` should have an integer value. "
                f"Received: sampling_rate={sampling_rate}"
            )
        if sampling_rate <= 0:
            raise ArgumentValueError(
                f"`sampling_rate` should be higher than 0. Received: sampling_rate={sampling_rate}"
            )
    if labels is None or label_mode is None:
        labels = label_mode = None

    def load(path):
        audio, rate = read_wav(path, output_sequence_length)
        if sampling_rate is not None and rate != sampling_rate:
            raise ArgumentValueError(
                f"{path} is sampled at {rate} Hz, not sampling_rate={sampling_rate}. "
                "graphc does not resample audio (Keras needs tensorflow-io for it): "
                "resample the files beforehand, or pass sampling_rate=None."
            )
        return audio

    if batch_size is None:
        batcher = "batch"
    elif ragged:
        batcher = "ragged"
    elif output_sequence_length is None:
        batcher = "padded_batch"
    else:
        batcher = "batch"
    return _datasets_from_directory(
        directory,
        labels,
        label_mode,
        class_names,
        (".wav",),
        load,
        batch_size,
        shuffle,
        seed,
        validation_split,
        subset,
        follow_links,
        verbose,
        "audio files",
        batcher,
    )
