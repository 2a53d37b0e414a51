"""The E*TRADE client against `responses` fakes: signing, JSON, errors, retries, rate limits,
token lifetime, secrets."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature

from etrade_cli.errors import ApiError, AuthError, TemporaryApiError
from etrade_cli.etrade.auth import ET, FileTokenStore, LoginFlow, Tokens, midnight_et_after
from etrade_cli.etrade.client import EtradeClient, RateLimiter
from tests import etrade_payloads as P
from tests.conftest import ACCESS_SECRET, ACCESS_TOKEN, CONSUMER_KEY, CONSUMER_SECRET, FakeClock

NOON_ET = dt.datetime(2026, 11, 20, 12, 0, tzinfo=ET).astimezone(dt.timezone.utc)


def headers(req) -> dict[str, str]:
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in req.headers.items()}


def client(etrade_cfg, clock: FakeClock, **kw) -> EtradeClient:
    return EtradeClient(
        etrade_cfg,
        FileTokenStore("sandbox", CONSUMER_KEY),
        now=clock.now,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        **kw,
    )


@pytest.fixture
def clock(etrade_login):
    etrade_login(NOON_ET)
    return FakeClock(NOON_ET + dt.timedelta(minutes=5))


@responses.activate
def test_authorization_header_verifies_with_oauthlib(etrade_cfg, clock):
    responses.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    client(etrade_cfg, clock).list_accounts()
    sent = responses.calls[0].request
    hdrs = headers(sent)
    assert hdrs["Accept"] == "application/json"
    auth = hdrs["Authorization"]
    assert auth.startswith("OAuth ") and 'oauth_signature_method="HMAC-SHA1"' in auth
    req = OAuthRequest(sent.url, http_method=sent.method, body=sent.body, headers=hdrs)
    params = signature.collect_parameters(
        headers=req.headers, exclude_oauth_signature=False, with_realm=True
    )
    params += signature.collect_parameters(
        uri_query=urlsplit(sent.url).query, exclude_oauth_signature=False
    )
    req.params = [(k, v) for k, v in params if k not in ("oauth_signature", "realm")]
    req.signature = dict(params)["oauth_signature"]
    assert dict(params)["oauth_consumer_key"] == CONSUMER_KEY
    assert dict(params)["oauth_token"] == ACCESS_TOKEN
    assert signature.verify_hmac_sha1(req, CONSUMER_SECRET, ACCESS_SECRET)
    assert not signature.verify_hmac_sha1(req, CONSUMER_SECRET, "wrong-secret")


@responses.activate
def test_accounts_balance_portfolio_parse_the_documented_shapes(etrade_cfg, clock):
    responses.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    responses.get(f"{P.SANDBOX}/v1/accounts/{P.KEY}/balance.json", json=P.BALANCE)
    responses.get(
        f"{P.SANDBOX}/v1/accounts/{P.KEY}/portfolio.json",
        json=P.portfolio(("COCP", 53, 1.405), ("MSFT", 10, 250.0)),
    )
    c = client(etrade_cfg, clock)
    accounts = c.list_accounts()
    assert [(a.account_id, a.account_id_key, a.status) for a in accounts] == [
        ("840104290", P.KEY, "ACTIVE"),
        ("840104299", P.CLOSED_KEY, "CLOSED"),
    ]
    b = c.balance(P.KEY)
    assert (b.total_account_value, b.cash_buying_power, b.cash_for_investment) == (
        10201.5284,
        2155.0,
        2155.0,
    )
    bal_query = parse_qs(urlsplit(responses.calls[1].request.url).query)
    assert bal_query == {"instType": ["BROKERAGE"], "realTimeNAV": ["true"]}
    pos = c.portfolio(P.KEY)
    assert [(p.symbol, p.quantity, p.last_trade) for p in pos] == [
        ("COCP", 53, 1.405),
        ("MSFT", 10, 250.0),
    ]


@responses.activate
def test_empty_204_and_empty_200_bodies_are_empty_results(etrade_cfg, clock):
    responses.get(f"{P.SANDBOX}/v1/accounts/{P.KEY}/portfolio.json", status=204)
    responses.get(f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders.json", body="", status=200)
    c = client(etrade_cfg, clock)
    assert c.portfolio(P.KEY) == [] and c.list_orders(P.KEY) == []


@responses.activate
def test_quotes_are_batched_50_per_request_with_override(etrade_cfg, clock):
    syms = [f"S{i:03d}" for i in range(120)]
    for i in range(0, 120, 50):
        batch = syms[i : i + 50]
        responses.get(
            f"{P.SANDBOX}/v1/market/quote/{','.join(batch)}.json",
            json=P.quotes(*[(s, 10.0) for s in batch]),
        )
    res = client(etrade_cfg, clock).quotes(syms)
    assert len(responses.calls) == 3 and len(res.quotes) == 120
    q = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert q["overrideSymbolCount"] == ["true"] and q["detailFlag"] == ["ALL"]


@responses.activate
def test_invalid_symbols_come_back_as_messages(etrade_cfg, clock):
    responses.get(
        f"{P.SANDBOX}/v1/market/quote/AAPL,ZZZZ.json",
        json=P.quotes(("AAPL", 190.5), invalid=("ZZZZ",)),
    )
    res = client(etrade_cfg, clock).quotes(["AAPL", "ZZZZ"])
    assert [q.symbol for q in res.quotes] == ["AAPL"] and res.quotes[0].last == 190.5
    assert res.messages[0].code == 1019 and "ZZZZ" in res.messages[0].description


@responses.activate
def test_400_error_body_becomes_an_api_error_with_its_code(etrade_cfg, clock):
    responses.get(
        f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders.json",
        status=400,
        json=P.error(102, "Please enter valid account key."),
    )
    with pytest.raises(ApiError) as exc:
        client(etrade_cfg, clock).list_orders(P.KEY)
    assert exc.value.code == 102 and "Please enter valid account key." in str(exc.value)
    assert not isinstance(exc.value, TemporaryApiError) and len(responses.calls) == 1


@responses.activate
def test_token_rejected_renews_once_and_retries(etrade_cfg, clock):
    url = f"{P.SANDBOX}/v1/accounts/list.json"
    responses.get(url, status=401, body=P.html_401("token_rejected"))
    responses.get(url, json=P.ACCOUNTS)
    responses.get(f"{P.OAUTH}/renew_access_token", body="Access Token has been renewed")
    assert len(client(etrade_cfg, clock).list_accounts()) == 2
    assert [urlsplit(c.request.url).path for c in responses.calls] == [
        "/v1/accounts/list.json",
        "/oauth/renew_access_token",
        "/v1/accounts/list.json",
    ]


@responses.activate
def test_token_rejected_twice_fails_with_login_hint(etrade_cfg, clock):
    url = f"{P.SANDBOX}/v1/accounts/list.json"
    responses.get(url, status=401, body=P.html_401("token_rejected"))
    responses.get(f"{P.OAUTH}/renew_access_token", body="Access Token has been renewed")
    with pytest.raises(AuthError, match="etrade auth login"):
        client(etrade_cfg, clock).list_accounts()
    assert len(responses.calls) == 3


@responses.activate
def test_token_expired_401_fails_at_once(etrade_cfg, clock):
    responses.get(
        f"{P.SANDBOX}/v1/accounts/list.json",
        status=401,
        body=P.html_401("token_expired"),
        headers={"WWW-Authenticate": "OAuth oauth_problem=token_expired"},
    )
    with pytest.raises(AuthError, match="expired"):
        client(etrade_cfg, clock).list_accounts()
    assert len(responses.calls) == 1


@responses.activate
def test_after_midnight_et_no_request_is_made(etrade_cfg, clock):
    clock.t = midnight_et_after(NOON_ET) + dt.timedelta(seconds=1)
    with pytest.raises(AuthError, match="expired at midnight ET"):
        client(etrade_cfg, clock).list_accounts()
    assert len(responses.calls) == 0


@responses.activate
def test_idle_token_is_renewed_before_the_call(etrade_cfg, clock):
    clock.t = NOON_ET + dt.timedelta(hours=2, minutes=1)
    responses.get(f"{P.OAUTH}/renew_access_token", body="Access Token has been renewed")
    responses.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    client(etrade_cfg, clock).list_accounts()
    assert [urlsplit(c.request.url).path for c in responses.calls] == [
        "/oauth/renew_access_token",
        "/v1/accounts/list.json",
    ]
    saved = FileTokenStore("sandbox", CONSUMER_KEY).load()
    assert saved.status(clock.t) == "valid"


@responses.activate
def test_gets_retry_5xx_with_exponential_backoff(etrade_cfg, clock):
    url = f"{P.SANDBOX}/v1/accounts/list.json"
    responses.get(url, status=503, body="busy")
    responses.get(url, status=502, body="bad gateway")
    responses.get(url, json=P.ACCOUNTS)
    client(etrade_cfg, clock).list_accounts()
    waits = [s for s in clock.slept if s >= 0.5]
    assert len(responses.calls) == 3 and len(waits) == 2
    assert 0.5 <= waits[0] <= 0.75 and 1.0 <= waits[1] <= 1.25


@responses.activate
def test_retry_after_is_honoured_on_429(etrade_cfg, clock):
    url = f"{P.SANDBOX}/v1/market/quote/AAPL.json"
    responses.get(url, status=429, headers={"Retry-After": "7"}, body="slow down")
    responses.get(url, json=P.quotes(("AAPL", 1.0)))
    client(etrade_cfg, clock).quotes(["AAPL"])
    assert max(clock.slept) == pytest.approx(7.0)


@responses.activate
def test_documented_rate_limit_page_is_a_temporary_error(etrade_cfg, clock):
    url = f"{P.SANDBOX}/v1/market/quote/AAPL.json"
    for _ in range(4):
        responses.get(url, status=400, body=P.RATE_LIMIT_PAGE)
    with pytest.raises(TemporaryApiError, match="rate limit"):
        client(etrade_cfg, clock).quotes(["AAPL"])
    assert len(responses.calls) == 4  # 1 + 3 retries


@responses.activate
def test_timeouts_and_connection_errors_are_retried_for_gets(etrade_cfg, clock):
    url = f"{P.SANDBOX}/v1/accounts/list.json"
    responses.get(url, body=requests.ConnectTimeout("timed out"))
    responses.get(url, body=requests.ConnectionError("reset"))
    responses.get(url, json=P.ACCOUNTS)
    assert len(client(etrade_cfg, clock).list_accounts()) == 2


@responses.activate
def test_temporary_errors_name_the_status_not_the_html_page_and_say_they_were_retried(
    etrade_cfg, clock
):
    url = f"{P.SANDBOX}/v1/accounts/list.json"
    for _ in range(4):
        responses.get(url, status=500, body=P.TOMCAT_500, content_type="text/html")
    with pytest.raises(TemporaryApiError) as exc:
        client(etrade_cfg, clock).list_accounts()
    text = str(exc.value)
    assert "HTTP 500 (Internal Server Error)" in text and "tried 4 times over" in text
    assert "Tomcat" not in text and "<" not in text and len(text) < 200
    assert exc.value.status == 500


@responses.activate
def test_a_failed_place_says_it_was_not_retried_and_a_rate_limit_says_so(etrade_cfg, clock):
    place = f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders/place.json"
    responses.post(place, status=400, body=P.RATE_LIMIT_PAGE, content_type="text/html")
    with pytest.raises(TemporaryApiError) as exc:
        client(etrade_cfg, clock).place_order(P.KEY, {"PlaceOrderRequest": {}})
    assert "HTTP 400 (rate limit exceeded); sent once: not retried" in str(exc.value)
    assert "<" not in str(exc.value)


@responses.activate
def test_place_is_never_retried(etrade_cfg, clock):
    responses.post(f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders/place.json", status=503, body="x")
    with pytest.raises(TemporaryApiError):
        client(etrade_cfg, clock).place_order(P.KEY, {"PlaceOrderRequest": {}})
    assert len(responses.calls) == 1


def test_rate_limiter_spaces_requests_per_module():
    clock = FakeClock(NOON_ET)
    rl = RateLimiter({"market": 4.0, "orders": 2.0}, clock.monotonic, clock.sleep)
    for _ in range(3):
        rl.acquire("market")
    rl.acquire("orders")
    assert clock.slept == [0.25, 0.25]  # market at 4/s; orders has its own budget
    rl.acquire("orders")
    assert clock.slept[-1] == pytest.approx(0.5)


@responses.activate
def test_clock_skew_over_60_s_warns_once(etrade_cfg, clock):
    server = (clock.t - dt.timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    responses.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS, headers={"Date": server})
    warnings: list[str] = []
    c = client(etrade_cfg, clock, warn=warnings.append)
    c.list_accounts()
    c.list_accounts()
    assert len(warnings) == 1 and "90 s ahead" in warnings[0]


@responses.activate
def test_secrets_never_appear_in_errors_or_debug_logs(etrade_cfg, clock, caplog):
    from etrade_cli.redact import RedactingFilter

    responses.get(
        f"{P.SANDBOX}/v1/accounts/list.json",
        status=500,
        body=f"echo {ACCESS_TOKEN} {ACCESS_SECRET} {CONSUMER_SECRET}",
    )
    log = logging.getLogger("etrade_cli")
    handler_filter = RedactingFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.DEBUG, logger="etrade_cli"), pytest.raises(ApiError) as exc:
        client(etrade_cfg, clock, max_attempts=1).list_accounts()
    text = str(exc.value) + caplog.text + repr(FileTokenStore("sandbox", CONSUMER_KEY).load())
    for secret in (ACCESS_SECRET, CONSUMER_SECRET, ACCESS_TOKEN):
        assert secret not in text
    assert "oauth_signature" not in caplog.text and "****" in caplog.text
    assert log is not None


def test_token_file_is_0600_and_replaced_atomically(etrade_login):
    store = FileTokenStore("sandbox", CONSUMER_KEY)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    before = store.path.stat().st_ino
    etrade_login()
    assert store.path.stat().st_ino != before  # a new file renamed over the old one
    assert not [p for p in store.path.parent.iterdir() if p.name.startswith(".tokens-")]


def test_token_lifetime_rules():
    issued = dt.datetime(2026, 11, 20, 23, 30, tzinfo=ET).astimezone(dt.timezone.utc)
    t = Tokens("sandbox", "k", "t", "s", issued.isoformat(), issued.isoformat())
    assert t.expires_at == dt.datetime(2026, 11, 21, 0, 0, tzinfo=ET)
    assert t.status(issued + dt.timedelta(minutes=10)) == "valid"
    assert t.status(issued + dt.timedelta(minutes=30)) == "expired"
    morning = dt.datetime(2026, 11, 20, 8, 0, tzinfo=ET)
    t2 = Tokens("sandbox", "k", "t", "s", morning.isoformat(), morning.isoformat())
    assert t2.status(morning + dt.timedelta(hours=2)) == "inactive"
    assert "s" not in repr(t2).replace("sandbox", "").replace("created_at", "").replace(
        "Tokens", ""
    ).replace("environment", "")


@responses.activate
def test_login_flow_request_token_authorize_url_access_token(etrade_cfg):
    responses.get(
        f"{P.OAUTH}/request_token",
        body=P.REQUEST_TOKEN_BODY,
        content_type="application/x-www-form-urlencoded",
    )
    responses.get(
        f"{P.OAUTH}/access_token",
        body=P.ACCESS_TOKEN_BODY,
        content_type="application/x-www-form-urlencoded",
    )
    flow = LoginFlow(etrade_cfg)
    url = flow.start()
    assert url == (
        f"https://us.etrade.com/e/t/etws/authorize?key={CONSUMER_KEY}"
        "&token=%2FiQRgQCRGPo7Xdk6G8QDSEzX0Jsy6sKNcULcDavAGgU%3D"
    )
    assert 'oauth_callback="oob"' in headers(responses.calls[0].request)["Authorization"]
    tokens = flow.finish("Y27X25F")
    assert tokens.token == "/TiQRgQCRGPo7Xdk6G8QDSEzX0Jsy6sKNcULcDavAGgU="  # form-decoded
    access_auth = headers(responses.calls[1].request)["Authorization"]
    assert 'oauth_verifier="Y27X25F"' in access_auth
    assert 'oauth_token="%2FiQRg' in access_auth


@responses.activate
def test_expired_consumer_key_gets_a_clear_message(etrade_cfg):
    responses.get(
        f"{P.OAUTH}/request_token", status=401, body="oauth_problem=consumer_key_rejected"
    )
    with pytest.raises(AuthError, match="consumer key"):
        LoginFlow(etrade_cfg).start()


def test_base_url_override_moves_rest_and_oauth():
    from etrade_cli.config import EtradeConfig
    from etrade_cli.etrade.auth import Endpoints

    e = Endpoints.for_config(EtradeConfig(base_url="http://127.0.0.1:9999/"))
    assert (e.rest, e.oauth) == ("http://127.0.0.1:9999", "http://127.0.0.1:9999/oauth")
    prod = Endpoints.for_config(EtradeConfig(environment="production"))
    assert (prod.rest, prod.oauth) == ("https://api.etrade.com", "https://api.etrade.com/oauth")
    assert json  # imported for payload helpers
