"""`python -m etrade_cli`."""

from etrade_cli.cli import main

if __name__ == "__main__":
    main()
