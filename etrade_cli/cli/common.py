"""Shared CLI plumbing: the per-invocation state, consoles, option types and output helpers.

Imports nothing heavy (no pandas, numpy or requests, not even Rich's console) so that
`etrade --help` and a command that fails early stay fast.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..errors import InputError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from ..config import Config

#: the Rich consoles of stdout (tables) and stderr (messages, progress), built on first use
#: by `__getattr__` below: importing Rich's console costs a fifth of `etrade`'s start-up
out: Console
err: Console
_CONSOLES: dict[str, dict[str, Any]] = {
    "out": {"highlight": False, "soft_wrap": False},
    "err": {"stderr": True, "highlight": False},
}


def __getattr__(name: str) -> Any:
    """`out` and `err` (PEP 562): the console is built at the first use and kept."""
    if name not in _CONSOLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    console = Console(**_CONSOLES[name])
    globals()[name] = console
    return console


def _console(name: str) -> Console:
    """`out` or `err` from inside this module (where `__getattr__` is not consulted)."""
    console: Console | None = globals().get(name)
    return console if console is not None else __getattr__(name)


def stderr_line(label: str, style: str, message: str) -> None:
    """Write `label: message` as one line on stderr, the label in Rich `style` on a terminal.

    Where Rich would print no style (stderr is not a terminal and neither `FORCE_COLOR` nor
    `TTY_COMPATIBLE` says otherwise) and the text has no tab or control character for it to
    rewrite, the line is written directly, the same characters without importing Rich's
    console (a cron job's error costs no more than the error itself)."""
    text = f"{label}: {message}"
    if _plain_stderr() and text.isprintable():
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
        return
    from rich.text import Text

    _console("err").print(
        Text.assemble((f"{label}:", style), " ", message),  # no markup: the text as it is
        emoji=False,
        highlight=False,
        soft_wrap=True,  # one line, whatever the terminal width
    )


def _plain_stderr() -> bool:
    """True when Rich's `Console.is_terminal` would be False for stderr (no colour, no
    cursor codes), decided without importing it; False when unsure (Jupyter, IDLE)."""
    env = os.environ
    if "err" in globals() or "FORCE_COLOR" in env or env.get("TTY_COMPATIBLE", "") in ("0", "1"):
        return False  # an existing console (tests may have set it up) or an override
    if "IPython" in sys.modules or "idlelib" in sys.modules:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return isatty is not None and not isatty()
    except ValueError:  # a closed stream
        return False


class Format(str, Enum):
    """How a command prints data: a Rich table for people, JSON or CSV for scripts."""

    table = "table"
    json = "json"
    csv = "csv"


@dataclass
class State:
    """Per-invocation state kept in `ctx.obj`: global options and the lazily loaded config."""

    config_path: Path | None = None
    db_path: Path | None = None
    broker: str | None = None  # the global --broker (a command's own --broker wins)
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        """Load and validate the config once (raises `ConfigError`)."""
        if self._config is None:
            from ..config import load_config
            from ..redact import register_secret

            cfg = load_config(self.config_path)
            if self.db_path is not None:
                from dataclasses import replace

                cfg = replace(cfg, paths=replace(cfg.paths, db=str(self.db_path.resolve())))
            register_secret(cfg.etrade.consumer_secret)
            self._config = cfg
        return self._config


def require_book(ctx: typer.Context) -> None:
    """Refuse a `--db` that names no file, for commands that only read the book (positions,
    report, history): they would otherwise create an empty book and show nothing.

    Raises:
        InputError: the file does not exist.
    """
    path = state(ctx).db_path
    if path is not None and not path.exists():
        raise InputError(
            f"no position book at {path} (--db must name an existing book; run-once and "
            "backtest --db create one)"
        )


def state(ctx: typer.Context) -> State:
    """The `State` of this invocation (created by the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def output_format(as_json: bool, as_csv: bool) -> Format:
    """Resolve `--json`/`--csv` flags (mutually exclusive) into a `Format`."""
    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    return Format.json if as_json else Format.csv if as_csv else Format.table


# --- shell completion (`etrade --install-completion`): values offered after a flag -----------


def complete_broker(incomplete: str) -> list[str]:
    """Registered broker names (paper, etrade, alpaca and plug-ins) starting with `incomplete`."""
    from ..registry import brokers

    return [n for n in brokers.names() if n.startswith(incomplete)]


def complete_strategy(incomplete: str) -> list[str]:
    """Registered strategy names starting with `incomplete`."""
    from ..registry import strategies

    return [n for n in strategies.names() if n.startswith(incomplete)]


def complete_price_type(incomplete: str) -> list[str]:
    """E*TRADE priceType values starting with `incomplete` (any case)."""
    from ..etrade.orders import PRICE_TYPES

    return [p for p in PRICE_TYPES if p.startswith(incomplete.upper())]


def complete_symbol(incomplete: str) -> list[str]:
    """Symbols of the configured watchlist starting with `incomplete` (none when the config
    cannot be read: completion must never fail loudly)."""
    try:
        from ..config import load_config, read_symbol_list

        symbols = read_symbol_list(load_config(None).watchlist_path)
    except Exception:
        return []
    return [s for s in symbols if s.startswith(incomplete.upper())]


def finite(minimum: float | None = None) -> Any:
    """A Typer callback for a number option (prices, cash) that refuses `nan`, `inf` and
    `1e400`, and values below `minimum` when given.

    The callback raises `InputError` naming the option and the value (exit 1).
    """
    import math

    def check(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
        if value is None:
            return value
        name = (param.opts or [param.name or "value"])[0]
        if not math.isfinite(value):
            raise InputError(f"{name} must be a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise InputError(f"{name} must be at least {minimum:g}, got {value:g}")
        return value

    return check


JSON_OPT = typer.Option(
    False,
    "--json",
    help="Print JSON on stdout (for scripts); --json f1,f2 keeps those fields, --jsonl "
    "prints one object a line.",
)
CSV_OPT = typer.Option(False, "--csv", help="Print CSV on stdout (for spreadsheets).")


def parse_date(text: str | None, what: str = "date") -> dt.date | None:
    """Parse YYYY-MM-DD; None stays None.

    Raises:
        InputError: anything else, with the expected form named.
    """
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"bad {what} {text!r}: use YYYY-MM-DD") from None


def parse_symbols(tokens: Iterable[str]) -> list[str]:
    """Upper-case, de-duplicate and validate ticker arguments.

    Raises:
        InputError: a token is not a valid ticker.
    """
    from ..symbols import validate_symbol

    seen: dict[str, None] = {}
    for raw in tokens:
        for tok in raw.replace(",", " ").split():
            seen.setdefault(validate_symbol(tok), None)
    return list(seen)


def emit_json(data: Any, *, convert: bool = True) -> None:
    """Write `data` as JSON to stdout (dates and numpy scalars converted) under the machine
    output conventions of `machine` (rounding, `_fraction` percentages), keeping only the
    `--json FIELDS` asked for, one record a line with `--jsonl`. `convert=False` keeps the
    values and key names as they are (the configuration, whose `_pct` keys are fractions).

    Raises:
        UsageError: an unknown field in `--json FIELDS`.
    """
    from . import machine

    plain = machine.plain(data, _json_default)
    doc = machine.select(machine.to_machine(plain) if convert else plain, machine.current.fields)
    if machine.current.lines:
        for rec in machine.records(doc):
            sys.stdout.write(machine.dumps(rec, indent=False) + "\n")
    else:
        sys.stdout.write(machine.dumps(doc, indent=True) + "\n")


def emit_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Write dict rows as CSV to stdout with a header line, numbers as in `emit_json`."""
    import csv

    from . import machine

    cols = machine.machine_columns(list(columns or (rows[0].keys() if rows else [])))
    writer = csv.DictWriter(sys.stdout, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        conv = machine.to_machine(dict(row))
        writer.writerow({k: _csv_value(conv.get(k)) for k in cols})


def _csv_value(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return ";".join(str(x) for x in v)
    if isinstance(v, dict):
        import json

        return json.dumps(v, default=_json_default)
    return _json_default(v) if not isinstance(v, (str, int, float, type(None))) else v


def _json_default(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if hasattr(v, "item"):  # numpy scalar
        return v.item() if not str(v.dtype).startswith("datetime64") else str(v)
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, set):
        return sorted(v)
    return str(v)


def show_progress(fmt: Format) -> bool:
    """Progress bars only for people: a terminal on stderr and table output."""
    return fmt is Format.table and _console("err").is_terminal


class ProgressBar:
    """A Rich progress bar on stderr: `advance(n)` for counted steps, `update(done, total)` when
    the total is known only once the work starts."""

    def __init__(self, progress: Any, task: Any):
        self._progress, self._task = progress, task

    def advance(self, n: int) -> None:
        """Move the bar `n` steps."""
        self._progress.advance(self._task, n)

    def update(self, done: int, total: int) -> None:
        """Show `done` of `total`."""
        self._progress.update(self._task, completed=done, total=total)


@contextmanager
def progress_bar(
    fmt: Format, label: str, total: int | None = None, min_total: int = 0
) -> Iterator[ProgressBar | None]:
    """A `ProgressBar` for people (see `show_progress`), else None: machine output, pipes and
    work smaller than `min_total` steps get no bar."""
    if not show_progress(fmt) or (total is not None and total < min_total):
        yield None
        return
    from rich.progress import Progress

    with Progress(console=_console("err"), transient=True) as progress:
        yield ProgressBar(progress, progress.add_task(label, total=total))


def warn(message: str) -> None:
    """A one-line warning on stderr (secrets redacted)."""
    from ..redact import redact

    stderr_line("warning", "yellow", redact(message))
