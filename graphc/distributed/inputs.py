"""Data for scale-out, whatever form it comes in: Dask arrays, NumPy arrays, lazy
:class:`~graphc.distributed.arrays.RowSource` files (``.npy``, ``.npz``, Zarr), or lists
and dicts of them, matched to a model's input (or output) names; and the choice of chunk
rows."""

from __future__ import annotations

import os

import numpy as np

from graphc.distributed.arrays import RowSource, is_zarr_path, open_file
from graphc.distributed.errors import RowShapeError

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "by_name",
    "chunk_rows_for",
    "dtype_of",
    "label_of",
    "shape_of",
]

# A default chunk holds about this many bytes of input: large enough that the per-task
# overhead of Dask (about a millisecond) is noise, small enough for a worker's memory.
DEFAULT_CHUNK_BYTES = 32 * 2**20


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask") and hasattr(a, "chunks")


def _is_arrayish(a) -> bool:
    return isinstance(a, (np.ndarray, RowSource)) or _is_dask(a)


def _single(value, what: str):
    """One array-like from a value that should hold one array."""
    if _is_arrayish(value):
        return value
    if isinstance(value, (str, os.PathLike)):
        found = open_file(value)
        if len(found) != 1:
            raise RowShapeError(
                f"{os.fspath(value)} holds {len(found)} arrays "
                f"({', '.join(found)}); name the one for the {what}"
            )
        return next(iter(found.values()))
    if isinstance(value, (list, tuple)) or hasattr(value, "__array__"):
        return np.asarray(value)
    raise TypeError(
        f"The {what} must be an array, a dask array or a path to an .npy file, "
        f".npz archive or Zarr store; received {type(value).__name__}"
    )


def by_name(
    data,
    names: list[str],
    what: str = "inputs",
    default_key: str = "x",
    allow_missing: bool = False,
) -> dict:
    """``{name: array-like}`` for the model's ``names`` (input or output names) from a
    single array, a list in order, a dict keyed by name, or a path (an ``.npz`` archive
    or Zarr group keyed by the names, or by ``default_key`` for a one-name model)."""
    if isinstance(data, (str, os.PathLike)):
        found = open_file(data)
        path = os.fspath(data)
        if (
            len(found) == 1
            and len(names) == 1
            and (path.endswith(".npy") or not is_zarr_path(path) or next(iter(found)) == path)
        ):
            return {names[0]: next(iter(found.values()))}
        if all(n in found for n in names):
            return {n: found[n] for n in names}
        if len(names) == 1 and default_key in found:
            return {names[0]: found[default_key]}
        if allow_missing and any(n in found for n in names):
            return {n: found.get(n) for n in names}
        missing = [n for n in names if n not in found]
        raise RowShapeError(
            f"{path} holds arrays {sorted(found)}; the model's {what} need "
            f"{', '.join(repr(n) for n in missing)}"
            + (f" (or {default_key!r})" if len(names) == 1 else "")
        )
    if isinstance(data, dict):
        unknown = [k for k in data if k not in names]
        if unknown:
            raise RowShapeError(
                f"Unknown {what[:-1]} {unknown[0]!r}; the model's {what} are {names}"
            )
        missing = [n for n in names if n not in data]
        if missing and not allow_missing:
            raise RowShapeError(
                f"Missing {what[:-1]} {missing[0]!r}; the model's {what} are {names}"
            )
        return {
            n: (
                _single(data[n], f"{what[:-1]} {n!r}")
                if n in data and data[n] is not None
                else None
            )
            for n in names
        }
    if isinstance(data, (list, tuple)) and len(names) > 1:
        if len(data) != len(names):
            raise RowShapeError(
                f"The model has {len(names)} {what} {names}, received a list of {len(data)} arrays"
            )
        return {
            n: _single(v, f"{what[:-1]} {n!r}") if v is not None else None
            for n, v in zip(names, data)
        }
    if len(names) > 1:
        raise RowShapeError(
            f"The model has {len(names)} {what} {names}; pass a list in that "
            "order or a dict keyed by those names"
        )
    if isinstance(data, (list, tuple)) and len(data) == 1 and _is_arrayish(data[0]):
        data = data[0]
    return {names[0]: _single(data, what[:-1])}


def shape_of(a) -> tuple:
    return tuple(int(d) for d in a.shape)


def dtype_of(a) -> np.dtype:
    return np.dtype(a.dtype)


def label_of(a) -> str:
    if isinstance(a, RowSource):
        return a.label
    if _is_dask(a):
        return f"the dask array {getattr(a, 'name', '')[:24]}"
    return "the array"


def chunk_rows_for(arrays: list, chunk_rows, batch_size) -> int:
    """Rows per chunk: ``chunk_rows`` if given, else about ``DEFAULT_CHUNK_BYTES`` of input
    (a Dask array's own row chunks when it has them); rounded down to a multiple of
    ``batch_size`` (never below one batch) so that every chunk is cut into the very
    batches a single-process ``predict``/``evaluate`` makes: same numbers, bit for bit."""
    if chunk_rows is not None:
        if (
            isinstance(chunk_rows, bool)
            or not isinstance(chunk_rows, (int, np.integer))
            or chunk_rows < 1
        ):
            raise ValueError(f"chunk_rows must be a positive integer, received {chunk_rows!r}")
        rows = int(chunk_rows)
    else:
        dask_rows = [a.chunks[0][0] for a in arrays if _is_dask(a) and a.chunks[0]]
        if dask_rows:
            rows = int(max(dask_rows))
        else:
            row_bytes = sum(
                max(1, int(np.prod(a.shape[1:], dtype=np.int64)) * np.dtype(a.dtype).itemsize)
                for a in arrays
            )
            rows = max(1, DEFAULT_CHUNK_BYTES // max(1, row_bytes))
    if batch_size:
        rows = max(int(batch_size), rows // int(batch_size) * int(batch_size))
    return rows


def check_batch_size(batch_size, default=32):
    if batch_size is None:
        return default
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}")
    return int(batch_size)
