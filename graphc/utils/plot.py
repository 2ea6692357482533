"""``plot_model``: a picture of the model's layer graph, with Keras's arguments.

Three ways out, chosen by the file name and what is installed:

- ``.dot``/``.gv``: the graph in Graphviz's DOT language (no dependency);
- an image (``.png``, ``.svg``, ``.pdf``, ...) through Graphviz's ``dot`` program when it is on
  the PATH, as Keras draws it;
- otherwise the same image drawn in pure Python: layered layout by ``grandalf`` and drawing by
  ``matplotlib`` (the ``plots`` extra: ``pip install 'graphc[plots]'``), so a machine without
  Graphviz still gets a picture.

>>> graphc.utils.plot_model(model, "model.png", show_shapes=True)
>>> graphc.utils.plot_model(model, "model.svg", expand_nested=True, rankdir="LR")

One box per layer: a layer called several times (a shared layer) is drawn once, with the
edges of every call. With ``expand_nested=True`` a model used as a layer is drawn as a
cluster (a box around its layers) instead of one box.
"""

from __future__ import annotations

import os

from graphc.files import atomic_write
from graphc.ir import format_shape

__all__ = ["plot_model", "model_to_dot"]

_ENGINES = ("auto", "graphviz", "matplotlib")


# ---- the diagram: boxes, clusters and edges, independent of how it is drawn --------------
class _Box:
    """One layer (all its calls): a title and label rows."""

    __slots__ = ("key", "layer", "title", "rows", "calls", "cluster", "is_input", "trainable")

    def __init__(self, key, layer, cluster):
        self.key, self.layer, self.cluster = key, layer, cluster
        self.title, self.rows, self.calls = "", [], []
        self.is_input = False
        self.trainable = True


class _Cluster:
    """A nested model drawn around its layers (``expand_nested=True``)."""

    __slots__ = ("key", "layer", "label", "boxes", "clusters")

    def __init__(self, key, layer, label):
        self.key, self.layer, self.label = key, layer, label
        self.boxes: list = []
        self.clusters: list = []


class _Diagram:
    def __init__(self, name):
        self.name = name
        self.boxes: dict = {}  # box key -> _Box, in graph order
        self.root = _Cluster((), None, name)
        self.clusters: dict = {(): self.root}
        self.edges: list = []  # (box key, box key), each pair once, in graph order


class _Call:
    __slots__ = ("key", "inputs", "outputs")

    def __init__(self, key):
        self.key = key
        self.inputs: list = []
        self.outputs: list = []


def _class_name(layer) -> str:
    from graphc.models import Model

    if layer is None:
        return "Op"
    if type(layer) is Model:
        return "Functional"
    return getattr(layer, "summary_class", None) or type(layer).__name__


def _shapes(values) -> str:
    shapes = [format_shape(v.shape) for v in values]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _dtypes(values) -> str:
    return ", ".join(sorted({str(v.dtype) for v in values}))


def _activation_name(layer):
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    from graphc import activations

    try:
        return activations.serialize(fn)
    except ValueError:  # a custom activation: its function's name
        return getattr(fn, "__name__", type(fn).__name__)


def _describe(
    model,
    *,
    show_shapes,
    show_dtype,
    show_layer_names,
    expand_nested,
    show_layer_activations,
    show_trainable,
) -> _Diagram:
    """Group the graph's nodes into layer calls (inside nested models too when
    ``expand_nested``), then the calls into one box per layer."""
    from graphc.layers.base import is_mask_value
    from graphc.models import Model

    graph = model.graph

    def call_key(scope):
        # A node's scope is the stack of (layer, call index) that recorded it, outermost
        # first. Expanding descends through nested models to the layer inside them.
        scope = tuple(scope) or ((None, 0),)
        depth = 0
        if expand_nested:
            while depth + 1 < len(scope) and isinstance(scope[depth][0], Model):
                depth += 1
        return scope[: depth + 1]

    calls: dict = {}
    producer: dict = {}
    for v in graph.inputs:
        key = ((v.layer, 0),)
        call = calls.setdefault(key, _Call(key))
        call.outputs.append(v)
        producer[v] = call
    for node in graph.nodes:
        key = call_key(node.scope)
        call = calls.get(key)
        if call is None:
            call = calls[key] = _Call(key)
        for v in node.inputs:
            if is_mask_value(v):
                continue  # a mask travels with its tensor: no edge of its own, as in Keras
            src = producer.get(v)
            if src is not None and src is not call and v not in call.inputs:
                call.inputs.append(v)
        for v in node.outputs:
            producer[v] = call
    for call in calls.values():
        # Top-level calls list their inputs in the order the layer was called with (the
        # order Keras shows); a call inside a nested model keeps the order its ops read.
        if len(call.key) == 1:
            layer, index = call.key[0]
            if layer is not None and index < len(getattr(layer, "_calls", ())):
                args = layer._call_tensors(index)
                rank = {id(v): i for i, v in reversed(list(enumerate(args)))}
                call.inputs.sort(key=lambda v: rank.get(id(v), len(args)))
        for v in call.inputs:
            src = producer[v]
            if v not in src.outputs:
                src.outputs.append(v)
    for v in graph.outputs:
        src = producer.get(v)
        if src is not None and v not in src.outputs:
            src.outputs.append(v)

    diagram = _Diagram(model.name)

    def cluster_for(path_layers):
        key = tuple(id(layer) for layer in path_layers)
        cluster = diagram.clusters.get(key)
        if cluster is None:
            parent = cluster_for(path_layers[:-1])
            layer = path_layers[-1]
            label = (
                f"{layer.name} ({_class_name(layer)})" if show_layer_names else _class_name(layer)
            )
            cluster = diagram.clusters[key] = _Cluster(key, layer, label)
            parent.clusters.append(cluster)
        return cluster

    box_of_call = {}
    for call in calls.values():
        layers = [layer for layer, _ in call.key]
        key = tuple(id(layer) for layer in layers)
        box = diagram.boxes.get(key)
        if box is None:
            cluster = cluster_for(layers[:-1])
            box = diagram.boxes[key] = _Box(key, layers[-1], cluster.key)
            cluster.boxes.append(box)
        box.calls.append(call)
        box_of_call[id(call)] = box
    input_layers = {id(v.layer) for v in graph.inputs}
    for box in diagram.boxes.values():
        _label_box(
            box,
            box.layer,
            show_shapes=show_shapes,
            show_dtype=show_dtype,
            show_layer_names=show_layer_names,
            show_layer_activations=show_layer_activations,
            show_trainable=show_trainable,
        )
        box.is_input = id(box.layer) in input_layers
    seen = set()
    for call in calls.values():
        for v in call.inputs:
            edge = (box_of_call[id(producer[v])].key, box_of_call[id(call)].key)
            if edge not in seen:
                seen.add(edge)
                diagram.edges.append(edge)
    return diagram


def _label_box(
    box, layer, *, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable
):
    name = getattr(layer, "name", None) or "op"
    box.title = f"{name} ({_class_name(layer)})" if show_layer_names else _class_name(layer)
    box.trainable = bool(getattr(layer, "trainable", True))
    rows = []
    if show_layer_activations:
        activation = _activation_name(layer)
        if activation is not None:
            rows.append(("activation", activation))
    if show_trainable:
        rows.append(("trainable", "Y" if box.trainable else "N"))
    if show_shapes or show_dtype:
        for what in ("input", "output"):
            texts = set()
            for call in box.calls:
                values = call.inputs if what == "input" else call.outputs
                if what == "input" and not values:
                    values = call.outputs  # an InputLayer: its input is its output
                parts = []
                if show_shapes:
                    parts.append(_shapes(values))
                if show_dtype:
                    parts.append(_dtypes(values))
                texts.add(" ".join(parts))
            # A shared layer called on different shapes: "multiple", as Keras 2 printed.
            rows.append((what, texts.pop() if len(texts) == 1 else "multiple"))
    box.rows = rows


# ---- DOT -------------------------------------------------------------------------------
def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _record(text: str) -> str:
    # Characters that structure a record label, escaped where they are text.
    for ch in "\\<>{}|":
        text = text.replace(ch, "\\" + ch)
    return text


def _dot_label(box) -> str:
    title = _record(box.title)
    extra = [
        f"{what}: {_record(text)}" for what, text in box.rows if what not in ("input", "output")
    ]
    if extra:
        title += " | " + " | ".join(extra)
    cells = [f"{what}: {_record(text)}" for what, text in box.rows if what in ("input", "output")]
    if cells:
        title = f"{{{title} | {{{' | '.join(cells)}}}}}"
    return title


def _check_rankdir(rankdir):
    if rankdir not in ("TB", "LR"):
        raise ValueError(
            f"rankdir must be 'TB' (top to bottom) or 'LR' (left to right), received {rankdir!r}"
        )


def model_to_dot(
    model,
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    show_layer_activations=False,
    show_trainable=False,
    **kwargs,
) -> str:
    """The DOT text of ``model``: one record box per layer, one edge per tensor between
    two layers, and with ``expand_nested`` a ``cluster`` subgraph per nested model."""
    _check_rankdir(rankdir)
    diagram = _describe(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        expand_nested=expand_nested,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    ids = {key: f"n{i}" for i, key in enumerate(diagram.boxes)}
    lines = [
        f"digraph {_quote(model.name)} {{",
        f"  graph [rankdir={rankdir}, dpi={int(dpi)}];",
        '  node [shape=record, fontname="Helvetica"];',
    ]
    counter = iter(range(1 << 30))

    def emit(cluster, indent):
        for box in cluster.boxes:
            lines.append(f"{indent}{ids[box.key]} [label={_quote(_dot_label(box))}];")
        for sub in cluster.clusters:
            lines.append(f"{indent}subgraph cluster_{next(counter)} {{")
            lines.append(f'{indent}  label={_quote(sub.label)}; style="rounded,dashed";')
            emit(sub, indent + "  ")
            lines.append(f"{indent}}}")

    emit(diagram.root, "  ")
    for src, dst in diagram.edges:
        lines.append(f"  {ids[src]} -> {ids[dst]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---- plot_model ------------------------------------------------------------------------
def _write_bytes(path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def plot_model(
    model,
    to_file="model.png",
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    show_layer_activations=False,
    show_trainable=False,
    engine="auto",
    **kwargs,
):
    """Draw ``model``'s layer graph to ``to_file``, Keras's arguments.

    The format follows the extension: ``.dot``/``.gv`` write DOT text; ``.png``, ``.svg``,
    ``.pdf`` (and the other formats of the engine) an image. ``engine="auto"`` draws with
    Graphviz's ``dot`` when it is on the PATH, else with grandalf and matplotlib (the
    ``plots`` extra); ``"graphviz"`` or ``"matplotlib"`` choose one. Returns ``to_file``.
    """
    _check_rankdir(rankdir)
    if engine not in _ENGINES:
        raise ValueError(f"engine must be one of {', '.join(_ENGINES)}, received {engine!r}")
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1].lstrip(".").lower()
    if not extension:
        raise ValueError(
            f"plot_model needs a file name with an extension (.png, .svg, .pdf "
            f"or .dot), received {to_file!r}"
        )
    options = dict(
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        expand_nested=expand_nested,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    if extension in ("dot", "gv"):
        dot = model_to_dot(model, rankdir=rankdir, dpi=dpi, **options)
        _write_bytes(to_file, dot.encode())
        return to_file
    import shutil  # only here: `import graphc` stays light

    program = shutil.which("dot") if engine != "matplotlib" else None
    if engine == "graphviz" and program is None:
        raise ImportError(
            f"plot_model(engine='graphviz') needs Graphviz's `dot` program to draw "
            f"{to_file!r}, and it is not on the PATH (e.g. `apt install graphviz`); "
            "engine='auto' draws without it through the `plots` extra."
        )
    if program is not None:
        import subprocess

        dot = model_to_dot(model, rankdir=rankdir, dpi=dpi, **options)
        result = subprocess.run(
            [program, f"-T{extension}"], input=dot.encode(), capture_output=True, check=False
        )
        if result.returncode != 0:
            raise ValueError(
                f"Graphviz could not draw {to_file!r}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        _write_bytes(to_file, result.stdout)
        return to_file
    from graphc.utils import _draw_graph

    diagram = _describe(model, **options)
    data = _draw_graph.render(diagram, extension, rankdir=rankdir, dpi=dpi, to_file=to_file)
    _write_bytes(to_file, data)
    return to_file
