"""E*TRADE responses shaped exactly as in the project's API reference (`etrade_api.md`):
capitalized containers, arrays for repeated elements, form-encoded OAuth bodies, HTML 401s."""

from __future__ import annotations

SANDBOX = "https://apisb.etrade.com"
OAUTH = "https://api.etrade.com/oauth"
KEY = "JIdOIAcSpwR1Jva7RQBraQ"
CLOSED_KEY = "xj1Dc18FTqWPqkEEVUr5rw"

REQUEST_TOKEN_BODY = (
    "oauth_token=%2FiQRgQCRGPo7Xdk6G8QDSEzX0Jsy6sKNcULcDavAGgU%3D&"
    "oauth_token_secret=%2FrC9scEpzcwSEMy4vE7nodSzPLqfRINnTNY4voczyFM%3D&"
    "oauth_callback_confirmed=true"
)
ACCESS_TOKEN_BODY = (
    "oauth_token=%2FTiQRgQCRGPo7Xdk6G8QDSEzX0Jsy6sKNcULcDavAGgU%3D&"
    "oauth_token_secret=%2FRrC9scEpzcwSEMy4vE7nodSzPLqfRINnTNY4voczyFM%3D"
)

ACCOUNTS = {
    "AccountListResponse": {
        "Accounts": {
            "Account": [
                {
                    "accountId": "840104290",
                    "accountIdKey": KEY,
                    "accountMode": "MARGIN",
                    "accountDesc": "INDIVIDUAL",
                    "accountName": "Individual Brokerage",
                    "accountType": "INDIVIDUAL",
                    "institutionType": "BROKERAGE",
                    "accountStatus": "ACTIVE",
                    "closedDate": 0,
                },
                {
                    "accountId": "840104299",
                    "accountIdKey": CLOSED_KEY,
                    "accountMode": "CASH",
                    "accountDesc": "OLD",
                    "accountName": "",
                    "accountType": "INDIVIDUAL",
                    "institutionType": "BROKERAGE",
                    "accountStatus": "CLOSED",
                    "closedDate": 1521027780,
                },
            ]
        }
    }
}

BALANCE = {
    "BalanceResponse": {
        "accountId": "58315636",
        "accountType": "MARGIN",
        "optionLevel": "LEVEL_4",
        "accountDescription": "JOHN DOE",
        "quoteMode": 1,
        "dayTraderStatus": "NO_PDT",
        "accountMode": "MARGIN",
        "Cash": {"fundsForOpenOrdersCash": 0, "moneyMktBalance": 0},
        "Computed": {
            "cashAvailableForInvestment": 0,
            "cashAvailableForWithdrawal": 0,
            "totalAvailableForWithdrawal": 2155,
            "netCash": 2155,
            "cashBalance": 0,
            "settledCashForInvestment": 0,
            "unSettledCashForInvestment": 0,
            "fundsWithheldFromPurchasePower": 0,
            "fundsWithheldFromWithdrawal": 0,
            "marginBuyingPower": 4310,
            "cashBuyingPower": 2155,
            "dtMarginBuyingPower": 0,
            "dtCashBuyingPower": 0,
            "marginBalance": -2977.14,
            "shortAdjustBalance": 2913.88,
            "regtEquity": 10205.6084,
            "regtEquityPercent": 63.402149483676965,
            "accountBalance": -63.26,
            "OpenCalls": {"minEquityCall": 0, "fedCall": 0, "cashCall": 0, "houseCall": 0},
            "RealTimeValues": {
                "totalAccountValue": 10201.5284,
                "netMv": 10264.7884,
                "netMvLong": 13178.6684,
                "netMvShort": -2913.88,
            },
        },
    }
}


def portfolio(*positions: tuple[str, int, float]) -> dict:
    return {
        "PortfolioResponse": {
            "AccountPortfolio": [
                {
                    "accountId": "45249801",
                    "totalPages": 1,
                    "Position": [
                        {
                            "positionId": 47537061900 + i,
                            "symbolDescription": sym,
                            "dateAcquired": 1582520400000,
                            "pricePaid": price,
                            "commissions": 0,
                            "otherFees": 0,
                            "quantity": qty,
                            "positionIndicator": "TYPE1",
                            "positionType": "LONG",
                            "daysGain": -0.3497,
                            "daysGainPct": -0.4697,
                            "marketValue": qty * price,
                            "totalCost": qty * price,
                            "totalGain": 0.0,
                            "totalGainPct": 0.0,
                            "pctOfPortfolio": 1.6977,
                            "costPerShare": price,
                            "todayCommissions": 0,
                            "todayFees": 0,
                            "todayPricePaid": price,
                            "todayQuantity": qty,
                            "adjPrevClose": price,
                            "lotsDetails": f"https://api.etrade.com/v1/accounts/<key>/portfolio/{i}.json",
                            "quoteDetails": f"https://api.etrade.com/v1/market/quote/{sym}.json",
                            "Product": {
                                "symbol": sym,
                                "securityType": "EQ",
                                "expiryYear": 0,
                                "expiryMonth": 0,
                                "expiryDay": 0,
                                "strikePrice": 0,
                            },
                            "Quick": {"lastTrade": price, "lastTradeTime": 1582571280},
                        }
                        for i, (sym, qty, price) in enumerate(positions)
                    ],
                }
            ]
        }
    }


def quote_data(symbol: str, last: float) -> dict:
    return {
        "dateTime": "09:06:38 EDT 03-12-2020",
        "dateTimeUTC": 1584018398,
        "quoteStatus": "CLOSING",
        "ahFlag": "true",
        "hasMiniOptions": False,
        "All": {
            "adjustedFlag": False,
            "ask": last + 0.03,
            "askSize": 3000,
            "bid": last - 0.02,
            "bidSize": 1400,
            "changeClose": 0.5,
            "changeClosePercentage": 1.2,
            "companyName": f"{symbol} INC",
            "high": last + 1,
            "low": last - 1,
            "lastTrade": last,
            "open": last - 0.5,
            "previousClose": last - 0.5,
            "symbolDescription": f"{symbol} INC COM",
            "totalVolume": 5613715,
            "timeOfLastTrade": 1583956800,
        },
        "Product": {"symbol": symbol, "securityType": "EQ"},
    }


def quotes(*pairs: tuple[str, float], invalid: tuple[str, ...] = ()) -> dict:
    body: dict = {"QuoteResponse": {"QuoteData": [quote_data(s, p) for s, p in pairs]}}
    if invalid:
        body["QuoteResponse"]["Messages"] = {
            "Message": [
                {"description": f"{s} is not a valid symbol.", "code": 1019, "type": "WARNING"}
                for s in invalid
            ]
        }
    return body


def preview_response(symbol="FB", qty=1, preview_id=3429395279) -> dict:
    return {
        "PreviewOrderResponse": {
            "orderType": "EQ",
            "totalOrderValue": 175.95,
            "previewTime": 1549318085462,
            "dstFlag": False,
            "accountId": "838796270",
            "optionLevelCd": 4,
            "marginLevelCd": "MARGIN_TRADING_ALLOWED",
            "Order": [
                {
                    "orderTerm": "GOOD_FOR_DAY",
                    "priceType": "LIMIT",
                    "limitPrice": 169,
                    "stopPrice": 0,
                    "marketSession": "REGULAR",
                    "allOrNone": False,
                    "messages": {
                        "Message": [
                            {
                                "description": "DTBP is negative but RegTBP is positive",
                                "code": 3041,
                                "type": "WARNING",
                            }
                        ]
                    },
                    "egQual": "EG_QUAL_NOT_A_MARKET_ORDER",
                    "estimatedCommission": 6.95,
                    "estimatedTotalAmount": 175.95,
                    "netPrice": 0,
                    "netBid": 0,
                    "netAsk": 0,
                    "gcd": 0,
                    "ratio": "",
                    "Instrument": [
                        {
                            "symbolDescription": "FACEBOOK INC CL A",
                            "orderAction": "BUY",
                            "quantityType": "QUANTITY",
                            "quantity": qty,
                            "cancelQuantity": 0,
                            "reserveOrder": True,
                            "reserveQuantity": 0,
                            "Product": {"symbol": symbol, "securityType": "EQ"},
                        }
                    ],
                }
            ],
            "PreviewIds": [{"previewId": preview_id}],
            "Disclosure": {
                "ehDisclosureFlag": True,
                "ahDisclosureFlag": True,
                "conditionalDisclosureFlag": True,
                "aoDisclosureFlag": False,
            },
        }
    }


def place_response(order_id=485, code=1026) -> dict:
    text = {
        1026: "200|Your order was successfully entered during market hours.",
        1027: "200|The market was closed when we received your order.",
    }[code]
    return {
        "PlaceOrderResponse": {
            "orderType": "EQ",
            "dstFlag": False,
            "optionLevelCd": 4,
            "marginLevelCd": "MARGIN_TRADING_ALLOWED",
            "placedTime": 1549318099447,
            "accountId": "838796270",
            "Order": [
                {
                    "orderTerm": "GOOD_FOR_DAY",
                    "priceType": "MARKET",
                    "messages": {
                        "Message": [{"description": text, "code": code, "type": "WARNING"}]
                    },
                }
            ],
            "OrderIds": [{"orderId": order_id}],
        }
    }


def order(
    order_id: int,
    symbol: str,
    action: str,
    qty: int,
    filled: float,
    status: str,
    avg: float = 0.0,
    price_type: str = "MARKET",
    placed_ms: int = 1676490079653,
    limit: float = 0,
) -> dict:
    return {
        "orderId": order_id,
        "details": f"https://api.etrade.com/v1/accounts/<key>/orders/{order_id}.json",
        "orderType": "EQ",
        "OrderDetail": [
            {
                "placedTime": placed_ms,
                "executedTime": placed_ms + 1201,
                "orderValue": qty * avg,
                "status": status,
                "orderTerm": "GOOD_FOR_DAY",
                "priceType": price_type,
                "limitPrice": limit,
                "stopPrice": 0,
                "marketSession": "REGULAR",
                "allOrNone": False,
                "netPrice": 0,
                "netBid": 0,
                "netAsk": 0,
                "gcd": 0,
                "ratio": "",
                "Instrument": [
                    {
                        "symbolDescription": symbol,
                        "orderAction": action,
                        "quantityType": "QUANTITY",
                        "orderedQuantity": qty,
                        "filledQuantity": filled,
                        "averageExecutionPrice": avg,
                        "estimatedCommission": 0.0001,
                        "estimatedFees": 0.0074,
                        "Product": {"symbol": symbol, "securityType": "EQ"},
                    }
                ],
            }
        ],
    }


def orders(*items: dict, marker: str | None = None) -> dict:
    body: dict = {"OrdersResponse": {"Order": list(items)}}
    if marker:
        body["OrdersResponse"]["marker"] = marker
        body["OrdersResponse"]["next"] = (
            f"https://api.etrade.com/v1/accounts/<key>/orders?marker={marker}"
        )
    return body


CANCEL = {
    "CancelOrderResponse": {
        "accountId": "83710800",
        "orderId": 773,
        "cancelTime": 1549318099447,
        "Messages": {
            "Message": [
                {
                    "code": 5011,
                    "type": "WARNING",
                    "description": "200|Your request to cancel your order is being processed.",
                }
            ]
        },
    }
}


def error(code: int, message: str) -> dict:
    return {"Error": {"code": code, "message": message}}


def html_401(problem: str) -> str:
    return (
        f"<html><head><title>Apache Tomcat - Error report</title></head><body>"
        f"<h1>HTTP Status 401 - oauth_problem={problem}</h1><p>This request requires HTTP "
        f"authentication (oauth_problem={problem}).</p></body></html>"
    )


RATE_LIMIT_PAGE = (
    "<html><body><h1>Error</h1><p>Number of requests exceeded the rate limit set</p></body></html>"
)


#: E*TRADE's servlet container error page (an HTTP 5xx answered by the front end)
TOMCAT_500 = (
    "<html><head><title>Apache Tomcat/7.0.70 - Error report</title><style><!--H1 "
    "{font-family:Tahoma,Arial,sans-serif;color:white;background-color:#525D76;}--></style> "
    '</head><body><h1>HTTP Status 500 - </h1><HR size="1" noshade="noshade"><p><b>type'
    "</b> Status report</p><p><b>message</b> <u></u></p><p><b>description</b> <u>The server "
    "encountered an internal error that prevented it from fulfilling this request.</u></p>"
    '<HR size="1" noshade="noshade"><h3>Apache Tomcat/7.0.70</h3></body></html>'
)
