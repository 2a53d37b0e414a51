"""`etrade notify test|summary|events`: notifications through apprise."""

from __future__ import annotations

from typing import Any

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import JSON_OPT, emit_json, state

notify_app = typer.Typer(
    help="Notifications through apprise (urls in the config's notify section, or $ETRADE_NOTIFY_URLS).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `notify` group to `app`."""
    app.add_typer(notify_app, name="notify")


def _notifier(ctx: typer.Context) -> Any:
    from ..errors import ConfigError
    from ..notify import from_config

    notifier = from_config(state(ctx).config())
    if notifier is None:
        raise ConfigError(
            "no notification URL: set [notify] urls (apprise URLs such as "
            '"ntfy://my-topic" or "json://host/hook") or $ETRADE_NOTIFY_URLS'
        )
    return notifier


def _report(results: list[Any], as_json: bool) -> None:
    from ..errors import ApiError

    if as_json:
        emit_json([{"url": r.label, "ok": r.ok, "error": r.error or None} for r in results])
    else:
        for r in results:
            line = f"ok    {r.label}" if r.ok else f"FAIL  {r.label}: {r.error}"
            common.out.print(line, markup=False, highlight=False, soft_wrap=True)
    failed = sum(not r.ok for r in results)
    if failed:
        raise ApiError(f"{failed} of {len(results)} notification URL(s) failed")


@notify_app.command("test")
def test_cmd(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Send one test message to every configured URL; report each URL's success or error.

    Exit 0 when all succeed, 5 when any fails, 3 when no URL is configured.
    """
    from ..events import TestMessage

    _report(_notifier(ctx).send(TestMessage()), as_json)


@notify_app.command("summary")
def summary_cmd(
    ctx: typer.Context,
    broker: str = typer.Option(
        None, "--broker", "-b", help="Broker whose book to summarize (default from config)."
    ),
    day: str = typer.Option(
        None, "--day", help="Session date, YYYY-MM-DD (default: the book's last session)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Send the day's summary: fills, realized and unrealized P&L, open positions, equity.

    Prints it too. Without a configured URL it is only printed (with a warning).
    """
    from ..notify import from_config
    from ..notify.summary import daily_summary
    from .book import _book
    from .common import parse_date, warn

    wanted = parse_date(day, "--day")
    store, book, market, session = _book(ctx, broker)
    try:
        the_day = (
            wanted.isoformat()
            if wanted
            else str(session or store.last_session(book.broker, book.account) or "")
        )
        if not the_day:
            from ..errors import InputError

            raise InputError("the book has no session yet; run `etrade run-once` first")
        event = daily_summary(
            store,
            book.broker,
            book.account,
            the_day,
            lambda s: market.last_close(s, session) if session is not None else None,
        )
    finally:
        store.close()
    notifier = from_config(state(ctx).config())
    if as_json:
        emit_json(event.to_dict())
    else:
        common.out.print(event.title, markup=False)
        common.out.print(event.body, markup=False, highlight=False)
    if notifier is None:
        warn("no notification URL configured ([notify] urls); summary not sent")
        return
    results = notifier.send(event)
    for r in results:
        if not r.ok:
            warn(f"summary not sent to {r.label}: {r.error}")
    if results and all(r.ok for r in results):
        common.err.print(f"Summary sent to {len(results)} URL(s).", markup=False)


@notify_app.command("events")
def events_cmd(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """List the event types (for `events` in the notify section), marking the default set."""
    from ..events import DEFAULT_EVENTS, EVENT_TYPES

    cfg = state(ctx).config()
    chosen = set(EVENT_TYPES if "all" in cfg.notify.events else cfg.notify.events or DEFAULT_EVENTS)
    rows = [{"type": t, "default": t in DEFAULT_EVENTS, "sent": t in chosen} for t in EVENT_TYPES]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        mark = "sent" if r["sent"] else "-"
        default = " (default)" if r["default"] else ""
        common.out.print(f"{r['type']:<20} {mark}{default}", markup=False)
