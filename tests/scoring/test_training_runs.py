"""Training a model and the single-flight retrain around it (scoring/training_runs.py)."""

import pytest
from django.core.cache import cache

from leads.models import Lead
from scoring import training_runs
from scoring.models import ActivationEvent, ModelVersion, ScoreHistory, ScoringSettings, TrainingRun
from tests.scoring.conftest import outcome_leads_create


@pytest.mark.django_db
def test_first_model_activates_and_scores_every_lead_with_reasons(django_capture_on_commit_callbacks):
    outcome_leads_create(300)

    with django_capture_on_commit_callbacks(execute=True):
        version = training_runs.model_train(folds=3)

    version.refresh_from_db()
    assert version.status == ModelVersion.Status.ACTIVE
    assert ActivationEvent.objects.filter(model_version=version, previous=None).exists()
    leads = list(Lead.objects.all())
    assert all(lead.model_version_id == version.pk for lead in leads)
    assert all(lead.priority == lead.score for lead in leads)
    lead = next(lead for lead in leads if lead.score_reasons)
    reason = lead.score_reasons[0]
    assert set(reason) == {"feature", "text", "impact"}
    assert reason["text"].endswith(f"({reason['impact']:+.0f})")
    impacts = [abs(r["impact"]) for r in lead.score_reasons]
    assert impacts == sorted(impacts, reverse=True)
    assert ScoreHistory.objects.filter(model_version=version).count() == len(leads)
    assert version.features["used"] and "global_factors" in version.features
    assert version.metrics["holdout"]["roc_auc"] > 0.6


@pytest.mark.django_db
def test_challenger_that_does_not_beat_the_champion_stays_a_candidate(trained):
    second = training_runs.model_train(folds=3)

    second.refresh_from_db()
    trained.refresh_from_db()
    assert second.status == ModelVersion.Status.CANDIDATE
    assert trained.status == ModelVersion.Status.ACTIVE
    assert second.metrics["challenger"]["activate"] is False
    assert "champion" in second.metrics["challenger"]["reason"]


@pytest.mark.django_db
def test_challenger_that_beats_the_champion_by_the_margin_is_activated(trained):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)

    second = training_runs.model_train(folds=3)

    second.refresh_from_db()
    assert second.status == ModelVersion.Status.ACTIVE
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 1


@pytest.mark.django_db
def test_retrain_is_single_flight(outcome_leads):
    outcome_leads(200)
    cache.add(training_runs.RETRAIN_LOCK_KEY, "someone-else", timeout=60)

    run = training_runs.retrain_run(trigger="test")

    assert run.status == TrainingRun.Status.SKIPPED
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_retrain_that_lost_its_lock_does_not_activate(outcome_leads, monkeypatch):
    outcome_leads(200)
    original = training_runs.model_train

    def train_then_lose_lock(**kwargs):
        may_activate = kwargs["may_activate"]

        def lost():
            cache.set(training_runs.RETRAIN_LOCK_KEY, "another-run", 60)
            return may_activate()

        return original(**{**kwargs, "may_activate": lost})

    monkeypatch.setattr(training_runs, "model_train", train_then_lose_lock)

    run = training_runs.retrain_run(trigger="test", folds=3)

    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.model_version.status == ModelVersion.Status.CANDIDATE
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()


@pytest.mark.django_db
def test_retrain_run_reports_progress_and_refusal(settings):
    outcome_leads_create(20)

    run = training_runs.retrain_run(trigger="test", folds=3)

    assert run.status == TrainingRun.Status.REFUSED and run.progress == 100
    assert run.message.startswith("model not trained yet")


@pytest.mark.django_db
def test_admins_hear_of_an_activation_and_of_a_refusal_by_the_gates(trained):
    from leads.models import Notification
    from tests.factories import AdminFactory, ManagerFactory

    admin, manager = AdminFactory(username="ada_admin"), ManagerFactory(username="max_manager")
    refused = training_runs.model_train(folds=3)  # does not beat the champion
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)
    activated = training_runs.model_train(folds=3)

    told = {(n.kind, n.url) for n in Notification.objects.filter(user=admin)}
    assert told == {("model_refused", f"/models/{refused.pk}/"), ("model_activated", f"/models/{activated.pk}/")}
    assert not Notification.objects.filter(user=manager).exists()
