"""The model side of scale-out: what travels to a worker (a :class:`ModelRef`: the model
file's bytes and their hash, never a pickled Model), the per-process cache that loads it
once per worker, and :class:`Loaded`, one interface over a graphc Model (NumPy backend)
and an onnxruntime session that the chunk functions call.

Only public entry points are used: ``graphc.models.load_model``, ``Model.save``,
``Model.predict``/``evaluate`` and ``graphc.onnx.Runtime``.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from graphc.distributed.errors import MetricReductionError, RowShapeError, UnsupportedModelError

__all__ = [
    "ChunkState",
    "Loaded",
    "ModelRef",
    "cache_stats",
    "check_rows",
    "load",
    "merge_states",
    "model_ref",
]


# ---- what travels ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ModelRef:
    """A model as bytes: a ``.graphc`` archive or an ONNX file. ``key`` (the SHA-256 of
    the bytes) names it in each worker's cache and in Dask's graph."""

    kind: str  # "graphc" or "onnx"
    key: str
    payload: bytes = field(repr=False)
    label: str = ""  # the file or model it came from, for messages

    def __dask_tokenize__(self):
        return ("graphc-model", self.kind, self.key)

    def __repr__(self):
        return (
            f"<ModelRef {self.kind} {self.label or ''} {self.key[:12]} "
            f"({len(self.payload):,} bytes)>"
        )


def _ref(kind, payload, label):
    return ModelRef(kind, _content_hash(kind, payload), payload, label)


def _content_hash(kind, payload: bytes) -> str:
    """SHA-256 of the model's content. A ``.graphc`` archive is hashed member by member:
    the zip's own timestamps change with every save of the same model, and the same
    model must keep its name in the workers' caches."""
    h = hashlib.sha256(kind.encode())
    if kind == "graphc":
        import io
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as z:
                for name in sorted(z.namelist()):
                    h.update(name.encode() + b"\0")
                    h.update(hashlib.sha256(z.read(name)).digest())
            return h.hexdigest()
        except zipfile.BadZipFile:
            pass  # load_model will say what is wrong with the file
    h.update(payload)
    return h.hexdigest()


def model_ref(model) -> tuple[ModelRef, Loaded]:
    """``(ModelRef, Loaded)`` for ``model``: a graphc Model, a ``.graphc``, ``.keras``,
    ``.h5`` or ``.onnx`` path, or a ``graphc.onnx.Runtime`` made from a file. The Loaded
    one is the client's copy, used to check the data before any work is sent."""
    from graphc.models import Model
    from graphc.onnx import Runtime

    if isinstance(model, Model):
        with tempfile.TemporaryDirectory(prefix="graphc-dist-") as tmp:
            path = os.path.join(tmp, "model.graphc")
            try:
                model.save(path)
            except Exception as e:  # custom objects that cannot be saved, whatever kind
                raise UnsupportedModelError(
                    f"Model {model.name!r} cannot be saved to send it to the workers "
                    f"({type(e).__name__}: {e}). Register custom layers with "
                    "@graphc.saving.register_serializable(), or export the model to ONNX "
                    "and pass the .onnx file."
                ) from e
            with open(path, "rb") as f:
                payload = f.read()
        return _ref("graphc", payload, f"model {model.name!r}"), GraphcLoaded(model, owned=False)
    if isinstance(model, Runtime):
        if model.path is None:
            raise UnsupportedModelError(
                "A Runtime made from a ModelProto or bytes has no "
                "file to send; pass the .onnx path instead"
            )
        model = model.path
    if not isinstance(model, (str, os.PathLike)):
        raise UnsupportedModelError(
            f"model must be a graphc Model, a .graphc, .keras or .onnx file, received "
            f"{type(model).__name__}"
        )
    path = os.fspath(model)
    lower = path.lower().rstrip("/")
    if not lower.endswith((".graphc", ".onnx", ".keras", ".h5")):
        raise UnsupportedModelError(
            f"{path}: expected a .graphc, .keras, .h5 or .onnx model file (or a graphc Model)"
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such model file: {path}")
    if lower.endswith((".keras", ".h5")):
        # Keras's files: read here, sent to the workers as the model they describe.
        from graphc.models import load_model

        return model_ref(load_model(path))
    with open(path, "rb") as f:
        payload = f.read()
    if lower.endswith(".onnx"):
        _refuse_external_data(path)
        ref = _ref("onnx", payload, path)
    else:
        ref = _ref("graphc", payload, path)
    return ref, load(ref)


def _refuse_external_data(path):
    import onnx

    proto = onnx.load(path, load_external_data=False)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise UnsupportedModelError(
            f"{path} keeps its weights in external data files, which do not travel with "
            "it to the workers; export the model as one file (graphc writes one file "
            "below 2 GB)."
        )


# ---- loading, once per process ---------------------------------------------------------
_CACHE: OrderedDict[str, Loaded] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4  # models kept per worker process (least recently used goes first)
_LOADS = {"loads": 0, "hits": 0}


def load(ref: ModelRef | Loaded) -> Loaded:
    """The model ``ref`` names, loaded once per process and reused (a worker scoring a
    thousand chunks deserialises the model once)."""
    if isinstance(ref, Loaded):
        return ref
    with _CACHE_LOCK:
        hit = _CACHE.get(ref.key)
        if hit is not None:
            _CACHE.move_to_end(ref.key)
            _LOADS["hits"] += 1
            return hit
        loaded = _load_payload(ref)
        _CACHE[ref.key] = loaded
        _LOADS["loads"] += 1
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return loaded


def cache_stats() -> dict:
    """``{"pid", "loads", "hits", "models"}`` of this process's model cache (the tests ask
    each worker: one load per model, however many chunks)."""
    with _CACHE_LOCK:
        return {"pid": os.getpid(), **_LOADS, "models": list(_CACHE)}


def _load_payload(ref: ModelRef) -> Loaded:
    if ref.kind == "onnx":
        from graphc.onnx import Runtime

        return OnnxLoaded(Runtime(ref.payload), ref.label)
    from graphc.models import load_model

    # load_model reads a path: the bytes go to a private temporary file for the call.
    fd, path = tempfile.mkstemp(suffix=".graphc", prefix="graphc-dist-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(ref.payload)
        model = load_model(path)
    finally:
        os.unlink(path)
    return GraphcLoaded(model, ref.label)


# ---- one interface over both backends --------------------------------------------------
@dataclass
class Port:
    name: str
    row_shape: tuple  # per-row dims, None where any size goes
    dtype: np.dtype | str  # "string" for a TextVectorization input

    def describe(self) -> str:
        dims = ", ".join("None" if d is None else str(d) for d in self.row_shape)
        return f"({dims}{',' if len(self.row_shape) == 1 else ''}) {self.dtype}"


class Loaded:
    """A model ready to run on chunks: ``inputs`` (Ports), ``output_names``,
    ``predict(xs, batch_size)`` (arrays in output order) and ``evaluate_chunk``."""

    kind = ""
    owned = True  # False: the caller's own Model object (never compiled or changed)
    inputs: list
    output_names: list
    label: str

    @property
    def input_names(self):
        return [p.name for p in self.inputs]

    def predict(self, xs: list, batch_size) -> list:
        raise NotImplementedError

    def evaluate_chunk(self, xs, ys, sw, batch_size, spec) -> ChunkState:
        raise NotImplementedError

    def probe_outputs(self, row_shapes: list) -> list:
        """``(row shape, dtype)`` of each output for inputs whose rows have
        ``row_shapes``: one row of zeros through the model, on the client, so a Dask
        array can be declared before any chunk is computed."""
        xs = []
        for port, shape in zip(self.inputs, row_shapes):
            if port.dtype == "string":
                xs.append(np.full((1, *shape), "", dtype="U1"))
            else:
                xs.append(np.zeros((1, *shape), dtype=port.dtype))
        with np.errstate(all="ignore"):
            outs = self.predict(xs, None)
        return [(tuple(o.shape[1:]), o.dtype) for o in outs]


class GraphcLoaded(Loaded):
    kind = "graphc"

    def __init__(self, model, label="", owned=True):
        self.model = model
        self.owned = owned
        self.label = label or f"model {model.name!r}"
        # A graphc model is not safe to run from two threads at once (its executor and
        # metrics hold state): a worker with several threads runs it one chunk at a time.
        self.lock = threading.RLock()
        self.inputs = [
            Port(v.name, tuple(v.shape[1:]), "string" if v.dtype == "string" else np.dtype(v.dtype))
            for v in model.inputs
        ]
        self.output_names = list(model.output_names)
        self.name = model.name
        self._compiled_for = None

    def _x(self, xs):
        return xs[0] if len(xs) == 1 else list(xs)

    def _in_output_order(self, struct) -> list:
        # predict returns the structure of model.output (a tensor, list or dict); walk
        # both together and put each array at its output's position.
        order = {id(v): i for i, v in enumerate(self.model.outputs)}
        found = [None] * len(order)

        def walk(spec, got):
            if isinstance(spec, dict):
                for k, v in spec.items():
                    walk(v, got[k])
            elif isinstance(spec, (list, tuple)):
                for v, g in zip(spec, got):
                    walk(v, g)
            else:
                found[order[id(spec)]] = np.asarray(got)

        walk(self.model.output, struct)
        return found

    def predict(self, xs, batch_size):
        with self.lock:
            out = self.model.predict(self._x(xs), batch_size=batch_size, verbose=0)
            return self._in_output_order(out)

    def compile_for(self, spec):
        """Compile the (worker's own copy of the) model with an explicit ``loss``/
        ``metrics``/``loss_weights``, once per spec; ``None``: its own settings."""
        loss, metrics, loss_weights = spec
        if loss is None:
            if metrics is not None or loss_weights is not None:
                raise ValueError(
                    "metrics= and loss_weights= need loss= too (or leave all "
                    "three out to use the model's own compile settings)"
                )
            if self.model.optimizer is None:
                raise ValueError(
                    f"{self.label} has no compile settings to evaluate with (it was never "
                    "compiled, or compiled with loss or metric objects that a .graphc file "
                    "does not keep): pass loss= (and metrics=)"
                )
            return
        token = repr(spec)
        if self._compiled_for != token:
            self.model.compile(
                optimizer="sgd", loss=loss, metrics=metrics, loss_weights=loss_weights
            )
            self._compiled_for = token

    def evaluate_chunk(self, xs, ys, sw, batch_size, spec):
        with self.lock:
            self.compile_for(spec)
            rows = int(xs[0].shape[0])
            y = (
                ys[0]
                if len(ys) == 1
                else {n: t for n, t in zip(self.output_names, ys) if t is not None}
            )
            logs = self.model.evaluate(
                self._x(xs), y, batch_size=batch_size, verbose=0, sample_weight=sw, return_dict=True
            )
            # Model.evaluate's loss is the row-weighted mean of its batches' losses; its
            # metrics keep (total, count) sums. The chunk hands back sums: each loss
            # times the rows, and the metric objects themselves (their state), so that
            # chunks add up to the single-process numbers exactly (not a mean of means).
            # The metric objects are the trainer's: Model has no public accessor yet.
            compiled = self.model._compiled
            metrics = {key: copy.deepcopy(m) for key, m, _, _ in compiled.metrics or []}
            loss_keys = {"loss", *(k for k in compiled.loss_keys if k)}
            losses = {k: float(v) * rows for k, v in logs.items() if k in loss_keys}
            order = list(logs)  # sorted, as Model.evaluate's logs are
            return ChunkState(rows, losses, metrics, order)


class OnnxLoaded(Loaded):
    kind = "onnx"

    def __init__(self, runtime, label=""):
        self.runtime = runtime
        self.label = label or (runtime.path or "the ONNX model")
        self.inputs = [
            Port(
                p.name,
                tuple(d if isinstance(d, int) else None for d in (p.shape or ())[1:]),
                p.dtype,
            )
            for p in runtime.inputs
        ]
        self.output_names = list(runtime.output_names)
        self.name = os.path.basename(self.label)
        # onnxruntime sessions may be run from several threads; evaluate builds fresh
        # metrics per call.
        self.lock = None

    def predict(self, xs, batch_size):
        feeds = dict(zip(self.input_names, xs))
        return self.runtime.predict_list(feeds, batch_size=batch_size)

    def evaluate_chunk(self, xs, ys, sw, batch_size, spec):
        # Runtime.evaluate's rules (per-output losses, loss_weights, sample weights on the
        # losses only), per chunk, as sums.
        loss, metrics, loss_weights = spec
        if loss is None:
            raise ValueError(
                "evaluating an ONNX model needs loss= (the file holds no "
                'compile settings), e.g. loss="sparse_categorical_crossentropy"'
            )
        rows = int(xs[0].shape[0])
        targets = {n: y for n, y in zip(self.output_names, ys) if y is not None}
        losses, found = self.runtime.evaluate_parts(
            dict(zip(self.input_names, xs)),
            targets,
            loss=loss,
            metrics=metrics,
            batch_size=batch_size,
            sample_weight=sw,
            loss_weights=loss_weights,
        )
        sums = {k: v * rows for k, v in losses.items()}
        return ChunkState(rows, sums, found, [*sums, *found])


# ---- exact reduction -------------------------------------------------------------------
@dataclass
class ChunkState:
    """What one chunk's evaluation hands back: its row count, each loss summed over its
    rows, and each metric with its state (``total``/``count`` sums)."""

    rows: int
    losses: dict
    metrics: dict
    order: list


def _merge_metric(key, ms):
    from graphc.metrics import Mean, Sum

    first = ms[0]
    if hasattr(first, "merge_state"):
        merged = copy.deepcopy(first)
        merged.merge_state(ms[1:])
        return merged
    merged = copy.copy(first)
    # math.fsum: the exact sum of the chunks' floats, whatever their order.
    if isinstance(first, Mean):
        merged.total = math.fsum(m.total for m in ms)
        merged.count = math.fsum(m.count for m in ms)
    elif isinstance(first, Sum):
        merged.total = math.fsum(m.total for m in ms)
    else:
        raise MetricReductionError(
            f"Metric {key!r} ({type(first).__name__}) keeps a state graphc cannot add up "
            "across chunks: give it a merge_state(others) method that folds the other "
            "chunks' metric objects into this one, or derive it from graphc.metrics.Mean "
            "or Sum (whose total and count add up)."
        )
    return merged


def merge_states(states: list) -> dict:
    """The chunks' losses and metrics reduced exactly: each loss is the sum over all rows
    divided by the total row count, each metric's result comes from its summed state."""
    if not states:
        raise ValueError("Nothing to evaluate: the data has no rows")
    rows = sum(s.rows for s in states)
    out = {}
    for key in states[0].order:
        if key in states[0].losses:
            out[key] = math.fsum(s.losses[key] for s in states) / rows
        elif key in states[0].metrics:
            out[key] = float(_merge_metric(key, [s.metrics[key] for s in states]).result())
    return out


# ---- checking the data against the model, on the client --------------------------------
def _fmt(shape) -> str:
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def check_rows(loaded: Loaded, shapes: dict, dtypes: dict, labels: dict) -> int:
    """Check that every input's rows fit the model (rank, fixed dims, kind of dtype) and
    that all inputs have the same number of rows; return that number. ``shapes``,
    ``dtypes`` and ``labels`` (where the data comes from) are keyed by input name.
    Raises one :class:`RowShapeError` naming the input, the shape each row must have,
    what the data has and how to fix it."""
    for port in loaded.inputs:
        shape, dtype = tuple(shapes[port.name]), np.dtype(dtypes[port.name])
        where = labels.get(port.name) or "the data"
        if not shape:
            raise RowShapeError(
                f"Input {port.name!r} of {loaded.label}: {where} is a scalar; "
                f"expected rows of shape {_fmt(port.row_shape)}"
            )
        row = shape[1:]
        fits = len(row) == len(port.row_shape) and all(
            d is None or d == r for d, r in zip(port.row_shape, row)
        )
        if not fits:
            raise RowShapeError(
                f"Input {port.name!r} of {loaded.label}: each row must have shape "
                f"{_fmt(port.row_shape)}, but {where} has rows of shape {_fmt(row)} (array "
                f"shape {_fmt(shape)}). Pass the features the model was built for"
                + (
                    ", reshaped to rows of that shape"
                    if int(np.prod(row or (1,)))
                    == int(np.prod([d or 0 for d in port.row_shape] or [1]))
                    else ""
                )
                + "."
            )
        want = port.dtype
        if want == "string":
            ok = dtype.kind in "USO"
        elif np.dtype(want).kind == "b":
            ok = dtype.kind == "b"
        elif np.dtype(want).kind in "iu":
            ok = dtype.kind in "biu"
        else:
            ok = dtype.kind in "biuf"
        if not ok:
            raise RowShapeError(
                f"Input {port.name!r} of {loaded.label} expects {want} data; "
                f"{where} holds {dtype}. Convert it before scoring."
            )
    counts = {p.name: int(shapes[p.name][0]) for p in loaded.inputs}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{k} has {v}" for k, v in counts.items())
        raise RowShapeError(f"All inputs must have the same number of rows: {shown}")
    return next(iter(counts.values()))


def check_target_rows(n: int, shapes: dict, labels: dict, what="target"):
    for name, shape in shapes.items():
        if shape is None:
            continue
        if not shape or int(shape[0]) != n:
            got = "a scalar" if not shape else f"{shape[0]} rows"
            raise RowShapeError(
                f"The {what} for {name!r} ({labels.get(name) or 'data'}) has "
                f"{got}; the inputs have {n}. Pass one {what} row per "
                "input row."
            )


def dry_run(local: Loaded, ref: ModelRef, row_shapes, target_specs, weight_shape, batch_size, spec):
    """Evaluate one row of zeros shaped like the data, on the client: a target of the
    wrong shape, a loss that does not fit the outputs or a model without compile settings
    fails here, once, before any task is sent. ``target_specs``: ``(row shape, dtype)``
    or None per output; ``weight_shape``: the sample weights' row shape or None."""
    xs = [
        np.zeros((1, *shape), dtype=p.dtype if p.dtype != "string" else "U1")
        for p, shape in zip(local.inputs, row_shapes)
    ]
    ys = [None if t is None else np.zeros((1, *t[0]), dtype=t[1]) for t in target_specs]
    sw = None if weight_shape is None else np.ones((1, *weight_shape), dtype=np.float32)
    # Never the caller's own Model: compiling it with loss= would replace its optimizer.
    model = local if local.owned else load(ref)
    with np.errstate(all="ignore"):
        model.evaluate_chunk(xs, ys, sw, batch_size, spec)
