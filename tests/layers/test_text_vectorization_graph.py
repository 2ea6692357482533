"""TextVectorization inside a model, as "Deep Learning with Python" ch. 11 exports its
end-to-end inference model: a string Input, the layer, then the trained model."""

import json

import numpy as np
import pytest

import graphc
from graphc.backends.onnx.export import ExportError
from graphc.errors import InputDataError, ShapeError
from graphc.layers import TextVectorization

TEXTS = [
    "That was an excellent movie",
    "I loved it, great fun",
    "terrible film, awful",
    "boring and bad movie",
    "an excellent, great film",
    "awful and boring",
]
LABELS = np.array([1, 1, 0, 0, 1, 0], dtype="float32")
RAW = np.array(TEXTS)[:, None]  # (batch, 1) strings, as the book's datasets give


def _int_vectorizer():
    tv = TextVectorization(max_tokens=30, output_mode="int", output_sequence_length=8)
    tv.adapt(TEXTS)
    return tv


def _int_model(tv):
    inputs = graphc.Input(shape=(None,), dtype="int64")
    x = graphc.layers.Embedding(tv.vocabulary_size(), 4)(inputs)
    x = graphc.layers.GlobalAveragePooling1D()(x)
    model = graphc.Model(inputs, graphc.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    return model


def _end_to_end(tv, model):
    inputs = graphc.Input(shape=(1,), dtype="string")
    return graphc.Model(inputs, model(tv(inputs)))


def test_the_books_inference_model_predicts_from_raw_strings():
    tv = _int_vectorizer()
    model = _int_model(tv)
    model.fit(tv(RAW), LABELS, epochs=3, batch_size=2, verbose=0)
    inference_model = _end_to_end(tv, model)
    assert inference_model.inputs[0].dtype == "string"
    assert inference_model.layers[1].output.shape == (None, 8)
    assert inference_model.layers[1].output.dtype == "int64"
    review = np.array([["That was an excellent movie, I loved it."]])
    want = model.predict(tv(review), verbose=0)
    np.testing.assert_allclose(inference_model(review), want, rtol=1e-6)
    np.testing.assert_allclose(inference_model.predict(review, verbose=0), want, rtol=1e-6)
    # Several batches, and a batch size never seen before (the batch stays unknown).
    np.testing.assert_allclose(
        inference_model.predict(RAW, batch_size=4, verbose=0),
        model.predict(tv(RAW), verbose=0),
        rtol=1e-6,
    )
    assert inference_model.output.shape == (None, 1)


def test_int_mode_without_a_sequence_length_pads_each_batch():
    tv = TextVectorization(output_mode="int")
    tv.adapt(TEXTS)
    inference_model = _end_to_end(tv, _int_model(tv))
    assert inference_model.layers[1].output.shape == (None, None)
    batch = np.array([["awful"], ["an excellent great film and more"]])
    np.testing.assert_allclose(
        inference_model.predict(batch, verbose=0),
        inference_model.layers[2].predict(tv(batch), verbose=0),
        rtol=1e-6,
    )


def test_multi_hot_mode_in_a_model():
    tv = TextVectorization(max_tokens=20, output_mode="multi_hot")
    tv.adapt(TEXTS)
    inputs = graphc.Input(shape=(1,), dtype="string")
    x = tv(inputs)
    assert x.shape == (None, tv.vocabulary_size()) and x.dtype == "float32"
    model = graphc.Model(inputs, graphc.layers.Dense(1, activation="sigmoid")(x))
    dense = model.layers[-1]
    w, b = dense.get_weights()
    np.testing.assert_allclose(
        model.predict(RAW, verbose=0), 1 / (1 + np.exp(-(tv(RAW) @ w + b))), rtol=1e-5
    )


def test_fit_and_evaluate_on_raw_strings_end_to_end():
    tv = _int_vectorizer()
    model = _end_to_end(tv, _int_model(tv))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(RAW, LABELS, epochs=15, batch_size=3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    p = np.clip(model.predict(RAW, verbose=0)[:, 0], 1e-7, 1 - 1e-7)
    bce = -np.mean(LABELS * np.log(p) + (1 - LABELS) * np.log(1 - p))
    assert model.evaluate(RAW, LABELS, verbose=0) == pytest.approx(bce, rel=1e-4)


def test_end_to_end_model_saves_and_loads(tmp_path):
    tv = TextVectorization(max_tokens=30, output_mode="tf_idf", ngrams=2)
    tv.adapt(TEXTS)
    inputs = graphc.Input(shape=(1,), dtype="string")
    model = graphc.Model(inputs, graphc.layers.Dense(2)(tv(inputs)))
    path = tmp_path / "end_to_end.graphc"
    model.save(path)
    loaded = graphc.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(RAW, verbose=0), model.predict(RAW, verbose=0), rtol=1e-6
    )
    config = loaded.layers[1].get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["vocabulary"] == tv.get_vocabulary()
    assert loaded.inputs[0].dtype == "string"


def test_onnx_export_is_refused_with_a_pointer(tmp_path):
    tv = _int_vectorizer()
    model = _int_model(tv)
    inference_model = _end_to_end(tv, model)
    with pytest.raises(
        ExportError,
        match=rf"TextVectorization layer '{tv.name}' has no "
        r"ONNX lowering.*vectorized integers",
    ):
        inference_model.export(tmp_path / "model.onnx")
    model.export(tmp_path / "ints.onnx")  # the model after the layer exports


def test_bad_input_dtypes_are_refused_naming_the_input():
    tv = _int_vectorizer()
    model = _int_model(tv)
    inference_model = _end_to_end(tv, model)
    name = inference_model.input_names[0]
    with pytest.raises(InputDataError, match=rf'Input "{name}".*expects strings.*float64'):
        inference_model.predict(np.ones((2, 1)), verbose=0)
    with pytest.raises(InputDataError, match=r"expects numbers \(dtype int64\).*<U"):
        model.predict(RAW, verbose=0)
    with pytest.raises(ShapeError, match="expects a string tensor.*got dtype float32"):
        tv(graphc.Input(shape=(1,)))
    with pytest.raises(ShapeError, match="last shape dimension must be 1"):
        tv(graphc.Input(shape=(2,), dtype="string"))


def _as_keras_writes_it(src, dst, layer_config_edit):
    """``src`` (a graphc .keras file) rewritten in the layout Keras 3.15 writes for an
    adapted TextVectorization (its saving walk, ``TextVectorization.save_assets`` and
    ``IndexLookup.save_assets``/``save_own_variables``): the config without the
    vocabulary, ``vocabulary.txt`` (special tokens first) at the layer's assets path and
    again at ``_lookup_layer``'s. (Keras's TextVectorization needs TensorFlow, which the
    oracle environment does not install, so the file is built here from Keras's code.)"""
    import zipfile

    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    for spec in config["config"]["layers"]:
        if spec["class_name"] == "TextVectorization":
            vocabulary = spec["config"]["vocabulary"]
            layer_config_edit(spec["config"])
            # (graphc's config holds get_vocabulary(): the special tokens first, as
            # Keras's get_vocabulary(include_special_tokens=True) in the asset)
            text = "\n".join(vocabulary).encode()
            members["assets/layers/text_vectorization/vocabulary.txt"] = text
            members["assets/layers/text_vectorization/_lookup_layer/vocabulary.txt"] = text
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


@pytest.mark.parametrize("mode", ["int", "multi_hot", "tf_idf"])
def test_keras_written_text_vectorization_assets_are_read(tmp_path, mode):
    tv = TextVectorization(
        max_tokens=30, output_mode=mode, output_sequence_length=8 if mode == "int" else None
    )
    tv.adapt(TEXTS)
    inputs = graphc.Input(shape=(1,), dtype="string")
    model = graphc.Model(inputs, tv(inputs))
    want = model.predict(RAW, verbose=0)
    model.save(tmp_path / "g.keras")
    if mode == "tf_idf":  # as Keras: the idf weights in the weight file, at both paths
        import io
        import zipfile

        import h5py

        with zipfile.ZipFile(tmp_path / "g.keras") as z:
            with h5py.File(io.BytesIO(z.read("model.weights.h5"))) as h:
                for path in ("", "/_lookup_layer"):
                    idf = h[f"layers/text_vectorization{path}/vars/idf_weights"][()]
                    np.testing.assert_allclose(idf, tv.idf_weights)

    def keras_config(config):
        # Keras 3.15's get_config of an adapted layer: the lookup layer's input
        # vocabulary and idf weights (None), and its vocabulary size
        config["vocabulary"] = None
        config["idf_weights"] = None
        config["vocabulary_size"] = tv.vocabulary_size()

    _as_keras_writes_it(tmp_path / "g.keras", tmp_path / "k.keras", keras_config)
    loaded = graphc.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(loaded.predict(RAW, verbose=0), want, rtol=1e-6)
    assert loaded.layers[1].get_vocabulary() == tv.get_vocabulary()
    # and the loaded model saves again
    loaded.save(tmp_path / "again.keras")
    again = graphc.models.load_model(tmp_path / "again.keras")
    np.testing.assert_allclose(again.predict(RAW, verbose=0), want, rtol=1e-6)
