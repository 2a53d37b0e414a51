"""`etrade order preview|place|change|cancel|list|status`: equity orders at E*TRADE."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import typer

from .common import (
    CSV_OPT,
    JSON_OPT,
    Format,
    complete_price_type,
    emit_csv,
    emit_json,
    err,
    finite,
    out,
    output_format,
    state,
)

order_app = typer.Typer(
    help="Equity orders: preview, place, change, cancel, list, status, resolve.",
    no_args_is_help=True,
)
ACCOUNT_OPT = typer.Option(
    None,
    "--account",
    "-a",
    help="accountIdKey, accountId or list "
    "number (default: [etrade] account or the only active one).",
)


def register(app: typer.Typer) -> None:
    """Add the `order` group to `app`."""
    app.add_typer(order_app, name="order")


def _order(
    symbol: str,
    action: str,
    quantity: int,
    price_type: str,
    limit: float | None,
    stop: float | None,
    term: str,
    session: str,
) -> Any:
    from ..etrade.orders import EquityOrder, validate
    from ..symbols import validate_symbol

    sym = validate_symbol(symbol)
    o = EquityOrder(
        sym,
        action.upper(),
        quantity,
        price_type.upper(),
        term.upper(),
        session.upper(),
        limit,
        stop,
    )
    validate(o)
    return o


SYMBOL_ARG = typer.Argument(..., help="Symbol, e.g. AAPL.")
ACTION_OPT = typer.Option("BUY", "--action", help="BUY, SELL, BUY_TO_COVER or SELL_SHORT.")
QTY_OPT = typer.Option(..., "--quantity", "-q", help="Shares (a positive whole number).")
TYPE_OPT = typer.Option(
    "MARKET",
    "--type",
    "-t",
    help="priceType: MARKET, LIMIT, STOP, STOP_LIMIT, TRAILING_STOP_CNST (trail in USD in "
    "--stop) or TRAILING_STOP_PRCT (trail as a whole-number percent in --stop, 5 = 5 %).",
    autocompletion=complete_price_type,
)
LIMIT_OPT = typer.Option(
    None, "--limit", callback=finite(), help="limitPrice, USD (LIMIT, STOP_LIMIT)."
)
STOP_OPT = typer.Option(
    None,
    "--stop",
    callback=finite(),
    help="stopPrice, USD (STOP, STOP_LIMIT); the trail of a trailing stop.",
)
TERM_OPT = typer.Option(
    "GOOD_FOR_DAY",
    "--term",
    help="orderTerm: GOOD_FOR_DAY, GOOD_UNTIL_CANCEL, IMMEDIATE_OR_CANCEL, FILL_OR_KILL.",
)
SESSION_OPT = typer.Option("REGULAR", "--session", help="marketSession: REGULAR or EXTENDED.")


def _broker(ctx: typer.Context, account: str | None) -> tuple[Any, Any, Any]:
    """(config, store, broker): E*TRADE, or the global --broker through its registry factory."""
    from ..brokers.etrade import EtradeBroker
    from ..services import (
        command_broker,
        etrade_client,
        make_broker,
        open_store,
        resolve_account,
        with_account,
    )

    name = command_broker(state(ctx).broker)
    if name != "etrade":
        cfg = with_account(state(ctx).config(), name, account)
        store = open_store(cfg)
        try:
            return cfg, store, make_broker(cfg, store, name)
        except BaseException:
            store.close()
            raise
    cfg = state(ctx).config()
    client = etrade_client(cfg, warn=lambda m: err.print(f"warning: {m}", markup=False))
    acct = resolve_account(client, cfg, account)
    store = open_store(cfg)
    return cfg, store, EtradeBroker(client, acct.account_id_key, store)


def _preview_table(p: Any, o: Any) -> Any:
    from rich.table import Table

    t = Table(
        title=f"Preview: {o.action} {o.quantity} {o.symbol} {o.price_type}",
        title_justify="left",
        show_header=False,
    )
    t.add_column("")
    t.add_column("", justify="right")
    t.add_row("previewId", p.preview_id)
    t.add_row("Estimated total", f"{p.estimated_total:,.2f} USD")
    t.add_row("Commission", f"{p.commission:,.2f} USD")
    for m in p.messages:
        t.add_row("Message", m)
    return t


@order_app.command("preview")
def preview(
    ctx: typer.Context,
    symbol: str = SYMBOL_ARG,
    action: str = ACTION_OPT,
    quantity: int = QTY_OPT,
    price_type: str = TYPE_OPT,
    limit: float = LIMIT_OPT,
    stop: float = STOP_OPT,
    term: str = TERM_OPT,
    session: str = SESSION_OPT,
    account: str = ACCOUNT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Preview an order: estimated total, commission and E*TRADE's messages (nothing placed)."""
    import secrets
    import string

    from ..brokers.base import OrderRequest

    o = _order(symbol, action, quantity, price_type, limit, stop, term, session)
    _cfg, store, broker = _broker(ctx, account)
    coid = "PV" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    try:
        p = broker.preview(
            OrderRequest(
                coid,
                o.symbol,
                o.action,
                o.quantity,
                o.price_type,
                o.limit_price,
                o.stop_price,
                o.order_term,
                o.market_session,
            )
        )
    finally:
        store.close()
    if as_json:
        emit_json(asdict(p))
    else:
        out.print(_preview_table(p, o))


@order_app.command("place")
def place(
    ctx: typer.Context,
    symbol: str = SYMBOL_ARG,
    action: str = ACTION_OPT,
    quantity: int = QTY_OPT,
    price_type: str = TYPE_OPT,
    limit: float = LIMIT_OPT,
    stop: float = STOP_OPT,
    term: str = TERM_OPT,
    session: str = SESSION_OPT,
    account: str = ACCOUNT_OPT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Place without asking."),
    live: bool = typer.Option(
        False,
        "--live",
        help="Allow a real-money order (also needs allow_live_orders = true in the broker's "
        "section; Schwab orders are always live).",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Journal, preview, confirm, then place with the same clientOrderId."""
    from ..errors import InputError
    from ..manual import place_manual

    o = _order(symbol, action, quantity, price_type, limit, stop, term, session)
    cfg = state(ctx).config()
    _live_guard(ctx, cfg, live)
    if not yes and not sys.stdin.isatty():
        raise InputError("no terminal to confirm on: pass --yes to place without asking")
    _cfg, store, broker = _broker(ctx, account)

    def confirm(p: Any) -> bool:
        if not as_json:
            out.print(_preview_table(p, o))
        return yes or bool(typer.confirm("Place this order?", default=False))

    try:
        res = place_manual(cfg, store, broker, o, confirm)
    finally:
        store.close()
    row = res.order
    doc = {
        "clientOrderId": row.client_order_id,
        "orderId": row.broker_order_id,
        "status": row.status,
        "filled_qty": row.filled_qty,
        "avg_fill_price": row.avg_fill_price,
        "message": row.message,
    }
    _report(
        res,
        doc,
        as_json,
        "Not placed.",
        f"Order {row.broker_order_id or '?'} ({row.client_order_id}): {row.status}"
        + (f" - {row.message}" if row.message else ""),
    )


@order_app.command("change")
def change(
    ctx: typer.Context,
    order_id: str = typer.Argument(..., help="E*TRADE orderId of an open order."),
    limit: float = LIMIT_OPT,
    stop: float = typer.Option(
        None,
        "--stop",
        callback=finite(),
        help="stopPrice, USD (STOP, STOP_LIMIT); the trail for trailing stops (USD, or a "
        "whole-number percent for TRAILING_STOP_PRCT).",
    ),
    quantity: int = typer.Option(None, "--quantity", "-q", help="New share count."),
    term: str = typer.Option(None, "--term", help="New orderTerm, e.g. GOOD_UNTIL_CANCEL."),
    account: str = ACCOUNT_OPT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Change without asking."),
    live: bool = typer.Option(
        False,
        "--live",
        help="Allow changing a production order (also needs [etrade] allow_live_orders = true).",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Change an open order: change preview, confirm, then change place.

    E*TRADE cancels the old orderId and creates a new one; the journal links the two.
    """
    from ..errors import InputError, OrderRejectedError
    from ..etrade.orders import EquityOrder
    from ..manual import ChangeRequest, change_manual, changed_order, check_live_guard

    if not order_id.isdigit():
        raise InputError(f"orderId must be a number, got {order_id!r}")
    ch = ChangeRequest(limit, stop, quantity, term)
    if ch == ChangeRequest():
        raise InputError("nothing to change: give --limit, --stop, --quantity or --term")
    cfg = state(ctx).config()
    check_live_guard(cfg, live)
    if not yes and not sys.stdin.isatty():
        raise InputError("no terminal to confirm on: pass --yes to change without asking")
    _cfg, store, broker = _broker(ctx, account)
    try:
        if broker.name != "etrade":
            from ..errors import UsageError

            raise UsageError(
                f"order change is for E*TRADE orders; with {broker.name}, cancel and place anew"
            )
        o = broker.client.order_details(broker.account, order_id)
        if o is None:
            raise InputError(f"no such order: {order_id}")
        if o.status not in ("OPEN", "PARTIAL"):
            raise OrderRejectedError(f"order {order_id} is {o.status}: only an open order changes")
        current = EquityOrder(
            o.symbol,
            o.action,
            int(o.ordered_qty),
            o.price_type,
            o.order_term,
            o.market_session or "REGULAR",
            o.limit_price or None,
            o.stop_price or None,
        )

        shown = changed_order(current, ch)

        def confirm(p: Any) -> bool:
            if not as_json:
                out.print(_preview_table(p, shown))
            return yes or bool(typer.confirm("Place this change?", default=False))

        res = change_manual(cfg, store, broker, order_id, current, ch, confirm)
    finally:
        store.close()
    row = res.order
    doc = {
        "clientOrderId": row.client_order_id,
        "orderId": row.broker_order_id,
        "replaces_orderId": order_id,
        "status": row.status,
        "quantity": row.quantity,
        "limit_price": row.limit_price,
        "stop_price": row.stop_price,
        "order_term": row.order_term,
        "message": row.message,
    }
    _report(
        res,
        doc,
        as_json,
        "Not changed.",
        f"Order {order_id} changed: new order {row.broker_order_id or '?'} "
        f"({row.client_order_id}): {row.status}",
    )


def _report(res: Any, doc: dict[str, Any], as_json: bool, declined: str, done: str) -> None:
    """The outcome of `order place` or `order change` (a `manual.PlaceOutcome`): `doc` with
    --json, else `declined` when the user did not confirm, else `done` unless no broker
    confirmed the order; then exit 5 with what is true when none did (`res.failure()`)."""
    if as_json:
        emit_json(doc)
    elif not res.confirmed:
        err.print(declined, markup=False)
    elif res.problem is None:
        out.print(done, markup=False)
    failure = res.failure()
    if failure is not None:
        raise failure


@order_app.command("cancel")
def cancel(
    ctx: typer.Context,
    order_id: str = typer.Argument(..., help="E*TRADE orderId."),
    account: str = ACCOUNT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Cancel an open order (by E*TRADE orderId) and record E*TRADE's answer in the journal.

    Exit 6 when the order is already executed, cancelled, rejected or expired.
    """
    from ..errors import InputError
    from ..manual import cancel_manual

    if not order_id.isdigit():
        raise InputError(f"orderId must be a number, got {order_id!r}")
    cfg, store, broker = _broker(ctx, account)
    try:
        res = cancel_manual(cfg, store, broker, order_id)
    finally:
        store.close()
    row = res.journal
    doc = {
        "orderId": res.order_id,
        "status": res.status,
        "clientOrderId": row.client_order_id if row else None,
        "journal_status": row.status if row else None,
    }
    if as_json:
        emit_json(doc)
        return
    done = res.status == "CANCELLED"
    out.print(
        f"Order {order_id}: {'cancelled' if done else f'cancel requested (E*TRADE: {res.status})'}"
        + (f"; journal {row.client_order_id}: {row.status}" if row else "; not in the journal"),
        markup=False,
    )


@order_app.command("resolve")
def resolve(
    ctx: typer.Context,
    client_order_id: str = typer.Argument(..., help="The journal's clientOrderId."),
    not_placed: bool = typer.Option(
        False, "--not-placed", help="The broker never got the order: close the journal row."
    ),
    order_id: str = typer.Option(
        None, "--order-id", help="The broker's order id this journal row is (from its order list)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Settle without asking."),
    as_json: bool = JSON_OPT,
) -> None:
    """Settle by hand a journal order whose fate the tool cannot learn (exit 8 after a lost
    reply, e.g. Schwab, which has no client order id), after checking the broker's orders.

    Offline: nothing is sent. With --not-placed no later run sends it; with --order-id the
    next run reads that order's state and fills from the broker.
    """
    from ..errors import InputError
    from ..manual import resolve_manual

    if not_placed == (order_id is not None):
        raise InputError("give --not-placed or --order-id ID (one of them)")
    if not yes and not sys.stdin.isatty():
        raise InputError("no terminal to confirm on: pass --yes to settle without asking")
    what = "never reached the broker" if not_placed else f"is the broker's order {order_id}"
    if not yes and not typer.confirm(f"Record that {client_order_id} {what}?", default=False):
        err.print("Not settled.", markup=False)
        return
    before, after = resolve_manual(
        state(ctx).config(), client_order_id, not_placed=not_placed, broker_order_id=order_id
    )
    doc = {
        "clientOrderId": after.client_order_id,
        "broker": after.broker,
        "symbol": after.symbol,
        "was": before.status,
        "status": after.status,
        "orderId": after.broker_order_id,
        "message": after.message,
    }
    if as_json:
        emit_json(doc)
    else:
        out.print(
            f"Order {after.client_order_id} ({after.broker} {after.side} {after.quantity} "
            f"{after.symbol}): {before.status} -> {after.status}"
            + (f" as order {after.broker_order_id}" if after.broker_order_id else ""),
            markup=False,
        )


ORDER_COLUMNS = [
    "order_id",
    "status",
    "symbol",
    "action",
    "ordered_qty",
    "filled_qty",
    "avg_price",
    "price_type",
    "limit_price",
    "stop_price",
    "order_term",
    "placed_time",
]


@order_app.command("list")
def list_orders(
    ctx: typer.Context,
    status: str = typer.Option(
        None, "--status", help="OPEN, EXECUTED, CANCELLED, REJECTED, EXPIRED, ..."
    ),
    account: str = ACCOUNT_OPT,
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """Recent orders of the account."""
    from rich.table import Table

    fmt = output_format(as_json, as_csv)
    _cfg, store, broker = _broker(ctx, account)
    try:
        if broker.name == "etrade":
            orders = broker.client.list_orders(broker.account, status.upper() if status else None)
            rows = [{k: asdict(o)[k] for k in ORDER_COLUMNS} for o in orders]
        else:  # other brokers: the orders still working
            rows = [_state_row(o) for o in broker.open_orders()]
    finally:
        store.close()
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(rows, ORDER_COLUMNS)
    elif not rows:
        out.print("No orders.", markup=False)
    else:
        t = Table(title="Orders", title_justify="left")
        for c in (
            "orderId",
            "Status",
            "Symbol",
            "Action",
            "Qty",
            "Filled",
            "Avg",
            "Type",
            "Limit",
            "Placed (UTC)",
        ):
            t.add_column(c)
        for r in rows:
            t.add_row(
                r["order_id"],
                r["status"],
                r["symbol"],
                r["action"],
                f"{r['ordered_qty']:g}",
                f"{r['filled_qty']:g}",
                "" if r["avg_price"] is None else f"{r['avg_price']:,.2f}",
                r["price_type"],
                "" if not r["limit_price"] else f"{r['limit_price']:,.2f}",
                (r["placed_time"] or "")[:19],
            )
        out.print(t)


@order_app.command("status")
def status(
    ctx: typer.Context,
    order_id: str = typer.Argument(None, help="E*TRADE orderId."),
    client_order_id: str = typer.Option(
        None, "--client-order-id", help="Look up by the journal's clientOrderId instead."
    ),
    account: str = ACCOUNT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """One order's status, by orderId or by clientOrderId (journal lookup)."""
    from ..errors import InputError

    if bool(order_id) == bool(client_order_id):
        raise InputError("give an orderId or --client-order-id (one of them)")
    _cfg, store, broker = _broker(ctx, account)
    try:
        if order_id and broker.name != "etrade":
            found = [o for o in broker.open_orders() if o.broker_order_id == order_id]
            doc = asdict(found[0]) if found else None
        elif order_id:
            o = broker.client.order_details(broker.account, order_id)
            doc = {k: asdict(o)[k] for k in ORDER_COLUMNS} if o else None
        else:
            st = broker.order_status(client_order_id)
            doc = asdict(st) if st else None
    finally:
        store.close()
    if doc is None:
        raise InputError(f"no such order: {order_id or client_order_id}")
    if as_json:
        emit_json(doc)
    else:
        for k, v in doc.items():
            out.print(f"{k}: {'' if v is None else v}", markup=False)


def _live_guard(ctx: typer.Context, cfg: Any, live: bool) -> None:
    """E*TRADE's production guard, or the registry's for the global --broker."""
    from .. import registry
    from ..manual import check_live_guard
    from ..services import command_broker

    name = command_broker(state(ctx).broker)
    if name == "etrade":
        check_live_guard(cfg, live)
    else:
        registry.check_live_guard(cfg, registry.brokers.get(name), live)


def _state_row(o: Any) -> dict[str, Any]:
    """An `OrderState` in the `order list` columns."""
    row: dict[str, Any] = dict.fromkeys(ORDER_COLUMNS)
    row.update(
        order_id=o.broker_order_id,
        status=o.status,
        symbol=o.symbol,
        action=o.side,
        ordered_qty=float(o.quantity),
        filled_qty=float(o.filled_qty),
        avg_price=o.avg_fill_price,
        price_type="",
    )
    return row
