"""python manage.py import_leads PATH --profile x_education [--dry-run] [--mode atomic|skip-bad]"""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from leads.importing import selectors, services
from leads.importing.readers import ImportFileError
from leads.models import ImportJob, ImportProfile, User


class Command(BaseCommand):
    help = "Import leads from a CSV or XLSX file through an import profile, printing progress and counts."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--profile", required=True, help="Import profile name, e.g. x_education")
        parser.add_argument("--mode", choices=["atomic", "skip-bad"], default="atomic")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count, write nothing")
        parser.add_argument("--user", default="", help="Username recorded as the importer")
        parser.add_argument("--chunk-rows", type=int, default=None)

    def handle(self, *args, path, profile, mode, dry_run, user, chunk_rows, **options):
        profile_obj = ImportProfile.objects.filter(name=profile).first()
        if profile_obj is None:
            names = ", ".join(ImportProfile.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No import profile {profile!r} (profiles: {names}).")
        user_obj = None
        if user:
            user_obj = User.objects.filter(username=user).first()
            if user_obj is None:
                raise CommandError(f"No user {user!r}.")
        try:
            job = services.import_job_create(
                file=path,
                user=user_obj,
                profile=profile_obj,
                mode=mode.replace("-", "_"),
                dry_run=dry_run,
                chunk_rows=chunk_rows,
            )
        except (ImportFileError, ValidationError, OSError) as exc:
            raise CommandError(_message(exc)) from exc
        job = services.import_job_run(job_id=job.pk, progress=self._progress)
        self.stdout.write("")
        self._report(job)
        if job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError(job.error or f"Import {job.status}.")

    def _progress(self, job: ImportJob) -> None:
        if not self.stdout.isatty() and self.stdout._out is not sys.stdout:
            return
        width = 30
        done = int(width * job.progress_percent / 100)
        self.stdout.write(
            f"\r[{'#' * done}{'.' * (width - done)}] {job.rows_done:,}/{job.rows_total:,} rows", ending=""
        )
        self.stdout.flush()

    def _report(self, job: ImportJob) -> None:
        dry = " (dry run: nothing written)" if job.dry_run else ""
        self.stdout.write(f"Import #{job.pk} {job.status}{dry}: {job.rows_total:,} rows in {job.original_name}")
        self.stdout.write(
            f"  created {job.created_count:,}  updated {job.updated_count:,}  unchanged {job.unchanged_count:,}"
            f"  skipped {job.skipped_count:,}  failed {job.failed_count:,}  outcomes {job.outcomes_count:,}"
        )
        if job.duplicates:
            self.stdout.write(f"  possible duplicates for review: {len(job.duplicates):,}")
        for error in selectors.import_errors_for(job)[:20]:
            self.stdout.write(f"  row {error.row_number} [{error.column}] {error.value!r}: {error.message}")
        if job.error_count > 20:
            self.stdout.write(f"  ... {job.error_count - 20:,} more problem(s); see /imports/{job.pk}/")


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)
