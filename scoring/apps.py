"""The scoring app's start-up: thread limits for the numeric libraries.

May import django only; nothing imports it but Django.
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

        threadpool_limits(limits=settings.SCORING_THREADS)
