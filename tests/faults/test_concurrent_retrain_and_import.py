"""Two retrains at once: one trains (single-flight through the Redis lock). Two imports of the
same file at once: the same leads and counts as one import. Real threads, each with its own
PostgreSQL connection."""

import threading

import pytest
from django.db import connection

from leads.importing import services as import_services
from leads.models import ImportJob, Lead
from scoring import training_runs
from scoring.models import ModelVersion, TrainingRun
from tests.conftest import wait_for
from tests.leads.import_samples import write, x_education_profile, xeducation_csv
from tests.scoring.conftest import outcome_leads_create

ROWS = 3000


def _at_once(*calls) -> list:
    """Run each call in its own thread (own DB connection), released together; re-raise errors."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index, call):
        try:
            barrier.wait(10)
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_two_retrains_at_once_train_one_model(private_redis, monkeypatch):
    outcome_leads_create(300)
    first, second = (TrainingRun.objects.create(trigger="test") for _ in range(2))
    train = training_runs.model_train

    def train_once_the_other_has_tried(**kwargs):
        # Training 300 rows is quick: hold the lock until the other run has met it, so the two
        # really overlap however the threads are scheduled.
        wait_for(
            lambda: TrainingRun.objects.filter(status=TrainingRun.Status.SKIPPED).exists(),
            timeout=30,
            interval=0.02,
            what="the other retrain to meet the lock",
        )
        return train(**kwargs)

    monkeypatch.setattr(training_runs, "model_train", train_once_the_other_has_tried)

    done = _at_once(
        lambda: training_runs.retrain_run(run_id=first.pk, folds=3),
        lambda: training_runs.retrain_run(run_id=second.pk, folds=3),
    )

    assert sorted(run.status for run in done) == [TrainingRun.Status.SKIPPED, TrainingRun.Status.SUCCEEDED]
    skipped = next(run for run in done if run.status == TrainingRun.Status.SKIPPED)
    assert "Another retrain is running" in skipped.message
    assert ModelVersion.objects.count() == 1
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 1


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_one_queued_retrain_delivered_twice_trains_once(private_redis):
    outcome_leads_create(300)
    run = TrainingRun.objects.create(trigger="test")

    done = _at_once(*(lambda: training_runs.retrain_run(run_id=run.pk, folds=3) for _ in range(2)))

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.message
    assert {d.pk for d in done} == {run.pk}
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_file_at_once_equal_one_import(requires_postgres, settings, tmp_path):
    settings.SCORING_RETRAIN_AFTER_OUTCOMES = 10**9
    profile = x_education_profile()
    path = write(tmp_path, xeducation_csv(ROWS))
    jobs = [import_services.import_job_create(file=path, user=None, profile=profile, chunk_rows=250) for _ in range(2)]

    done = _at_once(*(lambda job=job: import_services.import_job_run(job_id=job.pk) for job in jobs))

    assert [job.status for job in done] == [ImportJob.Status.SUCCEEDED] * 2, [job.error for job in done]
    assert Lead.objects.count() == ROWS
    assert Lead.objects.values("external_id").distinct().count() == ROWS
    assert sum(job.created_count for job in done) == ROWS
    for job in done:
        assert job.rows_done == ROWS
        assert job.created_count + job.updated_count + job.unchanged_count == ROWS
    first, second = (ImportJob.objects.get(pk=job.pk) for job in done)
    assert max(first.started_at, second.started_at) < min(first.finished_at, second.finished_at)  # they overlapped
    # Identical rows: whichever import wrote a lead second found nothing to change.
    assert sum(job.updated_count for job in done) == 0
