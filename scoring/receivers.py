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


def on_columns_leak_check(sender, *, columns: dict, outcomes: list[int], **kwargs) -> dict[str, float]:
    """The single-column ROC AUC the training's leak check would compute, for the import wizard."""
    import numpy as np
    import pandas as pd

    from scoring import features as F
    from scoring.training import single_column_auc

    y = np.asarray(outcomes, dtype=int)
    if len(y) < 10 or len(set(outcomes)) < 2:
        return {}
    aucs = {}
    for column, (kind, values) in columns.items():
        if kind == F.DATE:
            continue
        kind = kind if kind in (F.NUMBER, F.BOOLEAN) else F.CATEGORY
        series = pd.Series(values, dtype="float64" if kind != F.CATEGORY else "object")
        aucs[column] = round(single_column_auc(series, y, kind), 4)
    return aucs
