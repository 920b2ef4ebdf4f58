"""Reads for the import pages, the API and the command."""

from collections.abc import Iterator
from pathlib import Path

from django.db.models import QuerySet

from leads.importing.readers import raw_header_of
from leads.models import ImportJob, ImportRowError, User


def import_jobs_visible_to(user: User) -> QuerySet[ImportJob]:
    if not (user.is_authenticated and user.is_crm_admin):
        return ImportJob.objects.none()
    return ImportJob.objects.select_related("profile", "created_by")


def import_errors_for(job: ImportJob) -> QuerySet[ImportRowError]:
    return job.row_errors.order_by("row_number", "id")


def import_errors_rows(job: ImportJob) -> Iterator[list]:
    """The error file: the original columns of each bad row, then its row number and problems.

    Fix the cells and import it again: the two extra columns are ignored on re-import.
    """
    kind = "xlsx" if job.original_name.lower().endswith(".xlsx") else "csv"
    try:
        header = raw_header_of(
            Path(job.file.path), kind=kind, encoding=job.encoding or "utf-8", delimiter=job.delimiter
        )
    except Exception:  # the stored file is gone: still give the errors
        header = []
    yield [*header, "import_row", "import_errors"]
    current, raw, messages = None, [], []
    for error in import_errors_for(job).only("row_number", "column", "message", "raw").iterator(chunk_size=2000):
        if error.row_number != current:
            if current is not None:
                yield [*_fit(raw, len(header)), current, "; ".join(messages)]
            current, raw, messages = error.row_number, error.raw, []
        messages.append(f"{error.column}: {error.message}" if error.column else error.message)
    if current is not None:
        yield [*_fit(raw, len(header)), current, "; ".join(messages)]


def _fit(raw: list, width: int) -> list:
    if not width:
        return list(raw)
    return (list(raw) + [""] * width)[:width]
