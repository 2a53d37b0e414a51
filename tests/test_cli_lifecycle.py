"""The order lifecycle as a user meets it: `run-once --broker etrade` exit codes under place
faults, `order place --yes` after a 5xx, `order cancel`, and `positions`/`report` reading the
configured broker's book offline. E*TRADE is the stateful fake of `tests.etrade_fake`."""

from __future__ import annotations

import json
import time

import pytest
import responses

from etrade_cli.errors import ExitStatus
from tests import etrade_payloads as P
from tests.etrade_fake import FakeEtrade


@pytest.fixture
def fake(etrade_login, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # the waits before a re-send
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        f = FakeEtrade(rs, {"ED": 46.70, "AEP": 34.82, "AAPL": 190.25}, cash=100_000.0)
        f.session = "2010-08-20"
        yield f


def book():
    from etrade_cli.config import load_config
    from etrade_cli.store import Store

    return Store(load_config().db_path)


# -- 3. run-once: an order the broker never got is re-sent, or the run fails ---------------


def test_run_once_resends_a_place_answered_with_a_500_and_exits_0(cli, fake):
    fake.place_faults = ["500"]
    r = cli("run-once", "--broker", "etrade", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [(e["symbol"], e["status"]) for e in doc["entries"]] == [
        ("ED", "filled"),
        ("AEP", "filled"),
    ]
    assert doc["unconfirmed"] == [] and len(fake.placed()) == 2


def test_run_once_that_cannot_place_exits_5_and_says_so(cli, fake):
    fake.place_faults = ["503", "503", "503"]
    r = cli("run-once", "--broker", "etrade", "--json")
    assert r.exit_code == ExitStatus.API, r.output
    doc = json.loads(r.stdout)
    (u,) = doc["unconfirmed"]
    assert u["symbol"] == "ED" and u["status"] == "previewed"
    assert "1 order(s) not confirmed by the broker" in r.stderr
    assert "HTTP 503 (Service Unavailable)" in r.stderr and "Tomcat" not in r.stderr
    assert [p["symbol"] for p in fake.placed()] == ["AEP"]
    r2 = cli("run-once", "--broker", "etrade", "--json")  # cron, same session: sent now
    assert r2.exit_code == 0, r2.output
    assert sorted(p["symbol"] for p in fake.placed()) == ["AEP", "ED"]


# -- 4. order place --yes after a 5xx says what is true -----------------------------------


def test_order_place_after_a_500_looks_up_and_resends_with_the_same_client_order_id(cli, fake):
    fake.place_faults = ["500"]
    r = cli("order", "place", "AAPL", "-q", "5", "--yes", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["status"] == "filled" and "Do not re-send" not in r.stderr
    places = [c for c in fake.calls if c[0] == "place"]
    assert places == [("place", doc["clientOrderId"])] * 2 and len(fake.placed()) == 1


def test_order_place_that_keeps_failing_says_not_placed_and_exits_5(cli, fake):
    fake.place_faults = ["500", "ratelimit", "500"]
    r = cli("order", "place", "AAPL", "-q", "5", "--yes")
    assert r.exit_code == ExitStatus.API, r.output
    text = " ".join(r.stderr.split())
    assert "was NOT placed" in text and "does not have the order" in text
    assert "Do not re-send" not in text and "will show it" not in text
    assert fake.placed() == []
    (row,) = book().orders()
    assert row.status == "cancelled"  # a later run-once must not send it behind the user's back


def test_order_place_sends_the_market_session_it_was_given(cli, fake):
    r = cli("order", "place", "AAPL", "-q", "5", "--type", "LIMIT", "--limit", "190",
            "--session", "EXTENDED", "--yes")  # fmt: skip
    assert r.exit_code == 0, r.output
    place = [c for c in fake.rs.calls if c.request.url.endswith("/place.json")][0]
    body = json.loads(place.request.body)["PlaceOrderRequest"]
    assert body["Order"][0]["marketSession"] == "EXTENDED"


# -- 5. order cancel: journal updated, --json, exit 6 for final orders ---------------------


def test_order_cancel_updates_the_journal_at_once_and_prints_json(cli, fake):
    fake.fill_now = False
    assert cli("order", "place", "AAPL", "-q", "5", "--yes").exit_code == 0
    (row,) = book().orders()
    assert row.status == "placed"
    r = cli("order", "cancel", row.broker_order_id, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc == {
        "orderId": row.broker_order_id,
        "status": "CANCELLED",
        "clientOrderId": row.client_order_id,
        "journal_status": "cancelled",
    }
    assert book().orders()[0].status == "cancelled"


@pytest.mark.parametrize("final", ["EXECUTED", "CANCELLED"])
def test_cancelling_an_executed_or_cancelled_order_exits_6(cli, fake, final):
    fake.fill_now = final == "EXECUTED"
    assert cli("order", "place", "AAPL", "-q", "5", "--yes").exit_code == 0
    (row,) = book().orders()
    if final == "CANCELLED":
        assert cli("order", "cancel", row.broker_order_id).exit_code == 0
    r = cli("order", "cancel", row.broker_order_id)
    assert r.exit_code == ExitStatus.ORDER_REJECTED, r.output
    assert f"is {final} at E*TRADE: nothing to cancel" in r.stderr
    assert book().orders()[0].status == ("filled" if final == "EXECUTED" else "cancelled")


def test_cancel_refused_by_etrade_is_exit_6(cli, fake):
    fake.fill_now = False
    assert cli("order", "place", "AAPL", "-q", "5", "--yes").exit_code == 0
    (row,) = book().orders()
    # the order fills between our lookup and the cancel: E*TRADE refuses it with a 400
    fake.before_cancel = lambda oid: fake.execute(fake.orders[oid])
    r = cli("order", "cancel", row.broker_order_id)
    assert r.exit_code == ExitStatus.ORDER_REJECTED, r.output
    assert "E*TRADE refused to cancel" in r.stderr
    assert book().orders()[0].status == "filled"


# -- 6. positions and report: the configured broker's book, offline, said which -----------


def test_positions_and_report_read_the_etrade_book_offline(cli, fake, hermetic):
    assert cli("run-once", "--broker", "etrade").exit_code == 0
    fake.rs.reset()  # from here on, any request to E*TRADE fails the test
    (hermetic / "config.toml").write_text("[broker]\nname = 'etrade'\n")
    r = cli("positions", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["broker"], doc["account"]) == ("etrade", P.KEY)
    assert sorted(p["symbol"] for p in doc["positions"]) == ["AEP", "ED"]
    assert "the only etrade account in the book" in r.stderr
    r = cli("report", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["account"] == P.KEY
    r = cli("positions", "--broker", "etrade")
    assert r.exit_code == 0 and f"Book: etrade account {P.KEY}" in r.stdout


def test_an_empty_paper_book_says_which_book_it_is_and_where_the_positions_are(cli, fake, hermetic):
    assert cli("run-once", "--broker", "etrade").exit_code == 0
    fake.rs.reset()
    r = cli("positions")
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "Book: paper account paper" in text
    assert f"etrade account {P.KEY} (2 open)" in text and "--broker" in text
