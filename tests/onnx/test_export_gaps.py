"""Issue 11, item 4: the export gaps found in the audit, each exported and run in
onnxruntime and in onnx's reference evaluator against graphc's NumPy outputs.

- "same" convolutions and pooling on unknown sizes: explicit pads (stride 1), or pads
  computed from the run-time shape (a Pad node) where ONNX's ``SAME_UPPER`` is refused
  (dilations) or asks for negative pads (a stride over the window);
- BatchNormalization on any axis, as one ``BatchNormalization`` node, folded into the
  preceding Conv or Gemm when that is its only reader;
- weights re-laid out by nodes folded into constants; duplicate constants and nodes merged;
- one symbol per unknown axis on inputs and outputs; dict outputs keep their keys.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_reference import assert_reference_matches

from graphc import Input, Model, layers
from graphc.onnx import Runtime, export

RTOL, ATOL = 1e-4, 1e-5


def _check(model, xs, compare_reference=True):
    """Export ``model``; every input in ``xs`` runs in onnxruntime (and the first in the
    reference evaluator) with graphc's NumPy outputs. Returns the proto."""
    proto = export(model)
    rt = Runtime(proto)
    for x in xs:
        got = rt.predict(x)
        got = list(got.values()) if isinstance(got, dict) else got
        got = [got] if not isinstance(got, (list, tuple)) else list(got)
        want = model(x)
        want = list(want.values()) if isinstance(want, dict) else want
        want = [want] if not isinstance(want, (list, tuple)) else list(want)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            w = np.asarray(w)
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    if compare_reference:

        def reference(x):
            out = model(x)
            out = list(out.values()) if isinstance(out, dict) else out
            return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]

        assert assert_reference_matches(proto, rt, xs[0], reference, rtol=RTOL, atol=ATOL)
    return proto


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype("float32")


def _ops(proto) -> list:
    return [n.op_type for n in proto.graph.node]


# ---- "same" padding on unknown sizes -----------------------------------------------------
def test_dilated_same_conv1d_on_unknown_length():
    x = Input((None, 6))
    model = Model(x, layers.Conv1D(4, 3, padding="same", dilation_rate=2)(x))
    proto = _check(model, [_rand(2, 7, 6), _rand(1, 4, 6, seed=1), _rand(3, 1, 6, seed=2)])
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    attrs = {a.name: a for a in conv.attribute}
    assert attrs["auto_pad"].s == b"NOTSET"
    assert list(attrs["pads"].ints) == [2, 2]  # stride 1: the size does not matter
    assert "Pad" not in _ops(proto)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Conv2D(4, 3, padding="same", dilation_rate=(2, 3)),
        lambda: layers.DepthwiseConv2D(3, padding="same", dilation_rate=2),
        lambda: layers.SeparableConv2D(4, 3, padding="same", dilation_rate=2),
        lambda: layers.Conv2D(4, 2, strides=3, padding="same"),  # stride over the window
        lambda: layers.Conv2D(4, 3, strides=2, padding="same"),
    ],
)
def test_same_conv2d_on_unknown_sizes(make):
    x = Input((None, None, 3))
    model = Model(x, make()(x))
    _check(model, [_rand(2, 9, 8, 3), _rand(1, 7, 10, 3, seed=1), _rand(1, 2, 3, 3, seed=2)])


def test_dilated_same_conv3d_on_unknown_sizes():
    x = Input((None, 4, None, 2))
    model = Model(x, layers.Conv3D(3, 2, padding="same", dilation_rate=2)(x))
    _check(model, [_rand(2, 5, 4, 6, 2), _rand(1, 3, 4, 2, 2, seed=1)])


def test_dilated_same_conv_channels_first():
    x = Input((3, None, None))
    conv = layers.Conv2D(4, 3, padding="same", dilation_rate=2, data_format="channels_first")
    _check(Model(x, conv(x)), [_rand(2, 3, 6, 5)])


@pytest.mark.parametrize("pool", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("strides", [3, (4, 2), (3, 1)])
def test_same_pooling_with_strides_over_the_window(pool, strides):
    x = Input((None, None, 3))
    model = Model(x, pool(2, strides=strides, padding="same")(x))
    # H = 9 with pool 2, stride 3: ONNX's SAME_UPPER asks for a pad of -1.
    xs = [_rand(2, h, w, 3, seed=h) for h, w in ((9, 9), (8, 10), (7, 11), (10, 5), (1, 2))]
    _check(model, xs)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: layers.MaxPooling1D(2, strides=3, padding="same"), (None, 2)),
        (lambda: layers.AveragePooling3D(2, strides=(3, 1, 2), padding="same"), (None, 4, None, 2)),
        (lambda: layers.Conv2DTranspose(4, 2, strides=3, padding="same"), (None, None, 3)),
        (lambda: layers.Conv1DTranspose(4, 3, dilation_rate=2, padding="same"), (None, 3)),
    ],
)
def test_other_windowed_layers_on_unknown_sizes(make, shape):
    x = Input(shape)
    model = Model(x, make()(x))
    sizes = (5, 7, 9)
    _check(model, [_rand(2, *(n if d is None else d for d in shape), seed=n) for n in sizes])


def test_same_average_pooling_excludes_the_pads():
    # Keras divides by the input elements a window covers, not by the window's size.
    x = Input((None, 2))
    model = Model(x, layers.AveragePooling1D(3, strides=4, padding="same")(x))
    ones = np.ones((1, 10, 2), "float32")
    np.testing.assert_allclose(Runtime(export(model)).predict(ones), np.ones((1, 3, 2)))
    _check(model, [_rand(2, 10, 2), _rand(1, 5, 2, seed=1)])


# ---- BatchNormalization ------------------------------------------------------------------
def _with_statistics(model, seed=0):
    """Non-trivial moving statistics and affine weights, so folding errors show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            weights = layer.get_weights()
            new = [rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) for w in weights]
            new[2] = rng.uniform(-1, 1, weights[2].shape).astype(weights[2].dtype)
            layer.set_weights(new)
    return model


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_batch_norm_on_any_axis(axis):
    x = Input((3, 5, 4))
    y = layers.Activation("tanh")(x)  # not foldable: the node itself is exported
    model = _with_statistics(Model(x, layers.BatchNormalization(axis=axis)(y)))
    proto = _check(model, [_rand(2, 3, 5, 4)])
    assert _ops(proto).count("BatchNormalization") == 1


def test_batch_norm_axis_1_after_channels_first_conv():
    x = Input((3, None, None))
    y = layers.Conv2D(4, 3, padding="same", data_format="channels_first")(x)
    y = layers.Activation("relu")(y)
    model = _with_statistics(Model(x, layers.BatchNormalization(axis=1)(y)))
    proto = _check(model, [_rand(2, 3, 6, 5)])
    assert _ops(proto).count("BatchNormalization") == 1
    assert "Transpose" not in _ops(proto)


# ---- symbols and dict outputs ------------------------------------------------------------
def _dims(vi) -> list:
    return [
        d.dim_value if d.HasField("dim_value") else d.dim_param
        for d in vi.type.tensor_type.shape.dim
    ]


def test_one_symbol_per_unknown_axis_on_inputs_and_outputs():
    x = Input((None, 6), name="tokens")
    h = layers.Dense(4, name="proj")(x)
    seq = layers.LSTM(3, return_sequences=True, name="rnn")(h)
    same = layers.Conv1D(2, 3, padding="same", dilation_rate=2, name="same")(h)
    strided = layers.Conv1D(2, 3, strides=2, padding="same", name="down")(h)
    model = Model(x, [seq, same, strided])
    proto = _check(model, [_rand(2, 5, 6)])
    assert _dims(proto.graph.input[0]) == ["batch", "tokens_dim_1", 6]
    # The sequence length flows through the LSTM (ONNX's shape inference says so) and the
    # stride-1 "same" conv (graphc's shape rules say so): the same symbol; the strided
    # conv's length is another number, with its own name.
    assert [_dims(o) for o in proto.graph.output] == [
        ["batch", "tokens_dim_1", 3],
        ["batch", "tokens_dim_1", 2],
        ["batch", "down_dim_1", 2],
    ]


def test_dict_outputs_keep_their_keys(tmp_path):
    x = Input((None, 6), name="seq")
    h = layers.Dense(4, name="d")(x)
    model = Model(x, {"scores": h, "states": layers.GRU(3, return_sequences=True)(h)})
    proto = _check(model, [_rand(2, 5, 6)])
    assert [o.name for o in proto.graph.output] == ["scores", "states"]
    path = tmp_path / "m.onnx"
    export(model, path)
    rt = Runtime(str(path))
    x = _rand(3, 4, 6)
    got, want = rt.predict(x), model.predict(x, verbose=0)
    assert isinstance(got, dict) and list(got) == list(want) == ["scores", "states"]
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=RTOL, atol=ATOL)
    assert [a.shape for a in rt.predict_list(x)] == [(3, 4, 4), (3, 4, 3)]
    result = rt.evaluate(x, {"scores": np.zeros((3, 4, 4), "float32")}, loss={"scores": "mse"})
    assert result["loss"] == pytest.approx(float(np.mean(want["scores"] ** 2)), rel=1e-4)


def test_list_outputs_keep_layer_names():
    x = Input((3,), name="x")
    model = Model(x, [layers.Dense(2, name="p")(x), layers.Dense(1, name="q")(x)])
    proto = export(model)
    assert [o.name for o in proto.graph.output] == ["p", "q"]
    assert not any(p.key == "graphc.output_keys" for p in proto.metadata_props)
    assert isinstance(Runtime(proto).predict(_rand(2, 3)), list)


# ---- folding and merging -----------------------------------------------------------------
def test_batch_norm_folds_into_the_conv_and_dense_before_it():
    x = Input((8, 8, 3))
    y = layers.Conv2D(4, 3, use_bias=False, name="c1")(x)
    y = layers.BatchNormalization(name="bn1")(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(4, 3, name="c2")(y)
    y = layers.BatchNormalization(name="bn2")(y)
    y = layers.Flatten()(y)
    y = layers.Dense(5, name="d")(y)
    model = _with_statistics(Model(x, layers.BatchNormalization(name="bn3")(y)))
    proto = _check(model, [_rand(2, 8, 8, 3), _rand(5, 8, 8, 3, seed=1)])
    assert "BatchNormalization" not in _ops(proto)
    assert _ops(proto).count("Transpose") == 2  # the input's and the last conv's
    names = {t.name for t in proto.graph.initializer}
    # Weights keep their layer paths; a conv without a bias takes BatchNormalization's beta.
    assert names == {"c1/kernel", "bn1/beta", "c2/kernel", "c2/bias", "d/kernel", "d/bias"}


def test_batch_norm_stays_one_node_when_its_input_has_other_readers():
    x = Input((6,))
    h = layers.Dense(4, name="d")(x)
    model = _with_statistics(Model(x, [h, layers.BatchNormalization()(h)]))
    proto = _check(model, [_rand(3, 6)])
    assert _ops(proto).count("BatchNormalization") == 1
    assert _ops(proto).count("Gemm") == 1


def test_shared_conv_kernel_is_copied_not_changed_by_folding():
    x = Input((6, 6, 2))
    conv = layers.Conv2D(3, 3, name="shared")
    a = layers.BatchNormalization(name="bn")(conv(x))
    b = conv(layers.Activation("tanh")(x))
    model = _with_statistics(Model(x, [a, b]))
    proto = _check(model, [_rand(2, 6, 6, 2)])
    assert "BatchNormalization" not in _ops(proto)


@pytest.mark.parametrize(
    "make",
    [
        lambda x: layers.LSTM(3)(x),
        lambda x: layers.GRU(3, return_sequences=True)(x),
        lambda x: layers.Bidirectional(layers.LSTM(3))(x),
        lambda x: layers.MultiHeadAttention(2, 4)(x, x),
    ],
)
def test_weights_relaid_out_by_nodes_are_folded(make):
    x = Input((5, 6))
    model = Model(x, make(x))
    proto = _check(model, [_rand(2, 5, 6)])
    names = {t.name for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type in ("Gather", "Unsqueeze", "Reshape", "Concat", "Transpose"):
            assert not all(t in names for t in node.input if t), node
    for weight in model.weights:  # still under their layer paths
        assert any(n == weight.path or n.endswith("/" + weight.path) for n in names), weight.path


def test_depthwise_kernel_is_stored_in_onnx_layout():
    x = Input((8, 8, 3))
    model = Model(x, layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x))
    proto = _check(model, [_rand(2, 8, 8, 3)])
    assert sorted(_ops(proto)) == ["Conv", "Transpose", "Transpose"]
    (kernel,) = [t for t in proto.graph.initializer if t.name == "dw/kernel"]
    assert list(kernel.dims) == [6, 1, 3, 3]


def test_identical_constants_and_nodes_are_merged():
    # Two "same" strided convs on one unknown-size input compute the same pads.
    x = Input((None, None, 3))
    a = layers.Conv2D(2, 2, strides=3, padding="same", name="a")(x)
    b = layers.Conv2D(2, 2, strides=3, padding="same", name="b")(x)
    model = Model(x, [a, b])
    proto = _check(model, [_rand(2, 9, 7, 3)])
    assert _ops(proto).count("Pad") == 1
    assert _ops(proto).count("Shape") == 1
    weights = {"a/kernel", "a/bias", "b/kernel", "b/bias"}
    consts = [t for t in proto.graph.initializer if t.name not in weights]
    assert {t.name for t in proto.graph.initializer} >= weights  # equal biases stay apart
    raws = [(t.data_type, tuple(t.dims), t.raw_data) for t in consts]
    assert len(raws) == len(set(raws))


def test_equal_weights_are_never_merged():
    x = Input((3,))
    model = Model(x, [layers.Dense(2, name="p")(x), layers.Dense(2, name="q")(x)])
    for layer in model.layers[1:]:
        layer.set_weights([np.ones((3, 2), "float32"), np.zeros(2, "float32")])
    proto = _check(model, [_rand(2, 3)])
    assert {t.name for t in proto.graph.initializer} == {"p/kernel", "p/bias", "q/kernel", "q/bias"}
