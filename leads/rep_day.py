"""A rep's own page (/me/): their day (follow-ups due today and overdue, hot leads nobody has
touched) and their month (conversion rate, median time to first contact) beside the team's
medians. Only the rep's own leads are listed; the team appears as medians only."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from statistics import median

from django.db.models import Count, Q
from django.utils import timezone

from leads.models import BY_SCORE, Activity, FollowUp, Lead, User

LIST_LIMIT = 50


@dataclass
class RepMonth:
    closed: int
    converted: int
    conversion_rate: float | None  # converted / closed this month
    median_first_contact_hours: float | None


@dataclass
class RepDay:
    due_today: list[FollowUp]
    overdue: list[FollowUp]
    hot_untouched: list[Lead]
    mine: RepMonth
    team_median_conversion_rate: float | None  # the median of the reps' rates
    team_median_first_contact_hours: float | None
    month_start: datetime


def _month_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date().replace(day=1), time.min), local.tzinfo)


def _months_by_rep(
    month_start: datetime, now: datetime, reps: list[int]
) -> tuple[dict[int, RepMonth], dict[int, list[float]]]:
    """Per rep: leads they own closed this month (by the status change's time), and hours from
    creation to first contact of their leads first contacted this month."""
    closes = (
        Activity.objects.filter(
            kind=Activity.Kind.STATUS_CHANGE,
            outcome__in=Lead.CLOSED_STATUSES,
            occurred_at__gte=month_start,
            occurred_at__lte=now,
            lead__owner__in=reps,
            lead__status__in=Lead.CLOSED_STATUSES,
        )
        .values("lead__owner")
        .annotate(
            closed=Count("lead", distinct=True),
            converted=Count("lead", distinct=True, filter=Q(outcome=Lead.Status.CONVERTED)),
        )
    )
    counts = {row["lead__owner"]: (row["closed"], row["converted"]) for row in closes}
    contact_hours: dict[int, list[float]] = {pk: [] for pk in reps}
    for owner, created, first in Lead.objects.filter(
        owner__in=reps, first_contacted_at__gte=month_start, first_contacted_at__lte=now
    ).values_list("owner", "created_at", "first_contacted_at"):
        contact_hours[owner].append(max(0.0, (first - created).total_seconds() / 3600))
    months = {}
    for pk in reps:
        closed, converted = counts.get(pk, (0, 0))
        hours = contact_hours[pk]
        months[pk] = RepMonth(
            closed=closed,
            converted=converted,
            conversion_rate=converted / closed if closed else None,
            median_first_contact_hours=median(hours) if hours else None,
        )
    return months, contact_hours


def _median_of(values) -> float | None:
    values = [v for v in values if v is not None]
    return median(values) if values else None


def rep_day_for(rep: User, *, now: datetime | None = None) -> RepDay:
    now = now or timezone.now()
    local = timezone.localtime(now)
    day_start = timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)
    open_follow_ups = (
        FollowUp.objects.filter(assigned_to=rep, done_at__isnull=True, lead__status__in=Lead.OPEN_STATUSES)
        .select_related("lead")
        .order_by("due_at", "id")
    )
    month_start = _month_start(now)
    team = list(User.objects.filter(role=User.Role.REP, is_active=True).values_list("pk", flat=True))
    months, contact_hours = _months_by_rep(month_start, now, sorted({*team, rep.pk}))
    return RepDay(
        due_today=list(
            open_follow_ups.filter(due_at__gte=max(day_start, now), due_at__lt=day_start + timedelta(days=1))[
                :LIST_LIMIT
            ]
        ),
        overdue=list(open_follow_ups.filter(due_at__lt=now)[:LIST_LIMIT]),
        hot_untouched=list(
            Lead.objects.filter(
                rank__owner=rep,
                rank__status__in=Lead.OPEN_STATUSES,
                rank__tier=Lead.Tier.HOT,
                last_activity_at__isnull=True,
            )
            .select_related("rank")
            .order_by(*BY_SCORE)[:LIST_LIMIT]
        ),
        mine=months[rep.pk],
        team_median_conversion_rate=_median_of(months[pk].conversion_rate for pk in team),
        # Over every team lead first contacted this month; conversion as the median rep's rate.
        team_median_first_contact_hours=_median_of(h for pk in team for h in contact_hours[pk]),
        month_start=month_start,
    )
