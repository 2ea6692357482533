"""The keras.ops functions of issue 9's second batch against Keras 3 itself (torch
backend): the elementary functions, sorting and order statistics, the NaN reductions,
the numpy extras, linear algebra, Fourier transforms, segment reductions and the nn
extras give Keras's numbers (within 1e-5), eagerly and recorded in a model."""

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
P = R.uniform(0.1, 0.9, (3, 4)).astype("float32")
BIG = R.uniform(1.2, 3.0, (3, 4)).astype("float32")
XN = X.copy()
XN[0, 1] = np.nan
XN[2, 3] = np.nan
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5], "float32")
INTS = np.array([[12, 18, 7], [4, 9, 30]], "int32")
INTS2 = np.array([8, 6, 5], "int32")
V3 = R.standard_normal((5, 3)).astype("float32")
W3 = R.standard_normal((5, 3)).astype("float32")
S1 = R.standard_normal(9).astype("float32")
S2 = R.standard_normal(4).astype("float32")
A = (R.standard_normal((2, 3, 3)) + 3 * np.eye(3)).astype("float32")
SPD = (A @ A.transpose(0, 2, 1) + np.eye(3)).astype("float32")
CHOL = np.linalg.cholesky(SPD).astype("float32")
B = R.standard_normal((2, 3, 2)).astype("float32")
M43 = R.standard_normal((4, 3)).astype("float32")
SIG = R.standard_normal((2, 16)).astype("float32")
SEG = R.standard_normal((6, 3)).astype("float32")
SEG_IDS = np.array([0, 0, 2, 2, 1, 3], "int32")
IMG = R.standard_normal((2, 7, 9, 3)).astype("float32")
NCHW = R.standard_normal((2, 3, 6, 7)).astype("float32")
TARGETS = np.array([0, 1, 2], "int32")

CASES = {
    # name: (args, kwargs)
    "tan": ((X,), {}),
    "sinh": ((X,), {}),
    "cosh": ((X,), {}),
    "arcsin": ((P,), {}),
    "arccos": ((P,), {}),
    "arctan": ((X,), {}),
    "arcsinh": ((X,), {}),
    "arccosh": ((BIG,), {}),
    "arctanh": ((P,), {}),
    "erf": ((X,), {}),
    "erfinv": ((P * 2 - 1,), {}),
    "cbrt": ((X,), {}),
    "sinc": ((X,), {}),
    "i0": ((X,), {}),
    "trunc": ((X * 3,), {}),
    "isnan": ((SPECIAL,), {}),
    "isinf": ((SPECIAL,), {}),
    "isposinf": ((SPECIAL,), {}),
    "isneginf": ((SPECIAL,), {}),
    "signbit": ((SPECIAL,), {}),
    "nan_to_num": ((SPECIAL,), {"nan": 1.0}),
    "arctan2": ((X, Y), {}),
    "fmax": ((XN, Y), {}),
    "fmin": ((XN, Y), {}),
    "fmod": ((X * 5, BIG), {}),
    "floor_divide": ((X * 5, BIG), {}),
    "gcd": ((INTS, INTS2), {}),
    "lcm": ((INTS, INTS2), {}),
    "nextafter": ((X, Y), {}),
    "stop_gradient": ((X,), {}),
    "divide_no_nan": ((X, Y * (X > 0)), {}),
    "angle": ((SPECIAL[3:],), {}),
    "isreal": ((X,), {}),
    "sort": ((X,), {"axis": 0}),
    "argsort": ((X,), {}),
    "prod": ((X,), {"axis": 1}),
    "median": ((X,), {"axis": 1}),
    "quantile": ((X, [0.1, 0.6]), {"axis": 0}),
    "percentile": ((X, 35), {}),
    "nanmedian": ((XN,), {"axis": 1}),
    "nanquantile": ((XN, 0.3), {"axis": 0}),
    "nanpercentile": ((XN, [20, 70]), {"axis": 1, "keepdims": True}),
    "nansum": ((XN,), {"axis": 1}),
    "nanmean": ((XN,), {"axis": 0}),
    "nanmax": ((XN,), {"axis": 1}),
    "nanmin": ((XN,), {}),
    "nanprod": ((XN,), {"axis": 1}),
    "nanvar": ((XN,), {"axis": 1}),
    "nanstd": ((XN,), {"axis": 0}),
    "nanargmax": ((XN,), {"axis": 1}),
    "nanargmin": ((XN,), {"axis": 0}),
    "nancumsum": ((XN,), {}),
    "nancumprod": ((XN,), {"axis": 1}),
    "searchsorted": ((np.sort(S1), S2), {"side": "right"}),
    "digitize": ((S1, [-1.0, 0.0, 0.5]), {}),
    "isin": ((INTS, INTS2), {}),
    "bincount": ((np.array([1, 1, 3, 0], "int32"),), {"minlength": 6}),
    "histogram": ((S1,), {"bins": 4}),
    "nonzero": ((X > 0,), {}),
    "kron": ((X[:2, :2], Y[:2, :3]), {}),
    "cross": ((V3, W3), {}),
    "correlate": ((S1, S2), {"mode": "same"}),
    "corrcoef": ((M43,), {}),
    "vander": ((S2,), {"N": 3}),
    "diagflat": ((X[:2, :2],), {}),
    "tensordot": ((X, M43), {"axes": 1}),
    "unravel_index": ((np.array([3, 10, 5], "int32"), (3, 4)), {}),
    "cholesky": ((SPD,), {}),
    "cholesky_inverse": ((CHOL,), {}),
    "det": ((A,), {}),
    "slogdet": ((A,), {}),
    "logdet": ((SPD,), {}),
    "inv": ((A,), {}),
    "solve": ((A, B), {}),
    "solve_triangular": ((CHOL, B), {"lower": True}),
    "lstsq": ((M43, M43[:, :2]), {}),
    "pinv": ((M43,), {}),
    "matrix_rank": ((M43,), {}),
    "fft": (((SIG, SIG[::-1].copy()),), {}),
    "fft2": (((SIG, SIG[::-1].copy()),), {}),
    "ifft2": (((SIG, SIG[::-1].copy()),), {}),
    "rfft": ((SIG,), {"fft_length": 12}),
    "irfft": (((SIG[:, :9], SIG[:, 7:]),), {}),
    "stft": ((SIG, 6, 2, 8), {}),
    "extract_sequences": ((SIG, 5, 3), {}),
    "segment_sum": ((SEG, SEG_IDS), {}),
    "segment_max": ((SEG, SEG_IDS), {"num_segments": 4}),
    "segment_min": ((SEG, SEG_IDS), {}),
    "segment_prod": ((SEG, SEG_IDS), {}),
    "in_top_k": ((TARGETS, X, 2), {}),
    "cdist": ((V3, W3[:2]), {}),
    "saturate_cast": ((X * 300, "uint8"), {}),
    "slice_update": ((X, (1, 1), Y[:2, :2]), {}),
    "sparsemax": ((X * 2,), {}),
    "adaptive_average_pool": ((IMG, (3, 4)), {}),
    "adaptive_max_pool": ((IMG, (2, 5)), {}),
    "unfold": ((NCHW, (2, 3)), {"stride": 2, "padding": 1}),
}

#: Functions whose order is Keras's backend's (QR and SVD signs, eigenvector signs).
SIGNLESS = {"qr", "svd", "eigh"}


def _np(x):
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    return np.asarray(keras.ops.convert_to_numpy(x)) if not isinstance(x, np.ndarray) else x


def _k(a):
    if isinstance(a, tuple):
        return tuple(_k(v) for v in a)
    return keras.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a


def _compare(name, got, want):
    if isinstance(want, list):
        assert len(got) == len(want), name
        pairs = list(zip(got, want))
    else:
        pairs = [(got, want)]
    for g, w in pairs:
        g = np.asarray(g)
        assert g.shape == w.shape, (name, g.shape, w.shape)
        if w.dtype == bool or w.dtype.kind in "iu":
            np.testing.assert_array_equal(g, w, err_msg=name)
        else:
            np.testing.assert_allclose(
                g, w.astype(g.dtype), rtol=1e-5, atol=2e-5, equal_nan=True, err_msg=name
            )


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_keras(name):
    args, kwargs = CASES[name]
    want = _np(getattr(keras.ops, name)(*[_k(a) for a in args], **kwargs))
    _compare(name, getattr(ops, name)(*args, **kwargs), want)


def test_decompositions_reconstruct_like_keras():
    for mode in ("reduced", "complete"):
        q, r = ops.qr(M43, mode=mode)
        kq, kr = _np(keras.ops.linalg.qr(_k(M43), mode=mode))
        assert q.shape == kq.shape and r.shape == kr.shape
        np.testing.assert_allclose(q @ r, M43, atol=1e-5)
    u, s, vh = ops.svd(M43, full_matrices=False)
    np.testing.assert_allclose(
        s, _np(keras.ops.linalg.svd(_k(M43), full_matrices=False))[1], rtol=1e-5
    )
    np.testing.assert_allclose((u * s) @ vh, M43, atol=1e-5)
    w, v = ops.eigh(SPD)
    np.testing.assert_allclose(w, _np(keras.ops.linalg.eigh(_k(SPD)))[0], rtol=1e-5)
    np.testing.assert_allclose(v @ (w[..., None] * v.transpose(0, 2, 1)), SPD, atol=1e-4)
    lu, piv = ops.lu_factor(A[0])
    klu, kpiv = _np(keras.ops.linalg.lu_factor(_k(A[0])))
    np.testing.assert_allclose(lu, klu, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(piv, kpiv)
    w, _ = ops.eig(A[0])
    np.testing.assert_allclose(
        np.sort_complex(w), np.sort_complex(_np(keras.ops.linalg.eig(_k(A[0])))[0]), rtol=1e-5
    )


def test_argpartition_partitions_like_numpy():
    """Keras's NumPy backend is np.argpartition (its torch backend casts floats to int32
    first, so it is not the reference here)."""
    got = ops.argpartition(X, 1, axis=-1)
    assert got.dtype == np.int32
    picked = np.take_along_axis(X, got, -1)
    np.testing.assert_array_equal(picked[:, 1], np.sort(X, -1)[:, 1])
    assert (picked[:, :1] <= picked[:, 1:2]).all() and (picked[:, 2:] >= picked[:, 1:2]).all()


def test_istft_inverts_stft_like_keras():
    spec = _np(keras.ops.stft(_k(SIG), 6, 2, 8))
    for kw in ({}, {"length": 12}, {"center": False}, {"window": None}):
        want = _np(keras.ops.istft(tuple(_k(s) for s in spec), 6, 2, 8, **kw))
        _compare("istft", ops.istft(tuple(spec), 6, 2, 8, **kw), want)


def test_fold_and_associative_scan_match_keras():
    cols = _np(keras.ops.unfold(_k(NCHW), (2, 3), dilation=2, padding=1, stride=(2, 1)))
    want = _np(keras.ops.fold(_k(cols), (6, 7), (2, 3), dilation=2, padding=1, stride=(2, 1)))
    _compare("fold", ops.fold(cols, (6, 7), (2, 3), dilation=2, padding=1, stride=(2, 1)), want)
    for kw in ({"axis": 0}, {"axis": 1, "reverse": True}):
        want = _np(keras.ops.associative_scan(lambda a, b: a * b, _k(X), **kw))
        _compare("associative_scan", ops.associative_scan(lambda a, b: a * b, X, **kw), want)
    want = _np(keras.ops.polar(_k(P), _k(X)))
    np.testing.assert_allclose(ops.polar(P, X), want, rtol=1e-5)


#: Functions recorded on a symbolic tensor inside a model give their eager numbers.
SYMBOLIC = {
    "tan": lambda x: ops.tan(x),
    "arctan2": lambda x: ops.arctan2(x, ops.exp(x)),
    "erfinv": lambda x: ops.erfinv(ops.tanh(x)),
    "isnan": lambda x: ops.isnan(x),
    "sort": lambda x: ops.sort(x),
    "argsort": lambda x: ops.argsort(x),
    "median": lambda x: ops.median(x, axis=-1),
    "quantile": lambda x: ops.quantile(x, [0.2, 0.9], axis=-1),
    "nanmean": lambda x: ops.nanmean(ops.where(x > 1, np.float32(np.nan), x), axis=-1),
    "nanquantile": lambda x: ops.nanquantile(ops.where(x > 1, np.float32(np.nan), x), 0.4, axis=-1),
    "prod": lambda x: ops.prod(x, axis=-1),
    "nancumsum": lambda x: ops.nancumsum(ops.where(x > 1, np.float32(np.nan), x), axis=-1),
    "nancumprod": lambda x: ops.nancumprod(ops.where(x > 1, np.float32(np.nan), x), axis=1),
    "cross": lambda x: ops.cross(
        ops.get_item(x, (slice(None), slice(0, 3))), ops.get_item(x, (slice(None), slice(1, 4)))
    ),
    "correlate-like get_item": lambda x: ops.get_item(x, (slice(None), slice(1, None, 2))),
    "tensordot": lambda x: ops.tensordot(x, np.ones((4, 2), "float32"), axes=1),
    "rfft": lambda x: ops.rfft(x)[1],
    "searchsorted": lambda x: ops.searchsorted(np.float32([-1, 0, 1]), x),
    "segment_sum": lambda x: ops.segment_sum(ops.transpose(x), np.int32([0, 1, 1, 0]), 2),
    "sparsemax": lambda x: ops.sparsemax(x),
    "divide_no_nan": lambda x: ops.divide_no_nan(x, ops.relu(x)),
    "det": lambda x: ops.det(ops.reshape(ops.tile(x, (1, 1)), (-1, 2, 2))),
}


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_recorded_in_a_model_gives_the_eager_numbers(name):
    fn = SYMBOLIC[name]
    inp = graphc.layers.Input(shape=(4,))
    model = graphc.Model(inp, fn(inp))
    got = model.predict(X, verbose=0)
    want = fn(X)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, equal_nan=True)
