"""``graphc.utils.plot_model``: DOT text from the model's layers, drawing through Graphviz's
``dot`` program when it is on the PATH, and the pure-Python path (grandalf and matplotlib)
when it is not (``dot`` hidden from the PATH in these tests)."""

from __future__ import annotations

import os
import stat

import pytest

import graphc
from graphc import layers


def ticket_model():
    title = graphc.Input(shape=(12,), name="title")
    tags = graphc.Input(shape=(3,), name="tags")
    features = layers.Concatenate()([title, tags])
    features = layers.Dense(8, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(4, activation="softmax", name="department")(features)
    return graphc.Model([title, tags], [priority, department])


def test_dot_file_has_a_box_per_layer_and_an_edge_per_tensor(tmp_path):
    model = ticket_model()
    path = tmp_path / "ticket.dot"
    graphc.utils.plot_model(model, str(path), show_shapes=True, show_dtype=True)
    dot = path.read_text()
    assert dot.startswith('digraph "') and dot.rstrip().endswith("}")
    for name in (
        "title (InputLayer)",
        "tags (InputLayer)",
        "priority (Dense)",
        "department (Dense)",
    ):
        assert name in dot
    assert dot.count("->") == 2 + 1 + 2  # into concatenate, into dense, into both heads
    assert "input: [(None, 12), (None, 3)] float32 | output: (None, 15) float32" in dot


def test_without_shapes_or_names():
    dot = graphc.utils.model_to_dot(ticket_model(), show_layer_names=False)
    assert "(None" not in dot and "priority" not in dot and '"Dense"' in dot
    with pytest.raises(ValueError, match="rankdir"):
        graphc.utils.model_to_dot(ticket_model(), rankdir="BT")


def test_an_image_is_drawn_by_dot(tmp_path, monkeypatch):
    """A stand-in `dot` records its arguments and input, as Graphviz would read them."""
    fake = tmp_path / "dot"
    fake.write_text(
        '#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\ncat > '
        '"$(dirname "$0")/stdin"\nprintf PNGDATA\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    graphc.utils.plot_model(ticket_model(), str(tmp_path / "m.png"), rankdir="LR")
    assert (tmp_path / "m.png").read_bytes() == b"PNGDATA"
    assert (tmp_path / "args").read_text().strip() == "-Tpng"
    assert "rankdir=LR" in (tmp_path / "stdin").read_text()


# ---- the pure-Python path ----------------------------------------------------------------
needs_plots = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("matplotlib", "grandalf")),
    reason="the `plots` extra (matplotlib, grandalf) is not installed",
)


@pytest.fixture
def no_graphviz(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no `dot` anywhere
    return empty


def nested_model():
    """A shared layer called twice, a nested model called twice, one nested in a nested
    model, and a nested model with two outputs."""
    block = graphc.Sequential(
        [graphc.Input(shape=(8,)), layers.Dense(8, name="blk_a"), layers.Dense(8, name="blk_b")],
        name="block",
    )
    inner_in = graphc.Input(shape=(8,), name="inner_in")
    h = block(layers.Dense(8, name="pre")(inner_in))
    heads = graphc.Model(
        inner_in,
        [layers.Dense(2, name="side")(inner_in), layers.Dense(4, name="deep")(h)],
        name="two_heads",
    )
    a = graphc.Input(shape=(8,), name="left")
    b = graphc.Input(shape=(8,), name="right")
    shared = layers.Dense(8, activation="tanh", name="shared")
    side_a, deep_a = heads(shared(a))
    side_b, deep_b = heads(shared(b))
    joined = layers.Concatenate(name="join")([side_a, deep_a, side_b, deep_b])
    return graphc.Model([a, b], layers.Dense(1, name="score")(joined), name="siamese")


def png_text(path):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.size, dict(image.text)


@needs_plots
def test_svg_without_graphviz_has_every_layer_as_text(tmp_path, no_graphviz):
    import xml.etree.ElementTree as ET

    path = tmp_path / "ticket.svg"
    assert graphc.utils.plot_model(
        ticket_model(), str(path), show_shapes=True, show_dtype=True
    ) == str(path)
    root = ET.parse(path).getroot()  # well-formed XML
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter() if t.tag.endswith("text")]
    for name in (
        "title (InputLayer)",
        "tags (InputLayer)",
        "priority (Dense)",
        "department (Dense)",
    ):
        assert name in texts
    assert any(t.startswith("concatenate") and t.endswith("(Concatenate)") for t in texts)
    assert "Input: [(None, 12), (None, 3)] float32" in texts
    assert "Output: (None, 15) float32" in texts


@needs_plots
def test_png_without_graphviz(tmp_path, no_graphviz):
    path = tmp_path / "ticket.png"
    graphc.utils.plot_model(ticket_model(), str(path), dpi=72)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (width, height), text = png_text(path)
    assert "priority (Dense)" in text["Description"]
    graphc.utils.plot_model(ticket_model(), str(path), dpi=72, rankdir="LR")
    (width_lr, height_lr), _ = png_text(path)
    # Four ranks of boxes: down the picture top to bottom, across it left to right.
    assert width_lr > 1.5 * width and height_lr < height
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def _boxes(model, **options):
    """Each box's rectangle and each edge's polyline, as the pure-Python path lays them
    out."""
    from graphc.utils import _draw_graph, plot

    options = {
        "show_shapes": True,
        "show_dtype": False,
        "show_layer_names": True,
        "expand_nested": False,
        "show_layer_activations": False,
        "show_trainable": False,
        **options,
    }
    rankdir = options.pop("rankdir", "TB")
    diagram = plot._describe(model, **options)
    levels, rects, routes = _draw_graph._plan(diagram, _draw_graph._Measure(), rankdir)
    return diagram, rects, routes


def _overlap(a, b):
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


@needs_plots
@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_nested_clusters_hold_their_layers_and_nothing_else(rankdir):
    diagram, rects, routes = _boxes(nested_model(), expand_nested=True, rankdir=rankdir)
    titles = {box.title: key for key, box in diagram.boxes.items()}
    # Shared layers and the twice-called nested model: one box per layer.
    assert sorted(titles) == sorted(
        [
            "left (InputLayer)",
            "right (InputLayer)",
            "shared (Dense)",
            "side (Dense)",
            "pre (Dense)",
            "blk_a (Dense)",
            "blk_b (Dense)",
            "deep (Dense)",
            "join (Concatenate)",
            "score (Dense)",
        ]
    )
    clusters = {c.label: key for key, c in diagram.clusters.items() if key}
    assert set(clusters) == {"two_heads (Functional)", "block (Sequential)"}
    box_rects = {title: rects[("box", key)] for title, key in titles.items()}
    cluster_rects = {label: rects[("cluster", key)] for label, key in clusters.items()}
    inside = {
        "two_heads (Functional)": {
            "side (Dense)",
            "pre (Dense)",
            "blk_a (Dense)",
            "blk_b (Dense)",
            "deep (Dense)",
        },
        "block (Sequential)": {"blk_a (Dense)", "blk_b (Dense)"},
    }
    for label, rect in cluster_rects.items():
        for title, box in box_rects.items():
            contained = (
                rect[0] <= box[0] and box[2] <= rect[2] and rect[1] <= box[1] and box[3] <= rect[3]
            )
            if title in inside[label]:
                assert contained, (label, title)
            else:
                assert not _overlap(rect, box), (label, title)
    titles_list = list(box_rects)
    for i, a in enumerate(titles_list):
        for b in titles_list[i + 1 :]:
            assert not _overlap(box_rects[a], box_rects[b]), (a, b)
    # Every call's edge: both inputs into `shared`, `shared` into both of the nested
    # model's first layers, and its two outputs into `join`.
    edges = {(diagram.boxes[s].title, diagram.boxes[d].title) for s, d in diagram.edges}
    assert {
        ("left (InputLayer)", "shared (Dense)"),
        ("right (InputLayer)", "shared (Dense)"),
        ("shared (Dense)", "side (Dense)"),
        ("shared (Dense)", "pre (Dense)"),
        ("side (Dense)", "join (Concatenate)"),
        ("deep (Dense)", "join (Concatenate)"),
    } <= edges
    # Arrows point from producer to consumer: each polyline starts on its source box's
    # border, ends on its target's coming from outside it, and runs down the ranks.
    axis = 1 if rankdir == "TB" else 0
    for (src, dst), (kind, points) in zip(diagram.edges, routes, strict=True):
        assert kind == "path"
        a, b = rects[("box", src)], rects[("box", dst)]
        assert _on_border(points[0], a) and _on_border(points[-1], b)
        assert not _inside(points[-2], b) and not _inside(points[1], a)
        assert points[-1][axis] > points[0][axis]


def _inside(p, rect):
    return rect[0] + 0.5 < p[0] < rect[2] - 0.5 and rect[1] + 0.5 < p[1] < rect[3] - 0.5


def _on_border(p, rect, tol=1.0):
    within = rect[0] - tol <= p[0] <= rect[2] + tol and rect[1] - tol <= p[1] <= rect[3] + tol
    return (
        within
        and min(abs(p[0] - rect[0]), abs(p[0] - rect[2]), abs(p[1] - rect[1]), abs(p[1] - rect[3]))
        <= tol
    )


@needs_plots
def test_a_layer_called_twice_in_a_row_gets_a_loop(tmp_path, no_graphviz):
    x = graphc.Input(shape=(4,), name="x")
    twice = layers.Dense(4, name="twice")
    model = graphc.Model(x, twice(twice(x)))
    diagram, _, routes = _boxes(model)
    assert len(diagram.boxes) == 2
    assert [kind for kind, _ in routes].count("loop") == 1
    assert "twice -> " not in graphc.utils.model_to_dot(model)  # DOT has ids, not names
    graphc.utils.plot_model(model, str(tmp_path / "loop.svg"))
    assert "twice (Dense)" in (tmp_path / "loop.svg").read_text()


def test_dot_clusters_for_nested_models():
    dot = graphc.utils.model_to_dot(
        nested_model(), expand_nested=True, show_layer_activations=True, show_trainable=True
    )
    assert dot.count("subgraph cluster_") == 2
    assert 'label="two_heads (Functional)"' in dot and 'label="block (Sequential)"' in dot
    assert "shared (Dense) | activation: tanh | trainable: Y" in dot
    flat = graphc.utils.model_to_dot(nested_model())
    assert "subgraph" not in flat and "two_heads (Functional)" in flat
    assert flat.count("two_heads (Functional)") == 1  # called twice, drawn once


def test_plot_model_needs_the_plots_extra_without_graphviz(tmp_path, no_graphviz, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "grandalf", None)
    with pytest.raises(ImportError, match=r"pip install 'graphc\[plots\]'.*\.dot"):
        graphc.utils.plot_model(ticket_model(), str(tmp_path / "m.png"))
    assert not (tmp_path / "m.png").exists()
    with pytest.raises(ImportError, match="Graphviz's `dot`"):
        graphc.utils.plot_model(ticket_model(), str(tmp_path / "m.png"), engine="graphviz")


def test_import_graphc_does_not_import_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys, graphc, graphc.utils, graphc.callbacks, graphc.cli; "
        "print(sorted(m for m in ('matplotlib', 'grandalf', 'netron') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert out.stdout.strip() == "[]"
