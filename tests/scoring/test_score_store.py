"""Writing scores in bulk (scoring/score_store.py), on the database the suite runs on."""

import pytest
from django.utils import timezone

from leads.models import Lead, LeadRank
from scoring import score_store
from scoring.models import ModelVersion, ScoreHistory
from scoring.score_store import Scored, scores_write
from tests.factories import LeadFactory


@pytest.mark.django_db
def test_scores_write_touches_only_changes_and_priority_follows_an_override(rep):
    plain, overridden = LeadFactory(owner=rep), LeadFactory(owner=rep)
    LeadRank.objects.filter(pk=overridden.pk).update(score_override=90, priority=90)
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


@pytest.mark.django_db
def test_an_unchanged_score_moves_scored_at_only_when_asked(rep, monkeypatch):
    monkeypatch.setattr(score_store, "STAMP_BATCH", 1)
    lead, other = LeadFactory(owner=rep), LeadFactory(owner=rep)
    rows = [Scored(lead.pk, 0.4, 40, "warm", []), Scored(other.pk, 0.3, 30, "warm", [])]
    first = timezone.now()
    scores_write(rows, version_id=None, scored_at=first)
    later = first + timezone.timedelta(minutes=5)

    assert scores_write(rows, version_id=None, scored_at=later) == 0
    assert Lead.objects.get(pk=lead.pk).scored_at == first  # a full run leaves an unchanged row alone

    assert scores_write(rows, version_id=None, scored_at=later, stamp_unchanged=True) == 0  # no score changed
    assert list(LeadRank.objects.filter(pk__in=[lead.pk, other.pk]).values_list("scored_at", flat=True)) == [later] * 2
    assert ScoreHistory.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db
def test_score_history_follows_a_deleted_lead_and_version_without_database_constraints(rep):
    version = ModelVersion.objects.create(algorithm="lr", artifact_path="x.skops")
    kept, deleted = LeadFactory(owner=rep), LeadFactory(owner=rep)
    rows = [Scored(kept.pk, 0.4, 40, "warm", []), Scored(deleted.pk, 0.5, 50, "warm", [])]
    scores_write(rows, version_id=version.pk, scored_at=timezone.now())

    deleted.delete()
    version.delete()

    assert not ScoreHistory.objects.filter(lead_id=deleted.pk).exists()
    assert list(ScoreHistory.objects.filter(lead=kept).values_list("model_version_id", flat=True)) == [None]
    # The rank row's key has no database constraint either (migration leads/0019): Django sets it null.
    assert LeadRank.objects.get(pk=kept.pk).model_version_id is None
