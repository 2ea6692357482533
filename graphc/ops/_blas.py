"""One BLAS thread for loops of small products.

A recurrent op runs a few small GEMMs per time step ((64 x 97) @ (97 x 64): tens of
microseconds each). OpenBLAS, as NumPy ships it, splits any product above about 2.6e5
multiply-adds across all its threads; at these sizes the split costs more than it saves,
and its threads busy-wait for each other between calls, so on a loaded machine a
descheduled thread makes the others spin: measured on 2 shared cores, the LSTM's 50
per-step products took 11-24 ms of CPU time with 2 threads against 6 ms with one, and its
blocked weight-gradient product 100-790 ms against 8 ms. ``single_threaded()`` runs such a
loop with one BLAS thread and restores the previous count after it.

The count is OpenBLAS's process-wide setting, reached through ``ctypes`` (the library
NumPy has already loaded; no compiled code of ours). Nested and concurrent uses are
counted: the first entry saves and lowers it, the last exit restores it. Without OpenBLAS
(NumPy built on another BLAS, or a platform without ``/proc/self/maps``) it does nothing.
Products computed with one thread agree with the threaded ones to float32 rounding (and
the result no longer depends on the machine's thread count).

The convolutions (below ``conv.CONV_MACS``) and the small Dense products (``product``)
run on one BLAS thread too: in the CNN step (Conv-Pool-Conv-Pool-Dense, batch 64) on
the loaded 2-core machine OpenBLAS's threads made the CPU time 1.7-2.5x the
single-threaded one. ``in_pieces`` gives back the second core without busy-waiting: the
work cut in pieces (products by rows, at ``ROW_ALIGN``: the same bits), shared with the
worker thread, which takes only what it gets a core for.

``submit`` runs a product on one worker thread of graphc's, beside a loop of the caller's
(the LSTM's weight gradients of the steps done while backpropagation goes on): the
overlap that the BLAS threads gave up, without their busy-waiting.

Splitting a recurrence's batch into two halves, each stepped through time on its own
thread, was tried and removed: at the usual batches (32, 64) the GIL hand-offs of a dozen
small NumPy calls per step and half cost more than the second core gave (LSTM(64) over 50
steps, batch 64: wall 53 against 41-49 ms unsplit, CPU +50 %); it paid only from 128 rows
and only with a core idle (none on a loaded machine: batch 256, wall 232 against 219 ms
unsplit), and splitting the products by rows made their rounding depend on the batch size.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time

import numpy as np

#: Set to False to leave the BLAS thread count alone (for measurements).
ENABLED = True

_lock = threading.Lock()
_depth = 0
_saved = None
_libs = None  # [(get, set)] of every OpenBLAS loaded in the process, found on first use


def _find() -> list:
    found = []
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return found
    for path in paths:
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same handle
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    put.restype, put.argtypes = None, [ctypes.c_int]
                    found.append((get, put))
                    break
            else:
                continue
            break
    return found


def _enter():
    global _depth, _saved, _libs
    with _lock:
        if _libs is None:
            _libs = _find()
        if _depth == 0:
            _saved = [get() for get, _ in _libs]
            for (_, put), n in zip(_libs, _saved):
                if n != 1:
                    put(1)
        _depth += 1


def _exit():
    global _depth, _saved
    with _lock:
        _depth -= 1
        if _depth == 0:
            for (_, put), n in zip(_libs, _saved):
                if n != 1:
                    put(n)
            _saved = None


#: Multiply-adds of one step's product below which a loop of such products runs with one
#: BLAS thread (``single_threaded(macs)``): 2^24 is ~1 ms of one core here, far above the
#: threads' hand-off; a larger product (LSTM(512) over a batch of 1024: 2e9) keeps every
#: thread.
SMALL_MACS = 1 << 24


#: A rank-2 product (a Dense layer's) of more than ``_OWN_LIMIT`` multiply-adds (where
#: OpenBLAS starts using its threads) and fewer than ``SMALL_PRODUCT`` runs with one BLAS
#: thread (``product``): a second thread saves under 0.1 ms there, but leaves OpenBLAS's
#: other thread spinning for the next ~0.1 s (its wait before it sleeps), which in the
#: CNN's step (a Dense(10) over 1,600 features between one-thread convolutions) cost a
#: third of the step's CPU time. One thread changes these products' rounding.
SMALL_PRODUCT = 1 << 21
_OWN_LIMIT = 1 << 18


def product(a, b, out=None):
    """``np.matmul(a, b, out=out)`` of two 2-D arrays, with one BLAS thread when it is
    small (``SMALL_PRODUCT``)."""
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    if macs <= _OWN_LIMIT or macs >= SMALL_PRODUCT:
        return np.matmul(a, b, out=out)
    with single_threaded():
        return np.matmul(a, b, out=out)


@contextlib.contextmanager
def single_threaded(macs=0):
    """Run the block with one BLAS thread (see the module docstring) when its products
    are small: ``macs``, the multiply-adds of the largest product repeated in the loop,
    below ``SMALL_MACS``."""
    if not ENABLED or macs >= SMALL_MACS:
        yield
        return
    _enter()
    try:
        yield
    finally:
        _exit()


def threads() -> list:
    """The current thread count of each OpenBLAS found (for tests)."""
    global _libs
    with _lock:
        if _libs is None:
            _libs = _find()
        return [get() for get, _ in _libs]


# ---- one worker thread for products that can overlap a loop -----------------------------
#: None: overlap when a core is idle (below); True: whenever there are two cores; False:
#: never (every job runs inline).
OVERLAP = None

_pool = None
_NAME = "graphc-blas"  # the worker thread's name prefix
_idle_checked = (-1.0, False)  # (when, whether a core was idle) over the last second
_cpu_sample = None  # (wall, the machine's busy core-seconds, this process's CPU seconds)


def _machine_busy():
    """Core-seconds the machine's CPUs have been busy since boot (``/proc/stat``), or
    None where there is no such file."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _core_idle(cores) -> bool:
    """Whether the machine has a core to spare beside the one this process trains on.
    On Linux: the other processes used less than ``cores - 1.5`` cores since the last
    check (the machine's busy time in ``/proc/stat`` less this process's own CPU time, so
    that the worker's own use of the second core does not count). Else,
    and for the first check, the 1-minute load average (this process counts about 1
    while it trains) below ``cores - 0.5``. On a loaded machine the worker cannot run
    beside the loop, and handing it work only adds hand-offs of the GIL: measured there
    (2 cores, load 8-15), the LSTM step's CPU time rose 5-10 % with the worker; with a
    core free its wall time fell about 15 %."""
    global _idle_checked, _cpu_sample
    now = time.monotonic()
    when, idle = _idle_checked
    if now - when > 1.0:
        busy, t = _machine_busy(), os.times()
        sample = None if busy is None else (now, busy, t.user + t.system)
        if sample is not None and _cpu_sample is not None and now > _cpu_sample[0]:
            others = (sample[1] - _cpu_sample[1]) - (sample[2] - _cpu_sample[2])
            idle = others / (now - _cpu_sample[0]) < cores - 1.5
        else:
            try:
                idle = os.getloadavg()[0] < cores - 0.5
            except (AttributeError, OSError):
                idle = True
        _idle_checked, _cpu_sample = (now, idle), sample
    return idle


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _forget_pool_in_child():
    global _pool
    _pool = None  # a pool inherited through fork() has no thread behind it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _spare_core(any_load=False) -> bool:
    """Whether a job handed to the worker now would run beside the caller: not when the
    BLAS already uses every thread (outside ``single_threaded``); with ``any_load``, on
    two cores even when the machine is loaded (for a job the caller takes back, with
    ``cancel()``, if the worker has not started it when the caller needs it)."""
    if OVERLAP is False or _depth == 0 or threading.current_thread().name.startswith(_NAME):
        return False  # (on the worker itself, a job it waited for would never start)
    cores = _cores()
    return cores >= 2 and (OVERLAP is True or any_load or _core_idle(cores))


def submit(fn, *args, any_load=False):
    """Run ``fn(*args)`` on the worker thread and return its future, or None when there
    is no core to spare (``_spare_core``); the caller then runs it inline. NumPy releases
    the GIL inside a product, so a product on the worker runs beside the caller's loop."""
    global _pool
    if not _spare_core(any_load):
        return None
    with _lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor  # milliseconds at import

            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_NAME)
    return _pool.submit(fn, *args)


#: Rows at which ``in_pieces`` may cut a product: OpenBLAS computes the rows of a row-major
#: product in groups (12 rows for float32, 2 for float64 on the Haswell-class kernels
#: NumPy ships for x86-64), and a product cut at a multiple of the group gives the same
#: bits as the whole one (tested in tests/ops/test_blas_threads.py). 96 is a multiple of
#: every group size up to 48, so a cut here holds on other kernels too.
ROW_ALIGN = 96


#: Elements below which ``in_pieces`` runs its work at once, here: handing it to the
#: worker would cost more (tens of microseconds) than part of it.
PIECES_MIN = 1 << 16
#: Pieces that ``in_pieces`` cuts a range into.
PIECES = 4


def in_pieces(fn, n: int, align: int = 1, size: int = PIECES_MIN) -> None:
    """Run ``fn(lo, hi)`` over ``[0, n)`` cut in ``PIECES`` pieces at multiples of
    ``align``, with one BLAS thread: this thread takes pieces from the end, graphc's
    worker thread (whenever there are two cores, loaded or not) from the start, and a
    piece the worker has not taken when this thread runs out is this thread's. So on a
    loaded machine the worker does what it gets a core for, and nothing waits for a
    worker that is not running. The pieces are the same whichever thread runs them, so
    the numbers do not depend on the load; ``fn`` must write only what its piece owns.
    Work of fewer than ``PIECES_MIN`` elements (``size``) runs as ``fn(0, n)``."""
    if size < PIECES_MIN:
        fn(0, n)
        return
    step = max(align, -(-n // PIECES // align) * align)
    bounds = list(range(0, n, step)) + [n]
    with single_threaded():
        if len(bounds) <= 2:
            fn(0, n)
            return
        lock = threading.Lock()
        todo = [0, len(bounds) - 1]  # the pieces not taken: [front, back)

        def take(front):
            with lock:
                if todo[0] >= todo[1]:
                    return None
                if front:
                    todo[0] += 1
                    return todo[0] - 1
                todo[1] -= 1
                return todo[1]

        def work(front):
            while (i := take(front)) is not None:
                fn(bounds[i], bounds[i + 1])

        job = submit(work, True, any_load=True)
        try:
            work(False)
        finally:
            with lock:
                todo[0] = todo[1]  # after an error, the worker takes nothing more
            if job is not None and not job.cancel():
                job.result()
