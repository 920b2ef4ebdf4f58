"""The errors CSV of an import, as the pages and the API both serve it."""

from django.http import StreamingHttpResponse

from leads import audit
from leads.exports import csv_lines
from leads.importing import selectors
from leads.models import ImportJob

ERRORS_CSV_GONE = "the bad rows can no longer be downloaded as CSV (they are still listed with the import)"


def errors_csv_response(job: ImportJob) -> StreamingHttpResponse:
    """The bad rows (with the person data they carry): an export, audited."""
    audit.audit_record(
        audit.EXPORT, target=job, details={"what": "import errors CSV", "format": "csv", "rows": job.error_count}
    )
    response = StreamingHttpResponse(csv_lines(selectors.import_errors_rows(job)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response
