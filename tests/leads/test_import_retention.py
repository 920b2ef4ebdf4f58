import logging
import os
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.utils import timezone

from leads.importing import retention, services
from leads.importing.tasks import imports_prune_files
from leads.models import ImportJob
from tests.leads.import_samples import write, x_education_profile, xeducation_csv

DAY = timedelta(days=1)


@pytest.fixture
def x_profile(db):
    return x_education_profile()


@pytest.fixture
def make_job(x_profile, tmp_path):
    """A stored import job in the given state; `ended` is how long ago it finished (None: never)."""

    def make(status="succeeded", *, ended: timedelta | None = 31 * DAY, created: timedelta = 40 * DAY, text=None):
        job = services.import_job_create(file=write(tmp_path, text or xeducation_csv(3)), user=None, profile=x_profile)
        now = timezone.now()
        ImportJob.objects.filter(pk=job.pk).update(
            status=status,
            created_at=now - created,
            finished_at=now - ended if ended is not None else None,
        )
        job.refresh_from_db()
        return job

    return make


def stored(job: ImportJob) -> Path:
    return Path(django_settings.MEDIA_ROOT) / job.file.name


def orphan(name: str, *, age: timedelta, body: bytes = b"id,email\n1,a@x.io\n") -> Path:
    path = Path(django_settings.MEDIA_ROOT) / "imports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    stamp = (timezone.now() - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def failed_with_errors(make_job) -> ImportJob:
    """A failed (atomic, one bad row) job with stored row errors, finished long ago."""
    job = make_job("pending", ended=None, text=xeducation_csv(3).replace("p-000002,", ",", 1))
    services.import_job_run(job_id=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - 31 * DAY, rows_done=1)
    job.refresh_from_db()
    assert job.status == "failed" and job.error_count
    return job


# --- the service ------------------------------------------------------------------------------------


def test_old_finished_job_loses_its_file_and_keeps_its_row(make_job):
    job = make_job("succeeded", ended=31 * DAY)
    path, size = stored(job), stored(job).stat().st_size

    counts = retention.import_files_prune()

    assert counts == {"deleted_files": 1, "freed_bytes": size, "orphans": 0}
    assert not path.exists()
    job.refresh_from_db()
    assert job.file.name == "" and retention.import_file_removed(job)
    assert job.status == "succeeded" and job.file_sha256 and job.file_bytes == size


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_resumable_job_keeps_its_file_until_the_retention_too(make_job, status):
    recent = make_job(status, ended=29 * DAY, created=60 * DAY)  # finished_at counts, not created_at
    old = make_job(status, ended=31 * DAY)
    never_finished = make_job(status, ended=None, created=31 * DAY)

    assert retention.import_files_prune()["deleted_files"] == 2

    assert stored(recent).exists()
    for job in (old, never_finished):
        job.refresh_from_db()
        assert not job.file


def test_pruning_a_file_clears_its_refused_rows_cells_and_keeps_where_and_why(make_job):
    job = failed_with_errors(make_job)
    kept = list(job.row_errors.values_list("row_number", "column", "message"))
    assert kept and all(raw for raw in job.row_errors.values_list("raw", flat=True))

    retention.import_files_prune()

    assert list(job.row_errors.values_list("row_number", "column", "message")) == kept
    assert all(raw == [] and value == "" for raw, value in job.row_errors.values_list("raw", "value"))


def test_recent_finished_job_keeps_its_file(make_job):
    job = make_job("succeeded", ended=29 * DAY)
    assert retention.import_files_prune() == {"deleted_files": 0, "freed_bytes": 0, "orphans": 0}
    job.refresh_from_db()
    assert job.file and stored(job).exists()


def test_retention_days_come_from_the_setting(make_job, settings):
    settings.IMPORT_FILE_RETENTION_DAYS = 5
    young, old = make_job(ended=4 * DAY), make_job(ended=6 * DAY)
    assert retention.import_files_prune()["deleted_files"] == 1
    assert stored(young).exists() and not stored(old).exists()


@pytest.mark.parametrize("status", ["pending", "running"])
def test_pending_and_running_jobs_are_never_touched(make_job, status):
    job = make_job(status, ended=None, created=400 * DAY)
    later = timezone.now() + 1000 * DAY

    assert retention.import_files_prune(now=later) == {"deleted_files": 0, "freed_bytes": 0, "orphans": 0}
    assert retention.import_files_prunable(now=later) == []
    job.refresh_from_db()
    assert job.file and stored(job).exists()


def test_now_moves_the_cutoff(make_job):
    job = make_job(ended=DAY)
    assert retention.import_files_prune()["deleted_files"] == 0
    assert retention.import_files_prune(now=timezone.now() + 30 * DAY)["deleted_files"] == 1
    assert not stored(job).exists()


def test_orphan_older_than_a_day_is_deleted(make_job):
    kept_job = make_job(ended=DAY)  # referenced and recent: not an orphan
    stray = orphan("2020/01/import_crash.csv", age=2 * DAY, body=b"x" * 100)
    fresh = orphan("2020/01/import_upload_in_progress.csv", age=timedelta(hours=2))

    counts = retention.import_files_prune()

    assert counts == {"deleted_files": 0, "freed_bytes": 100, "orphans": 1}
    assert not stray.exists() and fresh.exists() and stored(kept_job).exists()


def test_prune_with_no_imports_directory(db):
    assert retention.import_files_prune() == {"deleted_files": 0, "freed_bytes": 0, "orphans": 0}


def test_a_file_that_cannot_be_deleted_does_not_stop_the_rest(make_job, monkeypatch, caplog):
    locked, gone, fine = make_job(), make_job(), make_job()
    stored(gone).unlink()
    stray = orphan("2019/12/import_crash.csv", age=3 * DAY)
    real_delete = FileSystemStorage.delete

    def delete(storage, name):
        if name == locked.file.name:
            raise PermissionError(13, "Permission denied", name)
        return real_delete(storage, name)

    monkeypatch.setattr(FileSystemStorage, "delete", delete)

    with caplog.at_level(logging.WARNING, logger="leads.importing.retention"):
        counts = retention.import_files_prune()

    assert counts["deleted_files"] == 1 and counts["orphans"] == 1
    assert counts["freed_bytes"] == stored(locked).stat().st_size + len(b"id,email\n1,a@x.io\n")
    assert not stray.exists()
    for job in (locked, gone, fine):
        job.refresh_from_db()
    assert locked.file and stored(locked).exists()  # kept: the next run tries again
    assert not gone.file and not fine.file
    assert "Permission denied" in caplog.text and "already gone" in caplog.text


def test_prune_twice_deletes_once(make_job):
    make_job()
    assert retention.import_files_prune()["deleted_files"] == 1
    assert retention.import_files_prune() == {"deleted_files": 0, "freed_bytes": 0, "orphans": 0}


def test_the_beat_task_prunes_and_is_scheduled(make_job, settings):
    job = make_job()
    assert imports_prune_files.delay().get()["deleted_files"] == 1
    job.refresh_from_db()
    assert not job.file
    entry = settings.CELERY_BEAT_SCHEDULE["imports-prune-files"]
    assert entry["task"] == imports_prune_files.name == "leads.imports_prune_files"
    assert entry["schedule"] == 24 * 3600 and entry["options"]["expires"] < entry["schedule"]


# --- the command ------------------------------------------------------------------------------------


def test_command_dry_run_lists_and_deletes_nothing(make_job):
    job = make_job()
    recent = make_job(ended=DAY)
    stray = orphan("2020/02/import_crash.csv", age=2 * DAY)
    out = StringIO()

    call_command("prune_import_files", "--dry-run", stdout=out)

    output = out.getvalue()
    assert f"would delete {job.file.name} (import #{job.pk}" in output
    assert "would delete imports/2020/02/import_crash.csv (orphan" in output
    assert recent.file.name not in output
    assert "1 import file(s) and 1 orphan file(s) would be deleted" in output and "Nothing was deleted" in output
    assert stored(job).exists() and stray.exists()
    job.refresh_from_db()
    assert job.file


def test_command_prints_the_counts(make_job):
    job = make_job()
    size = stored(job).stat().st_size
    orphan("2020/03/import_crash.csv", age=2 * DAY, body=b"y" * 10)
    out = StringIO()

    call_command("prune_import_files", stdout=out)

    assert out.getvalue().strip() == (
        f"Deleted 1 import file(s) older than 30 days and 1 orphan file(s); freed {size + 10:,} bytes."
    )
    assert not stored(job).exists()


# --- a pruned job in the API and on the pages --------------------------------------------------------


def test_api_errors_csv_of_a_pruned_job_is_gone_with_a_reason(admin_client_crm, make_job):
    job = failed_with_errors(make_job)
    assert admin_client_crm.get(f"/api/v1/imports/{job.pk}/errors.csv").status_code == 200
    retention.import_files_prune()

    response = admin_client_crm.get(f"/api/v1/imports/{job.pk}/errors.csv")

    assert response.status_code == 410
    error = response.json()["error"]
    assert error["code"] == "gone" and "The uploaded file was removed after 30 days" in error["message"]
    detail = admin_client_crm.get(f"/api/v1/imports/{job.pk}/")
    assert detail.status_code == 200 and detail.json()["errors"]["count"] == job.error_count


def test_api_resume_of_a_pruned_job_is_refused_with_a_reason(admin_client_crm, make_job):
    job = failed_with_errors(make_job)
    retention.import_files_prune()

    response = admin_client_crm.post(f"/api/v1/imports/{job.pk}/resume/")

    assert response.status_code == 400
    assert "removed after 30 days" in response.json()["error"]["message"]
    assert "cannot be resumed" in response.json()["error"]["message"]
    job.refresh_from_db()
    assert job.status == "failed"


def test_resume_still_works_while_the_file_is_kept(admin_client_crm, make_job, django_capture_on_commit_callbacks):
    job = make_job("failed", ended=DAY)
    ImportJob.objects.filter(pk=job.pk).update(rows_done=0)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_crm.post(f"/api/v1/imports/{job.pk}/resume/")
    assert response.status_code == 202
    job.refresh_from_db()
    assert job.status == "succeeded" and job.created_count == 3


def test_page_of_a_pruned_job_says_so_and_offers_no_csv_or_resume(admin_client_crm, make_job):
    job = failed_with_errors(make_job)
    page = admin_client_crm.get(f"/imports/{job.pk}/").content.decode()
    assert "Resume after row" in page and f"/imports/{job.pk}/errors.csv" in page
    retention.import_files_prune()

    page = admin_client_crm.get(f"/imports/{job.pk}/").content.decode()

    assert "The uploaded file was removed after 30 days" in page
    assert "Resume after row" not in page and f"/imports/{job.pk}/errors.csv" not in page
    assert "Missing required id" in page  # the row errors are still listed


def test_page_errors_csv_and_resume_of_a_pruned_job_answer_with_a_message(admin_client_crm, make_job):
    job = failed_with_errors(make_job)
    retention.import_files_prune()

    csv_response = admin_client_crm.get(f"/imports/{job.pk}/errors.csv", follow=True)
    assert csv_response.status_code == 200 and csv_response.redirect_chain == [(f"/imports/{job.pk}/", 302)]
    assert "can no longer be downloaded as CSV" in csv_response.content.decode()

    resume_response = admin_client_crm.post(f"/imports/{job.pk}/resume/", follow=True)
    assert resume_response.status_code == 200 and resume_response.redirect_chain == [(f"/imports/{job.pk}/", 302)]
    flash = resume_response.content.decode().split('id="messages"')[1].split("</div>")[0]
    assert "The uploaded file was removed after 30 days" in flash and "this import cannot be resumed" in flash
    job.refresh_from_db()
    assert job.status == "failed"


def test_a_queued_run_of_a_job_whose_file_was_pruned_fails_in_words(tmp_path, settings, db):
    """A resumable job pruned while it waited (or resumed by a caller that skips the page's guard)
    fails with the retention message instead of a ValueError about a missing file."""
    from leads.importing import services
    from leads.models import ImportJob
    from tests.leads.import_samples import write, xeducation_csv

    job = services.import_job_create(
        file=write(tmp_path, xeducation_csv(3)), user=None, mapping={"mapping": {"external_id": "Prospect ID"}}
    )
    job.file.delete(save=False)
    ImportJob.objects.filter(pk=job.pk).update(file="", status=ImportJob.Status.INTERRUPTED)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == ImportJob.Status.FAILED
    assert "uploaded file was removed" in job.error and "import it again" in job.error
