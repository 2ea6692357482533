"""The ONNX exporter: a model's graph, through the export passes and every op's lowering
rule, into one checked ``ModelProto``.

>>> import graphc
>>> x = graphc.Input(shape=(4,), name="features")
>>> model = graphc.Model(x, graphc.layers.Dense(2, name="scores")(x))
>>> proto = graphc.onnx.export(model, "model.onnx")
>>> [i.name for i in proto.graph.input], [o.name for o in proto.graph.output]
(['features'], ['scores'])

``onnx`` and ``onnxruntime`` are imported inside the functions, so importing this module
costs nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from graphc import files
from graphc.backends.onnx.builder import (
    DEFAULT_OPSET,
    MIN_OPSET,
    NodeLoweringContext,
    OnnxBuilder,
    add_initializers,
    make_model,
    newest_opset,
    onnx_dtype,
    value_info,
)
from graphc.errors import GraphcError
from graphc.files import atomic_write
from graphc.ir import TensorType, format_shape, gc_paused
from graphc.ops.registry import get_op

__all__ = [
    "export",
    "export_with_report",
    "ExportError",
    "ExportResult",
    "PassReport",
    "check_opset",
    "export_passes",
    "MAX_PROTOBUF_BYTES",
    "OUTPUT_KEYS_METADATA",
]

#: Protobuf cannot serialise a message of 2 GiB or more; bigger models use external data.
MAX_PROTOBUF_BYTES = 2**31 - 1


class ExportError(GraphcError, ValueError):
    """The graph cannot be lowered, or ONNX's checker or shape inference rejects it."""


@dataclass
class PassReport:
    """One export pass: node counts before and after, whether it changed the graph, why
    (not), and its wall time."""

    name: str
    nodes_before: int
    nodes_after: int
    changed: bool
    reason: str = ""
    seconds: float = 0.0

    def __str__(self):
        text = f"{self.name:<20} {self.nodes_before:>6} -> {self.nodes_after:<6} nodes"
        return f"{text}  {self.reason}" if self.reason else text


@dataclass
class ExportResult:
    """What ``export_with_report`` returns."""

    model: object  # onnx.ModelProto
    opset: int
    path: str | None = None
    input_names: list = field(default_factory=list)
    output_names: list = field(default_factory=list)
    passes: list = field(default_factory=list)  # [PassReport], empty when not optimizing
    external_data: bool = False
    seconds: float = 0.0

    @property
    def node_count(self) -> int:
        return len(self.model.graph.node)

    def lines(self) -> list[str]:
        """The report as the command line prints it."""
        out = []
        if self.passes:
            out.append("export passes (nodes before -> after):")
            out += [f"  {p}" for p in self.passes]
        else:
            out.append("export passes: skipped (optimize=False)")
        where = f"wrote {self.path}" if self.path else "exported"
        data = (
            " (weights in an external .data file beside it)"
            if self.external_data and self.path
            else ""
        )
        out.append(
            f"{where}: opset {self.opset}, {self.node_count} ONNX nodes, inputs "
            f"{', '.join(self.input_names)}, outputs {', '.join(self.output_names)}"
            f"{data} in {self.seconds:.2f} s"
        )
        return out


# ---- opsets ----------------------------------------------------------------------------
def check_opset(opset) -> int:
    """``opset`` as an int, ``DEFAULT_OPSET`` for None; a ``ValueError`` naming the valid
    range (13 to the newest both onnx and onnxruntime accept) otherwise."""
    newest = newest_opset()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        try:
            if isinstance(opset, str) and opset.strip().isdigit():
                opset = int(opset)
            else:
                raise TypeError
        except TypeError:
            raise ValueError(
                f"opset must be an integer from {MIN_OPSET} to {newest}, received {opset!r}"
            ) from None
    opset = int(opset)
    if not MIN_OPSET <= opset <= newest:
        import onnx
        import onnxruntime

        raise ValueError(
            f"opset {opset} is not supported: graphc exports opsets {MIN_OPSET} to {newest} "
            f"(the newest that both the installed onnx {onnx.__version__} and onnxruntime "
            f"{onnxruntime.__version__} accept)"
        )
    return opset


def export_passes() -> list:
    """Fresh instances of the export passes, in the order the exporter runs them."""
    from passes.export import EXPORT_PASSES

    return [p() for p in EXPORT_PASSES]


# ---- the public entry points -----------------------------------------------------------
def export(
    model,
    path=None,
    opset=None,
    optimize=True,
    *,
    verbose=False,
    external_data_threshold: int = MAX_PROTOBUF_BYTES,
):
    """Export ``model`` to ONNX; returns the ``onnx.ModelProto`` and, given ``path``,
    writes it there atomically (a temporary file in the same folder, then a rename).

    - ``opset``: ``None`` for 18, or any from 13 to ``graphc.onnx.newest_opset()``.
    - ``optimize``: run the export passes (dead code, inference mode, MatMul+Add into Gemm,
      identity removal, transpose cancelling) and the ONNX-level peepholes (transpose
      pairs, BatchNormalization folded into the Conv/Gemm before it, weights re-laid out
      by nodes stored re-laid out, identical constants and nodes merged); ``False``
      lowers the graph as recorded.
    - ``verbose``: print each pass with its node counts, and what was written.
    - Models whose protobuf would reach ``external_data_threshold`` bytes (2 GiB, the
      protobuf limit) store their weights as ONNX external data in
      ``<path>.<sha256[:16]>.data``, named by content: re-exporting replaces the pair
      as a unit and removes the earlier data file.

    Every export is checked (``onnx.checker``, strict type-checking shape inference
    agreeing with graphc's shapes) before anything is written; a failure raises
    ``ExportError`` and leaves an existing file untouched.

    >>> proto = graphc.onnx.export(model, "model.onnx", opset=17)
    """
    result = export_with_report(
        model, path, opset=opset, optimize=optimize, external_data_threshold=external_data_threshold
    )
    if verbose:
        print("\n".join(result.lines()))
    return result.model


def export_with_report(
    model,
    path=None,
    opset=None,
    optimize=True,
    *,
    external_data_threshold: int = MAX_PROTOBUF_BYTES,
) -> ExportResult:
    """``export`` that also returns what happened: an ``ExportResult`` with the proto, one
    ``PassReport`` per export pass (node counts before and after) and timings.

    >>> result = graphc.onnx.export_with_report(model, "model.onnx")
    >>> for p in result.passes: print(p)
    """
    with gc_paused():
        return _export_with_report(model, path, opset, optimize, external_data_threshold)


def _export_with_report(model, path, opset, optimize, external_data_threshold) -> ExportResult:
    start = time.perf_counter()
    opset = check_opset(opset)
    # Passes rewrite a clone; lowering only reads, so without passes the model's own graph
    # serves (cloning a 10,000-node graph costs more than lowering it).
    graph = model.graph.clone() if optimize else model.graph
    reports = _run_passes(graph) if optimize else []
    keys = _output_keys(model)
    output_names = _unique_output_names(
        [v.name for v in graph.inputs], keys if keys is not None else list(model.output_names)
    )
    leaves = _leaves(graph)
    proto, tensor_of = _lower(graph, opset, output_names, model.name, optimize, leaves)
    if keys is not None:
        # Runtime returns a dict keyed by these, as the model does.
        import json

        entry = proto.metadata_props.add()
        entry.key, entry.value = OUTPUT_KEYS_METADATA, json.dumps(keys)
    if path is not None:
        path = os.fspath(os.path.expanduser(os.fspath(path)))
    weights = sum(v.data.nbytes for v in leaves[0])
    external = _validate_and_write(proto, graph, tensor_of, path, external_data_threshold, weights)
    if optimize:
        _release(graph)
    return ExportResult(
        model=proto,
        opset=opset,
        path=path,
        input_names=[i.name for i in proto.graph.input],
        output_names=output_names,
        passes=reports,
        external_data=external,
        seconds=time.perf_counter() - start,
    )


def _release(graph) -> None:
    """Unlink the values of an exported clone from its nodes (producers, uses), so that
    reference counting frees the clone when the export returns. Left as cycles, it is
    freed by the collector's first pass after ``gc_paused``, which walks all its objects
    (10 ms of a 5,000-layer export). Parameters and constants are the model's own: their
    ``uses`` never list the clone's nodes, and they are left alone."""
    for v in graph.inputs:
        v.uses = []
    for n in graph.nodes:
        for v in n.outputs:
            v.producer = None
            v.uses = []


# ---- passes ------------------------------------------------------------------------------
def _run_passes(graph) -> list:
    reports = []
    for p in export_passes():
        before = len(graph.nodes)
        t0 = time.perf_counter()
        try:
            result = p.run(graph)
        except Exception as e:
            if hasattr(e, "add_note"):
                done = ", ".join(r.name for r in reports) or "none"
                e.add_note(f"[graphc] export pass {p.name!r} failed (passes run: {done})")
            raise
        reports.append(
            PassReport(
                p.name,
                before,
                len(graph.nodes),
                bool(result.changed),
                result.reason,
                time.perf_counter() - t0,
            )
        )
    # Lint checks what the passes did. When none changed the graph, it is a copy of the
    # model's graph, which the model passes checked when the model was built (connectivity,
    # topological order; a copy's uses and producers are made anew): nothing to check.
    if any(r.changed for r in reports):
        graph.lint()
    return reports


# ---- names and shapes --------------------------------------------------------------------
#: The model property holding a dict-output model's keys, in output order (JSON).
OUTPUT_KEYS_METADATA = "graphc.output_keys"


def _output_keys(model) -> list | None:
    """A model built with ``outputs={"a": ..., "b": ...}``: its keys in output order (the
    ONNX output names), else None."""
    try:
        struct = model.output
    except Exception:  # noqa: BLE001 - a model without a structure: layer names
        return None
    if (
        isinstance(struct, dict)
        and len(struct) == len(model.outputs)
        and all(isinstance(k, str) and k for k in struct)
        and not any(isinstance(v, (dict, list, tuple)) for v in struct.values())
    ):
        return list(struct)
    return None


def _unique_output_names(input_names: list, wanted: list) -> list:
    """Output names after their layers; a repeated name (a shared layer, a layer with two
    outputs) gets ``_1``, ``_2``... and never steals a name another output or input has."""
    taken = set(input_names)
    result: list = [None] * len(wanted)
    for i, name in enumerate(wanted):
        if name not in taken:
            result[i] = name
            taken.add(name)
    reserved = taken | set(wanted)
    for i, name in enumerate(wanted):
        if result[i] is None:
            k = 1
            while f"{name}_{k}" in reserved:
                k += 1
            result[i] = f"{name}_{k}"
            reserved.add(result[i])
    return result


def _onnx_shape(name: str, shape, anonymous: bool = False) -> list:
    """graphc dims -> ONNX dims: the batch dimension ``batch``, other unknown dims
    ``<tensor>_dim_<i>`` (``None``, to be named later, with ``anonymous``), symbols kept."""
    dims = []
    for i, d in enumerate(shape):
        if d is None:
            dims.append("batch" if i == 0 else (None if anonymous else f"{name}_dim_{i}"))
        elif isinstance(d, str):
            dims.append(d)
        else:
            dims.append(int(d))
    return dims


# ---- lowering ----------------------------------------------------------------------------
def _lower(graph, opset: int, output_names: list, name: str, optimize: bool = True, leaves=None):
    """One ModelProto from the graph; returns it and ``{Value: onnx tensor name}``.
    ``leaves``: ``_leaves(graph)`` when the caller has it."""
    b = OnnxBuilder(opset).in_place()
    tensor_of: dict = {}
    for v in graph.inputs:
        tensor_of[v] = b.reserve(v.name)
    for n in output_names:
        b.reserve(n)
    params, consts = leaves if leaves is not None else _leaves(graph)
    stored = params + consts
    asarray = np.asarray
    arrays, bases = [], []
    for v in stored:
        # A weight is named by its layer path (``dense/kernel``), not by its Value name,
        # which a process counter makes unique (``dense/kernel_2`` when another model of
        # the process had a layer of that name): the same model, the same names.
        base = v.name
        if v.kind == "param":
            try:
                base = v.path
            except AttributeError:
                pass
        bases.append(base)
        arrays.append(asarray(v.data))
    names = b.fresh_names(bases)
    tensor_of.update(zip(stored, names))
    add_initializers(b, arrays, names)

    live_outputs = set(graph.outputs)
    born: dict = {}  # tensor -> where the lowering that first returned it starts in b.nodes
    emitted = b.nodes
    opset = b.opset
    new_context = object.__new__
    for node in graph.nodes:
        start = len(emitted)
        scope = node.scope
        ins = node.inputs
        outputs = node.outputs
        # lowering_context(b, in types, out types, where=layer path), spelled out: this
        # loop runs once per node of the graph. The types are made when the lowering
        # first reads them (a Gemm's does not).
        float_dtype = "float32"
        for v in ins:
            if v.dtype.startswith("float"):
                float_dtype = v.dtype
                break
        else:
            for v in outputs:
                if v.dtype.startswith("float"):
                    float_dtype = v.dtype
                    break
        ctx = new_context(NodeLoweringContext)
        ctx.__dict__.update(
            emitter=b,
            opset=opset,
            float_dtype=float_dtype,
            where=scope[0][0].name
            if len(scope) == 1
            else "/".join([layer.name for layer, _ in scope]),
            _values=(ins, outputs),
        )
        try:
            names = [tensor_of[v] for v in ins]
        except KeyError as e:
            raise ExportError(
                f"{node.where()}: reads {e.args[0].name!r}, which no earlier node produces"
            ) from None
        try:
            outs = get_op(node.op).lower(node.attrs, ctx, *names)
        except NotImplementedError as e:
            raise ExportError(f"{node.where()}: cannot be exported to ONNX: {e}") from None
        if type(outs) is str and len(outputs) == 1:  # one output (most ops)
            tensor_of[outputs[0]] = outs
            if outs not in born:
                born[outs] = start
            continue
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        if len(outs) != len(outputs):
            raise ExportError(
                f"{node.where()}: the ONNX lowering gave {len(outs)} outputs, "
                f"the op has {len(outputs)}"
            )
        for v, t in zip(outputs, outs):
            if t is not None:
                tensor_of[v] = t
                born.setdefault(t, start)
            elif v in live_outputs or graph.consumers(v):
                raise ExportError(
                    f"{node.where()}: output {v.index} ({v.name}) has no ONNX "
                    "form (it exists only in training) but the graph reads it"
                )

    # Graph outputs carry the output layers' names: rename the producing tensor when we
    # made it, otherwise (a graph input, a weight, a tensor already named) add an Identity.
    # Only the nodes from the first output's lowering on can make or read those tensors.
    starts = [born[tensor_of[v]] for v in graph.outputs if tensor_of.get(v) in born]
    first = min(starts) if starts else len(b.records)
    produced = {o for _, _, outs in b.records[first:] for o in outs}
    renames: dict = {}
    identities = []
    for v, want in zip(graph.outputs, output_names):
        t = tensor_of[v]
        if t in produced and t not in renames:
            renames[t] = want
        else:
            identities.append((t, want))
    if renames:
        for n in b.nodes[first:]:
            for j, t in enumerate(n.input):
                if t in renames:
                    n.input[j] = renames[t]
            for j, t in enumerate(n.output):
                if t in renames:
                    n.output[j] = renames[t]
        b.records[first:] = [
            (op, tuple([renames.get(t, t) for t in ins]), [renames.get(t, t) for t in outs])
            for op, ins, outs in b.records[first:]
        ]
        for v, t in tensor_of.items():  # values change, keys do not: no copy needed
            if t in renames:
                tensor_of[v] = renames[t]
    for t, want in identities:
        b.op("Identity", renames.get(t, t), out_names=[want], where=want)

    records = b.records  # the nodes (and initializers) as they are, until a sweep edits
    if optimize:
        # ONNX-level peepholes: channels-last lowerings leave inverse Transpose pairs
        # between convolutions, and weights transposed by a node can be stored transposed;
        # a BatchNormalization folds into the Conv/Gemm before it; weights re-laid out by
        # nodes are stored re-laid out; identical constants and nodes are merged (never
        # two weights of the model, even equal ones). A sweep runs only when the op types
        # it rewrites were emitted; each would otherwise read every node to find out.
        from passes.onnx.peephole import (
            FOLDABLE_OPS,
            cancel_transpose_pairs,
            fold_batch_norms,
            fold_constant_nodes,
            fold_initializer_transposes,
            merge_duplicates,
        )

        kinds = {op for op, _, _ in records}
        changed = 0
        if "Transpose" in kinds:
            b.nodes[:], n = cancel_transpose_pairs(b.nodes, output_names)
            changed += n
            b.nodes[:], n = fold_initializer_transposes(b.nodes, b.initializers, output_names)
            changed += n
        if not kinds.isdisjoint(FOLDABLE_OPS):
            b.nodes[:], n = fold_constant_nodes(b.nodes, b.initializers, output_names)
            changed += n
        if "BatchNormalization" in kinds:
            b.nodes[:], n = fold_batch_norms(b.nodes, b.initializers, output_names)
            changed += n
        # The model's weights are the first initializers (``add_initializers`` above) and
        # are never merged: only the constants after them are candidates. Nodes merge only
        # when two read the same first input.
        constants = b.initializers[len(params) :]
        firsts = [ins[0] for _, ins, _ in records if ins] if not changed else None
        if constants or firsts is None or len(set(firsts)) < len(firsts):
            b.nodes[:], n = merge_duplicates(b.nodes, constants, output_names)
            changed += n
        if changed:
            records = None
    _drop_unused(b, output_names, records)
    inputs = [value_info(tensor_of[v], v.dtype, _onnx_shape(v.name, v.shape)) for v in graph.inputs]
    out_shapes = _symbolic_output_shapes(graph)
    outputs = [
        value_info(want, v.dtype, _onnx_shape(want, shape, anonymous=True))
        for v, want, shape in zip(graph.outputs, output_names, out_shapes)
    ]
    return make_model(b, inputs, outputs, name=name), tensor_of


def _symbolic_output_shapes(graph) -> list:
    """The outputs' shapes with the inputs' unknown dims named as the exported inputs name
    them (``batch``, ``<input>_dim_<i>``) and carried through the ops' shape rules, so an
    output axis that the rules say is an input's (a sequence length through a stride-1
    "same" convolution) gets the input's symbol. Other unknown dims stay ``None``.

    Runs only when an output has an unknown dim other than the batch (a long Dense chain
    does not pay for it)."""
    shapes = [v.shape for v in graph.outputs]
    if not any(d is None for shape in shapes for d in shape[1:]):
        return shapes
    symbols: set = set()
    typed: dict = {}
    for v in graph.inputs:
        shape = tuple(_onnx_shape(v.name, v.shape))
        symbols.update(d for d in shape if isinstance(d, str))
        typed[v] = TensorType(shape, v.dtype)
    for node in graph.nodes:
        if not any(v in typed for v in node.inputs):
            continue
        try:
            out = get_op(node.op).infer(node.attrs, *[typed.get(v, v.type) for v in node.inputs])
        except Exception:  # noqa: BLE001 - a rule that needs numbers: the recorded types
            continue
        out = (out,) if isinstance(out, TensorType) else tuple(out)
        for v, t in zip(node.outputs, out):
            if len(t.shape) == len(v.shape) and any(d in symbols for d in t.shape):
                typed[v] = t
    result = []
    for v, shape in zip(graph.outputs, shapes):
        sym = typed[v].shape if v in typed else shape
        # Only where graphc does not know the number, and only the inputs' own symbols
        # (string arithmetic in a rule would make others).
        result.append(
            tuple(
                s if d is None and isinstance(s, str) and s in symbols else d
                for d, s in zip(shape, sym)
            )
        )
    return result


def _leaves(graph) -> tuple[list, list]:
    """``(graph.parameters, graph.constants)`` in one pass over the nodes."""
    seen: set = set()  # ids (Value.__hash__ is a Python call, id() is not)
    params: list = []
    consts: list = []
    for n in graph.nodes:
        for v in n.inputs:
            kind = v.kind
            if (kind == "param" or kind == "const") and id(v) not in seen:
                seen.add(id(v))
                (params if kind == "param" else consts).append(v)
    return params, consts


def _drop_unused(b, output_names, records=None) -> None:
    """Remove ONNX nodes and initializers that no output needs. A lowering emits all of
    an op's outputs (a recurrent op's sequence when only its final state is used), and
    onnxruntime would compute them anyway. ``records``: the builder's ``records`` when
    they and its ``initializer_names`` still describe the protos (else those are read)."""
    if records is None or len(records) != len(b.nodes):
        records = [(None, n.input, n.output) for n in b.nodes]
        names = [t.name for t in b.initializers]
    else:
        names = b.initializer_names
    needed = set(output_names)
    kept = []
    for node, (_, ins, outs) in zip(reversed(b.nodes), reversed(records)):
        if not needed.isdisjoint(outs):
            kept.append(node)
            needed.update(ins)
            needed.discard("")  # an omitted optional input names nothing
    b.nodes[:] = kept[::-1]
    b.initializers[:] = [t for t, name in zip(b.initializers, names) if name in needed]


# ---- validation and writing --------------------------------------------------------------
def _validate_and_write(proto, graph, tensor_of, path, threshold, weights=None) -> bool:
    """Check ``proto`` and write it to ``path``; True when it went to external data.
    ``weights``: the parameters' bytes, when the caller has counted them."""
    import onnx

    # Serialised once for the checker, shape inference and the file. The checker's
    # ``full_check`` is strict, type-checking shape inference: the call after it, which
    # also gives the types to compare, so it runs once. When the weights are far under
    # the threshold, the serialised length is the size (no separate ByteSize walk);
    # near it, ByteSize decides first, so a model going to external data is never
    # serialised whole.
    data = None
    if weights is None:
        weights = sum(v.data.nbytes for v in _leaves(graph)[0])
    if weights * 2 < threshold:
        try:
            data = proto.SerializeToString()
        except Exception:  # noqa: BLE001 - over protobuf's 2 GB: external
            data = None
    else:
        try:
            size = proto.ByteSize()
        except Exception:  # noqa: BLE001 - too big to even measure: certainly external
            size = threshold
        if size < threshold:
            data = proto.SerializeToString()
    if data is not None and len(data) < threshold:
        try:
            onnx.checker.check_model(data)
            inferred = onnx.shape_inference.infer_shapes(data, check_type=True, strict_mode=True)
        except Exception as e:  # onnx raises ValidationError / InferenceError
            raise _rejected(proto, e) from e
        _compare_shapes(graph, tensor_of, inferred)
        if _name_output_dims(proto, inferred) and path is not None:
            data = proto.SerializeToString()
        if path is not None:
            atomic_write(path, lambda f: f.write(data))
        return False
    _name_output_dims(proto, None)
    _export_external(proto, graph, tensor_of, path)
    return True


def _name_output_dims(proto, inferred) -> bool:
    """Name the outputs' unknown dims (left anonymous by ``_lower``): the input's symbol
    when ONNX's shape inference carries one through (a sequence length), so one axis has
    one symbol on inputs and outputs; else ``<output>_dim_<i>``. True when it named any."""
    symbols = {d.dim_param for vi in proto.graph.input for d in vi.type.tensor_type.shape.dim} - {
        ""
    }
    found = {}
    if inferred is not None:
        for vi in inferred.graph.output:
            found[vi.name] = [d.dim_param for d in vi.type.tensor_type.shape.dim]
    changed = False
    for vi in proto.graph.output:
        seen = found.get(vi.name, [])
        for i, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_value") or d.dim_param:
                continue
            name = seen[i] if i < len(seen) else ""
            d.dim_param = name if name in symbols else f"{vi.name}_dim_{i}"
            changed = True
    return changed


def _rejected(proto, e) -> ExportError:
    first = str(e).strip().splitlines()
    detail = " ".join(line.strip() for line in first[:3]) if first else type(e).__name__
    opset = proto.opset_import[0].version if proto.opset_import else "?"
    return ExportError(
        f"ONNX rejects the exported model {proto.graph.name!r} (opset {opset}): {detail}"
    )


def _export_external(proto, graph, tensor_of, path) -> None:
    """Write the weights to ``<name>.<sha256[:16]>.data`` and the graph to ``<name>``,
    check the pair in a temporary folder beside ``path``, then move the data file and,
    last, the graph into place.

    The graph names its data file by content, so the pair is replaced as a unit: until
    the graph's rename, readers see the old graph with the old data file; after it, the
    new graph with the new one. Data files of earlier exports to the same path that the
    new graph does not name are removed afterwards."""
    import onnx

    target = None
    if path is not None:
        target, _ = files.resolve_output(path)
        files.remove_stale_temporaries(target)
    folder = os.path.dirname(target) if target else None
    base = os.path.basename(target) if target else "model.onnx"
    tensors = [
        t
        for t in proto.graph.initializer
        if t.HasField("raw_data") and len(t.raw_data) >= _EXTERNAL_TENSOR_BYTES
    ]
    raws = [t.raw_data for t in tensors]
    digest = hashlib.sha256()
    for t, raw in zip(tensors, raws):
        digest.update(t.name.encode() + b"\0" + len(raw).to_bytes(8, "little"))
        digest.update(raw)
    location = f"{base}.{digest.hexdigest()[:16]}.data"
    old = _old_data_files(target) if target else set()
    prefix = files.temp_name_prefix(target) if target else ".graphc-export-"
    with tempfile.TemporaryDirectory(dir=folder, prefix=prefix) as tmp:
        tmp_model = os.path.join(tmp, base)
        tmp_data = os.path.join(tmp, location)
        try:
            with open(tmp_data, "wb") as f:
                offset = 0
                for t, raw in zip(tensors, raws):
                    pad = -offset % _ALIGNMENT if len(raw) >= _ALIGN_FROM else 0
                    f.write(b"\0" * pad)
                    offset += pad
                    f.write(raw)
                    t.ClearField("raw_data")
                    t.data_location = onnx.TensorProto.EXTERNAL
                    del t.external_data[:]
                    for key, value in (
                        ("location", location),
                        ("offset", str(offset)),
                        ("length", str(len(raw))),
                    ):
                        entry = t.external_data.add()
                        entry.key, entry.value = key, value
                    offset += len(raw)
                f.flush()
                os.fsync(f.fileno())
            with open(tmp_model, "wb") as f:
                f.write(proto.SerializeToString())
                f.flush()
                os.fsync(f.fileno())
        finally:
            # The caller gets the weights back in memory, whatever happened.
            for t, raw in zip(tensors, raws):
                del t.external_data[:]
                t.data_location = onnx.TensorProto.DEFAULT
                t.raw_data = raw
        inferred_path = os.path.join(tmp, "inferred.onnx")
        try:
            onnx.checker.check_model(tmp_model, full_check=True)
            onnx.shape_inference.infer_shapes_path(
                tmp_model, inferred_path, check_type=True, strict_mode=True
            )
        except Exception as e:
            raise _rejected(proto, e) from e
        _compare_shapes(graph, tensor_of, onnx.load(inferred_path, load_external_data=False))
        if target is None:
            return
        if tensors:
            files.atomic_move(tmp_data, os.path.join(folder, location))
        files.atomic_move(tmp_model, target)
    for name in old - {location}:
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


#: Initializers at least this big go to the external data file (as onnx's own default).
_EXTERNAL_TENSOR_BYTES = 1024
#: Offsets of tensors of 1 MB or more are multiples of this (mmap-friendly, as onnx's).
_ALIGNMENT = 4096
_ALIGN_FROM = 2**20


def _old_data_files(target: str) -> set:
    """Data files beside ``target`` that belong to earlier exports to it: the ones the
    current file names (when it names files ``<name>.*``), and content-addressed
    ``<name>.<16 hex>.data`` files."""
    import re

    folder, base = os.path.split(target)
    pattern = re.compile(re.escape(base) + r"\.[0-9a-f]{16}\.data")
    found = {n for n in os.listdir(folder) if pattern.fullmatch(n)}
    if os.path.isfile(target) and os.path.getsize(target) < MAX_PROTOBUF_BYTES:
        try:
            import onnx

            current = onnx.load(target, load_external_data=False)
            for t in current.graph.initializer:
                for entry in t.external_data:
                    name = entry.value
                    if (
                        entry.key == "location"
                        and os.path.basename(name) == name
                        and name.startswith(base + ".")
                        and name.endswith(".data")
                    ):
                        found.add(name)
        except Exception:  # noqa: BLE001 - an unreadable old file names nothing
            pass
    return found


def _compare_shapes(graph, tensor_of, inferred) -> None:
    """ONNX's inferred type of every tensor graphc knows must agree with graphc's: same
    element type and rank, equal where both dimensions are numbers."""
    g = inferred.graph
    known = {vi.name: vi for vi in (*g.input, *g.value_info, *g.output)}
    problems = []
    values = list(graph.inputs) + [v for n in graph.nodes for v in n.outputs]
    codes: dict = {}  # dtype -> its ONNX element type
    # The inferred types found to agree, by (ONNX type's bytes, graphc's shape, dtype): a
    # long chain's tensors share a few, checked once each. The shape by identity (the
    # values hold them; shape rules hand out shared tuples): equal dims of other types
    # (8 and 8.0) are not the same check.
    agreed: set = set()
    for v in values:
        t = tensor_of.get(v)
        vi = known.get(t) if t is not None else None
        if vi is None:
            continue
        key = (vi.type.SerializeToString(), id(v.shape), v.dtype)
        if key in agreed:
            continue
        tt = vi.type.tensor_type
        code = codes.get(v.dtype)
        if code is None:
            code = codes[v.dtype] = onnx_dtype(v.dtype)
        elem = tt.elem_type
        ok = elem == 0 or elem == code
        has_shape = tt.HasField("shape")
        if ok and has_shape:
            dims = tt.shape.dim
            ok = len(dims) == len(v.shape)
            if ok:
                for d, b in zip(dims, v.shape):
                    # dim_value reads 0 when unset (a symbol or unknown): only then ask.
                    a = d.dim_value
                    if a != b and (a or d.HasField("dim_value")):
                        ok = not isinstance(b, (int, np.integer))
                        if not ok:
                            break
        if ok:
            agreed.add(key)
            continue
        onnx_dims = None
        if has_shape:
            onnx_dims = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in tt.shape.dim
            ]
        where = v.producer.where() if v.producer is not None else "input"
        shown = (
            "?"
            if onnx_dims is None
            else format_shape(tuple(d if d is not None else None for d in onnx_dims))
        )
        problems.append(
            f"{where} -> {v.name}: graphc says {format_shape(v.shape)} "
            f"{v.dtype}, ONNX infers {shown} for tensor {t!r}"
        )
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ExportError(
            "ONNX shape inference disagrees with graphc's shapes: " + "; ".join(problems[:5]) + more
        )
