"""Training a model and the single-flight retrain around it (scoring/training_runs.py)."""

import os

import pytest
from django.core.cache import cache

from leads.models import Lead, LeadRank
from scoring import registry, training_runs
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
def test_challenger_worse_than_the_champion_by_more_than_the_margin_stays_a_candidate(trained):
    # Negative margins: a challenger must be better by a whole unit of AUC and log loss (never).
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)

    second = training_runs.model_train(folds=3)

    second.refresh_from_db()
    trained.refresh_from_db()
    assert second.status == ModelVersion.Status.CANDIDATE
    assert trained.status == ModelVersion.Status.ACTIVE
    assert second.metrics["challenger"]["activate"] is False
    assert "champion" in second.metrics["challenger"]["reason"]


@pytest.mark.django_db
def test_challenger_not_worse_than_the_champion_by_the_margin_is_activated(trained):
    # Wide margins: a challenger may be worse by a whole unit and still replace the champion.
    ScoringSettings.objects.filter(pk=1).update(margin_auc=5.0, margin_log_loss=5.0)

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
def test_retrain_on_more_outcomes_promotes_the_new_model_and_rescores_every_lead(django_capture_on_commit_callbacks):
    outcome_leads_create(200, seed=5, open_leads=10)
    with django_capture_on_commit_callbacks(execute=True):
        first = training_runs.model_train(folds=3)
    first.refresh_from_db()
    assert first.status == ModelVersion.Status.ACTIVE
    before = set(Lead.objects.values_list("pk", flat=True))
    outcome_leads_create(800, seed=12, open_leads=10)  # more outcomes arrive

    with django_capture_on_commit_callbacks(execute=True):
        second = training_runs.model_train(folds=3)

    second.refresh_from_db()
    first.refresh_from_db()
    assert second.status == ModelVersion.Status.ACTIVE and first.status == ModelVersion.Status.RETIRED
    decision = second.metrics["challenger"]
    assert decision["activate"] is True and "replaces the champion" in decision["reason"]
    # Compared on leads the champion never saw: only the new ones.
    assert "neither model was fitted on" in decision["compared_on"]
    assert decision["n_compared"] >= training_runs.MIN_UNSEEN_COMPARISON
    assert set(LeadRank.objects.values_list("model_version_id", flat=True)) == {second.pk}
    assert LeadRank.objects.filter(pk__in=before).exclude(model_version=second).count() == 0
    assert second.metrics["training_set"]["n"] == 1000


@pytest.mark.django_db
def test_a_model_failing_a_gate_is_not_activated_even_as_the_first(settings):
    settings.SCORING_GATE_MIN_AUC = 0.999
    outcome_leads_create(300)

    version = training_runs.model_train(folds=3)

    version.refresh_from_db()
    assert version.status == ModelVersion.Status.CANDIDATE
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()
    assert version.metrics["gates"] and "below 1.00" in version.metrics["gates"][0]
    assert version.metrics["challenger"]["activate"] is False
    assert version.metrics["challenger"]["reason"].startswith("not activated: it failed the activation gates")


@pytest.mark.django_db
def test_a_champion_that_cannot_be_loaded_is_replaced(trained):
    os.remove(trained.artifact_path)
    registry.cache_clear()

    second = training_runs.model_train(folds=3)

    second.refresh_from_db()
    assert second.status == ModelVersion.Status.ACTIVE
    assert "could not score" in second.metrics["challenger"]["reason"]


def test_admins_hear_of_an_activation_and_of_a_refusal_by_the_gates(trained):
    from leads.models import Notification
    from tests.factories import AdminFactory, ManagerFactory

    admin, manager = AdminFactory(username="ada_admin"), ManagerFactory(username="max_manager")
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1.0, margin_log_loss=-1.0)  # must be 1.0 better
    refused = training_runs.model_train(folds=3)  # does not beat the champion by that
    ScoringSettings.objects.filter(pk=1).update(margin_auc=5.0, margin_log_loss=5.0)  # the retrain replaces it
    activated = training_runs.model_train(folds=3)

    told = {(n.kind, n.url) for n in Notification.objects.filter(user=admin)}
    assert told == {("model_refused", f"/models/{refused.pk}/"), ("model_activated", f"/models/{activated.pk}/")}
    assert not Notification.objects.filter(user=manager).exists()


@pytest.mark.django_db
def test_above_the_row_cap_a_model_learns_from_a_seeded_stratified_sample_and_says_so(settings):
    settings.SCORING_TRAINING_MAX_ROWS = 200
    outcome_leads_create(400, open_leads=5)
    closed = dict(Lead.objects.filter(status__in=Lead.CLOSED_STATUSES).values_list("pk", "status"))

    first = training_runs.model_train(folds=3)
    again = training_runs.model_train(folds=3)

    training_set = first.metrics["training_set"]
    assert first.n_rows == training_set["n"] == 200
    assert training_set["closed_leads"] == 400
    assert training_set["sample"]["of"] == 400 and training_set["sample"]["max_rows"] == 200
    assert "200 of the 400 closed leads" in training_set["sample"]["how"]
    learnt = registry.model_load(first).extras["lead_ids"]
    assert set(learnt) <= set(closed)
    # Both outcomes in their share, and the same sample on the same data.
    converted = [closed[int(i)] == Lead.Status.CONVERTED for i in learnt]
    share = sum(status == Lead.Status.CONVERTED for status in closed.values()) / len(closed)
    assert sum(converted) / len(converted) == pytest.approx(share, abs=0.02)
    assert list(registry.model_load(again).extras["lead_ids"]) == list(learnt)


@pytest.mark.django_db
def test_below_the_row_cap_a_model_learns_from_every_closed_lead(trained):
    training_set = trained.metrics["training_set"]

    assert training_set["n"] == training_set["closed_leads"] == 300
    assert training_set["sample"] is None
