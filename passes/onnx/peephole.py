"""Peephole clean-ups on the lowered ONNX node list (``onnx.NodeProto`` objects).

Channels-last layers lower to ``Transpose -> Conv/MaxPool -> Transpose``, so a chain
``conv -> relu -> conv`` leaves a transpose back to channels-last, a Relu, and a transpose
to channels-first again. ``cancel_transpose_pairs`` removes such inverse pairs, directly
adjacent or separated by single-input elementwise ops (which do not care about layout):

    Transpose(p) -> Relu -> Transpose(inverse of p)   becomes   Relu

The graph-level pass ``passes.export.CancelTransposes`` cannot see these pairs: they
appear only when ops are lowered.

``fold_initializer_transposes`` stores a transposed weight (a conv kernel going from
Keras's ``(*k, C_in, C_out)`` to ONNX's ``(C_out, C_in, *k)``) transposed, under its own
name, instead of transposing it at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:  # onnx loads only when a model is exported
    from onnx import NodeProto, TensorProto

__all__ = ["cancel_transpose_pairs", "fold_initializer_transposes", "LAYOUT_FREE_OPS"]

#: Single-input ONNX ops that act on each element alone, so they commute with Transpose.
LAYOUT_FREE_OPS = frozenset(
    {
        "Abs",
        "Acos",
        "Acosh",
        "Asin",
        "Asinh",
        "Atan",
        "Atanh",
        "Ceil",
        "Celu",
        "Cos",
        "Cosh",
        "Elu",
        "Erf",
        "Exp",
        "Floor",
        "Gelu",
        "HardSigmoid",
        "HardSwish",
        "Identity",
        "LeakyRelu",
        "Log",
        "Mish",
        "Neg",
        "Not",
        "Reciprocal",
        "Relu",
        "Round",
        "Selu",
        "Sigmoid",
        "Sign",
        "Sin",
        "Sinh",
        "Softplus",
        "Softsign",
        "Sqrt",
        "Tan",
        "Tanh",
        "ThresholdedRelu",
    }
)


def _perm(node: NodeProto) -> tuple[int, ...] | None:
    for a in node.attribute:
        if a.name == "perm":
            return tuple(a.ints)
    return None  # the default (reverse all axes) needs the rank, which we do not know


def _inverse(p: Sequence[int], q: Sequence[int]) -> bool:
    return (
        len(p) == len(q)
        and sorted(p) == list(range(len(p)))
        and all(p[q[i]] == i for i in range(len(p)))
    )


def cancel_transpose_pairs(
    nodes: Iterable[NodeProto], graph_outputs: Iterable[str] = ()
) -> tuple[list[NodeProto], int]:
    """Remove ``Transpose(p)`` followed by ``Transpose(inverse of p)``, directly or through
    single-input elementwise ops (``LAYOUT_FREE_OPS``), when every tensor in between has
    no other reader and is not a graph output.

    ``nodes`` is a topologically ordered list of NodeProtos; ``graph_outputs`` the names
    of the graph's outputs (an output keeps its name). Returns ``(nodes, removed_count)``:
    a new list; NodeProtos of the elementwise ops in a cancelled chain are edited in place.
    Their outputs get fresh names, because they now hold the other layout and a name
    must not change meaning (the exporter compares shapes by tensor name).
    """
    nodes = list(nodes)
    if not any(n.op_type == "Transpose" for n in nodes):
        return nodes, 0  # nothing to cancel; the tables below cost a pass over every name
    outputs = set(graph_outputs)
    used_names = {t for n in nodes for t in (*n.input, *n.output)} | outputs
    removed: set[int] = set()  # indexes into nodes
    total = -1
    while total != len(removed):  # a cancelled pair can expose another: one more sweep
        total = len(removed)
        readers: dict[str, list[int]] = {}
        for i, n in enumerate(nodes):
            if i not in removed:
                for t in n.input:
                    readers.setdefault(t, []).append(i)
        for i in range(len(nodes)):
            if i not in removed:
                _cancel_from(i, nodes, readers, outputs, used_names, removed)
    return [n for i, n in enumerate(nodes) if i not in removed], len(removed)


def _cancel_from(
    i: int,
    nodes: list[NodeProto],
    readers: dict[str, list[int]],
    outputs: set[str],
    used_names: set[str],
    removed: set[int],
) -> None:
    """Cancel the pair starting at ``nodes[i]`` if it is one; keeps ``readers`` current."""
    first = nodes[i]
    if first.op_type != "Transpose" or len(first.output) != 1:
        return
    p = _perm(first)
    if p is None:
        return

    def sole_reader(t: str) -> int | None:
        r = readers.get(t, [])
        return r[0] if len(r) == 1 and t not in outputs else None

    chain: list[int] = []
    j = sole_reader(first.output[0])
    while (
        j is not None
        and nodes[j].op_type in LAYOUT_FREE_OPS
        and len(nodes[j].input) == 1
        and len(nodes[j].output) == 1
    ):
        chain.append(j)
        j = sole_reader(nodes[j].output[0])
    if j is None or nodes[j].op_type != "Transpose":
        return
    second = nodes[j]
    q = _perm(second)
    if q is None or not _inverse(p, q):
        return
    y = second.output[0]
    if not chain and y in outputs:
        return  # the source tensor would have to be renamed to the output's name
    source = first.input[0]
    # The elementwise ops now read the untransposed tensor. Their results hold the other
    # layout, so they get new names; the last one becomes ``y`` when that is a graph
    # output, else the readers of ``y`` move to it.
    y_readers = readers.pop(y, [])
    src_readers = [r for r in readers.get(source, []) if r != i]
    prev = source
    for k, idx in enumerate(chain):
        node = nodes[idx]
        node.input[0] = prev
        if prev == source:
            src_readers.append(idx)
        old = node.output[0]
        node.output[0] = (
            y if (k == len(chain) - 1 and y in outputs) else _fresh(old + "_relaid", used_names)
        )
        readers[node.output[0]] = readers.pop(old, [])
        prev = node.output[0]
    if prev != y:
        for r in y_readers:
            rn = nodes[r]
            for m, name in enumerate(rn.input):
                if name == y:
                    rn.input[m] = prev
    if chain:
        readers[prev] = y_readers
    else:
        src_readers.extend(y_readers)
    readers[source] = src_readers
    readers.pop(first.output[0], None)
    removed.update((i, j))


def _fresh(base: str, used: set[str]) -> str:
    name, k = base, 0
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def fold_initializer_transposes(
    nodes: list[NodeProto], initializers: list[TensorProto], graph_outputs: Iterable[str] = ()
) -> tuple[list[NodeProto], int]:
    """Replace ``Transpose(w)`` of an initializer ``w`` that nothing else reads by ``w``
    stored transposed (same name). ``initializers`` is a list of TensorProtos, edited in
    place. Returns ``(nodes, removed_count)``."""
    from onnx import numpy_helper

    if not any(n.op_type == "Transpose" for n in nodes):
        return list(nodes), 0
    outputs = set(graph_outputs)
    by_name = {t.name: t for t in initializers}
    readers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.input:
            readers.setdefault(t, []).append(i)
    removed: set[int] = set()
    for i, n in enumerate(nodes):
        if n.op_type != "Transpose" or n.input[0] not in by_name or n.output[0] in outputs:
            continue
        w = n.input[0]
        perm = _perm(n)
        if perm is None or len(readers.get(w, [])) != 1 or w in outputs:
            continue
        arr = numpy_helper.to_array(by_name[w]).transpose(perm)
        by_name[w].CopyFrom(numpy_helper.from_array(arr.copy(), w))
        for r in readers.get(n.output[0], []):
            rn = nodes[r]
            for m, name in enumerate(rn.input):
                if name == n.output[0]:
                    rn.input[m] = w
        removed.add(i)
    return [n for i, n in enumerate(nodes) if i not in removed], len(removed)
