"""The `http` strategy: trade proposals from an external signal service.

`client.py` talks HTTP (bearer token, bounded timeouts), `contract.py` builds the requests and
checks every answer against the contract (`etrade_cli/schemas/signal_service.json`), and
`strategy.py` puts both behind the strategy seam as a `Proposer`. The engine
(`engine/proposals.py`) runs its own risk checks on every proposal, journals it before sending
and keeps the rewards in the book until the service accepts them.
"""
