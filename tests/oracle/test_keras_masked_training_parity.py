"""Training models whose OUTPUT carries a mask, against Keras 3 itself: Keras leaves the
masked steps out of the loss (the mean is over the valid steps) and out of the metrics.
The same builder code for both libraries, Keras's initial weights copied over, fit with
shuffle=False; per-epoch losses and accuracy, final weights and evaluate() compared.

- "Deep Learning with Python" (2nd ed.) chapter 11's sequence-to-sequence GRU, at a small
  size, Dropout at 0 for the comparison (random numbers differ between libraries);
- an LSTM(return_sequences=True) -> Dense tagger with per-step sample weights;
- Masking in front of Dense (a mask per sample) with sample weights and class weights.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
# slow: the tests here train models, most in both libraries (Keras on torch steps slowly)
pytestmark = [pytest.mark.oracle, pytest.mark.slow]

from oracle_harness import assert_trains_alike, compile_both, pair  # noqa: E402

import graphc  # noqa: E402

VOCAB, EMBED, LATENT, T, N = 30, 8, 8, 7, 24


def _padded(rng, lengths):
    seqs = rng.integers(1, VOCAB, (len(lengths), T))
    seqs[np.arange(T)[None, :] >= np.asarray(lengths)[:, None]] = 0  # padding at the end
    return seqs


def _data():
    rng = np.random.default_rng(0)
    src_len = rng.integers(2, T + 1, N)
    tgt_len = rng.integers(2, T + 1, N)
    tgt_len[:4] = [1, 2, 7, 3]  # some short rows
    source, target = _padded(rng, src_len), _padded(rng, tgt_len + 0)
    # Next-step targets: the target shifted by one, padded at the end (as in the book).
    next_step = np.concatenate([target[:, 1:], np.zeros((N, 1), target.dtype)], axis=1)
    return source, target, next_step


def seq2seq_rnn(lib, dropout=0.5):
    """The book's model (listing 11.x), verbatim but for the sizes and the import."""
    layers = lib.layers
    vocab_size, embed_dim, latent_dim = VOCAB, EMBED, LATENT
    source = lib.Input(shape=(None,), dtype="int64", name="english")
    x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(source)
    encoded_source = layers.Bidirectional(layers.GRU(latent_dim), merge_mode="sum")(x)
    past_target = lib.Input(shape=(None,), dtype="int64", name="spanish")
    x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(past_target)
    decoder_gru = layers.GRU(latent_dim, return_sequences=True)
    x = decoder_gru(x, initial_state=encoded_source)
    x = layers.Dropout(dropout)(x)
    target_next_step = layers.Dense(vocab_size, activation="softmax")(x)
    return lib.Model([source, past_target], target_next_step)


def tagger(lib):
    layers = lib.layers
    inputs = lib.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(VOCAB, EMBED, mask_zero=True)(inputs)
    x = layers.LSTM(6, return_sequences=True)(x)
    return lib.Model(inputs, layers.Dense(4, activation="softmax")(x))


def masked_dense(lib):
    layers = lib.layers
    inputs = lib.Input(shape=(5,))
    x = layers.Masking(mask_value=0.0)(inputs)
    return lib.Model(inputs, layers.Dense(3, activation="softmax")(x))


def _compiled_pair(build, **compile_kwargs):
    k, g = pair(build, shapes=False)
    compile_both(k, g, lambda lib: lib.optimizers.RMSprop(0.01), **compile_kwargs)
    return k, g


def _fit_and_compare(k, g, x, y, **fit_kwargs):
    """Every history key (the metrics too) and the weights agree."""
    return assert_trains_alike(k, g, x, y, epochs=3, batch_size=8, keys=None, **fit_kwargs)[0]


def test_dlwp_seq2seq_rnn_trains_and_evaluates_like_keras():
    source, target, next_step = _data()
    kwargs = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    k, g = _compiled_pair(lambda lib: seq2seq_rnn(lib, dropout=0.0), **kwargs)
    hist = _fit_and_compare(k, g, [source, target], next_step)
    # The masked mean differs from the plain one: the padding really is left out.
    assert hist["loss"][0] > 0
    k_eval = k.evaluate([source, target], next_step, batch_size=10, verbose=0)
    g_eval = g.evaluate([source, target], next_step, batch_size=10, verbose=0)
    np.testing.assert_allclose(g_eval, k_eval, rtol=1e-4)
    np.testing.assert_allclose(
        g.predict([source, target], verbose=0),
        k.predict([source, target], verbose=0),
        rtol=1e-4,
        atol=1e-6,
    )


def test_masked_loss_is_the_mean_over_the_valid_steps():
    """Guards the comparison above: evaluate's loss is the mean of the per-step losses over
    the steps the decoder's mask keeps (target != 0), not over every step."""
    graphc.utils.set_random_seed(5)
    source, target, next_step = _data()
    g = seq2seq_rnn(graphc, dropout=0.0)
    g.compile("rmsprop", "sparse_categorical_crossentropy")
    masked = g.evaluate([source, target], next_step, batch_size=len(source), verbose=0)
    probs = g.predict([source, target], verbose=0)
    steps = -np.log(np.clip(np.take_along_axis(probs, next_step[..., None], -1)[..., 0], 1e-7, 1.0))
    valid = target != 0
    assert 0 < valid.sum() < valid.size  # some steps are padding
    np.testing.assert_allclose(masked, steps[valid].mean(), rtol=1e-5)


def test_tagger_with_per_step_sample_weights_like_keras():
    rng = np.random.default_rng(1)
    x = _padded(rng, rng.integers(1, T + 1, N))
    y = rng.integers(0, 4, (N, T))
    sw = rng.random((N, T)).astype("float32")
    k, g = _compiled_pair(tagger, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _fit_and_compare(k, g, x, y, sample_weight=sw)
    np.testing.assert_allclose(
        g.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0),
        k.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0),
        rtol=1e-4,
    )


def test_masking_then_dense_with_sample_and_class_weights_like_keras():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, 5)).astype("float32")
    x[[1, 5, 6, 17]] = 0.0  # fully masked samples: mask False
    y = rng.integers(0, 3, N)
    sw = rng.random(N).astype("float32")
    for fit_kwargs in ({"sample_weight": sw}, {"class_weight": {0: 2.0, 1: 0.5, 2: 1.0}}):
        k, g = _compiled_pair(
            masked_dense,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy", "sparse_categorical_crossentropy"],
        )
        _fit_and_compare(k, g, x, y, **fit_kwargs)
