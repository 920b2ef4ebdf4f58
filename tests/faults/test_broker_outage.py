"""A running worker (and beat) outlive a Redis outage: the worker keeps retrying, reconnects when
Redis is back, and the work queued before, during and after the outage finishes, each job once."""

import random

import pytest

from leadcrm.dispatch import broker_mark_up
from leads.importing import services
from leads.models import ImportJob, Lead
from tests.conftest import BeatHandle, _database_url_for_subprocess, wait_for
from tests.leads.import_samples import write, x_education_profile, xeducation_csv, xeducation_row

ROWS = 20


def _import(tmp_path, profile, first_id: int) -> ImportJob:
    rng = random.Random(first_id)
    text = xeducation_csv(rows=[xeducation_row(i, rng) for i in range(first_id, first_id + ROWS)])
    job = services.import_job_create(
        file=write(tmp_path, text, name=f"leads-{first_id}.csv"), user=None, profile=profile
    )
    services.import_job_dispatch(job)
    return job


def _finished(job: ImportJob):
    def check() -> bool:
        job.refresh_from_db()
        return job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)

    return check


@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_a_running_worker_survives_a_broker_outage_and_finishes_the_queued_work_once(
    private_redis, private_worker, tmp_path
):
    profile = x_education_profile()
    beat = BeatHandle(private_redis.url, _database_url_for_subprocess(), tmp_path / "beat")
    beat.env["REDISPATCH_EVERY_SECONDS"] = "5"
    private_worker.start()
    beat.start()
    try:
        before = _import(tmp_path, profile, 1)
        wait_for(_finished(before), timeout=60, what="the import sent before the outage")
        worker_pid = private_worker.process.pid

        private_redis.stop()
        wait_for(
            lambda: "Connection to broker lost" in private_worker.log_text(),
            timeout=60,
            what="the worker to notice the outage",
        )
        during = _import(tmp_path, profile, 1001)  # cannot be sent: recorded in the database
        assert during.broker_pending
        assert private_worker.process.poll() is None, "the worker died with the broker"

        private_redis.start()
        broker_mark_up()
        wait_for(_finished(during), timeout=120, what="the import recorded during the outage")
        after = _import(tmp_path, profile, 2001)
        wait_for(_finished(after), timeout=60, what="an import sent after the outage")
    finally:
        beat.stop()

    assert private_worker.process.pid == worker_pid and private_worker.process.poll() is None
    for job in (before, during, after):
        job.refresh_from_db()
        assert (job.status, job.attempts, job.created_count, job.broker_pending) == (
            ImportJob.Status.SUCCEEDED,
            1,
            ROWS,
            False,
        ), job.error
    assert Lead.objects.count() == 3 * ROWS
    runs = [
        line for line in private_worker.log_text().splitlines() if "leads.import_run[" in line and "succeeded" in line
    ]
    assert len(runs) == 3  # each job ran exactly once
