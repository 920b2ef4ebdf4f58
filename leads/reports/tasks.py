from celery import shared_task
from django.core.cache import cache

from leads import channels
from leads.reports import rollups, summaries


@shared_task(name="reports.refresh_summaries", acks_late=True)
def refresh_summaries() -> dict[str, float]:
    """Recompute the unfiltered report summaries so manager pages render from the cache."""
    return summaries.reports_refresh()


@shared_task(name="reports.forecast_snapshot", acks_late=True)
def forecast_snapshot() -> int | None:
    """For the beat schedule: store this month's forecast of the open leads (once a month)."""
    snapshot = channels.forecast_snapshot_take()
    return snapshot.pk if snapshot else None


@shared_task(name="reports.rollups_rebuild_pending", acks_late=True)
def rollups_rebuild_pending() -> int:
    """Debounced after writes: rebuild the rollup days marked dirty (safe to run twice: a second
    run finds no marks)."""
    cache.delete(rollups.REQUEST_KEY)
    return rollups.rollups_rebuild_pending()


@shared_task(name="reports.rollups_rebuild_all", acks_late=True)
def rollups_rebuild_all() -> None:
    """For the beat schedule: rebuild every rollup day from the leads (writes that bypassed the
    services, e.g. SQL or the admin's bulk actions)."""
    rollups.rollups_rebuild_all()
