"""The names issue 9 added, against Keras 3 itself (torch backend): graphc.ops
compositions, activations, initializers' shapes, and keras.utils's array helpers give
Keras's numbers (within 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc import ops  # noqa: E402

R = np.random.default_rng(0)
X = R.standard_normal((3, 4)).astype("float32")
Y = R.standard_normal((3, 4)).astype("float32")
P = R.uniform(0.05, 3.0, (3, 4)).astype("float32")
V = R.standard_normal((4,)).astype("float32")
I4 = R.standard_normal((2, 4, 4, 8)).astype("float32")
IDS = np.array([[0, 2], [3, 1], [1, 1]], dtype="int32")
PROBS = (np.exp(X) / np.exp(X).sum(-1, keepdims=True)).astype("float32")
T01 = (R.uniform(size=(3, 4)) > 0.5).astype("float32")
Q = R.standard_normal((2, 5, 2, 4)).astype("float32")
K = R.standard_normal((2, 6, 2, 4)).astype("float32")
VAL = R.standard_normal((2, 6, 2, 4)).astype("float32")

CASES = {
    # name: (args, kwargs)
    "reciprocal": ((P,), {}),
    "rsqrt": ((P,), {}),
    "expm1": ((X,), {}),
    "log1p": ((P,), {}),
    "log2": ((P,), {}),
    "log10": ((P,), {}),
    "exp2": ((X,), {}),
    "power": ((P, 3), {}),
    "hypot": ((X, Y), {}),
    "logaddexp": ((X, Y), {}),
    "logaddexp2": ((X, Y), {}),
    "deg2rad": ((X,), {}),
    "rad2deg": ((X,), {}),
    "sign": ((X,), {}),
    "fabs": ((X,), {}),
    "true_divide": ((X, P), {}),
    "greater": ((X, Y), {}),
    "less": ((X, Y), {}),
    "greater_equal": ((X, Y), {}),
    "less_equal": ((X, Y), {}),
    "equal": ((X, X * (Y > 0)), {}),
    "logical_and": ((X > 0, Y > 0), {}),
    "logical_or": ((X > 0, Y > 0), {}),
    "logical_xor": ((X > 0, Y > 0), {}),
    "logical_not": ((X > 0,), {}),
    "where": ((X > 0, X, Y), {}),
    "isfinite": ((X,), {}),
    "relu6": ((X * 5,), {}),
    "hard_tanh": ((X * 2,), {}),
    "hard_silu": ((X * 3,), {}),
    "log_sigmoid": ((X,), {}),
    "log_softmax": ((X,), {}),
    "logsumexp": ((X,), {"axis": 1}),
    "celu": ((X,), {"alpha": 0.7}),
    "glu": ((X,), {}),
    "sparse_plus": ((X * 2,), {}),
    "sparse_sigmoid": ((X * 2,), {}),
    "squareplus": ((X,), {}),
    "soft_shrink": ((X,), {}),
    "hard_shrink": ((X,), {}),
    "tanh_shrink": ((X,), {}),
    "threshold": ((X, 0.3, -1.0), {}),
    "min": ((X,), {"axis": 1}),
    "amax": ((X,), {"axis": 0}),
    "amin": ((X,), {}),
    "var": ((X,), {"axis": 1}),
    "std": ((X,), {"axis": 0, "keepdims": True}),
    "ptp": ((X,), {"axis": 1}),
    "count_nonzero": ((X * (Y > 0),), {"axis": 1}),
    "all": ((X > -1,), {"axis": 1}),
    "average": ((X,), {"axis": 1, "weights": V * 0 + P[0]}),
    "squeeze": ((X[:, :1],), {}),
    "ravel": ((X,), {}),
    "stack": (([X, Y],), {"axis": 1}),
    "hstack": (([X, Y],), {}),
    "vstack": (([X, Y],), {}),
    "tile": ((X, (2, 1)), {}),
    "split": ((X, 2), {"axis": 1}),
    "array_split": ((X, 3), {"axis": 1}),
    "hsplit": ((X, [1, 3]), {}),
    "vsplit": ((X, 3), {}),
    "unstack": ((X,), {"axis": 1}),
    "slice": ((X, (1, 1), (2, 2)), {}),
    "flip": ((X,), {"axis": 1}),
    "fliplr": ((X,), {}),
    "flipud": ((X,), {}),
    "roll": ((X, 1), {"axis": 1}),
    "swapaxes": ((I4, 1, 3), {}),
    "moveaxis": ((I4, 0, -1), {}),
    "outer": ((V, V), {}),
    "broadcast_to": ((V, (3, 4)), {}),
    "diff": ((X,), {}),
    "tril": ((X,), {"k": 1}),
    "triu": ((X,), {"k": -1}),
    "one_hot": ((IDS, 4), {}),
    "multi_hot": ((IDS, 4), {}),
    "rms_normalization": ((X,), {}),
    "categorical_crossentropy": ((T01, PROBS), {}),
    "binary_crossentropy": ((T01, np.clip(PROBS, 0.01, 0.99)), {}),
    "sparse_categorical_crossentropy": ((IDS[:, 0], X), {"from_logits": True}),
    "dot": ((X, X.T), {}),
    "inner": ((X, Y), {}),
    "vdot": ((V, V[::-1]), {}),
    "trace": ((X,), {}),
    "diagonal": ((X,), {"offset": 1}),
    "diag": ((V,), {}),
    "isclose": ((X, X + 1e-9), {}),
    "heaviside": ((X * (Y > 0), V), {}),
    "append": ((X, Y), {"axis": 0}),
    "dstack": (([X, Y],), {}),
    "trapezoid": ((X,), {}),
    "rot90": ((X,), {}),
    "psnr": ((P, P + 0.1, 3.0), {}),
    "depth_to_space": ((I4, 2), {}),
    "space_to_depth": ((I4, 2), {}),
    "meshgrid": ((V, V[:3]), {}),
    "ones_like": ((X,), {}),
    "zeros_like": ((X,), {}),
    "full_like": ((X, 2.5), {}),
    "eye": ((3, 4), {}),
    "tri": ((3,), {}),
    "linspace": ((0.0, 1.0, 5), {}),
    "hanning": ((5,), {}),
    "kaiser": ((5, 2.0), {}),
    "dot_product_attention": ((Q, K, VAL), {}),
    "moments": ((X, [1]), {}),
}


def _np(x):
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    return np.asarray(keras.ops.convert_to_numpy(x)) if not isinstance(x, np.ndarray) else x


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_keras(name):
    args, kwargs = CASES[name]
    k_args = [keras.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    want = _np(getattr(keras.ops, name)(*k_args, **kwargs))
    got = getattr(ops, name)(*args, **kwargs)
    if isinstance(want, list):
        assert len(got) == len(want)
        pairs = list(zip(got, want))
    else:
        pairs = [(got, want)]
    for g, w in pairs:
        g = np.asarray(g)
        assert g.shape == w.shape, (name, g.shape, w.shape)
        if w.dtype == bool:
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(
                g,
                w.astype(g.dtype) if g.dtype != w.dtype else w,
                rtol=1e-5,
                atol=1e-5,
                err_msg=name,
            )


def test_dot_product_attention_causal_and_masked():
    mask = np.tril(np.ones((5, 6), bool))[None, None]
    for kw in ({"is_causal": True}, {"mask": mask}):
        want = _np(keras.ops.dot_product_attention(Q, K, VAL, **kw))
        np.testing.assert_allclose(
            ops.dot_product_attention(Q, K, VAL, **kw), want, rtol=1e-5, atol=1e-5
        )


ACTIVATIONS = [
    "celu",
    "glu",
    "hard_shrink",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu6",
    "soft_shrink",
    "sparse_plus",
    "sparse_sigmoid",
    "squareplus",
    "tanh_shrink",
]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_keras(name):
    want = _np(getattr(keras.activations, name)(X * 3))
    np.testing.assert_allclose(getattr(graphc.activations, name)(X * 3), want, rtol=1e-5, atol=1e-5)
    assert graphc.activations.get(name) is getattr(graphc.activations, name) or name == "hard_swish"


def test_rgb_to_grayscale_and_norm_match_keras():
    img = R.uniform(size=(2, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(
        ops.image.rgb_to_grayscale(img),
        _np(keras.ops.image.rgb_to_grayscale(img)),
        rtol=1e-5,
        atol=1e-6,
    )
    for kw in (
        {},
        {"axis": 1},
        {"ord": 1, "axis": 0},
        {"ord": np.inf, "axis": 1},
        {"ord": 3, "axis": 1},
    ):
        np.testing.assert_allclose(
            ops.linalg.norm(X, **kw),
            _np(keras.ops.linalg.norm(X, **kw)),
            rtol=1e-5,
            err_msg=str(kw),
        )


def test_batch_normalization_matches_keras():
    m, v = V, np.abs(V) + 0.5
    got = ops.batch_normalization(X, m, v, axis=-1, offset=V, scale=v, epsilon=1e-3)
    want = keras.ops.batch_normalization(X, m, v, axis=-1, offset=V, scale=v, epsilon=1e-3)
    np.testing.assert_allclose(got, _np(want), rtol=1e-5, atol=1e-5)


def test_utils_match_keras():
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    for kw in (
        {},
        {"maxlen": 3},
        {"padding": "post", "truncating": "post"},
        {"maxlen": 4, "value": -1},
    ):
        np.testing.assert_array_equal(
            graphc.utils.pad_sequences(seqs, **kw), keras.utils.pad_sequences(seqs, **kw)
        )
    for y, n in (([1, 0, 3], None), ([[1], [2]], 4), (np.array([[0, 1], [2, 2]]), 3)):
        got, want = graphc.utils.to_categorical(y, n), keras.utils.to_categorical(y, n)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(graphc.utils.normalize(X), _np(keras.utils.normalize(X)), rtol=1e-5)
    np.testing.assert_allclose(
        graphc.utils.normalize(X, axis=1, order=1),
        _np(keras.utils.normalize(X, axis=1, order=1)),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    "name",
    ["zeros", "ones", "identity", "glorot_uniform", "he_normal", "lecun_uniform", "orthogonal"],
)
def test_lowercase_initializers_are_keras_classes(name):
    k = getattr(keras.initializers, name)()
    g = getattr(graphc.initializers, name)()
    assert (
        type(g).__name__ == type(k).__name__.replace("Initializer", "")
        or type(g).__name__ == type(k).__name__
    )
    assert g((4, 4)).shape == (4, 4)
    if name in ("zeros", "ones", "identity"):
        np.testing.assert_array_equal(g((3, 4)), _np(k((3, 4))))


def test_metrics_huber_is_the_loss_function():
    y, p = X, Y
    np.testing.assert_allclose(
        graphc.metrics.huber(y, p), _np(keras.metrics.huber(y, p)), rtol=1e-5
    )
