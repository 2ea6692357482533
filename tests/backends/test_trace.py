"""graphc.backends.numpy.trace: record a function of tensors once, differentiate it with
the ops' VJPs, keep the recording per owner and signature, refuse NumPy code clearly."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from graphc import ops
from graphc.backends.numpy import trace as tr
from graphc.errors import TraceError

rng = np.random.default_rng(3)
A = rng.normal(size=(4, 3))
B = rng.normal(size=(4, 3))


def test_value_and_gradients_with_respect_to_several_arguments():
    def f(a, b):
        return ops.sum(a * b + ops.square(a), axis=-1)

    value, pullback = tr.value_and_pullback(f, [A, B], wrt=(0, 1), batched=(0, 1))
    np.testing.assert_allclose(value, np.sum(A * B + A * A, axis=-1), rtol=1e-12)
    u = np.arange(1.0, 5.0)
    ga, gb = pullback(u)
    np.testing.assert_allclose(ga, (B + 2 * A) * u[:, None], rtol=1e-12)
    np.testing.assert_allclose(gb, A * u[:, None], rtol=1e-12)
    assert ga.dtype == gb.dtype == np.float64


def test_a_scalar_output_gradient_is_broadcast():
    value, pullback = tr.value_and_pullback(lambda a: ops.square(a), [A], wrt=(0,))
    (g,) = pullback(1.0)
    np.testing.assert_allclose(g, 2 * A)


def test_arguments_returned_as_is_or_unused_get_their_gradient():
    _, pullback = tr.value_and_pullback(lambda a, b: b, [A, B], wrt=(0, 1))
    ga, gb = pullback(np.full(B.shape, 2.0))
    assert np.all(ga == 0) and np.all(gb == 2)
    value, pullback = tr.value_and_pullback(lambda a: 1.5, [A], wrt=(0,))
    assert value == 1.5 and np.all(pullback(1.0)[0] == 0)


def test_float32_in_float32_out():
    a = A.astype(np.float32)
    value, pullback = tr.value_and_pullback(lambda x: ops.log(ops.abs(x)), [a], wrt=(0,))
    assert value.dtype == np.float32 and pullback(np.ones_like(value))[0].dtype == np.float32


def test_one_recording_per_owner_and_signature_with_a_symbolic_batch():
    calls = []

    def f(a):
        calls.append(a.shape)
        return ops.mean(a, axis=-1)

    for n in (4, 2, 4):
        tr.value_and_pullback(f, [A[:n]], wrt=(0,), batched=(0,))
    assert calls == [(None, 3)]
    tr.value_and_pullback(f, [A[:, :2]], wrt=(0,), batched=(0,))  # a new feature size
    tr.value_and_pullback(f, [A.astype(np.float32)], wrt=(0,), batched=(0,))  # a new dtype
    tr.value_and_pullback(f, [A], wrt=(0,))  # no batch: concrete
    assert calls == [(None, 3), (None, 2), (None, 3), (4, 3)]


def test_recordings_go_with_their_owner():
    class Owner:
        pass

    owner = Owner()
    tr.trace(lambda a: ops.square(a), [A], wrt=(0,), owner=owner)
    assert owner in tr._CACHE
    n = len(tr._CACHE)
    del owner
    gc.collect()
    assert len(tr._CACHE) == n - 1


def test_owners_without_weak_references_are_kept_by_identity():
    class Slotted:
        __slots__ = ()

        def __call__(self, a):
            return ops.square(a)

    fn = Slotted()
    t1 = tr.trace(fn, [A], wrt=(0,))
    assert tr.trace(fn, [A], wrt=(0,)) is t1
    assert tr.trace(Slotted(), [A], wrt=(0,)) is not t1
    tr.clear_cache()
    assert tr.trace(fn, [A], wrt=(0,)) is not t1


def test_numpy_code_is_refused_with_what_failed_and_how_to_fix_it():
    def np_loss(a):
        return np.sum(np.square(a))

    with pytest.raises(TraceError) as info:
        tr.trace(np_loss, [A], wrt=(0,), what="regularizer", advice="Use graphc.ops.")
    message = str(info.value)
    assert isinstance(info.value, TypeError)
    assert "The regularizer 'test_numpy_code_is_refused" in message
    assert "(4, 3) float64" in message and "not NumPy" in message
    assert message.endswith("Use graphc.ops.")
    assert info.value.__cause__ is not None  # the original error is kept


def test_a_numpy_object_result_is_refused():
    with pytest.raises(TraceError, match="returned ndarray"):
        tr.trace(lambda a: np.array([a, a], dtype=object), [A], wrt=(0,))
