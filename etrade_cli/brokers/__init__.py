"""Brokers behind one small interface (`base.Broker`): `paper` (default) and, later, `etrade`."""
