"""Critical sections that Ctrl-C cannot cut in half.

`KeyboardInterrupt` can arrive between any two bytecodes. Bookkeeping that must happen as a
whole (the `runs` row of a cycle: started, then finished as ok, error or interrupted) runs
inside `deferred_sigint()`: a SIGINT received meanwhile is remembered and raised as
`KeyboardInterrupt` when the block ends, so the process still stops, but only after the block.

Blocks nest: inside a block, another `deferred_sigint()` does nothing (the outer block raises
at its end). A long loop of such bookkeeping (a backtest replays thousands of sessions) holds
SIGINT once around the loop and calls `check()` after each step, which raises there.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

#: True while a block holds SIGINT (only the main thread ever sets it)
_holding = False


class Deferral:
    """What `deferred_sigint()` returns: a context manager whose `check()` delivers a SIGINT
    received so far. This base class is the block that holds nothing (nested, or not in the
    main thread)."""

    def __enter__(self) -> Deferral:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        return None

    def check(self) -> None:
        """Raise `KeyboardInterrupt` now (or call the installed handler) if a SIGINT came
        since the block started or since the last check; else do nothing."""
        return None


_NOTHING = Deferral()


def deferred_sigint() -> Deferral:
    """Hold SIGINT until the block ends, then raise `KeyboardInterrupt` if one came (or call
    the handler that was installed, such as run-loop's stop flag). When the block ends with
    an exception of its own, that exception propagates and the held SIGINT is dropped.

    Outside the main thread (signals are delivered to it only), and inside another block,
    this does nothing.
    """
    if _holding or threading.current_thread() is not threading.main_thread():
        return _NOTHING
    return _Hold()


class _Hold(Deferral):
    """A block that holds SIGINT (a class, not a generator: cheap to enter)."""

    __slots__ = ("previous", "received")

    def __enter__(self) -> Deferral:
        global _holding
        self.received: list[Any] = []
        self.previous = signal.signal(signal.SIGINT, lambda *args: self.received.append(args))
        _holding = True
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        global _holding
        _holding = False
        signal.signal(signal.SIGINT, self.previous)
        if exc_type is None:
            self.check()

    def check(self) -> None:
        if not self.received:
            return
        args, previous = self.received[0], self.previous
        self.received.clear()
        if previous is signal.SIG_IGN:  # the process ignores SIGINT (e.g. started with `&`)
            return
        if callable(previous) and previous is not signal.default_int_handler:
            previous(*args)  # e.g. run-loop's stop flag: stop after the cycle
        else:
            raise KeyboardInterrupt
