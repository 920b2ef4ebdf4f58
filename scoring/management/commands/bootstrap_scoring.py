from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Train the first model when none is active and enough outcomes exist, then score every lead."

    def handle(self, *args, **options):
        self.stdout.write("Scoring engine not installed yet: leads stay unscored.")
