"""What the Keras parity tests share: build the same model with Keras 3 (torch backend) and
with graphc, copy Keras's initial weights across, then compare predictions, training
histories, weights and onnxruntime's numbers.

Imported as ``from oracle_harness import ...``: pytest puts each test file's folder on
``sys.path`` (tests/ has no ``__init__.py``), as ``tests/layers`` does for its
``harness``. The name differs from ``harness`` because both folders end up on the path of
one run and Python caches a module by its name.

The tolerances are the ones the tests always used: predictions rtol 1e-4 / atol 1e-5,
training losses rtol 1e-3, weights after training rtol 1e-3 / atol 1e-4.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from onnx_reference import assert_reference_matches  # noqa: E402

import graphc  # noqa: E402


# ---- building the twins ------------------------------------------------------------------
def pair(build, *, shapes=True, count=False):
    """``build(keras)`` and ``build(graphc)``, Keras's initial weights copied to graphc.

    ``shapes`` asserts that both list the same weight shapes in the same order first (the
    order set_weights relies on); ``count`` that both count the same parameters."""
    k, g = build(keras), build(graphc)
    if shapes:
        assert [w.shape for w in g.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    if count:
        assert g.count_params() == k.count_params()
    g.set_weights(k.get_weights())
    return k, g


def compile_both(k, g, optimizer, **compile_kwargs):
    """Compile both; ``optimizer`` is a name, or ``f(lib)`` making each library's own."""
    for model, lib in ((k, keras), (g, graphc)):
        model.compile(
            optimizer=optimizer(lib) if callable(optimizer) else optimizer, **compile_kwargs
        )


def train_both(build, optimizer, compile_kwargs, x, y, fit_kwargs=None, *, epochs, batch_size):
    """Build the twins (weights copied, shapes not asserted), compile and fit both with
    ``shuffle=False``; returns ``(k_model, g_model, k_history, g_history)``."""
    k, g = pair(build, shapes=False)
    compile_both(k, g, optimizer, **compile_kwargs)
    return (k, g, *fit_both(k, g, x, y, epochs=epochs, batch_size=batch_size, **(fit_kwargs or {})))


def random_inputs(model, n, seed=0):
    """``n`` standard-normal samples for each of the model's inputs (one array for one)."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((n, *t.shape[1:])).astype("float32") for t in model.inputs]
    return xs if len(xs) > 1 else xs[0]


def summary_rows(model):
    """What ``model.summary()`` lists for each layer after the input: class, output shape,
    parameter count."""
    return [
        (type(layer).__name__, tuple(layer.output.shape), layer.count_params())
        for layer in model.layers[1:]
    ]


def as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


# ---- comparing ---------------------------------------------------------------------------
def assert_close(got, want, rtol=1e-4, atol=1e-5):
    """Outputs of one or many heads, head by head."""
    got, want = as_list(got), as_list(want)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, np.asarray(b), rtol=rtol, atol=atol)


def assert_same_predictions(k, g, x, rtol=1e-4, atol=1e-5):
    """graphc's predictions on ``x`` equal Keras's; returns graphc's, as a list."""
    got = as_list(g.predict(x, verbose=0))
    assert_close(got, k.predict(x, verbose=0), rtol=rtol, atol=atol)
    return got


def fit_both(k, g, x, y, *, epochs, batch_size, **fit_kwargs):
    """Fit both the same way, ``shuffle=False``; returns the two History dicts."""
    kwargs = {
        "epochs": epochs,
        "batch_size": batch_size,
        "shuffle": False,
        "verbose": 0,
        **fit_kwargs,
    }
    return k.fit(x, y, **kwargs).history, g.fit(x, y, **kwargs).history


def assert_same_history(k_hist, g_hist, keys=None, rtol=1e-3):
    """The per-epoch values of ``keys`` agree; ``keys=None``: the same keys, all agreeing."""
    if keys is None:
        assert set(g_hist) == set(k_hist), (sorted(g_hist), sorted(k_hist))
        keys = list(k_hist)
    for key in keys:
        np.testing.assert_allclose(g_hist[key], k_hist[key], rtol=rtol, err_msg=key)


def assert_same_weights(k, g, rtol=1e-3, atol=1e-4):
    k_weights, g_weights = k.get_weights(), g.get_weights()
    assert len(g_weights) == len(k_weights)
    for i, (a, b) in enumerate(zip(g_weights, k_weights)):
        np.testing.assert_allclose(a, np.asarray(b), rtol=rtol, atol=atol, err_msg=f"weight {i}")


def assert_trains_alike(
    k, g, x, y, *, epochs, batch_size, keys=("loss",), weights_atol=1e-4, **fit_kwargs
):
    """Fit both (compiled already): the history's ``keys`` (all of them for None) and the
    final weights agree. Returns the two History dicts."""
    k_hist, g_hist = fit_both(k, g, x, y, epochs=epochs, batch_size=batch_size, **fit_kwargs)
    assert_same_history(k_hist, g_hist, keys)
    assert_same_weights(k, g, atol=weights_atol)
    return k_hist, g_hist


def assert_same_training(k, g, k_hist, g_hist, weights_atol=1e-4):
    """After :func:`train_both`: every history key and the final weights agree."""
    assert_same_history(k_hist, g_hist)
    assert_same_weights(k, g, atol=weights_atol)


# ---- ONNX --------------------------------------------------------------------------------
def onnx_opsets(*opsets):
    """The given opsets and the newest one graphc writes, sorted, without repeats."""
    from graphc.backends.onnx.builder import newest_opset

    return sorted({*opsets, newest_opset()})


def assert_onnx_matches(g, batches, opsets=(None,), rtol=1e-4, atol=1e-5):
    """onnxruntime on graphc's export (at each opset; None: the default) gives graphc's
    NumPy predictions on each input batch; so does onnx's reference evaluator on the first
    rows of the first batch (tests/onnx_reference.py)."""
    for opset in opsets:
        proto = graphc.onnx.export(g) if opset is None else graphc.onnx.export(g, opset=opset)
        runtime = graphc.onnx.Runtime(proto)
        for i, x in enumerate(batches):
            assert_close(runtime.predict(x), g.predict(x, verbose=0), rtol=rtol, atol=atol)
            if i == 0:  # the second runtime, on the first rows of the first batch
                assert_reference_matches(
                    proto, runtime, x, lambda xs: g.predict(xs, verbose=0), rtol=rtol, atol=atol
                )


# ---- torch ---------------------------------------------------------------------------------
def torch_math_attention():
    """Keras-on-torch's attention through torch's math kernel. On CPU torch otherwise
    picks its flash kernel, whose backward recomputes the probabilities of a fully masked
    row (a padded query) as exp(0) = 1 each instead of 1/S: S times the gradient that
    autograd of the forward (and Keras on JAX or TensorFlow) gives, and graphc gives."""
    try:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        return contextlib.nullcontext()
    if keras.backend.backend() != "torch" or not hasattr(torch, "nn"):
        return contextlib.nullcontext()
    return sdpa_kernel([SDPBackend.MATH])
