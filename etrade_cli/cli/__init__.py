"""The `etrade` command: one Typer app, one error boundary.

Every command lives in a module of this package and only parses options, calls the library and
renders the result. Library errors (`etrade_cli.errors`) become a one-line message on stderr and
their documented exit code here, in `_Group.invoke`, and nowhere else; Click's usage errors become
one line too (exit 2). Global options (`--config`, `--db`, `--debug`, `--broker`) may come before
or after the command name: `_Group.main` moves them to where they are defined (`move_globals`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer._click import Command, Context, Parameter  # Typer vendors Click since 0.22
from typer._click.exceptions import UsageError
from typer.core import TyperGroup, TyperOption

from .. import __version__
from ..errors import EtradeCliError, ExitStatus
from . import coerce  # noqa: F401  (Typer's coercion, lighter: see the module)
from .common import complete_broker, state, stderr_line


class _Group(TyperGroup):
    """The root group: the single error boundary of the CLI, whose commands (`COMMANDS`) are
    imported when first used."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands.update(load_commands(COMMANDS[cmd_name][0]))
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        if args and args[0] not in COMMANDS:  # an unknown name: suggest among all commands
            for name in COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Context, formatter: Any) -> None:
        """The command list of `etrade --help` from `COMMANDS` (as Click would write it from
        the commands themselves), without importing them."""
        from typer._click.utils import make_default_short_help

        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, make_default_short_help(text, limit)) for name, (_, text) in COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args: Any = None, *a: Any, **kw: Any) -> Any:  # type: ignore[override]
        """Click's entry point, with the global options put where they are defined."""
        argv = list(sys.argv[1:] if args is None else args)
        _completion_for_shell(argv)
        argv = move_globals(self, argv)
        try:
            argv = _json_args(self, argv)
        except EtradeCliError as exc:
            _fail(str(exc), int(exc.exit_code))
        return super().main(argv, *a, **kw)

    def make_context(self, info_name: Any, args: list[str], *a: Any, **kw: Any) -> Any:
        try:
            return super().make_context(info_name, args, *a, **kw)
        except UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            with _stdout_to(ctx.params.get("output")):
                return super().invoke(ctx)
        except UsageError as exc:
            _usage_error(exc)
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


def _stdout_to(target: Path | None) -> Any:
    """`machine.stdout_to(target)` for `--output FILE`; without it, stdout as it is (and no
    import of `machine`)."""
    if target is None:
        from contextlib import nullcontext

        return nullcontext()
    from .machine import stdout_to

    return stdout_to(target)


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


SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _completion_for_shell(argv: list[str]) -> None:
    """`etrade --show-completion bash` / `--install-completion zsh`: the named shell rather
    than the detected one (Typer's options are flags that detect the shell)."""
    if len(argv) != 2 or argv[1] not in SHELLS:
        return
    from typer._completion_shared import get_completion_script, install

    if argv[0] == "--show-completion":
        script = get_completion_script(
            prog_name="etrade", complete_var="_ETRADE_COMPLETE", shell=argv[1]
        )
        typer.echo(script)
        raise SystemExit(0)
    if argv[0] == "--install-completion":
        shell, path = install(shell=argv[1], prog_name="etrade", complete_var="_ETRADE_COMPLETE")
        typer.echo(f"{shell} completion installed in {path}; it takes effect in a new shell")
        raise SystemExit(0)


def _usage_error(exc: UsageError) -> None:
    """A usage error as one line on stderr, exit 2 (help itself still shows as help)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        raise exc
    where = exc.ctx.command_path if exc.ctx is not None else "etrade"
    _fail(f"{exc.format_message()} (see '{where} --help')", int(ExitStatus.USAGE))


def move_globals(group: TyperGroup, args: list[str]) -> list[str]:
    """Reorder `args` so that each option sits where it is defined: a root option given after
    the command (`etrade positions --db demo.db`) moves before it, and a root-position option
    that the command defines itself (`etrade --db g.db backtest`, `etrade --broker paper
    positions`) moves after it. Anything after `--` is left alone; unknown options stay put for
    Click to refuse."""
    root_opts = _options(group.params)
    helps = group.context_settings.get("help_option_names", [])
    i = 0
    any_opts: dict[str, bool] | None = None  # every command's options: only when needed
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-", "--"):
        name = args[i].split("=", 1)[0]
        if any_opts is None and name not in root_opts and name not in helps:
            any_opts = {**_tree_options(group), **root_opts}
        i += _option_span(args, i, root_opts if any_opts is None else any_opts)
    if i >= len(args) or args[i] == "--":
        return args
    head, rest = args[:i], args[i:]
    leaf, path_len = _leaf(group, rest)
    if leaf is None:
        return args
    leaf_opts = _options(leaf.params)
    # root-position options that the command defines itself go to the command
    kept, moved_in = _split(head, lambda name: name in leaf_opts, {**root_opts, **leaf_opts})
    kept2, moved_out = _split(
        rest[path_len:],
        lambda name: name in root_opts and name not in leaf_opts,
        {**leaf_opts, **root_opts},
    )
    return [*kept, *moved_out, *rest[:path_len], *moved_in, *kept2]


def _json_args(group: TyperGroup, args: list[str]) -> list[str]:
    """`--json FIELDS` and `--jsonl` (see `machine.extract_json_args`) for a command that has
    `--json`; other command lines are left as they are."""
    loaded: Any = sys.modules.get(f"{__name__}.machine")
    if loaded is not None:  # an earlier command line of this process (tests): start over
        loaded.current = loaded.MachineOutput()
    i = 0
    root_opts = _options(group.params)
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-", "--"):
        i += _option_span(args, i, root_opts)
    leaf, n = _leaf(group, args[i:])
    if leaf is None or "--json" not in _options(leaf.params):
        return args
    words = args[i + n :]
    words = words[: words.index("--")] if "--" in words else words
    if not any(w.startswith("--json") for w in words):
        return args  # nothing for `machine` to take out (it is imported when output is made)
    from . import machine

    # a group's sub-command names count as positional words (`backtest --json list`)
    positionals = isinstance(leaf, TyperGroup) or any(
        not isinstance(p, TyperOption) for p in leaf.params
    )
    cut = i + n
    return args[:cut] + machine.extract_json_args(args[cut:], positionals)


def _options(params: list[Parameter]) -> dict[str, bool]:
    """Option name -> takes a value, for every option of `params`."""
    found: dict[str, bool] = {}
    for p in params:
        if isinstance(p, TyperOption):
            for name in (*p.opts, *p.secondary_opts):
                found[name] = not p.is_flag and not p.count
    return found


def _tree_options(group: TyperGroup) -> dict[str, bool]:
    """`_options` of every command under `group` (to step over a command's option given
    before the command name)."""
    found: dict[str, bool] = {}
    ctx = Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, TyperGroup):
            found.update(_tree_options(cmd))
        elif cmd is not None:
            found.update(_options(cmd.params))
    return found


def _option_span(args: list[str], i: int, opts: dict[str, bool]) -> int:
    """How many tokens the option at `args[i]` occupies (1, or 2 with a separate value)."""
    name = args[i].split("=", 1)[0]
    return 2 if "=" not in args[i] and opts.get(name, False) and i + 1 < len(args) else 1


def _split(tokens: list[str], move: Any, opts: dict[str, bool]) -> tuple[list[str], list[str]]:
    """(tokens kept, options moved): options for which `move(name)` is true, with their values."""
    kept: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "--":
            kept += tokens[i:]
            break
        if not tok.startswith("-") or tok == "-":
            kept.append(tok)
            i += 1
            continue
        n = _option_span(tokens, i, opts)
        (moved if move(tok.split("=", 1)[0]) else kept).extend(tokens[i : i + n])
        i += n
    return kept, moved


def _leaf(group: TyperGroup, rest: list[str]) -> tuple[Command | None, int]:
    """The command named at the start of `rest` (descending into sub-groups) and how many
    tokens its name path takes."""
    ctx = Context(group)
    cmd: Command | None = group
    n = 0
    while isinstance(cmd, TyperGroup) and n < len(rest) and not rest[n].startswith("-"):
        cmd = cmd.get_command(ctx, rest[n])
        n += 1
    return (cmd, n) if n else (None, 0)


def _debug_enabled() -> bool:
    import logging

    return logging.getLogger("etrade_cli").isEnabledFor(logging.DEBUG)


def _fail(message: str, code: int) -> None:
    """Print `error: message` (secrets redacted) as one line on stderr and exit with `code`."""
    from ..redact import redact

    stderr_line("error", "red", redact(message))
    raise typer.Exit(code)


app = typer.Typer(
    cls=_Group,
    name="etrade",
    help="Run an E*TRADE account from the terminal: scan the strategy, trade it on paper or "
    "E*TRADE, and report. Offline by default (paper broker, bundled sample data).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    rich_markup_mode=None,  # help shows [paths] and [risk] literally, and no <bool> placeholders
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
        autocompletion=complete_broker,
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Log HTTP requests on stderr (secrets redacted)."
    ),
    output: Path = typer.Option(  # noqa: B008
        None,
        "--output",
        "-o",
        help="Write what the command prints on stdout to this file (replaced only when the "
        "command succeeds).",
        dir_okay=False,
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


#: every command of `etrade`, in the order of `etrade --help`: name -> (module of this package
#: whose `register(app)` adds it, first paragraph of its help). A command's module is imported
#: only when that command is used (run, help, completion), so `etrade --help` lists them from
#: here; tests/test_cli_lazy.py checks this table against the commands themselves.
COMMANDS: dict[str, tuple[str, str]] = {
    "quote": ("quote_cmd", "Quote symbols from E*TRADE (one request per 50 symbols), or from the global --broker."),
    "scan": ("scan", "Scan for Rajat Alpha v67 signals and classify them B1/B2/OPP/SKIP."),
    "run-once": ("trading", "One cycle of the trading loop (made for cron): reconcile, exits, then entries."),
    "run-loop": ("trading", "Run the cycle on NYSE sessions (every 120 s; 60 s in the buy window)."),
    "positions": ("book", "The position book: open positions with stops, targets, sessions held and unrealized P&L, and each position's resting stop at the broker (order id, level, status) when [risk] protective_stop = \"broker\"."),
    "report": ("book", "P&L report: realized/unrealized, every statistic of the window, by period."),
    "history": ("history_cmd", "The journal of the position book: orders (every intent, its clientOrderId and status), fills, runs (one per run-once/run-loop cycle with equity and cash) or risk refusals, for every broker (paper, etrade, alpaca), oldest first."),
    "optimize": ("optimize_cmd", "Backtest every combination of the --param values (or an optuna search) in parallel and rank them by --metric; --folds K reports walk-forward out-of-sample results."),
    "chart": ("chart_cmd", "Daily candlesticks with SMA50, SMA200, EMA21 and volume, the strategy's signals (pattern and score) and the book's entries, exits and stop levels, to check a signal by eye."),
    "paths": ("paths_cmd", "The files and folders in use: config file, user config and data dirs, position book, bar cache, parsed CSV cache, token store, trading lock file, watchlist and exclusion list (with --db and --config applied), and whether each exists."),
    "schedule": ("schedule_cmd", "Print crontab lines: market times (US/Eastern) converted to this machine's time zone."),
    "plugins": ("plugins_cmd", "List the registered brokers, bar sources, strategies and notifiers: built-in, or the installed package (name and version) that registered them through the `etrade_cli` entry points. A third-party part goes through the same journal, risk checks and live guard."),
    "auth": ("auth_cmd", "Log in to E*TRADE (or Schwab with --broker schwab) and manage the token."),
    "accounts": ("accounts_cmd", "Broker accounts (E*TRADE unless the global --broker says otherwise): list, balance, portfolio."),
    "order": ("order_cmd", "Equity orders: preview, place, change, cancel, list, status, resolve."),
    "backtest": ("backtest_cmd", "Replay run-once over history with a fresh paper account (never the live book)."),
    "data": ("data_cmd", "The local daily-bar cache: coverage, fetch, CSV import."),
    "config": ("config_cmd", "Show or check the configuration."),
    "paper": ("paths_cmd", "The local paper account: reset."),
    "notify": ("notify_cmd", "Notifications through apprise (urls in the config's notify section, or $ETRADE_NOTIFY_URLS)."),
}  # fmt: skip


def load_commands(module: str) -> dict[str, Command]:
    """The Click commands that `etrade_cli.cli.<module>.register` adds, with plain help."""
    from typer.main import get_group

    sub = typer.Typer(rich_markup_mode=None)
    name = f"{__name__}.{module}"
    __import__(name)  # the C import path, which `python -X importtime` reports
    sys.modules[name].register(sub)
    _plain_help(sub)
    return dict(get_group(sub).commands)


def _plain_help(typer_app: typer.Typer, path: str = "etrade") -> None:
    """Plain Click help for every (sub-)app, with the examples of `examples.EXAMPLES` as the
    epilog of each command that has none of its own."""
    from .examples import epilog

    typer_app.rich_markup_mode = None
    for info in typer_app.registered_commands:
        name = info.name or (info.callback.__name__ if info.callback else "")
        if info.epilog is None:
            info.epilog = epilog(f"{path} {name}")
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            text = epilog(f"{path} {group.name}")  # a group that runs by itself (backtest)
            if text and not isinstance(group.epilog, str):
                group.epilog = text
            _plain_help(group.typer_instance, f"{path} {group.name}")


def main() -> None:
    """Console-script entry point.

    What exists by now (the imported modules, Typer's command tree) lives as long as the
    process: `gc.freeze()` moves it out of the cyclic collector's sight, so the collections a
    command triggers, and the one at exit, do not walk it again. A 6,558-session backtest
    spends about 40 ms less in the collector (of about 0.5 s); nothing is freed later than
    before (reference counting still frees what is dropped)."""
    import gc

    gc.freeze()
    app(prog_name="etrade")
