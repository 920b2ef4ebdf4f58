import pytest

from leads.models import Lead
from scoring import tasks
from scoring.models import ModelVersion, TrainingRun
from tests.conftest import wait_for
from tests.scoring.conftest import outcome_leads_create


@pytest.mark.django_db
def test_rescore_task_with_ids_scores_those_leads(trained):
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    Lead.objects.filter(pk=lead.pk).update(score=None, scored_at=None)

    tasks.rescore_leads.delay(lead_ids=[lead.pk])

    lead.refresh_from_db()
    assert lead.score is not None


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_a_real_worker_retrains_and_rescores(celery_worker_process, settings):
    outcome_leads_create(300)
    run = TrainingRun.objects.create(trigger="test")

    tasks.retrain_model.delay(run_id=run.pk, folds=3)

    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, timeout=120, what="the retrain")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.message
    version = ModelVersion.objects.get(status="active")
    # Activation queued a rescore of every lead on the worker.
    wait_for(lambda: not Lead.objects.filter(model_version__isnull=True).exists(), timeout=120, what="the rescore")
    assert set(Lead.objects.values_list("model_version_id", flat=True)) == {version.pk}

    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    Lead.objects.filter(pk=lead.pk).update(score=None)
    tasks.rescore_leads.delay(lead_ids=[lead.pk])
    wait_for(lambda: Lead.objects.get(pk=lead.pk).score is not None, timeout=60, what="the lead rescore")


@pytest.mark.django_db
def test_refresh_monitoring_task_caches_the_active_models_drift_and_observed_conversion(django_assert_num_queries):
    from scoring import drift
    from tests.reports.conftest import contract_metrics

    assert tasks.refresh_monitoring.delay().get() == {}  # no active model: nothing to refresh
    reference = {"source": {"kind": "categorical", "fractions": {"Google": 1.0}}}
    version = ModelVersion.objects.create(status="active", metrics=contract_metrics(reference=reference))
    assert drift.drift_cached_for(version) is None
    timings = tasks.refresh_monitoring.delay().get()
    assert set(timings) == {"observed", "drift"}
    with django_assert_num_queries(0):
        assert drift.drift_cached_for(version) is not None


def test_refresh_monitoring_task_is_registered_with_the_worker_and_the_beat():
    from django.conf import settings

    from leadcrm.celery import app

    app.loader.import_default_modules()
    assert "scoring.refresh_monitoring" in app.tasks
    tasks_on_beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"scoring.refresh_monitoring", "reports.refresh_summaries"} <= tasks_on_beat
