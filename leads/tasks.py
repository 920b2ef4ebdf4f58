from dataclasses import asdict

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from leads import notifications, privacy, reminders, routing, services, sla


@shared_task(name="leads.follow_ups_refresh", acks_late=True)
def follow_ups_refresh(lead_ids: list[int] | None = None) -> int:
    """Repair each lead's next_follow_up_at from its open follow-ups."""
    return services.leads_follow_up_refresh(lead_ids=lead_ids)


@shared_task(name="leads.retention_anonymise", acks_late=True)
def retention_anonymise() -> int:
    """Daily: erase closed leads older than RETENTION_ANONYMISE_CLOSED_MONTHS (0 = off)."""
    return privacy.closed_leads_anonymise()


@shared_task(name="leads.route_pool", acks_late=True)
def route_pool() -> int:
    """Route unassigned leads by the admins' rules (debounced requests and the beat)."""
    cache.delete(routing.PENDING_KEY)
    return routing.leads_route()


@shared_task(name="leads.sla_escalate", acks_late=True)
def sla_escalate() -> dict:
    return asdict(sla.sla_escalate())


@shared_task(name="leads.follow_ups_due_notify", acks_late=True)
def follow_ups_due_notify() -> int:
    return reminders.follow_ups_due_notify()


@shared_task(
    name="leads.notification_email_send",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=settings.NOTIFICATION_EMAIL_RETRIES,
)
def notification_email_send(notification_id: int) -> bool:
    return notifications.notification_email_send(notification_id=notification_id)
