"""`manage.py train_model`: train a model now and report its metrics.

May import scoring's training and training_runs.
"""

import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from scoring import training, training_runs


class Command(BaseCommand):
    help = "Train a scoring model on every outcome; activate it when it beats the active one."

    def add_arguments(self, parser):
        parser.add_argument("--cv", type=int, default=5, help="Cross-validation folds (default 5).")
        parser.add_argument("--json", action="store_true", help="Print the new version's metrics as JSON.")

    def handle(self, *args, cv: int, **options):
        as_json = options["json"]
        if cv < 2:
            raise CommandError("--cv must be at least 2")
        try:
            version = training_runs.model_train(folds=cv, progress=None if as_json else self._progress)
        except training_runs.TrainingRefused as exc:
            raise CommandError(str(exc)) from exc
        except training.TrainingError as exc:
            raise CommandError(f"training failed: {exc}") from exc
        version.refresh_from_db()
        if as_json:
            self.stdout.write(_dumps(version))
            return
        cv_auc = version.metrics["cv"]["roc_auc"]
        holdout = version.metrics["holdout"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Model v{version.pk} ({version.params.get('candidate')}) is {version.status}: "
                f"CV ROC AUC {cv_auc['mean']:.4f} ± {cv_auc['std']:.4f}; holdout ROC AUC {holdout['roc_auc']}, "
                f"ECE {holdout['ece']}, accuracy {holdout['accuracy']} at {holdout['threshold']}."
            )
        )
        sample = (version.metrics.get("training_set") or {}).get("sample")
        if sample:
            self.stdout.write(f"Learnt from a sample: {sample['how']}.")
        self.stdout.write(version.metrics.get("challenger", {}).get("reason", ""))
        for column, why in (version.metrics.get("leak_warnings") or {}).items():
            self.stdout.write(self.style.WARNING(f"Leak check: {column}: {why}"))

    def _progress(self, pct: int, stage: str) -> None:
        self.stderr.write(f"[{pct:3d}%] {stage}")


def _dumps(version) -> str:
    metrics = version.metrics
    return jsonlib.dumps(
        {
            "model_version": version.pk,
            "status": version.status,
            # The verdicts in words, on top: which activation gates failed, which kept columns look
            # too predictive, and why it was (not) activated. The full figures are in "metrics".
            "gates": {"passed": not metrics.get("gates"), "failed": metrics.get("gates") or []},
            "leak_warnings": metrics.get("leak_warnings") or {},
            "activation": metrics.get("challenger") or {},
            "algorithm": version.algorithm,
            "params": version.params,
            "metrics": version.metrics,
            "features": version.features,
        },
        indent=2,
    )
