"""Dot: Keras's batch_dot shapes and numbers for rank-2 and rank-3 inputs, normalize=True
(cosine), errors, config, gradients through training, ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches

import graphc
from graphc import Input, Model, layers
from graphc.errors import ShapeError
from graphc.layers.merging import Dot, dot

RNG = np.random.default_rng(0)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _unit(x, axis):
    n = np.sqrt((x.astype(np.float64) ** 2).sum(axis=axis, keepdims=True))
    return x / np.maximum(n, 1e-7)


A, B = _arr(4, 5), _arr(4, 5)
S, T = _arr(4, 3, 5), _arr(4, 6, 5)
U = _arr(4, 5, 6)
C = _arr(4, 3, 2)
V = _arr(4, 2, 3, 5)

CASES = [
    ({"axes": 1}, [A, B], (None, 1), (A * B).sum(axis=1, keepdims=True)),
    ({"axes": -1}, [A, B], (None, 1), (A * B).sum(axis=1, keepdims=True)),
    (
        {"axes": 1, "normalize": True},
        [A, B],
        (None, 1),
        (_unit(A, 1) * _unit(B, 1)).sum(axis=1, keepdims=True),
    ),
    ({"axes": 2}, [S, T], (None, 3, 6), np.einsum("btd,bsd->bts", S, T)),
    ({"axes": (2, 1)}, [S, U], (None, 3, 6), np.einsum("btd,bde->bte", S, U)),
    ({"axes": (1, 1)}, [S, C], (None, 5, 2), np.einsum("btd,bte->bde", S, C)),
    ({"axes": (2, 1)}, [S, A], (None, 3), np.einsum("btd,bd->bt", S, A)),
    ({"axes": (1, 2)}, [A, T], (None, 6), np.einsum("bd,bsd->bs", A, T)),
    ({"axes": (3, 1)}, [V, U], (None, 2, 3, 6), np.einsum("npqd,nde->npqe", V, U)),
    ({"axes": (1, 3)}, [U, V], (None, 6, 2, 3), np.einsum("nde,npqd->nepq", U, V)),
    (
        {"axes": 2, "normalize": True},
        [S, T],
        (None, 3, 6),
        np.einsum("btd,bsd->bts", _unit(S, 2), _unit(T, 2)),
    ),
]


@pytest.mark.parametrize(
    "kwargs,arrays,shape,expected",
    CASES,
    ids=[f"{c[0]}-{c[1][0].ndim}x{c[1][1].ndim}" for c in CASES],
)
def test_dot_shapes_and_numbers(kwargs, arrays, shape, expected):
    inputs = [Input(shape=a.shape[1:]) for a in arrays]
    layer = Dot(**kwargs)
    out = layer(inputs)
    assert out.shape == shape
    model = Model(inputs, out)
    np.testing.assert_allclose(model.predict(arrays, verbose=0), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Dot(**kwargs)(arrays), expected, rtol=1e-5, atol=1e-5)
    config = layer.get_config()
    assert Dot.from_config(config).get_config() == config
    assert_onnx_matches(model, [[a[:n] for a in arrays] for n in (1, 4)])


def test_dot_function_and_errors():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    out = dot([a, b], axes=1)
    assert isinstance(out.producer.top[0], Dot) and out.shape == (None, 1)
    with pytest.raises(TypeError, match="Invalid type for argument `axes`"):
        Dot(axes="1")
    with pytest.raises(ValueError, match="it should contain two elements"):
        Dot(axes=(1, 2, 3))
    with pytest.raises(ShapeError, match=r"axis values 3 \(at axis 1\) != 4 \(at axis 1\)"):
        Dot(axes=1)([a, Input(shape=(4,))])
    with pytest.raises(ShapeError, match="over axis 0"):
        Dot(axes=0)([a, b])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        Dot(axes=1)([a, b, a])


def test_cosine_similarity_model_trains():
    graphc.utils.set_random_seed(10)
    a, b = Input(shape=(6,)), Input(shape=(6,))
    sim = Dot(axes=1, normalize=True)([layers.Dense(4)(a), layers.Dense(4)(b)])
    model = Model([a, b], layers.Dense(1, activation="sigmoid")(sim))
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((64, 6)).astype(np.float32) for _ in range(2)]
    y = (np.sum(xs[0] * xs[1], axis=1, keepdims=True) > 0).astype(np.float32)
    model.compile(optimizer=graphc.optimizers.Adam(0.05), loss="binary_crossentropy")
    history = model.fit(xs, y, epochs=10, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_dot_is_exported_from_graphc_layers():
    assert graphc.layers.Dot is Dot and graphc.layers.dot is dot
