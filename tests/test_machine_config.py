"""Machine output keeps configuration as configured: `_pct` config keys are fractions already."""

from __future__ import annotations

import json


def test_config_show_json_keeps_config_names_and_fractions(cli):
    doc = json.loads(cli("config", "show", "--json").stdout)
    assert doc["strategy"]["initial_stop_loss_pct"] == 0.17
    assert doc["strategy"]["max_loss_pct"] == 0.02


def test_backtest_params_are_the_configured_values(cli, hermetic):
    r = cli("backtest", "--json", "--symbols", "AAPL,IBM", "--db", "bt.db")
    assert r.exit_code == 0, r.output
    params = json.loads(r.stdout)["params"]
    assert params["strategy"]["initial_stop_loss_pct"] == 0.17
    assert params["risk"]["max_ticket_usd"] == 25_000.0
