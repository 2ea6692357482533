"""Writing files so that readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from typing import IO, Callable

__all__ = ["atomic_write"]


def atomic_write(path, write: Callable[[IO], object], mode: str = "wb") -> None:
    """``write(fileobj)`` into a temporary file beside ``path``, then rename it over
    ``path``. A crash never leaves a truncated file, an existing file stays intact on
    error, and the new file gets the old one's permissions (a new file: the umask's)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot write {path}: it is a folder")
    if os.path.exists(path):
        permissions = os.stat(path).st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        permissions = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
