"""Writing files so that readers see the old file or the new one, never half of one.

Every file graphc writes goes through here:

- ``atomic_write(path, write)``: ``write(fileobj)`` into a temporary file beside the
  target, ``fsync``, then rename it over the target.
- ``atomic_move(src, path)``: the same last step for a file already written elsewhere in
  the target's folder (the ONNX exporter's external-data file).

The target is the file a symlink points to (the link stays a link); folders, devices,
FIFOs, sockets and read-only files are refused with ``OutputPathError``. A new file gets the umask's
permissions, a replaced file keeps its own. Temporaries are named
``.<name>.graphc-tmp-<pid>-<random>`` so a user sees what they are, and the next write
to the same target removes those a crashed process left behind (their process is gone,
or they are older than ``STALE_SECONDS``).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
from typing import IO, Callable

from graphc.errors import OutputPathError

__all__ = [
    "atomic_write",
    "atomic_move",
    "resolve_output",
    "temp_name_prefix",
    "remove_stale_temporaries",
    "STALE_SECONDS",
    "TEMP_MARK",
]

#: A temporary older than this is removed by the next write to its target even when
#: its process still runs (the pid may have been reused).
STALE_SECONDS = 30 * 60
#: What every temporary's name holds, after the target's name.
TEMP_MARK = ".graphc-tmp-"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def resolve_output(path) -> tuple[str, int | None]:
    """The file a write to ``path`` replaces (symlinks followed) and its permissions
    (None when it does not exist yet). Raises ``OutputPathError`` for folders, devices,
    FIFOs and sockets, ``FileNotFoundError`` when the folder does not exist."""
    path = os.fspath(path)
    target = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {path}: folder {folder} does not exist")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    if not stat.S_ISREG(st.st_mode):
        via = f" (the symlink's target {target})" if target != os.path.abspath(path) else ""
        raise OutputPathError(
            f"Cannot write {path}{via}: it is {_kind(st.st_mode)}; graphc writes regular "
            "files only (it replaces them atomically). Pass the path of a file to create "
            "or replace."
        )
    if not os.access(target, os.W_OK):
        raise OutputPathError(
            f"Cannot write {path}: the file is read-only for you (mode "
            f"{stat.filemode(st.st_mode)}, owner uid {st.st_uid}); graphc does not replace "
            "files it could not open for writing. Make it writable (chmod u+w) or remove "
            "it first."
        )
    return target, st.st_mode & 0o7777


def _umask_permissions() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temp_name_prefix(target: str) -> str:
    """``.<name>.graphc-tmp-<pid>-``: the start of this process's temporaries for
    ``target`` (tempfile adds the random part)."""
    return f".{os.path.basename(target)}{TEMP_MARK}{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def remove_stale_temporaries(target: str, max_age: float | None = None) -> list[str]:
    """Remove the temporaries crashed writes to ``target`` left beside it: those whose
    process is gone, or older than ``max_age`` seconds (``STALE_SECONDS``). Returns
    their paths. Temporaries of live writers (another process saving the same file
    right now) are kept."""
    max_age = STALE_SECONDS if max_age is None else max_age
    folder, name = os.path.split(target)
    pattern = re.compile(r"\." + re.escape(name) + re.escape(TEMP_MARK) + r"(\d+)-")
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = pattern.match(entry)
        if m is None:
            continue
        full = os.path.join(folder, entry)
        try:
            st = os.lstat(full)
            if st.st_uid != os.getuid() and os.getuid() != 0:
                continue
            if _pid_alive(int(m.group(1))) and now - st.st_mtime < max_age:
                continue
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(full, ignore_errors=True)
            else:
                os.unlink(full)
            removed.append(full)
        except OSError:
            continue
    return removed


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _named(e: OSError, path: str) -> OSError:
    """``e`` about the user's ``path`` rather than a hidden temporary."""
    if isinstance(e, OutputPathError):
        return e
    if e.errno is not None:
        new = type(e)(e.errno, f"{e.strerror or e} (writing {path})", path)
    else:
        new = type(e)(f"Cannot write {path}: {e}")
    return new


def atomic_write(path, write: Callable[[IO], object], mode: str = "wb") -> None:
    """``write(fileobj)`` into a temporary file beside ``path``, then rename it over
    ``path``. A crash never leaves a truncated file, an existing file stays intact on
    error, and the new file gets the old one's permissions (a new file: the umask's).
    A symlink's target is written; folders, devices and FIFOs raise ``OutputPathError``.
    OS errors name ``path``, not the temporary."""
    path = os.fspath(path)
    target, permissions = resolve_output(path)
    folder = os.path.dirname(target)
    remove_stale_temporaries(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(target), dir=folder)
    except OSError as e:
        raise _named(e, path) from e
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, permissions if permissions is not None else _umask_permissions())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _named(e, path) from e
        interrupt = _interrupt_behind(e)
        if interrupt is not None:
            # Ctrl-C inside a writer can come out as the error the writer raised while
            # unwinding (zipfile: "Can't close the ZIP file while there is an open writing
            # handle"); the user pressed Ctrl-C, so that is what they get back.
            raise interrupt from None
        raise
    _fsync_folder(folder)


def _interrupt_behind(e: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt that ``e`` was raised while handling, if any."""
    seen = 0
    while e.__context__ is not None and seen < 100:  # a chain, bounded in case of a cycle
        e = e.__context__
        if isinstance(e, KeyboardInterrupt):
            return e
        seen += 1
    return None


def atomic_move(src: str, path) -> None:
    """Rename the finished file ``src`` (in the same folder as ``path``'s target) over
    ``path``, with ``atomic_write``'s rules: symlinks followed, only regular files
    replaced, permissions kept (a new file: the umask's), data synced first."""
    path = os.fspath(path)
    target, permissions = resolve_output(path)
    try:
        fd = os.open(src, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(src, permissions if permissions is not None else _umask_permissions())
        os.replace(src, target)
    except OSError as e:
        raise _named(e, path) from e
    _fsync_folder(os.path.dirname(target))
