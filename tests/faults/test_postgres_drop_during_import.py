"""PostgreSQL drops the importing worker's connections mid-file: the chunk in flight rolls back,
the job is marked failed with the reason, and re-running it ends exactly like a clean import."""

import pytest
from django.db import connection

from leadcrm.celery import app as celery_app
from leads.importing import services
from leads.models import ImportJob, Lead
from tests.conftest import wait_for
from tests.leads.import_samples import write, x_education_profile, xeducation_csv

ROWS = 8_000
CHUNK = 100
# (created_at and converted_at are the import's time when the file has no date: left out.)
FIELDS = ("external_id", "name", "email", "phone", "company", "source", "origin", "status", "lost_reason", "attributes")


def _terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _leads_snapshot() -> list[tuple]:
    return sorted(Lead.objects.values_list(*FIELDS), key=lambda row: row[0])


def _wait_finished(job: ImportJob) -> ImportJob:
    def finished():
        job.refresh_from_db()
        return job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)

    wait_for(finished, timeout=90, interval=0.02, what=f"import #{job.pk} to finish")
    return job


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_connection_drop_mid_import_fails_the_job_and_a_rerun_equals_a_clean_import(private_worker, tmp_path, settings):
    settings.SCORING_RETRAIN_AFTER_OUTCOMES = 10**9  # the in-process clean import below: no retrain
    private_worker.start()
    profile = x_education_profile()
    path = write(tmp_path, xeducation_csv(ROWS))
    job = services.import_job_create(file=path, user=None, profile=profile, chunk_rows=CHUNK)
    services.import_job_dispatch(job)

    def mid_file():
        job.refresh_from_db()
        return job.status == ImportJob.Status.RUNNING and job.rows_done >= 5 * CHUNK

    wait_for(mid_file, timeout=60, interval=0.01, what="the import to be part-way through")
    assert _terminate_other_backends() >= 1

    _wait_finished(job)
    assert job.status == ImportJob.Status.FAILED
    assert "the database connection was lost (" in job.error, job.error
    assert 0 < job.rows_done < ROWS and job.rows_done % CHUNK == 0
    assert Lead.objects.count() == job.rows_done  # the chunk in flight rolled back

    services.import_job_resume(job=job)  # what the Resume button does
    _wait_finished(job)
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert (job.rows_done, job.created_count, job.updated_count, job.failed_count) == (ROWS, ROWS, 0, 0)
    assert Lead.objects.count() == ROWS
    assert Lead.objects.values("external_id").distinct().count() == ROWS
    resumed = _leads_snapshot()

    # Importing the file again changes nothing.
    again = services.import_job_create(file=path, user=None, profile=profile, chunk_rows=CHUNK)
    services.import_job_dispatch(again)
    _wait_finished(again)
    assert (again.status, again.created_count, again.unchanged_count) == (ImportJob.Status.SUCCEEDED, 0, ROWS)
    assert _leads_snapshot() == resumed

    # A clean import of the same file, into an empty table, gives the same rows.
    private_worker.stop()
    Lead.objects.all().delete()
    celery_app.conf.task_always_eager = True
    clean = services.import_job_create(file=path, user=None, profile=profile, chunk_rows=5000)
    clean = services.import_job_run(job_id=clean.pk)
    assert (clean.status, clean.created_count) == (ImportJob.Status.SUCCEEDED, ROWS)
    assert _leads_snapshot() == resumed
