"""`etrade auth login|status|renew|revoke|logout`: the E*TRADE OAuth 1.0a access token."""

from __future__ import annotations

import sys
from typing import Any

import typer

from .common import JSON_OPT, emit_json, err, out, state

auth_app = typer.Typer(help="Log in to E*TRADE and manage the access token.", no_args_is_help=True)


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
) -> None:
    """Get a request token, show the authorize URL, read the verifier, store the access token.

    The verifier is read from the prompt, or from standard input when it is piped
    (`echo CODE | etrade auth login`).
    """
    from ..etrade.auth import LoginFlow, token_store

    cfg = state(ctx).config()
    flow = LoginFlow(cfg.etrade)
    url = flow.start()
    err.print(
        "Open this page, log in to E*TRADE, approve the app, then enter the verification "
        "code it shows (the request expires in 5 minutes):",
        markup=False,
    )
    out.print(url, markup=False, soft_wrap=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    tokens = flow.finish(_read_verifier())
    token_store(cfg.etrade).save(tokens)
    err.print(f"Logged in ({tokens.environment}). {_expiry_text(tokens)}", markup=False)


def _expiry_text(tokens: Any) -> str:
    from ..etrade.auth import ET

    exp = tokens.expires_at
    return (
        f"The token expires at {exp.astimezone(ET):%Y-%m-%d %H:%M} ET "
        f"({exp.astimezone():%Y-%m-%d %H:%M %Z} local)."
    )


@auth_app.command("status")
def status(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Say whether the token is valid, inactive (idle 2 h: renewable) or expired.

    Exit code 0 when usable (valid or inactive), 4 when missing or expired.
    """
    from ..etrade.auth import ET, token_store, utc_now

    cfg = state(ctx).config()
    tokens = token_store(cfg.etrade).load()
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
        out.print(
            f"not logged in ({cfg.etrade.environment}); run `etrade auth login`", markup=False
        )
    else:
        hint = {
            "valid": "",
            "inactive": " (idle over 2 h; renewed automatically on the next "
            "call, or run `etrade auth renew`)",
            "expired": "; run `etrade auth login`",
        }[doc["status"]]
        out.print(
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
) -> None:
    """Will the token be valid for the next trading window? For a pre-open cron job.

    Exit 0 when it will (nothing is sent), 4 when it is missing, expired or expires first;
    with --notify the reminder ("log in before 15:00 ET: run `etrade auth login`") is sent,
    at most once a day.
    """
    from ..etrade.auth import utc_now
    from ..notify.reminder import check_token, parse_duration

    cfg = state(ctx).config()
    horizon = parse_duration(within) if within is not None else None
    result = check_token(cfg, utc_now(), horizon)
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        out.print(_check_ok_text(result), markup=False, soft_wrap=True)
    else:
        out.print(f"{result.event().title}. {result.event().body}", markup=False, soft_wrap=True)
    if result.ok:
        return
    if notify:
        from ..services import notifiers

        subs = notifiers(cfg)
        if not subs:
            err.print("warning: no notification URL configured ([notify] urls)", markup=False)
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
    err.print("Access token renewed.", markup=False)


@auth_app.command("revoke")
def revoke(ctx: typer.Context) -> None:
    """Revoke the token at E*TRADE and forget it locally."""
    from ..etrade.auth import token_store
    from ..services import etrade_client

    cfg = state(ctx).config()
    etrade_client(cfg).revoke()
    token_store(cfg.etrade).delete()
    err.print("Access token revoked and removed.", markup=False)


@auth_app.command("logout")
def logout(ctx: typer.Context) -> None:
    """Forget the stored token locally (no request to E*TRADE)."""
    from ..etrade.auth import token_store

    removed = token_store(state(ctx).config().etrade).delete()
    err.print("Token removed." if removed else "No stored token.", markup=False)
