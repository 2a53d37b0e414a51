"""`etrade run-once` and `etrade run-loop`: the trading loop, one cycle or on a schedule."""

from __future__ import annotations

from typing import Any

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import JSON_OPT, complete_broker, complete_strategy, emit_json, parse_date, state

BROKER_OPT = typer.Option(
    None,
    "--broker",
    "-b",
    help="Broker: paper, etrade, alpaca, schwab or ibkr (default: the global --broker, then "
    "[broker] name).",
    autocompletion=complete_broker,
)
STRATEGY_OPT = typer.Option(
    None,
    "--strategy",
    help="Strategy: rajat_alpha, http (a signal service, [signals]) or package.module:Class "
    "(default [strategy] name).",
    autocompletion=complete_strategy,
)
LIVE_OPT = typer.Option(
    False,
    "--live",
    help="Allow real-money orders (also needs allow_live_orders = true in the broker's section).",
)


def register(app: typer.Typer) -> None:
    """Add `run-once` and `run-loop` to `app`."""
    app.command("run-once")(run_once_cmd)
    app.command("run-loop")(run_loop_cmd)


def _deps(
    ctx: typer.Context,
    broker: str | None,
    live: bool = False,
    dry_run: bool = False,
    strategy: str | None = None,
) -> Any:
    """Engine dependencies for `broker` and `strategy` (default `[strategy] name`); the live
    guard applies unless nothing is sent."""
    from ..config import universe
    from ..registry import check_live_guard
    from ..services import (
        broker_spec,
        engine_deps,
        make_broker,
        make_strategy,
        notifiers,
        open_store,
    )

    st = state(ctx)
    cfg = st.config()
    name = broker or st.broker or cfg.broker.name
    if not dry_run:  # nothing is sent in a dry run: it shows what a live run would send
        check_live_guard(cfg, broker_spec(cfg, name), live)  # before anything is opened
    chosen = make_strategy(cfg, strategy)
    store = open_store(cfg)
    try:
        symbols = universe(cfg, allow_empty=True)
        if not symbols:  # exits are never blocked: open positions are still managed
            common.err.print(
                f"warning: the watchlist is empty ({cfg.watchlist_path}): no entries; "
                "open positions are still managed",
                markup=False,
            )
        deps = engine_deps(cfg, store, make_broker(cfg, store, name), symbols, chosen)
    except BaseException:
        store.close()
        raise
    deps.subscribers.extend(notifiers(cfg))
    return deps


def _service_failed(res: Any) -> None:
    """A signal service that failed this cycle: one line, exit 5 (after the cycle's output)."""
    from ..errors import ApiError

    if res.service_errors:
        raise ApiError("signal service: " + "; ".join(res.service_errors))


def run_once_cmd(
    ctx: typer.Context,
    as_of: str = typer.Option(
        None,
        "--as-of",
        help="Run at this session date, YYYY-MM-DD (default: the latest bar of the data).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Decide and print; send nothing, change nothing."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="When --as-of is not a session, run the "
        "last session before it instead of reporting the market closed.",
    ),
    broker: str = BROKER_OPT,
    live: bool = LIVE_OPT,
    strategy: str = STRATEGY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """One cycle of the trading loop (made for cron): reconcile, exits, then entries.

    Entries pass the [risk] checks first (notional cap, orders per day, daily-loss kill switch,
    cash); every order is journaled in the book at [paths] db (or --db) before it is sent.

    With a signal-service strategy (`--strategy http`), a service that is down, slow or answers
    garbage gives no entries; exits still run and the exit code is 5.
    """
    import numpy as np

    from .. import views
    from ..engine import run_once

    day = parse_date(as_of, "--as-of")
    deps = _deps(ctx, broker, live, dry_run, strategy)
    try:
        res = run_once(deps, np.datetime64(day) if day else None, dry_run=dry_run, force=force)
    finally:
        deps.store.close()
    if as_json:
        emit_json(views.run_result_dict(res))
    else:
        for part in views.run_tables(res):
            common.out.print(part)
    if res.halted:
        from ..errors import ReconcileError

        raise ReconcileError(
            f"reconcile: {res.halted}; nothing sent: check the account and the book "
            "(`etrade positions`) before the next run"
        )
    failure = res.failure()
    if failure is not None:  # orders it meant to send that no broker confirmed: exit 5
        raise failure
    _service_failed(res)


def run_loop_cmd(
    ctx: typer.Context,
    broker: str = BROKER_OPT,
    live: bool = LIVE_OPT,
    strategy: str = STRATEGY_OPT,
    max_cycles: int = typer.Option(None, "--max-cycles", min=1, help="Stop after N cycles."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and print; send nothing."),
) -> None:
    """Run the cycle on NYSE sessions (every 120 s; 60 s in the buy window).

    Sleeps until the next session while the market is closed; Ctrl-C or SIGTERM stops the loop
    after the current cycle. Prints a heartbeat line per cycle on stderr.
    """
    import datetime as dt

    from ..engine import run_once
    from ..events import Event, RunFinished
    from ..schedule import NyseCalendar, StopFlag, run_loop
    from ..services import make_strategy

    cfg = state(ctx).config()
    stop = StopFlag()
    stop.install()
    last: list[str] = []

    def heartbeat_line(event: Event) -> None:
        """The first subscriber: keeps the summary of the finished cycle for the heartbeat."""
        if isinstance(event, RunFinished):
            last.append(event.summary())

    def cycle(_now: dt.datetime) -> str:
        deps = _deps(ctx, broker, live, dry_run, strategy)
        deps.subscribers.insert(0, heartbeat_line)
        try:
            res = run_once(deps, None, dry_run=dry_run, mode="run-loop")
        finally:
            deps.store.close()
        line = last.pop() if last else "no summary"
        return line + "".join(f"; signal service: {e}" for e in res.service_errors)

    stats = run_loop(
        cycle,
        calendar=NyseCalendar(),
        window=make_strategy(cfg, strategy).buy_window() or (9 * 60 + 30, 16 * 60),
        now=lambda: dt.datetime.now(dt.timezone.utc),
        sleep=stop.wait,
        heartbeat=lambda line: common.err.print(line, markup=False, highlight=False),
        max_cycles=max_cycles,
        stop=stop,
    )
    common.err.print(
        f"run-loop stopped after {stats.cycles} cycle(s)"
        + (" on a signal" if stats.stopped_by_signal else ""),
        markup=False,
    )
