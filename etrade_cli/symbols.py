"""The one ticker-symbol rule, applied at every entry point: command-line arguments, watchlist
and exclusion lists, CSV files (long-format rows, `--symbol`, file names), `data import`, the
config (`rs_benchmark`) and broker payloads.

A symbol is 1-10 characters: letters and digits, with `.`, `-` or `/` between them as exchanges
write share classes and suffixes (`BRK.B`, `BF-B`, `BRK/B`, `RDS-A`). Input is stripped and
upper-cased. Anything else (`../A B$`, `<script>`, `A$B`, an empty string) is refused.
"""

from __future__ import annotations

import re

from .errors import InputError

MAX_LEN = 10
_SYMBOL = re.compile(r"[A-Z0-9]+(?:[./-][A-Z0-9]+)*")


def is_symbol(text: str) -> bool:
    """True when `text` (already stripped and upper-cased) is a valid symbol."""
    return len(text) <= MAX_LEN and _SYMBOL.fullmatch(text) is not None


def validate_symbol(text: object, where: str = "") -> str:
    """The symbol `text` stripped and upper-cased.

    Args:
        where: a prefix for the message ("watchlist.txt:3", "ED.csv"), or "".

    Raises:
        InputError: not a valid symbol; the message quotes the offending value.

    >>> validate_symbol(" brk.b ")
    'BRK.B'
    """
    sym = text.strip().upper() if isinstance(text, str) else ""
    if not is_symbol(sym):
        shown = repr(text if isinstance(text, str) else str(text))[:40]
        prefix = f"{where}: " if where else ""
        raise InputError(
            f"{prefix}not a valid symbol: {shown} (letters and digits with . - / between them, "
            f"at most {MAX_LEN} characters)"
        )
    return sym
