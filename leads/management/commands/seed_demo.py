from django.core.management.base import BaseCommand, CommandError

from leads.demo import demo_data_create
from leads.models import Lead


class Command(BaseCommand):
    help = "Create demo users and realistic synthetic leads, activities, follow-ups and outcomes."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when leads already exist.")

    def handle(self, *args, leads: int, seed: int, if_empty: bool, **options):
        if leads < 1:
            raise CommandError("--leads must be at least 1")
        if if_empty and Lead.objects.exists():
            self.stdout.write("Leads exist already: demo data not loaded.")
            return
        summary = demo_data_create(leads=leads, seed=seed)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {summary.leads} leads, {summary.activities} activities, {summary.follow_ups} follow-ups."
            )
        )
        self.stdout.write("Demo logins (username / password, role):")
        for username, password, role in summary.users:
            self.stdout.write(f"  {username} / {password}  ({role})")
