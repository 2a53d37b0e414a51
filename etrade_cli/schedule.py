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

    def session_close(self, day: dt.date) -> dt.datetime | None:
        """The close (UTC-aware; 13:00 ET on early-close days) of session `day`, None when `day`
        is not a session or is outside the calendar's range."""
        import pandas as pd

        ts = pd.Timestamp(day)
        try:
            if not self._cal.is_session(ts):
                return None
            return self._cal.session_close(ts).to_pydatetime()
        except Exception:  # exchange_calendars raises for dates outside its range
            return None


def next_buy_window(
    now: dt.datetime, window: tuple[int, int], calendar: Any, max_days: int = 10
) -> tuple[dt.datetime, dt.datetime] | None:
    """The (start, end) of the buy window (minutes after midnight ET, spec §7) that is still
    ahead of `now` or under way, on the next session (today's if it has not ended), as
    UTC-aware datetimes; the end is clipped to an early close. None when no session is found
    within `max_days` calendar days. `calendar` needs `session_close(date)`."""
    day = now.astimezone(ET).date()
    for _ in range(max_days):
        close = calendar.session_close(day)
        if close is not None:
            midnight = dt.datetime.combine(day, dt.time(0), ET)
            start = midnight + dt.timedelta(minutes=window[0])
            end = min(midnight + dt.timedelta(minutes=window[1]), close)
            if end > now and start < end:
                return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)
        day += dt.timedelta(days=1)
    return None


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


# --- cron recipes ------------------------------------------------------------------------------

_DOW = ("1-5", "2-6", "0-4")  # Mon-Fri shifted by 0, +1, -1 days


@dataclass(frozen=True)
class CronJob:
    """One crontab line: `when` the five cron fields (local time), `command`, a `comment`."""

    when: str
    command: str
    comment: str

    def line(self) -> str:
        """The crontab line."""
        return f"{self.when} {self.command}"


def et_to_cron(et_minutes: list[int], today: dt.date, local: dt.tzinfo | None = None) -> list[str]:
    """Cron time fields (minute hour * * day-of-week, local time) for times of day given as
    minutes after midnight US/Eastern on weekdays, converted at the UTC offsets of `today`.
    Slots are grouped by local hour; a conversion that crosses midnight shifts the weekdays."""
    groups: dict[tuple[int, int], list[int]] = {}
    for m in et_minutes:
        et = dt.datetime.combine(today, dt.time(m // 60, m % 60), ET)
        loc = et.astimezone(local) if local else et.astimezone()
        shift = (loc.date() - today).days
        groups.setdefault((loc.hour, shift), []).append(loc.minute)
    return [
        f"{','.join(str(x) for x in sorted(set(mins)))} {hour} * * {_DOW[shift]}"
        for (hour, shift), mins in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def crontab_jobs(
    etrade: str,
    window: tuple[int, int],
    *,
    broker: str | None,
    today: dt.date,
    every_min: int = 5,
    log: str | None = None,
    local: dt.tzinfo | None = None,
) -> list[CronJob]:
    """Cron jobs for unattended trading, at US/Eastern market times converted to local time:
    a pre-open login check (E*TRADE only, 09:00 ET), `run-once` every `every_min` minutes in the
    buy window (`window`: minutes after midnight ET), and the evening summary (16:30 ET).

    `etrade` is the command prefix (absolute path plus global options). `run-once` itself skips
    holidays and early closes (NYSE calendar), so the lines need no holiday list."""
    tail = f" >> {log} 2>&1" if log else ""
    b = f" --broker {broker}" if broker else ""
    jobs = []
    if broker == "etrade":
        for when in et_to_cron([9 * 60], today, local):
            jobs.append(
                CronJob(
                    when,
                    f"{etrade} auth check --notify{tail}",
                    "09:00 ET: is the E*TRADE token good through the buy window? (reminder)",
                )
            )
    slots = list(range(window[0], window[1], every_min))
    for when in et_to_cron(slots, today, local):
        jobs.append(
            CronJob(when, f"{etrade} run-once{b}{tail}", "buy window (ET): one trading cycle")
        )
    for when in et_to_cron([16 * 60 + 30], today, local):
        jobs.append(
            CronJob(when, f"{etrade} notify summary{b}{tail}", "16:30 ET: the day's summary")
        )
    return jobs
