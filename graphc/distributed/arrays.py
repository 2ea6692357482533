"""Arrays in files, read a block of rows at a time: ``.npy`` files, the members of an
``.npz`` archive and Zarr stores.

A :class:`RowSource` knows its shape and dtype from the file's header alone and reads
rows ``[start, stop)`` on demand, wherever it is unpickled (a Dask worker opens the file
itself: only the path travels). Reads go through ``read``/``readinto`` on the file rather
than through a memory map, so the pages of a streamed file never count in the process's
resident memory: streaming an input ten times larger than a chunk costs one chunk.

>>> src = open_file("x.npy")                  # {"x.npy": RowSource}
>>> src.shape, src.dtype
((1000000, 64), dtype('float32'))
>>> src.read(0, 4096).shape
(4096, 64)
"""

from __future__ import annotations

import os
import struct
import threading
import zipfile

import numpy as np

from graphc.errors import InputDataError

__all__ = ["NpyRows", "NpzMemberRows", "RowSource", "ZarrRows", "is_zarr_path", "open_file"]


class RowSource:
    """Rows of one array in a file. Subclasses set ``path``, ``key``, ``shape`` and
    ``dtype`` and implement ``read(start, stop)``. Indexing with a tuple of slices (what
    ``dask.array.from_array`` does) reads the rows it covers."""

    path: str
    key: str | None
    shape: tuple
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def rows(self) -> int:
        return int(self.shape[0]) if self.shape else 0

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    @property
    def label(self) -> str:
        return self.path if self.key is None else f"{self.path}[{self.key!r}]"

    def read(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        first = index[0] if index else slice(None)
        if not isinstance(first, slice) or first.step not in (None, 1):
            raise TypeError(
                f"{type(self).__name__} reads contiguous row ranges, received index {index!r}"
            )
        start, stop, _ = first.indices(self.rows)
        block = self.read(start, max(start, stop))
        rest = index[1:]
        return block[(slice(None), *rest)] if rest else block

    def __len__(self):
        return self.rows

    def __repr__(self):
        return f"<{type(self).__name__} {self.label} shape={self.shape} dtype={self.dtype}>"

    def __dask_tokenize__(self):
        # The file's identity (path, size, modification time), not its contents: hashing
        # gigabytes to name a graph would read the whole input on the client.
        try:
            st = os.stat(self.path)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        return (type(self).__name__, os.path.abspath(self.path), self.key, stamp)

    # Open file handles stay in the process that opened them.
    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_handle", None)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)


def _check_dtype(dtype: np.dtype, where: str) -> np.dtype:
    if dtype.hasobject:
        raise InputDataError(
            f"{where} holds Python objects (dtype {dtype}); graphc reads "
            "numeric or string arrays only (object arrays would need "
            "pickle). Save the data as a numeric array."
        )
    return dtype


def _read_exact(f, nbytes: int) -> bytes:
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise InputDataError(
            f"{getattr(f, 'name', 'the file')} ends early: expected "
            f"{nbytes} more bytes, found {len(data)} (a truncated file?)"
        )
    return data


class _ContiguousRows(RowSource):
    """C-ordered rows at byte ``offset`` of a plain file: a read is one seek and one
    ``readinto`` into a fresh array."""

    offset: int
    fortran: bool

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, int(start)), min(self.rows, int(stop))
        n = max(0, stop - start)
        out = np.empty((n, *self.shape[1:]), dtype=self.dtype)
        if n == 0 or out.nbytes == 0:
            return out
        if self.fortran:
            # Rows are not contiguous in a Fortran-ordered file: slice a read-only map.
            mm = np.memmap(
                self.path,
                dtype=self.dtype,
                mode="r",
                offset=self.offset,
                shape=self.shape,
                order="F",
            )
            out[...] = mm[start:stop]
            del mm
            return out
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            got = f.readinto(memoryview(out.reshape(-1).view(np.uint8)))
        if got != out.nbytes:
            raise InputDataError(
                f"{self.label} ends early: rows {start}..{stop} need "
                f"{out.nbytes} bytes, the file has {got} (a truncated "
                "file?)"
            )
        return out


class NpyRows(_ContiguousRows):
    """An ``.npy`` file. Only its header is read here (shape, dtype, where the data
    starts); rows are read from the file per chunk."""

    def __init__(self, path: str):
        self.path, self.key = os.fspath(path), None
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(f)
                self.offset = f.tell()
        except ValueError as e:
            raise InputDataError(f"Cannot read {self.path} as an .npy file: {e}") from e
        self.shape = tuple(int(d) for d in shape)
        self.dtype = _check_dtype(np.dtype(dtype), self.path)
        self.fortran = bool(fortran and len(self.shape) > 1)
        if not self.shape:
            raise InputDataError(f"{self.path} holds a scalar, not rows of samples")
        need = self.offset + int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        size = os.path.getsize(self.path)
        if size < need:
            raise InputDataError(
                f"{self.path} ends early: its header promises "
                f"{_fmt_shape(self.shape)} {self.dtype} ({need:,} bytes), "
                f"the file has {size:,} bytes (a truncated file?)"
            )


def _fmt_shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's sizeFileHeader (30 bytes)


class NpzMemberRows(RowSource):
    """One array of an ``.npz`` archive. A member stored uncompressed (``np.savez``)
    is read at its byte offset like an ``.npy`` file, in any order; a compressed one
    (``np.savez_compressed``) is decompressed as a stream: fast in row order (what the
    streaming CLI does), slow for random access (rewinding decompresses from the start;
    save with ``np.savez`` or as ``.npy`` for a cluster)."""

    def __init__(self, path: str, key: str):
        self.path, self.key = os.fspath(path), key
        with zipfile.ZipFile(self.path) as z:
            info = z.getinfo(key + ".npy")
            self.compressed = info.compress_type != zipfile.ZIP_STORED
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                self.header_len = f.tell()
            member_start = None
            if not self.compressed:
                with open(self.path, "rb") as raw:
                    raw.seek(info.header_offset)
                    fields = _LOCAL_HEADER.unpack(_read_exact(raw, _LOCAL_HEADER.size))
                    member_start = info.header_offset + _LOCAL_HEADER.size + fields[10] + fields[11]
        self.shape = tuple(int(d) for d in shape)
        self.dtype = _check_dtype(np.dtype(dtype), f"{self.path}[{key!r}]")
        if not self.shape:
            raise InputDataError(f"{self.label} holds a scalar, not rows of samples")
        self.fortran = bool(fortran and len(self.shape) > 1)
        self.offset = None if member_start is None else member_start + self.header_len

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, int(start)), min(self.rows, int(stop))
        n = max(0, stop - start)
        if not self.compressed and not self.fortran:
            return _ContiguousRows.read(self, start, stop)
        if self.fortran:
            # A Fortran-ordered member has no contiguous rows: read it whole, once.
            with zipfile.ZipFile(self.path) as z, z.open(self.key + ".npy") as f:
                return np.lib.format.read_array(f, allow_pickle=False)[start:stop].copy()
        out = np.empty((n, *self.shape[1:]), dtype=self.dtype)
        if n == 0 or out.nbytes == 0:
            return out
        lock = self.__dict__.setdefault("_lock", threading.Lock())
        with lock:
            handle = self.__dict__.get("_handle")
            if handle is None:
                z = zipfile.ZipFile(self.path)
                handle = self._handle = (z, z.open(self.key + ".npy"))
            f = handle[1]
            # ZipExtFile.seek decompresses forward from where it is (or from the start,
            # going back): row order costs one pass over the member.
            f.seek(self.header_len + start * self.row_bytes)
            view = memoryview(out.reshape(-1).view(np.uint8))
            got = 0
            while got < out.nbytes:
                k = f.readinto(view[got:])
                if not k:
                    break
                got += k
        if got != out.nbytes:
            raise InputDataError(f"{self.label} ends early at row {start} (a truncated archive?)")
        return out

    def close(self):
        handle = self.__dict__.pop("_handle", None)
        if handle is not None:
            handle[1].close()
            handle[0].close()


class ZarrRows(RowSource):
    """An array of a Zarr store (needs the optional ``zarr`` package)."""

    def __init__(self, path: str, key: str | None = None):
        self.path, self.key = os.fspath(path), key
        arr = self._array()
        self.shape = tuple(int(d) for d in arr.shape)
        self.dtype = _check_dtype(np.dtype(arr.dtype), self.label)
        if not self.shape:
            raise InputDataError(f"{self.label} holds a scalar, not rows of samples")

    def _array(self):
        arr = self.__dict__.get("_handle")
        if arr is None:
            zarr = _import_zarr()
            node = zarr.open(self.path, mode="r")
            arr = node[self.key] if self.key is not None else node
            self._handle = arr
        return arr

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self._array()[int(start) : int(stop)])


def _import_zarr():
    try:
        import zarr
    except ImportError as e:
        from graphc.distributed.errors import DistributedDependencyError

        raise DistributedDependencyError(
            f"Reading a Zarr store needs the zarr package ({e}): pip install zarr"
        ) from e
    return zarr


def is_zarr_path(path: str) -> bool:
    path = os.fspath(path).rstrip("/")
    if path.endswith(".zarr"):
        return True
    return os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, marker)) for marker in (".zarray", ".zgroup", "zarr.json")
    )


def open_file(path) -> dict[str, RowSource]:
    """The arrays in a file, each a lazy :class:`RowSource`, keyed by name: an ``.npy``
    file gives one (keyed by its path), an ``.npz`` archive one per member, a Zarr store
    one per array (one keyed by the path if the store is a single array)."""
    path = os.fspath(path)
    if is_zarr_path(path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"No such Zarr store: {path}")
        zarr = _import_zarr()
        node = zarr.open(path, mode="r")
        if hasattr(node, "shape"):
            return {path: ZarrRows(path)}
        keys = (
            sorted(k for k, v in node.arrays())
            if hasattr(node, "arrays")
            else sorted(node.array_keys())
        )
        return {k: ZarrRows(path, k) for k in keys}
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such data file: {path}")
    if path.endswith(".npz") or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
        except zipfile.BadZipFile as e:
            raise InputDataError(f"Cannot read {path} as an .npz archive: {e}") from e
        return {k: NpzMemberRows(path, k) for k in names}
    if path.endswith(".npy"):
        return {path: NpyRows(path)}
    raise InputDataError(
        f"Cannot read {path} lazily: expected an .npy file, an .npz "
        "archive or a Zarr store (a directory ending in .zarr)"
    )
