"""Conv1D / Conv2D (with groups), DepthwiseConv1D/2D, SeparableConv1D/2D: the harness,
numbers against a direct NumPy formula, Keras's argument errors, channels_first,
whole-model gradients through the executor, and ONNX parity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from harness import assert_onnx_matches, check_gradients, check_layer, randomize_weights

import graphc
from graphc import Input, Model, layers
from graphc.errors import ShapeError

CASES = [
    # (cls, kwargs, input shape, output shape, params)
    (layers.Conv2D, {"filters": 4, "kernel_size": 3}, (None, 5, 5, 3), (None, 3, 3, 4), 112),
    (
        layers.Conv2D,
        {"filters": 4, "kernel_size": 3, "padding": "same"},
        (None, 5, 5, 3),
        (None, 5, 5, 4),
        112,
    ),
    (
        layers.Conv2D,
        {"filters": 4, "kernel_size": 3, "strides": 2},
        (None, 5, 5, 3),
        (None, 2, 2, 4),
        112,
    ),
    (
        layers.Conv2D,
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
        (None, 5, 5, 3),
        (None, 3, 3, 4),
        112,
    ),
    (
        layers.Conv2D,
        {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
        (None, 5, 5, 3),
        (None, 5, 5, 2),
        56,
    ),
    (
        layers.Conv2D,
        {"filters": 2, "kernel_size": (3, 2), "dilation_rate": 2},
        (None, 6, 5, 3),
        (None, 2, 3, 2),
        38,
    ),
    (
        layers.Conv2D,
        {"filters": 4, "kernel_size": 1, "use_bias": False, "activation": "relu"},
        (None, 5, 5, 3),
        (None, 5, 5, 4),
        12,
    ),
    (
        layers.Conv2D,
        {"filters": 4, "kernel_size": 3, "data_format": "channels_first"},
        (None, 3, 5, 6),
        (None, 4, 3, 4),
        112,
    ),
    (
        layers.Conv2D,
        {"filters": 4, "kernel_size": 3, "padding": "same"},
        (None, None, None, 3),
        (None, None, None, 4),
        112,
    ),
    (layers.Conv1D, {"filters": 4, "kernel_size": 3}, (None, 7, 3), (None, 5, 4), 40),
    (
        layers.Conv1D,
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
        (None, 7, 3),
        (None, 4, 4),
        40,
    ),
    (
        layers.Conv1D,
        {
            "filters": 2,
            "kernel_size": 3,
            "padding": "causal",
            "dilation_rate": 2,
            "activation": "tanh",
        },
        (None, 7, 3),
        (None, 7, 2),
        20,
    ),
    (
        layers.Conv1D,
        {"filters": 2, "kernel_size": 2, "data_format": "channels_first"},
        (None, 3, 6),
        (None, 2, 5),
        14,
    ),
    (layers.Conv1D, {"filters": 4, "kernel_size": 5}, (None, None, 8), (None, None, 4), 164),
]


def _reference(x, w, b, strides, padding, dilation):
    """Direct cross-correlation (channels-last), TensorFlow's "same" split."""
    n = w.ndim - 2
    k = w.shape[:n]
    pads = []
    for i in range(n):
        size, eff = x.shape[1 + i], (k[i] - 1) * dilation[i] + 1
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "causal":
            pads.append((eff - 1, 0))
        else:
            out = -(-size // strides[i])
            total = max((out - 1) * strides[i] + eff - size, 0)
            pads.append((total // 2, total - total // 2))
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out = [(xp.shape[1 + i] - ((k[i] - 1) * dilation[i] + 1)) // strides[i] + 1 for i in range(n)]
    y = np.zeros((x.shape[0], *out, w.shape[-1]))
    for pos in np.ndindex(*out):
        for offs in np.ndindex(*k):
            idx = tuple(p * s + o * d for p, s, o, d in zip(pos, strides, offs, dilation))
            y[(slice(None), *pos)] += xp[(slice(None), *idx)] @ w[offs]
    return y + (0 if b is None else b)


@pytest.mark.parametrize(
    "cls,kwargs,shape,expected,params",
    CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_conv_layer_harness_and_numbers(cls, kwargs, shape, expected, params):
    if None in shape[1:]:
        shape_concrete = tuple(d if d is not None else 7 for d in shape)
        layer = cls(**kwargs)
        out = layer(Input(batch_shape=shape))
        assert out.shape == expected
        assert layer.count_params() == params
        y = layer(np.zeros((2,) + shape_concrete[1:], "float32"))
        assert y.shape[-1] == expected[-1]
        return
    checked = check_layer(cls, kwargs, shape, expected, params)
    layer, x, y = checked.layer, checked.x.astype(np.float64), checked.y
    w = layer.kernel.numpy().astype(np.float64)
    b = layer.bias.numpy().astype(np.float64) if layer.use_bias else None
    first = layer.data_format == "channels_first"
    xl = np.moveaxis(x, 1, -1) if first else x
    ref = _reference(xl, w, b, layer.strides, layer.padding, layer.dilation_rate)
    ref = layer.activation(ref) if layer.activation is not graphc.activations.linear else ref
    ref = np.moveaxis(ref, -1, 1) if first else ref
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_conv2d_weights_are_keras_layout_and_names():
    layer = layers.Conv2D(8, (3, 2), name="c2")
    layer(Input(shape=(9, 9, 5)))
    assert [p.path for p in layer.weights] == ["c2/kernel", "c2/bias"]
    assert [w.shape for w in layer.get_weights()] == [(3, 2, 5, 8), (8,)]
    assert layers.Conv2D(2, 3).name.startswith("conv2d")
    assert layers.Conv1D(2, 3).name.startswith("conv1d")
    assert layers.Convolution2D is layers.Conv2D and layers.Convolution1D is layers.Conv1D


def test_conv_config_is_keras_and_round_trips():
    layer = layers.Conv2D(
        4, 3, strides=(2, 1), padding="SAME", activation="relu", kernel_initializer="he_normal"
    )
    config = layer.get_config()
    for key, value in {
        "filters": 4,
        "kernel_size": [3, 3],
        "strides": [2, 1],
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": [1, 1],
        "groups": 1,
        "activation": "relu",
        "use_bias": True,
    }.items():
        assert config[key] == value, key
    assert json.loads(json.dumps(config)) == config
    assert layers.Conv2D.from_config(config).get_config() == config


def test_channels_first_equals_channels_last_transposed():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3)).astype("float32")
    last = layers.Conv2D(4, 3, strides=2, padding="same")
    first = layers.Conv2D(4, 3, strides=2, padding="same", data_format="channels_first")
    y_last = last(x)
    first(np.moveaxis(x, -1, 1))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(
        np.moveaxis(first(np.moveaxis(x, -1, 1)), 1, -1), y_last, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"filters": 0, "kernel_size": 3}, "filters=0"),
        ({"filters": 4, "kernel_size": (3, 3, 3)}, "kernel_size"),
        ({"filters": 4, "kernel_size": 0}, "kernel_size"),
        ({"filters": 4, "kernel_size": 3, "strides": 0}, "strides"),
        ({"filters": 4, "kernel_size": 3, "padding": "full"}, "padding"),
        ({"filters": 4, "kernel_size": 3, "padding": "causal"}, "padding"),
        ({"filters": 4, "kernel_size": 3, "data_format": "nhwc"}, "data_format"),
        ({"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "dilation_rate"),
        ({"filters": 4, "kernel_size": 3, "groups": 0}, "groups"),
        ({"filters": 4, "kernel_size": 3, "groups": 3}, "groups=3"),
        ({"filters": 4, "kernel_size": 3, "activation": "nope"}, "nope"),
    ],
)
def test_conv2d_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Conv2D(**kwargs)


def test_causal_padding_is_conv1d_only_and_causal():
    layers.Conv1D(2, 3, padding="causal")
    x = np.zeros((1, 6, 1), "float32")
    x[0, 3, 0] = 1.0
    layer = layers.Conv1D(1, 3, padding="causal", kernel_initializer="ones", use_bias=False)
    y = layer(x)[0, :, 0]
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1, 1])  # nothing leaks into the past


def test_conv_shape_errors_name_the_layer():
    with pytest.raises(ShapeError, match="min_ndim=4"):
        layers.Conv2D(2, 3)(Input(shape=(5, 3)))
    with pytest.raises(ShapeError, match="computed output size"):
        layers.Conv2D(2, 5, name="too_big")(Input(shape=(3, 3, 1)))
    conv = layers.Conv2D(2, 3)
    conv(Input(shape=(5, 5, 3)))
    with pytest.raises(ShapeError, match="expected axis -1 of input shape to have value 3"):
        conv(Input(shape=(5, 5, 4)))
    with pytest.raises(ShapeError, match="channel dimension"):
        layers.Conv2D(2, 3)(Input(shape=(5, 5, None)))


def test_whole_model_gradients_in_float64():
    """The executor's reverse pass (with its needs/out fast path) against central
    differences, through conv, pooling and a dense head."""
    graphc.utils.set_random_seed(3)
    inp = Input(shape=(6, 6, 2))
    x = layers.Conv2D(3, 3, padding="same", activation="tanh")(inp)
    x = layers.AveragePooling2D(2, padding="same", strides=1)(x)
    x = layers.Conv2D(2, 2, strides=2, activation="tanh")(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = Model(inp, layers.Dense(2)(x))
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3, 6, 6, 2))]
    check_gradients(model, xs, [rng.standard_normal((3, 2))])


def _text_model():
    graphc.utils.set_random_seed(5)
    inp = Input(shape=(12, 6), name="tokens")
    x = layers.Conv1D(8, 3, activation="relu", padding="causal")(inp)
    x = layers.Conv1D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(4, 2, data_format="channels_first")(x)
    x = layers.GlobalMaxPooling1D()(x)
    return Model(inp, layers.Dense(3, activation="softmax")(x))


def _image_model():
    graphc.utils.set_random_seed(6)
    inp = Input(shape=(9, 8, 3), name="image")
    x = layers.Conv2D(6, 3, activation="relu", padding="same")(inp)
    x = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Conv2D(4, 2, dilation_rate=2, padding="same", use_bias=False)(x)
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Flatten()(x)
    return Model(inp, layers.Dense(3)(x))


@pytest.mark.parametrize("builder", [_text_model, _image_model])
def test_conv_models_onnx_parity(builder):
    model = builder()
    randomize_weights(model)
    shape = model.inputs[0].shape[1:]
    assert_onnx_matches(
        model,
        [
            np.random.default_rng(batch).standard_normal((batch, *shape)).astype("float32")
            for batch in (1, 5)
        ],
    )


def test_conv_onnx_with_unknown_spatial_size_uses_same_upper():
    graphc.utils.set_random_seed(7)
    inp = Input(shape=(None, 4))
    y = layers.Conv1D(3, 4, strides=2, padding="same")(inp)
    y = layers.MaxPooling1D(3, strides=2, padding="same")(y)
    model = Model(inp, layers.GlobalAveragePooling1D()(y))
    assert_onnx_matches(
        model,
        [
            np.random.default_rng(steps).standard_normal((2, steps, 4)).astype("float32")
            for steps in (5, 8, 11)
        ],
    )


def test_conv_model_trains_and_saves(tmp_path):
    model = _image_model()
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 9, 8, 3)).astype("float32")
    y = rng.standard_normal((16, 3)).astype("float32")
    hist = model.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False).history
    assert hist["loss"][-1] < hist["loss"][0]
    path = tmp_path / "m.graphc"
    model.save(path)
    loaded = graphc.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )


# ---- "Deep Learning with Python" convnet (examples/dlwp_convnet.py) ---------------------
def _dlwp_module():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "dlwp_convnet.py"
    spec = importlib.util.spec_from_file_location("dlwp_convnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dlwp_convnet_builds_with_keras_parameter_counts():
    model = _dlwp_module().build_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 104,202" in text and "Trainable params: 104,202" in text
    rows = [
        (type(layer).__name__, layer.output.shape, layer.count_params())
        for layer in model.layers[1:]
    ]
    assert rows == [
        ("Conv2D", (None, 26, 26, 32), 320),
        ("MaxPooling2D", (None, 13, 13, 32), 0),
        ("Conv2D", (None, 11, 11, 64), 18496),
        ("MaxPooling2D", (None, 5, 5, 64), 0),
        ("Conv2D", (None, 3, 3, 128), 73856),
        ("Flatten", (None, 1152), 0),
        ("Dense", (None, 10), 11530),
    ]
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((8, 28, 28, 1)).astype("float32")
    model.fit(x, rng.integers(0, 10, 8), epochs=1, batch_size=4, verbose=0)
    assert_onnx_matches(model, [x])


# ---- ONNX: cancelling the transposes between channels-last layers -----------------------
def _transpose(name, x, y, perm):
    from onnx import helper

    return helper.make_node("Transpose", [x], [y], name=name, perm=list(perm))


def _node(op, x, y, name=None):
    from onnx import helper

    return helper.make_node(op, list(x) if isinstance(x, list) else [x], [y], name=name or y)


def test_peephole_cancels_pairs_directly_and_through_elementwise_ops():
    from passes.onnx.peephole import cancel_transpose_pairs

    to_last, to_first = (0, 2, 3, 1), (0, 3, 1, 2)
    nodes = [
        _node("Conv", ["x", "w"], "c1"),
        _transpose("t1", "c1", "t1o", to_last),
        _node("Relu", "t1o", "r1"),
        _node("Tanh", "r1", "r2"),
        _transpose("t2", "r2", "t2o", to_first),
        _node("Conv", ["t2o", "w"], "c2"),
        _transpose("t3", "c2", "t3o", to_last),  # directly followed by its inverse
        _transpose("t4", "t3o", "t4o", to_first),
        _node("MaxPool", "t4o", "p"),
        _transpose("t5", "p", "t5o", to_last),  # t5, t6: not inverse
        _transpose("t6", "t5o", "t6o", to_last),
        _transpose("t7", "t6o", "t7o", to_first),  # t6, t7: inverse, cancelled
        _transpose("t8", "t7o", "t8o", to_last),  # t5, t8 then: t5o has two readers
        _node("Relu", "t7o", "side"),
    ]
    out, removed = cancel_transpose_pairs(nodes, ["t8o", "side"])
    assert removed == 6
    names = [n.name for n in out]
    assert not {"t1", "t2", "t3", "t4", "t6", "t7"} & set(names)
    assert {"t5", "t8"} <= set(names)
    assert out[-2].name == "t8" and out[-2].input[0] == "t5o" and out[-1].input[0] == "t5o"
    relu, tanh, conv2, pool = out[1:5]
    assert relu.op_type == "Relu" and relu.input[0] == "c1"
    assert tanh.input[0] == relu.output[0] and relu.output[0] != "r1"  # renamed: new layout
    assert conv2.input[0] == tanh.output[0] and tanh.output[0] != "r2"
    assert pool.input[0] == "c2"


def test_peephole_keeps_graph_outputs_and_other_readers():
    from passes.onnx.peephole import cancel_transpose_pairs

    p, q = (0, 2, 1), (0, 2, 1)
    # a pair straight into a graph output cannot be removed (the output keeps its name) ...
    nodes = [_transpose("a", "x", "ao", p), _transpose("b", "ao", "y", q)]
    assert cancel_transpose_pairs(nodes, ["y"])[1] == 0
    # ... but with an elementwise op between, that op takes over the output's name
    nodes = [_transpose("a", "x", "ao", p), _node("Relu", "ao", "r"), _transpose("b", "r", "y", q)]
    out, removed = cancel_transpose_pairs(nodes, ["y"])
    assert (
        removed == 2
        and len(out) == 1
        and list(out[0].input) == ["x"]
        and list(out[0].output) == ["y"]
    )
    # an intermediate read elsewhere, or a graph output, blocks the pair
    nodes = [
        _transpose("a", "x", "ao", p),
        _node("Relu", "ao", "r"),
        _transpose("b", "r", "bo", q),
        _node("Exp", "r", "e"),
    ]
    assert cancel_transpose_pairs(nodes, ["bo", "e"])[1] == 0
    nodes = [
        _transpose("a", "x", "ao", p),
        _node("Relu", "ao", "r"),
        _transpose("b", "r", "bo", q),
        _node("Exp", "bo", "e"),
    ]
    assert cancel_transpose_pairs(nodes, ["r", "e"])[1] == 0
    # a binary op between is not layout-free
    nodes = [
        _transpose("a", "x", "ao", p),
        _node("Add", ["ao", "z"], "s"),
        _transpose("b", "s", "bo", q),
        _node("Exp", "bo", "e"),
    ]
    assert cancel_transpose_pairs(nodes, ["e"])[1] == 0


def test_peephole_cascades():
    """Removing an inner pair exposes an outer one."""
    from passes.onnx.peephole import cancel_transpose_pairs

    a, b = (1, 2, 0), (2, 0, 1)  # inverses of each other
    nodes = [
        _transpose("t1", "x", "o1", a),
        _transpose("t2", "o1", "o2", a),
        _transpose("t3", "o2", "o3", b),
        _transpose("t4", "o3", "o4", b),
        _node("Exp", "o4", "y"),
    ]
    out, removed = cancel_transpose_pairs(nodes, ["y"])
    assert removed == 4 and [n.op_type for n in out] == ["Exp"] and out[0].input[0] == "x"


def _three_conv_cnn():
    graphc.utils.set_random_seed(21)
    inp = Input(shape=(12, 12, 3), name="image")
    x = layers.Conv2D(8, 3, activation="relu")(inp)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return Model(inp, layers.Dense(5, activation="softmax", name="probs")(x))


def test_peephole_on_an_exported_three_conv_cnn():
    import onnx

    from passes.onnx.peephole import cancel_transpose_pairs

    model = _three_conv_cnn()
    randomize_weights(model, seed=2)
    proto = graphc.onnx.export(model, optimize=False)
    before = [n.op_type for n in proto.graph.node]
    slim = onnx.ModelProto()
    slim.CopyFrom(proto)  # the peephole edits the NodeProtos of a cancelled chain in place
    nodes, removed = cancel_transpose_pairs(slim.graph.node, [o.name for o in slim.graph.output])
    # conv->relu->conv, conv->relu->maxpool and maxpool->conv: three pairs
    assert removed == 6
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes]
    del slim.graph.node[:]
    slim.graph.node.extend(nodes)
    onnx.checker.check_model(slim, full_check=True)
    onnx.shape_inference.infer_shapes(slim, check_type=True, strict_mode=True)
    after = [n.op_type for n in slim.graph.node]
    assert len(after) == len(before) - 6
    # left: the input's transpose, one per weight, and one back before the global pool
    assert after.count("Transpose") == before.count("Transpose") - 6 == 1 + 3 + 1
    x = np.random.default_rng(0).standard_normal((3, 12, 12, 3)).astype("float32")
    for proto_ in (proto, slim):
        assert_onnx_matches(model, [x], proto=proto_)
    # the exporter's own output (with the export passes) has no more transposes than this
    optimized = graphc.onnx.export(model)
    assert [n.op_type for n in optimized.graph.node].count("Transpose") <= before.count("Transpose")


def test_fold_initializer_transposes_stores_kernels_in_onnx_layout():
    import onnx

    from passes.onnx.peephole import cancel_transpose_pairs, fold_initializer_transposes

    model = _three_conv_cnn()
    proto = graphc.onnx.export(model, optimize=False)
    slim = onnx.ModelProto()
    slim.CopyFrom(proto)
    outputs = [o.name for o in slim.graph.output]
    nodes, _ = cancel_transpose_pairs(slim.graph.node, outputs)
    inits = list(slim.graph.initializer)
    nodes, folded = fold_initializer_transposes(nodes, inits, outputs)
    assert folded == 3
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes]
    del slim.graph.node[:]
    slim.graph.node.extend(nodes)
    del slim.graph.initializer[:]
    slim.graph.initializer.extend(inits)
    onnx.checker.check_model(slim, full_check=True)
    assert [n.op_type for n in slim.graph.node].count("Transpose") == 2
    kernel = next(t for t in slim.graph.initializer if tuple(t.dims) == (8, 3, 3, 3))
    assert kernel.name == next(
        t.name for t in proto.graph.initializer if tuple(t.dims) == (3, 3, 3, 8)
    )
    x = np.random.default_rng(0).standard_normal((2, 12, 12, 3)).astype("float32")
    assert_onnx_matches(model, [x], proto=slim)


# ---- grouped, depthwise and separable convolutions -----------------------------------
GROUPED_CASES = [
    # (cls, kwargs, input shape, output shape, params)
    (
        layers.Conv2D,
        {"filters": 6, "kernel_size": 3, "groups": 2},
        (None, 5, 5, 4),
        (None, 3, 3, 6),
        3 * 3 * 2 * 6 + 6,
    ),
    (
        layers.Conv2D,
        {
            "filters": 4,
            "kernel_size": 2,
            "groups": 4,
            "strides": 2,
            "padding": "same",
            "data_format": "channels_first",
        },
        (None, 4, 5, 5),
        (None, 4, 3, 3),
        2 * 2 * 1 * 4 + 4,
    ),
    (
        layers.Conv1D,
        {"filters": 6, "kernel_size": 3, "groups": 3, "padding": "causal", "use_bias": False},
        (None, 7, 3),
        (None, 7, 6),
        3 * 1 * 6,
    ),
    (layers.DepthwiseConv2D, {"kernel_size": 3}, (None, 5, 5, 3), (None, 3, 3, 3), 3 * 3 * 3 + 3),
    (
        layers.DepthwiseConv2D,
        {
            "kernel_size": (3, 2),
            "depth_multiplier": 2,
            "strides": 2,
            "padding": "same",
            "activation": "relu",
        },
        (None, 6, 5, 3),
        (None, 3, 3, 6),
        3 * 2 * 3 * 2 + 6,
    ),
    (
        layers.DepthwiseConv2D,
        {"kernel_size": 3, "dilation_rate": 2, "use_bias": False, "data_format": "channels_first"},
        (None, 2, 7, 6),
        (None, 2, 3, 2),
        9 * 2,
    ),
    (
        layers.DepthwiseConv1D,
        {"kernel_size": 3, "depth_multiplier": 3, "padding": "same"},
        (None, 7, 2),
        (None, 7, 6),
        3 * 2 * 3 + 6,
    ),
    (
        layers.SeparableConv2D,
        {"filters": 5, "kernel_size": 3, "padding": "same"},
        (None, 5, 6, 3),
        (None, 5, 6, 5),
        3 * 3 * 3 + 3 * 5 + 5,
    ),
    (
        layers.SeparableConv2D,
        {
            "filters": 4,
            "kernel_size": 2,
            "depth_multiplier": 2,
            "strides": (2, 1),
            "use_bias": False,
            "activation": "tanh",
        },
        (None, 5, 5, 3),
        (None, 2, 4, 4),
        2 * 2 * 3 * 2 + 6 * 4,
    ),
    (
        layers.SeparableConv2D,
        {"filters": 4, "kernel_size": 3, "data_format": "channels_first"},
        (None, 2, 6, 5),
        (None, 4, 4, 3),
        9 * 2 + 2 * 4 + 4,
    ),
    (
        layers.SeparableConv1D,
        {"filters": 4, "kernel_size": 3, "dilation_rate": 2},
        (None, 9, 3),
        (None, 5, 4),
        3 * 3 + 3 * 4 + 4,
    ),
]


def _dense_kernel(w, groups):
    """A grouped kernel ``(*k, C_in // groups, C_out)`` as the block-diagonal ungrouped
    kernel ``(*k, C_in, C_out)`` that computes the same convolution."""
    cg, c_out = w.shape[-2], w.shape[-1]
    og = c_out // groups
    dense = np.zeros((*w.shape[:-2], cg * groups, c_out))
    for g in range(groups):
        dense[..., g * cg : (g + 1) * cg, g * og : (g + 1) * og] = w[..., g * og : (g + 1) * og]
    return dense


def _depthwise_dense(w):
    """Keras's depthwise kernel ``(*k, C, dm)``: output channel ``c * dm + j``."""
    k, c, dm = w.shape[:-2], w.shape[-2], w.shape[-1]
    return _dense_kernel(w.reshape(*k, 1, c * dm), c)


@pytest.mark.parametrize(
    "cls,kwargs,shape,expected,params",
    GROUPED_CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(GROUPED_CASES)],
)
def test_grouped_layers_harness_and_numbers(cls, kwargs, shape, expected, params):
    checked = check_layer(cls, kwargs, shape, expected, params)
    layer, x = checked.layer, checked.x.astype(np.float64)
    for p in layer.weights:  # a non-zero bias, so that a dropped or misplaced one shows
        p.assign(np.random.default_rng(4).uniform(-1, 1, p.shape).astype(p.dtype))
    y = np.asarray(layer(checked.x))
    first = layer.data_format == "channels_first"
    xl = np.moveaxis(x, 1, -1) if first else x
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    b = weights[-1] if layer.use_bias else None
    geometry = (layer.strides, layer.padding, layer.dilation_rate)
    if isinstance(layer, layers.SeparableConv2D | layers.SeparableConv1D):
        mid = _reference(xl, _depthwise_dense(weights[0]), None, *geometry)
        ref = _reference(mid, weights[1], b, (1,) * layer.rank, "valid", (1,) * layer.rank)
    elif isinstance(layer, layers.DepthwiseConv2D | layers.DepthwiseConv1D):
        ref = _reference(xl, _depthwise_dense(weights[0]), b, *geometry)
    else:
        ref = _reference(xl, _dense_kernel(weights[0], layer.groups), b, *geometry)
    ref = layer.activation(ref) if layer.activation is not graphc.activations.linear else ref
    ref = np.moveaxis(ref, -1, 1) if first else ref
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_grouped_weights_are_keras_layout_names_and_config():
    inp = Input(shape=(9, 9, 4))
    conv = layers.Conv2D(6, 3, groups=2, name="g")
    dw = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")
    sep = layers.SeparableConv2D(5, (3, 2), depth_multiplier=3, name="sep")
    for layer in (conv, dw, sep):
        layer(inp)
    assert [w.shape for w in conv.get_weights()] == [(3, 3, 2, 6), (6,)]
    assert [p.path for p in dw.weights] == ["dw/kernel", "dw/bias"]
    assert [w.shape for w in dw.get_weights()] == [(3, 3, 4, 2), (8,)]
    assert [p.path for p in sep.weights] == [
        "sep/depthwise_kernel",
        "sep/pointwise_kernel",
        "sep/bias",
    ]
    assert [w.shape for w in sep.get_weights()] == [(3, 2, 4, 3), (1, 1, 12, 5), (5,)]
    assert layers.DepthwiseConv2D(3).name.startswith("depthwise_conv2d")
    assert layers.SeparableConv1D(2, 3).name.startswith("separable_conv1d")
    assert layers.SeparableConvolution2D is layers.SeparableConv2D
    assert layers.SeparableConvolution1D is layers.SeparableConv1D
    config = sep.get_config()
    for key, value in {
        "filters": 5,
        "kernel_size": [3, 2],
        "depth_multiplier": 3,
        "strides": [1, 1],
        "padding": "valid",
        "dilation_rate": [1, 1],
        "use_bias": True,
        "activation": "linear",
    }.items():
        assert config[key] == value, key
    assert config["pointwise_initializer"]["class_name"] == "GlorotUniform"
    assert json.loads(json.dumps(config)) == config
    assert dw.get_config()["depth_multiplier"] == 2 and "filters" not in dw.get_config()


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), ValueError, "depth_multiplier=0"),
        (
            lambda: layers.SeparableConv2D(4, 3, depth_multiplier=-1),
            ValueError,
            "depth_multiplier=-1",
        ),
        (lambda: layers.SeparableConv2D(0, 3), ValueError, "filters=0"),
        (lambda: layers.SeparableConv1D(4, 3, padding="causal"), ValueError, "causal"),
        (lambda: layers.DepthwiseConv1D(3, padding="causal"), ValueError, "causal"),
        (lambda: layers.DepthwiseConv2D((3, 3, 3)), ValueError, "kernel_size"),
        (lambda: layers.SeparableConv2D(4, 3, strides=0), ValueError, "strides"),
        (lambda: layers.Conv2D(4, 3, groups=3), ValueError, "groups=3, filters=4"),
        (lambda: layers.Conv2D(4, 3, groups=True), ValueError, "groups=True"),
        (
            lambda: layers.DepthwiseConv2D(3, depthwise_regularizer="l3"),
            ValueError,
            "regularizer identifier: 'l3'",
        ),
        (
            lambda: layers.SeparableConv2D(4, 3, pointwise_constraint="nonneg"),
            ValueError,
            "constraint identifier: 'nonneg'",
        ),
    ],
)
def test_grouped_layers_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_groups_must_divide_the_input_channels():
    with pytest.raises(ValueError, match=r"groups=2, but the input has 3 channels"):
        layers.Conv2D(4, 3, groups=2)(Input(shape=(5, 5, 3)))
    dw = layers.DepthwiseConv2D(3)
    dw(Input(shape=(5, 5, 3)))
    with pytest.raises(ShapeError, match="expected axis -1 of input shape to have value 3"):
        dw(Input(shape=(5, 5, 4)))
    # the op's own shape rule: what was received, what was expected
    x = Input(shape=(5, 5, 6))
    with pytest.raises(ShapeError, match=r"6 channels .* expects 4 \(2 per group x groups=2"):
        graphc.ops.conv(x, np.zeros((3, 3, 2, 4), "float32"), groups=2)
    with pytest.raises(ShapeError, match="groups=4 does not divide"):
        graphc.ops.conv(x, np.zeros((3, 3, 2, 6), "float32"), groups=4)


def test_ops_conv_infers_groups_as_keras():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 6, 4)).astype("float32")
    w = rng.standard_normal((3, 3, 2, 6)).astype("float32")  # 4 channels / 2 -> groups 2
    y = graphc.ops.conv(x, w, padding="same")
    np.testing.assert_allclose(
        y,
        graphc.ops.conv(x, _dense_kernel(w, 2).astype("float32"), padding="same"),
        rtol=1e-5,
        atol=1e-5,
    )
    dw = rng.standard_normal((3, 3, 4, 2)).astype("float32")
    np.testing.assert_allclose(
        graphc.ops.depthwise_conv(x, dw),
        graphc.ops.conv(x, _depthwise_dense(dw).astype("float32")),
        rtol=1e-5,
        atol=1e-5,
    )


def _grouped_model(fmt="channels_last"):
    graphc.utils.set_random_seed(8)
    first = fmt == "channels_first"
    inp = Input(shape=(4, 9, 8) if first else (9, 8, 4), name="image")
    x = layers.Conv2D(8, 3, groups=2, padding="same", activation="relu", data_format=fmt)(inp)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same", data_format=fmt)(x)
    x = layers.SeparableConv2D(6, 3, padding="same", activation="relu", data_format=fmt)(x)
    x = layers.SeparableConv2D(4, 2, depth_multiplier=2, use_bias=False, data_format=fmt)(x)
    x = layers.GlobalAveragePooling2D(data_format=fmt)(x)
    return Model(inp, layers.Dense(3)(x))


def _grouped_text_model():
    graphc.utils.set_random_seed(9)
    inp = Input(shape=(None, 4), name="tokens")  # unknown length: "same" as SAME_UPPER
    x = layers.Conv1D(6, 3, groups=2, padding="causal")(inp)
    x = layers.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2)(x)
    x = layers.SeparableConv1D(4, 3, padding="same", activation="tanh")(x)
    return Model(inp, layers.GlobalMaxPooling1D()(x))


@pytest.mark.parametrize(
    "builder,shape",
    [
        (_grouped_model, (9, 8, 4)),
        (lambda: _grouped_model("channels_first"), (4, 9, 8)),
        (_grouped_text_model, (11, 4)),
    ],
)
def test_grouped_models_onnx_parity(builder, shape):
    import onnx

    model = builder()
    randomize_weights(model)
    proto = graphc.onnx.export(model)
    assert {n.op_type for n in proto.graph.node} >= {"Conv"}
    groups = [
        a.i
        for n in proto.graph.node
        if n.op_type == "Conv"
        for a in n.attribute
        if a.name == "group"
    ]
    assert max(groups) > 1
    onnx.checker.check_model(proto, full_check=True)
    assert_onnx_matches(
        model,
        [
            np.random.default_rng(batch).standard_normal((batch, *shape)).astype("float32")
            for batch in (1, 4)
        ],
        proto=proto,
    )


def test_grouped_model_gradients_in_float64():
    """Whole-model gradients (kernel reshapes included) against central differences."""
    graphc.utils.set_random_seed(10)
    inp = Input(shape=(5, 5, 4))
    x = layers.Conv2D(4, 3, groups=2, padding="same", activation="tanh")(inp)
    x = layers.DepthwiseConv2D(2, depth_multiplier=2, activation="tanh")(x)
    x = layers.SeparableConv2D(3, 2, strides=2, padding="same")(x)
    model = Model(inp, layers.GlobalAveragePooling2D()(x))
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 5, 5, 4))]
    base = {p: rng.uniform(-0.5, 0.5, p.shape) for p in model.trainable_weights}
    check_gradients(model, xs, [rng.standard_normal((2, 3))], leaf_values=base)
