"""The E*TRADE login reminder: will the access token last through the buy window?

E*TRADE access tokens expire at midnight US/Eastern (`etrade_api.md`, OAuth), so a token is good
for the rest of the ET day it was issued and no login can cover a later day. `check_token`
therefore compares its expiry with the end of today's buy window when today is an NYSE session
whose window has not ended (the strategy's window, early closes honoured); on other days and
after the window, with now (is it valid at all?). `within` replaces that with `now + within`.
The reminder names the next window's start ("log in before 15:00 ET").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..events import TokenExpired, TokenExpiring

if TYPE_CHECKING:
    from ..config import Config


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of `check_token`. Times UTC-aware.

    Attributes:
        ok: the token is usable until `deadline`.
        status: missing | expired | expiring (valid now, gone before `deadline`) | valid |
            inactive (idle 2 h; renewed automatically).
        deadline: the token must be usable until then (see the module doc).
        window_start: the next buy window's start (None when no session was found).
    """

    ok: bool
    status: str
    environment: str
    expires_at: dt.datetime | None
    deadline: dt.datetime
    window_start: dt.datetime | None

    def event(self) -> TokenExpired:
        """The reminder to send when not `ok`."""
        cls = TokenExpiring if self.status == "expiring" else TokenExpired
        return cls(
            environment=self.environment,
            status=self.status,
            expires_at=self.expires_at.replace(microsecond=0).isoformat()
            if self.expires_at
            else None,
            deadline_et=_et_text(self.window_start or self.deadline),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO-8601 UTC)."""
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {
            "ok": self.ok,
            "status": self.status,
            "environment": self.environment,
            "expires_at": iso(self.expires_at),
            "deadline": iso(self.deadline),
            "window_start": iso(self.window_start),
        }


def _et_text(t: dt.datetime) -> str:
    from ..schedule import ET

    et = t.astimezone(ET)
    today = dt.datetime.now(dt.timezone.utc).astimezone(ET).date()
    return f"{et:%H:%M}" if et.date() == today else f"{et:%a %Y-%m-%d %H:%M}"


def check_token(
    cfg: Config,
    now: dt.datetime,
    within: dt.timedelta | None = None,
    calendar: Any = None,
) -> TokenCheck:
    """Check the stored E*TRADE token against the next buy window (or `now + within`).

    Raises:
        AuthError: no consumer key/secret configured (the token store cannot be named).
    """
    from ..etrade.auth import environment_name, token_store
    from ..schedule import ET, NyseCalendar, next_buy_window
    from ..services import buy_window

    tokens = token_store(cfg.etrade).load()
    window = next_buy_window(now, buy_window(cfg), calendar or NyseCalendar())
    today = window is not None and window[1].astimezone(ET).date() == now.astimezone(ET).date()
    if within is not None:
        deadline = now + within
    else:
        deadline = window[1] if window is not None and today else now
    env = environment_name(cfg.etrade)
    if tokens is None:
        return TokenCheck(False, "missing", env, None, deadline, window and window[0])
    status = tokens.status(now)
    expires = tokens.expires_at
    if status != "expired" and expires <= deadline:
        status = "expiring"
    ok = status in ("valid", "inactive")
    return TokenCheck(ok, status, env, expires, deadline, window and window[0])


def parse_duration(text: str) -> dt.timedelta:
    """ "90m", "2h", "1h30m", "45s" or a number of minutes.

    Raises:
        InputError: anything else.
    """
    import re

    from ..errors import InputError

    t = text.strip().lower()
    if t.isdigit():
        return dt.timedelta(minutes=int(t))
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", t)
    if not t or not m or not any(m.groups()):
        raise InputError(f"bad duration {text!r}: use e.g. 2h, 90m or 1h30m")
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return dt.timedelta(hours=h, minutes=mi, seconds=s)
