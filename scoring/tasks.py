from celery import shared_task


@shared_task(name="scoring.rescore_leads")
def rescore_leads(lead_ids: list[int] | None = None) -> int:
    """Seam for the scoring engine: rescores the given leads (all when None)."""
    return 0
