"""Retention of uploaded import files.

A job keeps its stored file while it may still need it (to run, resume, or build the errors CSV
header). Once a job has been finished for IMPORT_FILE_RETENTION_DAYS its file is deleted and its
`file` field cleared; the job row, its counts and its row errors stay. Files in the imports
directory that no job references (an upload left by a crash) go after a day.

    import_files_prunable()  -> what would go (the command's --dry-run)
    import_files_prune()     -> deletes it (the daily beat task and the command)
    import_job_resume_if_file_kept() -> resume, refused in words when the file was pruned
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from leads.importing import services
from leads.models import ImportJob, ImportRowError

logger = logging.getLogger(__name__)

# ImportJob.file's upload_to is "imports/%Y/%m/".
IMPORTS_DIR = "imports"
# An upload is stored a moment before its job row is saved; a day is far past any such moment.
ORPHAN_MIN_AGE = timedelta(days=1)
# Never pending or running: those jobs still read their file.
PRUNABLE_STATUSES = (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED, ImportJob.Status.INTERRUPTED)


@dataclass(frozen=True)
class PrunableFile:
    name: str  # storage name, e.g. imports/2025/01/import_a1B2c3.csv
    size: int | None  # None when the storage could not tell (already gone, no permission)
    job_id: int | None  # None for an orphan


def _storage() -> Storage:
    return ImportJob._meta.get_field("file").storage


def _retention() -> timedelta:
    return timedelta(days=settings.IMPORT_FILE_RETENTION_DAYS)


def _expired_jobs(now: datetime) -> QuerySet[ImportJob]:
    """Finished jobs that still hold a file and ended (or, never finished, were created) before the cutoff."""
    return (
        ImportJob.objects.filter(status__in=PRUNABLE_STATUSES)
        .exclude(file="")
        .alias(ended_at=Coalesce("finished_at", "created_at"))
        .filter(ended_at__lt=now - _retention())
    )


def _size(storage: Storage, name: str) -> int | None:
    try:
        return storage.size(name)
    except Exception:
        return None


def _stored_names(storage: Storage, directory: str) -> Iterator[str]:
    try:
        directories, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    except Exception:
        logger.exception("import retention: cannot list %s", directory)
        return
    for name in sorted(files):
        yield f"{directory}/{name}"
    for name in sorted(directories):
        yield from _stored_names(storage, f"{directory}/{name}")


def _orphans(storage: Storage, now: datetime) -> Iterator[str]:
    referenced = set(ImportJob.objects.exclude(file="").values_list("file", flat=True))
    for name in _stored_names(storage, IMPORTS_DIR):
        if name in referenced:
            continue
        try:
            modified = storage.get_modified_time(name)
        except Exception:
            logger.exception("import retention: cannot read the age of %s", name)
            continue
        if modified < now - ORPHAN_MIN_AGE:
            yield name


def import_files_prunable(*, now: datetime | None = None) -> list[PrunableFile]:
    """What import_files_prune() would delete now: expired job files first, then orphans."""
    now = now or timezone.now()
    storage = _storage()
    found = [
        PrunableFile(name=name, size=_size(storage, name), job_id=pk)
        for pk, name in _expired_jobs(now).order_by("pk").values_list("pk", "file")
    ]
    found += [PrunableFile(name=name, size=_size(storage, name), job_id=None) for name in _orphans(storage, now)]
    return found


def import_files_prune(*, now: datetime | None = None) -> dict:
    """Delete the stored files of jobs finished more than IMPORT_FILE_RETENTION_DAYS ago (the job
    rows stay, with an empty `file`, and their row errors without the rows' cells), and orphan files
    in the imports directory older than a day.

    Returns {"deleted_files": job files deleted, "freed_bytes": bytes freed by all deletions,
    "orphans": orphan files deleted}. A file that cannot be deleted is logged and skipped (its job
    keeps the reference, so the next run tries again). Safe to run twice, or beside a resume.
    """
    now = now or timezone.now()
    storage = _storage()
    counts = {"deleted_files": 0, "freed_bytes": 0, "orphans": 0}
    for pk, name in list(_expired_jobs(now).order_by("pk").values_list("pk", "file")):
        try:
            freed = _job_file_delete(storage, pk=pk, name=name, now=now)
        except Exception:
            logger.exception("import retention: cannot delete %s of import job %s", name, pk)
            continue
        if freed is not None:
            counts["deleted_files"] += 1
            counts["freed_bytes"] += freed
    for name in list(_orphans(storage, now)):
        size = _size(storage, name)
        try:
            storage.delete(name)
        except Exception:
            logger.exception("import retention: cannot delete the orphan file %s", name)
            continue
        counts["orphans"] += 1
        counts["freed_bytes"] += size or 0
    if any(counts.values()):
        logger.info("import retention: %s", counts)
    return counts


def _job_file_delete(storage: Storage, *, pk: int, name: str, now: datetime) -> int | None:
    """Delete one job's file and clear its reference; the bytes freed, or None when nothing was
    deleted. The row lock (taken only if the job still qualifies) keeps a concurrent resume out:
    a job resumed meanwhile is pending and is skipped, a job pruned first cannot be resumed."""
    with transaction.atomic():
        job = _expired_jobs(now).select_for_update(skip_locked=True).filter(pk=pk, file=name).first()
        if job is None:
            return None
        try:
            size = storage.size(name)
        except FileNotFoundError:
            logger.warning("import retention: %s of import job %s was already gone", name, pk)
            size = None
        else:
            storage.delete(name)
        ImportJob.objects.filter(pk=pk).update(file="")
        # The refused rows' cells were kept for the errors CSV, which needs the file's header: with
        # the file gone they are personal data without a use. Line, column and message stay.
        ImportRowError.objects.filter(job_id=pk).exclude(raw=[]).update(raw=[], value="")
    return size


def import_file_removed(job: ImportJob) -> bool:
    """The job's upload was deleted by retention (every job is created with a stored file)."""
    return not job.file


def import_file_removed_message(job: ImportJob, *, consequence: str = "") -> str:
    days = settings.IMPORT_FILE_RETENTION_DAYS
    message = f"The uploaded file was removed after {days} day{'s' if days != 1 else ''} (import file retention)"
    return f"{message}; {consequence}." if consequence else f"{message}."


def import_job_resume_if_file_kept(*, job: ImportJob) -> ImportJob:
    """services.import_job_resume(), refused with a readable ValidationError when retention
    removed the file. The row lock keeps import_files_prune() from removing it in between."""
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if import_file_removed(locked):
            raise ValidationError(
                import_file_removed_message(locked, consequence="this import cannot be resumed: import the file again")
            )
        return services.import_job_resume(job=locked)
