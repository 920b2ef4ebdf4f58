"""python manage.py prune_import_files [--dry-run]"""

from django.conf import settings
from django.core.management.base import BaseCommand

from leads.importing import retention


class Command(BaseCommand):
    help = (
        "Delete the uploaded files of imports finished more than IMPORT_FILE_RETENTION_DAYS ago (the jobs stay), "
        "and files in the imports directory that no import references and that are older than a day."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would be deleted; delete nothing")

    def handle(self, *args, dry_run: bool, **options):
        if dry_run:
            self._list(retention.import_files_prunable())
            return
        counts = retention.import_files_prune()
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {counts['deleted_files']} import file(s) older than {settings.IMPORT_FILE_RETENTION_DAYS} "
                f"days and {counts['orphans']} orphan file(s); freed {counts['freed_bytes']:,} bytes."
            )
        )

    def _list(self, files: list[retention.PrunableFile]) -> None:
        for item in files:
            owner = f"import #{item.job_id}" if item.job_id is not None else "orphan"
            size = f"{item.size:,} bytes" if item.size is not None else "size unknown"
            self.stdout.write(f"would delete {item.name} ({owner}, {size})")
        jobs = sum(1 for item in files if item.job_id is not None)
        total = sum(item.size or 0 for item in files)
        self.stdout.write(
            f"Dry run: {jobs} import file(s) and {len(files) - jobs} orphan file(s) would be deleted, "
            f"freeing {total:,} bytes. Nothing was deleted."
        )
