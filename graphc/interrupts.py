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

import signal
import threading

__all__ = ["atomic", "interrupt_pending"]

_depth = 0
_pending = None        # (signum, frame) of a SIGINT held back
_previous = None       # the SIGINT handler to restore (and to call for a held signal)


def _hold(signum, frame):
    global _pending
    if _depth:
        _pending = (signum, frame)
    elif callable(_previous):  # a late signal after the block ended: deliver it now
        _previous(signum, frame)


def interrupt_pending() -> bool:
    """Whether a Ctrl-C is being held back by an enclosing ``atomic()`` block."""
    return _pending is not None


class atomic:
    """Context manager: SIGINT is held back until the outermost block ends."""

    __slots__ = ("active",)

    def __enter__(self):
        global _depth, _previous
        self.active = False
        if threading.current_thread() is not threading.main_thread():
            return self
        if _depth:
            _depth += 1
            self.active = True
            return self
        previous = signal.getsignal(signal.SIGINT)
        if not callable(previous):  # SIG_IGN, SIG_DFL or not set from Python
            return self
        _previous = previous
        _depth = 1
        self.active = True
        signal.signal(signal.SIGINT, _hold)
        return self

    def __exit__(self, *exc_info):
        global _depth, _previous, _pending
        if not self.active:
            return False
        _depth -= 1
        if _depth:
            return False
        previous, _previous = _previous, None
        if signal.getsignal(signal.SIGINT) is _hold:
            signal.signal(signal.SIGINT, previous)
        held, _pending = _pending, None
        if held is not None:
            previous(*held)  # the default handler raises KeyboardInterrupt here
        return False
