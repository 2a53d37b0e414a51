"""Spec §6 exits: stop loss, time exit, trailing stop, partial exits (3/3/4 of 10, 0/0/2 of 2)."""

from __future__ import annotations

import numpy as np
import pytest

from etrade_cli.strategy.base import PositionState
from etrade_cli.strategy.rajat_alpha.exits import initial_stop, plan_exit, trailing_level
from etrade_cli.strategy.rajat_alpha.params import StrategyParams

P = StrategyParams()


def pos(qty=10, remaining=None, stop=None, hit=0, kind="B1", entry=100.0):
    return PositionState(
        kind,
        entry,
        qty,
        qty if remaining is None else remaining,
        initial_stop(entry, P) if stop is None else stop,
        hit,
    )


def test_initial_stop_is_17_percent_below_entry():
    assert initial_stop(100.0, P) == pytest.approx(83.0)


@pytest.mark.parametrize("price, exits", [(83.0, True), (83.00000000000001, False)])
def test_stop_loss_at_or_below_the_stop_sells_everything(price, exits):
    plan = plan_exit(pos(stop=83.0), price, 3, P)
    assert plan.sells == ([("SL", 10)] if exits else [])


def test_stop_loss_sells_only_what_remains():
    assert plan_exit(pos(remaining=4, stop=99.0), 90.0, 3, P).sells == [("SL", 4)]


@pytest.mark.parametrize("held, exits", [(20, False), (21, True)])
def test_time_exit_after_21_sessions(held, exits):
    plan = plan_exit(pos(), 101.0, held, P)
    assert plan.sells == ([("TES", 10)] if exits else [])


def test_time_exit_uses_the_b2_setting_for_b2():
    prm = StrategyParams(tes_days_b2=5)
    assert plan_exit(pos(kind="B2"), 101.0, 5, prm).sells == [("TES", 10)]
    assert plan_exit(pos(kind="B1"), 101.0, 5, prm).sells == []


def test_stop_loss_comes_before_time_exit():
    assert plan_exit(pos(stop=95.0), 90.0, 30, P).sells == [("SL", 10)]


@pytest.mark.parametrize(
    "price, level",
    [(104.99, 83.0), (105.0, 91.0), (109.99, 91.0), (110.0, 99.0), (130.0, 99.0)],
)
def test_trailing_levels(price, level):
    assert trailing_level(100.0, price, P) == pytest.approx(level)


def test_trailing_stop_only_ratchets_up():
    up = plan_exit(pos(), 106.0, 2, P)
    assert up.stop_loss == pytest.approx(91.0) and up.sells == []
    later = plan_exit(pos(stop=up.stop_loss), 101.0, 3, P)  # price fell back: stop stays
    assert later.stop_loss == pytest.approx(91.0)


# thresholds exactly as the spec writes them, evaluated in floating point (no epsilon)
PT1, PT2, PT3 = (100.0 * (1 + t) for t in P.targets)


def test_partial_exits_3_3_4_of_10_shares():
    p = pos(qty=10)
    first = plan_exit(p, PT1, 2, P)
    assert first.sells == [("PT1", 3)] and first.targets_hit == 1
    p = PositionState("B1", 100.0, 10, 7, first.stop_loss, 1)
    second = plan_exit(p, PT2, 3, P)
    assert second.sells == [("PT2", 3)] and second.targets_hit == 2
    p = PositionState("B1", 100.0, 10, 4, second.stop_loss, 2)
    third = plan_exit(p, PT3, 4, P)
    assert third.sells == [("PT3", 4)] and third.targets_hit == 3


def test_several_targets_fire_on_the_same_bar_in_order():
    plan = plan_exit(pos(qty=10), 125.0, 2, P)
    assert plan.sells == [("PT1", 3), ("PT2", 3), ("PT3", 4)] and plan.shares() == 10


def test_partial_exits_0_0_2_of_2_shares_mark_empty_tranches_done():
    plan = plan_exit(pos(qty=2), PT2, 2, P)
    assert plan.sells == [] and plan.targets_hit == 2  # PT1 and PT2 are 0 shares: done
    plan = plan_exit(PositionState("B1", 100.0, 2, 2, plan.stop_loss, 2), PT3, 3, P)
    assert plan.sells == [("PT3", 2)]


def test_each_target_fires_once():
    assert plan_exit(pos(remaining=7, hit=1), 112.0, 2, P).sells == []


def test_target_boundary_is_inclusive_and_literal():
    assert plan_exit(pos(), PT1, 2, P).sells == [("PT1", 3)]
    assert plan_exit(pos(), float(np.nextafter(PT1, 0)), 2, P).sells == []
    assert PT1 != 110.0  # 100*(1+0.10) is 110.00000000000001 in floating point


def test_partial_exits_can_be_disabled():
    plan = plan_exit(pos(), 130.0, 2, StrategyParams(enable_partial_exits=False))
    assert plan.sells == [] and plan.stop_loss == pytest.approx(99.0)
