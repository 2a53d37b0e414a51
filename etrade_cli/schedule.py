"""`run-loop` scheduling on NYSE sessions (spec §7), with the calendar from `exchange_calendars`.

Inside a session a cycle runs every 120 s, every 60 s inside the buy window (US/Eastern); outside
a session the loop sleeps until the next open (holidays and early closes come from the XNYS
calendar). SIGINT/SIGTERM stop the loop cleanly after the current cycle. The clock, the sleep and
the calendar are injected so tests drive the loop without waiting.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

ET = ZoneInfo("America/New_York")
CYCLE_S = 120
CYCLE_IN_WINDOW_S = 60


class SessionCalendar(Protocol):
    """What the loop needs from an exchange calendar (times are aware datetimes)."""

    def is_open(self, now: dt.datetime) -> bool:
        """True while the exchange is in a regular session (early closes honoured)."""
        ...

    def next_open(self, now: dt.datetime) -> dt.datetime:
        """The next session open after `now`."""
        ...


class NyseCalendar:
    """XNYS sessions, holidays and early closes from `exchange_calendars`."""

    def __init__(self) -> None:
        import exchange_calendars as xcals

        self._cal = xcals.get_calendar("XNYS")

    def is_open(self, now: dt.datetime) -> bool:
        """True while NYSE is in a regular session at `now`."""
        import pandas as pd

        return bool(self._cal.is_open_on_minute(pd.Timestamp(now).floor("min")))

    def next_open(self, now: dt.datetime) -> dt.datetime:
        """The next regular-session open after `now` (UTC-aware)."""
        import pandas as pd

        ts = self._cal.next_open(pd.Timestamp(now).floor("min"))
        return ts.to_pydatetime()


def nyse_session(day: dt.date) -> bool:
    """True when `day` was (or will be) a regular NYSE session on the XNYS calendar of
    `exchange_calendars`; False for weekends, holidays and dates outside its range."""
    import pandas as pd

    cal = _xnys()
    ts = pd.Timestamp(day)
    if not cal.first_session <= ts <= cal.last_session:
        return False
    return bool(cal.is_session(ts))


_XNYS: Any = None


def _xnys() -> Any:
    """The XNYS calendar from 1990 on, built once per process."""
    global _XNYS
    if _XNYS is None:
        import exchange_calendars as xcals

        _XNYS = xcals.get_calendar("XNYS", start="1990-01-01")
    return _XNYS


def interval(now: dt.datetime, window: tuple[int, int]) -> int:
    """Seconds to the next cycle: 60 inside the buy window (minutes after midnight ET), else 120."""
    et = now.astimezone(ET)
    minute = et.hour * 60 + et.minute
    return CYCLE_IN_WINDOW_S if window[0] <= minute < window[1] else CYCLE_S


@dataclass
class LoopStats:
    """What the loop did: cycles run, and whether it stopped on a signal."""

    cycles: int = 0
    stopped_by_signal: bool = False


class StopFlag:
    """A stop request set by SIGINT/SIGTERM; `wait(s)` sleeps but wakes at once on a stop."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def set(self, signum: int, _frame: Any = None) -> None:
        """Signal handler: remember the signal and wake any wait."""
        self.signum = signum
        self.event.set()

    def install(self) -> None:
        """Route SIGINT and SIGTERM here (the current cycle finishes first)."""
        signal.signal(signal.SIGINT, self.set)
        signal.signal(signal.SIGTERM, self.set)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when a stop was requested."""
        return self.event.wait(max(0.0, seconds))


def run_loop(
    cycle: Callable[[dt.datetime], str],
    *,
    calendar: SessionCalendar,
    window: tuple[int, int],
    now: Callable[[], dt.datetime],
    sleep: Callable[[float], bool],
    heartbeat: Callable[[str], None],
    max_cycles: int | None = None,
    stop: StopFlag | None = None,
) -> LoopStats:
    """Run `cycle(now)` on the schedule above until stopped or `max_cycles` cycles ran.

    Args:
        cycle: runs one cycle and returns a short summary for the heartbeat line.
        calendar: sessions. window: buy window in minutes after midnight ET.
        now: the clock (aware datetime). sleep: waits seconds, returns True to stop.
        heartbeat: receives one line per cycle and per closed-market sleep.
        max_cycles: stop after this many cycles (testing, or a bounded cron job).
    """
    stats = LoopStats()
    stop = stop or StopFlag()
    while max_cycles is None or stats.cycles < max_cycles:
        t = now()
        if not calendar.is_open(t):
            opens = calendar.next_open(t)
            heartbeat(
                f"{_et(t)} market closed; next session opens {_et(opens)}, sleeping "
                f"{_duration((opens - t).total_seconds())}"
            )
            if sleep((opens - t).total_seconds()) or stop.event.is_set():
                stats.stopped_by_signal = True
                break
            continue
        summary = cycle(t)
        stats.cycles += 1
        wait = interval(t, window)
        heartbeat(f"{_et(t)} cycle {stats.cycles}: {summary}; next in {wait}s")
        if stop.event.is_set():
            stats.stopped_by_signal = True
            break
        if max_cycles is not None and stats.cycles >= max_cycles:
            break
        if sleep(wait) or stop.event.is_set():
            stats.stopped_by_signal = True
            break
    return stats


def _et(t: dt.datetime) -> str:
    return t.astimezone(ET).strftime("%Y-%m-%d %H:%M:%S ET")


def _duration(seconds: float) -> str:
    s = int(max(0, seconds))
    h, rem = divmod(s, 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"
