"""The layer test harness: ``check_layer(cls, kwargs, input_shape, expected_shape,
expected_params)`` checks one layer configuration end to end and returns what it built, so
a test can add numeric checks of its own (ARCHITECTURE.md, "Adding a layer": every
layer gets its cases here).

It checks: the symbolic output shape, the parameter count (layer, weights and a Model
around it), ``compute_output_shape``, that the model's graph lints, that an eager call on
NumPy data has the concrete output shape and equals the model's eager call, and that
``from_config(get_config())`` gives the same config and, with the weights copied over,
the same numbers.

For whole models built from the layers under test: ``randomize_weights`` (non-zero biases,
so a dropped bias shows), ``assert_onnx_matches`` (onnxruntime, and onnx's reference
evaluator on the first rows, on the export against ``predict``) and ``check_gradients``
(the executor's reverse pass against central differences in float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx_reference import assert_reference_matches

import graphc
from graphc import Input, Model
from graphc.backends.numpy import Executor
from graphc.ops import ExecContext


@dataclass
class Checked:
    layer: object
    model: object
    x: np.ndarray  # the NumPy input used
    y: np.ndarray  # the layer's eager output on it


def concrete(shape, batch=2):
    return tuple(batch if d is None else d for d in shape)


def check_layer(cls, kwargs, input_shape, expected_shape, expected_params, *, seed=0):
    kwargs = dict(kwargs)
    input_shape, expected_shape = tuple(input_shape), tuple(expected_shape)
    layer = cls(**kwargs)
    assert not layer.built or not layer.weights

    # Symbolic call: shape and parameters.
    inp = Input(batch_shape=input_shape)
    out = layer(inp)
    assert out.shape == expected_shape, f"{cls.__name__}{kwargs}: {out.shape}"
    assert layer.built
    assert layer.count_params() == expected_params
    assert sum(int(np.prod(w.shape)) for w in layer.get_weights()) == expected_params
    assert [tuple(w.shape) for w in layer.get_weights()] == [p.shape for p in layer.weights]

    model = Model(inp, out)
    model.graph.lint()
    assert model.output_shape == expected_shape
    assert model.count_params() == expected_params
    assert layer.compute_output_shape(input_shape) == expected_shape

    # Eager call on NumPy data, and the model replaying the same graph.
    x = np.random.default_rng(seed).standard_normal(concrete(input_shape)).astype("float32")
    y = np.asarray(layer(x))
    assert y.shape == concrete(expected_shape)
    assert y.dtype == np.float32
    np.testing.assert_allclose(np.asarray(model(x)), y, rtol=1e-6, atol=1e-6)

    # Config round trip; weights copied over give the same numbers.
    config = layer.get_config()
    twin = cls.from_config(config)
    assert type(twin) is cls
    assert twin.get_config() == config
    twin(Input(batch_shape=input_shape))
    twin.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(twin(x)), y, rtol=1e-6, atol=1e-6)
    return Checked(layer, model, x, y)


def randomize_weights(model, seed=1, scale=0.5):
    """Every parameter uniform in [-scale, scale): biases too, so that an exporter dropping
    a bias changes the numbers. Each parameter draws from a fresh ``default_rng(seed)``."""
    for p in model.graph.parameters:
        p.assign(np.random.default_rng(seed).uniform(-scale, scale, p.shape).astype(p.dtype))


def assert_onnx_matches(model, batches, *, proto=None, rtol=1e-4, atol=1e-5):
    """onnxruntime on ``proto`` (default: ``graphc.onnx.export(model)``) gives the model's
    ``predict`` on each input batch, output by output."""
    proto = graphc.onnx.export(model) if proto is None else proto
    runtime = graphc.onnx.Runtime(proto)
    for i, x in enumerate(batches):
        got, want = runtime.predict(x), model.predict(x, verbose=0)
        if isinstance(want, (list, tuple)):
            assert len(got) == len(want)
        else:
            got, want = [got], [want]
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
        if i == 0:  # the second runtime, on the first rows of the first batch
            assert_reference_matches(
                proto, runtime, x, lambda xs: model.predict(xs, verbose=0), rtol=rtol, atol=atol
            )
    return runtime


def check_gradients(
    model, xs, out_weights, *, leaf_values=None, context=ExecContext, rtol=1e-5, atol=1e-8, eps=1e-6
):
    """The executor's reverse pass against central differences, in float64, for the loss
    ``sum_i sum(output_i * w_i)``.

    ``out_weights``: the ``w_i``, or ``f(outputs) -> [w_i]`` to draw them once the output
    shapes are known. ``leaf_values``: the parameters' values (default: the model's
    weights in float64). ``context()`` makes the ExecContext of each evaluation (one that
    draws the same dropout masks every time keeps them fixed)."""
    params = model.trainable_weights
    ex = Executor(model.graph, params)
    base = (
        dict(leaf_values)
        if leaf_values is not None
        else {p: p.data.astype(np.float64) for p in model.weights}
    )
    xs = [np.asarray(x, np.float64) for x in xs]
    outs, env = ex.forward(xs, context(), keep_for_backward=True, leaf_values=base)
    ws = out_weights(outs) if callable(out_weights) else list(out_weights)

    def loss(leaf):
        return sum(
            float((o * w).sum()) for o, w in zip(ex.forward(xs, context(), leaf_values=leaf), ws)
        )

    grads = {p: np.full(p.shape, np.nan) for p in params}
    ex.backward(env, ws, grads)
    for p in params:
        num = np.zeros(p.shape)
        arr = base[p].copy()
        leaf = {**base, p: arr}
        for idx in np.ndindex(*p.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = loss(leaf)
            arr[idx] = old - eps
            down = loss(leaf)
            arr[idx] = old
            num[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[p], num, rtol=rtol, atol=atol, err_msg=p.path)
