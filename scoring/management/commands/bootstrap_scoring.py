"""`manage.py bootstrap_scoring`: train the first model when possible, then score every lead.

May import scoring's selectors, training_runs and rescoring.
"""

import time

from django.core.management.base import BaseCommand

from scoring import rescoring, selectors, training_runs
from scoring.models import RescoreRun


class Command(BaseCommand):
    help = "Train the first model when none is active and enough outcomes exist, then score every lead."

    def add_arguments(self, parser):
        parser.add_argument("--cv", type=int, default=3, help="Cross-validation folds for the first model.")

    def handle(self, *args, cv: int, **options):
        started = time.perf_counter()
        if selectors.active_model_version() is None:
            readiness = selectors.training_readiness()
            if readiness.ready:
                version = training_runs.model_train(folds=cv)
                holdout = version.metrics.get("holdout", {})
                self.stdout.write(
                    f"Trained model v{version.pk} ({version.params.get('candidate')}): holdout ROC AUC "
                    f"{holdout.get('roc_auc')}, {version.status}."
                )
            else:
                self.stdout.write(readiness.message + ": leads get the base rate.")
        else:
            self.stdout.write(f"Model v{selectors.active_model_version().pk} is active already.")
        active = selectors.active_model_version()
        run = RescoreRun.objects.filter(status=RescoreRun.Status.DONE, model_version=active).first() if active else None
        if run is None or run.created_at < active.activated_at:
            run = rescoring.rescore_run_continue(rescoring.rescore_run_start())
        self.stdout.write(
            self.style.SUCCESS(
                f"Scored {run.scored} leads ({run.changed} changed) in {time.perf_counter() - started:.1f} s."
            )
        )
