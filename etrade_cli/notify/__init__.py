"""Notifications through apprise (ntfy, Telegram, Discord, Slack, e-mail, JSON webhooks, ...).

`AppriseNotifier` is an event subscriber (`etrade_cli.events`): it sends the event types chosen
in `[notify] events` to every configured URL (`[notify] urls`, `$ETRADE_NOTIFY_URLS` and
apprise's own config file). A failed send is retried once, then reported as one warning line on
stderr; it never fails the run. URLs are secrets: only apprise's privacy form (tokens masked)
ever appears in a message.

Repeats: an event with a `dedupe_key` (a warning every cron run would repeat) is not sent again
within `[notify] repeat_minutes`; login reminders (`token.*`) at most once per US/Eastern day.
What was sent when is kept in `<data dir>/notify-sent.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..events import DEFAULT_EVENTS, EVENT_TYPES, Event

if TYPE_CHECKING:
    from ..config import Config, NotifyConfig

ET_ZONE = "America/New_York"
#: levels sent even during quiet hours
URGENT = ("failure",)
STATE_FILE = "notify-sent.json"


@dataclass(frozen=True)
class SendResult:
    """The outcome of one URL: `label` is apprise's privacy form of the URL (secrets masked),
    `error` the one-line reason when `ok` is False."""

    label: str
    ok: bool
    error: str = ""


class _Collect(logging.Handler):
    """Keeps apprise's warning lines of one send (they say why it failed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().strip())


def _quiet(spec: str, now: dt.datetime) -> bool:
    """True when local time `now` falls in "HH:MM-HH:MM" (which may wrap past midnight)."""
    if not spec:
        return False
    start, end = (dt.time.fromisoformat(p.strip()) for p in spec.split("-"))
    t = now.astimezone().time()
    return start <= t < end if start <= end else (t >= start or t < end)


def apprise_config_files(setting: str) -> list[Path]:
    """apprise config files to load: `setting` (a path), none for "none", else those of
    apprise's usual places that exist (`~/.config/apprise/apprise.yml` and the like)."""
    if setting.lower() == "none":
        return []
    if setting:
        return [Path(setting).expanduser()]
    try:
        from apprise.cli import DEFAULT_CONFIG_PATHS
    except ImportError:  # pragma: no cover - apprise without its CLI module
        return []
    found = (Path(os.path.expandvars(p)).expanduser() for p in DEFAULT_CONFIG_PATHS)
    return [p for p in found if p.is_file()]


class AppriseNotifier:
    """An event subscriber that sends chosen events through apprise.

    Args:
        cfg: `[notify]`. state_path: the repeat-suppression file.
        warn: receives one line per failed send (default: stderr).
        now: the clock (UTC-aware). retry_delay_s: wait before the one retry.
    """

    name = "apprise"

    def __init__(
        self,
        cfg: NotifyConfig,
        state_path: Path | None = None,
        *,
        warn: Callable[[str], None] | None = None,
        now: Callable[[], dt.datetime] | None = None,
        retry_delay_s: float = 1.0,
    ):
        self.cfg = cfg
        self.state_path = state_path
        self.events = _chosen(cfg.events)
        self.warn = warn or _stderr_warning
        self.now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self.retry_delay_s = retry_delay_s
        self._apprise: Any = None
        self._dead: set[str] = set()  # URLs that failed in this process: not tried again

    @property
    def configured(self) -> bool:
        """True when at least one URL or apprise config file is there."""
        return bool(self.cfg.urls or apprise_config_files(self.cfg.apprise_config))

    def wants(self, event: Event) -> bool:
        """The event's type is chosen, it is not held by quiet hours, and not a recent repeat."""
        if event.type not in self.events:
            return False
        if event.level not in URGENT and _quiet(self.cfg.quiet_hours, self.now()):
            return False
        if not self._repeat(event):
            return True
        if event.level in URGENT:  # say why a failure produced no message
            sys.stderr.write(
                f"note: notification {event.type} not repeated: the same one was sent "
                f"recently ([notify] repeat_minutes = {self.cfg.repeat_minutes}"
                f"{'; login reminders once a day' if event.type.startswith('token.') else ''})\n"
            )
        return False

    def __call__(self, event: Event) -> None:
        """Send `event` when `wants(event)`; failures become warning lines, never exceptions."""
        if not self.wants(event):
            return
        results = self.send(event, skip_dead=True)
        if any(r.ok for r in results):
            self._remember(event)
        for r in results:
            if not r.ok:
                self._dead.add(r.label)
                self.warn(
                    f"notification {event.type} not sent to {r.label} (retried once; no more "
                    f"notifications to it in this run): {r.error}"
                )

    def send_now(self, event: Event) -> None:
        """Send `event` whatever the repeat rule says (an explicit request); failures become
        warning lines; the send is remembered for later repeats."""
        results = self.send(event)
        if any(r.ok for r in results):
            self._remember(event)
        for r in results:
            if not r.ok:
                self.warn(f"notification {event.type} not sent to {r.label}: {r.error}")

    def send(self, event: Event, skip_dead: bool = False) -> list[SendResult]:
        """Send `event` to every URL (retrying a failure once); one result per URL. With
        `skip_dead`, URLs that already failed in this process are skipped (no result)."""
        out = []
        for server in self._servers():
            if skip_dead and _label(server) in self._dead:
                continue
            out.append(self._send_one(server, event))
        return out

    def _servers(self) -> list[Any]:
        import apprise

        logging.getLogger("apprise").addHandler(logging.NullHandler())
        if self._apprise is None:
            obj = apprise.Apprise()
            for url in self.cfg.urls:
                if not obj.add(url):
                    self.warn(f"notification URL not understood by apprise: {_scheme(url)}://****")
            files = apprise_config_files(self.cfg.apprise_config)
            if files:
                ac = apprise.AppriseConfig()
                for f in files:
                    ac.add(str(f))
                obj.add(ac)
            self._apprise = obj
        return list(self._apprise)

    def _send_one(self, server: Any, event: Event) -> SendResult:
        import apprise

        label = _label(server)
        kind = {
            "success": apprise.NotifyType.SUCCESS,
            "warning": apprise.NotifyType.WARNING,
            "failure": apprise.NotifyType.FAILURE,
        }.get(event.level, apprise.NotifyType.INFO)
        handler = _Collect()
        log = logging.getLogger("apprise")
        log.addHandler(handler)
        try:
            for attempt in range(2):
                try:
                    if server.notify(body=_body(event), title=event.title, notify_type=kind):
                        return SendResult(label, True)
                except Exception as exc:  # a plug-in's own bug must not stop the run
                    handler.lines.append(f"{type(exc).__name__}: {exc}")
                if attempt == 0 and self.retry_delay_s:
                    time.sleep(self.retry_delay_s)
        finally:
            log.removeHandler(handler)
        return SendResult(label, False, _one_line(handler.lines))

    # -- repeats ------------------------------------------------------------------------------

    def _key(self, event: Event) -> str | None:
        return None if event.dedupe_key is None else f"{event.type}|{event.dedupe_key}"

    def _repeat(self, event: Event) -> bool:
        key = self._key(event)
        if key is None or self.state_path is None:
            return False
        last = self._load().get(key)
        if last is None:
            return False
        sent, now = dt.datetime.fromisoformat(last), self.now()
        if event.type.startswith("token."):
            from zoneinfo import ZoneInfo

            et = ZoneInfo(ET_ZONE)
            return sent.astimezone(et).date() == now.astimezone(et).date()
        return now - sent < dt.timedelta(minutes=self.cfg.repeat_minutes)

    def _remember(self, event: Event) -> None:
        key = self._key(event)
        if key is None or self.state_path is None:
            return
        now = self.now()
        data = {
            k: v
            for k, v in self._load().items()
            if now - dt.datetime.fromisoformat(v) < dt.timedelta(days=8)
        }
        data[key] = now.isoformat()
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self.state_path)
        except OSError as exc:
            self.warn(f"cannot record sent notifications in {self.state_path}: {exc}")

    def _load(self) -> dict[str, str]:
        if self.state_path is None or not self.state_path.exists():
            return {}
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _label(server: Any) -> str:
    """apprise's privacy form of a URL (tokens and passwords masked), without its options."""
    return str(server.url(privacy=True)).split("?")[0]


def _body(event: Event) -> str:
    """The event's body and, on its last line, its machine-readable type in brackets."""
    return f"{event.body}\n[{event.type}]" if event.body else f"[{event.type}]"


def _chosen(events: tuple[str, ...]) -> frozenset[str]:
    if "all" in events:
        return frozenset(EVENT_TYPES)
    return frozenset(events or DEFAULT_EVENTS)


def _scheme(url: str) -> str:
    return url.partition("://")[0] if "://" in url else "?"


def _one_line(lines: list[str]) -> str:
    useful = [x for x in lines if x]
    return (useful[-1] if useful else "apprise reported a failure").splitlines()[0]


def _stderr_warning(message: str) -> None:
    from ..redact import redact

    sys.stderr.write(f"warning: {redact(message)}\n")


def from_config(cfg: Config) -> AppriseNotifier | None:
    """The notifier for `[notify]`, or None when no URL and no apprise config file is set."""
    from ..config import home_dirs

    notifier = AppriseNotifier(cfg.notify, home_dirs()[1] / STATE_FILE)
    return notifier if notifier.configured else None
