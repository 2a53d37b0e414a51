"""A real HTTP server on 127.0.0.1 playing the signal service, for tests (stdlib, one thread)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeService:
    """What the service answers is set by the test; every request is recorded.

    Attributes:
        proposals: the `proposals` list of the next `/propose` answers (a callable gets the
            request body and returns the list).
        raw_propose: bytes answered to `/propose` instead (garbage tests).
        verdict: the `/validate` answer (a callable gets the request body).
        reward_failures: how many `/reward` calls to answer 503 before accepting.
        delay_s: seconds to wait before answering any call.
        capabilities: the `/capabilities` answer, or None for a 404.
        requests: (method, path, headers, body) of every call, in order.
        accepted: idempotency key -> reward body, for each accepted reward (a repeat of a key
            is accepted again but recorded once, as a real service would).
    """

    def __init__(self) -> None:
        self.proposals: Any = []
        self.raw_propose: bytes | None = None
        self.verdict: Any = {"approved": True, "reason": "fine"}
        self.reward_failures = 0
        self.delay_s = 0.0
        self.capabilities: dict[str, Any] | None = None
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.accepted: dict[str, dict[str, Any]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeService:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, path: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [r for r in self.requests if r[1] == path]

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        if method == "GET" and path == "/capabilities":
            if self.capabilities is None:
                return 404, b'{"error": "not found"}'
            return 200, json.dumps(self.capabilities).encode()
        if path == "/propose":
            if self.raw_propose is not None:
                return 200, self.raw_propose
            props = self.proposals(body) if callable(self.proposals) else self.proposals
            return 200, json.dumps({"proposals": props}).encode()
        if path == "/validate":
            v = self.verdict(body) if callable(self.verdict) else self.verdict
            return 200, json.dumps(v).encode()
        if path == "/reward":
            if self.reward_failures > 0:
                self.reward_failures -= 1
                return 503, b"busy"
            self.accepted.setdefault(body["idempotency_key"], body)
            return 200, b'{"ok": true}'
        return 404, b"{}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                service.requests.append((method, self.path, dict(self.headers), body))
                if service.delay_s:
                    time.sleep(service.delay_s)
                status, data = service._answer(method, self.path, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout tests)
                    pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


def closed_port_url() -> str:
    """A loopback URL nobody listens on (a service that is down)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
