"""Order payload builders, the E*TRADE broker, and `etrade order ...` as a user runs it."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from etrade_cli.errors import ExitStatus, InputError
from etrade_cli.etrade import orders as ob
from tests import etrade_payloads as P

ORDERS = f"{P.SANDBOX}/v1/accounts/{P.KEY}/orders"


def test_preview_payload_matches_the_documented_sample():
    o = ob.EquityOrder("FB", "BUY", 1, "LIMIT", limit_price=169.0)
    assert ob.preview_request(o, "1fds311") == {
        "PreviewOrderRequest": {
            "orderType": "EQ",
            "clientOrderId": "1fds311",
            "Order": [
                {
                    "allOrNone": "false",
                    "priceType": "LIMIT",
                    "orderTerm": "GOOD_FOR_DAY",
                    "marketSession": "REGULAR",
                    "stopPrice": "",
                    "limitPrice": "169",
                    "Instrument": [
                        {
                            "Product": {"securityType": "EQ", "symbol": "FB"},
                            "orderAction": "BUY",
                            "quantityType": "QUANTITY",
                            "quantity": "1",
                        }
                    ],
                }
            ],
        }
    }


def test_place_payload_repeats_the_preview_with_preview_ids():
    o = ob.EquityOrder("FB", "BUY", 1, "LIMIT", limit_price=169.0)
    place = ob.place_request(o, "1fds311", "3429395279")["PlaceOrderRequest"]
    preview = ob.preview_request(o, "1fds311")["PreviewOrderRequest"]
    assert place["PreviewIds"] == [{"previewId": 3429395279}]
    assert {k: v for k, v in place.items() if k != "PreviewIds"} == preview


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(price_type="LIMIT"), "limit price"),
        (dict(price_type="STOP"), "stop price"),
        (dict(price_type="STOP_LIMIT", limit_price=10.0), "stop price"),
        (dict(price_type="MARKET", limit_price=10.0), "takes no limit price"),
        (dict(order_term="FILL_OR_KILL"), "only for LIMIT"),
        (dict(market_session="EXTENDED"), "must be LIMIT"),
        (dict(quantity=0), "positive whole number"),
        (dict(quantity=-5), "positive whole number"),
        (dict(quantity=ob.MAX_QUANTITY + 1), "more than 1,000,000,000 shares"),
        (dict(action="HOLD"), "orderAction must be one of"),
        (dict(price_type="LIMIT", limit_price=-1.0), "positive price"),
    ],
)
def test_invalid_orders_are_refused_before_sending(kw, message):
    base = dict(symbol="AAPL", action="BUY", quantity=1)
    with pytest.raises(InputError, match=message):
        ob.validate(ob.EquityOrder(**{**base, **kw}))


def test_client_order_id_rules():
    assert ob.check_client_order_id("ABC123") == "ABC123"
    for bad in ("", "has-dash", "x" * 21):
        with pytest.raises(InputError):
            ob.check_client_order_id(bad)


def mock_account():
    responses.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)


def test_order_place_journals_first_then_previews_and_places_with_the_same_id(
    cli, etrade_login, hermetic
):
    from etrade_cli.config import load_config
    from etrade_cli.store import Store

    seen = {}

    def on_place(request):
        body = json.loads(request.body)["PlaceOrderRequest"]
        db = Store(load_config().db_path)
        (row,) = db.orders()
        seen["journal_at_place"] = (row.status, row.client_order_id)
        seen["place"] = body
        return 200, {}, json.dumps(P.place_response(485))

    with responses.RequestsMock() as rs:
        rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
        rs.post(f"{ORDERS}/preview.json", json=P.preview_response("AAPL", 5))
        rs.add_callback(responses.POST, f"{ORDERS}/place.json", callback=on_place)
        rs.get(
            f"{ORDERS}/485.json",
            json=P.orders(P.order(485, "AAPL", "BUY", 5, 5, "EXECUTED", avg=190.25)),
        )
        r = cli(
            "order",
            "place",
            "AAPL",
            "-q",
            "5",
            "--type",
            "LIMIT",
            "--limit",
            "190.5",
            "--yes",
            "--json",
        )
        preview_body = json.loads(rs.calls[1].request.body)["PreviewOrderRequest"]
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["status"] == "filled" and doc["orderId"] == "485"
    status, coid = seen["journal_at_place"]
    assert status == "previewed" and coid == doc["clientOrderId"]
    assert preview_body["clientOrderId"] == seen["place"]["clientOrderId"] == coid
    assert preview_body["Order"] == seen["place"]["Order"]  # identical parameters
    assert seen["place"]["PreviewIds"] == [{"previewId": 3429395279}]


def test_lost_reply_on_place_is_looked_up_in_the_order_list_not_resent(cli, etrade_login):
    with responses.RequestsMock() as rs:
        rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
        rs.post(f"{ORDERS}/preview.json", json=P.preview_response("AAPL", 5))
        rs.post(f"{ORDERS}/place.json", body=requests.ReadTimeout("read timed out"))
        import time

        placed_ms = int(time.time() * 1000)
        rs.get(
            f"{ORDERS}.json",
            json=P.orders(
                P.order(900, "MSFT", "BUY", 5, 0, "OPEN", placed_ms=placed_ms),
                P.order(901, "AAPL", "BUY", 5, 5, "EXECUTED", avg=190.0, placed_ms=placed_ms),
            ),
        )
        r = cli("order", "place", "AAPL", "-q", "5", "--yes", "--json")
        places = [c for c in rs.calls if c.request.url.endswith("/place.json")]
    assert r.exit_code == 0, r.output
    assert len(places) == 1
    doc = json.loads(r.stdout)
    assert (doc["orderId"], doc["status"]) == ("901", "filled")


def test_no_reply_and_no_match_stays_unknown_says_what_is_true_and_exits_5(cli, etrade_login):
    with responses.RequestsMock() as rs:
        rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
        rs.post(f"{ORDERS}/preview.json", json=P.preview_response("AAPL", 5))
        rs.post(f"{ORDERS}/place.json", body=requests.ConnectionError("reset"))
        rs.get(f"{ORDERS}.json", status=204)
        r = cli("order", "place", "AAPL", "-q", "5", "--yes", "--json")
        places = [c for c in rs.calls if c.request.url.endswith("/place.json")]
    assert r.exit_code == ExitStatus.API and len(places) == 1  # no answer: never re-sent
    doc = json.loads(r.stdout)
    assert doc["status"] == "unknown"
    assert "no reply from E*TRADE" in r.stderr and "does not show it" in r.stderr
    assert f"--client-order-id {doc['clientOrderId']}" in " ".join(r.stderr.split())


def test_rejected_preview_is_exit_6_and_journaled_as_rejected(cli, etrade_login):
    from etrade_cli.config import load_config
    from etrade_cli.store import Store

    with responses.RequestsMock() as rs:
        rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
        rs.post(
            f"{ORDERS}/preview.json",
            status=400,
            json=P.error(
                8400, "This order cannot be accepted due to insufficient funds in your account"
            ),
        )
        r = cli("order", "place", "AAPL", "-q", "5000", "--yes")
    assert r.exit_code == ExitStatus.ORDER_REJECTED
    assert "insufficient funds" in r.stderr
    assert Store(load_config().db_path).orders()[0].status == "rejected"


def test_place_without_a_terminal_needs_yes(cli, etrade_login):
    r = cli("order", "place", "AAPL", "-q", "1")
    assert r.exit_code == ExitStatus.ERROR and "--yes" in r.stderr


def test_production_orders_need_config_and_live_flag(cli, etrade_login, hermetic):
    (hermetic / "config.toml").write_text("[etrade]\nenvironment = 'production'\n")
    r = cli("order", "place", "AAPL", "-q", "1", "--yes")
    assert r.exit_code == ExitStatus.ORDER_REJECTED and "allow_live_orders" in r.stderr
    (hermetic / "config.toml").write_text(
        "[etrade]\nenvironment = 'production'\nallow_live_orders = true\n"
    )
    r = cli("order", "place", "AAPL", "-q", "1", "--yes")
    assert r.exit_code == ExitStatus.ORDER_REJECTED and "--live" in r.stderr


@responses.activate
def test_order_preview_shows_estimates_and_messages(cli, etrade_login):
    mock_account()
    responses.post(f"{ORDERS}/preview.json", json=P.preview_response("FB", 1))
    r = cli("order", "preview", "FB", "-q", "1", "--type", "LIMIT", "--limit", "169")
    assert r.exit_code == 0, r.output
    assert "175.95 USD" in r.stdout and "6.95 USD" in r.stdout and "3041" in r.stdout


@responses.activate
def test_order_list_status_and_cancel(cli, etrade_login):
    mock_account()
    responses.get(
        f"{ORDERS}.json",
        json=P.orders(P.order(19, "OIH", "SELL_SHORT", 1, 1.0, "EXECUTED", avg=324.26)),
    )
    responses.get(
        f"{ORDERS}/19.json",
        json=P.orders(P.order(19, "OIH", "SELL_SHORT", 1, 1.0, "EXECUTED", avg=324.26)),
    )
    responses.put(f"{ORDERS}/cancel.json", json=P.CANCEL)
    responses.get(f"{ORDERS}/773.json", json=P.orders(P.order(773, "F", "BUY", 1, 0, "OPEN")))
    responses.get(f"{ORDERS}/773.json", json=P.orders(P.order(773, "F", "BUY", 1, 0, "CANCELLED")))
    rows = json.loads(cli("order", "list", "--json").stdout)
    assert rows[0]["order_id"] == "19" and rows[0]["avg_price"] == 324.26
    assert json.loads(cli("order", "status", "19", "--json").stdout)["status"] == "EXECUTED"
    r = cli("order", "cancel", "773")
    assert r.exit_code == 0 and "Order 773: cancelled" in r.stdout
    (cancel,) = [c for c in responses.calls if c.request.url.endswith("/cancel.json")]
    assert json.loads(cancel.request.body) == {"CancelOrderRequest": {"orderId": 773}}


@responses.activate
def test_order_list_follows_the_marker(cli, etrade_login):
    mock_account()
    responses.get(
        f"{ORDERS}.json", json=P.orders(P.order(1, "A", "BUY", 1, 0, "OPEN"), marker="m2")
    )
    responses.get(f"{ORDERS}.json", json=P.orders(P.order(2, "B", "BUY", 1, 0, "OPEN")))
    rows = json.loads(cli("order", "list", "--json").stdout)
    assert [r["order_id"] for r in rows] == ["1", "2"]
    assert "marker=m2" in responses.calls[-1].request.url


def test_a_quantity_beyond_any_order_is_one_line_exit_1_and_journals_nothing(cli, hermetic):
    """20 digits used to end in SQLite's OverflowError ("internal error")."""
    r = cli("--broker", "paper", "order", "place", "AAPL", "-q", "9" * 20, "--yes")
    assert r.exit_code == 1 and "more than 1,000,000,000 shares" in r.stderr
    assert "Traceback" not in r.output and "internal error" not in r.output
    from etrade_cli.config import load_config
    from etrade_cli.store import Store

    path = load_config().db_path
    assert not path.exists() or Store(path).orders() == []  # nothing journaled
