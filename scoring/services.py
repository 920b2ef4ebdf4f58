"""Scoring services. The CRM calls lead_rescore_request() whenever a lead changes."""

from django.db import transaction


def lead_rescore_request(lead_ids: list[int]) -> None:
    """Ask for the given leads to be rescored shortly after the current transaction commits."""
    ids = [int(i) for i in lead_ids if i is not None]
    if not ids:
        return
    from scoring.tasks import rescore_leads

    transaction.on_commit(lambda: rescore_leads.delay(lead_ids=ids))


def import_completed(*, lead_ids: list[int], new_outcomes: int) -> None:
    """Called by the import pipeline after an import commits: rescore what changed and, when
    enough new outcomes arrived, ask for a retrain. (Seam: the scoring engine fills it in.)"""
    lead_rescore_request(lead_ids)
