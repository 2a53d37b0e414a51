"""`etrade paths` (the files in use) and `etrade paper reset` (start the paper account over)."""

from __future__ import annotations

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import JSON_OPT, emit_json, state

paper_app = typer.Typer(help="The local paper account: reset.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `paths` and the `paper` group to `app`."""
    app.command("paths")(paths_cmd)
    app.add_typer(paper_app, name="paper")


def paths_cmd(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """The files and folders in use: config file, user config and data dirs, position book,
    bar cache, parsed CSV cache, token store, trading lock file, watchlist and exclusion list (with --db and
    --config applied), and whether each exists."""
    from rich.markup import escape

    from .. import views
    from ..services import paths

    found = paths(state(ctx).config())
    if as_json:
        emit_json(found)
        return
    t = views.table("Paths in use")
    t.add_column("What", no_wrap=True)
    t.add_column("Path", overflow="fold")  # long paths wrap whole, never cut
    t.add_column("")
    for name, row in found.items():
        mark = "" if row["exists"] or row["path"] is None else "[dim](missing)[/]"
        t.add_row(name.replace("_", " "), escape(str(row["path"] or "none")), mark)
    common.out.print(t)


@paper_app.command("reset")
def reset(
    ctx: typer.Context,
    cash: float = typer.Option(
        None, "--cash", min=1.0, help="Starting cash, USD (default [broker] paper_cash)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = JSON_OPT,
) -> None:
    """Start the paper account over: its positions, orders, fills, runs and refusals are
    deleted and it reopens with the starting cash. The old book is first copied to
    <book>.<UTC time>.bak next to it; other brokers' rows in the book are kept. Refused
    while a run-once/run-loop holds the trading lock (exit 7)."""
    from ..services import reset_paper

    cfg = state(ctx).config()
    starting = cash if cash is not None else cfg.broker.paper_cash
    if not yes:
        typer.confirm(
            f"Start the paper account in {cfg.db_path} over with {starting:,.2f} USD "
            "(a backup of the book is kept)?",
            abort=True,
            err=True,
        )
    backup, starting = reset_paper(cfg, cash)
    if as_json:
        emit_json(
            {"book": str(cfg.db_path), "backup": str(backup) if backup else None, "cash": starting}
        )
        return
    common.err.print(
        f"Paper account reset in {cfg.db_path} with {starting:,.2f} USD"
        + (f"; the old book is in {backup}" if backup else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
