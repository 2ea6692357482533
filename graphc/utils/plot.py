"""``plot_model``: the model's layer graph in Graphviz's DOT language, drawn to an image by
Graphviz's ``dot`` program when it is installed (Keras needs pydot and Graphviz for it).

>>> graphc.utils.plot_model(model, "model.dot", show_shapes=True)   # always works
>>> graphc.utils.plot_model(model, "model.png")                      # needs Graphviz
"""

from __future__ import annotations

import os

from graphc.ir import format_shape

__all__ = ["plot_model", "model_to_dot"]


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _shapes(values) -> str:
    shapes = [format_shape(v.shape) for v in values]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", show_trainable=False, dpi=200) -> str:
    """The DOT text of ``model``'s layer calls: one box per call, one edge per tensor."""
    from graphc.models._summary import _class_name
    from graphc.models._topology import layer_calls

    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be 'TB' or 'LR', received {rankdir!r}")
    calls, producer_call = layer_calls(model.graph)
    ids = {id(call): f"n{i}" for i, call in enumerate(calls)}
    lines = [f"digraph {_quote(model.name)} {{",
             f"  graph [rankdir={rankdir}, dpi={int(dpi)}];",
             '  node [shape=record, fontname="Helvetica"];']
    for call in calls:
        layer = call.layer
        title = _class_name(layer)
        if show_layer_names:
            title = f"{layer.name} ({title})"
        if show_trainable:
            title += f" | trainable: {'Y' if layer.trainable else 'N'}"
        if show_shapes or show_dtype:
            cells = []
            for what, values in (("input", call.inputs or call.outputs), ("output", call.outputs)):
                text = []
                if show_shapes:
                    text.append(_shapes(values))
                if show_dtype:
                    text.append(", ".join(sorted({v.dtype for v in values})))
                cells.append(f"{what}: {' '.join(text)}")
            title = f"{{{title} | {{{' | '.join(cells)}}}}}"
        label = title.replace("<", "\\<").replace(">", "\\>")
        lines.append(f"  {ids[id(call)]} [label={_quote(label)}];")
    for call in calls:
        for v in call.inputs:
            lines.append(f"  {ids[id(producer_call[v])]} -> {ids[id(call)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=True, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, **kwargs):
    """Write ``model``'s graph to ``to_file``: DOT text for a ``.dot``/``.gv`` name, else an
    image in the extension's format drawn by Graphviz's ``dot``. Keras's arguments;
    ``expand_nested`` and ``show_layer_activations`` are accepted and not drawn yet."""
    from graphc.files import atomic_write

    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       show_trainable=show_trainable, dpi=dpi)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1].lstrip(".").lower() or "png"
    if extension in ("dot", "gv"):
        atomic_write(to_file, lambda f: f.write(dot), mode="w")
        return
    import shutil  # only here: `import graphc` stays light
    import subprocess

    program = shutil.which("dot")
    if program is None:
        raise ImportError(
            f"plot_model needs Graphviz's `dot` program to draw {to_file!r}, and it is not "
            "installed (e.g. `apt install graphviz`). Give a file name ending in .dot to "
            "get the graph's description without Graphviz.")
    result = subprocess.run([program, f"-T{extension}"], input=dot.encode(),
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise ValueError(f"Graphviz could not draw {to_file!r}: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    atomic_write(to_file, lambda f: f.write(result.stdout))
