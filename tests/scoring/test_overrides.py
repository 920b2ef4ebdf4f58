"""A manager's score override (scoring/overrides.py)."""

import pytest
from django.core.exceptions import PermissionDenied

from leads.models import Lead
from scoring import overrides, rescoring
from scoring.models import ScoreHistory
from tests.scoring.conftest import rescore_all


@pytest.mark.django_db
def test_manager_override_is_kept_beside_the_model_score_and_can_be_undone(trained, manager):
    rescore_all()
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    model_score = lead.score

    lead = overrides.score_override_set(lead=lead, score=99, reason="met at the trade show", by=manager)
    rescoring.leads_rescore(lead_ids=[lead.pk])
    lead.refresh_from_db()

    assert (lead.score_override, lead.score, lead.priority) == (99, model_score, 99)
    assert lead.score_override_by == manager and lead.effective_score == 99
    assert lead.tier == "hot"

    lead = overrides.score_override_clear(lead=lead, by=manager)

    lead.refresh_from_db()
    assert lead.score_override is None and lead.priority == model_score
    assert ScoreHistory.objects.filter(lead=lead, overridden_by=manager).count() == 2


@pytest.mark.django_db
def test_reps_cannot_override(trained, rep):
    lead = Lead.objects.first()
    with pytest.raises(PermissionDenied):
        overrides.score_override_set(lead=lead, score=10, reason="x", by=rep)
