"""The reports' rollup tables (leads/reports/rollup_models.py): what each measures, how a day is
rebuilt, and how writers say which days changed.

What: each rollup is one grouped query over the leads (`Rollup.rows`), keyed by the lead's local
creation day. The same query, without the day, is what a report reads straight from the leads
for the few days whose rollup rows are not rebuilt yet (leads.reports.rollup_reads), so the two
can never disagree about a measure.

When: a write marks the local creation days of the leads it changed (RollupDirty rows, in the
writer's transaction: receivers in leads/reports/rollup_receivers.py and explicit calls in the
services that write with QuerySet.update), and asks on commit for a debounced task,
reports.rollups_rebuild_pending, which rebuilds the marked days (DELETE + INSERT ... SELECT ...
GROUP BY over the leads created those days, through the `lead_created` index) in one transaction
and deletes the marks it claimed. The beat rebuilds every day every REPORT_ROLLUP_REBUILD_SECONDS
(reports.rollups_rebuild_all, also `manage.py rebuild_report_rollups`): the safety net for writes
that bypass the services. Rebuilds take one lock (PostgreSQL advisory lock; SQLite has one
writer anyway), so two runs never interleave; a run is safe to repeat.

Freshness for readers: the days marked and not rebuilt yet are also kept in the cache (a hint:
`pending()`); a report computed now reads those days from the leads, so it shows a write as
soon as it commits. A lost hint only means the report waits for the task (seconds).
"""

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import reduce

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, FloatField, Func, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from leadcrm.dispatch import debounced_dispatch
from leads.models import FollowUp, Lead
from leads.reports import selectors
from leads.reports.rollup_models import (
    RollupChannel,
    RollupCube,
    RollupCubeMonth,
    RollupDirty,
    RollupDuration,
    RollupFollowUp,
    RollupFunnel,
    RollupLost,
)
from leads.reports.selectors import day_start, next_month

CONVERTED = Lead.Status.CONVERTED
LOST = Lead.Status.LOST
REBUILD_TASK = "reports.rollups_rebuild_pending"
REQUEST_KEY = "reports:rollups:requested"
PENDING_KEY = "reports:rollups:pending:v1"
PENDING_TTL_SECONDS = 24 * 3600
# Marking more leads than this at once (an import, a full rescore) marks every day: looking up
# their days would cost as much as the rebuild.
MARK_LEADS_MAX = 20_000
_ID_CHUNK = 5_000
# Ids spread over less than this many times their number are marked as one range (rollups_mark_leads).
DENSE_IDS_SPAN = 2
# pg_advisory_xact_lock key of rollup rebuilds ("rollups" in ASCII, as a number).
_LOCK_KEY = 0x726F6C6C757073


# --- Days --------------------------------------------------------------------------------


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days (first, last): one range scan per run."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def created_on_q(days: Iterable[date], prefix: str = "") -> Q:
    """Leads created on any of `days` (local), as created_at ranges the `lead_created` index serves."""
    ranges = [
        Q(
            **{
                f"{prefix}created_at__gte": day_start(first),
                f"{prefix}created_at__lt": day_start(last + timedelta(days=1)),
            }
        )
        for first, last in day_runs(days)
    ]
    return reduce(operator.or_, ranges) if ranges else Q(pk__in=[])


# --- What each rollup measures ------------------------------------------------------------

LEAD_DIMS = ("source", "origin", "owner_id")
CUBE_DIMS = selectors.CUBE_DIMS
CUBE_MEASURES = (
    "leads", "converted", "lost", "contacted", "open_not_contacted", "converted_7d", "converted_30d", "converted_90d",
    "sla_late",
)  # fmt: skip


def cube_measures(sla: dict[str, int]) -> dict:
    """The cube's measures over leads: outcomes, contact, cohort horizons, late first contacts."""
    late = reduce(operator.or_, (selectors.sla_late_q(tier, hours) for tier, hours in sla.items()))
    return {
        **selectors.outcome_counts(),
        "contacted": Count("pk", filter=Q(first_contacted_at__isnull=False)),
        "open_not_contacted": Count("pk", filter=Q(status__in=Lead.OPEN_STATUSES, first_contacted_at__isnull=True)),
        **selectors.converted_within_counts(),
        "sla_late": Count("pk", filter=late),
    }


def cube_rows(leads: QuerySet, dims: tuple[str, ...]) -> QuerySet:
    return leads.annotate(**selectors.score_dims()).values(*dims).annotate(**cube_measures(selectors.sla_hours()))


def lost_rows(leads: QuerySet, dims: tuple[str, ...]) -> QuerySet:
    return leads.filter(status=LOST).values(*dims).annotate(lost=Count("pk"))


def funnel_rows(leads: QuerySet, dims: tuple[str, ...], *, per_lead: bool = False) -> QuerySet:
    return (
        leads.annotate(stage=selectors.stage_reached(per_lead=per_lead))
        .values(*dims)
        .annotate(leads=Count("pk"), lost=Count("pk", filter=Q(status=LOST)))
    )


def channel_rows(leads: QuerySet, dims: tuple[str, ...]) -> QuerySet:
    converted = Q(status=CONVERTED)
    return leads.values(*dims).annotate(
        leads=Count("pk"),
        conversions=Count("pk", filter=converted),
        revenue_known=Sum("converted_value", filter=converted),
        unvalued=Count("pk", filter=converted & Q(converted_value__isnull=True)),
    )


def follow_up_rows(follow_ups: QuerySet, dims: tuple[str, ...]) -> QuerySet:
    """Done follow-ups, on time or late, by their lead's dimensions and their assignee."""
    return (
        follow_ups.filter(done_at__isnull=False)
        .annotate(
            day=TruncDate("lead__created_at"),
            source=F("lead__source"),
            origin=F("lead__origin"),
            owner_id=F("lead__owner_id"),
        )
        .values(*dims)
        .annotate(
            on_time=Count("pk", filter=Q(done_at__lte=F("due_at"))),
            late=Count("pk", filter=Q(done_at__gt=F("due_at"))),
        )
    )


class Seconds(Func):
    """A duration (the difference of two datetimes) in seconds, as a float: EXTRACT(EPOCH ...)
    on PostgreSQL; on SQLite Django's difference is in microseconds. Either way the same number
    as timedelta.total_seconds(), so medians over it equal the medians over the leads."""

    output_field = FloatField()

    def __init__(self, later: str, earlier: str):
        super().__init__(ExpressionWrapper(F(later) - F(earlier), output_field=DurationField()))

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s / 1000000.0)", **extra)


CONTACT_SECONDS = ("first_contacted_at", "created_at")
CONVERT_SECONDS = ("converted_at", "created_at")


def contact_durations(leads: QuerySet) -> QuerySet:
    """Contacted leads' seconds from creation to first contact (what the reps' median reads)."""
    return leads.filter(first_contacted_at__isnull=False).annotate(seconds=Seconds(*CONTACT_SECONDS))


def convert_durations(leads: QuerySet) -> QuerySet:
    """Converted leads' seconds from creation to conversion (the channels' median days)."""
    converted = leads.filter(status=CONVERTED, converted_at__isnull=False)
    return converted.annotate(seconds=Seconds(*CONVERT_SECONDS))


@dataclass(frozen=True)
class Rollup:
    """One rollup table: its model, its dimensions, and its grouped rows over the leads matching
    `where` (a Q on Lead), with the day as first dimension. `scope`: the rows of the table it
    owns (two rollups share the durations table)."""

    model: type[models.Model]
    dims: tuple[str, ...]
    rows: Callable[[Q], QuerySet]
    scope: Q = field(default_factory=Q)

    def columns(self) -> list[str]:
        query = self.rows(Q()).query
        return [*query.values_select, *query.annotation_select]


def _leads(where: Q) -> QuerySet:
    return Lead.objects.filter(where).annotate(day=TruncDate("created_at")).order_by()


def _cube(where: Q) -> QuerySet:
    return cube_rows(_leads(where), ("day", *LEAD_DIMS, "tier", "band"))


def _lost(where: Q) -> QuerySet:
    return lost_rows(_leads(where), ("day", *LEAD_DIMS, "lost_reason"))


def _funnel(where: Q) -> QuerySet:
    # A few days: each lead's history through activity_lead_time; every day: the history hashed once.
    return funnel_rows(_leads(where), ("day", *LEAD_DIMS, "stage"), per_lead=bool(where))


def _channel(where: Q) -> QuerySet:
    return channel_rows(_leads(where), ("day", "source", "campaign"))


def _follow_up(where: Q) -> QuerySet:
    follow_ups = (
        FollowUp.objects.filter(lead__in=Lead.objects.filter(where).values("pk")) if where else FollowUp.objects
    )
    return follow_up_rows(follow_ups.order_by(), ("day", *LEAD_DIMS, "assigned_to_id"))


DURATION_COLUMNS = ("day", "kind", "source", "origin", "campaign", "owner_id", "seconds")


def _durations(kind: str, durations: Callable[[QuerySet], QuerySet]) -> Callable[[Q], QuerySet]:
    def rows(where: Q) -> QuerySet:
        return durations(_leads(where)).annotate(kind=Value(kind)).values(*DURATION_COLUMNS)

    return rows


ROLLUPS = (
    Rollup(RollupCube, ("day", *LEAD_DIMS, "tier", "band"), _cube),
    Rollup(RollupLost, ("day", *LEAD_DIMS, "lost_reason"), _lost),
    Rollup(RollupFunnel, ("day", *LEAD_DIMS, "stage"), _funnel),
    Rollup(RollupChannel, ("day", "source", "campaign"), _channel),
    Rollup(RollupFollowUp, ("day", *LEAD_DIMS, "assigned_to_id"), _follow_up),
    Rollup(RollupDuration, DURATION_COLUMNS, _durations(RollupDuration.CONTACT, contact_durations),
           Q(kind=RollupDuration.CONTACT)),
    Rollup(RollupDuration, DURATION_COLUMNS, _durations(RollupDuration.CONVERT, convert_durations),
           Q(kind=RollupDuration.CONVERT)),
)  # fmt: skip


# --- Rebuilding ---------------------------------------------------------------------------


def _insert_select(rollup: Rollup, where: Q, cursor) -> None:
    """INSERT INTO the rollup SELECT its grouped rows: the aggregation never leaves the database."""
    queryset = rollup.rows(where)
    columns = [*queryset.query.values_select, *queryset.query.annotation_select]
    _insert_from(rollup.model, {column: column for column in columns}, queryset, cursor)


def _insert_from(model: type[models.Model], columns: dict[str, str], queryset: QuerySet, cursor) -> None:
    """INSERT INTO model's table (columns) SELECT the queryset's aliases (columns' values)."""
    sql, params = queryset.query.sql_with_params()
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    picked = ", ".join(f"r.{quote(alias)}" for alias in columns.values())
    table = quote(model._meta.db_table)
    # Table and column names come from the models; values are parameters.
    cursor.execute(f"INSERT INTO {table} ({names}) SELECT {picked} FROM ({sql}) r", params)  # noqa: S608


def _months_rebuild(months: set[date] | None, cursor) -> None:
    """Sum the cube's day rows into its month rows (months None: every month)."""
    days = RollupCube.objects.order_by()
    month_rows = RollupCubeMonth.objects.all()
    if months is not None:
        spans = reduce(operator.or_, (Q(day__gte=m, day__lt=next_month(m)) for m in months))
        days = days.filter(spans)
        month_rows = month_rows.filter(month__in=sorted(months))
    month_rows.delete()
    summed = days.annotate(month=TruncMonth("day")).values("month", *CUBE_DIMS)
    summed = summed.annotate(**{f"sum_{m}": Sum(m) for m in CUBE_MEASURES})
    columns = {"month": "month", **{d: d for d in CUBE_DIMS}, **{m: f"sum_{m}" for m in CUBE_MEASURES}}
    _insert_from(RollupCubeMonth, columns, summed, cursor)


def _lock(cursor) -> None:
    """Serialise rebuilds (PostgreSQL; SQLite allows one writer at a time anyway)."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def _rebuild(days: set[date] | None, cursor) -> None:
    """Rebuild `days` (None: every day). Caller holds the lock, inside a transaction."""
    with selectors.report_work_mem():
        if days is None:
            for rollup in ROLLUPS:
                rollup.model.objects.filter(rollup.scope).delete()
                _insert_select(rollup, Q(), cursor)
            _months_rebuild(None, cursor)
            return
        for first, last in day_runs(days):
            where = Q(created_at__gte=day_start(first), created_at__lt=day_start(last + timedelta(days=1)))
            for rollup in ROLLUPS:
                rollup.model.objects.filter(rollup.scope, day__gte=first, day__lte=last).delete()
                _insert_select(rollup, where, cursor)
        _months_rebuild({day.replace(day=1) for day in days}, cursor)


def rollups_rebuild_days(days: Iterable[date]) -> int:
    """Rebuild the rollup rows of these local days now. Returns how many days."""
    days = set(days)
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        _rebuild(days, cursor)
    return len(days)


def rollups_rebuild_all() -> None:
    """Rebuild every rollup from the leads (the beat's safety net and the command), in one
    transaction: readers see the old rows until it commits. Every mark existing when it starts
    is claimed."""
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        claimed = list(RollupDirty.objects.values_list("pk", flat=True))
        _rebuild(None, cursor)
        _marks_delete(claimed)
        if not outermost:
            _statistics_refresh("ANALYZE", cursor)
        transaction.on_commit(pending_reload)
    if outermost:
        with connection.cursor() as cursor:
            _statistics_refresh("VACUUM (ANALYZE)", cursor)


def _statistics_refresh(command: str, cursor) -> None:
    """After a full rebuild (PostgreSQL; SQLite needs neither): fresh statistics, else the planner
    guesses a few hundred rows of a million and sorts on disk; and, outside a transaction, VACUUM,
    so the next rebuild reuses the space of the rows this one replaced instead of doubling the tables."""
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        tables = sorted({rollup.model._meta.db_table for rollup in ROLLUPS} | {RollupCubeMonth._meta.db_table})
        cursor.execute(f"{command} {', '.join(quote(t) for t in tables)}")


def rollups_rebuild_pending() -> int:
    """Rebuild the days marked dirty, and delete the marks claimed (by id: a mark committed
    meanwhile stays for the next run). Returns how many days were rebuilt (-1: every day)."""
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        marks = list(RollupDirty.objects.values_list("pk", "day"))
        if not marks:
            return 0
        days = {day for _pk, day in marks}
        # Many marked days (rescoring batches add up): one pass over every lead beats day by day.
        every = None in days or len(days) > settings.REPORT_ROLLUP_PENDING_DAYS_MAX
        _rebuild(None if every else days, cursor)
        _marks_delete([pk for pk, _day in marks])
        transaction.on_commit(pending_reload)
    return -1 if every else len(days)


def _marks_delete(ids: list[int]) -> None:
    for start in range(0, len(ids), _ID_CHUNK):
        RollupDirty.objects.filter(pk__in=ids[start : start + _ID_CHUNK]).delete()


# --- Marking ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """Days whose rollup rows are not rebuilt yet, as far as the cache knows (every: all days)."""

    every: bool = False
    days: frozenset[date] = frozenset()


def pending() -> Pending:
    """The days a report must read from the leads (no query while the cache holds the hint)."""
    hint = cache.get(PENDING_KEY)
    if hint is None:
        hint = pending_reload()
    return hint


def pending_reload() -> Pending:
    """Read the marks into the cache's hint (after a rebuild, or when the cache lost it)."""
    limit = settings.REPORT_ROLLUP_PENDING_DAYS_MAX
    days = set(RollupDirty.objects.order_by().values_list("day", flat=True).distinct()[: limit + 2])
    hint = Pending(every=True) if None in days or len(days) > limit else Pending(days=frozenset(days))
    cache.set(PENDING_KEY, hint, PENDING_TTL_SECONDS)
    return hint


def _pending_add(days: set[date | None]) -> None:
    hint = pending()
    if hint.every:
        return
    merged = set(hint.days) | days
    if None in merged or len(merged) > settings.REPORT_ROLLUP_PENDING_DAYS_MAX:
        hint = Pending(every=True)
    else:
        hint = Pending(days=frozenset(d for d in merged if d is not None))
    cache.set(PENDING_KEY, hint, PENDING_TTL_SECONDS)


def rollups_mark_days(days: Iterable[date | None]) -> None:
    """Mark local creation days dirty (None: every day), in the caller's transaction, and ask
    for a rebuild after the commit. One INSERT."""
    days = set(days)
    if not days:
        return
    if len(days) > settings.REPORT_ROLLUP_PENDING_DAYS_MAX:
        days = {None}
    RollupDirty.objects.bulk_create([RollupDirty(day=day) for day in days])
    _pending_add(days)
    rollups_request()


def rollups_mark_all() -> None:
    rollups_mark_days([None])


def rollups_mark_leads(lead_ids: Iterable[int]) -> None:
    """Mark the creation days of these leads: one INSERT ... SELECT ... RETURNING per 5,000 ids,
    or one for the whole id range when the ids are dense (a rescore's chunk: 20,000 consecutive
    leads). The range may also mark the days of leads between them that did not change, which
    only costs those days a rebuild; 20,000 ids bound into IN lists cost a rescore more Python
    than scoring the chunk's reasons."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    if len(ids) > MARK_LEADS_MAX:
        rollups_mark_all()
        return
    if ids[-1] - ids[0] < DENSE_IDS_SPAN * len(ids):
        selections = [Q(pk__gte=ids[0], pk__lte=ids[-1])]
    else:
        selections = [Q(pk__in=ids[start : start + _ID_CHUNK]) for start in range(0, len(ids), _ID_CHUNK)]
    days: set[date | None] = set()
    quote = connection.ops.quote_name
    marked_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        for selection in selections:
            leads_days = (
                Lead.objects.filter(selection).annotate(day=TruncDate("created_at")).order_by().values("day").distinct()
            )
            sql, params = leads_days.query.sql_with_params()
            cursor.execute(
                f"INSERT INTO {quote(RollupDirty._meta.db_table)} (day, marked_at) "  # noqa: S608 (names from models)
                f"SELECT r.{quote('day')}, %s FROM ({sql}) r RETURNING day",
                [marked_at, *params],
            )
            days |= {date.fromisoformat(day) if isinstance(day, str) else day for (day,) in cursor.fetchall()}
    if days:
        _pending_add(days)
        rollups_request()


def rollups_mark_lead_objects(leads: Iterable[Lead]) -> None:
    """Mark the days of leads already loaded (their created_at known): one INSERT, no lookup."""
    rollups_mark_days({local_day(lead.created_at) for lead in leads})


def rollups_request() -> None:
    """Rebuild the marked days shortly after the current transaction commits. Debounced: a
    burst of writes is rebuilt by one task run; if the broker is down, the beat's rebuild catches up."""
    debounced_dispatch(REBUILD_TASK, key=REQUEST_KEY, seconds=settings.REPORT_ROLLUP_DEBOUNCE_SECONDS)
