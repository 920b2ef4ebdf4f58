"""The scoring app's start-up: thread limits for the numeric libraries, and its Celery tasks.

May import django and the scoring package (tasks); nothing imports it but Django.
"""

from django.apps import AppConfig
from django.conf import settings


class ScoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self):
        # OpenMP/BLAS thread pools spin when cores are oversubscribed (web + worker + other jobs on
        # the same box): HistGradientBoosting ran 100x slower with all threads on a loaded 2-core
        # machine. One thread per process by default; SCORING_THREADS raises it on a dedicated host.
        from threadpoolctl import threadpool_limits

        from leads import signals
        from scoring import receivers

        threadpool_limits(limits=settings.SCORING_THREADS)
        # Register the tasks in every process: the services send them by name (scoring.tasks
        # imports the services, so the services cannot import it back).
        from scoring import tasks  # noqa: F401

        signals.leads_changed.connect(receivers.on_leads_changed, dispatch_uid="scoring.on_leads_changed")
        signals.outcomes_imported.connect(receivers.on_outcomes_imported, dispatch_uid="scoring.on_outcomes_imported")
        # Data protection: a person's export includes their score history; an erasure clears its free text.
        signals.person_data_requested.connect(receivers.on_person_data_requested, dispatch_uid="scoring.person_data")
        signals.person_erased.connect(receivers.on_person_erased, dispatch_uid="scoring.person_erased")
        signals.columns_leak_check.connect(
            receivers.on_columns_leak_check, dispatch_uid="scoring.on_columns_leak_check"
        )

        # The manager dashboard's headline table shows the active model's AUC: the reports send
        # a signal and scoring answers, so the reports never import scoring.
        from leads.reports.signals import dashboard_headline_rows
        from scoring.quality import dashboard_headline_rows as active_model_rows

        dashboard_headline_rows.connect(active_model_rows, dispatch_uid="scoring.quality.dashboard_headline_rows")

        # /health/ checks that the active model loads; /metrics shows model age and scoring speed.
        from leadcrm import health, metrics
        from scoring import observability

        health.check_register(observability.ActiveModel)
        metrics.collector_register(observability.metrics_collect)
