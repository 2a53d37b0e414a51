"""Drive `etrade run-once --broker etrade` against a fault-injecting E*TRADE emulator.

Starts an E*TRADE emulator on 127.0.0.1 (loopback only; payloads shaped as in `etrade_api.md`,
built by `tests/etrade_payloads.py`) that keeps one account's orders, fills and holdings,
executes market orders at the bundled sample's close of the emulated session and stamps
`executedTime` at 15:30 US/Eastern of that session. Then it runs `python -m etrade_cli
run-once --broker etrade --as-of D --json` as separate processes, session after session of the
sample, while injecting faults:

- on places: HTTP 500/503 error pages, 429 with Retry-After, the documented rate-limit page
  (none of them processed), connections dropped before the order is taken, and replies lost
  after it was taken;
- on reads: occasional 500s and rate-limit pages (the client retries them);
- SIGKILL crash trials: the run is killed at a random request, half of the time right after a
  place was processed (before its reply), and recovered either in the same session or only in
  the next one.

After every run it checks, from the outside:
- no duplicate: one emulator order per `clientOrderId`, and each belongs to a journal row;
- no lost fill: every emulator execution is in the book (journal quantities, fills, holdings);
- every fill is booked at the session of its `executedTime`;
- no silent abandonment: a run that leaves an order unconfirmed (intent, previewed, unknown)
  exits non-zero; an order dropped as stale is reported as a warning.

Usage: python benchmarks/etrade_faults.py [--sessions N] [--kills K] [--seed S] [--verbose]
       [--code DIR]   (DIR: another etrade_cli tree to drive, e.g. an older commit)
Exit status 0 when every check held, 1 otherwise (each violation is printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import etrade_payloads as P  # noqa: E402

ET = ZoneInfo("America/New_York")
KEY = P.KEY
CONSUMER = ("0123456789abcdef0123456789abcdef", "emulator-consumer-secret")
PLACE_FAULTS = ["500", "503", "429", "ratelimit", "drop", "lost"]


class Emulator:
    """The account's state and the fault plan; `handle` answers one request."""

    def __init__(self, rng: random.Random, closes: Any):
        self.rng, self.closes = rng, closes
        self.lock = threading.Lock()
        self.session = ""
        self.orders: dict[int, dict[str, Any]] = {}
        self.next_id = 1000
        self.previews = 0
        self.place_fault_rate = 0.4
        self.read_fault_rate = 0.04
        self.kill_at: tuple[str, int] | None = None  # ("place", k) or ("any", n)
        self.child: subprocess.Popen | None = None
        self.seen = {"any": 0, "place": 0}
        self.injected: dict[str, int] = {}
        self.killed = False

    # -- plumbing ---------------------------------------------------------------------------

    def start_run(self, child: subprocess.Popen, kill_at: tuple[str, int] | None) -> None:
        self.child, self.kill_at, self.killed = child, kill_at, False
        self.seen = {"any": 0, "place": 0}

    def _maybe_kill(self, kind: str) -> bool:
        self.seen["any"] += 1
        if kind == "place":
            self.seen["place"] += 1
        if self.kill_at and self.child and self.seen[self.kill_at[0]] == self.kill_at[1]:
            os.kill(self.child.pid, signal.SIGKILL)
            self.killed, self.kill_at = True, None
            return True
        return False

    def _count(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1

    def price(self, symbol: str) -> float:
        return float(self.closes(symbol, self.session))

    def holdings(self) -> dict[str, int]:
        held: dict[str, int] = {}
        for o in self.orders.values():
            held[o["symbol"]] = held.get(o["symbol"], 0) + o["filled"] * (
                1 if o["action"] == "BUY" else -1
            )
        return {s: q for s, q in held.items() if q}

    def _doc(self, o: dict[str, Any]) -> dict[str, Any]:
        d = P.order(o["id"], o["symbol"], o["action"], o["qty"], o["filled"], o["status"],
                    avg=o["avg"], placed_ms=o["placed_ms"])  # fmt: skip
        d["OrderDetail"][0]["executedTime"] = o["executed_ms"]
        return d

    # -- requests ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str, str] | None:
        """(status, content type, body), or None to drop the connection without a reply."""
        with self.lock:
            return self._handle(method, path, body)

    def _handle(self, method: str, path: str, body: bytes) -> tuple[int, str, str] | None:
        place = path.endswith("/orders/place.json")
        if not place and method == "GET" and self.rng.random() < self.read_fault_rate:
            fault = self.rng.choice(["500", "ratelimit"])
            self._count(f"read {fault}")
            return _fault(fault)
        if place:
            return self._place(json.loads(body)["PlaceOrderRequest"])
        if self._maybe_kill("any"):
            return None
        return self._route(method, path, body)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, str, str]:
        base = f"/v1/accounts/{KEY}"
        if path == "/v1/accounts/list.json":
            return _json(P.ACCOUNTS)
        if path == f"{base}/balance.json":
            doc = json.loads(json.dumps(P.BALANCE))
            spent = sum(
                o["filled"] * o["avg"] * (1 if o["action"] == "BUY" else -1)
                for o in self.orders.values()
            )
            doc["BalanceResponse"]["Computed"]["cashAvailableForInvestment"] = 100_000.0 - spent
            doc["BalanceResponse"]["Computed"]["RealTimeValues"]["totalAccountValue"] = 100_000.0
            return _json(doc)
        if path == f"{base}/portfolio.json":
            held = self.holdings()
            if not held:
                return 204, "application/json", ""
            return _json(P.portfolio(*[(s, q, self.price(s)) for s, q in held.items()]))
        if path == f"{base}/orders.json":
            if not self.orders:
                return 204, "application/json", ""
            return _json(P.orders(*[self._doc(o) for o in reversed(self.orders.values())]))
        m = re.fullmatch(re.escape(base) + r"/orders/(\d+)\.json", path)
        if m and method == "GET":
            o = self.orders.get(int(m.group(1)))
            if o is None:
                return _json(P.error(100, "Account key does not belong to user."), 400)
            return _json(P.orders(self._doc(o)))
        if path == f"{base}/orders/preview.json":
            inst = json.loads(body)["PreviewOrderRequest"]["Order"][0]["Instrument"][0]
            self.previews += 1
            doc = P.preview_response(inst["Product"]["symbol"], int(inst["quantity"]),
                                     preview_id=3429395279 + self.previews)  # fmt: skip
            return _json(doc)
        return _json(P.error(102, "Please enter valid account key."), 400)

    def _place(self, req: dict[str, Any]) -> tuple[int, str, str] | None:
        fault = None
        if self.rng.random() < self.place_fault_rate:
            fault = self.rng.choice(PLACE_FAULTS)
            self._count(f"place {fault}")
        if fault in ("500", "503", "429", "ratelimit"):
            return _fault(fault)
        if fault == "drop":
            return None
        inst = req["Order"][0]["Instrument"][0]
        symbol, qty = inst["Product"]["symbol"], int(inst["quantity"])
        oid = self.next_id
        self.next_id += 1
        self.orders[oid] = {
            "id": oid,
            "coid": req["clientOrderId"],
            "symbol": symbol,
            "action": inst["orderAction"],
            "qty": qty,
            "filled": qty,
            "avg": self.price(symbol),
            "status": "EXECUTED",
            "placed_ms": int(time.time() * 1000),
            "executed_ms": _session_ms(self.session),
            "session": self.session,
        }
        if self._maybe_kill("place") or fault == "lost":
            return None
        return _json(P.place_response(oid))


def _json(doc: Any, status: int = 200) -> tuple[int, str, str]:
    return status, "application/json", json.dumps(doc)


def _fault(kind: str) -> tuple[int, str, str]:
    if kind == "ratelimit":
        return 400, "text/html", P.RATE_LIMIT_PAGE
    if kind == "429":
        return 429, "text/plain", "Too Many Requests"
    return int(kind), "text/html", P.TOMCAT_500


def _session_ms(session: str) -> int:
    t = dt.datetime.fromisoformat(session).replace(hour=15, minute=30, tzinfo=ET)
    return int(t.timestamp() * 1000)


def make_handler(emu: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if not self.headers.get("Authorization", "").startswith("OAuth "):
                self.send_error(401)
                return
            res = emu.handle(self.command, urlsplit(self.path).path, body)
            if res is None:  # lost reply: close without answering
                self.close_connection = True
                return
            status, ctype, text = res
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _any  # noqa: N815 (http.server API)

        def log_message(self, *args: object) -> None:
            return

    return Handler


# -- the driver ------------------------------------------------------------------------------


def closes_source() -> Any:
    """close(symbol, session) from the bundled sample (the data the runs trade on)."""
    import numpy as np

    from etrade_cli.marketdata.provider import CsvBarProvider

    bars = CsvBarProvider().all()

    def close(symbol: str, session: str) -> float:
        b = bars[symbol]
        i = int(np.searchsorted(b.dates, np.datetime64(session), side="right")) - 1
        return float(b.close[max(i, 0)])

    return close


def sessions(first: str, count: int) -> list[str]:
    from etrade_cli.marketdata.provider import CsvBarProvider

    (ref,) = CsvBarProvider().get(["AAPL"])[0]
    days = [str(d) for d in ref.dates if str(d) >= first]
    return days[:count]


def check(emu: Emulator, db: Path, rc: int, killed: bool, out: str) -> list[str]:
    """The invariants after one run (see the module doc); returns violations.

    Reads the book read-only with plain SQL, so that it neither migrates nor depends on the
    code under test (`--code` may be an older tree)."""
    import sqlite3

    bad: list[str] = []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        journal = {r["client_order_id"]: r for r in con.execute("SELECT * FROM orders")}
        by_coid: dict[str, list[int]] = {}
        for o in emu.orders.values():
            by_coid.setdefault(o["coid"], []).append(o["id"])
        for coid, ids in by_coid.items():
            if len(ids) > 1:
                bad.append(f"duplicate: {coid} placed {len(ids)} times ({ids})")
            if coid not in journal:
                bad.append(f"order {ids} ({coid}) is not in the journal")
        if killed:
            return bad
        for o in emu.orders.values():
            row = journal.get(o["coid"])
            if row is None:
                continue
            fills = con.execute(
                "SELECT quantity, session_date FROM fills WHERE order_id = ?", (row["id"],)
            ).fetchall()
            if row["filled_qty"] != o["filled"] or sum(f[0] for f in fills) != o["filled"]:
                bad.append(
                    f"lost fill: {o['coid']} ({o['action']} {o['symbol']}) filled {o['filled']}"
                    f" at the broker; journal {row['filled_qty']}, fills {sum(f[0] for f in fills)}"
                )
            for f in fills:
                if f[1] != o["session"]:
                    bad.append(f"fill of {o['coid']} booked at {f[1]}, executed {o['session']}")
        book: dict[str, int] = {}
        for p in con.execute(
            "SELECT symbol, remaining_qty FROM positions WHERE broker = 'etrade' AND "
            "account = ? AND status = 'open'",
            (KEY,),
        ):
            book[p[0]] = book.get(p[0], 0) + p[1]
        if book != emu.holdings():
            bad.append(f"holdings differ: book {book}, broker {emu.holdings()}")
        pending = [
            c for c, r in journal.items() if r["status"] in ("intent", "previewed", "unknown")
        ]
        if pending and rc == 0:
            bad.append(f"silent: exit 0 with unconfirmed orders {pending}")
        if rc not in (0, 5):
            bad.append(f"exit {rc}: {out[-300:]}")
    finally:
        con.close()
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=57)
    ap.add_argument("--kills", type=int, default=40, help="SIGKILL crash trials (at most)")
    ap.add_argument("--kill-rate", type=float, default=0.6, help="chance of a trial per step")
    ap.add_argument("--first", default="2010-06-01", help="first session (YYYY-MM-DD)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--verbose", action="store_true", help="one line per run")
    ap.add_argument(
        "--code", default=str(ROOT), help="the etrade_cli source tree the runs use (PYTHONPATH)"
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    days = sessions(args.first, args.sessions)
    emu = Emulator(rng, closes_source())
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(emu))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    violations: list[str] = []
    stats = {"runs": 0, "killed": 0, "next_session_recoveries": 0, "exit_5": 0}
    with tempfile.TemporaryDirectory() as tmp:
        home, db = Path(tmp) / "home", Path(tmp) / "book.db"
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(
            f'[paths]\ndb = "{db}"\n\n[etrade]\nbase_url = "http://127.0.0.1:{server.server_port}"'
            "\ntimeout_s = 5\nrate_orders_per_s = 20\nrate_accounts_per_s = 20\n"
            # more positions and shorter holds than the defaults: more orders to break
            "\n[strategy]\nmax_positions_b1 = 40\nmax_positions_b2 = 40\n"
            "percent_of_equity = 0.02\nscore_b2_min = 0\ntes_days_b1 = 4\ntes_days_b2 = 4\n"
        )
        env = {**os.environ, "ETRADE_CLI_HOME": str(home), "ETRADE_CLI_CONFIG": str(cfg),
               "ETRADE_CONSUMER_KEY": CONSUMER[0], "ETRADE_CONSUMER_SECRET": CONSUMER[1],
               "PYTHONPATH": args.code}  # fmt: skip
        from etrade_cli.marketdata.provider import CsvBarProvider

        # the whole sample as the universe: the strategy is selective (a few signals a week)
        (Path(tmp) / "watchlist.txt").write_text("\n".join(sorted(CsvBarProvider().all())))
        os.environ["ETRADE_CLI_HOME"] = str(home)
        from etrade_cli.etrade.auth import FileTokenStore, Tokens

        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        FileTokenStore("custom", CONSUMER[0]).save(
            Tokens("custom", CONSUMER[0], "emulator-token", "emulator-token-secret", now, now)
        )

        def run(day: str, kill_at: tuple[str, int] | None) -> None:
            emu.session = day
            cmd = [sys.executable, "-m", "etrade_cli", "run-once", "--broker", "etrade",
                   "--as-of", day, "--json"]  # fmt: skip
            child = subprocess.Popen(
                cmd, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            emu.start_run(child, kill_at)
            out, err = child.communicate()
            stats["runs"] += 1
            stats["killed"] += emu.killed
            stats["exit_5"] += child.returncode == 5
            if args.verbose:
                last = (err.strip().splitlines() or [""])[-1][:160]
                print(f"{day} kill={kill_at} killed={emu.killed} exit={child.returncode} {last}")
            for v in check(emu, db, child.returncode, emu.killed, out + err):
                violations.append(f"{day}: {v}")
                print(f"VIOLATION {day}: {v}", file=sys.stderr)

        budget, span = args.kills, 12
        for i, day in enumerate(days):
            recovered_later = False
            while budget and rng.random() < args.kill_rate:
                at = ("place", 1) if rng.random() < 0.5 else ("any", rng.randint(1, span))
                run(day, at)
                if not emu.killed:  # the run ended before the kill point: not a trial
                    break
                budget -= 1
                if i + 1 < len(days) and rng.random() < 0.4:
                    stats["next_session_recoveries"] += 1
                    recovered_later = True  # the next session's run recovers it
                    break
            if not recovered_later:
                run(day, None)
                span = max(emu.seen["any"], 2)
    server.shutdown()
    placed = len(emu.orders)
    print(
        f"sessions {len(days)}  runs {stats['runs']}  SIGKILLed {stats['killed']}  "
        f"next-session recoveries {stats['next_session_recoveries']}  exit 5 {stats['exit_5']}  "
        f"orders at the broker {placed}"
    )
    print("faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(emu.injected.items())))
    print(f"violations: {len(violations)}")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
