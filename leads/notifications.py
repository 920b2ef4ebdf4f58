"""Notifications: what the app tells a user, in the app and by email, each kind switchable per user.

`notify()` is the one way in, for the CRM's own services (assignment, routing, SLA, follow-ups,
imports) and for scoring (models activated or refused: scoring may import leads, never the
reverse). Email goes out after commit through a Celery task with retries (leads.tasks), through
Django's email backend (console by default, SMTP when EMAIL_HOST is set).
"""

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from leadcrm.dispatch import task_dispatch
from leads.models import Lead, Notification, NotificationPreference, User

EMAIL_TASK = "leads.notification_email_send"
Kind = Notification.Kind


def preferences_for(user: User) -> dict[str, NotificationPreference]:
    """Every kind's preference for `user`: the stored choice, else the default (in-app and email)."""
    stored = {p.kind: p for p in NotificationPreference.objects.filter(user=user)}
    return {kind: stored.get(kind) or NotificationPreference(user=user, kind=kind) for kind in Kind.values}


@transaction.atomic
def preferences_set(*, user: User, choices: dict[str, dict[str, bool]]) -> None:
    """Store `{kind: {"in_app": bool, "email": bool, "digest": bool}}` for `user`."""
    for kind, values in choices.items():
        if kind not in Kind.values:
            raise ValueError(f"Unknown notification kind {kind!r}")
        NotificationPreference.objects.update_or_create(
            user=user,
            kind=kind,
            defaults={
                "in_app": bool(values.get("in_app")),
                "email": bool(values.get("email")),
                "digest": bool(values.get("digest")),
            },
        )


def notify(
    *,
    users: Iterable[User],
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
    lead: Lead | None = None,
    dedupe_key: str = "",
) -> list[Notification]:
    """Tell each of `users` (inactive users and those who switched `kind` off are skipped).

    With a dedupe_key, a user already told under that key is not told again (safe to call twice).
    Returns the notifications created; their emails are sent after the transaction commits."""
    return _notifications_create(
        users=users,
        kind=kind,
        messages=[{"title": title, "body": body, "url": url, "lead": lead}],
        dedupe_key=dedupe_key,
    )


def _notifications_create(
    *, users: Iterable[User], kind: str, messages: list[dict], dedupe_key: str = ""
) -> list[Notification]:
    """Each message to each of `users`, in a fixed number of queries however many there are:
    one for the preferences, one INSERT (and with a dedupe_key one read before and one after)."""
    if kind not in Kind.values:
        raise ValueError(f"Unknown notification kind {kind!r}")
    users = [u for u in users if u is not None and u.is_active]
    if not users or not messages:
        return []
    prefs = {p.user_id: p for p in NotificationPreference.objects.filter(user__in=[u.pk for u in users], kind=kind)}
    wanted = [u for u in users if prefs.get(u.pk) is None or prefs[u.pk].in_app or prefs[u.pk].email]
    if dedupe_key:
        told = set(
            Notification.objects.filter(user__in=[u.pk for u in wanted], dedupe_key=dedupe_key).values_list(
                "user_id", flat=True
            )
        )
        wanted = [u for u in wanted if u.pk not in told]
    now = timezone.now()
    created = [
        Notification(
            user=u,
            kind=kind,
            title=message["title"][:255],
            body=message["body"],
            url=message["url"],
            lead=message["lead"],
            dedupe_key=dedupe_key,
            created_at=now,
            # Email only: stored as read so the in-app list and badge leave it out.
            read_at=now if prefs.get(u.pk) is not None and not prefs[u.pk].in_app else None,
        )
        for u in wanted
        for message in messages
    ]
    created = Notification.objects.bulk_create(created, ignore_conflicts=bool(dedupe_key))
    if dedupe_key:  # ignore_conflicts gives no ids back: read them
        created = list(
            Notification.objects.filter(user__in=[u.pk for u in wanted], dedupe_key=dedupe_key, created_at=now)
        )
    emails = {u.pk: u.email for u in wanted}
    to_email = [n.pk for n in created if emails[n.user_id] and (n.user_id not in prefs or prefs[n.user_id].email)]
    if to_email:
        transaction.on_commit(lambda: _emails_dispatch(to_email))
    return created


def lead_assigned_notify(*, lead: Lead, rep: User, how: str = "assigned to you") -> None:
    leads_assigned_notify(leads=[lead], rep=rep, how=how)


def leads_assigned_notify(*, leads: list[Lead], rep: User, how: str = "assigned to you") -> None:
    """One "assigned to you" notification per lead, as a single assignment sends, in a fixed
    number of queries however many leads (a bulk assignment)."""
    _notifications_create(
        users=[rep],
        kind=Kind.LEAD_ASSIGNED,
        messages=[
            {
                "title": f"{lead} was {how}",
                "body": f"{lead.get_tier_display()} lead" + (f" from {lead.source}" if lead.source else "") + ".",
                "url": reverse("leads:detail", args=[lead.pk]),
                "lead": lead,
            }
            for lead in leads
        ],
    )


def _emails_dispatch(notification_ids: list[int]) -> None:
    for pk in notification_ids:
        task_dispatch(EMAIL_TASK, args=(pk,))


def notification_email_send(*, notification_id: int) -> bool:
    """Email one notification; True when sent now. Sending twice is prevented by a conditional
    UPDATE claiming the row; a failed send releases the claim so the task's retry can send it."""
    claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(emailed_at=timezone.now())
    if not claimed:
        return False
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    link = f"\n\n{settings.SITE_URL}{notification.url}" if notification.url else ""
    try:
        send_mail(
            subject=f"[LeadCRM] {notification.title}",
            message=f"{notification.body}{link}".strip() or notification.title,
            from_email=None,
            recipient_list=[notification.user.email],
        )
    except Exception:
        Notification.objects.filter(pk=notification_id).update(emailed_at=None)
        raise
    return True


def managers_active() -> QuerySet[User]:
    return User.objects.filter(is_active=True, role__in=[User.Role.MANAGER, User.Role.ADMIN])


def admins_active() -> QuerySet[User]:
    return User.objects.filter(is_active=True, role=User.Role.ADMIN)


# --- reads for the pages ------------------------------------------------------------------


def unread_count_for(user: User) -> int:
    """The header badge: one COUNT over the partial index notification_user_unread."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_for(user: User, *, limit: int = 100) -> list[Notification]:
    return list(Notification.objects.filter(user=user).order_by("-created_at", "-id")[:limit])


def notification_read(*, user: User, notification_id: int, when: datetime | None = None) -> Notification | None:
    """Mark one of `user`'s notifications read; None when it is not theirs."""
    notification = Notification.objects.filter(pk=notification_id, user=user).first()
    if notification is not None and notification.read_at is None:
        notification.read_at = when or timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_read_all(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
