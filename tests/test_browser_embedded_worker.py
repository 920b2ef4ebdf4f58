"""`make run`'s embedded default: an upload on /imports/ returns at once, and a real worker on the
filesystem broker (no Redis) runs the import while the page's progress bar follows it to the end."""

import pytest
from django.db import connection

from leadcrm import heartbeats
from leadcrm.celery import app as celery_app
from leads.models import ImportJob, Lead
from tests.conftest import (
    WorkerHandle,
    _database_url_for_subprocess,
    browser_login,
    celery_point_at,
    require,
    screenshot,
)
from tests.factories import AdminFactory
from tests.leads.import_samples import write, x_education_profile, xeducation_csv

ROWS = 3000


@pytest.fixture
def embedded_worker(transactional_db, tmp_path, settings):
    """A worker as `make run` starts it: the filesystem broker and the file cache under LEADCRM_VAR_DIR."""
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL) shared with a worker process")
    spool = tmp_path / "broker"
    options = {
        "data_folder_in": str(spool / "queue"),
        "data_folder_out": str(spool / "queue"),
        "control_folder": str(spool / "control"),
    }
    for folder in ("queue", "control"):
        (spool / folder).mkdir(parents=True)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }
    old = (celery_app.conf.broker_url, celery_app.conf.result_backend, dict(celery_app.conf.broker_transport_options))
    celery_point_at("filesystem://localhost/", None, options)
    celery_app.conf.task_always_eager = False
    handle = WorkerHandle("", _database_url_for_subprocess())
    for name in ("REDIS_URL", "REDIS_CACHE_URL"):
        handle.env.pop(name, None)
    handle.env.update({"LEADCRM_VAR_DIR": str(tmp_path), "IMPORT_CHUNK_ROWS": "100", "WORKER_HEARTBEAT_SECONDS": "1"})
    handle.ready = lambda: heartbeats.worker_heartbeat_age("imports") is not None
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()
        celery_point_at(*old)
        celery_app.conf.task_always_eager = True


@pytest.mark.browser
def test_an_upload_returns_at_once_and_the_progress_bar_completes(embedded_worker, page, tmp_path):
    AdminFactory(username="root")
    profile = x_education_profile()
    path = write(tmp_path, xeducation_csv(ROWS), name="embedded.csv")

    browser_login(page, "root")
    page.goto("/imports/")
    page.click("summary:has-text('Import a file')")
    page.set_input_files("input[name=file]", str(path))
    page.select_option("select[name=profile]", value=str(profile.pk))
    page.click("button:has-text('Start import')")
    page.wait_for_url("**/imports/*/")

    # The request only queued the job: the worker has not finished it when the page first shows.
    first_status = page.locator("[data-status]").get_attribute("data-status")
    assert first_status in ("pending", "running"), first_status
    assert page.get_by_text("started.").is_visible()

    page.wait_for_selector("[data-status=succeeded]", timeout=120_000)
    progress = page.locator("#job-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == str(ROWS)
    screenshot(page, "import-embedded-worker-done")

    job = ImportJob.objects.get()
    assert (job.status, job.attempts, job.created_count) == (ImportJob.Status.SUCCEEDED, 1, ROWS)
    assert Lead.objects.count() == ROWS
    assert "leads.import_run[" in embedded_worker.log_text()
