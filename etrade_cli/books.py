"""Which position book `etrade positions` and `etrade report` show, chosen offline.

The database keeps one book per (broker, account). The book shown is the configured broker's
(`[broker] name`, or `--broker`) under the account its registry entry computes from config
(`BrokerSpec.account_key`: "paper" for the paper broker, `[etrade] account` for E*TRADE). No
broker API is called: E*TRADE's `accountIdKey` is only known online, so when `[etrade] account`
is empty the single E*TRADE account present in the book is used, and the choice says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Config
from .errors import InputError
from .store import Store


@dataclass(frozen=True)
class BookChoice:
    """The book to show: `broker` and `account` as stored, `how` one line saying why this
    account, and `others`: (broker, account, open or pending positions) of the other books of
    the database that hold positions (a hint when the chosen one is empty)."""

    broker: str
    account: str
    how: str
    others: list[tuple[str, str, int]] = field(default_factory=list)

    def label(self) -> str:
        """E.g. "Book: etrade account JIdOIAcSpwR1Jva7RQBraQ (the only etrade account ...)"."""
        return f"Book: {self.broker} account {self.account or '(none yet)'} ({self.how})"

    def hint(self) -> str | None:
        """Where the positions are when this book has none, or None."""
        if not self.others:
            return None
        where = ", ".join(f"{b} account {a} ({n} open)" for b, a, n in self.others)
        return f"other books in this database: {where}; show one with --broker and --account"


def choose_book(
    cfg: Config, store: Store, broker: str | None = None, account: str | None = None
) -> BookChoice:
    """The book of `broker` (default `[broker] name`) and `account` (default from config, else
    the broker's only account in the book), without contacting any broker.

    Raises:
        UsageError: unknown broker name.
        InputError: no account configured and the book holds several of this broker.
    """
    from . import registry

    name = broker or cfg.broker.name
    spec = registry.brokers.get(name)
    books = store.books()
    acct, how = account or "", "--account"
    if not acct:
        acct, how = spec.account_key(cfg), "from config"
    if not acct:
        mine = [a for b, a, _n in books if b == name]
        if len(mine) > 1:
            raise InputError(
                f"the book holds {len(mine)} {name} accounts ({', '.join(mine)}); choose one "
                f"with --account or [{spec.config_section or name}] account"
            )
        acct = mine[0] if mine else ""
        how = (
            f"the only {name} account in the book; [{spec.config_section or name}] account is "
            "not set"
            if mine
            else f"no {name} run recorded in this book yet"
        )
    others = [(b, a, n) for b, a, n in books if (b, a) != (name, acct) and n > 0]
    return BookChoice(name, acct, how, others)


def starting_cash(store: Store, choice: BookChoice) -> float | None:
    """Starting equity (USD) of the book when the database knows it (paper accounts), else
    None (the report then measures from the first recorded equity)."""
    return store.paper_starting_cash(choice.account) if choice.broker == "paper" else None
