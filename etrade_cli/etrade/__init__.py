"""The E*TRADE v1 API: OAuth 1.0a (`auth`), one REST client (`client`), JSON -> dataclasses
(`models`) and order-payload builders (`orders`).

Kept empty but for constants that commands check before anything heavy is imported (this file
also makes the folder a regular package, so that a wheel build includes it).
"""

#: the fields of `models.Quote`, in `etrade quote --fields` order
QUOTE_FIELDS = (
    "symbol",
    "last",
    "change",
    "change_pct",
    "bid",
    "ask",
    "open",
    "high",
    "low",
    "previous_close",
    "volume",
    "time_utc",
    "quote_status",
    "description",
)
