"""etrade-cli: run an E*TRADE account from the terminal, scripts and cron."""

__version__ = "0.1.0"
