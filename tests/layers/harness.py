"""The layer test harness DESIGN.md asks for: ``check_layer(cls, kwargs, input_shape,
expected_shape, expected_params)`` checks one layer configuration end to end and returns
what it built, so a test can add numeric checks of its own.

It checks: the symbolic output shape, the parameter count (layer, weights and a Model
around it), ``compute_output_shape``, that the model's graph lints, that an eager call on
NumPy data has the concrete output shape and equals the model's eager call, and that
``from_config(get_config())`` gives the same config and, with the weights copied over,
the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc import Input, Model


@dataclass
class Checked:
    layer: object
    model: object
    x: np.ndarray      # the NumPy input used
    y: np.ndarray      # the layer's eager output on it


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
