"""``model.summary()``: the plain-text table of the Keras 2 books.

Param counts come from the ``CountParams`` pass, shapes from the graph's values, layer
order from ``model.layers``; nothing is computed twice.
"""

from __future__ import annotations

from graphc.ir import format_shape, gc_paused
from graphc.layers.base import flatten_struct
from graphc.models._topology import layer_calls

_CHAIN = ([0.45, 0.85, 1.0], 65, ["Layer (type)", "Output Shape", "Param #"])
_GRAPH = ([0.33, 0.55, 0.67, 1.0], 98, ["Layer (type)", "Output Shape", "Param #", "Connected to"])


def _row(fields, positions) -> str:
    line = ""
    for i, field in enumerate(fields):
        if i > 0:
            line = line[:-1] + " "
        # cut to the column's end, then padded with spaces up to it
        line = (line + str(field))[: positions[i]].ljust(positions[i])
    return line


def _is_chain(model, calls) -> bool:
    from graphc.models.sequential import Sequential

    if isinstance(model, Sequential) or model._subclassed:  # Keras 3 draws both as a stack
        return True
    layers = {id(c.layer) for c in calls}
    return (
        len(layers) == len(calls)
        and len(model.inputs) == 1
        and len(model.outputs) == 1
        and all(len(c.inputs) <= 1 and len(c.outputs) <= 1 for c in calls)
    )


def _output_shape(layer_calls_of_layer, texts: dict) -> str:
    """The column's text. ``texts``: ``id(shape) -> (shape, text)`` of single outputs, for
    one summary: many layers share a shape object (a shape rule's memoised result)."""
    if len(layer_calls_of_layer) == 1:  # a layer called once (most)
        outs = layer_calls_of_layer[0].outputs
        if len(outs) == 1:
            shape = outs[0].shape
            known = texts.get(id(shape))
            if known is not None and known[0] is shape:
                return known[1]
            text = format_shape(shape)
            texts[id(shape)] = (shape, text)
            return text
    shapes = []
    for call in layer_calls_of_layer:
        outs = call.outputs
        shapes.append(
            format_shape(outs[0].shape)
            if len(outs) == 1
            else "[" + ", ".join(format_shape(v.shape) for v in outs) + "]"
        )
    if len(set(shapes)) > 1:
        return "multiple"
    return shapes[0] if shapes else "multiple"


def _class_name(layer, model_class=None) -> str:
    if model_class is None:
        from graphc.models.functional import Model as model_class
    if type(layer) is model_class:
        return "Functional"
    return getattr(layer, "summary_class", None) or type(layer).__name__


def print_summary(model, line_length=None, positions=None, print_fn=None):
    with gc_paused():
        _print_summary(model, line_length, positions, print_fn)


def _print_summary(model, line_length, positions, print_fn):
    from graphc.models.functional import Model
    from passes import CountParams

    print_fn = print_fn or (lambda line: print(line))
    graph = model.graph
    calls, producer_call = layer_calls(graph)
    chain = _is_chain(model, calls)
    default_positions, default_length, headers = _CHAIN if chain else _GRAPH
    line_length = line_length or default_length
    positions = positions or default_positions
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    counts = CountParams().run(graph)

    by_layer: dict = {}
    for call in calls:
        by_layer.setdefault(id(call.layer), []).append(call)

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_row(headers, positions))
    print_fn("=" * line_length)
    # A subclassed model lists the layers it holds, as Keras does (no input rows).
    layers = model.layers if model._subclassed else model.operations
    between, last = "_" * line_length, "=" * line_length
    texts: dict = {}
    for i, layer in enumerate(layers):
        mine = by_layer.get(id(layer), [])
        fields = [
            f"{layer.name} ({_class_name(layer, Model)})",
            _output_shape(mine, texts),
            counts.per_layer.get(layer.name, 0),
        ]
        if chain:
            print_fn(_row(fields, positions))
        else:
            links = []
            for call in mine:
                for v in call.inputs:
                    src = producer_call[v]
                    outs = flatten_struct(src.layer._calls[src.index][1])
                    k = next((j for j, o in enumerate(outs) if o is v), 0)
                    links.append(f"{src.layer.name}[{src.index}][{k}]")
            print_fn(_row(fields + [links[0] if links else ""], positions))
            for link in links[1:]:
                print_fn(_row(["", "", "", link], positions))
        print_fn(last if i == len(layers) - 1 else between)
    print_fn(f"Total params: {counts.total:,}")
    print_fn(f"Trainable params: {counts.trainable:,}")
    print_fn(f"Non-trainable params: {counts.non_trainable:,}")
    print_fn("_" * line_length)
