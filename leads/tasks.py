from celery import shared_task

from leads import services


@shared_task(name="leads.follow_ups_refresh", acks_late=True)
def follow_ups_refresh(lead_ids: list[int] | None = None) -> int:
    """Repair each lead's next_follow_up_at from its open follow-ups."""
    return services.leads_follow_up_refresh(lead_ids=lead_ids)
