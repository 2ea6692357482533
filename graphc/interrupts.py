"""Ctrl-C deferred over work that must finish as a unit (an optimizer step).

``with atomic(): ...`` runs the block with SIGINT held back: a Ctrl-C arriving inside is
recorded, the block finishes, and the interrupt is delivered when the outermost block
ends (``KeyboardInterrupt`` is raised there, by the handler that was in place). Blocks
nest; only the main thread receives signals, so elsewhere (and when SIGINT is ignored
or left to the operating system's default) the block runs unchanged.

Example::

    with graphc.interrupts.atomic():
        optimizer.apply(grads)      # all of it, or (Ctrl-C before the block) none of it
"""

from __future__ import annotations

import _signal  # the C functions behind ``signal``: no conversion of handlers to enums
import os
import signal
import threading

__all__ = ["atomic", "armed", "interrupt_pending"]

_depth = 0
_pending = None  # (signum, frame) of a SIGINT held back
_previous = None  # the SIGINT handler to restore (and to call for a held signal)
_armed = False  # the holding handler stays installed between blocks (``armed``)


def _hold(signum, frame):
    global _pending
    if _depth:
        _pending = (signum, frame)
    elif callable(_previous):  # a late signal after the block ended: deliver it now
        _previous(signum, frame)


def interrupt_pending() -> bool:
    """Whether a Ctrl-C is being held back by an enclosing ``atomic()`` block."""
    return _pending is not None


_main_ident = threading.main_thread().ident


def _after_fork() -> None:  # a child forked by another thread has that one as its main
    global _main_ident
    _main_ident = threading.main_thread().ident


os.register_at_fork(after_in_child=_after_fork)


def _main_thread() -> bool:
    # Idents, not Thread objects: ``current_thread()`` costs a dictionary lookup and a
    # lock on every step of a training loop.
    return threading.get_ident() == _main_ident


# ``signal.getsignal`` and ``signal.signal`` wrap these and turn handlers into enums on
# every call; the raw values (an int for SIG_DFL and SIG_IGN) are what is compared and
# put back here.
_getsignal = _signal.getsignal
_setsignal = _signal.signal


class armed:
    """Context manager for a long run of ``atomic`` blocks (a whole ``fit``): installs
    the holding handler once, so each block costs a counter, not two system calls.
    Outside the blocks a Ctrl-C is delivered at once, as usual."""

    __slots__ = ("active",)

    def __enter__(self):
        global _previous, _armed
        self.active = False
        if _armed or _depth or not _main_thread():
            return self
        previous = _getsignal(signal.SIGINT)
        if not callable(previous) or previous is _hold:
            return self
        _previous, _armed, self.active = previous, True, True
        _setsignal(signal.SIGINT, _hold)
        return self

    def __exit__(self, *exc_info):
        global _previous, _armed
        if not self.active:
            return False
        previous, _previous, _armed = _previous, None, False
        if _getsignal(signal.SIGINT) is _hold:
            _setsignal(signal.SIGINT, previous)
        return False


class atomic:
    """Context manager: SIGINT is held back until the outermost block ends."""

    __slots__ = ("active", "installed")

    def __enter__(self):
        global _depth, _previous
        self.active = self.installed = False
        if not _main_thread():
            return self
        if _depth or _armed:
            _depth += 1
            self.active = True
            return self
        previous = _getsignal(signal.SIGINT)
        if not callable(previous) or previous is _hold:  # SIG_IGN, SIG_DFL, not Python's
            return self
        _previous = previous
        _depth = 1
        self.active = self.installed = True
        _setsignal(signal.SIGINT, _hold)
        return self

    def __exit__(self, *exc_info):
        global _depth, _previous, _pending
        if not self.active:
            return False
        _depth -= 1
        if _depth:
            return False
        previous = _previous
        if self.installed:
            _previous = None
            if _getsignal(signal.SIGINT) is _hold:
                _setsignal(signal.SIGINT, previous)
        held, _pending = _pending, None
        if held is not None and callable(previous):
            previous(*held)  # the default handler raises KeyboardInterrupt here
        return False
