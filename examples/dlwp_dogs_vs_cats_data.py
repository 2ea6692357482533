"""The data pipeline of "Deep Learning with Python" (2nd edition), chapter 8, with
`tensorflow.keras.utils` and `tf.data` replaced by `graphc.utils`.

The book copies Kaggle's dogs-vs-cats pictures into cats_vs_dogs_small/{train,validation,
test}/{cat,dog}; graphc cannot download them here, so the script writes a small directory
of random JPEG pictures of random sizes in the same layout (in a temporary directory), then
reads it exactly as the book does: `image_dataset_from_directory` with
`image_size=(180, 180)` and `batch_size=32`, the book's look at one batch (listing 8.10),
its tour of the Dataset API (listings 8.7-8.9, on `graphc.utils.Dataset`), chapter 9's
`load_img` / `img_to_array`, and the training of the convnet with data augmentation on
these datasets (listings 8.16-8.17: `fit` with `validation_data` and a `ModelCheckpoint`,
then `evaluate` on the test set) for one epoch instead of the book's 100.

    python examples/dlwp_dogs_vs_cats_data.py
"""

import pathlib
import tempfile

import numpy as np
from dlwp_vision import build_convnet  # the book's dogs-vs-cats convnet (listing 8.14)
from PIL import Image

import graphc as keras
from graphc.utils import Dataset, image_dataset_from_directory, img_to_array, load_img

# Few pictures per class (the book has 1000/500/500): enough for a full and a short batch.
SUBSETS = {"train": 20, "validation": 6, "test": 6}


def make_fake_dogs_vs_cats(new_base_dir, seed=0):
    """cats_vs_dogs_small/{train,validation,test}/{cat,dog}/<cat|dog>.<i>.jpg, random."""
    rng = np.random.default_rng(seed)
    start = 0
    for subset_name, count in SUBSETS.items():
        for category in ("cat", "dog"):
            folder = new_base_dir / subset_name / category
            folder.mkdir(parents=True)
            for i in range(start, start + count):
                height, width = rng.integers(100, 400, size=2)
                pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{category}.{i}.jpg")
        start += count  # the book's make_subset(name, start_index, end_index)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        new_base_dir = pathlib.Path(tmp) / "cats_vs_dogs_small"
        make_fake_dogs_vs_cats(new_base_dir)

        # Listing 8.9: reading the images as datasets.
        train_dataset = image_dataset_from_directory(
            new_base_dir / "train", image_size=(180, 180), batch_size=32
        )
        validation_dataset = image_dataset_from_directory(
            new_base_dir / "validation", image_size=(180, 180), batch_size=32
        )
        test_dataset = image_dataset_from_directory(
            new_base_dir / "test", image_size=(180, 180), batch_size=32
        )
        print("class names:", train_dataset.class_names)
        print("batches per epoch:", len(train_dataset), len(validation_dataset), len(test_dataset))

        # Listing 8.10: the output of one batch.
        for data_batch, labels_batch in train_dataset:
            print("data batch shape:", data_batch.shape)
            print("labels batch shape:", labels_batch.shape)
            break
        print(
            "data batch dtype:",
            data_batch.dtype,
            "range:",
            float(data_batch.min()),
            float(data_batch.max()),
        )
        print("labels:", labels_batch.dtype, sorted(set(labels_batch.tolist())))

        # Chapter 9: one picture as an array.
        img = load_img(train_dataset.file_paths[0], target_size=(180, 180))
        array = img_to_array(img)
        print("img_to_array shape:", array.shape, array.dtype)

        # Listings 8.16-8.17: training on the datasets, keeping the best model, testing it.
        # (The book's file is "convnet_from_scratch.keras"; graphc writes .graphc files.)
        model = build_convnet()
        checkpoint = str(pathlib.Path(tmp) / "convnet_from_scratch.graphc")
        callbacks = [
            keras.callbacks.ModelCheckpoint(
                filepath=checkpoint, save_best_only=True, monitor="val_loss"
            )
        ]
        history = model.fit(
            train_dataset, epochs=1, validation_data=validation_dataset, callbacks=callbacks
        )
        print("history keys:", sorted(history.history))
        test_model = keras.models.load_model(checkpoint)
        test_loss, test_acc = test_model.evaluate(test_dataset)
        print(f"Test accuracy: {test_acc:.3f}")

    # Listings 8.7-8.9: the Dataset API on random numbers (tf.data.Dataset in the book).
    random_numbers = np.random.normal(size=(1000, 16))
    dataset = Dataset.from_tensor_slices(random_numbers)
    for i, element in enumerate(dataset):
        print(element.shape)
        if i >= 2:
            break
    batched_dataset = dataset.batch(32)
    for i, element in enumerate(batched_dataset):
        print(element.shape)
        if i >= 2:
            break
    reshaped_dataset = dataset.map(lambda x: np.reshape(x, (4, 4)))
    for i, element in enumerate(reshaped_dataset):
        print(element.shape)
        if i >= 2:
            break


if __name__ == "__main__":
    main()
