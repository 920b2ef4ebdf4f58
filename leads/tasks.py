from celery import shared_task

from leads import privacy, services


@shared_task(name="leads.follow_ups_refresh", acks_late=True)
def follow_ups_refresh(lead_ids: list[int] | None = None) -> int:
    """Repair each lead's next_follow_up_at from its open follow-ups."""
    return services.leads_follow_up_refresh(lead_ids=lead_ids)


@shared_task(name="leads.retention_anonymise", acks_late=True)
def retention_anonymise() -> int:
    """Daily: erase closed leads older than RETENTION_ANONYMISE_CLOSED_MONTHS (0 = off)."""
    return privacy.closed_leads_anonymise()
