"""HTTP to the signal service: JSON over `requests`, a bearer token, one bounded timeout.

Every failure (connection refused, timeout, a non-2xx status, a body that is not JSON) raises
`ProposalsUnavailable` with a one-line message naming the call and the problem; the token never
appears in a message or a log line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from ..redact import register_secret
from ..strategy.base import ProposalsUnavailable

log = logging.getLogger(__name__)

#: answers larger than this (bytes) are refused as garbage
MAX_ANSWER_BYTES = 2_000_000


class SignalClient:
    """A client of the service at `base_url` (no trailing slash needed).

    Args:
        token: sent as `Authorization: Bearer <token>` when not empty (a secret).
        timeout_s: connect and read timeout of every call, seconds.
        session: a `requests.Session` to use (tests), else a new one.
    """

    def __init__(
        self,
        base_url: str,
        token: str = "",
        timeout_s: float = 10.0,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.http = session or requests.Session()
        self.http.headers["Accept"] = "application/json"
        if token:
            register_secret(token)
            self.http.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        """POST `body` as JSON to `{base}{path}`; the decoded JSON answer (None for 204).

        Raises:
            ProposalsUnavailable: connection error, timeout, non-2xx status, not JSON.
        """
        return self._call("POST", path, body, headers)

    def get(self, path: str) -> Any:
        """GET `{base}{path}`; the decoded JSON answer. Raises `ProposalsUnavailable`."""
        return self._call("GET", path, None, None)

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str] | None
    ) -> Any:
        url = self.base_url + path
        try:
            r = self.http.request(method, url, json=body, headers=headers, timeout=self.timeout_s)
        except requests.Timeout:
            raise ProposalsUnavailable(
                f"{path}: no answer within {self.timeout_s:g} s (timeout_s)"
            ) from None
        except requests.RequestException as exc:
            raise ProposalsUnavailable(
                f"{path}: cannot reach {self.base_url} ({type(exc).__name__})"
            ) from None
        log.debug("%s %s -> HTTP %s", method, url, r.status_code)
        if not 200 <= r.status_code < 300:
            raise ProposalsUnavailable(f"{path}: HTTP {r.status_code} {r.reason or ''}".rstrip())
        if r.status_code == 204 or not r.content:
            return None
        if len(r.content) > MAX_ANSWER_BYTES:
            raise ProposalsUnavailable(f"{path}: answer larger than {MAX_ANSWER_BYTES} bytes")
        try:
            return json.loads(r.content)
        except ValueError:
            raise ProposalsUnavailable(f"{path}: answer is not JSON") from None
