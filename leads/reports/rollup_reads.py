"""The manager reports computed from the rollup tables (leads.reports.rollups) instead of the leads.

Each function returns exactly what its namesake in leads.reports.selectors (or channels) returns
for the same filters; tests/reports/test_rollup_reads.py holds them to it. A report reads:
- the rollup rows of its days and dimensions (a SUM ... GROUP BY over a narrow table), and
- straight from the leads, through the `lead_created` index, the days the rollups cannot answer:
  days marked and not rebuilt yet (rollups.pending()), and for rep discipline the last
  max(SLA) hours, whose "not contacted yet" breaches depend on now;
and adds the two. When every day is pending (before the first build, after a full rescore or a
large import, until its rebuild), the report is computed from the leads as before.

Medians stay exact: one query over the filter's contacted or converted leads. The latest SLA
breaches (50 rows) and open follow-ups (overdue or upcoming: they depend on now) are read raw.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from statistics import median

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from leads.models import FollowUp, Lead
from leads.reports import channels, rollups, selectors
from leads.reports.channels import ChannelFilters
from leads.reports.rollup_models import (
    RollupChannel,
    RollupCube,
    RollupCubeMonth,
    RollupDuration,
    RollupFollowUp,
    RollupFunnel,
    RollupLost,
)
from leads.reports.rollups import Pending, created_on_q, local_day
from leads.reports.selectors import COHORT_HORIZONS_DAYS, CUBE_DIMS, ReportFilters, day_start, next_month

OUTCOMES = ("leads", "converted", "lost")
COHORT_MEASURES = (*OUTCOMES, *(f"converted_{days}d" for days in COHORT_HORIZONS_DAYS))


def _add(a, b):
    if a is None:
        return b
    return a if b is None else a + b


def merged(rows: Iterable[dict], dims: tuple[str, ...], measures: tuple[str, ...]) -> list[dict]:
    """Rows with the same dimensions added up (rollup rows and rows read from the leads)."""
    out: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[d] for d in dims)
        if key not in out:
            out[key] = {name: row[name] for name in (*dims, *measures)}
            continue
        acc = out[key]
        for name in measures:
            acc[name] = _add(acc[name], row[name])
    return list(out.values())


def summed(rollup_rows: QuerySet, dims: tuple[str, ...], measures: tuple[str, ...]) -> list[dict]:
    """SUM of each measure per `dims` over rollup rows, named like the measures."""
    grouped = rollup_rows.values(*dims).annotate(**{f"sum_{m}": Sum(m) for m in measures}).order_by()
    return [{**{d: row[d] for d in dims}, **{m: row[f"sum_{m}"] for m in measures}} for row in grouped]


def _not_on(days: Iterable[date]) -> Q:
    """Rollup rows of any day but these."""
    days = sorted(days)
    return ~Q(day__in=days) if days else Q()


class _Parts:
    """Which days a report reads from the rollups and which from the leads."""

    def __init__(self, filters: ReportFilters, pending: Pending, *, raw_from: date | None = None):
        raw_days = {day for day in pending.days if filters.covers(day)}
        self.dims_q = filters.rollup_dims_q()
        self.first = filters.date_from
        self.last = filters.date_to
        if raw_from is not None:
            before = raw_from - timedelta(days=1)
            self.last = min(self.last, before) if self.last else before
        self.rollup_q = filters.rollup_q()
        raw = Q(pk__in=[])
        if raw_days:
            self.rollup_q &= _not_on(raw_days)
            raw |= created_on_q(raw_days)
        if raw_from is not None:
            self.rollup_q &= Q(day__lt=raw_from)
            raw |= Q(created_at__gte=day_start(raw_from))
        self.reads_leads = bool(raw_days) or raw_from is not None
        self.lead_q = filters.lead_q() & raw
        self.pending_days = raw_days

    def leads(self):
        return Lead.objects.filter(self.lead_q).order_by()

    def cube_summed(self, dims: tuple[str, ...], measures: tuple[str, ...]) -> list[dict]:
        """The cube's rows summed per `dims`: whole months without pending days from the month
        grain, the other days from the day grain (two queries)."""
        first_month = None if self.first is None else self.first if self.first.day == 1 else next_month(self.first)
        end_month = None
        if self.last is not None:
            after = self.last + timedelta(days=1)
            end_month = after if after.day == 1 else self.last.replace(day=1)
        if first_month is not None and end_month is not None and first_month >= end_month:
            return summed(RollupCube.objects.filter(self.rollup_q), dims, measures)
        pending_months = sorted({day.replace(day=1) for day in self.pending_days})
        months = self.dims_q & ~Q(month__in=pending_months) if pending_months else self.dims_q
        outside = Q(pk__in=[])  # the days that no month row of `months` covers
        if first_month is not None:
            months &= Q(month__gte=first_month)
            outside |= Q(day__lt=first_month)
        if end_month is not None:
            months &= Q(month__lt=end_month)
            outside |= Q(day__gte=end_month)
        for month in pending_months:
            outside |= Q(day__gte=month, day__lt=next_month(month))
        return summed(RollupCubeMonth.objects.filter(months), dims, measures) + summed(
            RollupCube.objects.filter(self.rollup_q & outside), dims, measures
        )


# --- Conversion --------------------------------------------------------------------------


def conversion_cube(filters: ReportFilters) -> list[dict]:
    pending = rollups.pending()
    if pending.every:
        return selectors.conversion_cube(filters)
    parts = _Parts(filters, pending)
    rows = parts.cube_summed(CUBE_DIMS, OUTCOMES)
    if parts.reads_leads:
        rows += (
            parts.leads().annotate(**selectors.score_dims()).values(*CUBE_DIMS).annotate(**selectors.outcome_counts())
        )
    return merged(rows, CUBE_DIMS, OUTCOMES)


def conversion_cohorts(filters: ReportFilters, *, now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    pending = rollups.pending()
    if pending.every:
        return selectors.conversion_cohorts(filters, now=now)
    if not filters.date_from:
        filters = replace(filters, date_from=local_day(selectors.cohort_start(now)))
    parts = _Parts(filters, pending)
    rows = summed(RollupCube.objects.filter(parts.rollup_q), ("day",), COHORT_MEASURES)
    if parts.reads_leads:
        rows += (
            parts.leads()
            .annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(**selectors.outcome_counts(), **selectors.converted_within_counts())
        )
    weeks = []
    for row in rows:
        monday = row["day"] - timedelta(days=row["day"].weekday())
        weeks.append({**row, "week": day_start(monday)})
    return selectors.cohort_rates(sorted(merged(weeks, ("week",), COHORT_MEASURES), key=lambda r: r["week"]), now)


def lost_by_reason(filters: ReportFilters) -> list[dict]:
    pending = rollups.pending()
    if pending.every:
        return selectors.lost_by_reason(filters)
    parts = _Parts(filters, pending)
    rows = list(
        RollupLost.objects.filter(parts.rollup_q)
        .values("lost_reason")
        .annotate(n=Sum("lost"), listed=selectors.listed_reason())
        .order_by()
    )
    if parts.reads_leads:
        rows += (
            parts.leads()
            .filter(status=selectors.LOST)
            .values("lost_reason")
            .annotate(n=Count("pk"), listed=selectors.listed_reason())
        )
    return selectors.lost_reason_rows((r["lost_reason"], r["n"], r["listed"]) for r in rows)


# --- Funnel ------------------------------------------------------------------------------


def funnel(filters: ReportFilters) -> dict:
    pending = rollups.pending()
    if pending.every:
        return selectors.funnel(filters)
    parts = _Parts(filters, pending)
    dims = ("source", "stage")
    rows = summed(RollupFunnel.objects.filter(parts.rollup_q), dims, ("leads", "lost"))
    if parts.reads_leads:
        rows += rollups.funnel_rows(parts.leads(), dims, per_lead=True)
    return selectors.funnel_from_counts(merged(rows, dims, ("leads", "lost")))


# --- Rep discipline ----------------------------------------------------------------------

_REP_MEASURES = (*OUTCOMES, "contacted", "breached")


def rep_discipline(filters: ReportFilters, *, now: datetime | None = None) -> dict:
    """As selectors.rep_discipline with the configured SLA. A lead not contacted breaches once
    it is older than its tier's SLA: every such lead of a day before the last max(SLA) hours
    has, so only those recent days are read from the leads with `now`."""
    now = now or timezone.now()
    sla = selectors.sla_hours()
    pending = rollups.pending()
    if pending.every:
        return selectors.rep_discipline(filters, now=now, sla=sla)
    recent_from = local_day(now - timedelta(hours=max(sla.values())))
    parts = _Parts(filters, pending, raw_from=recent_from)
    dims = ("owner_id", "tier")
    rows = []
    for row in parts.cube_summed(dims, (*OUTCOMES, "contacted", "sla_late")):
        waiting = row["leads"] - row["contacted"] if row["tier"] in sla else 0
        rows.append({**row, "breached": row["sla_late"] + waiting})
    rows += (
        parts.leads()
        .annotate(tier=F("rank__tier"))
        .values(*dims)
        .annotate(
            **selectors.outcome_counts(),
            contacted=Count("pk", filter=Q(first_contacted_at__isnull=False)),
            breached=Count("pk", filter=selectors.sla_breach_q(now, sla)),
        )
    )
    medians = {key[0]: value for key, value in _contact_medians(filters, parts).items()}
    return selectors.discipline_from_rows(
        _per_owner(merged(rows, dims, _REP_MEASURES), sla, medians), _follow_ups(filters, parts, now), sla
    )


def _per_owner(rows: list[dict], sla: dict, medians: dict) -> list[dict]:
    owners: dict = {}
    for row in rows:
        owner = owners.setdefault(
            row["owner_id"],
            {"owner_id": row["owner_id"], **dict.fromkeys((*OUTCOMES, "contacted"), 0)}
            | {f"{k}_{t}": 0 for t in sla for k in ("n", "breached")},
        )
        for name in (*OUTCOMES, "contacted"):
            owner[name] += row[name]
        if row["tier"] in sla:
            owner[f"n_{row['tier']}"] += row["leads"]
            owner[f"breached_{row['tier']}"] += row["breached"]
    for owner_id, owner in owners.items():
        owner["median_seconds"] = medians.get(owner_id)
    return list(owners.values())


def _follow_ups(filters: ReportFilters, parts: _Parts, now: datetime) -> dict:
    """Follow-ups by assignee: done ones from the rollup (and of pending days from the follow-ups),
    open ones (overdue or upcoming at `now`) from the follow-ups."""
    counts: dict = {}

    def add(assignee, **values):
        row = counts.setdefault(assignee, dict.fromkeys(("fu_on_time", "fu_late", "fu_overdue", "fu_upcoming"), 0))
        for name, value in values.items():
            row[name] += value

    rollup_q = filters.rollup_q() & _not_on(parts.pending_days)
    for row in summed(RollupFollowUp.objects.filter(rollup_q), ("assigned_to_id",), ("on_time", "late")):
        add(row["assigned_to_id"], fu_on_time=row["on_time"], fu_late=row["late"])
    done_raw = created_on_q(parts.pending_days, prefix="lead__") if parts.pending_days else Q(pk__in=[])
    follow_ups = FollowUp.objects.filter(Q(done_at__isnull=True) | (Q(done_at__isnull=False) & done_raw))
    if filters.lead_q():
        follow_ups = follow_ups.filter(lead__in=filters.leads().values("pk"))
    for row in follow_ups.values("assigned_to_id").annotate(**selectors.follow_up_counts(now)).order_by():
        add(row.pop("assigned_to_id"), **row)
    return counts


# --- Dashboard ---------------------------------------------------------------------------


def dashboard_numbers(*, now: datetime | None = None) -> dict:
    """Open, created and converted in the last 90 days, hot untouched: the rollups for whole days,
    the leads for the day 90 days ago (cut at the minute) and pending days."""
    now = now or timezone.now()
    pending = rollups.pending()
    if pending.every:
        return selectors.dashboard_numbers(now=now)
    since = now - timedelta(days=90)
    edge = local_day(since)
    raw_days = {*pending.days, edge}
    recent = Q(day__gt=edge)
    numbers = (
        RollupCube.objects.filter(_not_on(raw_days))
        .order_by()
        .aggregate(
            all_leads=Sum("leads"),
            closed=Sum(F("converted") + F("lost")),
            created_90d=Sum("leads", filter=recent),
            converted_90d=Sum("converted", filter=recent),
            hot_untouched=Sum("open_not_contacted", filter=Q(tier=Lead.Tier.HOT)),
        )
    )
    numbers = {name: value or 0 for name, value in numbers.items()}
    numbers["open_leads"] = numbers.pop("all_leads") - numbers.pop("closed")
    raw = selectors.dashboard_counts(Lead.objects.filter(created_on_q(raw_days)).order_by(), since=since)
    return selectors.dashboard_finish({name: numbers[name] + raw[name] for name in raw}, now=now)


# --- Channels ----------------------------------------------------------------------------

CHANNEL_DIMS = ("month", "source", "campaign")
CHANNEL_MEASURES = ("leads", "conversions", "revenue_known", "unvalued")


def channels_report(filters: ChannelFilters) -> dict:
    pending = rollups.pending()
    if pending.every:
        return channels.channels_report(filters)
    start, end = filters.created_range()
    first, last = start.date(), (end - timedelta(days=1)).date()
    raw_days = sorted(day for day in pending.days if first <= day <= last)
    rollup_q = Q(day__gte=first, day__lte=last) & _not_on(raw_days)
    if filters.source:
        rollup_q &= Q(source=filters.source)
    rows = [
        {**row, "month": channels.month_of(row["month"])}
        for row in summed(RollupChannel.objects.filter(rollup_q).annotate(month=TruncMonth("day")), CHANNEL_DIMS,
                          CHANNEL_MEASURES)
    ]  # fmt: skip
    if raw_days:
        leads = Lead.objects.filter(filters.leads_q() & created_on_q(raw_days)).annotate(month=TruncMonth("created_at"))
        rows += [{**row, "month": channels.month_of(row["month"])} for row in rollups.channel_rows(leads, CHANNEL_DIMS)]
    cube = merged(rows, CHANNEL_DIMS, CHANNEL_MEASURES)
    durations = RollupDuration.objects.filter(rollup_q, kind=RollupDuration.CONVERT)
    leads = (
        rollups.convert_durations(Lead.objects.filter(filters.leads_q() & created_on_q(raw_days))) if raw_days else None
    )
    medians = _medians(durations, leads, filters.keys(), per=channels.SECONDS_PER_DAY)
    return channels.channels_from_cube(filters, cube, medians)


# --- Medians -----------------------------------------------------------------------------


def _contact_medians(filters: ReportFilters, parts: _Parts) -> dict[tuple, float]:
    """Median seconds to first contact per owner: the durations table for the rolled-up days, the
    leads for the pending ones (every value, so the median is exact)."""
    durations = RollupDuration.objects.filter(
        filters.rollup_q() & _not_on(parts.pending_days), kind=RollupDuration.CONTACT
    )
    leads = None
    if parts.pending_days:
        leads = rollups.contact_durations(Lead.objects.filter(filters.lead_q() & created_on_q(parts.pending_days)))
    return _medians(durations, leads, ("owner_id",))


def _medians(durations: QuerySet, leads: QuerySet | None, keys: tuple[str, ...], *, per: float = 1.0) -> dict:
    """The median of `seconds` / `per` per `keys` over both sources, computed as the selectors
    compute it from the leads: percentile_cont then / per on PostgreSQL, Python's median of each
    value / per on SQLite (so even counts round alike)."""
    sources = [qs.order_by().values(*keys, "seconds") for qs in (durations, leads) if qs is not None]
    if connection.vendor != "postgresql":
        values: dict[tuple, list[float]] = defaultdict(list)
        for source in sources:
            for *key, seconds in source.values_list(*keys, "seconds").iterator():
                values[tuple(key)].append(seconds / per)
        return {key: median(found) for key, found in values.items()}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(k) for k in keys)
    parts, params = [], []
    for source in sources:
        sql, source_params = source.query.sql_with_params()
        parts.append(f"SELECT {columns}, {quote('seconds')} FROM ({sql}) s{len(parts)}")  # noqa: S608 (names)
        params.extend(source_params)
    with selectors.report_work_mem(), connection.cursor() as cursor:  # sorts every value: in memory, not on disk
        cursor.execute(
            f"SELECT {columns}, percentile_cont(0.5) WITHIN GROUP (ORDER BY {quote('seconds')}) "  # noqa: S608
            f"FROM ({' UNION ALL '.join(parts)}) u GROUP BY {columns}",
            params,
        )
        return {tuple(row[:-1]): row[-1] / per for row in cursor.fetchall()}
