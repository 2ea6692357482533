"""``OnnxBuilder.fresh`` gives the names the plain search gives (smallest free suffix),
in time that does not grow with the names a base already has."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("onnx")

from graphc.backends.onnx.builder import OnnxBuilder  # noqa: E402


def _plain_fresh(used: set, base: str) -> str:
    base = base or "t"
    name, k = base, 0
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def test_same_names_as_the_plain_search():
    rng = random.Random(0)
    b, used = OnnxBuilder(), set()
    for _ in range(2000):
        base = rng.choice(["const", "d/Gemm", "d/Gemm_1", "", "x_2", "x"])
        if rng.random() < 0.1:
            exact = f"{base or 't'}_{rng.randint(0, 30)}"
            if exact not in used:
                b.reserve(exact)
                used.add(exact)
            continue
        assert b.fresh(base) == _plain_fresh(used, base)


def test_many_names_of_one_base_stay_linear():
    b = OnnxBuilder()
    names = [b.fresh("layer/const") for _ in range(20_000)]
    assert names[:3] == ["layer/const", "layer/const_1", "layer/const_2"]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    "bases",
    [
        ["d/kernel", "d/bias", "e/kernel"],  # all new: taken in one step
        ["d/kernel", "d/kernel", "x"],  # repeated
        ["x", "d/bias"],  # one already taken
        ["", "t"],  # the empty base is named "t"
    ],
)
def test_fresh_names_gives_what_fresh_gives_one_by_one(bases):
    fast, slow = OnnxBuilder(), OnnxBuilder()
    for b in (fast, slow):
        b.reserve("x")
        b.fresh("d")
    assert fast.fresh_names(bases) == [slow.fresh(base) for base in bases]
    # and the names after them too
    for base in ("d/kernel", "x", "d", "t", "e/kernel"):
        assert fast.fresh(base) == slow.fresh(base)
