"""Machine output as scripts use it: `--json FIELDS`, `--jsonl`, one number convention,
messages only on stderr, `--output FILE`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etrade_cli.cli.machine import dumps, extract_json_args, plain, to_machine
from etrade_cli.errors import ExitStatus


def test_json_fields_keep_only_those_fields_of_every_record(cli):
    r = cli("scan", "--json", "symbol,score,action")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert list(doc) == ["signals"] and doc["signals"]
    assert all(set(s) == {"symbol", "score", "action"} for s in doc["signals"])
    doc = json.loads(cli("scan", "--json=session,symbol", "--all").stdout)
    assert doc["session"] == "2010-08-20" and len(doc["symbols"]) == 40
    assert all(set(s) == {"symbol"} for s in doc["symbols"])


def test_unknown_json_field_is_a_usage_error_listing_the_known_ones(cli):
    r = cli("scan", "--json=symbol,nope")
    assert r.exit_code == ExitStatus.USAGE
    assert "unknown JSON field(s): nope; available:" in r.stderr and "score" in r.stderr


def test_json_fields_of_an_empty_list_are_not_refused(cli):
    r = cli("history", "--json=symbol,side")
    assert r.exit_code == 0 and json.loads(r.stdout) == []


def test_jsonl_prints_one_record_a_line(cli):
    r = cli("scan", "--all", "--jsonl")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 40 and all(json.loads(line)["symbol"] for line in lines)
    r = cli("scan", "--jsonl", "--json=symbol")  # fields apply to the lines too
    assert all(set(json.loads(line)) == {"symbol"} for line in r.stdout.splitlines())


def test_a_word_after_json_is_a_positional_argument_when_the_command_takes_one():
    assert extract_json_args(["--json", "orders"], True) == ["--json", "orders"]
    assert extract_json_args(["--json", "a,b"], True) == ["--json"]
    assert extract_json_args(["--json", "symbol"], False) == ["--json"]
    assert extract_json_args(["--", "--jsonl"], False) == ["--", "--jsonl"]


@pytest.mark.parametrize(
    "given, expected",
    [
        (
            {"unrealized_usd": 1.23456, "entry_price": 12.345678},
            {"unrealized_usd": 1.23, "entry_price": 12.3457},
        ),
        ({"total_return_pct": 5.0}, {"total_return_fraction": 0.05}),
        ({"by_day": {"2010-08-05": 57.6612}}, {"by_day": {"2010-08-05": 57.66}}),
        ({"sharpe": 0.123456789}, {"sharpe": 0.123457}),
        ({"cash": 95028.67000000001, "close": 3.75}, {"cash": 95028.67, "close": 3.75}),
        ({"rows": [{"price": 1.000049}]}, {"rows": [{"price": 1.0}]}),
    ],
)
def test_number_conventions(given, expected):
    assert to_machine(given) == expected


def _decimals(x: float) -> int:
    text = repr(x)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def _walk(doc, key=None):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _walk(v, k)
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk(v, key)
    else:
        yield key, doc


def test_backtest_and_report_json_use_fractions_and_round_money(cli):
    r = cli("backtest", "--db", "m.db", "--start", "2010-06-01", "--json")
    assert r.exit_code == 0, r.output
    for cmd in (r.stdout, cli("--db", "m.db", "report", "--json").stdout):
        doc = json.loads(cmd)
        doc.pop("params", None)  # the configuration as configured (its _pct keys are fractions)
        pairs = list(_walk(doc))
        keys = {k for k, _ in pairs}
        assert not any(k and k.endswith("_pct") for k in keys)
        assert any(k and k.endswith("_fraction") for k in keys)
        for k, v in pairs:
            if isinstance(v, float) and k in ("equity", "cash", "realized", "pnl"):
                assert _decimals(v) <= 2, (k, v)
            if isinstance(v, float) and k and k.endswith("_price"):
                assert _decimals(v) <= 4, (k, v)


def test_output_writes_the_file_only_on_success(cli, hermetic: Path):
    r = cli("scan", "--all", "--csv", "--output", "scan.csv")
    assert r.exit_code == 0 and r.stdout == ""
    text = (hermetic / "scan.csv").read_text()
    assert text.startswith("symbol,date,close") and len(text.splitlines()) == 41
    r = cli("-o", "scan.csv", "scan", "ZZZZ", "--json")
    assert r.exit_code == ExitStatus.ERROR
    assert (hermetic / "scan.csv").read_text() == text  # the old file is untouched
    assert [p.name for p in hermetic.iterdir()] == ["scan.csv"]  # no temporary left over


def test_history_json_fields_with_its_positional_argument(cli):
    assert cli("--db", "hj.db", "run-once", "--as-of", "2010-07-22").exit_code == 0
    r = cli("--db", "hj.db", "history", "orders", "--json=symbol,side")
    assert json.loads(r.stdout) == [{"symbol": "IBM", "side": "BUY"}]


def test_chart_message_goes_to_stderr(cli, hermetic: Path):
    pytest.importorskip("matplotlib")
    r = cli("backtest", "--start", "2010-08-01", "--symbols", "IBM", "--chart", "c.png", "--json")
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)  # stdout is only the JSON
    assert "Chart written to c.png" in r.stderr


def _reference(doc, indent):
    return json.dumps(doc, indent=2) if indent else json.dumps(doc, separators=(",", ":"))


@pytest.mark.parametrize("indent", [True, False])
def test_dumps_writes_what_json_dumps_writes_non_ascii_escaped(indent):
    doc = {
        "note": "spec §6 — fills at the close",
        "emoji": "📈 up",
        "ctrl": 'tab\there\nnew "q" \\ \x01 del \x7f',
        "nested": [{"a": 1, "b": [1.5, -2.25, 0.0, True, None]}, [], {}],
        "money": 96795.31,
        "big": 2**60,
    }
    text = dumps(doc, indent=indent)
    assert text.isascii()
    assert text == _reference(doc, indent)
    assert json.loads(text) == doc


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.text()
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
        max_leaves=20,
    )
)
@settings(max_examples=200, deadline=None)
def test_dumps_reads_back_as_the_same_document(doc):
    for indent in (True, False):
        text = dumps(doc, indent=indent)
        assert text.isascii()
        assert json.loads(text) == doc
        if indent and not _has_float(doc):  # floats may be spelled 1e-6 for json's 1e-06
            assert text == _reference(doc, indent)


def _has_float(doc) -> bool:
    if isinstance(doc, float):
        return True
    if isinstance(doc, dict):
        return any(_has_float(v) for v in doc.values())
    if isinstance(doc, list):
        return any(_has_float(v) for v in doc)
    return False


def test_dumps_falls_back_to_json_for_integers_beyond_64_bits():
    assert json.loads(dumps({"n": 2**70}, indent=True)) == {"n": 2**70}


def test_plain_turns_non_finite_floats_into_null_and_dates_through_default():
    import datetime as dt

    import numpy as np

    from etrade_cli.cli.common import _json_default

    data = {"d": dt.date(2010, 8, 20), 3: np.float64(1.5), "x": float("nan"), "i": float("inf")}
    assert plain(data, _json_default) == {"d": "2010-08-20", "3": 1.5, "x": None, "i": None}
    data["big"] = 2**70  # beyond orjson: the standard library path gives the same answer
    assert plain(data, _json_default) == {
        "d": "2010-08-20", "3": 1.5, "x": None, "i": None, "big": 2**70,
    }  # fmt: skip
