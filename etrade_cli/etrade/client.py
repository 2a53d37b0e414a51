"""A small synchronous E*TRADE REST client: one `_request()`, thin endpoint methods.

- JSON always (`.json` suffix); empty 200/204 bodies are empty results, never a JSON error.
- OAuth 1.0a HMAC-SHA1 signing by `requests-oauthlib`, a reused `requests.Session`, a timeout on
  every call.
- Errors (`etrade_api.md` §6): 400 `{"Error":{"code","message"}}` -> `ApiError(code)`; the
  documented rate-limit page (HTTP 400 "Number of requests exceeded the rate limit set"), 429
  and 5xx -> `TemporaryApiError`; HTML 401 pages are read for `oauth_problem`.
- Idempotent calls (GETs, previews) are retried on temporary errors, timeouts and connection
  errors with exponential backoff and jitter (tenacity), honouring `Retry-After`. An order place
  is never retried here: the caller looks the order up first (see `brokers.etrade`).
- A token idle for 2 hours is renewed before the call; a 401 `token_rejected` triggers one renew
  and one retry; after midnight ET or on `token_expired` the call fails at once (`AuthError`).
- A client-side rate limiter per API module (market 4/s, accounts 2/s, orders 2/s by default).
- The server's `Date` header is compared with the local clock; a skew above 60 s is warned about
  (E*TRADE refuses signatures beyond 5 minutes).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..config import EtradeConfig, require_etrade_keys
from ..errors import ApiError, AuthError, TemporaryApiError
from ..redact import redact
from . import models
from .auth import (
    LOGIN_HINT,
    Endpoints,
    Tokens,
    TokenStore,
    oauth_problem,
    utc_now,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger("etrade_cli.http")
RATE_LIMIT_TEXT = "Number of requests exceeded the rate limit set"
QUOTE_BATCH = 50
SKEW_WARN_S = 60
TOUCH_EVERY = dt.timedelta(seconds=60)


class RateLimiter:
    """Spaces requests of each API module at least 1/rate seconds apart.

    Args:
        rates: module -> requests per second. clock: monotonic seconds. sleep: waits seconds.
    """

    def __init__(
        self,
        rates: dict[str, float],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rates, self.clock, self.sleep = rates, clock, sleep
        self._next: dict[str, float] = {}

    def acquire(self, module: str) -> None:
        """Wait until a request of `module` may go, and reserve the slot."""
        rate = self.rates.get(module)
        if not rate:
            return
        now = self.clock()
        at = max(now, self._next.get(module, now))
        if at > now:
            self.sleep(at - now)
        self._next[module] = at + 1.0 / rate


class EtradeClient:
    """E*TRADE v1 REST API for one consumer key and environment.

    Args:
        cfg: `[etrade]` config. store: where the access token is kept.
        session: the `requests.Session` to reuse (tests pass one).
        now: UTC clock. sleep: waits seconds (retries and rate limiting). monotonic: for the
            rate limiter. warn: receives one-line warnings (clock skew).
        max_attempts: tries of an idempotent call (1 + retries).
    """

    def __init__(
        self,
        cfg: EtradeConfig,
        store: TokenStore,
        *,
        session: requests.Session | None = None,
        now: Callable[[], dt.datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        warn: Callable[[str], None] | None = None,
        max_attempts: int = 4,
    ):
        require_etrade_keys(cfg)
        self.cfg, self.store = cfg, store
        self.endpoints = Endpoints.for_config(cfg)
        self._http = session
        self.now, self.sleep = now, sleep
        self.warn = warn or (lambda msg: log.warning(msg))
        self.max_attempts = max_attempts
        self.limiter = RateLimiter(
            {
                "market": cfg.rate_market_per_s,
                "accounts": cfg.rate_accounts_per_s,
                "orders": cfg.rate_orders_per_s,
            },
            monotonic,
            sleep,
        )
        self._tokens: Tokens | None = None
        self._saved_at: dt.datetime | None = None
        self._skew_warned = False

    @property
    def http(self) -> requests.Session:
        """The HTTP session, created (and `requests` imported) at the first request: a command
        that fails before one (not logged in, token expired) never loads the HTTP stack."""
        if self._http is None:
            import requests

            self._http = requests.Session()
        return self._http

    # -- tokens -----------------------------------------------------------------------------

    def tokens(self) -> Tokens:
        """The stored access token, checked for expiry (not for idleness).

        Raises:
            AuthError: none stored, or expired (after midnight ET).
        """
        if self._tokens is None:
            self._tokens = self.store.load()
        if self._tokens is None:
            raise AuthError(f"not logged in to E*TRADE ({self.cfg.environment}); {LOGIN_HINT}")
        if self._tokens.status(self.now()) == "expired":
            raise AuthError(f"the E*TRADE access token expired at midnight ET; {LOGIN_HINT}")
        return self._tokens

    def _oauth(self) -> Any:
        from requests_oauthlib import OAuth1

        t = self.tokens()
        return OAuth1(
            self.cfg.consumer_key,
            client_secret=self.cfg.consumer_secret,
            resource_owner_key=t.token,
            resource_owner_secret=t.secret,
        )

    def _touch(self) -> None:
        now = self.now()
        if self._tokens is None:
            return
        self._tokens = self._tokens.touched(now)
        if self._saved_at is None or now - self._saved_at >= TOUCH_EVERY:
            self.store.save(self._tokens)
            self._saved_at = now

    def renew(self) -> None:
        """Reactivate an idle token (`GET /oauth/renew_access_token`).

        Raises:
            AuthError: the token is expired or rejected.
        """
        self._send(
            "GET",
            f"{self.endpoints.oauth}/renew_access_token",
            module="oauth",
            renew_ok=False,
            parse=False,
        )
        self._touch()
        if self._tokens is not None:
            self.store.save(self._tokens)

    def revoke(self) -> None:
        """Revoke the token at E*TRADE (`GET /oauth/revoke_access_token`)."""
        self._send(
            "GET",
            f"{self.endpoints.oauth}/revoke_access_token",
            module="oauth",
            renew_ok=False,
            parse=False,
        )

    # -- the one request function -------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        module: str,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        retry: bool | None = None,
    ) -> Any:
        """Send a REST call (`path` like `/v1/accounts/list`, `.json` added) and parse JSON.

        Returns None for an empty body (200 or 204). Retries only when `retry` (default: GET).

        Raises:
            AuthError, ApiError, TemporaryApiError (after the retries).
        """
        url = f"{self.endpoints.rest}{path}.json"
        tokens = self.tokens()
        if tokens.status(self.now()) == "inactive":
            self.renew()
        if not (method == "GET" if retry is None else retry):
            try:
                return self._send(method, url, module=module, params=params, body=body)
            except TemporaryApiError as exc:
                raise _tried(exc, "sent once: not retried") from None
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        tries = 0
        started = self.limiter.clock()
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.max_attempts),
                reraise=True,
                retry=retry_if_exception_type(TemporaryApiError),
                wait=self._backoff,
                sleep=self.sleep,
            ):
                with attempt:
                    tries += 1
                    return self._send(method, url, module=module, params=params, body=body)
        except TemporaryApiError as exc:
            spent = self.limiter.clock() - started
            raise _tried(exc, f"tried {tries} times over {spent:.0f} s") from None
        return None  # pragma: no cover (reraise=True)

    @staticmethod
    def _backoff(state: Any) -> float:
        """Exponential backoff with jitter (0.5, 1, 2 ... s, capped at 8), or `Retry-After`."""
        exc = state.outcome.exception() if state.outcome else None
        base = min(8.0, 0.5 * 2 ** (state.attempt_number - 1)) + random.uniform(0, 0.25)
        retry_after = getattr(exc, "retry_after", None)
        return max(base, retry_after) if retry_after else base

    def _send(
        self,
        method: str,
        url: str,
        *,
        module: str,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        renew_ok: bool = True,
        parse: bool = True,
    ) -> Any:
        import requests

        self.limiter.acquire(module)
        try:
            resp = self.http.request(
                method,
                url,
                params=params,
                json=body,
                auth=self._oauth(),
                headers={"Accept": "application/json"},
                timeout=self.cfg.timeout_s,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TemporaryApiError(
                f"no reply from E*TRADE: {method} {_path(url)}: {type(exc).__name__}: "
                f"{redact(str(exc))[:200]}"
            ) from None
        self._debug(method, url, resp)
        self._check_skew(resp)
        if resp.status_code == 401:
            problem = oauth_problem(resp.text) or oauth_problem(
                resp.headers.get("WWW-Authenticate", "")
            )
            if problem == "token_rejected" and renew_ok:
                self.renew()
                return self._send(
                    method,
                    url,
                    module=module,
                    params=params,
                    body=body,
                    renew_ok=False,
                    parse=parse,
                )
            raise AuthError(_auth_message(problem))
        self._raise_for_error(method, url, resp)
        self._touch()
        if not parse:
            return resp.text
        if resp.status_code == 204 or not resp.content.strip():
            return None
        try:
            return resp.json()
        except ValueError:
            raise ApiError(
                f"{method} {_path(url)}: E*TRADE answered non-JSON (HTTP {resp.status_code})",
                status=resp.status_code,
            ) from None

    def _raise_for_error(self, method: str, url: str, resp: requests.Response) -> None:
        code = resp.status_code
        if code < 400:
            return
        where = f"{method} {_path(url)}"
        limited = code == 429 or (code == 400 and RATE_LIMIT_TEXT in resp.text)
        if limited or code >= 500:
            what = "rate limit exceeded" if limited else _status_text(code, resp)
            err = TemporaryApiError(
                f"E*TRADE is temporarily unavailable: {where} answered HTTP {code} ({what})",
                status=code,
            )
            err.retry_after = _retry_after(resp.headers.get("Retry-After"))  # type: ignore[attr-defined]
            raise err
        e_code, e_msg = _error_fields(resp)
        raise ApiError(
            f"E*TRADE error {e_code}: {e_msg}"
            if e_code is not None
            else f"{where}: HTTP {code} {e_msg or ''}".strip(),
            code=e_code,
            status=code,
        )

    def _check_skew(self, resp: requests.Response) -> None:
        date = resp.headers.get("Date")
        if not date or self._skew_warned:
            return
        try:
            server = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        skew = (self.now() - server).total_seconds()
        if abs(skew) > SKEW_WARN_S:
            self._skew_warned = True
            self.warn(
                f"the local clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'}"
                " E*TRADE's; signatures are refused beyond 5 minutes: sync the clock"
            )

    @staticmethod
    def _debug(method: str, url: str, resp: requests.Response) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        req_headers = {
            k: ("****" if k.lower() == "authorization" else v)
            for k, v in resp.request.headers.items()
        }
        log.debug(
            "%s %s -> %s (%.0f ms) request headers %s",
            method,
            url,
            resp.status_code,
            resp.elapsed.total_seconds() * 1000,
            req_headers,
        )

    # -- accounts ---------------------------------------------------------------------------

    def list_accounts(self) -> list[models.Account]:
        """`GET /v1/accounts/list`."""
        return models.parse_accounts(self._request("GET", "/v1/accounts/list", module="accounts"))

    def balance(self, account_id_key: str, inst_type: str = "BROKERAGE") -> models.Balance:
        """`GET /v1/accounts/{accountIdKey}/balance?instType=...&realTimeNAV=true`."""
        doc = self._request(
            "GET",
            f"/v1/accounts/{account_id_key}/balance",
            module="accounts",
            params={"instType": inst_type, "realTimeNAV": "true"},
        )
        return models.Balance.parse(doc or {})

    def portfolio(self, account_id_key: str) -> list[models.PortfolioPosition]:
        """Every page of `GET /v1/accounts/{accountIdKey}/portfolio` (204 = no positions)."""
        out: list[models.PortfolioPosition] = []
        page = 1
        while True:
            doc = self._request(
                "GET",
                f"/v1/accounts/{account_id_key}/portfolio",
                module="accounts",
                params={"count": 50, "pageNumber": page},
            )
            out += models.parse_portfolio(doc)
            pages = [
                models.get(ap, "totalPages")
                for ap in models.as_list(
                    models.get(models.get(doc, "PortfolioResponse"), "AccountPortfolio")
                )
            ]
            if page >= max([int(p) for p in pages if p] or [1]):
                return out
            page += 1

    # -- market -----------------------------------------------------------------------------

    def quotes(self, symbols: Iterable[str]) -> models.QuoteResult:
        """Quotes, one request per 50 symbols (`overrideSymbolCount=true`), messages merged."""
        syms = list(symbols)
        result = models.QuoteResult()
        for i in range(0, len(syms), QUOTE_BATCH):
            batch = ",".join(syms[i : i + QUOTE_BATCH])
            doc = self._request(
                "GET",
                f"/v1/market/quote/{batch}",
                module="market",
                params={"detailFlag": "ALL", "overrideSymbolCount": "true"},
            )
            part = models.parse_quotes(doc)
            result.quotes += part.quotes
            result.messages += part.messages
        return result

    # -- orders -----------------------------------------------------------------------------

    def list_orders(
        self, account_id_key: str, status: str | None = None, max_pages: int = 10
    ) -> list[models.Order]:
        """`GET .../orders` following `marker` paging (up to `max_pages` of 100)."""
        out: list[models.Order] = []
        marker: str | None = None
        for _ in range(max_pages):
            params: dict[str, Any] = {"count": 100}
            if status:
                params["status"] = status
            if marker:
                params["marker"] = marker
            page = models.parse_orders(
                self._request(
                    "GET", f"/v1/accounts/{account_id_key}/orders", module="orders", params=params
                )
            )
            out += page.orders
            marker = page.marker
            if not marker:
                break
        return out

    def order_details(self, account_id_key: str, order_id: str) -> models.Order | None:
        """`GET .../orders/{orderId}`; None when E*TRADE returns nothing."""
        doc = self._request(
            "GET", f"/v1/accounts/{account_id_key}/orders/{order_id}", module="orders"
        )
        orders = models.parse_orders(doc).orders
        return orders[0] if orders else None

    def preview_order(self, account_id_key: str, body: dict[str, Any]) -> models.OrderPreview:
        """`POST .../orders/preview` (no side effect, so retried like a GET)."""
        doc = self._request(
            "POST",
            f"/v1/accounts/{account_id_key}/orders/preview",
            module="orders",
            body=body,
            retry=True,
        )
        return models.OrderPreview.parse(doc or {})

    def place_order(self, account_id_key: str, body: dict[str, Any]) -> models.OrderPlaced:
        """`POST .../orders/place`: sent once, never retried."""
        doc = self._request(
            "POST",
            f"/v1/accounts/{account_id_key}/orders/place",
            module="orders",
            body=body,
            retry=False,
        )
        return models.OrderPlaced.parse(doc or {})

    def preview_change(
        self, account_id_key: str, order_id: str, body: dict[str, Any]
    ) -> models.OrderPreview:
        """`PUT .../orders/{orderId}/change/preview` with a `PreviewOrderRequest` body (no side
        effect, so retried like a GET)."""
        doc = self._request(
            "PUT",
            f"/v1/accounts/{account_id_key}/orders/{order_id}/change/preview",
            module="orders",
            body=body,
            retry=True,
        )
        return models.OrderPreview.parse(doc or {})

    def place_change(
        self, account_id_key: str, order_id: str, body: dict[str, Any]
    ) -> models.OrderPlaced:
        """`PUT .../orders/{orderId}/change/place` with the `PreviewIds` of the change preview:
        sent once, never retried. E*TRADE cancels `orderId` and answers the new order's id."""
        doc = self._request(
            "PUT",
            f"/v1/accounts/{account_id_key}/orders/{order_id}/change/place",
            module="orders",
            body=body,
            retry=False,
        )
        return models.OrderPlaced.parse(doc or {})

    def cancel_order(self, account_id_key: str, body: dict[str, Any]) -> models.CancelResult:
        """`PUT .../orders/cancel`."""
        doc = self._request(
            "PUT",
            f"/v1/accounts/{account_id_key}/orders/cancel",
            module="orders",
            body=body,
            retry=False,
        )
        return models.CancelResult.parse(doc or {})


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def _error_fields(resp: requests.Response) -> tuple[int | str | None, str]:
    try:
        doc = json.loads(resp.text)
    except ValueError:
        return None, _error_text(resp)
    err = models.get(doc, "Error", default={})
    code = models.get(err, "code")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        pass
    return code, str(models.get(err, "message", default="") or _error_text(resp))


def _error_text(resp: requests.Response) -> str:
    """A short plain-text reason from an error body: never an HTML page pasted whole (Tomcat's
    error pages name the server, not the problem), at most 200 characters, secrets redacted."""
    import re

    body = resp.text or ""
    if "<html" in body[:500].lower() or "<!doctype" in body[:500].lower():
        return ""
    text = re.sub(r"<[^>]+>", " ", body)
    return redact(" ".join(text.split())[:200])


def _status_text(code: int, resp: requests.Response) -> str:
    """The reason of a 5xx: E*TRADE's JSON error message, else the HTTP reason phrase."""
    from http import HTTPStatus

    _code, message = _error_fields(resp)
    if message:
        return message
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "server error"


def _tried(exc: TemporaryApiError, how: str) -> TemporaryApiError:
    """The same temporary error, saying how the call was (or was not) retried."""
    err = TemporaryApiError(f"{exc}; {how}", code=exc.code, status=exc.status)
    err.retry_after = getattr(exc, "retry_after", None)  # type: ignore[attr-defined]
    return err


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, (when - utc_now()).total_seconds())
        except (TypeError, ValueError):
            return None


_AUTH_PROBLEMS = {
    "token_expired": f"the E*TRADE access token has expired (they end at midnight ET); {LOGIN_HINT}",
    "token_rejected": f"E*TRADE rejected the access token even after renewing it; {LOGIN_HINT}",
    "signature_invalid": "E*TRADE refused the request signature: check the consumer key and secret",
    "timestamp_refused": "E*TRADE refused the request timestamp: the local clock is off by over "
    "5 minutes",
    "consumer_key_rejected": "E*TRADE rejected the consumer key (keys expire after about two years)",
}


def _auth_message(problem: str | None) -> str:
    """The user's next step for an `oauth_problem` of an HTTP 401 (`etrade_api.md` §6)."""
    return _AUTH_PROBLEMS.get(
        problem or "", f"E*TRADE refused the request ({problem or 'HTTP 401'}); {LOGIN_HINT}"
    )
