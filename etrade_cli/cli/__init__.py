"""The `etrade` command: one Typer app, one error boundary.

Every command lives in a module of this package and only parses options, calls the library and
renders the result. Library errors (`etrade_cli.errors`) become a one-line message on stderr and
their documented exit code here, in `_Group.invoke`, and nowhere else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import EtradeCliError, ExitStatus
from .common import err, state


class _Group(TyperGroup):
    """The root group: the single error boundary of the CLI."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except EtradeCliError as exc:
            _notify_failure(ctx, str(exc), int(exc.exit_code), exc)
            _fail(str(exc), int(exc.exit_code))
        except KeyboardInterrupt:
            _fail("interrupted", int(ExitStatus.INTERRUPTED))
        except BrokenPipeError:  # `etrade scan --csv | head`
            sys.stderr.close()
            raise typer.Exit(0) from None
        except Exception as exc:
            if type(exc).__module__.startswith("typer") or _debug_enabled():
                raise  # Click's own flow (Exit, Abort, usage errors), or --debug: full trace
            message = (
                f"internal error: {type(exc).__name__}: {exc} (this is a bug; rerun with "
                "--debug for the traceback)"
            )
            _notify_failure(ctx, message, int(ExitStatus.ERROR), exc)
            _fail(message, int(ExitStatus.ERROR))


#: commands made for cron: a failure is also sent as a notification
_UNATTENDED = ("run-once", "run-loop")


def _notify_failure(ctx: typer.Context, message: str, code: int, exc: Exception) -> None:
    """Send "run failed" (or "login needed" for an auth error) for an unattended command; the
    exit code and message stay as they are, and a notification problem is one warning line."""
    command = ctx.invoked_subcommand
    if command not in _UNATTENDED or code == ExitStatus.RECONCILE:
        return  # exit 8: the engine already sent the mismatch itself (reconcile.mismatch)
    from ..errors import AuthError
    from ..services import notify_failure

    try:
        cfg = state(ctx).config()
    except EtradeCliError:
        cfg = None
    notify_failure(cfg, command, code, message, auth=isinstance(exc, AuthError))


def _debug_enabled() -> bool:
    import logging

    return logging.getLogger("etrade_cli").isEnabledFor(logging.DEBUG)


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    from ..redact import redact

    err.print(
        f"[red]error:[/] {escape(redact(message))}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


app = typer.Typer(
    cls=_Group,
    name="etrade",
    help="Run an E*TRADE account from the terminal: scan the strategy, trade it on paper or "
    "E*TRADE, and report. Offline by default (paper broker, bundled sample data).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"etrade-cli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Path = typer.Option(  # noqa: B008
        None,
        "--config",
        "-c",
        help="Config file (default: $ETRADE_CLI_CONFIG, ./config.toml, then the user config dir).",
        dir_okay=False,
    ),
    db: Path = typer.Option(  # noqa: B008
        None, "--db", help="Position book (SQLite) to use instead of [paths] db.", dir_okay=False
    ),
    broker: str = typer.Option(
        None,
        "--broker",
        "-b",
        help="Broker for every command: paper, etrade, alpaca, schwab or ibkr (default: "
        "[broker] name; accounts, quote, order and auth default to etrade).",
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Log HTTP requests on stderr (secrets redacted)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Global options."""
    st = state(ctx)
    st.config_path, st.db_path, st.broker = config, db, broker
    if debug:
        _debug_logging()


def _debug_logging() -> None:
    """DEBUG logs of `etrade_cli` on stderr, every record passed through `redact()`."""
    import logging

    from ..redact import RedactingFilter

    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    logger = logging.getLogger("etrade_cli")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)


def _register() -> None:
    from . import (
        accounts_cmd,
        auth_cmd,
        backtest_cmd,
        book,
        chart_cmd,
        config_cmd,
        data_cmd,
        notify_cmd,
        order_cmd,
        plugins_cmd,
        quote_cmd,
        scan,
        schedule_cmd,
        trading,
    )

    auth_cmd.register(app)
    accounts_cmd.register(app)
    quote_cmd.register(app)
    order_cmd.register(app)
    scan.register(app)
    trading.register(app)
    book.register(app)
    backtest_cmd.register(app)
    chart_cmd.register(app)
    data_cmd.register(app)
    config_cmd.register(app)
    notify_cmd.register(app)
    schedule_cmd.register(app)
    plugins_cmd.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="etrade")
