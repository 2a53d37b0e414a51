"""The test suite (a regular package, so that a third-party top-level `tests` package, such as the one schwab-py 1.5 installs, cannot shadow it)."""
