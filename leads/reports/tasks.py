from celery import shared_task

from leads.reports import summaries


@shared_task(name="reports.refresh_summaries", acks_late=True)
def refresh_summaries() -> dict[str, float]:
    """Recompute the unfiltered report summaries so manager pages render from the cache."""
    return summaries.reports_refresh()
