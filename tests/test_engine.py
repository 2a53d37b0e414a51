"""The trading cycle: entries, exits, limits, risk refusals, kill switch, reconcile, lock."""

from __future__ import annotations

import numpy as np
import pytest

from etrade_cli.config import RiskConfig
from etrade_cli.engine import run_once, trading_lock
from etrade_cli.errors import BusyError, InputError
from etrade_cli.strategy.rajat_alpha.params import StrategyParams
from tests.fakes import counts, day, fake_market, make_deps

PT = [100.0 * (1 + t) for t in StrategyParams().targets]  # the spec's literal thresholds


def open_positions(deps):
    return deps.store.positions("paper", "paper")


def test_entry_fills_at_the_bar_close_and_opens_a_b1(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0, 101.0]}, {("AAA", 1): 4.0}))
    res = run_once(deps, day(1))
    assert [(a.symbol, a.kind, a.quantity, a.price, a.status) for a in res.entries] == [
        ("AAA", "B1", 9, 101.0, "filled")
    ]  # 5% of 20,000 = 1,000 USD -> 9 shares at 101
    (pos,) = open_positions(deps)
    assert (pos.entry_date, pos.entry_price, pos.original_qty, pos.remaining_qty) == (
        "2024-01-03",
        101.0,
        9,
        9,
    )
    assert pos.stop_loss == pytest.approx(101.0 * 0.83)
    assert counts(deps.store) == {
        "orders": 1,
        "fills": 1,
        "paper_orders": 1,
        "positions": 1,
        "partial_exits": 0,
    }
    assert res.cash == pytest.approx(20_000 - 909.0)
    assert res.equity == pytest.approx(20_000)


def test_b1_limit_then_b2_then_opp(tmp_path):
    prices = {s: [100.0] * 4 for s in ("AAA", "BBB", "CCC")}
    sig = {("AAA", 0): 5, ("BBB", 0): 4, ("CCC", 0): 3, ("AAA", 1): 3, ("AAA", 2): 6, ("BBB", 2): 2}
    deps = make_deps(tmp_path, fake_market(prices, sig), cash=100_000)
    r0 = run_once(deps, day(0))
    assert [(d.signal.symbol, d.action) for d in r0.decisions] == [
        ("AAA", "B1"),
        ("BBB", "B1"),
        ("CCC", "SKIP"),
    ]
    r1 = run_once(deps, day(1))
    assert [(a.symbol, a.kind) for a in r1.entries] == [("AAA", "B2")]
    r2 = run_once(deps, day(2))
    assert [(d.signal.symbol, d.action) for d in r2.decisions] == [("AAA", "OPP"), ("BBB", "OPP")]
    assert r2.entries == []
    kinds = sorted((p.symbol, p.kind) for p in open_positions(deps))
    assert kinds == [("AAA", "B1"), ("AAA", "B2"), ("BBB", "B1")]


def test_partial_exits_3_3_4_through_the_engine(tmp_path):
    prices = {"AAA": [100.0, 100.0, PT[0], PT[1], PT[2]]}
    deps = make_deps(tmp_path, fake_market(prices, {("AAA", 0): 4}), cash=20_000)
    run_once(deps, day(0))
    assert open_positions(deps)[0].original_qty == 10
    sold = []
    for i in (1, 2, 3, 4):
        sold += [(a.reason, a.quantity) for a in run_once(deps, day(i)).exits]
    assert sold == [("PT1", 3), ("PT2", 3), ("PT3", 4)]
    (pos,) = deps.store.positions("paper", "paper", ("closed",))
    assert (pos.remaining_qty, pos.exit_reason, pos.exit_date) == (0, "PT3", str(day(4)))
    assert pos.realized_pnl == pytest.approx(3 * (PT[0] - 100) + 3 * (PT[1] - 100) + 4 * 20)
    assert deps.broker.positions() == []


def test_partial_exits_0_0_2_of_2_shares(tmp_path):
    prices = {"AAA": [100.0, PT[1], PT[2]]}
    deps = make_deps(tmp_path, fake_market(prices, {("AAA", 0): 4}), cash=4_000)
    run_once(deps, day(0))
    assert open_positions(deps)[0].original_qty == 2
    assert run_once(deps, day(1)).exits == []
    assert open_positions(deps)[0].targets_hit == 2
    assert [(a.reason, a.quantity) for a in run_once(deps, day(2)).exits] == [("PT3", 2)]


def test_stop_loss_and_the_entry_bar_is_never_exit_checked(tmp_path):
    prices = {"AAA": [100.0, 80.0]}
    deps = make_deps(tmp_path, fake_market(prices, {("AAA", 0): 4}))
    assert run_once(deps, day(0)).exits == []  # entry bar
    res = run_once(deps, day(1))
    assert [(a.reason, a.quantity, a.price) for a in res.exits] == [("SL", 10, 80.0)]
    assert res.exits[0].pnl == pytest.approx(-200.0)


def test_time_exit_counts_sessions_after_the_entry_session(tmp_path):
    prices = {"AAA": [100.0] * 23}
    deps = make_deps(tmp_path, fake_market(prices, {("AAA", 0): 4}))
    for i in range(0, 21):
        assert run_once(deps, day(i)).exits == []
    assert [a.reason for a in run_once(deps, day(21)).exits] == ["TES"]


def test_trailing_stop_is_persisted_and_ratchets(tmp_path):
    prices = {"AAA": [100.0, 106.0, 101.0, 90.5]}
    deps = make_deps(tmp_path, fake_market(prices, {("AAA", 0): 4}))
    for i in range(3):
        run_once(deps, day(i))
    assert open_positions(deps)[0].stop_loss == pytest.approx(91.0)
    assert [a.reason for a in run_once(deps, day(3)).exits] == ["SL"]


def test_risk_max_ticket_refusal_is_recorded(tmp_path):
    deps = make_deps(
        tmp_path,
        fake_market({"AAA": [100.0]}, {("AAA", 0): 4}),
        risk=RiskConfig(max_ticket_usd=500),
    )
    res = run_once(deps, day(0))
    assert res.entries == [] and "max_ticket_usd" in res.refusals[0]["reason"]
    rows = deps.store._query("SELECT symbol, action, reason FROM refusals")
    assert [tuple(r)[:2] for r in rows] == [("AAA", "B1")]


def test_risk_max_orders_per_day(tmp_path):
    prices = {"AAA": [100.0], "BBB": [100.0]}
    deps = make_deps(
        tmp_path,
        fake_market(prices, {("AAA", 0): 5, ("BBB", 0): 4}),
        risk=RiskConfig(max_orders_per_day=1),
    )
    res = run_once(deps, day(0))
    assert [a.symbol for a in res.entries] == ["AAA"]
    assert "max_orders_per_day" in res.refusals[0]["reason"]


def test_sizing_zero_shares_is_a_size_refusal(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [5_000.0]}, {("AAA", 0): 4}))
    res = run_once(deps, day(0))
    assert res.entries == [] and res.refusals[0]["reason"].startswith("size: 0 shares")


def test_kill_switch_blocks_entries_but_not_exits(tmp_path):
    prices = {"AAA": [100.0, 50.0], "BBB": [100.0, 100.0]}
    deps = make_deps(
        tmp_path,
        fake_market(prices, {("AAA", 0): 5, ("BBB", 1): 4}),
        risk=RiskConfig(max_daily_loss_usd=100),
    )
    run_once(deps, day(0))
    res = run_once(deps, day(1))
    assert [a.reason for a in res.exits] == ["SL"] and res.exits[0].pnl == pytest.approx(-500)
    assert res.entries == [] and res.refusals[0]["reason"].startswith("kill switch")


def test_one_entry_per_symbol_per_session_even_when_run_twice(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {("AAA", 0): 5}))
    run_once(deps, day(0))
    res = run_once(deps, day(0))
    assert res.entries == [] and "already entered" in res.refusals[0]["reason"]
    assert counts(deps.store)["paper_orders"] == 1


def test_dry_run_changes_nothing(tmp_path):
    prices = {"AAA": [100.0, 80.0], "BBB": [100.0, 100.0]}
    deps = make_deps(tmp_path, fake_market(prices, {("AAA", 0): 5, ("BBB", 1): 4}))
    run_once(deps, day(0))
    before = counts(deps.store)
    res = run_once(deps, day(1), dry_run=True)
    assert [a.status for a in res.exits + res.entries] == ["dry-run", "dry-run"]
    assert counts(deps.store) == before
    assert deps.store.last_session("paper", "paper") == str(day(0))


def test_market_closed_when_as_of_is_not_a_session_unless_forced(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0, 100.0]}, {("AAA", 1): 5}))
    res = run_once(deps, day(5))
    assert not res.market_open and "market closed" in res.message and res.entries == []
    assert counts(deps.store)["orders"] == 0
    res = run_once(deps, day(5), force=True)
    assert res.session == str(day(1)) and len(res.entries) == 1


def test_the_book_cannot_go_back_in_time(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0, 100.0]}, {}))
    run_once(deps, day(1))
    with pytest.raises(InputError, match="before the last traded session"):
        run_once(deps, day(0))


def test_a_second_run_while_one_holds_the_lock_is_refused(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {}))
    with trading_lock(deps.lock_path), pytest.raises(BusyError, match="another run"):
        run_once(deps, day(0))


def test_reconcile_reports_shares_the_book_does_not_know_and_blocks_missing_ones(tmp_path):
    prices = {"AAA": [100.0, 80.0], "BBB": [10.0, 10.0]}
    deps = make_deps(tmp_path, fake_market(prices, {("AAA", 0): 5}))
    run_once(deps, day(0))
    # a manual trade at the broker, and shares of AAA sold outside the tool
    from etrade_cli.brokers.base import OrderRequest

    deps.broker.place(OrderRequest("MANUAL1", "BBB", "BUY", 5), None)
    deps.broker.place(OrderRequest("MANUAL2", "AAA", "SELL", 10), None)
    res = run_once(deps, day(1))
    msgs = {f.severity: f.message for f in res.findings}
    assert "BBB: the broker holds 5 shares, the book 0" in msgs["info"]
    assert "AAA: the book holds 10 shares, the broker 0" in msgs["error"]
    assert res.exits == []  # AAA would hit its stop, but the mismatch blocks it
    assert open_positions(deps)[0].remaining_qty == 10  # nothing silently changed


def test_equity_uses_last_close_for_symbols_without_a_bar_today(tmp_path):
    market = fake_market({"AAA": [100.0, 110.0, None], "BBB": [50.0, 50.0, 50.0]}, {("AAA", 1): 5})
    deps = make_deps(tmp_path, market)
    run_once(deps, day(1))
    res = run_once(deps, day(2))
    assert any("no bar" in f.message for f in res.findings)
    assert res.equity == pytest.approx(res.cash + 9 * 110.0)


def test_run_rows_record_outcome_and_equity(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {("AAA", 0): 5}))
    run_once(deps, day(0))
    (row,) = deps.store._query("SELECT outcome, session_date, equity, counts FROM runs")
    assert (row[0], row[1]) == ("ok", str(day(0))) and row[2] == pytest.approx(20_000)
    assert '"entries": 1' in row[3]


def test_evaluation_is_not_mutated_by_runs(tmp_path):
    market = fake_market({"AAA": [100.0, 100.0]}, {("AAA", 0): 5})
    before = market.ev.reason.copy()
    deps = make_deps(tmp_path, market)
    run_once(deps, day(0))
    run_once(deps, day(1))
    np.testing.assert_array_equal(before, market.ev.reason)


def _held_and_refusing(tmp_path, closes: list[float], refused: int):
    """Deps holding 10 AAA bought at 100 on day 0 (checked on day 1), whose broker refuses the
    `refused`-th order sent from then on (1-based) and fills the others."""
    from etrade_cli.errors import OrderRejectedError

    deps = make_deps(tmp_path, fake_market({"AAA": closes}, {("AAA", 0): 4}), cash=20_000)
    run_once(deps, day(0))
    run_once(deps, day(1))
    place, sent = deps.broker.place, []

    def place_or_refuse(req, preview):
        sent.append(req)
        if len(sent) == refused:
            raise OrderRejectedError("the broker refused it")
        return place(req, preview)

    deps.broker.place = place_or_refuse
    return deps


def test_a_refused_profit_target_sells_its_tranche_at_the_next_cycle_that_reaches_it(tmp_path):
    """PT1's order is refused: nothing was sold, so PT1 is open again and sells its tranche when
    the price is at the target at a later cycle (spec §6.4: each target sells once)."""
    deps = _held_and_refusing(tmp_path, [100.0, 100.0, PT[0], PT[0] + 0.5, PT[1]], refused=1)
    r2 = run_once(deps, day(2))
    assert [(a.reason, a.status) for a in r2.exits] == [("PT1", "rejected")]
    assert open_positions(deps)[0].targets_hit == 0  # not done: nothing was sold
    r3 = run_once(deps, day(3))
    assert [(a.reason, a.quantity, a.status) for a in r3.exits] == [("PT1", 3, "filled")]
    r4 = run_once(deps, day(4))
    assert [(a.reason, a.quantity) for a in r4.exits] == [("PT2", 3)]
    (pos,) = open_positions(deps)
    assert (pos.targets_hit, pos.remaining_qty) == (2, 4)


def test_a_refused_earlier_target_stays_done_when_a_later_one_sold(tmp_path):
    """PT1 refused while PT2 (same bar) sold: re-opening PT1 would let PT2 fire twice, so the
    targets stay as decided."""
    deps = _held_and_refusing(tmp_path, [100.0, 100.0, PT[1], PT[1]], refused=1)
    r2 = run_once(deps, day(2))
    assert [(a.reason, a.status) for a in r2.exits] == [("PT1", "rejected"), ("PT2", "filled")]
    assert open_positions(deps)[0].targets_hit == 2
    assert run_once(deps, day(3)).exits == []


def test_a_refused_later_target_of_a_bar_that_fired_two_is_retried_alone(tmp_path):
    """PT1 sold and PT2 refused on one bar: PT2 alone is open again, PT1 does not sell twice."""
    deps = _held_and_refusing(tmp_path, [100.0, 100.0, PT[1], PT[1]], refused=2)
    r2 = run_once(deps, day(2))
    assert [(a.reason, a.status) for a in r2.exits] == [("PT1", "filled"), ("PT2", "rejected")]
    assert open_positions(deps)[0].targets_hit == 1
    assert [(a.reason, a.quantity) for a in run_once(deps, day(3)).exits] == [("PT2", 3)]
