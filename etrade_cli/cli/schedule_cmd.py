"""`etrade schedule --crontab`: ready crontab lines for unattended trading on this machine."""

from __future__ import annotations

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import state


def register(app: typer.Typer) -> None:
    """Add `schedule` to `app`."""
    app.command("schedule")(schedule_cmd)


def _etrade_path() -> str:
    """The absolute path of the installed `etrade` (next to this Python first), else
    `python -m etrade_cli` with this interpreter."""
    import shutil
    import sys
    from pathlib import Path

    beside = Path(sys.executable).parent / "etrade"
    if beside.is_file():
        return str(beside)
    found = shutil.which("etrade")
    return str(Path(found).resolve()) if found else f"{sys.executable} -m etrade_cli"


def schedule_cmd(
    ctx: typer.Context,
    crontab: bool = typer.Option(
        False, "--crontab", help="Print crontab lines (the default and only format so far)."
    ),
    broker: str = typer.Option(
        None, "--broker", "-b", help="Broker for run-once (etrade adds the 09:00 ET login check)."
    ),
    every: int = typer.Option(
        5, "--every", min=1, max=30, help="Minutes between run-once in the buy window."
    ),
) -> None:
    """Print crontab lines: market times (US/Eastern) converted to this machine's time zone.

    A pre-open `auth check --notify` (with --broker etrade), `run-once` every few minutes in the
    buy window and the evening `notify summary`, using the absolute path of `etrade` and of the
    config file in use. Install with `crontab -e`; regenerate after a daylight-saving change if
    this machine is not on US/Eastern time.
    """
    import datetime as dt

    from ..config import home_dirs
    from ..schedule import ET, crontab_jobs
    from ..services import buy_window

    cfg = state(ctx).config()
    st = state(ctx)
    prefix = _etrade_path()
    if cfg.source is not None:
        prefix += f" --config {cfg.source.resolve()}"
    if st.db_path is not None:
        prefix += f" --db {st.db_path.resolve()}"
    now = dt.datetime.now(dt.timezone.utc)
    local = now.astimezone().tzinfo
    jobs = crontab_jobs(
        prefix,
        buy_window(cfg),
        broker=broker or (cfg.broker.name if cfg.broker.name != "paper" else None),
        today=now.astimezone(ET).date(),
        every_min=every,
        log=str(home_dirs()[1] / "cron.log"),
    )
    common.out.print(
        f"# etrade-cli cron recipe: US/Eastern market times in this machine's time zone "
        f"({now.astimezone():%Z}, UTC{now.astimezone():%z}).",
        markup=False,
        soft_wrap=True,
    )
    common.out.print(
        "# Cron has no login environment: put ETRADE_CONSUMER_KEY/SECRET and "
        "ETRADE_NOTIFY_URLS in the config or above these lines.",
        markup=False,
        soft_wrap=True,
    )
    if local is not None and now.astimezone(ET).utcoffset() != now.astimezone().utcoffset():
        common.out.print(
            "# Regenerate after a daylight-saving change (ET and local differ).", markup=False
        )
    for job in jobs:
        common.out.print(f"# {job.comment}", markup=False, soft_wrap=True)
        common.out.print(job.line(), markup=False, soft_wrap=True, highlight=False)
