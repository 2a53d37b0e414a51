"""Critical sections that Ctrl-C cannot cut in half.

`KeyboardInterrupt` can arrive between any two bytecodes. Bookkeeping that must happen as a
whole (the `runs` row of a cycle: started, then finished as ok, error or interrupted) runs
inside `deferred_sigint()`: a SIGINT received meanwhile is remembered and raised as
`KeyboardInterrupt` when the block ends, so the process still stops, but only after the block.

Blocks nest: inside a block, another `deferred_sigint()` does nothing (the outer block raises
at its end). A backtest holds SIGINT once per replayed session instead of once per write.
"""

from __future__ import annotations

import signal
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

_NOTHING: AbstractContextManager[None] = nullcontext()
#: True while a block holds SIGINT (only the main thread ever sets it)
_holding = False


def deferred_sigint() -> AbstractContextManager[None]:
    """Hold SIGINT until the block ends, then raise `KeyboardInterrupt` if one came (or call
    the handler that was installed, such as run-loop's stop flag). When the block ends with
    an exception of its own, that exception propagates and the held SIGINT is dropped.

    Outside the main thread (signals are delivered to it only), and inside another block,
    this does nothing.
    """
    if _holding or threading.current_thread() is not threading.main_thread():
        return _NOTHING
    return _Hold()


class _Hold:
    """One block of `deferred_sigint` (a class, not a generator: a backtest enters one per
    session)."""

    __slots__ = ("previous", "received")

    def __enter__(self) -> None:
        global _holding
        self.received: list[Any] = []
        self.previous = signal.signal(signal.SIGINT, lambda *args: self.received.append(args))
        _holding = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        global _holding
        _holding = False
        previous, received = self.previous, self.received
        signal.signal(signal.SIGINT, previous)
        if exc_type is not None or not received:
            return
        if callable(previous) and previous is not signal.default_int_handler:
            previous(*received[0])  # e.g. run-loop's stop flag: stop after the cycle
        else:
            raise KeyboardInterrupt
