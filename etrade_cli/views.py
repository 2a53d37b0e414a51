"""Rendering of library results: Rich tables for people, plain dicts for JSON and CSV.

Only presentation: every number shown here was computed elsewhere.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from .scanner import ScanResult
from .strategy.base import Decision, Signal

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


#: legends of the abbreviations in the tables: (column, text), shown while the column is
PARTS_LEGEND = (
    (
        "Parts",
        "Parts: RS relative strength, Wk weekly trend, Mo monthly trend, Vol volume, "
        "DZ demand zone, E21 EMA21 touch, S50 SMA50 touch",
    ),
)
EXIT_LEGEND = (
    ("Reason", "Reason: SL stop loss (or trailing stop), TES time exit, PTn profit target n"),
)
TRADE_LIST_LEGEND = (
    (
        "Event",
        "Event: SL stop loss (or trailing stop), TES time exit, PTn profit target n, "
        "MTM marked at the last close",
    ),
)
POSITIONS_LEGEND = (
    ("Shares", "Shares: remaining/original"),
    ("PT", "PT: profit targets hit"),
    ("Held", "Held: sessions held"),
)


class FitTable(Table):
    """A Rich table that fits the width it is rendered at (80 columns in a pipe or cron mail)
    without cutting a number: numbers, dates and codes never wrap, text columns fold, and when
    even that is too wide the columns named in `drop_order` are left out, first ones first."""

    drop_order: tuple[str, ...] = ()
    #: (column header, legend text): shown as the caption while that column is shown
    legend: tuple[tuple[str, str], ...] = ()

    def __rich_console__(self, console: Any, options: Any) -> Any:
        while self.columns and self._needed(console, options) > options.max_width:
            names = [str(c.header) for c in self.columns]
            victim = next((n for n in self.drop_order if n in names), None)
            if victim is None:
                break
            del self.columns[names.index(victim)]
            for i, col in enumerate(self.columns):
                col._index = i
        shown = {str(c.header) for c in self.columns}
        if self.legend:
            self.caption = "; ".join(text for col, text in self.legend if col in shown) or None
        yield from super().__rich_console__(console, options)

    def _needed(self, console: Any, options: Any) -> int:
        """Width needed: whole numbers and dates, and at least the header (and up to 10
        cells) of each text column."""
        total = self._extra_width
        for col in self.columns:
            m = self._measure_column(console, options, col)
            if col.no_wrap:
                total += m.maximum
            else:
                pad = self._get_padding_width(col._index)
                total += min(m.maximum, max(len(str(col.header)) + pad, 10 + pad))
        return total


def table(
    title: str,
    drop: tuple[str, ...] = (),
    legend: tuple[tuple[str, str], ...] = (),
    **kw: Any,
) -> Table:
    """A compact table (header rule only, shared padding) that fits 80 columns (see
    `FitTable`); `drop`: low-value columns to leave out when the width is too small;
    `legend`: (column, text) explaining its abbreviations, as the caption."""
    from rich import box

    t = FitTable(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption_justify="left",
        **kw,
    )
    t.drop_order, t.legend = drop, legend
    return t


def fit(t: Table) -> Table:
    """Keep dates and numbers whole when the terminal is narrow: they never wrap; text
    columns wrap, folding long words such as `max_positions_b1_reached`; the title is kept on
    one line when the terminal allows."""
    import re

    for col in t.columns:
        header = str(col.header).lower()
        cells = [str(c) for c in col._cells]
        dates = any(cells) and all(re.fullmatch(r"(\d{4}-\d{2}-\d{2})?", c) for c in cells)
        if "date" in header or header in ("session", "month") or dates:
            col.min_width, col.no_wrap = 10, True
        elif col.justify == "right" or header in ("symbol", "type", "action", "side", "#"):
            col.no_wrap = True
        else:
            col.overflow = "fold"
    if t.title:
        t.min_width = max(t.min_width or 0, len(str(t.title)))
    return t


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


def scan_csv_columns(res: ScanResult) -> list[str]:
    """CSV columns of a scan: the signal's fields, one `part_<name>` per score part, action."""
    head = ["symbol", "date", "close", "result", "pattern", "score"]
    return [*head, *(f"part_{k}" for k in res.part_names), "action", "why"]


def parts_text(parts: dict[str, float]) -> str:
    """Earned score parts as short labels, e.g. "RS Wk Mo DZ E21 S50"."""
    return " ".join(PART_LABELS.get(k, k) for k, v in parts.items() if v)


def scan_table(res: ScanResult) -> Table:
    """The signals in spec §4 order with score parts and B1/B2/OPP/SKIP."""
    t = table(f"Signals at {res.session}", drop=("Parts", "Pattern", "#"), legend=PARTS_LEGEND)
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
            f"[{ACTION_STYLE.get(d.action, 'bold')}]{d.action}[/]",
            d.why,
        )
    return fit(t)


def verdict_table(res: ScanResult) -> Table:
    """Every symbol with its result: signal, or the first failing filter (`--all`)."""
    t = table(f"All symbols at {res.session}", drop=("Pattern", "Score"))
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
    return fit(t)


# --- trading loop ------------------------------------------------------------------------------


def _money(v: float | None, signed: bool = False) -> str:
    if v is None:
        return ""
    return f"{v:+,.2f}" if signed else f"{v:,.2f}"


def run_tables(res: Any) -> list[Any]:
    """Rich renderables for an `engine.RunResult`: a header line, actions, refusals, findings."""
    from rich.text import Text

    out: list[Any] = []
    sent = len(res.exits) + len(res.entries)
    mode = (
        "dry run: nothing sent" if res.dry_run else f"{sent} order(s) sent" if sent else "no orders"
    )
    closed = " (data gap)" if "gap in the data" in res.message else " (market closed)"
    head = f"Session {res.session}" + ("" if res.market_open else closed)
    if res.equity is not None:
        head += f" · equity {_money(res.equity)} USD · cash {_money(res.cash)} USD · {mode}"
    out.append(Text(head, style="bold"))
    if res.message:
        out.append(Text(res.message))
    if res.exits or res.entries:
        t = table("Orders", drop=("clientOrderId", "Type", "Status"))
        for col in (
            "Side",
            "Symbol",
            "Type",
            "Reason",
            "Shares",
            "Price",
            "Status",
            "P&L",
            "clientOrderId",
        ):
            t.add_column(col, justify="right" if col in ("Shares", "Price", "P&L") else "left")
        for a in [*res.exits, *res.entries]:
            t.add_row(
                a.side,
                a.symbol,
                a.kind,
                a.reason,
                str(a.quantity),
                _money(a.price),
                a.status,
                _money(a.pnl, signed=True),
                a.client_order_id or "",
            )
        out.append(fit(t))
    elif res.market_open:
        out.append(Text("No exits or entries this session."))
    if getattr(res, "stops", None):
        t = table("Resting stops at the broker")
        for col in ("Step", "Symbol", "Type", "Shares", "Stop", "Status", "clientOrderId", "Note"):
            t.add_column(col, justify="right" if col in ("Shares", "Stop") else "left")
        for a in res.stops:
            t.add_row(
                a.reason.removeprefix("STOP_").lower(),
                a.symbol,
                a.kind,
                str(a.quantity),
                _money(a.price),
                a.status,
                a.client_order_id or "",
                a.message,
            )
        out.append(fit(t))
    if res.refusals:
        t = table("Refused by risk checks")
        for col in ("Symbol", "Action", "Reason"):
            t.add_column(col)
        for r in res.refusals:
            t.add_row(r["symbol"], r["action"], r["reason"])
        out.append(fit(t))
    for f in res.findings:
        style = {"error": "red", "warning": "yellow"}.get(f.severity, "dim")
        out.append(Text(f"reconcile {f.severity}: {f.message}", style=style))
    for u in res.unconfirmed:
        out.append(
            Text(
                f"not confirmed by the broker: {u['client_order_id']} ({u['side']} "
                f"{u['quantity']} {u['symbol']} {u['purpose']}, {u['status']}): {u['message']}",
                style="red",
            )
        )
    proposals = getattr(res, "proposals", [])
    if proposals:
        from collections import Counter

        n = Counter(p["outcome"] for p in proposals)
        parts = [f"{n[k]} {k}" for k in ("ordered", "refused", "rejected", "duplicate") if n[k]]
        dupes = ", ".join(p["id"] for p in proposals if p["outcome"] == "duplicate")
        out.append(
            Text(
                f"Proposals: {len(proposals)} ({', '.join(parts)})"
                + (f"; already in the journal, not sent again: {dupes}" if dupes else "")
            )
        )
    return out


# --- journal history (`etrade history`) ---------------------------------------------------------

#: table columns per history kind: (header, row key, format); JSON/CSV carry every column
HISTORY_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "orders": [
        ("Session", "session_date", "text"),
        ("Symbol", "symbol", "text"),
        ("Side", "side", "text"),
        ("Shares", "quantity", "int"),
        ("Purpose", "purpose", "text"),
        ("Status", "status", "text"),
        ("Fill", "avg_fill_price", "money"),
        ("clientOrderId", "client_order_id", "text"),
    ],
    "fills": [
        ("Session", "session_date", "text"),
        ("Symbol", "symbol", "text"),
        ("Side", "side", "text"),
        ("Shares", "quantity", "int"),
        ("Price", "price", "money"),
        ("Comm.", "commission", "money"),
        ("Purpose", "purpose", "text"),
        ("clientOrderId", "client_order_id", "text"),
    ],
    "runs": [
        ("Run", "id", "int"),
        ("Session", "session_date", "text"),
        ("Mode", "mode", "text"),
        ("Broker", "broker", "text"),
        ("Outcome", "outcome", "text"),
        ("Equity", "equity", "money"),
        ("Cash", "cash", "money"),
        ("Counts", "counts", "counts"),
    ],
    "refusals": [
        ("Session", "session_date", "text"),
        ("Symbol", "symbol", "text"),
        ("Action", "action", "text"),
        ("Reason", "reason", "text"),
    ],
}


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "money":
        return _money(value)
    if kind == "counts":  # {"exits": 0, "entries": 2, ...}: the non-zero ones
        return ", ".join(f"{k} {v}" for k, v in value.items() if v)
    return str(value)


def history_table(kind: str, rows: list[dict[str, Any]], where: str) -> Table:
    """Journal rows of `kind` (orders, fills, runs, refusals) as a table titled with the book."""
    t = table(f"{kind.capitalize()} in {where}", drop=("clientOrderId", "Purpose", "Comm."))
    cols = HISTORY_COLUMNS[kind]
    brokers = {r.get("broker") for r in rows}
    if len(brokers) > 1 and not any(key == "broker" for _, key, _ in cols):
        cols = [*cols[:2], ("Broker", "broker", "text"), *cols[2:]]
    for header, _key, fmt in cols:
        t.add_column(header, justify="right" if fmt in ("int", "money") else "left")
    for r in rows:
        t.add_row(*(_cell(r.get(key), fmt) for _, key, fmt in cols))
    return fit(t)


POSITION_COLUMNS = [
    "id", "symbol", "type", "status", "entry_date", "entry_price", "original_qty",
    "remaining_qty", "stop_loss", "targets_hit", "sessions_held", "last_price", "unrealized_usd",
    "unrealized_pct", "realized_usd", "exit_date", "exit_reason", "resting_stop_order_id",
    "resting_stop_level", "resting_stop_status",
]  # fmt: skip


PLUGIN_KINDS = {
    "broker": "brokers",
    "bar_source": "bar_sources",
    "strategy": "strategies",
    "notifier": "notifiers",
}


def plugins_json(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """`etrade plugins --json`: {brokers: [...], bar_sources: [...], strategies: [...],
    notifiers: [...]}, each entry without its `kind`."""
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in PLUGIN_KINDS.values()}
    for r in rows:
        out[PLUGIN_KINDS[r["kind"]]].append({k: v for k, v in r.items() if k != "kind"})
    return out


def plugins_table(rows: list[dict[str, Any]]) -> Table:
    """One row per registered part: kind, name, origin, description."""
    from rich.markup import escape

    t = table("Registered parts")
    for name in ("Kind", "Name", "Origin", "Description"):
        t.add_column(name, overflow="fold")
    for r in rows:
        t.add_row(r["kind"].replace("_", " "), r["name"], r["origin"], escape(r["description"]))
    return fit(t)


def run_result_dict(res: Any) -> dict[str, Any]:
    """An `engine.RunResult` as a JSON-ready dict (decisions as scan-style dicts)."""
    from dataclasses import asdict

    d = {k: v for k, v in asdict(res).items() if k != "decisions"}
    d["decisions"] = [decision_dict(x) for x in res.decisions]
    return d


def position_rows(
    positions: list[Any], last_price: Any, held: Any, stops: dict[int, Any] | None = None
) -> list[dict[str, Any]]:
    """Dict rows for `etrade positions`: one per position, P&L in USD and percent (5.0 = 5 %).
    `stops`: position id -> journal row of its resting protective stop (`resting_stop_*`
    fields: the broker's order id, the stop level in USD, the journal status)."""
    from .store import unrealized

    rows = []
    for p in positions:
        rest = (stops or {}).get(p.id)
        price = last_price(p.symbol) if p.status == "open" else p.exit_price
        usd, pct = unrealized(p, price) if p.status == "open" else (None, None)
        rows.append(
            {
                "id": p.id,
                "symbol": p.symbol,
                "type": p.kind,
                "status": p.status,
                "entry_date": p.entry_date,
                "entry_price": p.entry_price,
                "original_qty": p.original_qty,
                "remaining_qty": p.remaining_qty,
                "stop_loss": p.stop_loss,
                "targets_hit": p.targets_hit,
                "sessions_held": held(p),
                "last_price": price,
                "unrealized_usd": usd,
                "unrealized_pct": pct,
                "realized_usd": p.realized_pnl,
                "exit_date": p.exit_date,
                "exit_reason": p.exit_reason,
                "resting_stop_order_id": rest.broker_order_id if rest else None,
                "resting_stop_level": rest.stop_price if rest else None,
                "resting_stop_status": rest.status if rest else None,
            }
        )
    return rows


#: columns shared by the closed-positions table and the backtest's trade list
TRADE_COLUMNS = ("Symbol", "Type", "Entry date", "Entry", "Shares", "Exit date", "Exit", "Reason")


def positions_table(rows: list[dict[str, Any]], closed: bool) -> Table:
    """The position book as a table."""
    t = (
        table("Closed positions", drop=("Type", "Entry date"), legend=EXIT_LEGEND)
        if closed
        else table("Open positions", drop=("PT", "Held", "Stop"), legend=POSITIONS_LEGEND)
    )
    cols = [
        "Symbol",
        "Type",
        "Entry date",
        "Entry",
        "Shares",
        "Stop",
        "PT",
        "Held",
        "Last",
        "Unrealized",
    ]
    nets = not closed and any(r.get("resting_stop_status") for r in rows)
    if nets:
        cols.append("Resting stop")
    if closed:
        cols = [*TRADE_COLUMNS, "Realized USD"]
    for c in cols:
        t.add_column(
            c,
            justify="left"
            if c in ("Symbol", "Type", "Entry date", "Exit date", "Reason")
            else "right",
        )
    for r in rows:
        if closed:
            t.add_row(
                r["symbol"],
                r["type"],
                r["entry_date"] or "",
                _money(r["entry_price"]),
                str(r["original_qty"]),
                r["exit_date"] or "",
                _money(r["last_price"]),
                r["exit_reason"] or "",
                _money(r["realized_usd"], signed=True),
            )
        else:
            pct = r["unrealized_pct"]
            unreal = _money(r["unrealized_usd"], signed=True)
            cells = [
                r["symbol"],
                r["type"],
                r["entry_date"] or "pending",
                _money(r["entry_price"]),
                f"{r['remaining_qty']}/{r['original_qty']}",
                _money(r["stop_loss"]),
                str(r["targets_hit"]),
                "" if r["sessions_held"] is None else str(r["sessions_held"]),
                _money(r["last_price"]),
                unreal + ("" if pct is None else f" {pct:+.1f}%"),
            ]
            if nets:
                cells.append(_resting_cell(r))
            t.add_row(*cells)
    return fit(t)


def _resting_cell(r: dict[str, Any]) -> str:
    """ "80.51 #500 placed": a position's resting stop level, broker order id and status."""
    if not r.get("resting_stop_status"):
        return "none"
    oid = r["resting_stop_order_id"]
    return f"{_money(r['resting_stop_level'])} #{oid or '?'} {r['resting_stop_status']}"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:+.2f} %"


def report_title(doc: dict[str, Any], broker: str) -> str:
    """The headline of a report chart: window, return, max drawdown, trades."""
    from .stats import fmt

    s = doc["stats"] or {}
    window = f"since {doc['since']}" if doc["since"] else "all sessions"
    return (
        f"etrade-cli {broker} account, {window}: return {fmt(s.get('return_pct'), 'pct')}, "
        f"max drawdown {fmt(s.get('max_drawdown_pct'), 'pct')}, "
        f"{s.get('trades', 0)} closed trade(s)"
    )


def report_renderables(doc: dict[str, Any]) -> list[Any]:
    """`etrade report` for people: totals, P&L by period, every statistic of the window, trades
    by B1/B2, by exit reason and by symbol, the trade list with its exit fills."""
    from rich.text import Text

    from .stats import fmt

    out: list[Any] = [
        Text(
            f"Realized {_money(doc['realized'], True)} USD · unrealized "
            f"{_money(doc['unrealized'], True)} USD · {doc['open_positions']} open position(s)"
            + (f" · since {doc['since']}" if doc["since"] else ""),
            style="bold",
        )
    ]
    if doc["periods"]:
        t = table(f"By {doc['breakdown']}")
        for c in (doc["breakdown"].capitalize(), "Realized USD", "Equity USD", "Return"):
            t.add_column(c, justify="left" if c == doc["breakdown"].capitalize() else "right")
        for p in doc["periods"]:
            t.add_row(
                p["period"],
                fmt(p["realized_usd"], "usd"),
                fmt(p["equity_end"], "usd"),
                fmt(p["return_pct"], "pct"),
            )
        out.append(fit(t))
    if doc["stats"]:
        s = doc["stats"]
        out.append(
            stats_lines_table("Statistics", {**s, "profit_factor": _inf(s["profit_factor"])})
        )
    groups = {"All": doc["trades_stats"], **doc["by_type"]}
    out.append(group_table("Trades by type", {k: _infs(v) for k, v in groups.items()}))
    if doc["by_exit_reason"]:
        out.append(exit_reason_table(doc["by_exit_reason"]))
    if doc["by_symbol"]:
        out.append(symbol_table(doc["by_symbol"]))
    if doc["trades"]:
        out.append(trade_list_table(doc["trades"]))
    return out


def stats_lines_table(title: str, stats: dict[str, Any]) -> Table:
    """Every statistic of `stats.STAT_LINES`, one line each ("—" when undefined)."""
    from .stats import STAT_LINES, fmt

    t = table(title, show_header=False)
    t.add_column("Metric")
    t.add_column("Value", justify="right", no_wrap=True)
    for key, label, kind in STAT_LINES:
        if key in stats:
            t.add_row(label, fmt(stats[key], kind))
    return t


#: (key, label, kind) of the grouped trade statistics (by type, by symbol)
GROUP_LINES = [
    ("trades", "Trades", "int"),
    ("win_rate_pct", "Win rate", "pct"),
    ("avg_trade_pct", "Avg trade", "pct"),
    ("best_trade_pct", "Best trade", "pct"),
    ("worst_trade_pct", "Worst trade", "pct"),
    ("avg_trade_days", "Avg duration", "days"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy_usd", "Expectancy USD", "usd"),
    ("sqn", "SQN", "ratio"),
    ("kelly", "Kelly", "ratio"),
    ("realized_usd", "Realized USD", "usd"),
]


def group_table(title: str, groups: dict[str, dict[str, Any]]) -> Table:
    """Trade statistics with one column per group (All, B1, B2)."""
    from .stats import fmt

    t = table(title)
    t.add_column("")
    for name in groups:
        t.add_column(name, justify="right")
    for key, label, kind in GROUP_LINES:
        t.add_row(label, *(fmt(g.get(key), kind) for g in groups.values()))
    return fit(t)


def exit_reason_table(by_reason: dict[str, dict[str, Any]]) -> Table:
    """Exit fills by reason: exits, shares, win rate, average, profit factor, realized."""
    from .stats import fmt

    t = table("By exit reason", legend=(*EXIT_LEGEND, ("PF", "PF: profit factor")))
    cols = ("Reason", "Exits", "Shares", "Win rate", "Avg USD", "PF", "Realized USD")
    for c in cols:
        t.add_column(c, justify="left" if c == "Reason" else "right")
    for reason, g in by_reason.items():
        t.add_row(
            reason,
            fmt(g["exits"], "int"),
            fmt(g["shares"], "int"),
            fmt(g["win_rate_pct"], "pct"),
            fmt(g["avg_usd"], "usd"),
            fmt(_inf(g["profit_factor"]), "ratio"),
            fmt(g["realized_usd"], "usd"),
        )
    return fit(t)


def _inf(v: Any) -> Any:
    """JSON's "inf" back to a float for `stats.fmt`."""
    return float(v) if v in ("inf", "-inf") else v


def symbol_table(by_symbol: dict[str, dict[str, Any]]) -> Table:
    """Per-symbol trade statistics."""
    from .stats import fmt

    t = table("By symbol", legend=(("PF", "PF: profit factor"),))
    for c in ("Symbol", "Trades", "Win rate", "Avg trade", "PF", "Realized USD"):
        t.add_column(c, justify="left" if c == "Symbol" else "right")
    for sym, g in by_symbol.items():
        t.add_row(
            sym,
            fmt(g["trades"], "int"),
            fmt(g["win_rate_pct"], "pct"),
            fmt(g["avg_trade_pct"], "pct"),
            fmt(_inf(g["profit_factor"]), "ratio"),
            fmt(g["realized_usd"], "usd"),
        )
    return fit(t)


#: one CSV row per exit fill (an open trade without fills: one row, reason "open")
FILL_COLUMNS = [
    "symbol", "type", "entry_date", "entry_price", "shares", "fill_date", "reason",
    "fill_shares", "fill_price", "fill_pnl_usd", "trade_pnl_usd", "trade_return_pct", "status",
]  # fmt: skip


def fill_rows(trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat rows of the trade list: every exit fill with its trade's entry and total."""
    rows = []
    for t in trades:
        base = {
            "symbol": t["symbol"],
            "type": t["type"],
            "entry_date": t["entry_date"],
            "entry_price": t["entry_price"],
            "shares": t["shares"],
            "trade_pnl_usd": t["pnl"],
            "trade_return_pct": t["return_pct"],
            "status": t["status"],
        }
        for f in t["fills"]:
            rows.append(
                {
                    **base,
                    "fill_date": f["date"],
                    "reason": f["reason"],
                    "fill_shares": f["shares"],
                    "fill_price": f["price"],
                    "fill_pnl_usd": f["pnl"],
                }
            )
        if t["status"] == "open":
            rows.append({**base, "reason": "open", "fill_shares": t["remaining"],
                         "fill_price": t["mark"], "fill_pnl_usd": t["unrealized"]})  # fmt: skip
    return rows


def trade_list_table(trades: list[dict[str, Any]]) -> Table:
    """The trade list: a BUY row per trade, one row per exit fill, then the trade's total."""
    t = table("Trade list", legend=TRADE_LIST_LEGEND)
    for c in ("Symbol", "Type", "Date", "Event", "Shares", "Price", "P&L USD"):
        t.add_column(c, justify="right" if c in ("Shares", "Price", "P&L USD") else "left")
    for tr in trades:
        t.add_row(
            tr["symbol"], tr["type"], tr["entry_date"], "BUY", str(tr["shares"]),
            _price(tr["entry_price"]), "",
        )  # fmt: skip
        for f in tr["fills"]:
            t.add_row("", "", f["date"], f["reason"], str(f["shares"]), _price(f["price"]),
                      _money(f["pnl"], signed=True))  # fmt: skip
        if tr["status"] == "open":
            t.add_row("", "", "", "open (MTM)", str(tr["remaining"]), _price(tr["mark"]),
                      _money(tr["unrealized"], signed=True))  # fmt: skip
        pct = tr["return_pct"]
        t.add_row(
            "", "", "", "[bold]total[/]", "", "" if pct is None else f"{pct:+.2f} %",
            f"[bold]{_money(tr['pnl'], signed=True)}[/]",
        )  # fmt: skip
    return fit(t)


def _price(v: float | None) -> str:
    return "" if v is None else f"{v:,.2f}"


def backtest_title(doc: dict[str, Any]) -> str:
    """The headline of a backtest: window, return vs buy-and-hold, max drawdown, trades."""
    from .stats import fmt

    s = doc["stats"]
    return (
        f"Backtest {doc['start']} .. {doc['end']}: return {fmt(s['return_pct'], 'pct')} vs "
        f"{doc['benchmark']} {fmt(s['buy_hold_return_pct'], 'pct')}, max drawdown "
        f"{fmt(s['max_drawdown_pct'], 'pct')}, {s['trades']} closed trade(s)"
    )


def backtest_renderables(doc: dict[str, Any]) -> list[Any]:
    """`etrade backtest` for people (from its JSON document): the headline, the warm-up, every
    statistic, trades by B1/B2, by exit reason and by symbol, the trade list, the fill note."""
    from rich.text import Text

    s = doc["stats"]
    out: list[Any] = [
        Text(
            f"Backtest {doc['start']} .. {doc['end']}"
            + (f" (#{doc['id']})" if doc.get("id") else "")
            + f": {doc['sessions']} sessions, {doc['symbols']} symbols, starting cash "
            f"{_money(doc['starting_cash'])} USD, benchmark {doc['benchmark']}",
            style="bold",
        ),
        Text(doc["warmup"]["summary"], style="dim"),
        stats_lines_table("Statistics", {**s, "profit_factor": _inf(s["profit_factor"])}),
    ]
    groups = {"All": s, **doc["by_tag"]}
    out.append(group_table("Trades by type", {k: _infs(v) for k, v in groups.items()}))
    if doc["by_exit_reason"]:
        out.append(exit_reason_table(doc["by_exit_reason"]))
    if doc["by_symbol"]:
        out.append(symbol_table(doc["by_symbol"]))
    if doc["trades"]:
        out.append(trade_list_table(doc["trades"]))
    if doc.get("protective") is not None:
        out.append(_protective_text(doc["protective"]))
    out.append(Text(f"Note: {doc['note']}.", style="dim"))
    return out


def _protective_text(p: dict[str, Any]) -> Any:
    """One line on the resting protective stop of a backtest (`backtest.protective_summary`)."""
    from rich.text import Text

    if not p["fired"]:
        return Text(f"Resting stop ({p['gap_fraction']:.1%} below the strategy stop): never fired.")
    vs = p["vs_close_usd"]
    return Text(
        f"Resting stop ({p['gap_fraction']:.1%} below the strategy stop): fired {p['fired']} times "
        f"({p['shares']} shares at the stop, or at the open of a bar that gapped below it; "
        f"realized {_money(p['realized_usd'], True)} USD); against the "
        f"closes of those sessions it {'saved' if vs >= 0 else 'cost'} {_money(abs(vs))} USD."
    )


def _infs(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _inf(v) for k, v in d.items()}


BACKTEST_LIST_COLUMNS = [
    "id", "created_at", "start_date", "end_date", "symbols", "trades", "return_pct",
]  # fmt: skip


def backtest_list_table(rows: list[dict[str, Any]]) -> Table:
    """Stored backtests, newest first."""
    t = table("Stored backtests")
    for c in ("ID", "Run at (UTC)", "Start", "End", "Symbols", "Trades", "Return"):
        t.add_column(c, justify="right" if c in ("ID", "Symbols", "Trades", "Return") else "left")
    for r in rows:
        t.add_row(
            str(r["id"]), r["created_at"][:16].replace("T", " "), r["start_date"],
            r["end_date"], str(r["symbols"]), str(r["trades"]), _pct(r["return_pct"]),
        )  # fmt: skip
    return fit(t)


def asdict_safe(obj: Any) -> Any:
    """`dataclasses.asdict` that passes None and dicts through."""
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:,.2f}"


def optimize_renderables(res: Any, top: int = 10) -> list[Any]:
    """`etrade optimize` for people: the best combinations, and the walk-forward folds."""
    from rich.text import Text

    how = f"{res.search}, {res.backend} x {res.workers}"
    out: list[Any] = [
        Text(
            f"Optimize {res.start} .. {res.end}: {res.combinations} combinations in the grid, "
            f"{len(res.trials)} backtests per span, {res.evaluations} strategy evaluation(s) "
            f"({how}); ranked by {res.metric}",
            style="bold",
        )
    ]
    names = list(res.trials[0].params) if res.trials else []
    title = "Best combinations" + (" (last fold, in-sample)" if res.folds else "")
    t = table(title)
    for c in ("#", *names, "Return %", "Sharpe", "Sortino", "Calmar", "Max DD %", "Trades"):
        t.add_column(c, justify="right")
    for i, tr in enumerate(res.trials[:top], 1):
        t.add_row(
            str(i),
            *(str(tr.params[n]) for n in names),
            _num(tr.return_pct),
            _num(tr.sharpe),
            _num(tr.sortino),
            _num(tr.calmar),
            _num(tr.max_drawdown_pct),
            str(tr.trades),
        )
    out.append(t)
    if res.folds:
        f = table("Walk-forward: best in-sample combination, then out-of-sample")
        for c in ("Fold", "In-sample", "Out-of-sample", f"IS {res.metric}", f"OOS {res.metric}",
                  "OOS ret %", "OOS trades", "Best"):  # fmt: skip
            right = c not in ("In-sample", "Out-of-sample", "Best")
            f.add_column(c, justify="right" if right else "left", no_wrap=not c == "Best")
        for fold in res.folds:
            f.add_row(
                str(fold.index),
                "..".join(fold.in_sample),
                "..".join(fold.out_of_sample),
                _num(fold.in_sample_score),
                _num(fold.result.score),
                _num(fold.result.return_pct),
                str(fold.result.trades),
                " ".join(f"{k}={v}" for k, v in fold.best.items()),
            )
        out.append(f)
    return out
