"""A real Celery worker killed in the middle of an import: nothing half-written, and the next
worker resumes the job after its last committed chunk."""

import time

import pytest

from leads.importing import services
from leads.importing.tasks import import_run
from leads.models import ImportJob, Lead
from tests.conftest import wait_for
from tests.leads.import_samples import write, x_education_profile, xeducation_csv

ROWS = 20_000
CHUNK = 100


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_worker_killed_mid_file_leaves_whole_chunks_and_the_next_worker_resumes(celery_worker_process, tmp_path):
    handle = celery_worker_process
    # The worker must see this test's uploaded files, and treat a silent job as stale after 1 s.
    handle.env.update({"LEADCRM_VAR_DIR": str(tmp_path), "IMPORT_STALE_SECONDS": "1"})
    handle.restart()

    profile = x_education_profile()
    job = services.import_job_create(
        file=write(tmp_path, xeducation_csv(ROWS)), user=None, profile=profile, chunk_rows=CHUNK
    )
    import_run.delay(job.pk)

    def mid_file():
        job.refresh_from_db()
        return job.status == ImportJob.Status.RUNNING and job.rows_done >= 5 * CHUNK

    wait_for(mid_file, timeout=60, interval=0.02, what="the import to be part-way through")
    handle.kill()

    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    assert 0 < job.rows_done < ROWS
    assert job.rows_done % CHUNK == 0
    assert Lead.objects.count() == job.rows_done  # only whole committed chunks

    time.sleep(1.5)  # let the heartbeat go stale
    handle.start()

    def finished():
        job.refresh_from_db()
        return job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)

    wait_for(finished, timeout=120, interval=0.2, what="the resumed import to finish")
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert job.rows_done == ROWS and job.created_count == ROWS
    assert Lead.objects.count() == ROWS
    assert Lead.objects.filter(status__in=Lead.CLOSED_STATUSES).count() == ROWS
