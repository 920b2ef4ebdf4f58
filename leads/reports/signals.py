"""Hooks through which other apps add to the manager reports without the reports importing them.

`dashboard_headline_rows` is sent when the dashboard is built; a receiver returns a list of
headline rows ({"metric", "value", "definition"}) that the dashboard appends to its headline
table (page and CSV). scoring connects one for the active model (scoring/apps.py).
"""

from django.dispatch import Signal

dashboard_headline_rows = Signal()


def dashboard_rows_from_receivers() -> list[dict]:
    """Every receiver's headline rows, in the order the receivers were connected."""
    return [row for _receiver, rows in dashboard_headline_rows.send(sender=None) for row in rows or []]
