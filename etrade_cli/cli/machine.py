"""Machine output shared by every command: one convention for numbers, `--json FIELDS`,
`--jsonl` and `--output FILE`.

Conventions (README "Machine output"):
- money (USD) to cents, prices (USD per share) to 4 decimals, other floats to 6 decimals;
- percentages are fractions (0.05 = 5 %, as in the config) in keys ending `_fraction`: a
  library field `x_pct` holding a percent number (5.0) is written as `x_fraction` (0.05);
- `--json a,b` keeps fields a and b of every record (and of the top-level object); lists of
  records stay, filtered. `--jsonl` writes one record a line: the elements of a top-level list,
  or of the longest list of records in a top-level object.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

MONEY_KEYS = frozenset(
    {
        "equity", "cash", "realized", "unrealized", "pnl", "commission", "avg_win", "avg_loss",
        "start_equity", "end_equity", "starting_cash", "by_day", "by_month", "value",
        "market_value", "cost_basis", "total_gain", "net_value", "estimated_total",
        "estimated_commission", "realized_pnl", "cash_available", "buying_power", "notional",
    }
)  # fmt: skip
PRICE_KEYS = frozenset(
    {
        "price", "close", "open", "high", "low", "last", "bid", "ask", "mark", "stop", "stop_loss",
        "limit", "change", "trailing_stop",
    }
)  # fmt: skip
FIELDS_RE = re.compile(r"^[a-z_][a-z0-9_]*(,[a-z_][a-z0-9_]*)*$")


@dataclass
class MachineOutput:
    """How this invocation writes JSON: chosen `fields` (None = all) and one record a line."""

    fields: list[str] | None = None
    lines: bool = False


#: the settings of the current invocation (reset by `extract_json_args` for each command line)
current = MachineOutput()


def extract_json_args(args: list[str], takes_positionals: bool) -> list[str]:
    """Take `--json FIELDS`, `--json=FIELDS` and `--jsonl` out of `args` into `current`, leaving
    a plain `--json` for the command. A bare word after `--json` is read as fields when it has
    a comma or the command takes no positional argument (`etrade history --json orders` keeps
    `orders` as the argument; write `--json=fields` there)."""
    global current
    current = MachineOutput()
    out: list[str] = []
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            out += args[i:]
            break
        if tok == "--jsonl":
            current.lines = True
            out.append("--json")
        elif tok.startswith("--json="):
            current.fields = _fields(tok.split("=", 1)[1])
            out.append("--json")
        elif (
            tok == "--json"
            and i + 1 < len(args)
            and _looks_like_fields(args[i + 1], takes_positionals)
        ):
            current.fields = _fields(args[i + 1])
            out.append("--json")
            i += 1
        else:
            out.append(tok)
        i += 1
    return out


def _looks_like_fields(token: str, takes_positionals: bool) -> bool:
    return bool(FIELDS_RE.match(token)) and ("," in token or not takes_positionals)


def _fields(text: str) -> list[str]:
    names = [f.strip() for f in text.split(",") if f.strip()]
    if not names:
        raise UsageError("--json= needs field names, e.g. --json symbol,score")
    return names


def to_machine(data: Any, key: str | None = None) -> Any:
    """`data` with the number conventions applied: `_pct` percent fields become `_fraction`
    fractions, money rounded to cents, prices to 4 decimals, other floats to 6 decimals.
    Configuration subtrees (`AS_CONFIGURED` keys) are left exactly as configured."""
    if isinstance(data, float):
        return round(data, _DIGITS[_kind(key)])
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if not isinstance(k, str):
                out[k] = to_machine(v, key)
                continue
            how, name, digits = _plan(k, key)
            if how is _CONVERT:
                # plain leaves inline: a backtest's curve alone has ~26,000 of them
                cls = v.__class__
                if cls is float:
                    out[k] = round(v, digits)
                elif cls is str or cls is int or v is None or cls is bool:
                    out[k] = v
                else:
                    out[k] = to_machine(v, name)
            elif how is _KEEP:
                out[k] = v
            else:
                out[name] = to_machine(v / 100 if isinstance(v, (int, float)) else v, name)
        return out
    if isinstance(data, (list, tuple)):
        return [to_machine(v, key) for v in data]
    return data


#: subtrees that hold configuration as configured (its `_pct` keys already hold fractions,
#: 0.05 = 5 %, and keep their config names): left exactly as they are
AS_CONFIGURED = frozenset({"params", "parameters", "config", "best_params", "grid"})

_KEEP, _PERCENT, _CONVERT = "keep", "percent", "convert"


@functools.lru_cache(maxsize=4096)
def _plan(k: str, parent: str | None) -> tuple[str, str | None, int]:
    """What `to_machine` does with the value of key `k` under `parent`: keep it as configured;
    write it as `name` (`x_pct` -> `x_fraction`) divided by 100; or convert it under `name`
    (its own kind, or the parent's for a plain key such as a date in `by_day`), floats rounded
    to `digits`."""
    if k in AS_CONFIGURED:
        return _KEEP, k, 0
    if k.endswith("_pct"):
        fraction = k[: -len("_pct")] + "_fraction"
        return _PERCENT, fraction, _DIGITS[_kind(fraction)]
    name = k if _kind(k) != "other" else parent
    return _CONVERT, name, _DIGITS[_kind(name)]


@functools.lru_cache(maxsize=4096)
def _kind(key: str | None) -> str:
    if key is None:
        return "other"
    if key.endswith("_fraction"):
        return "fraction"
    if key in MONEY_KEYS or key.endswith("_usd") or key.startswith(("realized", "unrealized")):
        return "money"
    if key in PRICE_KEYS or key.endswith("_price"):
        return "price"
    return "other"


_DIGITS = {"money": 2, "price": 4, "fraction": 6, "other": 6}


_NOT_PRINTABLE_ASCII = re.compile(r"[^\x00-\x7e]")  # json.dumps escapes DEL too


def plain(data: Any, default: Callable[[Any], Any]) -> Any:
    """`data` as plain JSON values (dict, list, str, int, float, bool, None): what `default`
    returns for any other value (dates, numpy scalars, paths), keys made strings, and NaN or
    infinite floats as None (JSON has no such numbers). Uses orjson; a value it cannot take
    (an integer beyond 64 bits) falls back to the standard library, as does the whole call."""
    import orjson

    options = (
        orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    )  # dataclasses and dates go through `default`, as with json.dumps
    try:
        return orjson.loads(orjson.dumps(data, default=default, option=options))
    except orjson.JSONEncodeError:
        return _finite(json.loads(json.dumps(data, default=default)))


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


def dumps(doc: Any, *, indent: bool) -> str:
    """`doc` (plain values, see `plain`) as JSON text: indented by 2 spaces, or compact (no
    spaces) for one record a line. ASCII only: other characters are written as `\\uXXXX`
    escapes, as `json.dumps` does, so any terminal or pipe encoding can carry the text.

    Written by orjson (one pass in C: a 6,558-session backtest's 0.8 MB in about 2 ms, where
    the standard library's indenting encoder, pure Python, takes about 40 ms); numbers read
    back identical, though tiny or huge floats are spelled without the exponent's sign
    padding (`1e-6`, `0.000015`, `1e16` for json's `1e-06`, `1.5e-05`, `1e+16`)."""
    import orjson

    try:
        raw = orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return json.dumps(doc, indent=2) if indent else json.dumps(doc, separators=(",", ":"))
    text = raw.decode()
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_PRINTABLE_ASCII.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a UTF-16 surrogate pair, as json.dumps writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def machine_columns(columns: Sequence[str]) -> list[str]:
    """CSV header names under the same convention (`x_pct` -> `x_fraction`)."""
    return [c[: -len("_pct")] + "_fraction" if c.endswith("_pct") else c for c in columns]


def select(data: Any, fields: list[str] | None) -> Any:
    """Keep `fields` of every record of `data` (see the module doc).

    Raises:
        UsageError: a field that no record and no top-level key has (the known ones listed).
    """
    if fields is None:
        return data
    known: set[str] = set()
    picked = _select(data, fields, known, top=True)
    unknown = [f for f in fields if f not in known]
    if unknown and known:  # no record at all: nothing to check the names against
        raise UsageError(
            f"unknown JSON field(s): {', '.join(unknown)}; available: {', '.join(sorted(known))}"
        )
    return picked


def _select(data: Any, fields: list[str], known: set[str], top: bool = False) -> Any:
    if isinstance(data, list):
        return [_select(v, fields, known) for v in data]
    if not isinstance(data, dict):
        return data
    known.update(k for k in data if isinstance(k, str))
    kept = {}
    for k, v in data.items():
        if k in fields:
            kept[k] = v
        elif top and isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            kept[k] = _select(v, fields, known)
    return kept


def records(data: Any) -> list[Any]:
    """What `--jsonl` writes one a line: a list's elements, or the longest list of records of
    an object (the object itself when it has none)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if lists:
            return max(lists, key=len)
    return [data]


@contextlib.contextmanager
def stdout_to(target: Path | None) -> Iterator[None]:
    """Send stdout to `target` for the block (`--output FILE`): written to a temporary file
    next to it and renamed over it only when the block succeeds, so a failed command leaves
    no partial file and the old one untouched."""
    if target is None:
        yield
        return
    folder = target.resolve().parent
    if not folder.is_dir():
        raise UsageError(f"--output: no such folder {folder}")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.")
    ok = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
            yield
        ok = True
    except SystemExit as exc:  # typer.Exit(0) is success too
        ok = not exc.code
        raise
    except BaseException as exc:
        ok = type(exc).__name__ == "Exit" and not getattr(exc, "exit_code", 1)
        raise
    finally:
        if ok:
            os.replace(tmp, target)
        else:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        sys.stdout.flush()
