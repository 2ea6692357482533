"""A layer whose call takes a second tensor (``decoder(x, encoder_outputs)``), with Keras 3's
rules: several tensor arguments populate no ``mask`` argument but ``<name>_mask`` ones;
the output takes the first argument's mask; the layer's inputs, "Connected to", layer
order, config and saving follow the call's argument order; training reaches both."""

import numpy as np

import graphc
from graphc import layers, ops
from graphc.layers.base import get_keras_mask
from graphc.models._topology import layer_calls


@graphc.saving.register_keras_serializable(package="test_two_args")
class Mix(layers.Layer):
    """``context + inputs @ w`` (context broadcast over time); records what it got."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.seen = {}

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], input_shape[-1]), name="w")

    def call(self, inputs, context, mask=None, context_mask=None):
        self.seen = {"mask": mask, "context_mask": context_mask}
        # reads `context` first: the order of the call's arguments, not of first use, counts
        return context + ops.matmul(inputs, self.w)


def _model():
    tokens = graphc.Input(shape=(None,), dtype="int64", name="tokens")
    side = graphc.Input(shape=(None,), dtype="int64", name="side")
    x = layers.Embedding(10, 4, mask_zero=True, name="emb_x")(tokens)
    c = layers.Embedding(10, 4, mask_zero=True, name="emb_c")(side)
    mix = Mix(name="mix")
    y = mix(x, c)
    out = layers.Dense(2, activation="softmax")(y)
    return graphc.Model([tokens, side], out), mix, x, c


def test_masks_follow_keras_with_two_tensor_arguments():
    model, mix, x, c = _model()
    assert mix.seen["mask"] is None  # not populated: two tensors
    assert mix.seen["context_mask"] is get_keras_mask(c)  # `<name>_mask` is
    assert get_keras_mask(mix.output) is get_keras_mask(x)  # the first argument's mask


def test_topology_follows_the_argument_order():
    model, mix, x, c = _model()
    calls, _ = layer_calls(model.graph)
    call = next(cl for cl in calls if cl.layer is mix)
    assert call.inputs == [x, c]
    assert [layer.name for layer in model.layers][-2:] == ["mix", model.layers[-1].name]
    summary = []
    model.summary(print_fn=summary.append)
    text = "\n".join(summary)
    row = text[text.index("mix (Mix)") :]
    assert "emb_x[0][0]" in row and row.index("emb_x[0][0]") < row.index("emb_c[0][0]")


def test_training_reaches_both_arguments():
    model, mix, x, c = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, 10, (8, 3)), rng.integers(1, 10, (8, 3))
    model.fit([a, b], rng.integers(0, 2, (8, 3)), epochs=1, verbose=0)
    assert all(np.abs(w - v).max() > 0 for w, v in zip(model.get_weights(), before))


def test_config_and_save_round_trip(tmp_path):
    model, _, _, _ = _model()
    rng = np.random.default_rng(1)
    data = [rng.integers(0, 10, (3, 4)), rng.integers(0, 10, (3, 4))]
    want = model.predict(data, verbose=0)
    clone = graphc.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(data, verbose=0), want, rtol=1e-6)
    path = str(tmp_path / "mix.graphc")
    model.save(path)
    loaded = graphc.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), want, rtol=1e-6)
