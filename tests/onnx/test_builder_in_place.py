"""The exporter's fast paths make the same protobuf as the plain ones: initializers
written as wire format (``add_initializers``), a model built in place (``in_place``),
with or without its lists edited afterwards, and a node's lazily typed lowering context."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("onnx")

from graphc.backends.onnx.builder import (  # noqa: E402
    NodeLoweringContext,
    OnnxBuilder,
    add_initializers,
    lowering_context,
    make_model,
    tensor_proto,
    value_info,
)
from graphc.ir import Value  # noqa: E402
from graphc.ops.lowering import LoweringContext  # noqa: E402

ODD_ARRAYS = [
    np.zeros(0, np.float32),
    np.float32(3.5).reshape(()),
    np.arange(300, dtype=np.int64),
    np.ones((200, 3), bool),
    np.ones((2, 70_000), np.uint8),
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.ones((1, 0, 5), np.float16),
    np.arange(6, dtype=np.int32)[::2],
    np.array(["a", "bc"], dtype=object),  # no raw data: field by field
]
ODD_NAMES = ["a", "b" * 200, "c", "", "e/\u00e9", "f", "g", "h", "s"]


@pytest.mark.parametrize("arrays", [ODD_ARRAYS[:-1], ODD_ARRAYS], ids=["raw", "with-strings"])
@pytest.mark.parametrize("in_place", [True, False])
def test_add_initializers_matches_tensor_proto(arrays, in_place):
    names = ODD_NAMES[: len(arrays)]
    fast = OnnxBuilder()
    plain = OnnxBuilder()
    if in_place:
        fast.in_place()
        plain.in_place()
    add_initializers(fast, arrays, names)
    for a, n in zip(arrays, names):
        plain.initializers.append(tensor_proto(a, n, plain._initializer_field))
    assert [t.SerializeToString() for t in fast.initializers] == [
        t.SerializeToString() for t in plain.initializers
    ]


def _build(b: OnnxBuilder, drop_first: bool):
    x = b.reserve("x")
    w = b.const(np.ones((3, 3), np.float32), "w")
    h = b.op("MatMul", x, w, where="d")
    h = b.op("Relu", h, where="d")
    b.op("Identity", h, out_names=["y"])
    b.op("Constant", outputs=1, value_float=1.0)  # a node with attributes, unread
    if drop_first:
        b.nodes[:] = b.nodes[:-1]
        b.initializers.append(tensor_proto(np.zeros(2, np.float32), "extra"))
    inputs = [value_info("x", "float32", [None, 3])]
    outputs = [value_info("y", "float32", [None, 3])]
    return make_model(b, inputs, outputs, name="m")


def test_records_describe_the_nodes_and_initializers():
    b = OnnxBuilder(17).in_place()
    add_initializers(b, [np.ones((3, 3), np.float32)], ["w"])
    x = b.reserve("x")
    h = b.op("MatMul", x, "w", where="d")
    b.op("Split", h, b.const(np.array([1, 2]), "s"), outputs=2, axis=1)
    b.op("Identity", h, out_names=["y"])
    assert b.records == [(n.op_type, tuple(n.input), list(n.output)) for n in b.nodes]
    assert b.initializer_names == [t.name for t in b.initializers]
    add_initializers(b, [np.zeros(2, np.float32), np.array(["a"], object)], ["z", "t"])
    assert b.initializer_names == [t.name for t in b.initializers]


@pytest.mark.parametrize("edited", [False, True])
def test_model_built_in_place_is_the_same_model(edited):
    plain = _build(OnnxBuilder(17), edited)
    fast = _build(OnnxBuilder(17).in_place(), edited)
    assert fast.SerializeToString() == plain.SerializeToString()
    assert len(fast.graph.node) == (3 if edited else 4)


def test_node_context_makes_the_types_lowering_context_makes():
    x = Value((None, 4), "float16")
    y = Value((None, 2), "float32")
    b = OnnxBuilder()
    ctx = object.__new__(NodeLoweringContext)
    ctx.__dict__.update(emitter=b, opset=18, float_dtype="float16", where="l", _values=([x], [y]))
    ref = lowering_context(b, [x.type], [y.type], where="l")
    assert isinstance(ctx, LoweringContext)
    for f in dataclasses.fields(LoweringContext):
        assert getattr(ctx, f.name) == getattr(ref, f.name), f.name
    with pytest.raises(AttributeError):
        ctx.no_such_field  # noqa: B018
