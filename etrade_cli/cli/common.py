"""Shared CLI plumbing: the per-invocation state, consoles, option types and output helpers.

Imports nothing heavy (no pandas, numpy or requests) so that `etrade --help` stays fast.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from ..errors import InputError, UsageError

if TYPE_CHECKING:
    from ..config import Config

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


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


PRICE_TYPES = (
    "MARKET",
    "LIMIT",
    "STOP",
    "STOP_LIMIT",
    "TRAILING_STOP_CNST",
    "TRAILING_STOP_PRCT",
)


def complete_price_type(incomplete: str) -> list[str]:
    """E*TRADE priceType values starting with `incomplete` (any case)."""
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

    plain = json.loads(json.dumps(data, default=_json_default))
    doc = machine.select(machine.to_machine(plain) if convert else plain, machine.current.fields)
    if machine.current.lines:
        for rec in machine.records(doc):
            sys.stdout.write(json.dumps(rec, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(indented_json(doc) + "\n")


def indented_json(doc: Any) -> str:
    """`json.dumps(doc, indent=2)`, character for character, for documents of plain JSON values
    (dict with str keys, list, str, int, float, bool, None; what `json.loads` returns), about
    twice as fast: the standard library indents in Python generators (its C encoder cannot
    indent before Python 3.13) and a backtest's equity curve has tens of thousands of values.
    Anything else (tuples, other key types, subclasses) goes to `json.dumps` itself."""
    out: list[str] = []
    try:
        _indent_into(doc, "", out.append)
    except _NotPlain:
        return json.dumps(doc, indent=2)
    return "".join(out)


class _NotPlain(Exception):
    """A value `indented_json` leaves to `json.dumps`."""


def _json_scalar(v: Any) -> str | None:
    """The JSON text of a plain scalar as `json.dumps` writes it, or None for a container."""
    t = type(v)
    if t is str:
        return _encode_str(v)
    if t is float:
        if v != v:
            return "NaN"
        if v in (_INF, -_INF):
            return "Infinity" if v > 0 else "-Infinity"
        return float.__repr__(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if t is int:
        return int.__repr__(v)
    if t is dict or t is list:
        return None
    raise _NotPlain


def _indent_into(o: Any, ind: str, w: Any) -> None:
    text = _json_scalar(o)
    if text is not None:
        w(text)
        return
    if not o:
        w("{}" if type(o) is dict else "[]")
        return
    inner = ind + "  "
    sep = ",\n" + inner
    first = True
    if type(o) is dict:
        w("{\n" + inner)
        for k, v in o.items():
            if type(k) is not str:
                raise _NotPlain
            if not first:
                w(sep)
            first = False
            w(_encode_str(k))
            w(": ")
            t = type(v)
            if t is str:  # the common leaves inline: no call per value
                w(_encode_str(v))
            elif t is float and v - v == 0:  # finite
                w(float.__repr__(v))
            else:
                _indent_into(v, inner, w)
        w("\n" + ind + "}")
        return
    w("[\n" + inner)
    for v in o:
        if not first:
            w(sep)
        first = False
        t = type(v)
        if t is str:
            w(_encode_str(v))
        elif t is float and v - v == 0:
            w(float.__repr__(v))
        else:
            _indent_into(v, inner, w)
    w("\n" + ind + "]")


_INF = float("inf")
_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def emit_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Write dict rows as CSV to stdout with a header line, numbers as in `emit_json`."""
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
    return fmt is Format.table and err.is_terminal


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

    with Progress(console=err, transient=True) as progress:
        yield ProgressBar(progress, progress.add_task(label, total=total))


def warn(message: str) -> None:
    """A one-line warning on stderr."""
    from rich.markup import escape

    from ..redact import redact

    err.print(
        f"[yellow]warning:[/] {escape(redact(message))}",
        markup=True,
        highlight=False,
        soft_wrap=True,  # one line, whatever the terminal width
    )
