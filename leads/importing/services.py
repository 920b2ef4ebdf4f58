"""The import pipeline. The admin, the API and the `import_leads` command all come through here.

    import_job_create()  -> checks the file and the mapping, stores the file, makes a pending job
    import_job_run()     -> claims the job, pass 1 (validate + infer), pass 2 (convert + write by chunk)
    import_job_resume()  -> a failed/interrupted job continues after its last committed chunk

Each chunk commits in its own transaction together with the job's progress (rows_done,
last_chunk), so a crash or a killed worker leaves the database as it was before that chunk and
the job knows where to pick up. Atomic mode writes nothing unless pass 1 found no error.
"""

import logging
import queue
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from leadcrm.dispatch import BROKER_UNAVAILABLE, task_dispatch
from leads import audit
from leads.importing.profiles import ImportSpec, spec_from_dict, spec_from_profile
from leads.importing.readers import ImportFileError, NotPlain, Table, open_table, scan_file
from leads.importing.validation import Analyzer, Converter, RowError, spec_with_date_orders
from leads.importing.writer import write_chunk
from leads.models import ImportJob, ImportProfile, ImportRowError, Lead, User
from leads.signals import import_finished_send, outcomes_imported_send

logger = logging.getLogger(__name__)

# Errors kept per job (all are counted); enough to fix a file, bounded for a million bad rows.
MAX_STORED_ERRORS = 50_000
MAX_DUPLICATES = 1_000
RECOVERY_DELAY_SECONDS = 3

Progress = Callable[[ImportJob], None]


def _stale_after() -> timedelta:
    """A running job whose heartbeat is older than this lost its worker (IMPORT_STALE_SECONDS, default 600)."""
    return timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def spec_resolve(*, profile: ImportProfile | None = None, mapping: dict | None = None) -> ImportSpec:
    if mapping:
        return spec_from_dict(mapping)
    if profile is None:
        raise ValidationError("Choose an import profile or send a mapping.")
    return spec_from_profile(profile)


def import_profile_create(*, name: str, description: str = "", spec: ImportSpec) -> ImportProfile:
    """Save a validated mapping (the wizard's) as a named, reusable profile."""
    return ImportProfile.objects.create(
        name=name,
        description=description,
        mapping=spec.mapping,
        outcome_column=spec.outcome_column,
        converted_values=spec.converted_values,
        lost_values=spec.lost_values,
        open_values=spec.open_values,
        extra_outcomes=spec.extra_outcomes,
        lost_reason=spec.lost_reason,
        placeholder_values=spec.placeholder_values,
        column_types=spec.column_types,
        excluded_columns=spec.excluded_columns,
        column_limits=spec.column_limits,
        date_orders=spec.date_orders,
        delimiter=spec.delimiter,
        encoding=spec.encoding,
    )


def _check_file(path: Path, name: str, spec: ImportSpec):
    facts = scan_file(path, name=name, encoding=spec.encoding)
    table = open_table(path, facts, delimiter=spec.delimiter)
    missing = spec.missing_columns(table.header)
    if missing:
        raise ImportFileError(f"The file lacks the mapped column(s) {', '.join(missing)}.")
    return facts, table


def import_job_create(
    *,
    file,
    name: str = "",
    user: User | None,
    profile: ImportProfile | None = None,
    mapping: dict | None = None,
    mode: str = ImportJob.Mode.ATOMIC,
    dry_run: bool = False,
    chunk_rows: int | None = None,
) -> ImportJob:
    """Check the mapping and the file (size, kind, encoding, header), store it, return a pending job.

    `file` is an uploaded file or a path. Raises ValidationError (bad mapping/mode) or
    ImportFileError (a file that cannot be imported), each with a message for the user.
    """
    if mode not in ImportJob.Mode.values:
        raise ValidationError(f"Unknown mode {mode!r}: use atomic or skip_bad.")
    spec = spec_resolve(profile=profile, mapping=mapping)
    job = ImportJob(
        profile=profile if not mapping else None,
        spec=spec.as_dict(),
        mode=mode,
        dry_run=dry_run,
        created_by=user,
        chunk_rows=chunk_rows or settings.IMPORT_CHUNK_ROWS,
    )
    if isinstance(file, str | Path):
        path = Path(file)
        job.original_name = (name or path.name)[-255:]
        size = path.stat().st_size
        if size > settings.IMPORT_MAX_FILE_BYTES:
            scan_file(path, name=job.original_name)  # raises the size error
        with open(path, "rb") as handle:
            job.file.save(_storage_name(job.original_name), File(handle), save=False)
    else:
        job.original_name = (name or getattr(file, "name", "") or "upload")[-255:]
        if getattr(file, "size", 0) and file.size > settings.IMPORT_MAX_FILE_BYTES:
            raise ImportFileError(
                f"The file is {file.size:,} bytes; the limit is {settings.IMPORT_MAX_FILE_BYTES:,} bytes "
                "(IMPORT_MAX_FILE_BYTES)."
            )
        job.file.save(_storage_name(job.original_name), file, save=False)
    try:
        facts, table = _check_file(Path(job.file.path), job.original_name, spec)
    except ImportFileError:
        job.file.delete(save=False)
        raise
    job.file_sha256, job.file_bytes = facts.sha256, facts.size
    job.encoding, job.delimiter = facts.encoding, table.delimiter
    job.save()
    audit.audit_record(
        audit.IMPORT,
        actor=user,
        target=job,
        details={"mode": job.mode, "dry_run": job.dry_run, "bytes": job.file_bytes, "profile": spec.profile_name},
    )
    return job


def _storage_name(original_name: str) -> str:
    """A short, safe stored name; the user's file name is kept in original_name."""
    suffix = Path(original_name).suffix.lower()
    return f"import{suffix if suffix.isascii() and len(suffix) <= 6 else ''}"


# leads.importing.tasks.import_run, named so that this module does not import the tasks that import it.
IMPORT_TASK = "leads.import_run"


def import_job_dispatch(job: ImportJob, *, countdown: float = 0) -> None:
    """Queue the job for a worker once the current transaction commits (inline in eager mode).
    With the broker down the job stays pending with a "will retry" note, and
    import_jobs_redispatch() sends it when the broker is back."""

    def broker_down(exc: Exception) -> None:
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PENDING).update(
            broker_pending=True, error=BROKER_UNAVAILABLE
        )
        job.broker_pending, job.error = True, BROKER_UNAVAILABLE

    transaction.on_commit(
        lambda: task_dispatch(IMPORT_TASK, args=(job.pk,), countdown=countdown or None, on_failure=broker_down)
    )


def import_jobs_redispatch() -> list[int]:
    """Send again the jobs that could not be queued while the broker was down. Safe to run twice:
    only one delivery claims a job (_claim)."""
    sent = []
    pending = ImportJob.objects.filter(status=ImportJob.Status.PENDING, broker_pending=True)
    for pk in pending.values_list("pk", flat=True):
        if task_dispatch(IMPORT_TASK, args=(pk,)):
            pending.filter(pk=pk).update(broker_pending=False, error="")
            sent.append(pk)
    return sent


def import_job_resume(*, job: ImportJob) -> ImportJob:
    """Put a failed, interrupted or stale (worker gone) job back in the queue; it continues after
    its last committed chunk."""
    stale = Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=timezone.now() - _stale_after())
    updated = (
        ImportJob.objects.filter(pk=job.pk, dry_run=False)
        .filter(Q(status__in=[ImportJob.Status.FAILED, ImportJob.Status.INTERRUPTED]) | stale)
        .update(status=ImportJob.Status.PENDING, error="", finished_at=None)
    )
    if not updated:
        raise ValidationError("Only a failed, interrupted or stalled import can be resumed.")
    job.refresh_from_db()
    import_job_dispatch(job)
    return job


def import_jobs_recover_stale() -> list[int]:
    """Jobs left `running` by a worker that died are marked interrupted and queued again."""
    cutoff = timezone.now() - _stale_after()
    stale = list(
        ImportJob.objects.filter(status=ImportJob.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    recovered = []
    for pk in stale:
        job = ImportJob.objects.get(pk=pk)
        reason = f"The worker stopped after {job.rows_done:,} committed rows; the import resumes from there."
        if ImportJob.objects.filter(pk=pk, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.PENDING if not job.dry_run else ImportJob.Status.FAILED, error=reason
        ):
            recovered.append(pk)
            if not job.dry_run:
                # A moment's grace: the worker that runs this at start-up first finishes starting.
                import_job_dispatch(job, countdown=RECOVERY_DELAY_SECONDS)
    return recovered


def _claim(job_id: int) -> ImportJob | None:
    """Take a pending job for this worker; None when another worker has it (or it is finished)."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(
        Q(status__in=[ImportJob.Status.PENDING, ImportJob.Status.INTERRUPTED])
        | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - _stale_after()),
        pk=job_id,
    ).update(
        status=ImportJob.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        broker_pending=False,
    )
    return ImportJob.objects.get(pk=job_id) if claimed else None


def _save(job: ImportJob, *fields: str) -> None:
    job.heartbeat_at = timezone.now()
    job.save(update_fields=[*fields, "heartbeat_at"])


def _finish(job: ImportJob, status: str, error: str = "") -> ImportJob:
    job.status, job.error, job.finished_at = status, error, timezone.now()
    _save(job, "status", "error", "finished_at")
    import_finished_send(job)
    return job


def import_job_run(*, job_id: int, progress: Progress | None = None) -> ImportJob:
    """Run (or resume) one job to its end. Safe to call twice: only one caller claims the job."""
    job = _claim(job_id)
    if job is None:
        return ImportJob.objects.get(pk=job_id)
    try:
        return _run(job, progress or (lambda job: None))
    except ImportFileError as exc:
        return _finish(job, ImportJob.Status.FAILED, str(exc))
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        what = _failure_reason(exc)
        # The chunk in flight rolled back: count only what the database kept.
        job.rows_done = ImportJob.objects.filter(pk=job.pk).values_list("rows_done", flat=True).first() or 0
        committed = f" {job.rows_done:,} rows were committed; resume to continue." if job.rows_done else ""
        return _finish(job, ImportJob.Status.FAILED, f"The import stopped: {what}.{committed}")


def _failure_reason(exc: Exception) -> str:
    """The reason in words. A dropped database connection is closed, so the failure can be
    recorded on a new one (COPY runs on the raw driver cursor: its errors arrive unwrapped)."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = f"{exc.__class__.__name__}: {first_line}"
    driver = connection.Database
    if not isinstance(exc, OperationalError | InterfaceError | driver.OperationalError | driver.InterfaceError):
        return what
    if not connection.in_atomic_block:
        connection.close()
    return f"the database connection was lost ({what})"


def _run(job: ImportJob, progress: Progress) -> ImportJob:
    if not job.file:  # removed by retention while the job waited to be resumed
        from leads.importing.retention import import_file_removed_message

        return _finish(job, ImportJob.Status.FAILED, import_file_removed_message(job, consequence="import it again"))
    spec = spec_from_dict(job.spec)
    path = Path(job.file.path)
    facts, table = _check_file(path, job.original_name, spec)
    if job.file_sha256 and facts.sha256 != job.file_sha256:
        return _finish(job, ImportJob.Status.FAILED, "The stored file changed since the job was created.")
    job.encoding, job.delimiter = facts.encoding, table.delimiter

    analyzer = _validate(job, spec, table, progress)
    if analyzer.error_count and job.mode == ImportJob.Mode.ATOMIC:
        job.failed_count = len(analyzer.bad_rows)
        job.skipped_count = analyzer.rows_total - job.failed_count
        would = "would be" if job.dry_run else "was"
        message = (
            f"{analyzer.error_count:,} problem(s) in {job.failed_count:,} row(s); nothing {would} imported "
            "(atomic mode). Fix the rows listed, or choose skip-bad mode."
        )
        _save(job, "failed_count", "skipped_count")
        return _finish(job, ImportJob.Status.FAILED, message)
    if analyzer.rows_total and len(analyzer.bad_rows) >= analyzer.rows_total:
        job.failed_count = len(analyzer.bad_rows)
        _save(job, "failed_count")
        return _finish(
            job,
            ImportJob.Status.FAILED,
            f"Every one of the {analyzer.rows_total:,} rows has a problem: nothing to import.",
        )

    # Pass 1 runs again on a resumed job, so what it finds (date orders, decimal commas) holds for every chunk.
    spec = spec_with_date_orders(spec, analyzer.date_orders())
    converter = Converter(
        spec, table.header, job.column_types, job.level_folds, now=timezone.now(),
        decimal_commas=analyzer.decimal_commas(),
    )  # fmt: skip
    if job.dry_run:
        with transaction.atomic():
            _write(job, table, analyzer, converter, progress)
            transaction.set_rollback(True)
        job.last_chunk = -1
        _save(job, *_PROGRESS_FIELDS)
    else:
        resumed = job.last_chunk >= 0
        lead_ids, new_outcomes = _write(job, table, analyzer, converter, progress)
        if resumed:  # the chunks committed before the interruption changed leads too
            earlier = Lead.objects.filter(updated_at__gte=job.created_at).values_list("pk", flat=True)
            lead_ids = sorted({*lead_ids, *earlier})
        outcomes_imported_send(lead_ids=lead_ids, new_outcomes=new_outcomes)
    job.failed_count = len(analyzer.bad_rows)
    job.cleaned_values = dict(converter.cleaned)
    _save(job, "failed_count", "cleaned_values")
    return _finish(job, ImportJob.Status.SUCCEEDED)


def _validate(job: ImportJob, spec: ImportSpec, table: Table, progress: Progress) -> Analyzer:
    """Pass 1 over the whole file: errors are stored (committed) before anything is written.
    A file the fast reader cannot number line by line is read again by the csv module."""
    try:
        return _validate_pass(job, spec, table, progress)
    except NotPlain:
        return _validate_pass(job, spec, table, progress)


def _validate_pass(job: ImportJob, spec: ImportSpec, table: Table, progress: Progress) -> Analyzer:
    analyzer = Analyzer(spec, table.header)
    ImportRowError.objects.filter(job=job).delete()
    pending: list[RowError] = []
    stored = 0
    for batch in table.batches(job.chunk_rows or settings.IMPORT_CHUNK_ROWS):
        errors = analyzer.check_batch(batch)
        if errors and stored < MAX_STORED_ERRORS:
            pending.extend(errors[: MAX_STORED_ERRORS - stored])
            stored += len(errors)
            if len(pending) >= 1000:
                _errors_store(job, pending)
                pending = []
    _errors_store(job, pending)
    job.rows_total = analyzer.rows_total
    job.error_count = analyzer.error_count
    job.column_types = analyzer.column_types()
    job.level_folds = analyzer.level_folds()
    _save(job, "rows_total", "error_count", "column_types", "level_folds", "encoding", "delimiter")
    progress(job)
    return analyzer


def _storable(text: str) -> str:
    """Text a database column holds: PostgreSQL text and jsonb refuse NUL, which a bad row may carry."""
    return text.replace("\x00", "") if "\x00" in text else text


def _errors_store(job: ImportJob, errors: list[RowError]) -> None:
    # A cell over the limit is kept one character over it: the error file still fails until it is fixed.
    keep = settings.IMPORT_MAX_CELL_CHARS + 1
    ImportRowError.objects.bulk_create(
        [
            ImportRowError(
                job=job,
                row_number=e.row,
                column=_storable(e.column[:255]),
                value=_storable(e.value[:1000]),
                message=_storable(e.message[:500]),
                raw=[_storable(cell[:keep]) for cell in e.raw],
            )
            for e in errors
        ],
        batch_size=1000,
    )


_PROGRESS_FIELDS = (
    "created_count", "updated_count", "unchanged_count", "outcomes_count", "duplicates", "rows_done", "last_chunk",
)  # fmt: skip


class _Aborted(Exception):
    """Another writer failed: this chunk rolls back instead of committing."""


class _ChunkCommitter:
    """Writes one converted chunk in its own transaction together with the job's progress.

    Several writers may write chunks at once, but they commit in file order (each waits for its
    turn before its progress update and commit), so `last_chunk` always means "this chunk and
    every one before it are in the database" and a resumed job starts right after it."""

    def __init__(self, job: ImportJob, progress: Progress, first_index: int):
        self.job, self.progress = job, progress
        self.lead_ids: list[int] = []
        self.new_outcomes = 0
        self._turn = first_index
        self._gate = threading.Condition()
        self._failed_at: int | None = None  # the first chunk that failed: later ones roll back

    def __call__(self, index: int, rows: int, records: list[tuple]) -> None:
        try:
            self._commit(index, rows, records)
        except _Aborted:
            raise
        except BaseException:
            self._fail(index)
            raise

    def _commit(self, index: int, rows: int, records: list[tuple]) -> None:
        job = self.job
        with transaction.atomic():
            result = write_chunk(records, import_job_id=job.pk)
            self._wait_turn(index)
            job.created_count += result.created
            job.updated_count += result.updated
            job.unchanged_count += result.unchanged
            job.outcomes_count += result.new_outcomes
            if len(job.duplicates) < MAX_DUPLICATES:
                job.duplicates = (job.duplicates + result.duplicates)[:MAX_DUPLICATES]
            job.rows_done += rows
            job.last_chunk = index
            if not job.dry_run:
                _save(job, *_PROGRESS_FIELDS)
        self.lead_ids.extend(result.lead_ids)
        self.new_outcomes += result.new_outcomes
        self.progress(job)
        with self._gate:
            self._turn = index + 1
            self._gate.notify_all()

    def _aborted(self, index: int) -> bool:
        return self._failed_at is not None and index > self._failed_at

    def _wait_turn(self, index: int) -> None:
        """Chunks before a failed one still commit; those after it roll back."""
        with self._gate:
            while self._turn != index and not self._aborted(index):
                self._gate.wait()
            if self._aborted(index):
                raise _Aborted

    def _fail(self, index: int) -> None:
        with self._gate:
            self._failed_at = index if self._failed_at is None else min(self._failed_at, index)
            self._gate.notify_all()


def _write(job: ImportJob, table: Table, analyzer: Analyzer, converter: Converter, progress: Progress):
    """Pass 2: convert and write chunk by chunk, each chunk committed with the job's progress.

    On PostgreSQL, outside any caller's transaction, IMPORT_WRITERS writer threads (each on its
    own connection) write chunks while this thread parses and converts the next ones: the
    database and Python work side by side, and the database on more than one core. The queue
    holds at most one chunk per writer, so memory stays bounded.
    """
    chunk_rows = job.chunk_rows or settings.IMPORT_CHUNK_ROWS
    start_chunk = job.last_chunk + 1
    if start_chunk == 0:
        job.created_count = job.updated_count = job.unchanged_count = job.outcomes_count = job.rows_done = 0
        job.duplicates = []
    bad = analyzer.bad_rows
    commit = _ChunkCommitter(job, progress, first_index=start_chunk)

    def chunks():
        for index, batch in enumerate(table.batches(chunk_rows)):
            if index >= start_chunk:
                yield index, len(batch.numbers), converter.convert_batch(batch, bad)
            else:  # committed before an interruption: only count its row fingerprints
                converter.keys_observe(batch)

    if connection.vendor == "postgresql" and not connection.in_atomic_block and not job.dry_run:
        _write_overlapped(chunks(), commit, writers=settings.IMPORT_WRITERS)
    else:
        for index, rows, records in chunks():
            commit(index, rows, records)
    return commit.lead_ids, commit.new_outcomes


_DONE = object()


def _write_overlapped(chunks, commit: _ChunkCommitter, *, writers: int) -> None:
    pending: queue.Queue = queue.Queue(maxsize=writers)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (item := pending.get()) is not _DONE:
                if not failure:
                    commit(*item)
        except BaseException as exc:
            if not isinstance(exc, _Aborted):
                failure.append(exc)
            while pending.get() is not _DONE:  # drain so the producer never blocks
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, name=f"import-writer-{n}", daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    try:
        for item in chunks:
            if failure:
                break
            pending.put(item)
    finally:
        for _ in threads:
            pending.put(_DONE)
        for thread in threads:
            thread.join()
    if failure:
        raise failure[0]
