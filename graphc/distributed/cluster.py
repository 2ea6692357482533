"""``predict`` and ``evaluate`` on Dask: the model travels once per worker, the data in
chunks of whole rows.

How a call runs:

1. On the client: the model is turned into bytes (a ``.graphc`` archive or the ONNX
   file) and loaded once locally to learn its inputs and outputs; the data's row shapes
   are checked against them (one :class:`RowShapeError` before anything is sent); the
   outputs' row shapes come from one row of zeros through the local copy.
2. The bytes are scattered to every worker (``client.scatter(..., broadcast=True)``):
   each worker loads them once into its per-process cache and reuses the model for every
   chunk it scores.
3. Each chunk is a pure task (its key depends only on the model's hash, the data and the
   settings), so a task lost with its worker is recomputed by Dask elsewhere, once.
"""

from __future__ import annotations

import numpy as np

from graphc.distributed import inputs as _inputs
from graphc.distributed.arrays import RowSource
from graphc.distributed.errors import require_dask
from graphc.distributed.models import (
    ChunkState,
    check_rows,
    check_target_rows,
    dry_run,
    load,
    merge_states,
    model_ref,
)

__all__ = ["evaluate", "evaluate_chunk", "get_client", "predict", "predict_chunk"]


# ---- the tasks (run on the workers) ----------------------------------------------------
def predict_chunk(ref, xs, batch_size):
    """One chunk's outputs (a list in output order), with the worker's cached model."""
    return load(ref).predict([np.asarray(x) for x in xs], batch_size)


def evaluate_chunk(ref, xs, ys, sw, batch_size, spec) -> ChunkState:
    """One chunk's loss sums and metric states."""
    xs = [np.asarray(x) for x in xs]
    ys = [None if y is None else np.asarray(y) for y in ys]
    sw = None if sw is None else np.asarray(sw)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return load(ref).evaluate_chunk(xs, ys, sw, batch_size, spec)


def _pick(outs, i):
    return outs[i]


# ---- the client side -------------------------------------------------------------------
def get_client(client=None):
    """``client``, or the ``dask.distributed`` client of this process if there is one,
    else None (then Dask's local threads compute)."""
    if client is not None:
        return client
    _, _, distributed = require_dask()
    try:
        return distributed.get_client()
    except ValueError:
        return None


def _to_dask(a, rows_per_chunk, da, client=None):
    """A Dask array chunked on rows only, ``rows_per_chunk`` rows per chunk. A file
    becomes tasks that read their rows where they run (only the path travels); a NumPy
    array in this process is scattered to the workers chunk by chunk (straight to them,
    not through the scheduler inside the graph)."""
    from dask.base import tokenize

    chunks = (rows_per_chunk,) + tuple(-1 for _ in a.shape[1:])
    if isinstance(a, RowSource):
        meta = np.empty((0,) * a.ndim, dtype=a.dtype)
        return da.from_array(
            a,
            chunks=chunks,
            name=f"graphc-rows-{tokenize(a)}",
            lock=False,
            asarray=True,
            fancy=False,
            meta=meta,
        )
    if isinstance(a, np.ndarray):
        if client is None:
            return da.from_array(a, chunks=chunks)
        parts = [a[i : i + rows_per_chunk] for i in range(0, a.shape[0], rows_per_chunk)]
        futures = client.scatter(parts, hash=True)
        return da.concatenate(
            [da.from_delayed(f, shape=p.shape, dtype=p.dtype) for f, p in zip(futures, parts)],
            axis=0,
        )
    return a.rechunk(chunks)


class _Plan:
    """The checked inputs (and targets) of a call as Dask arrays with the same row
    chunks, and the model's reference as the workers will receive it."""

    def __init__(self, model, data, batch_size, chunk_rows, client):
        dask, da, _ = require_dask()
        self.dask, self.da = dask, da
        self.ref, self.local = model_ref(model)
        if batch_size is None and self.local.kind == "graphc":
            batch_size = 32  # Model.predict's default: chunks stay whole batches of it
        self.batch_size = batch_size
        self.arrays = _inputs.by_name(data, self.local.input_names)
        shapes = {k: _inputs.shape_of(v) for k, v in self.arrays.items()}
        self.rows = check_rows(
            self.local,
            shapes,
            {k: _inputs.dtype_of(v) for k, v in self.arrays.items()},
            {k: _inputs.label_of(v) for k, v in self.arrays.items()},
        )
        if self.rows == 0:
            raise _empty(self.local)
        self.row_shapes = [shapes[n][1:] for n in self.local.input_names]
        self.chunk_rows = _inputs.chunk_rows_for(list(self.arrays.values()), chunk_rows, batch_size)
        self.client = get_client(client)

    def dask_inputs(self):
        return [
            _to_dask(self.arrays[n], self.chunk_rows, self.da, self.client)
            for n in self.local.input_names
        ]

    def aligned(self, a):
        return None if a is None else _to_dask(a, self.chunk_rows, self.da, self.client)

    def ref_node(self):
        """What the tasks receive as the model: a future of the bytes broadcast to every
        worker (moved once per worker), or the reference itself with no cluster."""
        if self.client is None:
            return self.ref
        return self.client.scatter(self.ref, broadcast=True, hash=True)

    def blocks(self, arr):
        """The row blocks of a row-chunked array as Delayed objects."""
        return list(arr.to_delayed().reshape(-1))


def _empty(local):
    from graphc.distributed.errors import RowShapeError

    return RowShapeError(f"The data for {local.label} has no rows: nothing to do")


def predict(model, data, batch_size=32, chunk_rows=None, client=None):
    """Score ``data`` with ``model`` on a Dask cluster; returns Dask arrays (lazy).

    - ``model``: a graphc ``Model``, a ``.graphc`` file or an ``.onnx`` file (run in
      onnxruntime). Each worker loads it once and reuses it for all its chunks.
    - ``data``: a Dask or NumPy array, a path to an ``.npy`` file, an ``.npz`` archive or
      a Zarr store (read lazily, a chunk at a time, by the workers: the path must be
      readable there), or a list/dict of those for a model with several inputs.
    - ``batch_size``: rows per forward pass inside a chunk (``None``: a whole chunk at
      once, for an ONNX model).
    - ``chunk_rows``: rows per task (default: the Dask array's row chunks, else about
      32 MiB of input), rounded down to a multiple of ``batch_size`` so the batches are
      the single-process ones and the predictions equal its, bit for bit.
    - ``client``: a ``dask.distributed.Client`` (default: the current one; without any,
      Dask's local threads).

    Returns one Dask array for a one-output model, else a dict keyed by the model's
    output names (compute them together, ``dask.compute(*out.values())``, so that each
    chunk runs once). Rows that do not fit the model raise ``RowShapeError`` here,
    before any task exists::

        probs = graphc.distributed.predict("digits.onnx", "x.npy", client=client)
        probs.to_zarr("probs.zarr")         # or probs.compute()
    """
    require_dask("graphc.distributed.predict")
    from dask.base import tokenize

    batch_size = _inputs.check_batch_size(batch_size) if batch_size is not None else None
    plan = _Plan(model, data, batch_size, chunk_rows, client)
    dask, da = plan.dask, plan.da
    out_specs = plan.local.probe_outputs(plan.row_shapes)
    xs = plan.dask_inputs()
    ref = plan.ref_node()
    token = tokenize(plan.ref, [x.name for x in xs], plan.batch_size)
    per_input = [plan.blocks(x) for x in xs]
    sizes = xs[0].chunks[0]
    pieces = [[] for _ in out_specs]
    for i, rows in enumerate(sizes):
        task = dask.delayed(predict_chunk, pure=True)(
            ref,
            [blocks[i] for blocks in per_input],
            plan.batch_size,
            dask_key_name=f"graphc-predict-{token}-{i}",
        )
        for j, (shape, dtype) in enumerate(out_specs):
            part = dask.delayed(_pick, pure=True)(
                task, j, dask_key_name=f"graphc-output-{j}-{token}-{i}"
            )
            pieces[j].append(da.from_delayed(part, shape=(rows, *shape), dtype=dtype))
    outs = [da.concatenate(p, axis=0) for p in pieces]
    names = plan.local.output_names
    return outs[0] if len(outs) == 1 else dict(zip(names, outs))


def evaluate(
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
    """Loss and metrics of ``model`` on ``(data, y)`` computed on a Dask cluster, equal to
    a single-process evaluation of the same data (within float rounding).

    Each chunk hands back sums (each loss times its rows; each metric's ``total`` and
    ``count``), added exactly on the client (``math.fsum``): not a mean of means. For a
    graphc model the chunks are whole multiples of ``batch_size`` and each is evaluated
    by ``Model.evaluate``, so the result is ``Model.evaluate(..., return_dict=True)``'s,
    regularization penalties and output masks included. ``loss``/``metrics``/
    ``loss_weights`` default to the model's own compile settings (required for an ONNX
    file, which has none). ``y``/``sample_weight`` take the forms ``data`` takes (a dict
    or list for several outputs); ``y`` may be ``None`` when ``data`` is an ``.npz``
    archive or Zarr group that holds the targets as ``y`` (or named after the outputs).

    Returns ``{"loss": ..., <metric>: ..., <output>_loss: ...}``::

        graphc.distributed.evaluate("digits.graphc", "test.npz", client=client)
    """
    require_dask("graphc.distributed.evaluate")
    from dask.base import tokenize

    batch_size = _inputs.check_batch_size(batch_size) if batch_size is not None else None
    plan = _Plan(model, data, batch_size, chunk_rows, client)
    dask = plan.dask
    spec = (loss, metrics, loss_weights)
    targets = _targets(plan, data, y)
    weights = None
    if sample_weight is not None:
        weights = _inputs.by_name(sample_weight, ["sample_weight"], "sample weights")[
            "sample_weight"
        ]
        check_target_rows(
            plan.rows,
            {"sample_weight": _inputs.shape_of(weights)},
            {"sample_weight": _inputs.label_of(weights)},
            "sample weight",
        )
    _dry_run(plan, targets, weights, spec)

    xs = plan.dask_inputs()
    ys = [plan.aligned(targets[n]) for n in plan.local.output_names]
    sw = plan.aligned(weights)
    ref = plan.ref_node()
    token = tokenize(
        plan.ref,
        [x.name for x in xs],
        [None if t is None else t.name for t in ys],
        None if sw is None else sw.name,
        plan.batch_size,
        repr(spec),
    )
    x_blocks = [plan.blocks(x) for x in xs]
    y_blocks = [None if t is None else plan.blocks(t) for t in ys]
    w_blocks = None if sw is None else plan.blocks(sw)
    tasks = []
    for i in range(len(xs[0].chunks[0])):
        tasks.append(
            dask.delayed(evaluate_chunk, pure=True)(
                ref,
                [b[i] for b in x_blocks],
                [None if b is None else b[i] for b in y_blocks],
                None if w_blocks is None else w_blocks[i],
                plan.batch_size,
                spec,
                dask_key_name=f"graphc-evaluate-{token}-{i}",
            )
        )
    if plan.client is not None:
        states = plan.client.gather(plan.client.compute(tasks))
    else:
        states = list(dask.compute(*tasks, scheduler="threads"))
    return merge_states(states)


def _targets(plan, data, y) -> dict:
    names = plan.local.output_names
    if y is None:
        from graphc.distributed.arrays import open_file

        if (
            not isinstance(data, (str,))
            and not hasattr(data, "__fspath__")
            or len(open_file(data)) < 2
        ):
            raise ValueError(
                "evaluate needs targets: pass y= (or data as an .npz archive "
                "or Zarr group holding 'y' or arrays named after the outputs)"
            )
        targets = _inputs.by_name(data, names, "outputs", default_key="y", allow_missing=True)
    else:
        targets = _inputs.by_name(y, names, "outputs", default_key="y", allow_missing=True)
    if all(t is None for t in targets.values()):
        raise ValueError(f"No targets for any of the outputs {names}")
    check_target_rows(
        plan.rows,
        {k: None if v is None else _inputs.shape_of(v) for k, v in targets.items()},
        {k: None if v is None else _inputs.label_of(v) for k, v in targets.items()},
    )
    return targets


def _dry_run(plan, targets, weights, spec):
    dry_run(
        plan.local,
        plan.ref,
        plan.row_shapes,
        [
            None
            if targets[n] is None
            else (_inputs.shape_of(targets[n])[1:], _inputs.dtype_of(targets[n]))
            for n in plan.local.output_names
        ],
        None if weights is None else _inputs.shape_of(weights)[1:],
        plan.batch_size,
        spec,
    )
