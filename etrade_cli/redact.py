"""Secret redaction: every secret the process learns is registered here, and every message that
leaves the process (errors, logs, `--debug` traces) passes through `redact()`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

_SECRETS: set[str] = set()
MASK = "****"
# OAuth header values and form fields that carry secrets or signatures
_OAUTH_FIELDS = re.compile(
    r"(oauth_(?:token_secret|signature|token|verifier)=\"?)([^\"&,\s]+)", re.IGNORECASE
)


def register_secret(value: str | None) -> None:
    """Remember a secret (consumer secret, token secret, access token) so it is never printed.
    Values shorter than 4 characters are ignored (too likely to appear by chance)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """`text` with registered secrets and OAuth credential fields replaced by `****`."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _OAUTH_FIELDS.sub(lambda m: m.group(1) + MASK, text)


class RedactingFilter:
    """A logging filter (for `Handler.addFilter`, which takes any object with a `filter`
    method) that redacts every record's final message. Not a `logging.Filter` subclass, so
    that importing this module does not import `logging`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
