"""Bar requests made by two consecutive `etrade scan` runs on Alpaca data (the cache benchmark).

Starts a fake Alpaca market-data server on 127.0.0.1 (loopback only; synthetic weekday bars for
whatever range is asked), points `[alpaca] data_url` at it, runs `etrade scan --json` twice as
separate processes over the default watchlist with an empty bar cache, and prints the number of
bar requests each run made and its wall time. Expected: the first run fetches, the second sends
nothing because the cache covers every day up to the last completed session.

Usage: python benchmarks/cache_requests.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ETRADE = shutil.which("etrade") or str(Path(sys.executable).parent / "etrade")
COUNT = {"bars": 0}


class FakeAlpaca(BaseHTTPRequestHandler):
    """GET /v2/stocks/bars: synthetic adjusted daily bars for every weekday in [start, end]."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        url = urlsplit(self.path)
        if url.path != "/v2/stocks/bars":
            self.send_error(404)
            return
        COUNT["bars"] += 1
        q = parse_qs(url.query)
        start = dt.date.fromisoformat(q["start"][0][:10])
        end = dt.date.fromisoformat(q["end"][0][:10])
        body = {
            "bars": {s: _bars(s, start, end) for s in q["symbols"][0].split(",")},
            "next_page_token": None,
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return


def _bars(symbol: str, start: dt.date, end: dt.date) -> list[dict[str, object]]:
    out, d, price = [], start, 50.0 + (sum(map(ord, symbol)) % 100)
    while d <= end:
        if d.weekday() < 5:
            price *= 1.001 if (d.toordinal() + len(symbol)) % 3 else 0.998
            out.append(
                {
                    "t": f"{d}T05:00:00Z",
                    "o": price * 0.995,
                    "h": price * 1.01,
                    "l": price * 0.99,
                    "c": price,
                    "v": 1_000_000,
                    "n": 1,
                    "vw": price,
                }
            )
        d += dt.timedelta(days=1)
    return out


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAlpaca)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(
            f'[data]\nsource = "alpaca"\n\n[alpaca]\n'
            f'data_url = "http://127.0.0.1:{server.server_port}"\n'
        )
        env = {
            **os.environ,
            "ETRADE_CLI_HOME": str(Path(tmp) / "home"),
            "ETRADE_CLI_CONFIG": str(cfg),
            "ALPACA_API_KEY": "PKBENCHMARK0000",
            "ALPACA_SECRET_KEY": "benchmark-secret-0000",
        }
        print(f"{'run':<28}{'bar requests':>14}{'seconds':>10}")
        for label in ("first scan (empty cache)", "second scan (warm cache)"):
            before = COUNT["bars"]
            t0 = time.perf_counter()
            subprocess.run(
                [ETRADE, "scan", "--json"], env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL
            )
            print(f"{label:<28}{COUNT['bars'] - before:>14}{time.perf_counter() - t0:>10.3f}")
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
