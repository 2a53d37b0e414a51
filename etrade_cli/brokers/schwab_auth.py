"""Charles Schwab OAuth 2 through schwab-py: our own token store and the client factories.

schwab-py's file writer is neither atomic nor private (its issue 231), so the token is kept by
`SchwabTokenStore` (one JSON file per app key under `<data dir>/tokens/`, written atomically with
mode 0600) and handed to schwab-py through `client_from_access_functions`; refreshed access
tokens (every 30 minutes) are written back through the same store. The file holds schwab-py's
own format, `{"creation_timestamp": <UTC epoch s>, "token": {...}}`.

Lifetimes (Schwab's developer portal): the access token lasts 30 minutes and is refreshed by
the client; the refresh token dies 7 days after login and then only a new login helps, so
`auth status --broker schwab` shows its age and the day it dies and warns from day 6.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import SchwabConfig, home_dirs
from ..errors import AuthError, ConfigError
from ..redact import register_secret
from ..secretfile import remove, write_private_json

REFRESH_LIFETIME = dt.timedelta(days=7)
WARN_AFTER = dt.timedelta(days=6)
LOGIN_HINT = "run `etrade auth login --broker schwab`"
NOT_INSTALLED = (
    'Schwab support is not installed: pip install -e ".[schwab]" (or pip install schwab-py)'
)


def require_app(cfg: SchwabConfig) -> tuple[str, str]:
    """The app key and secret, registered as secrets.

    Raises:
        AuthError: either is missing (the message says how to set them).
    """
    if not cfg.app_key or not cfg.app_secret:
        raise AuthError(
            "no Schwab app key/secret: set SCHWAB_APP_KEY and SCHWAB_APP_SECRET "
            "(or [schwab] app_key/app_secret)"
        )
    register_secret(cfg.app_key)
    register_secret(cfg.app_secret)
    return cfg.app_key, cfg.app_secret


def sdk() -> Any:
    """The `schwab` package, imported without authlib's notice that its httpx support is
    deprecated for httpx2 (a line on stderr at every run, which cron mails; it concerns
    authlib's future, not these calls). Every use of schwab-py goes through here first.

    Raises:
        ConfigError: schwab-py is not installed.
    """
    import warnings

    try:
        import authlib.deprecate  # noqa: F401  (installs authlib's "always" filter first ...)

        warnings.filterwarnings(  # ... so this one, put in front of it, wins
            "ignore", message="The httpx module is deprecated", category=DeprecationWarning
        )
        import schwab
    except ImportError:
        raise ConfigError(NOT_INSTALLED) from None
    return schwab


@dataclass(frozen=True)
class TokenInfo:
    """What `auth status` shows: times UTC; `age` and `left` as timedeltas."""

    created_at: dt.datetime
    age: dt.timedelta
    dies_at: dt.datetime

    @property
    def status(self) -> str:
        """ "valid", "expiring" (day 6 and later: log in again soon) or "expired"."""
        if self.age >= REFRESH_LIFETIME:
            return "expired"
        return "expiring" if self.age >= WARN_AFTER else "valid"


class SchwabTokenStore:
    """schwab-py's token object in a file per app key, mode 0600, replaced atomically.

    Args:
        app_key: the Schwab app key (only a hash of it names the file).
        folder: where token files live (default `<data dir>/tokens`).
    """

    def __init__(self, app_key: str, folder: Path | None = None):
        digest = hashlib.sha256(app_key.encode()).hexdigest()[:12]
        self.path = (folder or home_dirs()[1] / "tokens") / f"schwab-{digest}.json"

    def read(self) -> dict[str, Any]:
        """The stored token object (schwab-py's `token_read_func`).

        Raises:
            AuthError: no token, or an unreadable one (the message says how to log in).
        """
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AuthError(f"not logged in to Schwab; {LOGIN_HINT}") from None
        except (OSError, ValueError):
            raise AuthError(f"Schwab token file {self.path} is unreadable; {LOGIN_HINT}") from None
        if not isinstance(data, dict) or "creation_timestamp" not in data or "token" not in data:
            raise AuthError(f"Schwab token file {self.path} has an old format; {LOGIN_HINT}")
        for key in ("access_token", "refresh_token"):
            register_secret(str(data["token"].get(key) or ""))
        return data

    def write(self, token: dict[str, Any], *_args: Any, **_kwargs: Any) -> None:
        """Write `token` atomically with mode 0600 (schwab-py's `token_write_func`)."""
        write_private_json(self.path, token, ".schwab-")

    def info(self, now: float | None = None) -> TokenInfo | None:
        """Age and death day of the stored refresh token; None when there is no token.

        Raises:
            AuthError: an unreadable token file.
        """
        if not self.path.exists():
            return None
        created = int(self.read()["creation_timestamp"])
        age = int(now if now is not None else time.time()) - created
        at = dt.datetime.fromtimestamp(created, dt.timezone.utc)
        return TokenInfo(at, dt.timedelta(seconds=age), at + REFRESH_LIFETIME)

    def delete(self) -> bool:
        """Remove the token file; False when there was none."""
        return remove(self.path)


def token_store(cfg: SchwabConfig) -> SchwabTokenStore:
    """The token store of the configured app key.

    Raises:
        AuthError: no app key/secret configured.
    """
    key, _secret = require_app(cfg)
    return SchwabTokenStore(key)


def make_client(cfg: SchwabConfig, store: SchwabTokenStore | None = None) -> Any:
    """A schwab-py `Client` over the stored token (refreshes are written back to the store).

    Raises:
        ConfigError: schwab-py missing. AuthError: no usable token (log in again).
    """
    key, secret = require_app(cfg)
    schwab = sdk()
    store = store or SchwabTokenStore(key)
    info = store.info()
    if info is None:
        raise AuthError(f"not logged in to Schwab; {LOGIN_HINT}")
    if info.status == "expired":
        raise AuthError(
            f"the Schwab refresh token died on {info.dies_at:%Y-%m-%d %H:%M} UTC; {LOGIN_HINT}"
        )
    client = schwab.auth.client_from_access_functions(key, secret, store.read, store.write)
    client.set_timeout(cfg.timeout_s)
    return client


def login(
    cfg: SchwabConfig, manual: bool, say: Callable[[str], None], store: SchwabTokenStore
) -> Any:
    """Run schwab-py's login flow and store the token through `store`.

    The browser flow listens on the `[schwab] callback_url` (https on 127.0.0.1) for Schwab's
    redirect; the manual flow (`manual`, or no browser available) prints the authorize URL and
    reads the redirected URL from the prompt.

    Raises:
        ConfigError: schwab-py missing, or a callback URL the browser flow cannot serve.
        AuthError: Schwab refused the login.
    """
    key, secret = require_app(cfg)
    schwab = sdk()
    if not manual and not _has_browser():
        say("No browser found: using the manual flow (paste the redirected URL).")
        manual = True
    try:
        if manual:
            return schwab.auth.client_from_manual_flow(
                key, secret, cfg.callback_url, str(store.path), token_write_func=store.write
            )
        return schwab.auth.client_from_login_flow(
            key,
            secret,
            cfg.callback_url,
            str(store.path),
            token_write_func=store.write,
            interactive=False,
        )
    except ValueError as exc:  # a callback URL the login flow refuses
        raise ConfigError(f"[schwab] callback_url: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("authlib"):
            raise AuthError(f"Schwab refused the login: {exc}") from None
        raise


def _has_browser() -> bool:
    import webbrowser

    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True
