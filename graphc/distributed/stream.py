"""Chunk by chunk over files, in order: what ``graphc run``/``graphc eval`` do with
``--chunk-rows`` (one machine, bounded memory, no Dask needed) or ``--scheduler`` (each
chunk a task on a Dask cluster, at most a few in flight, results written in order).

Memory stays at about one chunk of input and output (times the chunks in flight), plus
the model: an input ten times larger than a chunk costs no more than one chunk.

>>> stream_predict("digits.onnx", "x.npy", out="probs.npz", chunk_rows=65536)
{'digit': ((1000000, 10), dtype('float32'))}
>>> stream_evaluate("digits.onnx", "test.npz", loss="sparse_categorical_crossentropy",
...                 metrics=["accuracy"], chunk_rows=65536)
{'loss': 0.11, 'accuracy': 0.97}
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from graphc.distributed import inputs as _inputs
from graphc.distributed.arrays import RowSource, open_file
from graphc.distributed.errors import DATA_LOSS_RETRIES, data_lost_error
from graphc.distributed.models import (
    check_rows,
    check_target_rows,
    dry_run,
    load,
    merge_states,
    model_ref,
)

__all__ = [
    "NpzWriter",
    "evaluate_rows",
    "predict_rows",
    "stream_evaluate",
    "stream_predict",
]


def _read(src, start, stop):
    if isinstance(src, RowSource):
        return src.read(start, stop)
    return np.asarray(src[start:stop])


# ---- the tasks -------------------------------------------------------------------------
def predict_rows(ref, sources, start, stop, batch_size):
    """Rows ``[start, stop)`` of the inputs, read where this runs, through the model."""
    xs = [_read(s, start, stop) for s in sources]
    return load(ref).predict(xs, batch_size)


def evaluate_rows(ref, sources, targets, weights, start, stop, batch_size, spec):
    xs = [_read(s, start, stop) for s in sources]
    ys = [None if t is None else _read(t, start, stop) for t in targets]
    sw = None if weights is None else _read(weights, start, stop)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return load(ref).evaluate_chunk(xs, ys, sw, batch_size, spec)


# ---- running the chunks, in order ------------------------------------------------------
def _ranges(n, step):
    return [(a, min(n, a + step)) for a in range(0, n, step)]


def _run_local(fn, model, args_list):
    for args in args_list:
        yield fn(model, *args)


def _run_on(client, fn, ref, args_list, name):
    """Submit one task per chunk with a bounded number in flight (twice the cluster's
    threads), yielding results in chunk order; each result is released once read. If
    the cluster loses the scattered model with a killed worker (the chunks in flight are
    cancelled), the model is scattered again and those chunks resubmitted, under new
    keys."""
    from dask.base import tokenize

    Lost = data_lost_error()
    shared = client.scatter(ref, broadcast=True, hash=True)
    window = max(2, 2 * sum(client.nthreads().values()))
    pending: list = []  # (index, args, future), in chunk order
    it = iter(enumerate(args_list))
    token = tokenize(ref, name)
    losses = 0

    def submit(i, args):
        # A new key after each loss: a key the client still knows as cancelled would
        # come back cancelled.
        key = f"graphc-{name}-{token}-{tokenize(args)}-{i}-{losses}"
        return (i, args, client.submit(fn, shared, *args, pure=True, key=key))

    def submit_next():
        nxt = next(it, None)
        if nxt is not None:
            pending.append(submit(*nxt))

    for _ in range(window):
        submit_next()
    while pending:
        i, args, fut = pending[0]
        try:
            result = fut.result()
        except Lost:
            losses += 1
            if losses > DATA_LOSS_RETRIES:
                raise
            shared = client.scatter(ref, broadcast=True, hash=True)
            pending[:] = [submit(j, a) for j, a, _ in pending]
            continue
        pending.pop(0)
        fut.release()
        submit_next()
        yield result


def _connect(client):
    if client is None or not isinstance(client, str):
        return client, False
    from graphc.distributed.errors import require_dask

    _, _, distributed = require_dask("--scheduler")
    try:
        return distributed.Client(client, timeout="10s"), True
    except (OSError, TimeoutError) as e:
        raise OSError(
            f"Cannot reach the Dask scheduler at {client}: {e}. Start one with "
            "`dask scheduler` (and workers with `dask worker ADDRESS`), or leave "
            "out --scheduler to run on this machine"
        ) from e


# ---- output: an .npz written a chunk at a time -----------------------------------------
class NpzWriter:
    """An ``.npz`` archive (what ``np.load`` reads) written a chunk of rows at a time:
    each array goes to its own temporary ``.npy`` beside the target, then all are stored
    (uncompressed, as ``np.savez``) into the archive, which replaces ``path`` atomically."""

    def __init__(self, path: str, specs: dict, rows: int):
        self.path = path if path.endswith(".npz") else path + ".npz"
        folder = os.path.dirname(os.path.abspath(self.path))
        self.tmpdir = tempfile.mkdtemp(prefix=".graphc-out-", dir=folder)
        self.files, self.written, self.rows = {}, 0, rows
        self.specs = specs
        for name, (shape, dtype) in specs.items():
            f = open(os.path.join(self.tmpdir, f"{len(self.files)}.npy"), "wb")
            np.lib.format.write_array_header_2_0(
                f,
                {
                    "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                    "fortran_order": False,
                    "shape": (rows, *shape),
                },
            )
            self.files[name] = f

    def write(self, outs: list):
        n = None
        for (name, (shape, dtype)), arr in zip(self.specs.items(), outs):
            arr = np.ascontiguousarray(arr, dtype=dtype)
            if tuple(arr.shape[1:]) != tuple(shape):
                raise ValueError(
                    f"Output {name!r}: a chunk has rows of shape "
                    f"{arr.shape[1:]}, the first had {shape}"
                )
            self.files[name].write(memoryview(arr.reshape(-1).view(np.uint8)))
            n = arr.shape[0]
        self.written += n or 0

    def close(self) -> str:
        import shutil
        import zipfile

        try:
            for f in self.files.values():
                f.close()
            if self.written != self.rows:
                raise ValueError(f"wrote {self.written} rows of outputs, expected {self.rows}")
            tmp_zip = os.path.join(self.tmpdir, "out.npz")
            with zipfile.ZipFile(
                tmp_zip, "w", compression=zipfile.ZIP_STORED, allowZip64=True
            ) as z:
                for name, f in self.files.items():
                    z.write(f.name, arcname=f"{name}.npy")
            os.replace(tmp_zip, self.path)
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return self.path

    def abort(self):
        import shutil

        for f in self.files.values():
            f.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


# ---- the two entry points --------------------------------------------------------------
def _prepare(model, data, batch_size, chunk_rows):
    ref, local = model_ref(model)
    if batch_size is None and local.kind == "graphc":
        batch_size = 32  # Model.predict's default: chunks stay whole batches of it
    sources = _inputs.by_name(data, local.input_names)
    shapes = {k: _inputs.shape_of(v) for k, v in sources.items()}
    rows = check_rows(
        local,
        shapes,
        {k: _inputs.dtype_of(v) for k, v in sources.items()},
        {k: _inputs.label_of(v) for k, v in sources.items()},
    )
    row_shapes = [shapes[n][1:] for n in local.input_names]
    chunk = _inputs.chunk_rows_for(list(sources.values()), chunk_rows, batch_size)
    return (
        ref,
        local,
        [sources[n] for n in local.input_names],
        rows,
        row_shapes,
        chunk,
        batch_size,
    )


def stream_predict(
    model, data, out=None, batch_size=32, chunk_rows=None, client=None, on_chunk=None
) -> dict:
    """Predict ``data`` (a path, an array or a list/dict of them) chunk by chunk, in row
    order, writing the outputs to the ``.npz`` archive ``out`` as they come (keyed by
    output names). ``client``: a ``dask.distributed.Client`` or a scheduler address
    (each chunk a task there; the input paths must be readable by the workers), else
    this process computes. ``on_chunk(start, stop, outputs)`` sees every chunk.
    Returns ``{output name: (shape, dtype)}`` and, with ``out``, ``"path"``."""
    batch_size = _inputs.check_batch_size(batch_size) if batch_size is not None else None
    ref, local, sources, rows, row_shapes, chunk, batch_size = _prepare(
        model, data, batch_size, chunk_rows
    )
    specs = dict(zip(local.output_names, local.probe_outputs(row_shapes)))
    writer = NpzWriter(out, specs, rows) if out else None
    client, owned = _connect(client)
    args = [(sources, a, b, batch_size) for a, b in _ranges(rows, chunk)]
    try:
        results = (
            _run_local(predict_rows, local, args)
            if client is None
            else _run_on(client, predict_rows, ref, args, "stream-predict")
        )
        for (a, b), outs in zip(_ranges(rows, chunk), results):
            if writer is not None:
                writer.write(outs)
            if on_chunk is not None:
                on_chunk(a, b, outs)
        summary = {
            name: ((rows, *shape), np.dtype(dtype)) for name, (shape, dtype) in specs.items()
        }
        if writer is not None:
            summary["path"] = writer.close()
            writer = None
        return summary
    finally:
        if writer is not None:
            writer.abort()
        if owned:
            client.close()


def stream_evaluate(
    model,
    data,
    y=None,
    sample_weight=None,
    batch_size=32,
    chunk_rows=None,
    loss=None,
    metrics=None,
    loss_weights=None,
    client=None,
) -> dict:
    """Evaluate chunk by chunk (see ``stream_predict`` for ``data`` and ``client``),
    reducing the chunks' sums exactly, as ``graphc.distributed.evaluate`` does. With
    ``y=None``, ``data`` is an ``.npz`` archive or Zarr group holding the inputs and the
    targets (``y``, or named after the outputs) and, if present, ``sample_weight``."""
    batch_size = _inputs.check_batch_size(batch_size) if batch_size is not None else None
    ref, local, sources, rows, row_shapes, chunk, batch_size = _prepare(
        model, data, batch_size, chunk_rows
    )
    names = local.output_names
    found = None
    if y is None:
        found = open_file(data) if isinstance(data, (str, os.PathLike)) else {}
        if len(found) < 2:
            raise ValueError(
                "evaluate needs targets: pass y=, or data as an .npz archive "
                "holding x and y (or arrays named after the inputs and "
                "outputs)"
            )
        targets = _inputs.by_name(data, names, "outputs", default_key="y", allow_missing=True)
        if sample_weight is None and "sample_weight" in found:
            sample_weight = found["sample_weight"]
    else:
        targets = _inputs.by_name(y, names, "outputs", default_key="y", allow_missing=True)
    if all(t is None for t in targets.values()):
        raise ValueError(f"No targets for any of the outputs {names}")
    check_target_rows(
        rows,
        {k: None if v is None else _inputs.shape_of(v) for k, v in targets.items()},
        {k: None if v is None else _inputs.label_of(v) for k, v in targets.items()},
    )
    weights = None
    if sample_weight is not None:
        weights = _inputs.by_name(sample_weight, ["sample_weight"], "sample weights")[
            "sample_weight"
        ]
        check_target_rows(
            rows,
            {"sample_weight": _inputs.shape_of(weights)},
            {"sample_weight": _inputs.label_of(weights)},
            "sample weight",
        )
    spec = (loss, metrics, loss_weights)
    dry_run(
        local,
        ref,
        row_shapes,
        [
            None
            if targets[n] is None
            else (_inputs.shape_of(targets[n])[1:], _inputs.dtype_of(targets[n]))
            for n in names
        ],
        None if weights is None else _inputs.shape_of(weights)[1:],
        batch_size,
        spec,
    )
    target_list = [targets[n] for n in names]
    args = [
        (sources, target_list, weights, a, b, batch_size, spec) for a, b in _ranges(rows, chunk)
    ]
    client, owned = _connect(client)
    try:
        if client is None:
            model_here = local if local.owned else load(ref)
            states = list(_run_local(evaluate_rows, model_here, args))
        else:
            states = list(_run_on(client, evaluate_rows, ref, args, "stream-evaluate"))
    finally:
        if owned:
            client.close()
    return merge_states(states)
