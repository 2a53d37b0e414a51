"""`etrade plugins`: every registered broker, bar source, strategy and notifier, with its origin."""

from __future__ import annotations

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import JSON_OPT, emit_json


def register(app: typer.Typer) -> None:
    """Add `plugins` to `app`."""
    app.command("plugins")(plugins_cmd)


def plugins_cmd(as_json: bool = JSON_OPT) -> None:
    """List the registered brokers, bar sources, strategies and notifiers: built-in, or the
    installed package (name and version) that registered them through the `etrade_cli` entry
    points. A third-party part goes through the same journal, risk checks and live guard."""
    from .. import views
    from ..registry import catalogue

    rows = catalogue()
    if as_json:
        emit_json(views.plugins_json(rows))
        return
    common.out.print(views.plugins_table(rows))
