"""Crash recovery: for each step of an order's life, a crash there then a second run gives
exactly one order at the broker, one journal row and one fill; lost replies are looked up. For
each step of placing, changing and cancelling a resting protective stop, a crash there ends with
exactly one resting stop per open position and none for closed ones."""

from __future__ import annotations

from dataclasses import replace

import pytest

from etrade_cli.brokers.paper import PaperBroker
from etrade_cli.engine import FAULT_POINTS, PROTECT_FAULT_POINTS, SimulatedCrash, run_once
from etrade_cli.errors import TemporaryApiError
from etrade_cli.store import Store
from tests.fakes import counts, day, fake_market, make_deps
from tests.test_protect import deps_for, resting


def crash_at(point: str, nth: int = 1):
    seen = {"n": 0}

    def fault(name: str) -> None:
        if name == point:
            seen["n"] += 1
            if seen["n"] == nth:
                raise SimulatedCrash(name)

    return fault


def reopen(deps):
    """A new process: fresh store connection and broker over the same database file."""
    from dataclasses import replace

    from etrade_cli.store import Store

    store = Store(deps.store.path)
    broker = PaperBroker(store, "paper")
    return replace(deps, store=store, broker=broker, faults=lambda _p: None)


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_entry_crash_at_each_step_then_rerun_gives_one_order_and_one_fill(tmp_path, point):
    market = fake_market({"AAA": [100.0]}, {("AAA", 0): 5})
    deps = make_deps(tmp_path, market, faults=crash_at(point))
    with pytest.raises(SimulatedCrash):
        run_once(deps, day(0))
    again = reopen(deps)
    res = run_once(again, day(0))
    c = counts(again.store)
    assert (c["paper_orders"], c["orders"], c["fills"]) == (1, 1, 1), (point, c, res.findings)
    (order,) = again.store.orders()
    assert order.status == "filled" and order.filled_qty == 10
    (pos,) = again.store.positions("paper", "paper")
    assert (pos.status, pos.remaining_qty, pos.entry_price) == ("open", 10, 100.0)
    assert again.broker.positions()[0].quantity == 10
    (crashed, ok) = again.store._query("SELECT outcome FROM runs ORDER BY id")
    assert (crashed[0], ok[0]) == ("crashed", "ok")


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_exit_crash_at_each_step_then_rerun_sells_once(tmp_path, point):
    market = fake_market({"AAA": [100.0, 80.0]}, {("AAA", 0): 5})
    deps = make_deps(tmp_path, market)
    run_once(deps, day(0))
    crashing = reopen(deps)
    from dataclasses import replace

    crashing = replace(crashing, faults=crash_at(point))
    with pytest.raises(SimulatedCrash):
        run_once(crashing, day(1))
    again = reopen(deps)
    run_once(again, day(1))
    c = counts(again.store)
    assert (c["paper_orders"], c["orders"], c["fills"], c["partial_exits"]) == (2, 2, 2, 1), point
    (pos,) = again.store.positions("paper", "paper", ("closed",))
    assert pos.exit_reason == "SL" and pos.realized_pnl == pytest.approx(-200.0)
    assert again.broker.positions() == []


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_entry_crash_recovered_in_the_next_session_is_booked_at_its_own_session(tmp_path, point):
    market = fake_market({"AAA": [100.0, 105.0]}, {("AAA", 0): 5})
    deps = make_deps(tmp_path, market, faults=crash_at(point))
    with pytest.raises(SimulatedCrash):
        run_once(deps, day(0))
    again = reopen(deps)
    res = run_once(again, day(1))
    c = counts(again.store)
    if point in ("after_intent", "after_preview"):  # never reached the broker: stale
        assert (c["paper_orders"], c["fills"]) == (0, 0)
        assert any(f.severity == "warning" and "dropped" in f.message for f in res.findings)
        return
    assert (c["paper_orders"], c["orders"], c["fills"]) == (1, 1, 1), (point, res.findings)
    assert again.store._query("SELECT session_date FROM fills")[0][0] == str(day(0))
    (pos,) = again.store.positions("paper", "paper")
    assert (pos.entry_date, pos.entry_price) == (str(day(0)), 100.0)


@pytest.mark.parametrize("point", ["after_place", "after_placed"])
def test_exit_crash_recovered_in_the_next_session_books_pnl_on_the_exit_session(tmp_path, point):
    from dataclasses import replace

    market = fake_market({"AAA": [100.0, 80.0, 70.0]}, {("AAA", 0): 5})
    deps = make_deps(tmp_path, market)
    run_once(deps, day(0))
    with pytest.raises(SimulatedCrash):
        run_once(replace(reopen(deps), faults=crash_at(point)), day(1))
    again = reopen(deps)
    run_once(again, day(2))
    (pos,) = again.store.positions("paper", "paper", ("closed",))
    assert (pos.exit_date, pos.exit_price) == (str(day(1)), 80.0)
    exits = again.store._query("SELECT session_date, realized_pnl FROM partial_exits")
    assert [tuple(e) for e in exits] == [(str(day(1)), pytest.approx(-200.0))]


class LostReplyBroker(PaperBroker):
    """Places the order (or not), then loses the reply like a timed-out HTTP call."""

    def __init__(self, *a, deliver: bool, **kw):
        super().__init__(*a, **kw)
        self.deliver = deliver
        self.place_calls = 0

    def place(self, req, preview):
        self.place_calls += 1
        if self.place_calls == 1:
            if self.deliver:
                super().place(req, preview)
            raise TemporaryApiError("read timed out")
        return super().place(req, preview)


def test_lost_reply_after_the_broker_took_the_order_is_looked_up_not_resent(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {("AAA", 0): 5}))
    from dataclasses import replace

    broker = LostReplyBroker(deps.store, "paper", deliver=True)
    deps = replace(deps, broker=broker)
    res = run_once(deps, day(0))
    assert broker.place_calls == 1
    assert res.entries[0].status == "filled"
    assert counts(deps.store)["paper_orders"] == 1 and counts(deps.store)["fills"] == 1


def test_lost_reply_when_the_broker_never_got_it_is_resolved_by_the_next_run(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {("AAA", 0): 5}))
    from dataclasses import replace

    broker = LostReplyBroker(deps.store, "paper", deliver=False)
    deps = replace(deps, broker=broker)
    res = run_once(deps, day(0))
    assert res.entries[0].status == "unknown"
    assert counts(deps.store)["paper_orders"] == 0
    res2 = run_once(deps, day(0))
    assert any("resuming order" in f.message for f in res2.findings)
    c = counts(deps.store)
    assert (c["paper_orders"], c["orders"], c["fills"]) == (1, 1, 1)


def test_an_unsent_intent_from_an_earlier_session_is_dropped_not_sent(tmp_path):
    market = fake_market({"AAA": [100.0, 100.0]}, {("AAA", 0): 5})
    deps = make_deps(tmp_path, market, faults=crash_at("after_intent"))
    with pytest.raises(SimulatedCrash):
        run_once(deps, day(0))
    again = reopen(deps)
    res = run_once(again, day(1))
    assert any(f.severity == "warning" and "dropped order" in f.message for f in res.findings)
    (order,) = again.store.orders()
    assert order.status == "cancelled" and counts(again.store)["paper_orders"] == 0
    assert again.store.positions("paper", "paper", ("cancelled",))[0].symbol == "AAA"


def test_journal_says_placed_but_broker_has_nothing_is_reported_not_changed(tmp_path):
    deps = make_deps(tmp_path, fake_market({"AAA": [100.0, 100.0]}, {("AAA", 0): 5}))
    run_once(deps, day(0))
    deps.store.db.execute("DELETE FROM paper_orders")  # the broker lost it
    deps.store.db.execute("UPDATE orders SET status = 'placed'")
    res = run_once(deps, day(1))
    assert any(f.severity == "error" and "does not know it" in f.message for f in res.findings)
    assert deps.store.orders()[0].status == "placed"


def test_database_guard_refuses_a_second_live_exit_for_the_same_target(tmp_path):
    import sqlite3

    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {("AAA", 0): 5}))
    run_once(deps, day(0))
    pos = deps.store.positions("paper", "paper")[0]
    kw = dict(
        broker="paper",
        account="paper",
        symbol="AAA",
        side="SELL",
        quantity=1,
        purpose="EXIT_PT1",
        position_id=pos.id,
        session_date="2024-01-03",
    )
    with deps.store.tx() as db:
        deps.store.new_order(db, **kw)
    with pytest.raises(sqlite3.IntegrityError), deps.store.tx() as db:
        deps.store.new_order(db, **kw)


# --- resting protective stops (issue 16): crashes at every step of placing, changing and cancelling a resting stop ----------------


#: scenario -> (closes, bars, the session run with the crash hook, the protective steps it passes)
SCENARIOS = {
    "place": ([100.0, 100.0, 100.0], None, 0, PROTECT_FAULT_POINTS[:5]),
    "tier": ([100.0, 106.0, 106.0], None, 1, PROTECT_FAULT_POINTS),
    "partial": ([100.0, 111.0, 111.0], None, 1, PROTECT_FAULT_POINTS),
    "full": ([100.0, 82.0, 82.0], {("AAA", 1): (90.0, 90.0, 81.0)}, 1, ("stop:after_cancel",)),
}
CASES = [(s, p) for s, (_c, _o, _d, points) in SCENARIOS.items() for p in points]


def assert_one_net_per_open_position(store: Store) -> None:
    open_pos = {p.id: p for p in store.positions("paper", "paper")}
    live = store.resting_stops("paper", "paper")
    at_broker = resting(store)
    assert sorted(r.position_id for r in live) == sorted(open_pos)
    assert len(at_broker) == len(open_pos)
    assert {r.client_order_id for r in live} == {r["client_order_id"] for r in at_broker}
    for r in live:
        assert r.status == "placed" and r.quantity == open_pos[r.position_id].remaining_qty
    held = {p.symbol: p.quantity for p in PaperBroker(store, "paper").positions()}
    book: dict[str, int] = {}
    for p in open_pos.values():
        book[p.symbol] = book.get(p.symbol, 0) + p.remaining_qty
    assert held == book  # never sold twice


@pytest.mark.parametrize("scenario, point", CASES)
def test_a_crash_in_a_protective_step_ends_with_one_net_per_open_position(
    tmp_path, scenario, point
):
    closes, ohlc, crash_day, _points = SCENARIOS[scenario]
    deps = deps_for(tmp_path, closes, ohlc)
    if crash_day:
        run_once(deps, day(0))
    with pytest.raises(SimulatedCrash):
        run_once(replace(reopen(deps), faults=crash_at(point)), day(crash_day))
    again = reopen(deps)
    run_once(again, day(crash_day))
    assert_one_net_per_open_position(again.store)
    run_once(again, day(2))
    assert_one_net_per_open_position(again.store)
    if scenario == "full":
        (pos,) = again.store.positions("paper", "paper", ("closed",))
        assert (pos.exit_reason, pos.remaining_qty) == ("SL", 0)
    if scenario == "partial":
        (pos,) = again.store.positions("paper", "paper")
        assert (pos.remaining_qty, pos.targets_hit) == (7, 1)
