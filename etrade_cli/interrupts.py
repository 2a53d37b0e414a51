"""Critical sections that Ctrl-C cannot cut in half.

`KeyboardInterrupt` can arrive between any two bytecodes. Bookkeeping that must happen as a
whole (the `runs` row of a cycle: started, then finished as ok, error or interrupted) runs
inside `deferred_sigint()`: a SIGINT received meanwhile is remembered and raised as
`KeyboardInterrupt` when the block ends, so the process still stops, but only after the block.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold SIGINT until the block ends, then raise `KeyboardInterrupt` if one came (or call
    the handler that was installed, such as run-loop's stop flag).

    Outside the main thread (signals are delivered to it only) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if not received:
        return
    if callable(previous) and previous is not signal.default_int_handler:
        previous(*received[0])  # e.g. run-loop's stop flag: stop after the cycle
    else:
        raise KeyboardInterrupt
