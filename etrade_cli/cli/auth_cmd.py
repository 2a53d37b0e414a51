"""`etrade auth login|status|renew|revoke|logout`: the E*TRADE OAuth 1.0a access token."""

from __future__ import annotations

import sys
from typing import Any

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import JSON_OPT, emit_json, state, warn

auth_app = typer.Typer(
    help="Log in to E*TRADE (or Schwab with --broker schwab) and manage the token.",
    no_args_is_help=True,
)
BROKER_OPT = typer.Option(
    None, "--broker", "-b", help="etrade (default) or schwab (IBKR logs in through its gateway)."
)


def register(app: typer.Typer) -> None:
    """Add the `auth` group to `app`."""
    app.add_typer(auth_app, name="auth")


def _read_verifier() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("Verification code"))
    line = sys.stdin.readline()
    return line.strip()


@auth_app.command("login")
def login(
    ctx: typer.Context,
    open_browser: bool = typer.Option(
        False, "--open", help="Open the authorize page in a browser."
    ),
    broker: str = BROKER_OPT,
    manual: bool = typer.Option(
        False, "--manual", help="Schwab: paste the redirected URL instead of the local callback."
    ),
) -> None:
    """Get a request token, show the authorize URL, read the verifier, store the access token.

    The verifier is read from the prompt, or from standard input when it is piped
    (`echo CODE | etrade auth login`). With `--broker schwab`: schwab-py's login flow (a local
    HTTPS callback at `[schwab] callback_url`), or with `--manual` (or without a browser) its
    manual flow.
    """
    from ..etrade.auth import LoginFlow, token_store

    if _auth_broker(ctx, broker) == "schwab":
        _schwab_login(ctx, manual)
        return
    cfg = state(ctx).config()
    flow = LoginFlow(cfg.etrade)
    url = flow.start()
    common.err.print(
        "Open this page, log in to E*TRADE, approve the app, then enter the verification "
        "code it shows (the request expires in 5 minutes):",
        markup=False,
    )
    common.out.print(url, markup=False, soft_wrap=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    tokens = flow.finish(_read_verifier())
    token_store(cfg.etrade).save(tokens)
    common.err.print(f"Logged in ({tokens.environment}). {_expiry_text(tokens)}", markup=False)


def _expiry_text(tokens: Any) -> str:
    from ..etrade.auth import ET

    exp = tokens.expires_at
    return (
        f"The token expires at {exp.astimezone(ET):%Y-%m-%d %H:%M} ET "
        f"({exp.astimezone():%Y-%m-%d %H:%M %Z} local)."
    )


@auth_app.command("status")
def status(ctx: typer.Context, as_json: bool = JSON_OPT, broker: str = BROKER_OPT) -> None:
    """Say whether the token is valid, inactive (idle 2 h: renewable) or expired.

    Exit code 0 when usable (valid or inactive), 4 when missing or expired. With `--broker
    schwab`: the refresh token's age and the day it dies (7 days after login).
    """
    from ..etrade.auth import ET, token_store, utc_now

    if _auth_broker(ctx, broker) == "schwab":
        _schwab_status(ctx, as_json)
        return
    cfg = state(ctx).config()
    tokens = token_store(cfg.etrade, warn).load()
    now = utc_now()
    if tokens is None:
        doc: dict[str, Any] = {"status": "missing", "environment": cfg.etrade.environment}
    else:
        doc = {
            "status": tokens.status(now),
            "environment": tokens.environment,
            "created_at": tokens.created_at,
            "last_used_at": tokens.last_used_at,
            "expires_at": tokens.expires_at.isoformat(),
            "expires_at_et": tokens.expires_at.astimezone(ET).isoformat(),
        }
    if as_json:
        emit_json(doc)
    elif tokens is None:
        common.out.print(
            f"not logged in ({cfg.etrade.environment}); run `etrade auth login`", markup=False
        )
    else:
        hint = {
            "valid": "",
            "inactive": " (idle over 2 h; renewed automatically on the next "
            "call, or run `etrade auth renew`)",
            "expired": "; run `etrade auth login`",
        }[doc["status"]]
        common.out.print(
            f"{doc['status']}{hint}. {_expiry_text(tokens)} Last used {tokens.last_used_at} (UTC).",
            markup=False,
        )
    if doc["status"] in ("missing", "expired"):
        from ..errors import AuthError

        raise AuthError(
            f"{'not logged in' if tokens is None else 'the access token has expired'} "
            f"({cfg.etrade.environment}); run `etrade auth login`"
        )


@auth_app.command("check")
def check(
    ctx: typer.Context,
    notify: bool = typer.Option(
        False, "--notify", help="When the token will not do, send the login reminder."
    ),
    within: str = typer.Option(
        None,
        "--within",
        help="Horizon such as 2h or 90m: the token must last that long "
        "(default: through the end of the next buy window on an NYSE session).",
    ),
    as_json: bool = JSON_OPT,
    broker: str = BROKER_OPT,
) -> None:
    """Will the token be valid for the next trading window? For a pre-open cron job.

    Exit 0 when it will (nothing is sent), 4 when it is missing, expired or expires first;
    with --notify the reminder ("log in before 15:00 ET: run `etrade auth login`") is sent,
    at most once a day. With `--broker schwab`: exit 4 from day 6 of the refresh token's 7
    (log in again before it dies); no reminder is sent for Schwab yet.
    """
    from ..etrade.auth import utc_now
    from ..notify.reminder import check_token, parse_duration

    if _auth_broker(ctx, broker) == "schwab":
        if notify:
            common.err.print("warning: --notify sends E*TRADE reminders only", markup=False)
        _schwab_status(ctx, as_json, fail_when_expiring=True)
        return

    cfg = state(ctx).config()
    horizon = parse_duration(within) if within is not None else None
    result = check_token(cfg, utc_now(), horizon)
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        common.out.print(_check_ok_text(result), markup=False, soft_wrap=True)
    else:
        common.out.print(
            f"{result.event().title}. {result.event().body}", markup=False, soft_wrap=True
        )
    if result.ok:
        return
    if notify:
        from ..services import notifiers

        subs = notifiers(cfg)
        if not subs:
            common.err.print(
                "warning: no notification URL configured ([notify] urls)", markup=False
            )
        from ..events import emit

        # asked for explicitly: sent even if a reminder already went out today
        emit([getattr(sub, "send_now", sub) for sub in subs], result.event())
    raise typer.Exit(4)


def _check_ok_text(result: Any) -> str:
    from ..etrade.auth import ET

    text = (
        f"ok: token {result.status}, expires {result.expires_at.astimezone(ET):%Y-%m-%d %H:%M} ET"
    )
    start = result.window_start
    if start is not None and start > result.expires_at:
        text += (
            f"; the next buy window opens {start.astimezone(ET):%a %Y-%m-%d %H:%M} ET, "
            "log in that day (tokens expire at midnight ET)"
        )
    return text


@auth_app.command("renew")
def renew(ctx: typer.Context) -> None:
    """Reactivate a token that went idle (cannot revive one expired at midnight ET)."""
    from ..services import etrade_client

    client = etrade_client(state(ctx).config())
    client.renew()
    common.err.print("Access token renewed.", markup=False)


@auth_app.command("revoke")
def revoke(ctx: typer.Context) -> None:
    """Revoke the token at E*TRADE and forget it locally."""
    from ..etrade.auth import token_store
    from ..services import etrade_client

    cfg = state(ctx).config()
    etrade_client(cfg).revoke()
    token_store(cfg.etrade).delete()
    common.err.print("Access token revoked and removed.", markup=False)


@auth_app.command("logout")
def logout(ctx: typer.Context, broker: str = BROKER_OPT) -> None:
    """Forget the stored token locally (no request to the broker)."""
    from ..etrade.auth import token_store

    if _auth_broker(ctx, broker) == "schwab":
        from ..brokers.schwab_auth import token_store as schwab_store

        gone = schwab_store(state(ctx).config().schwab).delete()
        common.err.print(
            "Schwab token removed." if gone else "No stored Schwab token.", markup=False
        )
        return

    removed = token_store(state(ctx).config().etrade).delete()
    common.err.print("Token removed." if removed else "No stored token.", markup=False)


# --- Schwab --------------------------------------------------------------------------------------


def _auth_broker(ctx: typer.Context, broker: str | None) -> str:
    """etrade or schwab; other brokers have no login here (one-line error, exit 2)."""
    from ..errors import UsageError
    from ..services import command_broker

    name = command_broker(state(ctx).broker, broker)
    if name == "ibkr":
        raise UsageError(
            "IBKR logs in through TWS or IB Gateway (weekly 2FA there); nothing to do here: "
            "check it with `etrade --broker ibkr accounts list`"
        )
    if name not in ("etrade", "schwab"):
        raise UsageError(f"`etrade auth` manages E*TRADE and Schwab logins, not {name}")
    return name


def _schwab_login(ctx: typer.Context, manual: bool) -> None:
    from ..brokers.schwab_auth import login, token_store

    cfg = state(ctx).config().schwab
    store = token_store(cfg)
    login(cfg, manual, lambda m: common.err.print(m, markup=False), store)
    info = store.info()
    dies = f" The refresh token dies on {info.dies_at:%Y-%m-%d %H:%M} UTC." if info else ""
    common.err.print(f"Logged in to Schwab; token saved to {store.path}.{dies}", markup=False)


def _schwab_status(ctx: typer.Context, as_json: bool, fail_when_expiring: bool = False) -> None:
    """Exit 0 while the refresh token lives (warning from day 6), 4 when missing or dead (and
    from day 6 with `fail_when_expiring`, for `auth check`)."""
    from ..brokers.schwab_auth import LOGIN_HINT, SchwabTokenStore

    cfg = state(ctx).config().schwab
    if not cfg.app_key or not cfg.app_secret:
        doc: dict[str, Any] = {"status": "missing", "broker": "schwab"}
        text = (
            "not logged in to Schwab: set SCHWAB_APP_KEY and SCHWAB_APP_SECRET (or [schwab] "
            f"app_key/app_secret), then {LOGIN_HINT}"
        )
    else:
        info = SchwabTokenStore(cfg.app_key).info()
        if info is None:
            doc, text = (
                {"status": "missing", "broker": "schwab"},
                f"not logged in to Schwab; {LOGIN_HINT}",
            )
        else:
            days = info.age.total_seconds() / 86400
            doc = {
                "status": info.status,
                "broker": "schwab",
                "created_at": info.created_at.isoformat(),
                "age_days": round(days, 2),
                "dies_at": info.dies_at.isoformat(),
            }
            hint = {
                "valid": "",
                "expiring": f"; log in again before then: {LOGIN_HINT}",
                "expired": f"; {LOGIN_HINT}",
            }[info.status]
            text = (
                f"{info.status}: refresh token {days:.1f} days old, dies on "
                f"{info.dies_at:%Y-%m-%d %H:%M} UTC ({info.dies_at.astimezone():%Y-%m-%d %H:%M %Z}"
                f" local){hint}"
            )
    if as_json:
        emit_json(doc)
    else:
        common.out.print(text, markup=False, soft_wrap=True)
    if doc["status"] in ("missing", "expired") or (
        fail_when_expiring and doc["status"] == "expiring"
    ):
        raise typer.Exit(4)
