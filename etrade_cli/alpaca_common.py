"""What the Alpaca bar source and the Alpaca broker share: keys, the SDK import, error
translation and retries with backoff (alpaca-py's own fixed-wait retry is switched off so that
429s, 5xx and connection errors are retried here with exponential backoff and jitter, honouring
`Retry-After`; tenacity, with an injectable sleep for tests).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .config import AlpacaConfig
from .errors import ApiError, AuthError, ConfigError, TemporaryApiError
from .redact import register_secret

NOT_INSTALLED = (
    'Alpaca support is not installed: pip install -e ".[alpaca]" (or pip install alpaca-py)'
)


def require_keys(cfg: AlpacaConfig) -> tuple[str, str]:
    """The API key pair, registered as secrets.

    Raises:
        AuthError: a key is missing (the message says how to set both).
    """
    if not cfg.api_key or not cfg.secret_key:
        raise AuthError(
            "no Alpaca API keys: set ALPACA_API_KEY and ALPACA_SECRET_KEY "
            "(or [alpaca] api_key/secret_key)"
        )
    register_secret(cfg.api_key)
    register_secret(cfg.secret_key)
    return cfg.api_key, cfg.secret_key


def sdk() -> Any:
    """The `alpaca` package.

    Raises:
        ConfigError: alpaca-py is not installed (the message says how to install it).
    """
    try:
        import alpaca.data  # noqa: F401
    except ImportError:
        raise ConfigError(NOT_INSTALLED) from None
    import alpaca

    return alpaca


def translate_error(exc: Exception, what: str) -> Exception:
    """An alpaca-py or requests failure as one of our errors (temporary ones are retried)."""
    import requests

    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return TemporaryApiError(f"{what}: {type(exc).__name__}")
    status = getattr(exc, "status_code", None)
    try:
        message = getattr(exc, "message", None) or str(exc)
    except Exception:  # alpaca-py's APIError.message can itself fail on odd bodies
        message = type(exc).__name__
    if status in (401, 403):
        return AuthError(
            f"Alpaca refused the API keys ({status}): check ALPACA_API_KEY and ALPACA_SECRET_KEY"
        )
    if status == 429 or (status is not None and status >= 500):
        err = TemporaryApiError(f"{what}: HTTP {status} ({message})", status=status)
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        err.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None  # type: ignore[attr-defined]
        return err
    return ApiError(f"{what}: {message}", status=status)


def with_retries(
    call: Callable[[], Any], what: str, sleep: Callable[[float], None], attempts: int = 4
) -> Any:
    """Run `call`, retrying temporary failures with exponential backoff + jitter."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        base = min(16.0, 1.0 * 2 ** (state.attempt_number - 1)) + random.uniform(0, 0.5)
        after = getattr(exc, "retry_after", None)
        return max(base, after) if after else base

    for attempt in Retrying(
        stop=stop_after_attempt(attempts),
        reraise=True,
        wait=wait,
        retry=retry_if_exception_type(TemporaryApiError),
        sleep=sleep,
    ):
        with attempt:
            try:
                return call()
            except (AuthError, ApiError, ConfigError):
                raise
            except Exception as exc:
                raise translate_error(exc, what) from None
    return None  # pragma: no cover


def no_sdk_retry(client: Any) -> Any:
    """Turn off alpaca-py's fixed-wait retry (we retry with backoff and Retry-After)."""
    if hasattr(client, "_retry_codes"):
        client._retry_codes = [-1]
    return client
