"""`etrade plugins`: the registered brokers, bar sources, strategies and notifiers."""

from __future__ import annotations

import typer

from .common import JSON_OPT, emit_json, out


def register(app: typer.Typer) -> None:
    """Add `plugins` to `app`."""
    app.command("plugins")(plugins_cmd)


def plugins_cmd(as_json: bool = JSON_OPT) -> None:
    """List the registered parts (built-in and plug-ins) with their origin and config section.

    Listing imports no broker SDK: factories are only called when a part is used.
    """
    from rich.table import Table

    from .. import registry

    rows = [
        {
            "kind": spec.kind,
            "name": spec.name,
            "origin": spec.origin,
            "config_section": spec.config_section,
            "description": spec.description,
        }
        for reg in (registry.brokers, registry.bar_sources, registry.strategies, registry.notifiers)
        for spec in reg
    ]
    if as_json:
        emit_json(rows)
        return
    t = Table(title="Plug-ins", title_justify="left")
    for c in ("Kind", "Name", "Origin", "Section", "Description"):
        t.add_column(c, no_wrap=c != "Description")
    for r in rows:
        t.add_row(r["kind"], r["name"], r["origin"], r["config_section"] or "", r["description"])
    out.print(t)
