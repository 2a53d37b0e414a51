"""Rendering of library results: Rich tables for people, plain dicts for JSON and CSV.

Only presentation: every number shown here was computed elsewhere.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from .scanner import ScanResult
from .strategy.dual import Decision
from .strategy.signals import SCORE_PARTS, Signal

PART_LABELS = {
    "rs": "RS",
    "weekly": "Wk",
    "monthly": "Mo",
    "volume": "Vol",
    "demand_zone": "DZ",
    "ema21_touch": "E21",
    "sma50_touch": "S50",
}
ACTION_STYLE = {"B1": "bold green", "B2": "bold cyan", "OPP": "yellow", "SKIP": "dim"}


def signal_dict(sig: Signal) -> dict[str, Any]:
    """A `Signal` as a JSON-ready dict (date as YYYY-MM-DD, close in USD)."""
    return {
        "symbol": sig.symbol,
        "date": str(sig.date),
        "close": round(sig.close, 4),
        "result": "signal" if sig.is_signal else sig.reason,
        "pattern": sig.pattern,
        "score": sig.score,
        "parts": sig.parts,
    }


def decision_dict(d: Decision) -> dict[str, Any]:
    """A classified signal as a dict: the signal's fields plus `action` and `why`."""
    return {**signal_dict(d.signal), "action": d.action, "why": d.why}


def scan_summary(res: ScanResult) -> str:
    """One line: signals by action, symbols scanned, rejections by reason."""
    actions: dict[str, int] = {}
    for d in res.decisions:
        actions[d.action] = actions.get(d.action, 0) + 1
    acts = ", ".join(f"{k} {v}" for k, v in sorted(actions.items()))
    rej = ", ".join(f"{k} {v}" for k, v in res.rejection_counts().most_common())
    head = f"{len(res.decisions)} signal(s)" + (f" ({acts})" if acts else "")
    return f"{head} among {res.universe_size} symbols at {res.session}; rejected: {rej or 'none'}"


def scan_json(res: ScanResult, show_all: bool) -> dict[str, Any]:
    """The scan as a JSON document; `symbols` (every verdict) only with `show_all`."""
    doc: dict[str, Any] = {
        "session": str(res.session),
        "signals": [decision_dict(d) for d in res.decisions],
        "rejected": dict(res.rejection_counts().most_common()),
        "universe": res.universe_size,
    }
    if show_all:
        doc["symbols"] = (
            [signal_dict(v) for v in res.verdicts]
            + [{**signal_dict(v), "result": "no_bar"} for v in res.stale]
            + [{"symbol": s, "result": "no_data"} for s in res.missing]
        )
    return doc


def scan_rows(res: ScanResult, show_all: bool) -> list[dict[str, Any]]:
    """Flat rows for CSV: the signals, or with `show_all` every symbol."""
    by_symbol = {d.signal.symbol: d for d in res.decisions}
    source = (res.verdicts + res.stale) if show_all else [d.signal for d in res.decisions]
    rows = []
    for sig in source:
        d = by_symbol.get(sig.symbol)
        row = signal_dict(sig)
        if sig in res.stale:
            row["result"] = "no_bar"
        row.update({f"part_{k}": v for k, v in sig.parts.items()})
        row.pop("parts")
        row["action"], row["why"] = (d.action, d.why) if d else ("", "")
        rows.append(row)
    rows += [{"symbol": s, "result": "no_data"} for s in (res.missing if show_all else [])]
    return rows


SCAN_CSV_COLUMNS = [
    "symbol",
    "date",
    "close",
    "result",
    "pattern",
    "score",
    *(f"part_{k}" for k in SCORE_PARTS),
    "action",
    "why",
]


def parts_text(parts: dict[str, float]) -> str:
    """Earned score parts as short labels, e.g. "RS Wk Mo DZ E21 S50"."""
    return " ".join(PART_LABELS[k] for k in SCORE_PARTS if parts.get(k))


def scan_table(res: ScanResult) -> Table:
    """The signals in spec §4 order with score parts and B1/B2/OPP/SKIP."""
    t = Table(title=f"Signals at {res.session}", title_justify="left")
    t.add_column("#", justify="right")
    t.add_column("Symbol", no_wrap=True)
    t.add_column("Close", justify="right")
    t.add_column("Pattern")
    t.add_column("Score", justify="right")
    t.add_column("Parts", no_wrap=True)
    t.add_column("Action", no_wrap=True)
    t.add_column("Why")
    for i, d in enumerate(res.decisions, 1):
        s = d.signal
        t.add_row(
            str(i),
            s.symbol,
            f"{s.close:,.2f}",
            s.pattern or "",
            f"{s.score:g}",
            parts_text(s.parts),
            f"[{ACTION_STYLE[d.action]}]{d.action}[/]",
            d.why,
        )
    return t


def verdict_table(res: ScanResult) -> Table:
    """Every symbol with its result: signal, or the first failing filter (`--all`)."""
    t = Table(title=f"All symbols at {res.session}", title_justify="left")
    for col in ("Symbol", "Date", "Close", "Result", "Pattern", "Score"):
        t.add_column(col, justify="right" if col in ("Close", "Score") else "left")
    for v in sorted(res.verdicts + res.stale, key=lambda v: v.symbol):
        result = (
            "[green]signal[/]"
            if v.is_signal
            else ("no bar at session" if v in res.stale else v.reason or "")
        )
        t.add_row(v.symbol, str(v.date), f"{v.close:,.2f}", result, v.pattern or "", f"{v.score:g}")
    for s in res.missing:
        t.add_row(s, "", "", "no data", "", "")
    return t
