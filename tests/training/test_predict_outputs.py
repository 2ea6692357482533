"""``predict`` gathers its batches into outputs allocated once (issue 12): the same
arrays as one batch gives, for every output, whatever the batching."""

import numpy as np

import graphc
from graphc import layers
from graphc.models.training import _PredictOutputs


def two_output_model():
    i = graphc.Input(shape=(3,))
    h = layers.Dense(5, activation="relu")(i)
    return graphc.Model(i, {"a": layers.Dense(2)(h), "b": layers.Dense(4)(h)})


def test_batched_predict_equals_one_batch_for_every_output():
    model = two_output_model()
    x = np.random.default_rng(0).random((70, 3), dtype=np.float32)
    whole = model.predict(x, batch_size=70, verbose=0)
    for batch_size in (1, 32, 69):
        out = model.predict(x, batch_size=batch_size, verbose=0)
        assert set(out) == {"a", "b"}
        for key in out:
            assert out[key].shape == whole[key].shape and out[key].dtype == np.float32
            np.testing.assert_allclose(out[key], whole[key], rtol=1e-6, atol=1e-7)


def test_a_dataset_of_batches_is_concatenated():
    model = two_output_model()
    x = np.random.default_rng(1).random((10, 3), dtype=np.float32)
    batches = [x[:4], x[4:7], x[7:]]
    out = model.predict(iter(batches), verbose=0)
    np.testing.assert_allclose(out["b"], model.predict(x, verbose=0)["b"], rtol=1e-6)


def test_gathering_fills_in_place_and_falls_back_on_surprises():
    g = _PredictOutputs(5)
    g.add([np.ones((2, 3), np.float32)])
    g.add([np.zeros((2, 3), np.float32)])
    g.add([np.full((1, 3), 2, np.float32)])
    (out,) = g.result(1)
    assert out.shape == (5, 3) and out[4, 0] == 2 and out[2, 0] == 0
    # A batch of another trailing shape: concatenated (NumPy says what is wrong).
    g = _PredictOutputs(4)
    g.add([np.ones((2, 3))])
    g.add([np.ones((2, 3))])
    g.add([np.ones((1, 3), np.float32)])
    (out,) = g.result(1)
    assert out.shape == (5, 3)
    # One batch alone comes back as computed, without a copy.
    first = np.ones((3, 2))
    g = _PredictOutputs(3)
    g.add([first])
    assert g.result(1)[0] is first
