"""`indented_json`: the indented JSON of `emit_json`, imported when JSON is written (the
standard library's `json` is not imported at start-up)."""

from __future__ import annotations

import json
from typing import Any


def indented_json(doc: Any) -> str:
    """`json.dumps(doc, indent=2)`, character for character, for documents of plain JSON values
    (dict with str keys, list, str, int, float, bool, None; what `json.loads` returns), about
    twice as fast: the standard library indents in Python generators (its C encoder cannot
    indent before Python 3.13) and a backtest's equity curve has tens of thousands of values.
    Anything else (tuples, other key types, subclasses) goes to `json.dumps` itself."""
    out: list[str] = []
    try:
        _indent_into(doc, "", out.append)
    except _NotPlain:
        return json.dumps(doc, indent=2)
    return "".join(out)


class _NotPlain(Exception):
    """A value `indented_json` leaves to `json.dumps`."""


def _json_scalar(v: Any) -> str | None:
    """The JSON text of a plain scalar as `json.dumps` writes it, or None for a container."""
    t = type(v)
    if t is str:
        return _encode_str(v)
    if t is float:
        if v != v:
            return "NaN"
        if v in (_INF, -_INF):
            return "Infinity" if v > 0 else "-Infinity"
        return float.__repr__(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if t is int:
        return int.__repr__(v)
    if t is dict or t is list:
        return None
    raise _NotPlain


def _indent_into(o: Any, ind: str, w: Any) -> None:
    text = _json_scalar(o)
    if text is not None:
        w(text)
        return
    if not o:
        w("{}" if type(o) is dict else "[]")
        return
    inner = ind + "  "
    sep = ",\n" + inner
    first = True
    if type(o) is dict:
        w("{\n" + inner)
        for k, v in o.items():
            if type(k) is not str:
                raise _NotPlain
            if not first:
                w(sep)
            first = False
            w(_encode_str(k))
            w(": ")
            t = type(v)
            if t is str:  # the common leaves inline: no call per value
                w(_encode_str(v))
            elif t is float and v - v == 0:  # finite
                w(float.__repr__(v))
            else:
                _indent_into(v, inner, w)
        w("\n" + ind + "}")
        return
    w("[\n" + inner)
    for v in o:
        if not first:
            w(sep)
        first = False
        t = type(v)
        if t is str:
            w(_encode_str(v))
        elif t is float and v - v == 0:
            w(float.__repr__(v))
        else:
            _indent_into(v, inner, w)
    w("\n" + ind + "]")


_INF = float("inf")
_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
