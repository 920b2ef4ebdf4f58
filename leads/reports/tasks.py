from celery import shared_task

from leads import channels
from leads.reports import summaries


@shared_task(name="reports.refresh_summaries", acks_late=True)
def refresh_summaries() -> dict[str, float]:
    """Recompute the unfiltered report summaries so manager pages render from the cache."""
    return summaries.reports_refresh()


@shared_task(name="reports.forecast_snapshot", acks_late=True)
def forecast_snapshot() -> int | None:
    """For the beat schedule: store this month's forecast of the open leads (once a month)."""
    snapshot = channels.forecast_snapshot_take()
    return snapshot.pk if snapshot else None
