"""Writing scores in bulk (scoring/score_store.py), on the database the suite runs on."""

import pytest
from django.utils import timezone

from leads.models import Lead
from scoring.models import ScoreHistory
from scoring.score_store import Scored, scores_write
from tests.factories import LeadFactory


@pytest.mark.django_db
def test_scores_write_touches_only_changes_and_priority_follows_an_override(rep):
    plain, overridden = LeadFactory(owner=rep), LeadFactory(owner=rep)
    Lead.objects.filter(pk=overridden.pk).update(score_override=90, priority=90)
    tier_before = Lead.objects.get(pk=overridden.pk).tier
    reasons = [{"feature": "plan", "text": "plan is pro (+3)", "impact": 3}]
    rows = [Scored(plain.pk, 0.7, 70, "hot", reasons), Scored(overridden.pk, 0.2, 20, "cold", [])]
    at = timezone.now()

    assert scores_write(rows, version_id=None, scored_at=at) == 2
    assert scores_write(rows, version_id=None, scored_at=at) == 0  # re-running changes nothing

    plain.refresh_from_db()
    overridden.refresh_from_db()
    assert (plain.score, plain.probability, plain.tier, plain.priority) == (70, 0.7, "hot", 70)
    assert plain.score_reasons == reasons
    assert (overridden.score, overridden.priority, overridden.tier) == (20, 90, tier_before)
    assert ScoreHistory.objects.filter(lead__in=[plain, overridden]).count() == 2


@pytest.mark.django_db
def test_scores_write_with_no_rows_writes_nothing():
    assert scores_write([], version_id=None, scored_at=timezone.now()) == 0
