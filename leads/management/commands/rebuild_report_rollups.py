"""python manage.py rebuild_report_rollups [--pending]"""

import time

from django.core.management.base import BaseCommand

from leads.reports import rollups


class Command(BaseCommand):
    help = (
        "Rebuild the reports' rollup tables from the leads (every day, as the hourly beat does; with --pending "
        "only the days marked dirty, as the task after writes does). Run it after migrating onto existing leads."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pending", action="store_true", help="Rebuild only the days marked dirty")

    def handle(self, *args, pending: bool, **options):
        start = time.perf_counter()
        if pending:
            days = rollups.rollups_rebuild_pending()
            what = "every day" if days < 0 else f"{days} day(s)"
        else:
            rollups.rollups_rebuild_all()
            what = "every day"
        rollups.pending_reload()
        self.stdout.write(
            self.style.SUCCESS(f"Rebuilt the report rollups of {what} in {time.perf_counter() - start:.1f} s.")
        )
