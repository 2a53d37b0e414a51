"""E*TRADE OAuth 1.0a (`etrade_api.md` §1): endpoints, the access token and where it is kept.

Lifetime rules (official): an access token expires at midnight US/Eastern of the day it was
issued; after two hours without a request it becomes inactive and must be renewed; renewal cannot
revive an expired token. Tokens live in a JSON file per environment and consumer key, written
atomically with mode 0600 (or in the OS keyring with `[etrade] token_store = "keyring"`).
The request-token step uses `requests-oauthlib`; nothing here prints a secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from ..config import EtradeConfig, home_dirs, require_etrade_keys
from ..errors import AuthError, ConfigError
from ..redact import register_secret
from ..secretfile import remove, write_private_json

ET = ZoneInfo("America/New_York")
IDLE_LIMIT = dt.timedelta(hours=2)
REST_HOSTS = {"sandbox": "https://apisb.etrade.com", "production": "https://api.etrade.com"}
OAUTH_HOST = "https://api.etrade.com"
AUTHORIZE = "https://us.etrade.com/e/t/etws/authorize?key={key}&token={token}"
LOGIN_HINT = "run `etrade auth login`"


@dataclass(frozen=True)
class Endpoints:
    """Where requests go: REST base and OAuth base (no trailing slash)."""

    rest: str
    oauth: str

    @classmethod
    def for_config(cls, cfg: EtradeConfig) -> Endpoints:
        """Sandbox or production REST host; OAuth always at api.etrade.com (as E*TRADE's own
        sample client does); `base_url` overrides both (a proxy or a local test server)."""
        if cfg.base_url:
            base = cfg.base_url.rstrip("/")
            return cls(base, base + "/oauth")
        return cls(REST_HOSTS[cfg.environment], OAUTH_HOST + "/oauth")


def utc_now() -> dt.datetime:
    """Now, UTC-aware."""
    return dt.datetime.now(dt.timezone.utc)


def midnight_et_after(t: dt.datetime) -> dt.datetime:
    """The next midnight US/Eastern after `t` (when a token issued at `t` expires), UTC."""
    local = t.astimezone(ET)
    nxt = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), ET)
    return nxt.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Tokens:
    """An access token and its metadata. Times are UTC ISO-8601.

    Attributes:
        environment: "sandbox" | "production" | "custom". consumer_key: the app's key.
        token, secret: the OAuth access token and token secret (secret: never print it).
        created_at: when it was issued. last_used_at: last successful request.
    """

    environment: str
    consumer_key: str
    token: str
    secret: str
    created_at: str
    last_used_at: str

    def __repr__(self) -> str:  # never show the secret, even in a debugger
        return f"Tokens(environment={self.environment!r}, created_at={self.created_at!r})"

    @property
    def expires_at(self) -> dt.datetime:
        """Midnight US/Eastern after issue (UTC-aware)."""
        return midnight_et_after(dt.datetime.fromisoformat(self.created_at))

    def status(self, now: dt.datetime) -> str:
        """ "expired" after midnight ET, "inactive" after 2 h idle, else "valid"."""
        if now >= self.expires_at:
            return "expired"
        if now - dt.datetime.fromisoformat(self.last_used_at) >= IDLE_LIMIT:
            return "inactive"
        return "valid"

    def touched(self, now: dt.datetime) -> Tokens:
        """A copy marked as used at `now`."""
        return replace(self, last_used_at=now.replace(microsecond=0).isoformat())


class TokenStore(Protocol):
    """Where tokens are kept."""

    def load(self) -> Tokens | None:
        """The stored tokens, or None."""
        ...

    def save(self, tokens: Tokens) -> None:
        """Store tokens (replacing any)."""
        ...

    def delete(self) -> bool:
        """Forget the tokens; True if there were any."""
        ...


def _key_id(environment: str, consumer_key: str) -> str:
    digest = hashlib.sha256(consumer_key.encode()).hexdigest()[:12]
    return f"{environment}-{digest}"


class FileTokenStore:
    """A JSON file per environment and consumer key under `<data dir>/tokens/`, mode 0600,
    replaced atomically (write a temp file, fsync, rename)."""

    def __init__(
        self,
        environment: str,
        consumer_key: str,
        folder: Path | None = None,
        warn: Callable[[str], None] | None = None,
    ):
        self.path = (
            folder or home_dirs()[1] / "tokens"
        ) / f"{_key_id(environment, consumer_key)}.json"
        self._warn = warn or logging.getLogger(__name__).warning

    def load(self) -> Tokens | None:
        """The stored tokens; None when there is no file. A file readable or writable by
        others (e.g. mode 0644 after a copy) is set back to 0600 with a one-line warning.

        Raises:
            AuthError: the file is unreadable or malformed, or open to others and its mode
                cannot be fixed (not our file).
        """
        try:
            self._check_mode()
            data = json.loads(self.path.read_text(encoding="utf-8"))
            tokens = Tokens(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            raise AuthError(f"token file {self.path} is unreadable; {LOGIN_HINT}") from None
        register_secret(tokens.secret)
        register_secret(tokens.token)
        return tokens

    def _check_mode(self) -> None:
        mode = stat.S_IMODE(os.stat(self.path).st_mode)
        if not mode & 0o077:
            return
        try:
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise AuthError(
                f"token file {self.path} is open to other users (mode {mode:04o}) and its mode "
                f"cannot be set to 0600 ({exc.strerror or exc}); {LOGIN_HINT}"
            ) from None
        self._warn(f"token file {self.path} was open to other users (mode {mode:04o}); set to 0600")

    def save(self, tokens: Tokens) -> None:
        """Write atomically with mode 0600."""
        write_private_json(self.path, asdict(tokens), ".tokens-")

    def delete(self) -> bool:
        """Remove the file."""
        return remove(self.path)


class KeyringTokenStore:
    """Tokens in the OS keyring (`pip install keyring`), one entry per environment and key."""

    SERVICE = "etrade-cli"

    def __init__(self, environment: str, consumer_key: str):
        try:
            import keyring
        except ImportError:
            raise ConfigError(
                '[etrade] token_store = "keyring" needs the keyring package: pip install keyring'
            ) from None
        self._keyring = keyring
        self.name = _key_id(environment, consumer_key)

    def load(self) -> Tokens | None:
        """The stored tokens, or None."""
        raw = self._keyring.get_password(self.SERVICE, self.name)
        if not raw:
            return None
        tokens = Tokens(**json.loads(raw))
        register_secret(tokens.secret)
        register_secret(tokens.token)
        return tokens

    def save(self, tokens: Tokens) -> None:
        """Store in the keyring."""
        self._keyring.set_password(self.SERVICE, self.name, json.dumps(asdict(tokens)))

    def delete(self) -> bool:
        """Remove from the keyring."""
        try:
            self._keyring.delete_password(self.SERVICE, self.name)
            return True
        except Exception:  # keyring.errors.PasswordDeleteError
            return False


def environment_name(cfg: EtradeConfig) -> str:
    """ "custom" with a `base_url`, else the configured environment."""
    return "custom" if cfg.base_url else cfg.environment


def token_store(cfg: EtradeConfig, warn: Callable[[str], None] | None = None) -> TokenStore:
    """The configured token store for this environment and consumer key; `warn` receives
    one-line warnings (a token file whose mode was fixed).

    Raises:
        AuthError: no consumer key configured.
    """
    require_etrade_keys(cfg)
    env = environment_name(cfg)
    if cfg.token_store == "keyring":
        return KeyringTokenStore(env, cfg.consumer_key)
    return FileTokenStore(env, cfg.consumer_key, warn=warn)


def authorize_url(consumer_key: str, request_token: str) -> str:
    """The page where the user approves the app and gets the verifier code (§1.2)."""
    return AUTHORIZE.format(key=quote(consumer_key, safe=""), token=quote(request_token, safe=""))


class LoginFlow:
    """Request token -> authorize URL -> verifier -> access token.

    Both token calls are signed GETs (E*TRADE documents GET; `OAuth1Session.fetch_*_token`
    would POST), signed by requests-oauthlib's `OAuth1`; the form-encoded replies are decoded
    with oauthlib (tokens arrive URL-encoded, `%2F`, `%3D`).

    Args:
        cfg: `[etrade]` config. session: the `requests.Session` to use.
    """

    def __init__(self, cfg: EtradeConfig, session: Any = None):
        import requests

        require_etrade_keys(cfg)
        self.cfg = cfg
        self.endpoints = Endpoints.for_config(cfg)
        self.http = session or requests.Session()
        self._request_token: dict[str, str] | None = None

    def _get_token(self, step: str, path: str, auth: Any) -> dict[str, str]:
        from oauthlib.common import urldecode

        try:
            r = self.http.get(
                f"{self.endpoints.oauth}/{path}", auth=auth, timeout=self.cfg.timeout_s
            )
        except Exception as exc:  # requests' connection errors and timeouts
            raise AuthError(_oauth_failure(step, exc)) from None
        if r.status_code >= 400:
            raise AuthError(_oauth_failure(step, Exception(f"HTTP {r.status_code}: {r.text}")))
        try:
            token = dict(urldecode(r.text.strip()))
        except ValueError:
            raise AuthError(
                f"E*TRADE answered the {step} request with something that is not a token"
            ) from None
        if "oauth_token" not in token or "oauth_token_secret" not in token:
            raise AuthError(f"E*TRADE's {step} reply has no token")
        register_secret(token["oauth_token_secret"])
        return token

    def start(self) -> str:
        """Get a request token (valid 5 minutes) and return the authorize URL.

        Raises:
            AuthError: E*TRADE refused the consumer key (expired keys answer 401).
        """
        from requests_oauthlib import OAuth1

        auth = OAuth1(
            self.cfg.consumer_key, client_secret=self.cfg.consumer_secret, callback_uri="oob"
        )
        self._request_token = self._get_token("request token", "request_token", auth)
        return authorize_url(self.cfg.consumer_key, self._request_token["oauth_token"])

    def finish(self, verifier: str, now: dt.datetime | None = None) -> Tokens:
        """Exchange the verifier for the access token.

        Raises:
            AuthError: empty or rejected verifier, or `start()` not called.
        """
        from requests_oauthlib import OAuth1

        verifier = verifier.strip()
        if not verifier or self._request_token is None:
            raise AuthError(f"no verifier code given; {LOGIN_HINT} again")
        auth = OAuth1(
            self.cfg.consumer_key,
            client_secret=self.cfg.consumer_secret,
            resource_owner_key=self._request_token["oauth_token"],
            resource_owner_secret=self._request_token["oauth_token_secret"],
            verifier=verifier,
        )
        got = self._get_token("access token", "access_token", auth)
        register_secret(got["oauth_token"])
        stamp = (now or utc_now()).replace(microsecond=0).isoformat()
        return Tokens(
            environment_name(self.cfg),
            self.cfg.consumer_key,
            got["oauth_token"],
            got["oauth_token_secret"],
            stamp,
            stamp,
        )


def _oauth_failure(step: str, exc: Exception) -> str:
    from ..redact import redact

    text = str(exc)
    problem = oauth_problem(text)
    if problem == "consumer_key_rejected":
        return (
            "E*TRADE rejected the consumer key (consumer keys expire after about two years): "
            "check ETRADE_CONSUMER_KEY/SECRET"
        )
    if problem:
        return f"E*TRADE refused the {step}: {problem}"
    first = redact(text.splitlines()[0] if text else type(exc).__name__)
    return f"could not get the {step} from E*TRADE: {first}"


def oauth_problem(text: str) -> str | None:
    """The `oauth_problem=...` value in an HTML 401 page or a WWW-Authenticate header."""
    import re

    m = re.search(r"oauth_problem=([A-Za-z_]+)", text or "")
    return m.group(1) if m else None
