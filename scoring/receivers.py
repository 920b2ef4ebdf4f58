"""Scoring's answers to what the CRM announces (leads.signals). Connected in ScoringConfig.ready().

Each receiver hands over to the debounced, on-commit requests in scoring.rescoring: nothing is
scored or trained inside the sender's transaction. May import scoring's rooms; only apps.py
imports this module.
"""

from scoring import rescoring, selectors
from scoring.models import ScoreHistory


def on_leads_changed(sender, *, lead_ids: list[int], **kwargs) -> None:
    rescoring.lead_rescore_request(lead_ids)


def on_outcomes_imported(sender, *, lead_ids: list[int], new_outcomes: int, **kwargs) -> None:
    rescoring.import_completed(lead_ids=lead_ids, new_outcomes=new_outcomes)


def on_person_data_requested(sender, *, lead, **kwargs) -> dict:
    """The lead's score history for its person-data export (leads.privacy)."""
    return {"score_history": selectors.score_history_export(lead.pk)}


def on_person_erased(sender, *, lead_ids: list[int], **kwargs) -> None:
    """Override reasons are free text a manager typed about the person: cleared with the rest."""
    ScoreHistory.objects.filter(lead_id__in=lead_ids).exclude(override_reason="").update(override_reason="")
