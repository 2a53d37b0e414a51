"""The engine's proposal path with the `http` strategy over a fake market and an in-process fake
client: local policy checks, sizing, exits, crash recovery; the contract and its JSON Schema."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from etrade_cli.config import RiskConfig, SignalsConfig
from etrade_cli.engine import FAULT_POINTS, SimulatedCrash, run_once
from etrade_cli.engine.proposals import proposal_coid
from etrade_cli.signals import contract
from etrade_cli.signals.strategy import HttpStrategy
from etrade_cli.strategy.base import Proposal, ProposalContext, ProposalsUnavailable, Sizing
from tests.fakes import counts, day, fake_market, make_deps
from tests.test_recovery import crash_at, reopen

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "etrade_cli" / "schemas" / "signal_service.json").read_text()
)


class FakeClient:
    """Answers `/propose` from `self.proposals` (one list per call, the last one repeated),
    approves every validation, accepts rewards (or fails the first `fail_rewards`)."""

    def __init__(self, *batches: list[dict[str, Any]], fail_rewards: int = 0):
        self.batches = list(batches) or [[]]
        self.calls: list[tuple[str, Any]] = []
        self.fail_rewards = fail_rewards

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        self.calls.append((path, body))
        if path == "/propose":
            batch = self.batches.pop(0) if len(self.batches) > 1 else self.batches[0]
            return {"proposals": batch}
        if path == "/reward" and self.fail_rewards:
            self.fail_rewards -= 1
            raise ProposalsUnavailable("/reward: HTTP 503")
        return {"approved": True, "reason": "ok"} if path == "/validate" else None

    def get(self, path: str) -> Any:
        raise ProposalsUnavailable(f"{path}: HTTP 404")

    def paths(self, path: str) -> list[Any]:
        return [b for p, b in self.calls if p == path]


def deps_with(tmp_path, prices, client, *, risk=None, cash=20_000.0, faults=None, **signals):
    deps = make_deps(tmp_path, fake_market(prices, {}), cash=cash, risk=risk, faults=faults)
    cfg = SignalsConfig(url="http://127.0.0.1:1", validate=True, **signals)
    return replace(deps, strategy=HttpStrategy(cfg, client=client))  # type: ignore[arg-type]


def p(pid: str, symbol: str = "AAA", side: str = "BUY", **extra) -> dict[str, Any]:
    return {"id": pid, "symbol": symbol, "side": side, **extra}


def outcomes(res) -> list[tuple[str, str, str]]:
    return [(x["id"], x["outcome"], x["reason"] or "") for x in res.proposals]


def test_sizing_quantity_notional_and_default(tmp_path):
    prices = {"AAA": [101.0], "BBB": [50.0], "CCC": [10.0]}
    client = FakeClient([p("q", quantity=3), p("n", "BBB", notional_usd=1000.0), p("d", "CCC")])
    res = run_once(deps_with(tmp_path, prices, client), day(0))
    assert [(a.symbol, a.quantity, a.status) for a in res.entries] == [
        ("AAA", 3, "filled"),
        ("BBB", 20, "filled"),  # 1,000 USD at 50
        ("CCC", 100, "filled"),  # 5 % of equity (cash + open value: 20,000) at 10
    ]
    assert [s["sizing"]["quantity"] for s in client.paths("/validate")] == [3, 20, 100]


@pytest.mark.parametrize(
    ("proposal", "reason"),
    [
        (p("x", quantity=2.5), "whole shares: quantity 2.5 is not a whole number"),
        (p("x", notional_usd=50.0), "whole shares: 0 shares"),
        (p("x", quantity=300), "max_ticket_usd"),
        (p("x", quantity=201), "cash: 20,100.00 USD needed"),
        (p("x", price_type="LIMIT", limit_price=120.0, quantity=1), "price sanity: limit 120.00"),
        (p("x", quantity=1, stop_loss=100.0), "price sanity: stop_loss 100.00 is not below"),
        (p("x", "BBB", quantity=1), "price sanity: no bar for BBB"),
        (p("x", side="SELL"), "SELL: no open http position in AAA"),
    ],
)
def test_local_policy_checks_refuse_and_record(tmp_path, proposal, reason):
    prices = {"AAA": [100.0], "BBB": [None, 20.0]}
    client = FakeClient([proposal])
    deps = deps_with(tmp_path, prices, client, risk=RiskConfig(max_ticket_usd=25_000.0))
    res = run_once(deps, day(0))
    ((pid, outcome, why),) = outcomes(res)
    assert outcome == "refused" and reason in why
    assert res.entries == [] and deps.store.orders() == []
    (row,) = deps.store._query("SELECT reason FROM refusals")
    assert reason in row[0]
    assert client.paths("/validate") == []  # the local checks come first


def test_limit_within_the_band_is_sent_as_a_limit_order(tmp_path):
    client = FakeClient([p("l", quantity=5, price_type="LIMIT", limit_price=104.0)])
    deps = deps_with(tmp_path, {"AAA": [100.0]}, client)
    res = run_once(deps, day(0))
    assert [(a.status, a.price) for a in res.entries] == [("filled", 100.0)]
    (order,) = deps.store.orders()
    assert (order.price_type, order.limit_price) == ("LIMIT", 104.0)


def test_max_positions_and_orders_per_day_apply_to_proposals(tmp_path):
    client = FakeClient([p("a", quantity=1), p("b", "BBB", quantity=1), p("c", "CCC", quantity=1)])
    prices = {s: [10.0] for s in ("AAA", "BBB", "CCC")}
    deps = deps_with(tmp_path, prices, client, risk=RiskConfig(max_positions=2))
    res = run_once(deps, day(0))
    assert [o[1] for o in outcomes(res)] == ["ordered", "ordered", "refused"]
    assert "max_positions (2)" in outcomes(res)[2][2]


def test_proposal_stop_then_configured_stop_drive_the_exits(tmp_path):
    client = FakeClient([p("own", quantity=10, stop_loss=95.0), p("dflt", "BBB", quantity=10)], [])
    prices = {"AAA": [100.0, 94.0], "BBB": [100.0, 91.0]}
    deps = deps_with(tmp_path, prices, client, stop_loss_pct=0.08)
    run_once(deps, day(0))
    stops = {x.symbol: x.stop_loss for x in deps.store.positions("paper", "paper")}
    assert stops == {"AAA": 95.0, "BBB": pytest.approx(92.0)}
    res = run_once(deps, day(1))
    assert sorted((a.symbol, a.reason, a.quantity) for a in res.exits) == [
        ("AAA", "SL", 10),
        ("BBB", "SL", 10),
    ]
    closes = [b for b in client.paths("/reward") if b["kind"] == "close"]
    assert {(b["proposal_id"], b["realized_pnl_usd"]) for b in closes} == {
        ("own", -60.0),
        ("dflt", -90.0),
    }


def test_sell_proposals_partial_too_many_and_already_selling(tmp_path):
    client = FakeClient(
        [p("b", quantity=10, stop_loss=50.0)],
        [p("s1", side="SELL", quantity=4), p("s2", side="SELL", quantity=7)],
        [p("s3", side="SELL")],
    )
    deps = deps_with(tmp_path, {"AAA": [100.0, 105.0, 110.0]}, client)
    run_once(deps, day(0))
    res = run_once(deps, day(1))
    assert [(a.reason, a.quantity, a.pnl) for a in res.exits] == [("SIGNAL", 4, 20.0)]
    assert outcomes(res)[1][1:] == ("refused", "SELL: 7 shares asked, position 1 has 6 to sell")
    res = run_once(deps, day(2))
    assert [(a.reason, a.quantity) for a in res.exits] == [("SIGNAL2", 6)]
    (pos,) = deps.store.positions("paper", "paper", ("closed",))
    assert pos.realized_pnl == pytest.approx(4 * 5.0 + 6 * 10.0)


def test_dry_run_asks_and_reports_but_writes_nothing(tmp_path):
    client = FakeClient([p("a", quantity=1), p("b", quantity=0.5)])
    deps = deps_with(tmp_path, {"AAA": [100.0]}, client)
    res = run_once(deps, day(0), dry_run=True)
    assert [(a.status, a.client_order_id) for a in res.entries] == [
        ("dry-run", proposal_coid("paper", "paper", "a"))
    ]
    assert [o[1] for o in outcomes(res)] == ["ordered", "refused"]
    assert deps.store._query("SELECT count(*) FROM proposals")[0][0] == 0
    assert counts(deps.store)["orders"] == 0 and client.paths("/reward") == []


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_crash_at_each_step_then_the_same_proposal_gives_one_order_one_fill_one_reward(
    tmp_path, point
):
    client = FakeClient([p("c1", quantity=10)])
    deps = deps_with(tmp_path, {"AAA": [100.0]}, client, faults=crash_at(point))
    with pytest.raises(SimulatedCrash):
        run_once(deps, day(0))
    again = reopen(deps)
    res = run_once(again, day(0))
    c = counts(again.store)
    assert (c["paper_orders"], c["orders"], c["fills"]) == (1, 1, 1), (point, c)
    assert [o[1] for o in outcomes(res)] == ["duplicate"]
    (order,) = again.store.orders()
    assert order.client_order_id == proposal_coid("paper", "paper", "c1")
    assert order.status == "filled"
    rewards = client.paths("/reward")
    assert [(b["kind"], b["proposal_id"]) for b in rewards] == [("fill", "c1")]


def test_reward_outbox_keeps_order_and_stops_at_the_first_failure(tmp_path):
    client = FakeClient([p("a", quantity=1), p("b", "BBB", quantity=1)], [], fail_rewards=1)
    deps = deps_with(tmp_path, {"AAA": [10.0, 10.0], "BBB": [10.0, 10.0]}, client)
    res = run_once(deps, day(0))
    assert res.service_errors == ["reward: /reward: HTTP 503; 2 reward(s) kept for the next run"]
    assert [r["attempts"] for r in deps.store.rewards("paper", "paper", "pending")] == [1, 0]
    res = run_once(deps, day(1))
    assert res.service_errors == [] and res.rewards_sent == 2
    keys = [b["idempotency_key"] for b in client.paths("/reward")]
    assert len(keys) == 3 and keys[0] == keys[1] and keys[2] != keys[0]


def test_coid_is_deterministic_20_alphanumerics_per_account():
    a = proposal_coid("etrade", "abc", "p-1")
    assert a == proposal_coid("etrade", "abc", "p-1") and len(a) == 20 and a.isalnum()
    assert a != proposal_coid("etrade", "xyz", "p-1") != proposal_coid("etrade", "abc", "p-2")


# --- the contract and its JSON Schema ------------------------------------------------------------

jsonschema = pytest.importorskip("jsonschema")


def schema_ok(name: str, doc: Any) -> bool:
    validator = jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{name}"})
    return validator.is_valid(doc)


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


GOOD = [
    {"proposals": []},
    {"proposals": [p("a", quantity=1)]},
    {"proposals": [p("a", notional_usd=500.5, tag="x", reason=None, stop_loss=None)]},
    {"proposals": [p("a", price_type="LIMIT", limit_price=9.5, quantity=None)]},
    {"proposals": [p("a", side="SELL", quantity=2.5)]},  # the contract allows it; policy refuses
]
BAD = [
    [],
    {"proposals": {}},
    {"proposals": [], "more": 1},
    {"proposals": [p("a", quantity=-1)]},
    {"proposals": [p("a", quantity=0)]},
    {"proposals": [p("a", quantity="1")]},
    {"proposals": [p("a", quantity=True)]},
    {"proposals": [p("a", side="HOLD")]},
    {"proposals": [p("a", colour="red")]},
    {"proposals": [p("a", quantity=1, notional_usd=10.0)]},
    {"proposals": [p("a", price_type="LIMIT")]},
    {"proposals": [p("a", limit_price=10.0)]},
    {"proposals": [p("a", tag="")]},
    {"proposals": [p("a", tag="t" * 33)]},
    {"proposals": [p("x" * 65)]},
    {"proposals": [{"symbol": "AAA", "side": "BUY"}]},
]


@pytest.mark.parametrize("doc", GOOD)
def test_good_answers_pass_the_parser_and_the_schema(doc):
    assert schema_ok("ProposeResponse", doc)
    assert len(contract.parse_proposals(doc, {"AAA"})) == len(doc["proposals"])


@pytest.mark.parametrize("doc", BAD)
def test_bad_answers_fail_the_parser_and_the_schema(doc):
    assert not schema_ok("ProposeResponse", doc)
    with pytest.raises(contract.ContractError):
        contract.parse_proposals(doc, {"AAA"})


def test_unknown_symbols_and_nan_are_refused_by_the_parser():
    with pytest.raises(contract.ContractError, match="unknown symbol 'ZZZ'"):
        contract.parse_proposals({"proposals": [p("a", "ZZZ")]}, {"AAA"})
    with pytest.raises(contract.ContractError, match="quantity: must be a number"):
        contract.parse_proposals({"proposals": [p("a", quantity=float("nan"))]}, {"AAA"})


@pytest.mark.parametrize(
    ("doc", "verdict"),
    [({"approved": True}, (True, "")), ({"approved": False, "reason": "no"}, (False, "no"))],
)
def test_validate_answers(doc, verdict):
    assert schema_ok("ValidateResponse", doc) and contract.parse_verdict(doc) == verdict


@pytest.mark.parametrize("doc", [{"approved": "yes"}, {"ok": True}, {"approved": True, "x": 1}])
def test_bad_validate_answers(doc):
    assert not schema_ok("ValidateResponse", doc)
    with pytest.raises(contract.ContractError):
        contract.parse_verdict(doc)


def test_our_requests_match_the_schema(tmp_path):
    client = FakeClient([p("a", quantity=10)], [p("s", side="SELL")])
    deps = deps_with(tmp_path, {"AAA": [100.0, 110.0]}, client)
    run_once(deps, day(0))
    run_once(deps, day(1))
    (first, second) = client.paths("/propose")
    assert schema_ok("ProposeRequest", first) and schema_ok("ProposeRequest", second)
    assert second["positions"] == [
        {"symbol": "AAA", "quantity": 10, "avg_price": 100.0, "tag": "http"}
    ]
    for body in client.paths("/validate"):
        assert schema_ok("ValidateRequest", body), body
    rewards = client.paths("/reward")
    assert [b["kind"] for b in rewards] == ["fill", "fill", "close"]
    for body in rewards:
        assert schema_ok("RewardRequest", body), body


def test_a_review_that_fails_rejects_every_proposal_of_the_run_and_is_reported_once(tmp_path):
    class ValidateDown(FakeClient):
        def post(self, path, body, headers=None):
            if path == "/validate":
                self.calls.append((path, body))
                raise ProposalsUnavailable(f"{path}: no answer within 1 s (timeout_s)")
            return super().post(path, body, headers)

    client = ValidateDown([p("a", quantity=1), p("b", "BBB", quantity=1)])
    deps = deps_with(tmp_path, {"AAA": [10.0], "BBB": [10.0]}, client)
    res = run_once(deps, day(0))
    assert res.entries == [] and len(client.paths("/validate")) == 1
    assert [o[1] for o in outcomes(res)] == ["rejected", "rejected"]
    assert outcomes(res)[0][2] == "validate: failed: /validate: no answer within 1 s (timeout_s)"
    assert res.service_errors == [
        "validate: /validate: no answer within 1 s (timeout_s); proposals rejected"
    ]
    assert deps.strategy.supports_replay() is False  # /capabilities: HTTP 404


def test_a_bad_validate_answer_is_a_contract_error():
    class Garbage(FakeClient):
        def post(self, path, body, headers=None):
            return {"approved": "yes"}

    s = HttpStrategy(SignalsConfig(url="http://127.0.0.1:1", validate=True), client=Garbage())
    ctx = ProposalContext("2024-01-02", "2024-01-02T21:00:00+00:00", 1.0, 1.0, (), ("AAA",))
    with pytest.raises(contract.ContractError, match="approved: must be true or false"):
        s.review(Proposal("a", "AAA", "BUY"), Sizing(1, 1.0, 1.0, "P1"), ctx)


def test_max_positions_applies_to_bar_signal_entries_too(tmp_path):
    market = fake_market({"AAA": [100.0], "BBB": [100.0]}, {("AAA", 0): 5, ("BBB", 0): 4})
    deps = make_deps(tmp_path, market, cash=100_000, risk=RiskConfig(max_positions=1))
    res = run_once(deps, day(0))
    assert [a.symbol for a in res.entries] == ["AAA"]
    assert res.refusals == [
        {"symbol": "BBB", "action": "B1", "reason": "max_positions (1) open or pending"}
    ]


def test_a_held_symbol_that_left_the_universe_can_be_sold_not_bought(tmp_path):
    client = FakeClient(
        [p("a", quantity=2, stop_loss=1.0)], [p("b", quantity=1), p("s", side="SELL")]
    )
    deps = deps_with(tmp_path, {"AAA": [10.0, 11.0]}, client)
    run_once(deps, day(0))
    deps.market.tradable.discard("AAA")  # removed from the watchlist, still held
    res = run_once(deps, day(1))
    assert outcomes(res)[0] == ("s", "ordered", "ok")
    assert outcomes(res)[1][:2] == ("b", "refused") and "not in the universe" in outcomes(res)[1][2]
    assert [(a.side, a.quantity) for a in res.exits] == [("SELL", 2)]
