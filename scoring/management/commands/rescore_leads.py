"""`manage.py rescore_leads`: rescore leads in this process (resumable).

May import scoring's rescoring and models.
"""

from django.core.management.base import BaseCommand, CommandError

from scoring import rescoring
from scoring.models import RescoreRun


class Command(BaseCommand):
    help = "Rescore leads with the active model, in chunks, in this process (resumable, idempotent)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--all", action="store_true", help="Every lead (the default).")
        group.add_argument("--stale", action="store_true", help="Only leads scored by another model or changed since.")
        parser.add_argument("--resume", type=int, metavar="RUN_ID", help="Continue an interrupted rescore run.")

    def handle(self, *args, stale: bool, resume: int | None, **options):
        if resume:
            run = RescoreRun.objects.filter(pk=resume).first()
            if run is None:
                raise CommandError(f"no rescore run {resume}")
        else:
            run = rescoring.rescore_run_start(only_stale=stale)
        run = rescoring.rescore_run_continue(run)
        version = f"model v{run.model_version_id}" if run.model_version_id else "the base rate (no model)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Rescore run {run.pk} ({run.status}): {run.partitions_done} of {run.partitions_total} partitions "
                f"done, {run.scored} leads scored, {run.changed} changed, with {version}."
            )
        )
