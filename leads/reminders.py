"""Follow-ups due today, told to whoever they are assigned to (the hourly beat task
leads.follow_ups_due_notify; nothing is sent before FOLLOW_UP_DIGEST_HOUR local time).

One notification per follow-up, or one digest a day for users who chose it. Dedupe keys make
every run after the first a no-op for the same follow-ups (and the same day's digest).
"""

from collections import defaultdict
from datetime import datetime, time, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from leads.models import FollowUp, Lead, NotificationPreference
from leads.notifications import Kind, notify


def follow_ups_due_notify(*, now: datetime | None = None) -> int:
    """Returns how many notifications were created."""
    now = timezone.localtime(now or timezone.now())
    if now.hour < settings.FOLLOW_UP_DIGEST_HOUR:
        return 0
    day_start = timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)
    due = (
        FollowUp.objects.filter(
            done_at__isnull=True,
            due_at__gte=day_start,
            due_at__lt=day_start + timedelta(days=1),
            assigned_to__isnull=False,
            assigned_to__is_active=True,
            lead__status__in=Lead.OPEN_STATUSES,
        )
        .select_related("lead", "assigned_to")
        .order_by("due_at", "id")
    )
    by_user = defaultdict(list)
    for follow_up in due:
        by_user[follow_up.assigned_to].append(follow_up)
    digest_users = set(
        NotificationPreference.objects.filter(
            user__in=[u.pk for u in by_user], kind=Kind.FOLLOW_UP_DUE, digest=True
        ).values_list("user_id", flat=True)
    )
    created = 0
    for user, follow_ups in by_user.items():
        if user.pk in digest_users:
            lines = [
                f"{timezone.localtime(f.due_at):%H:%M} {f.lead}{' — ' + f.note if f.note else ''}" for f in follow_ups
            ]
            created += len(
                notify(
                    users=[user],
                    kind=Kind.FOLLOW_UP_DUE,
                    title=f"{len(follow_ups)} follow-up(s) due today",
                    body="\n".join(lines),
                    url=reverse("leads:me"),
                    dedupe_key=f"follow_up_digest:{now.date().isoformat()}",
                )
            )
            continue
        for f in follow_ups:
            created += len(
                notify(
                    users=[user],
                    kind=Kind.FOLLOW_UP_DUE,
                    title=f"Follow-up with {f.lead} due at {timezone.localtime(f.due_at):%H:%M}",
                    body=f.note,
                    url=reverse("leads:detail", args=[f.lead_id]),
                    lead=f.lead,
                    dedupe_key=f"follow_up_due:{f.pk}",
                )
            )
    return created
