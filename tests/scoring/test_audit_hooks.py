"""Scoring's audited actions (activation, rollback, overrides) and its part in a person's data."""

import pytest

from leads import privacy
from leads.models import AuditEntry, Lead
from scoring import activation, overrides, training_runs
from scoring.models import ScoreHistory, ScoringSettings


@pytest.mark.django_db
def test_activation_and_rollback_are_audited(trained, admin_user):
    first = AuditEntry.objects.get(action="model_activate", target_id=str(trained.pk))
    assert first.actor_name == "system"  # the first model activates itself after training
    ScoringSettings.objects.filter(pk=1).update(margin_auc=5.0, margin_log_loss=5.0)  # the retrain replaces it
    second = training_runs.model_train(folds=3)

    activation.model_rollback(by=admin_user)

    rollback = AuditEntry.objects.get(action="model_rollback")
    assert rollback.actor == admin_user and rollback.target_type == "scoring.modelversion"
    assert rollback.target_id == str(trained.pk) and rollback.details["previous"] == second.pk


@pytest.mark.django_db
def test_activation_from_the_page_is_audited_with_the_admin(trained, admin_user, client):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)  # the retrain stays a candidate
    candidate = training_runs.model_train(folds=3)
    client.force_login(admin_user)
    client.post(f"/models/{candidate.pk}/activate/", REMOTE_ADDR="203.0.113.9")
    entry = AuditEntry.objects.get(action="model_activate", target_id=str(candidate.pk))
    assert (entry.actor, entry.ip_address) == (admin_user, "203.0.113.9")


@pytest.mark.django_db
def test_score_overrides_are_audited(trained, manager):
    lead = Lead.objects.filter(status__in=Lead.OPEN_STATUSES).first()
    overrides.score_override_set(lead=lead, score=90, reason="met at the fair", by=manager)
    overrides.score_override_clear(lead=lead, by=manager)
    entries = AuditEntry.objects.filter(target_type="leads.lead", target_id=str(lead.pk)).order_by("id")
    assert [(e.action, e.actor, e.details) for e in entries] == [
        ("score_override", manager, {"score": 90}),
        ("score_override_cleared", manager, {}),
    ]


@pytest.mark.django_db
def test_person_export_has_the_score_history_and_erasure_clears_override_reasons(trained, manager, admin_user):
    lead = Lead.objects.filter(status__in=Lead.OPEN_STATUSES).first()
    overrides.score_override_set(lead=lead, score=90, reason="the CEO's cousin", by=manager)

    data = privacy.person_data_export(lead=lead, by=admin_user)
    reasons = [row["override_reason"] for row in data["score_history"]]
    assert "the CEO's cousin" in reasons

    privacy.person_erase(lead=lead, by=admin_user)
    assert not ScoreHistory.objects.filter(lead=lead).exclude(override_reason="").exists()
    assert ScoreHistory.objects.filter(lead=lead).count() == len(data["score_history"])  # the scores stay
