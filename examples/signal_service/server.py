"""An example signal service for etrade-cli's `http` strategy (standard library only).

It proposes the Rajat Alpha v67 scan's B1 signals of each session it is asked about, approves
proposals up to a notional cap on `/validate`, and appends every reward it accepts to a JSON
Lines file (once per idempotency key). The scan is deterministic over the bundled history, so it
also answers `GET /capabilities` with `{"past_sessions": true}`: `etrade backtest --strategy
http` can replay it.

    python examples/signal_service/server.py [--port 8765] [--rewards rewards.jsonl]
        [--token TOKEN] [--max-notional 10000]

Contract: etrade_cli/schemas/signal_service.json and the README's "Signal service" section.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from etrade_cli.marketdata.provider import CsvBarProvider
from etrade_cli.strategy.base import Book, Evaluation, classify_all
from etrade_cli.strategy.rajat_alpha import RajatAlpha


class RajatB1Service:
    """The service's logic, without HTTP: `propose`, `validate`, `reward` take and return the
    contract's JSON documents (dicts)."""

    def __init__(self, rewards_path: Path, max_notional_usd: float = 10_000.0):
        self.strategy = RajatAlpha()
        self.provider = CsvBarProvider(None)  # the bundled sample; any BarProvider works
        self.rewards_path = rewards_path
        self.max_notional_usd = max_notional_usd
        self._evaluations: dict[tuple[str, ...], Evaluation] = {}
        self._lock = threading.Lock()
        self._seen = self._logged_keys()

    def propose(self, body: dict[str, Any]) -> dict[str, Any]:
        """B1 entries of the scan at `body["session"]`, classified against the held positions."""
        session = np.datetime64(body["session"])
        ev = self._evaluation(tuple(body["universe"]))
        book = Book.from_pairs((p["symbol"], p["tag"]) for p in body["positions"])
        signals = [s for s in ev.iter_at(session) if s.is_signal and s.date == session]
        proposals = []
        for d in classify_all(self.strategy, signals, book):
            if not (d.enter and d.action == "B1"):
                continue
            sig = d.signal
            stop = sig.close * (1 - self.strategy.params.initial_stop_loss_pct)
            proposals.append(
                {
                    "id": f"rajat-{body['session']}-{sig.symbol}-B1",
                    "symbol": sig.symbol,
                    "side": "BUY",
                    "notional_usd": round(body["account"]["equity"] * 0.05, 2),
                    "price_type": "MARKET",
                    "stop_loss": round(stop, 2),
                    "tag": "B1",
                    "reason": f"Rajat Alpha v67 B1: score {sig.score:g}, {sig.pattern}",
                }
            )
        return {"proposals": proposals}

    def validate(self, body: dict[str, Any]) -> dict[str, Any]:
        """Approve up to `max_notional_usd` per order."""
        notional = body["sizing"]["notional_usd"]
        if notional > self.max_notional_usd:
            return {"approved": False, "reason": f"notional {notional:,.2f} USD above the cap"}
        return {"approved": True, "reason": "within the notional cap"}

    def reward(self, body: dict[str, Any]) -> dict[str, Any]:
        """Log a reward once per idempotency key (a re-sent one is acknowledged again)."""
        key = body["idempotency_key"]
        with self._lock:
            if key not in self._seen:
                self._seen.add(key)
                with self.rewards_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(body) + "\n")
                print(
                    f"reward {body['kind']} {body['proposal_id']}: P&L {body['realized_pnl_usd']}",
                    file=sys.stderr,
                )
        return {"ok": True}

    def _evaluation(self, universe: tuple[str, ...]) -> Evaluation:
        with self._lock:
            if universe not in self._evaluations:
                bars, _missing = self.provider.get(list(universe))
                self._evaluations[universe] = self.strategy.evaluate(bars)
            return self._evaluations[universe]

    def _logged_keys(self) -> set[str]:
        if not self.rewards_path.exists():
            return set()
        lines = self.rewards_path.read_text(encoding="utf-8").splitlines()
        return {json.loads(line)["idempotency_key"] for line in lines if line.strip()}


def make_server(
    service: RajatB1Service, host: str = "127.0.0.1", port: int = 8765, token: str = ""
) -> ThreadingHTTPServer:
    """An HTTP server for `service` (port 0 picks a free one); call `serve_forever()`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            print(
                f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", file=sys.stderr
            )

        def _send(self, status: int, doc: Any) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if token and self.headers.get("Authorization") != f"Bearer {token}":
                self._send(401, {"error": "unauthorized"})
                return False
            return True

        def do_GET(self) -> None:
            if not self._authorized():
                return
            if self.path == "/capabilities":
                self._send(200, {"past_sessions": True})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if not self._authorized():
                return
            routes = {
                "/propose": service.propose,
                "/validate": service.validate,
                "/reward": service.reward,
            }
            route = routes.get(self.path)
            if route is None:
                self._send(404, {"error": "not found"})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self._send(200, route(body))
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": f"bad request: {exc}"})

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--rewards", type=Path, default=Path("rewards.jsonl"))
    ap.add_argument("--token", default=os.environ.get("SIGNAL_SERVICE_TOKEN", ""))
    ap.add_argument("--max-notional", type=float, default=10_000.0)
    args = ap.parse_args(argv)
    server = make_server(
        RajatB1Service(args.rewards, args.max_notional), args.host, args.port, args.token
    )
    print(f"signal service on http://{args.host}:{server.server_address[1]}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
