import pytest
from django.db.models import F

from leadcrm.celery import app as celery_app
from leads.models import Lead, LeadRank
from scoring import rescoring, tasks, training_runs
from scoring.models import ModelVersion, RescorePartition, RescoreRun, TrainingRun
from tests.conftest import WorkerHandle, _database_url_for_subprocess, wait_for
from tests.scoring.conftest import outcome_leads_create


@pytest.mark.django_db
def test_rescore_task_with_ids_scores_those_leads(trained):
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    LeadRank.objects.filter(pk=lead.pk).update(score=None, scored_at=None)

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
    wait_for(lambda: not LeadRank.objects.filter(model_version__isnull=True).exists(), timeout=120, what="the rescore")
    assert set(LeadRank.objects.values_list("model_version_id", flat=True)) == {version.pk}

    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    LeadRank.objects.filter(pk=lead.pk).update(score=None)
    tasks.rescore_leads.delay(lead_ids=[lead.pk])
    wait_for(lambda: Lead.objects.get(pk=lead.pk).score is not None, timeout=60, what="the lead rescore")


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_two_real_workers_share_a_full_rescores_partitions_and_score_with_the_runs_version(
    celery_worker_process, settings
):
    celery_app.conf.task_always_eager = True  # train and activate here (its first rescore runs inline)
    outcome_leads_create(300, open_leads=1700)
    version = training_runs.model_train(folds=3)
    celery_app.conf.task_always_eager = False
    LeadRank.objects.update(score=None, model_version=None, priority=-1, scored_at=None)
    total = Lead.objects.count()
    env = {"SCORING_RESCORE_PARTITION_SIZE": "125", "SCORING_RESCORE_CHUNK": "25"}
    celery_worker_process.env.update(env)
    celery_worker_process.restart()
    second = WorkerHandle(celery_worker_process.env["REDIS_URL"], _database_url_for_subprocess())
    second.command = (*WorkerHandle.command, "--hostname=second@%h")  # a node name of its own
    second.env.update(env)
    second.start()
    try:
        # start() returns once any worker answers; the partitions go out only when both are taking tasks.
        wait_for(
            lambda: any(name.startswith("second@") for reply in celery_app.control.ping(timeout=0.5) for name in reply),
            timeout=60,
            what="the second worker to answer",
        )
        run = rescoring.rescore_all_request()
        wait_for(
            lambda: RescoreRun.objects.get(pk=run.pk).status != RescoreRun.Status.RUNNING,
            timeout=120,
            what="both workers to finish the rescore's partitions",
        )
    finally:
        second.stop()

    run.refresh_from_db()
    assert run.status == RescoreRun.Status.DONE
    assert run.partitions_total == run.partitions_done == total // 125 == 16
    assert run.scored == total
    partitions = RescorePartition.objects.filter(run=run)
    assert set(partitions.values_list("status", flat=True)) == {RescorePartition.Status.DONE}
    takers = set(partitions.values_list("claimed_by", flat=True))
    pids = {celery_worker_process.process.pid, second.process.pid}
    assert {int(taker.rsplit(":", 1)[1]) for taker in takers} == pids  # both workers took partitions
    assert set(LeadRank.objects.values_list("model_version_id", flat=True)) == {version.pk}
    assert not LeadRank.objects.filter(scored_at__lt=run.as_of).exists()
    assert not LeadRank.objects.exclude(priority=F("score")).exists()


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
