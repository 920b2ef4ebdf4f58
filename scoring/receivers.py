"""Scoring's answers to what the CRM announces (leads.signals). Connected in ScoringConfig.ready().

Each receiver hands over to the debounced, on-commit requests in scoring.rescoring: nothing is
scored or trained inside the sender's transaction. May import scoring's rooms; only apps.py
imports this module.
"""

from scoring import rescoring


def on_leads_changed(sender, *, lead_ids: list[int], **kwargs) -> None:
    rescoring.lead_rescore_request(lead_ids)


def on_outcomes_imported(sender, *, lead_ids: list[int], new_outcomes: int, **kwargs) -> None:
    rescoring.import_completed(lead_ids=lead_ids, new_outcomes=new_outcomes)
