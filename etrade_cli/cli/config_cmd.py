"""`etrade config show|check`: the effective configuration, secrets masked."""

from __future__ import annotations

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import JSON_OPT, emit_json, state

config_app = typer.Typer(help="Show or check the configuration.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `config` group to `app`."""
    app.add_typer(config_app, name="config")


@config_app.command("show")
def show(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Print the effective configuration (defaults + file + env), secrets masked."""
    from ..config import config_as_dict
    from ..services import paths

    cfg = state(ctx).config()
    data = config_as_dict(cfg)
    in_use = paths(cfg)
    if as_json:
        doc = {"source": str(cfg.source) if cfg.source else None, **data, "in_use": in_use}
        emit_json(doc, convert=False)  # keys and values exactly as in config.toml
        return
    common.out.print(f"# source: {cfg.source or 'built-in defaults (no config file found)'}")
    for section, values in data.items():
        common.out.print(f"\n[bold]\\[{section}][/]")
        for key, value in values.items():
            common.out.print(f"{key} = {_toml(value)}", markup=False)
    common.out.print("\n# files in use (etrade paths):")
    for name, row in in_use.items():
        common.out.print(f"#   {name} = {row['path'] or 'none'}", markup=False, soft_wrap=True)


@config_app.command("check")
def check(ctx: typer.Context) -> None:
    """Validate the configuration and the symbol lists; exit 3 with the problem if invalid."""
    from ..config import universe

    cfg = state(ctx).config()
    symbols = universe(cfg)
    where = cfg.source or "built-in defaults"
    common.out.print(
        f"config OK ({where}); broker {cfg.broker.name}, data {cfg.data.source}, "
        f"{len(symbols)} symbols in the universe ({cfg.watchlist_path})",
        markup=False,
    )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "# (unset)"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
