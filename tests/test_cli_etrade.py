"""`auth`, `accounts`, `quote` and `run-once --broker etrade` as a user runs them."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest
import responses

from etrade_cli.errors import ExitStatus
from tests import etrade_payloads as P
from tests.conftest import ACCESS_SECRET, CONSUMER_KEY, CONSUMER_SECRET

NEEDS_TOKENS = [
    ["accounts", "list"],
    ["accounts", "balance"],
    ["accounts", "portfolio"],
    ["quote", "AAPL"],
    ["order", "list"],
    ["order", "status", "1"],
    ["order", "cancel", "1"],
    ["order", "preview", "AAPL", "-q", "1"],
    ["order", "place", "AAPL", "-q", "1", "--yes"],
    ["auth", "renew"],
    ["auth", "revoke"],
    ["run-once", "--broker", "etrade"],
]


@pytest.mark.parametrize("args", NEEDS_TOKENS)
def test_without_keys_every_command_says_what_to_set(cli, args):
    r = cli(*args)
    assert r.exit_code == ExitStatus.AUTH, r.output
    assert "ETRADE_CONSUMER_KEY" in r.stderr and "Traceback" not in r.output


@pytest.mark.parametrize("args", NEEDS_TOKENS)
def test_without_tokens_every_command_says_run_auth_login(cli, args, monkeypatch):
    monkeypatch.setenv("ETRADE_CONSUMER_KEY", CONSUMER_KEY)
    monkeypatch.setenv("ETRADE_CONSUMER_SECRET", CONSUMER_SECRET)
    with responses.RequestsMock():  # nothing may be sent
        r = cli(*args)
    assert r.exit_code == ExitStatus.AUTH, r.output
    assert "run `etrade auth login`" in r.stderr


@responses.activate
def test_auth_login_reads_the_verifier_from_stdin_and_stores_0600_tokens(
    cli, monkeypatch, hermetic
):
    monkeypatch.setenv("ETRADE_CONSUMER_KEY", CONSUMER_KEY)
    monkeypatch.setenv("ETRADE_CONSUMER_SECRET", CONSUMER_SECRET)
    responses.get(f"{P.OAUTH}/request_token", body=P.REQUEST_TOKEN_BODY)
    responses.get(f"{P.OAUTH}/access_token", body=P.ACCESS_TOKEN_BODY)
    r = cli("auth", "login", input="Y27X25F\n")
    assert r.exit_code == 0, r.output
    assert "https://us.etrade.com/e/t/etws/authorize?key=" in r.stdout
    assert "expires at" in r.stderr and "ET" in r.stderr
    files = list((hermetic.parent / "home" / "tokens").iterdir())
    assert len(files) == 1 and stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    for secret in (CONSUMER_SECRET, "RrC9scEpzcwSEMy4vE7nodSzPLqfRINnTNY4voczyFM"):
        assert secret not in r.output
    doc = json.loads(cli("auth", "status", "--json").stdout)
    assert doc["status"] == "valid" and doc["expires_at_et"].endswith("-05:00")


def test_auth_login_with_empty_verifier_fails_clearly(cli, monkeypatch):
    monkeypatch.setenv("ETRADE_CONSUMER_KEY", CONSUMER_KEY)
    monkeypatch.setenv("ETRADE_CONSUMER_SECRET", CONSUMER_SECRET)
    with responses.RequestsMock() as rs:
        rs.get(f"{P.OAUTH}/request_token", body=P.REQUEST_TOKEN_BODY)
        r = cli("auth", "login", input="\n")
    assert r.exit_code == ExitStatus.AUTH and "no verifier code" in r.stderr


def test_auth_status_expired_and_inactive(cli, etrade_login):
    now = dt.datetime.now(dt.timezone.utc)
    etrade_login(now - dt.timedelta(days=2))
    r = cli("auth", "status")
    assert r.exit_code == ExitStatus.AUTH and "expired" in r.stdout
    assert "etrade auth login" in r.stdout
    etrade_login(now - dt.timedelta(minutes=1), last_used=now - dt.timedelta(hours=3))
    r = cli("auth", "status")
    if r.exit_code == 0:  # not right after midnight ET, when an hour-old token has expired
        assert r.stdout.startswith("inactive")


def test_auth_status_logout(cli, etrade_login):
    assert cli("auth", "status").exit_code == 0
    assert "Token removed" in cli("auth", "logout").stderr
    r = cli("auth", "status")
    assert r.exit_code == ExitStatus.AUTH and "not logged in" in r.stdout


@responses.activate
def test_auth_renew_and_revoke(cli, etrade_login):
    responses.get(f"{P.OAUTH}/renew_access_token", body="Access Token has been renewed")
    responses.get(f"{P.OAUTH}/revoke_access_token", body="Revoked Access Token")
    assert cli("auth", "renew").exit_code == 0
    r = cli("auth", "revoke")
    assert r.exit_code == 0 and "revoked" in r.stderr
    assert cli("auth", "status").exit_code == ExitStatus.AUTH


@responses.activate
def test_accounts_list_hides_closed_unless_all(cli, etrade_login):
    responses.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    shown = json.loads(cli("accounts", "list", "--json").stdout)
    assert [a["account_id_key"] for a in shown] == [P.KEY]
    every = json.loads(cli("accounts", "list", "--all", "--json").stdout)
    assert len(every) == 2
    r = cli("accounts", "list")
    assert P.KEY in r.stdout and P.CLOSED_KEY not in r.stdout


@responses.activate
def test_accounts_balance_and_portfolio_default_to_the_only_active_account(cli, etrade_login):
    responses.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    responses.get(f"{P.SANDBOX}/v1/accounts/{P.KEY}/balance.json", json=P.BALANCE)
    responses.get(f"{P.SANDBOX}/v1/accounts/{P.KEY}/portfolio.json", status=204)
    b = json.loads(cli("accounts", "balance", "--json").stdout)
    assert b["total_account_value"] == 10201.5284
    r = cli("accounts", "portfolio")
    assert r.exit_code == 0 and "No positions" in r.stdout
    r = cli("accounts", "balance", "--account", "nope")
    assert r.exit_code == ExitStatus.ERROR and "no active account" in r.stderr
    assert cli("accounts", "balance", "--account", "840104290").exit_code == 0
    assert cli("accounts", "balance", "--account", "1").exit_code == 0


@responses.activate
def test_quote_prints_valid_ones_and_reports_invalid_ones(cli, etrade_login):
    responses.get(
        f"{P.SANDBOX}/v1/market/quote/AAPL,ZZZZ,MSFT.json",
        json=P.quotes(("AAPL", 190.5), ("MSFT", 410.0), invalid=("ZZZZ",)),
    )
    r = cli("quote", "aapl", "ZZZZ", "MSFT", "--json")
    assert r.exit_code == 1
    rows = json.loads(r.stdout)
    assert [(q["symbol"], q["last"]) for q in rows] == [("AAPL", 190.5), ("MSFT", 410.0)]
    assert r.stderr.splitlines() == [
        "ZZZZ: ZZZZ is not a valid symbol.",
        "error: no quote for 1 symbol(s): ZZZZ",
    ]


@responses.activate
def test_quote_from_stdin_csv_and_fields(cli, etrade_login):
    responses.get(
        f"{P.SANDBOX}/v1/market/quote/AAPL,MSFT.json",
        json=P.quotes(("AAPL", 190.5), ("MSFT", 410.0)),
    )
    r = cli("quote", "-", "--csv", "--fields", "symbol,last,bid", input="AAPL\nMSFT\n")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["symbol,last,bid", "AAPL,190.5,190.48", "MSFT,410.0,409.98"]
    r = cli("quote", "AAPL", "--fields", "nope")
    assert r.exit_code == ExitStatus.ERROR and "unknown field" in r.stderr


@responses.activate
def test_api_error_exit_5(cli, etrade_login):
    responses.get(
        f"{P.SANDBOX}/v1/accounts/list.json",
        status=400,
        json=P.error(100, "The requested service is not currently available"),
    )
    r = cli("accounts", "list")
    assert r.exit_code == ExitStatus.API and "E*TRADE error 100" in r.stderr


@responses.activate
def test_debug_traces_redact_the_authorization_header(cli, etrade_login, capfd):
    responses.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    r = cli("--debug", "accounts", "list", "--json")
    assert r.exit_code == 0
    err = capfd.readouterr().err + r.stderr
    assert "accounts/list.json -> 200" in err
    assert "oauth_signature" not in err and ACCESS_SECRET not in err


class OrderBook:
    """A tiny fake E*TRADE order server for the engine: preview, place, details, list."""

    def __init__(self, rs, fill_steps):
        self.rs, self.next_id, self.orders, self.fill_steps = rs, 100, {}, fill_steps
        rs.add_callback(
            responses.POST,
            f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders/preview.json",
            callback=self.preview,
        )
        rs.add_callback(
            responses.POST,
            f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders/place.json",
            callback=self.place,
        )

    def preview(self, request):
        inst = json.loads(request.body)["PreviewOrderRequest"]["Order"][0]["Instrument"][0]
        return (
            200,
            {},
            json.dumps(P.preview_response(inst["Product"]["symbol"], int(inst["quantity"]))),
        )

    def place(self, request):
        body = json.loads(request.body)["PlaceOrderRequest"]
        inst = body["Order"][0]["Instrument"][0]
        oid = self.next_id
        self.next_id += 1
        self.orders[oid] = [
            inst["Product"]["symbol"],
            inst["orderAction"],
            int(inst["quantity"]),
            0,
        ]
        self.rs.add_callback(
            responses.GET,
            f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders/{oid}.json",
            callback=lambda req, oid=oid: self.details(oid),
        )
        return 200, {}, json.dumps(P.place_response(oid))

    def details(self, oid):
        sym, action, qty, step = self.orders[oid]
        frac = self.fill_steps[min(step, len(self.fill_steps) - 1)]
        self.orders[oid][3] += 1
        filled = int(qty * frac)
        status = "EXECUTED" if filled == qty else ("PARTIAL" if filled else "OPEN")
        return (
            200,
            {},
            json.dumps(
                P.orders(
                    P.order(
                        oid, sym, action, qty, filled, status, avg=46.70 if sym == "ED" else 34.82
                    )
                )
            ),
        )


def test_run_once_with_the_etrade_broker_trades_and_records_partial_fills(cli, etrade_login):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
        rs.get(
            f"{P.SANDBOX}/v1/accounts/{P.KEY}/balance.json",
            json={
                "BalanceResponse": {
                    **P.BALANCE["BalanceResponse"],
                    "Computed": {
                        **P.BALANCE["BalanceResponse"]["Computed"],
                        "cashAvailableForInvestment": 100000,
                        "RealTimeValues": {"totalAccountValue": 100000},
                    },
                }
            },
        )
        rs.get(f"{P.SANDBOX}/v1/accounts/{P.KEY}/portfolio.json", status=204)
        rs.get(f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders.json", status=204)
        book = OrderBook(rs, fill_steps=[0.5, 1.0])
        r = cli("run-once", "--broker", "etrade", "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert [(e["symbol"], e["status"]) for e in doc["entries"]] == [
            ("ED", "partially_filled"),
            ("AEP", "partially_filled"),
        ]
        # next cycle: the orders completed at the broker; reconcile records the rest of the fills
        rs.replace(
            responses.GET,
            f"{P.SANDBOX}/v1/accounts/{P.KEY}/portfolio.json",
            json=P.portfolio(("ED", 107, 46.70), ("AEP", 143, 34.82)),
        )
        r2 = cli("run-once", "--broker", "etrade", "--json")
        assert r2.exit_code == 0, r2.output
    from etrade_cli.config import load_config
    from etrade_cli.store import Store

    store = Store(load_config().db_path)
    fills = store._query(
        "SELECT o.symbol, f.quantity FROM fills f JOIN orders o ON o.id = f.order_id ORDER BY f.id"
    )
    assert [tuple(f) for f in fills] == [("ED", 53), ("AEP", 71), ("ED", 54), ("AEP", 72)]
    pos = {p.symbol: p for p in store.positions("etrade", P.KEY)}
    assert (pos["ED"].original_qty, pos["ED"].remaining_qty) == (107, 107)
    assert [o.status for o in store.orders()] == ["filled", "filled"]
    assert len(book.orders) == 2  # nothing placed twice
    findings = json.loads(r2.stdout)["findings"]
    assert any("partially_filled; broker says EXECUTED" in f["message"] for f in findings)


def test_run_once_in_production_needs_allow_live_orders_and_live(cli, etrade_login, hermetic):
    (hermetic / "config.toml").write_text("[etrade]\nenvironment = 'production'\n")
    r = cli("run-once", "--broker", "etrade")
    assert r.exit_code == ExitStatus.ORDER_REJECTED and "allow_live_orders" in r.stderr
