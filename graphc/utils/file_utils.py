"""``keras.utils.get_file``: a file from a local path, a ``file://`` URL or the web, kept
in a cache directory (``~/.keras/datasets`` by default, ``$KERAS_HOME`` if set), with
optional hash checks and archive extraction, as Keras's."""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.parse
import zipfile

from graphc.errors import FileFormatError
from graphc.files import atomic_write

__all__ = ["get_file"]


def _cache_base(cache_dir) -> str:
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    base = os.path.expanduser(cache_dir)
    os.makedirs(base, exist_ok=True)
    if not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    return base


def _hash(path, algorithm, chunk=65535) -> str:
    h = hashlib.md5() if algorithm == "md5" else hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _valid(path, file_hash, algorithm) -> bool:
    if algorithm == "auto":
        algorithm = "sha256" if len(file_hash) == 64 else "md5"
    return _hash(path, algorithm) == str(file_hash)


def _local_source(origin: str) -> str | None:
    """The local path ``origin`` names (a path or a ``file://`` URL), else None."""
    parts = urllib.parse.urlsplit(origin)
    if parts.scheme == "file":
        # urllib.request loads http.client, email and ssl: only when a file is fetched.
        from urllib.request import url2pathname

        return url2pathname(parts.path)
    if parts.scheme in ("",) or (len(parts.scheme) == 1 and os.name == "nt"):
        return origin
    return None


def _fetch(origin: str, target: str, file_hash=None, algorithm="auto") -> None:
    """Copy ``origin`` to ``target`` through a temporary beside it, checking the hash
    before the rename: a killed or corrupted download never appears as ``target``."""
    local = _local_source(origin)
    if local is not None and not os.path.exists(local):
        raise FileNotFoundError(f"get_file: no such file {local!r} (from origin {origin!r})")

    if file_hash is not None and algorithm == "auto":
        algorithm = "sha256" if len(file_hash) == 64 else "md5"

    def copy(src, f):
        digest = hashlib.md5() if algorithm == "md5" else hashlib.sha256()
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            f.write(block)
        if file_hash is not None and digest.hexdigest() != str(file_hash):
            raise FileFormatError(
                f"Incomplete or corrupted file detected: {origin} does not have the "
                f"{algorithm} file hash {file_hash}; {target} was left as it was. "
                "Download it again, or check the hash given."
            )

    def write(f):
        from urllib.error import HTTPError, URLError
        from urllib.request import urlopen

        try:
            if local is not None:
                with open(local, "rb") as src:
                    copy(src, f)
            else:
                with urlopen(origin) as response:
                    copy(response, f)
        except HTTPError as e:
            raise OSError(f"URL fetch failure on {origin}: {e.code} -- {e.msg}") from e
        except URLError as e:
            raise OSError(
                f"URL fetch failure on {origin}: {e.reason}. This machine may be "
                "offline: download the file yourself and pass its local path or "
                "a file:// URL as origin (or put it in the cache directory)."
            ) from e

    atomic_write(target, write)


def _extract(path: str, into: str, archive_format="auto") -> bool:
    formats = (
        ["tar", "zip"]
        if archive_format == "auto"
        else [archive_format]
        if isinstance(archive_format, str)
        else list(archive_format or [])
    )
    for fmt in formats:
        if fmt == "tar" and tarfile.is_tarfile(path):
            with tarfile.open(path) as t:
                kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                t.extractall(into, **kw)
            return True
        if fmt == "zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    dest = os.path.realpath(os.path.join(into, name))
                    if not dest.startswith(os.path.realpath(into)):
                        raise ValueError(f"archive member {name!r} leaves {into!r}")
                z.extractall(into)
            return True
    return False


def get_file(
    fname=None,
    origin=None,
    untar=False,
    md5_hash=None,
    file_hash=None,
    cache_subdir="datasets",
    hash_algorithm="auto",
    extract=False,
    archive_format="auto",
    cache_dir=None,
    force_download=False,
):
    """The path of the cached copy of ``origin`` (fetched if missing or forced); with
    ``extract`` (or ``untar``), the directory it was extracted into."""
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    datadir = os.path.join(_cache_base(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    provided = fname
    fname = os.fspath(fname) if fname is not None else ""
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(
                f"Can't parse the file name from the origin provided: "
                f"'{origin}'. Please specify the `fname` argument."
            )
    elif os.sep in fname:
        raise ValueError(
            "Paths are no longer accepted as the `fname` argument. To specify "
            f"the file's parent directory, use `cache_dir`. Received: "
            f"fname={fname}"
        )
    if extract or untar:
        if provided and "." in fname:
            target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, f"{fname[: fname.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            target = os.path.join(datadir, f"{fname}_archive")
    else:
        target = os.path.join(datadir, fname)
    download = (
        force_download
        or not os.path.exists(target)
        or (file_hash is not None and not _valid(target, file_hash, hash_algorithm))
    )
    if download:
        _fetch(origin, target, file_hash, hash_algorithm)
    if extract or untar:
        if not _extract(target, extraction_dir, "tar" if untar else archive_format):
            import warnings

            warnings.warn("Could not extract archive.", stacklevel=2)
        return extraction_dir
    return target
