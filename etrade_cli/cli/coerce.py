"""Typer's parameter coercion without Pydantic where Pydantic would change nothing.

Typer (0.22+) coerces every parameter value through a Pydantic `TypeAdapter`; importing Pydantic
and building the adapter cost more than the rest of `etrade quote AAPL`. `install()` replaces
`TyperParameter.process_value` with `_process_value`, which gives the same value (or the same
error) without an adapter for what the adapter could only return unchanged or convert
trivially: a missing value, plain text (`str`, `list[str]`), a path (`Path(text)` and Typer's
own checks) and a plain decimal or a default for an `int` or `float` (inside its bounds, if it
has some). Anything else goes through Typer. tests/test_cli_lazy.py compares both on each kind.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer._click import Context
from typer.core import _TyperParameter


def _process_value(self: _TyperParameter, ctx: Context, value: Any) -> Any:
    """Typer's `process_value` without building the parameter's Pydantic adapter where it
    would give what this gives: None (or () for a multi-value parameter) for a missing value,
    the text for a plain `str` (a list for `list[str]`), `Path(text)` after Typer's path checks,
    `int(text)` or `float(text)` for a plain decimal (inside the bounds), a default of the
    parameter's type as it is. Anything else goes through Typer's own coercion (once a
    parameter has an adapter, always)."""
    if self._runtime_param is not None:
        return _typer_process_value(self, ctx, value)
    if value is None:
        value = () if self.multiple or self.nargs == -1 else None
    elif _is_text(self, value):
        value = value if isinstance(value, str) else list(value)
    elif _is_plain_path(self, value):
        value = _coerce_path(self, ctx, value)
    elif (number := _plain_number(self, value)) is not None:
        value = number
    else:
        return _typer_process_value(self, ctx, value)
    if self.required and self.value_is_missing(value):
        from typer._click.exceptions import MissingParameter

        raise MissingParameter(ctx=ctx, param=self)
    if self.callback is not None:
        value = self.callback(ctx, self, value)
    return value


#: decimal numbers as Pydantic reads them into an int or float: exactly `int(text)` and
#: `float(text)` (anything else, such as 1e5, _, spaces or 300 digits, goes through Typer's
#: adapter)
_PLAIN_NUMBER = {
    int: re.compile(r"-?[0-9]{1,18}"),
    float: re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?"),
}


def _plain_number(param: _TyperParameter, value: Any) -> int | float | None:
    """The number the adapter of a single `int` or `float` parameter gives for `value`, when
    that is a plain conversion: a plain decimal str (`-q 10`, `--workers 2`) is `int(value)`
    or `float(value)`, a default of the parameter's own type (or an int default of a float)
    is itself. With `min`/`max` only a number inside the bounds (which neither the check nor
    `clamp` changes); None for anything else, which goes through Typer's adapter (its errors
    and clamping included)."""
    desc = param.type_descriptor
    kind = desc.annotation
    pattern = _PLAIN_NUMBER.get(kind)
    if (
        pattern is None
        or param.multiple
        or param.nargs != 1
        or desc.parameter_info.parser is not None
        or desc.is_choice
    ):
        return None
    if type(value) is str:
        if pattern.fullmatch(value) is None:
            return None
        number = kind(value)
    elif type(value) is kind or (kind is float and type(value) is int and abs(value) < 2**53):
        number = kind(value)
    else:
        return None
    info = desc.parameter_info
    if desc.is_ranged and not (
        (info.min is None or number >= info.min) and (info.max is None or number <= info.max)
    ):
        return None
    return number


def _is_plain_path(param: _TyperParameter, value: Any) -> bool:
    """True for a str given to a single `Path` parameter (`--config`, `--db`, `--watchlist`):
    no parser, path_type or `allow_dash`, whose adapter only converts with `Path(value)`
    before Typer's own checks (`typer._param_types.coerce_cli_path`), and a text that the
    conversion leaves as it is (not "" or "dir/"), so the checks see the same file."""
    desc = param.type_descriptor
    info = desc.parameter_info
    return (
        type(value) is str
        and str(Path(value)) == value
        and not (param.multiple or param.nargs != 1)
        and isinstance(desc.annotation, type)
        and issubclass(desc.annotation, Path)
        and info.parser is None
        and info.path_type is None
        and not info.allow_dash
        and not desc.is_file
    )


def _coerce_path(param: _TyperParameter, ctx: Context, value: str) -> Any:
    """What Typer's path adapter returns for `value`: its checks (exists, file_okay, dir_okay,
    readable, writable, resolve_path; the same `BadParameter` messages) on the text, then the
    parameter's `Path` class (Pydantic turns a str into a path with `Path(value)`)."""
    from typer._param_types import _coerce_path_result, coerce_cli_path

    info = param.type_descriptor.parameter_info
    checked: Any = coerce_cli_path(value, info, path_type=None, param=param, ctx=ctx)
    return _coerce_path_result(checked, param.type_descriptor.annotation)


def _is_text(param: _TyperParameter, value: Any) -> bool:
    """True when `value` is what Click parsed for a plain `str` parameter (a str) or a
    `list[str]` one (a tuple or list of str), with no parser, choices, path or file rules."""
    desc = param.type_descriptor
    if desc.parameter_info.parser is not None or desc.is_choice or desc.is_path or desc.is_file:
        return False
    if desc.annotation is str:
        return type(value) is str and not (param.multiple or param.nargs == -1)
    return (
        desc.annotation == list[str]
        and isinstance(value, (tuple, list))
        and all(type(v) is str for v in value)
    )


#: Typer's own `process_value`
_typer_process_value = _TyperParameter.process_value


def install() -> None:
    """Use `_process_value` for every Typer parameter (idempotent), on the Typer minor version
    it was written and tested for (pyproject pins it); any other keeps Typer's own coercion."""
    import typer

    if not typer.__version__.startswith("0.29."):
        return
    _TyperParameter.process_value = _process_value  # type: ignore[method-assign]


install()
