"""What scoring adds to /health/ and /metrics: the active model's file loads; model age and scoring speed.

Registered by scoring/apps.py (leadcrm owns the endpoints and never imports scoring).
"""

import dataclasses
from pathlib import Path

from django.db import connection
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from prometheus_client.core import GaugeMetricFamily

from scoring import registry, selectors
from scoring.models import RescoreRun


@dataclasses.dataclass
class ActiveModel(HealthCheck):
    """The active model's artifact is on disk and loads (no active model yet is healthy: base rates)."""

    def run(self) -> None:
        try:
            self._check()
        finally:
            connection.close()  # checks run on the view's executor threads: leave no connection behind

    def _check(self) -> None:
        version = selectors.active_model_version()
        if version is None:
            return
        if not Path(version.artifact_path).is_file():
            raise ServiceUnavailable(f"active model v{version.pk}: its file is missing")
        try:
            registry.model_load(version)  # read and verified once per process, then cached
        except Exception as exc:
            reason = type(exc).__name__
            raise ServiceUnavailable(f"active model v{version.pk}: its file does not load ({reason})") from None


def metrics_collect():
    """Model age, and the scoring speed of the last finished rescore run (leads scored per second)."""
    version = selectors.active_model_version()
    age = GaugeMetricFamily("leadcrm_model_age_seconds", "Seconds since the active model was trained")
    active = GaugeMetricFamily("leadcrm_model_active", "1 when a model is active (else leads get the base rate)")
    active.add_metric([], 1 if version else 0)
    if version is not None:
        age.add_metric([], (timezone.now() - version.created_at).total_seconds())
    yield age
    yield active
    run = (
        RescoreRun.objects.filter(status=RescoreRun.Status.DONE, finished_at__isnull=False, scored__gt=0)
        .order_by("-finished_at")
        .first()
    )
    speed = GaugeMetricFamily(
        "leadcrm_rescore_leads_per_second", "Leads scored per second by the last finished rescore run"
    )
    if run is not None:
        seconds = max((run.finished_at - run.created_at).total_seconds(), 0.001)
        speed.add_metric([], run.scored / seconds)
    yield speed
