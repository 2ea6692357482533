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

from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:  # onnx loads only when a model is exported
    from onnx import NodeProto, TensorProto

__all__ = [
    "cancel_transpose_pairs",
    "fold_initializer_transposes",
    "fold_batch_norms",
    "fold_constant_nodes",
    "merge_duplicates",
    "LAYOUT_FREE_OPS",
]

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


# ---- folding into constants ------------------------------------------------------------------
def _attrs(node: NodeProto) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _readers(nodes: Sequence[NodeProto]) -> dict[str, list[int]]:
    readers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.input:
            if t:
                readers.setdefault(t, []).append(i)
    return readers


def fold_batch_norms(
    nodes: list[NodeProto], initializers: list[TensorProto], graph_outputs: Iterable[str] = ()
) -> tuple[list[NodeProto], int]:
    """Fold an inference ``BatchNormalization`` into the ``Conv`` or ``Gemm`` before it when
    that node's output has no other reader and every weight involved is an initializer:
    the kernel's output channels are scaled by ``gamma / sqrt(var + eps)`` and the bias
    becomes ``(bias - mean) * scale + beta``. The Conv/Gemm then writes the
    BatchNormalization's output tensor.

    Weights keep their names where nothing else reads them (the kernel's, the bias's, or
    BatchNormalization's ``beta`` for a Conv without a bias); shared ones are copied under
    a new name. ``initializers`` is edited in place. Returns ``(nodes, folded_count)``."""
    import numpy as np
    from onnx import numpy_helper

    if not any(n.op_type == "BatchNormalization" for n in nodes):
        return list(nodes), 0
    outputs = set(graph_outputs)
    by_name = {t.name: t for t in initializers}
    readers = _readers(nodes)
    producer = {t: i for i, n in enumerate(nodes) for t in n.output}
    used = {t for n in nodes for t in (*n.input, *n.output)} | outputs | set(by_name)
    removed: set[int] = set()

    def sole(name: str, reader: int) -> bool:
        return readers.get(name, []) == [reader] and name not in outputs

    def store(name: str, reader: int, arr: Any, fallback: str) -> str:
        """``arr`` under ``name`` when only ``reader`` reads it, else under a new name."""
        tensor = numpy_helper.from_array(arr, name)
        if name in by_name and sole(name, reader):
            by_name[name].CopyFrom(tensor)
            return name
        new = _fresh(fallback, used)
        tensor.name = new
        initializers.append(tensor)
        by_name[new] = tensor
        return new

    for j, bn in enumerate(nodes):
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1 or len(bn.input) != 5:
            continue
        attrs = _attrs(bn)
        if attrs.get("training_mode", 0) or not all(t in by_name for t in bn.input[1:]):
            continue
        x = bn.input[0]
        i = producer.get(x)
        if i is None or i in removed or not sole(x, j):
            continue
        p = nodes[i]
        if p.op_type not in ("Conv", "Gemm") or len(p.output) != 1 or len(p.input) < 2:
            continue
        if p.input[1] not in by_name or (len(p.input) > 2 and p.input[2] not in by_name):
            continue
        pa = _attrs(p)
        w = numpy_helper.to_array(by_name[p.input[1]])
        gamma, beta, mean, var = (
            numpy_helper.to_array(by_name[t]).astype(np.float64) for t in bn.input[1:]
        )
        scale = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
        if p.op_type == "Conv":
            channels = w.shape[0]
            shaped = scale.reshape(-1, *([1] * (w.ndim - 1)))
        else:
            if pa.get("alpha", 1.0) != 1.0 or pa.get("beta", 1.0) != 1.0 or w.ndim != 2:
                continue
            trans = bool(pa.get("transB", 0))
            channels = w.shape[0] if trans else w.shape[1]
            shaped = scale.reshape(-1, 1) if trans else scale.reshape(1, -1)
        if scale.shape != (channels,):
            continue
        bias = np.zeros(channels)
        if len(p.input) > 2 and p.input[2]:
            bias = numpy_helper.to_array(by_name[p.input[2]]).astype(np.float64)
            if bias.shape not in ((channels,), (1, channels)):
                continue
            bias = bias.reshape(channels)
        new_w = (w.astype(np.float64) * shaped).astype(w.dtype)
        new_b = ((bias - mean) * scale + beta).astype(w.dtype)
        w_name = store(p.input[1], i, new_w, p.input[1] + "_bn")
        if len(p.input) > 2 and p.input[2] and sole(p.input[2], i):
            b_name = store(p.input[2], i, new_b, p.input[2] + "_bn")
        else:
            b_name = store(bn.input[2], j, new_b, bn.input[2] + "_folded")
        p.input[1] = w_name
        if len(p.input) > 2:
            p.input[2] = b_name
        else:
            p.input.append(b_name)
        p.output[0] = bn.output[0]
        producer[bn.output[0]] = i
        removed.add(j)
    return [n for k, n in enumerate(nodes) if k not in removed], len(removed)


def _fold_one(op: str, attrs: dict, args: list) -> Any:
    """NumPy for the layout ops that re-arrange weights at run time, or None."""
    import numpy as np

    x = args[0]
    if op == "Identity":
        return x
    if op == "Transpose":
        return np.transpose(x, attrs.get("perm"))
    if op == "Reshape":
        shape = [int(s) for s in args[1]]
        if not attrs.get("allowzero", 0):
            shape = [x.shape[k] if s == 0 else s for k, s in enumerate(shape)]
        return x.reshape(shape)
    if op == "Flatten":
        axis = int(attrs.get("axis", 1))
        axis = axis + x.ndim if axis < 0 else axis
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    if op == "Gather":
        return np.take(x, args[1].astype(np.int64), axis=attrs.get("axis", 0))
    if op == "Unsqueeze":
        axes: list = list(attrs.get("axes", ())) if len(args) < 2 else [int(a) for a in args[1]]
        rank = x.ndim + len(axes)
        for a in sorted(a % rank for a in axes):
            x = np.expand_dims(x, a)
        return x
    if op == "Squeeze":
        given = attrs.get("axes") if len(args) < 2 else args[1]
        return np.squeeze(x, axis=None if given is None else tuple(int(a) for a in given))
    if op == "Concat":
        return np.concatenate(args, axis=attrs["axis"])
    return None


#: The ONNX ops ``fold_constant_nodes`` evaluates (layout only: no arithmetic, so the
#: numbers are the weights' own).
FOLDABLE_OPS = frozenset(
    {"Identity", "Transpose", "Reshape", "Flatten", "Gather", "Unsqueeze", "Squeeze", "Concat"}
)


def fold_constant_nodes(
    nodes: list[NodeProto], initializers: list[TensorProto], graph_outputs: Iterable[str] = ()
) -> tuple[list[NodeProto], int]:
    """Evaluate at export the layout nodes (``FOLDABLE_OPS``) whose inputs are all
    initializers: the weights that recurrent, depthwise and attention lowerings gather,
    reshape and concatenate at run time are stored in the form their readers use.

    A folded result takes the name of the weight it re-lays out when nothing else reads
    that weight (``lstm/kernel`` stays ``lstm/kernel``), else the node's output name. Nodes
    writing a graph output stay. ``initializers`` is edited in place (unread ones are left
    for the caller to drop). Returns ``(nodes, folded_count)``."""
    from onnx import numpy_helper

    if not any(n.op_type in FOLDABLE_OPS for n in nodes):
        return list(nodes), 0
    outputs = set(graph_outputs)
    by_name = {t.name: t for t in initializers}
    candidates = [
        i
        for i, n in enumerate(nodes)
        if n.op_type in FOLDABLE_OPS
        and n.input
        and n.input[0] in by_name
        and len(n.output) == 1
        and not n.domain
    ]
    if not candidates:
        return list(nodes), 0
    readers = _readers(nodes)
    values: dict = {}
    removed: set[int] = set()
    renamed: dict[str, str] = {}

    def value(name: str) -> Any:
        if name not in values:
            values[name] = numpy_helper.to_array(by_name[name])
        return values[name]

    for i, n in enumerate(nodes):
        if n.op_type not in FOLDABLE_OPS or len(n.output) != 1 or n.domain:
            continue
        for k, t in enumerate(n.input):
            if t in renamed:
                n.input[k] = renamed[t]
        if not n.input or not all(t in by_name for t in n.input) or n.output[0] in outputs:
            continue
        try:
            result = _fold_one(n.op_type, _attrs(n), [value(t) for t in n.input])
        except (ValueError, IndexError, KeyError, TypeError):
            result = None  # left to the runtime, which will say what is wrong
        if result is None:
            continue
        out = n.output[0]
        first = n.input[0]
        keep = first if readers.get(first, []) == [i] and first not in outputs else None
        tensor = numpy_helper.from_array(result.copy(), keep or out)
        if keep is not None:
            by_name[keep].CopyFrom(tensor)
            renamed[out] = keep
            readers[keep] = readers.pop(out, [])
        else:
            initializers.append(tensor)
            by_name[out] = tensor
        values[keep or out] = result
        removed.add(i)
    if renamed:
        for n in nodes:
            for k, t in enumerate(n.input):
                if t in renamed:
                    n.input[k] = renamed[t]
    return [n for k, n in enumerate(nodes) if k not in removed], len(removed)


#: Initializers at most this big are compared for ``merge_duplicates``.
SMALL_CONSTANT_BYTES = 4096
#: Ops never merged: each call draws new random numbers.
_NOT_MERGED = frozenset(
    {
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
        "Dropout",
    }
)


def merge_duplicates(
    nodes: list[NodeProto],
    initializers: list[TensorProto],
    graph_outputs: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> tuple[list[NodeProto], int]:
    """Merge identical small constants (``SMALL_CONSTANT_BYTES``; the names in ``keep`` —
    the model's weights, equal or not — are never merged) and then identical nodes (same
    op, inputs and attributes: common-subexpression elimination), the first one staying.
    A node writing a graph output stays. Returns ``(nodes, merged_count)``; unread
    initializers are left for the caller to drop."""
    outputs = set(graph_outputs)
    protected = set(keep) | outputs
    alias: dict[str, str] = {}
    seen: dict = {}
    for t in initializers:
        if t.name in protected or t.data_location == 1 or not t.HasField("raw_data"):
            continue
        if len(t.raw_data) > SMALL_CONSTANT_BYTES:
            continue
        key = (t.data_type, tuple(t.dims), t.raw_data)
        first = seen.setdefault(key, t.name)
        if first != t.name:
            alias[t.name] = first
    merged = len(alias)
    if alias:
        for n in nodes:
            for k, t in enumerate(n.input):
                if t in alias:
                    n.input[k] = alias[t]
    nodes = list(nodes)
    total = 0
    while True:  # merging two nodes can make their readers identical: one more sweep
        nodes, count = _merge_nodes(nodes, outputs)
        total += count
        if not count:
            return nodes, merged + total


def _merge_nodes(nodes: list[NodeProto], outputs: set[str]) -> tuple[list[NodeProto], int]:
    """One sweep of ``merge_duplicates`` over the nodes."""
    # Identical nodes read the same first input: only nodes sharing one are compared (one
    # cheap pass over a long chain, which has none).
    firsts = [(n.input or ("",))[0] for n in nodes]  # (one read of each repeated field)
    count: dict[str, int] = {}
    for t in firsts:
        count[t] = count.get(t, 0) + 1
    by_signature: dict = {}
    removed: set[int] = set()
    renamed: dict[str, str] = {}
    for i, n in enumerate(nodes):
        if renamed:
            for k, t in enumerate(n.input):
                if t in renamed:
                    n.input[k] = renamed[t]
        if not firsts[i] or count[firsts[i]] < 2:
            continue
        if n.op_type in _NOT_MERGED or any(o in outputs for o in n.output):
            continue
        key = (n.domain, n.op_type, tuple(n.input), len(n.output))
        earlier = by_signature.get(key)
        if earlier is None:
            by_signature[key] = [i]
            continue
        attrs = [a.SerializeToString() for a in n.attribute]
        match = next(
            (e for e in earlier if [a.SerializeToString() for a in nodes[e].attribute] == attrs),
            None,
        )
        if match is None:
            earlier.append(i)
            continue
        for mine, theirs in zip(n.output, nodes[match].output):
            if mine:
                renamed[mine] = theirs
        removed.add(i)
    return [n for k, n in enumerate(nodes) if k not in removed], len(removed)
