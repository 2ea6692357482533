"""``graphc.utils.plot_model``: DOT text from the model's layer calls, and drawing through
Graphviz's ``dot`` program when it is on the PATH."""

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
    for name in ("title (InputLayer)", "tags (InputLayer)", "priority (Dense)",
                 "department (Dense)"):
        assert name in dot
    assert dot.count("->") == 2 + 1 + 2  # into concatenate, into dense, into both heads
    assert "input: [(None, 12), (None, 3)] float32 | output: (None, 15) float32" in dot


def test_without_shapes_or_names():
    dot = graphc.utils.model_to_dot(ticket_model(), show_layer_names=False)
    assert "(None" not in dot and "priority" not in dot and '"Dense"' in dot
    with pytest.raises(ValueError, match="rankdir"):
        graphc.utils.model_to_dot(ticket_model(), rankdir="BT")


def test_an_image_needs_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere
    with pytest.raises(ImportError, match=r"Graphviz's `dot` program.*\.dot"):
        graphc.utils.plot_model(ticket_model(), str(tmp_path / "m.png"))
    assert not (tmp_path / "m.png").exists()


def test_an_image_is_drawn_by_dot(tmp_path, monkeypatch):
    """A stand-in `dot` records its arguments and input, as Graphviz would read them."""
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\ncat > '
                    '"$(dirname "$0")/stdin"\nprintf PNGDATA\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    graphc.utils.plot_model(ticket_model(), str(tmp_path / "m.png"), rankdir="LR")
    assert (tmp_path / "m.png").read_bytes() == b"PNGDATA"
    assert (tmp_path / "args").read_text().strip() == "-Tpng"
    assert "rankdir=LR" in (tmp_path / "stdin").read_text()
