"""The bag-of-words text classifier of "Deep Learning with Python" (2nd edition, chapter 11,
listings 11.3-11.8 and the end-to-end inference model), with `keras` and `tf.data`
replaced by `graphc`: `text_dataset_from_directory` reads a directory of reviews,
`TextVectorization` (bigrams, multi-hot) is adapted on the texts, the datasets are mapped
to vectors, the book's `get_model` trains on them with a checkpoint, and a model taking
raw strings is built for inference.

The book reads the IMDB reviews (aclImdb); graphc cannot download them here, so the script
writes a small aclImdb-like directory of synthetic reviews (in a temporary directory):
sentences of neutral words with positive or negative words mixed in, so that the model has
something to learn, and rare made-up words (names, typos), so that the vocabulary fills
the book's 20,000 tokens as IMDB's does.

    python examples/dlwp_bag_of_words.py
"""

import pathlib
import tempfile

import numpy as np

import graphc as keras
from graphc import layers
from graphc.layers import TextVectorization

NEUTRAL = (
    "the movie film plot actor story scene was is it a an this that with and of to "
    "in for on director cast script music"
).split()
POSITIVE = "excellent loved great wonderful superb brilliant enjoyed beautiful".split()
NEGATIVE = "terrible hated awful boring worst waste dull bad".split()


def write_reviews(base, rng, per_class=None):
    """aclImdb/{train,test}/{neg,pos}/<i>.txt with synthetic reviews."""
    per_class = per_class or {"train": 300, "test": 100}
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    for subset, count in per_class.items():
        for label, words in (("neg", NEGATIVE), ("pos", POSITIVE)):
            folder = base / subset / label
            folder.mkdir(parents=True)
            for i in range(count):
                n = int(rng.integers(8, 30))
                rare = ["".join(rng.choice(letters, 6)) for _ in range(30)]
                tokens = list(rng.choice(NEUTRAL, n)) + list(rng.choice(words, 2)) + rare
                rng.shuffle(tokens)
                (folder / f"{i}.txt").write_text(" ".join(tokens).capitalize() + ".")


def get_model(max_tokens=20000, hidden_dim=16):
    inputs = keras.Input(shape=(max_tokens,))
    x = layers.Dense(hidden_dim, activation="relu")(inputs)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main():
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)  # repeatable weights, dropout and shuffling
    with tempfile.TemporaryDirectory() as tmp:
        base = pathlib.Path(tmp) / "aclImdb"
        write_reviews(base, rng)
        batch_size = 32
        train_ds = keras.utils.text_dataset_from_directory(
            base / "train",
            batch_size=batch_size,
            validation_split=0.2,
            subset="training",
            seed=1337,
        )
        val_ds = keras.utils.text_dataset_from_directory(
            base / "train",
            batch_size=batch_size,
            validation_split=0.2,
            subset="validation",
            seed=1337,
        )
        test_ds = keras.utils.text_dataset_from_directory(base / "test", batch_size=batch_size)
        text_only_train_ds = train_ds.map(lambda x, y: x)

        # Listing 11.7: bigrams, multi-hot.
        text_vectorization = TextVectorization(
            ngrams=2,
            max_tokens=20000,
            output_mode="multi_hot",
        )
        text_vectorization.adapt(text_only_train_ds)
        binary_2gram_train_ds = train_ds.map(
            lambda x, y: (text_vectorization(x), y), num_parallel_calls=4
        )
        binary_2gram_val_ds = val_ds.map(
            lambda x, y: (text_vectorization(x), y), num_parallel_calls=4
        )
        binary_2gram_test_ds = test_ds.map(
            lambda x, y: (text_vectorization(x), y), num_parallel_calls=4
        )

        # Listing 11.8 (the book writes "binary_2gram.keras" and trains 10 epochs).
        model = get_model()
        model.summary()
        checkpoint = str(pathlib.Path(tmp) / "binary_2gram.graphc")
        callbacks = [keras.callbacks.ModelCheckpoint(checkpoint, save_best_only=True)]
        model.fit(
            binary_2gram_train_ds.cache(),
            validation_data=binary_2gram_val_ds.cache(),
            epochs=5,
            callbacks=callbacks,
        )
        model = keras.models.load_model(checkpoint)
        print(f"Test acc: {model.evaluate(binary_2gram_test_ds)[1]:.3f}")

        # Exporting a model that processes raw strings (the book uses tf.convert_to_tensor).
        inputs = keras.Input(shape=(1,), dtype="string")
        processed_inputs = text_vectorization(inputs)
        outputs = model(processed_inputs)
        inference_model = keras.Model(inputs, outputs)
        for review in (
            "That was an excellent movie, I loved it.",
            "That was a terrible movie, I hated it.",
        ):
            raw_text_data = np.array([[review]])
            predictions = inference_model(raw_text_data)
            # predictions[0][0]: NumPy arrays refuse float() of a one-element 1-D array,
            # which the book's TensorFlow tensors accept.
            print(f"{float(predictions[0][0] * 100):.2f} percent positive: {review}")


if __name__ == "__main__":
    main()
