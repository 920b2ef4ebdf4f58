"""Report queries for managers.

Every number is a SQL aggregate (COUNT ... FILTER, CASE, GROUP BY, percentile_cont on
PostgreSQL). Python only rolls up or reshapes already-aggregated rows: a few hundred or
thousand group rows, never one row per lead. Each report is a small, fixed number of
queries whatever the number of leads.
"""

import operator
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import reduce
from statistics import median

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, TruncWeek
from django.utils import timezone

from leadcrm.inputs import is_ascii_int
from leads.models import Activity, FollowUp, Lead, LostReason, User

COHORT_HORIZONS_DAYS = (7, 30, 90)
SLA_BREACH_LIST_LIMIT = 50

CONVERTED = Lead.Status.CONVERTED
LOST = Lead.Status.LOST
TIER_ORDER = [Lead.Tier.HOT, Lead.Tier.WARM, Lead.Tier.COLD, Lead.Tier.UNSCORED]


def sla_hours() -> dict[str, int]:
    """First-contact SLA per tier, in hours (settings REPORT_SLA_*_HOURS)."""
    return {
        Lead.Tier.HOT: settings.REPORT_SLA_HOT_HOURS,
        Lead.Tier.WARM: settings.REPORT_SLA_WARM_HOURS,
        Lead.Tier.COLD: settings.REPORT_SLA_COLD_HOURS,
    }


# --- Filters -----------------------------------------------------------------------------


def day_start(day: date) -> datetime:
    """Local midnight starting `day` (the reports' days and months are local)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def next_month(month: date) -> date:
    """The first day of the month after `month`'s."""
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


@dataclass(frozen=True)
class ReportFilters:
    """Which leads a report covers: created in [date_from, date_to] (whole local days)."""

    date_from: date | None = None
    date_to: date | None = None
    source: str = ""
    origin: str = ""
    owner: str = ""  # "" everyone, "pool" unassigned, or a user id

    def created_range(self) -> tuple[datetime | None, datetime | None]:
        start = day_start(self.date_from) if self.date_from else None
        end = day_start(self.date_to + timedelta(days=1)) if self.date_to else None
        return start, end

    def lead_q(self, prefix: str = "") -> Q:
        q = Q()
        start, end = self.created_range()
        if start:
            q &= Q(**{f"{prefix}created_at__gte": start})
        if end:
            q &= Q(**{f"{prefix}created_at__lt": end})
        if self.source:
            q &= Q(**{f"{prefix}source": self.source})
        if self.origin:
            q &= Q(**{f"{prefix}origin": self.origin})
        if self.owner == "pool":
            q &= Q(**{f"{prefix}owner__isnull": True})
        elif is_ascii_int(self.owner):
            q &= Q(**{f"{prefix}owner_id": int(self.owner)})
        return q

    def leads(self) -> QuerySet[Lead]:
        return Lead.objects.filter(self.lead_q()).order_by()

    def rollup_q(self) -> Q:
        """The same leads in a rollup table: its rows of these local days and dimensions."""
        q = self.rollup_dims_q()
        if self.date_from:
            q &= Q(day__gte=self.date_from)
        if self.date_to:
            q &= Q(day__lte=self.date_to)
        return q

    def rollup_dims_q(self) -> Q:
        """Rollup rows of this source, origin and owner (any day)."""
        q = Q()
        if self.source:
            q &= Q(source=self.source)
        if self.origin:
            q &= Q(origin=self.origin)
        if self.owner == "pool":
            q &= Q(owner_id__isnull=True)
        elif is_ascii_int(self.owner):
            q &= Q(owner_id=int(self.owner))
        return q

    def covers(self, day: date) -> bool:
        return (not self.date_from or day >= self.date_from) and (not self.date_to or day <= self.date_to)


def outcome_rates(row: dict) -> dict:
    leads, converted, lost = row["leads"], row["converted"], row["lost"]
    closed = converted + lost
    row["open"] = leads - closed
    row["closed"] = closed
    row["conversion_rate"] = converted / leads if leads else None
    row["win_rate"] = converted / closed if closed else None
    return row


def outcome_counts(prefix: str = "") -> dict:
    return {
        "leads": Count("pk"),
        "converted": Count("pk", filter=Q(**{f"{prefix}status": CONVERTED})),
        "lost": Count("pk", filter=Q(**{f"{prefix}status": LOST})),
    }


# --- Dashboard ---------------------------------------------------------------------------


def dashboard_numbers(*, now: datetime | None = None) -> dict:
    """Headline numbers: two queries (leads, follow-ups). The active model's figures come from
    scoring (its template tags and the dashboard_headline_rows signal)."""
    now = now or timezone.now()
    return dashboard_finish(dashboard_counts(Lead.objects.order_by(), since=now - timedelta(days=90)), now=now)


def dashboard_counts(leads: QuerySet[Lead], *, since: datetime) -> dict:
    """The headline counts over `leads`: open, created and converted since `since`, hot untouched."""
    recent = Q(created_at__gte=since)
    return leads.aggregate(
        open_leads=Count("pk", filter=Q(status__in=Lead.OPEN_STATUSES)),
        created_90d=Count("pk", filter=recent),
        converted_90d=Count("pk", filter=recent & Q(status=CONVERTED)),
        hot_untouched=Count(
            "pk", filter=Q(status__in=Lead.OPEN_STATUSES, rank__tier=Lead.Tier.HOT, first_contacted_at__isnull=True)
        ),
    )


def dashboard_finish(numbers: dict, *, now: datetime) -> dict:
    """The headline counts with the 90-day conversion rate and the overdue follow-ups (one query)."""
    numbers["conversion_rate_90d"] = (
        numbers["converted_90d"] / numbers["created_90d"] if numbers["created_90d"] else None
    )
    numbers["overdue_follow_ups"] = FollowUp.objects.filter(done_at__isnull=True, due_at__lt=now).count()
    return numbers


# --- Conversion --------------------------------------------------------------------------

DIMENSIONS = {
    "source": "Source",
    "origin": "Origin",
    "tier": "Tier",
    "band": "Score band",
    "owner_id": "Owner",
}


def score_band() -> Case:
    """Score 0-100 in ten bands: 0 is 0-9, ..., 9 is 90-100; -1 unscored."""
    return Case(
        When(rank__score__isnull=True, then=Value(-1)),
        When(rank__score__gte=90, then=Value(9)),
        When(rank__score__lt=0, then=Value(0)),
        default=F("rank__score") / Value(10),
        output_field=IntegerField(),
    )


def score_dims() -> dict:
    """The cube's score dimensions of a lead, from its LeadRank: tier and score band."""
    return {"tier": F("rank__tier"), "band": score_band()}


def band_label(band: int) -> str:
    if band < 0:
        return "Unscored"
    return f"{band * 10}-{band * 10 + 9 if band < 9 else 100}"


@contextmanager
def report_work_mem():
    """A transaction in which PostgreSQL may hash-aggregate in REPORT_WORK_MEM_MB."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{int(settings.REPORT_WORK_MEM_MB)}MB'")
        yield


# The conversion cube's dimensions (its rollup's too, beside the creation day).
CUBE_DIMS = ("source", "origin", "tier", "band", "owner_id")


def conversion_cube(filters: ReportFilters) -> list[dict]:
    """Outcome counts grouped by every dimension at once: ONE scan of the leads.

    The cube has at most sources x origins x tiers x bands x owners rows (in practice a few
    thousand); conversion_by() rolls it up per dimension.
    """
    with report_work_mem():
        return list(filters.leads().annotate(**score_dims()).values(*CUBE_DIMS).annotate(**outcome_counts()).order_by())


def conversion_by(cube: list[dict], dimension: str) -> list[dict]:
    """Roll the cube up to one dimension: rows with key, label, counts and rates."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {dimension!r}")
    totals: dict = defaultdict(lambda: {"leads": 0, "converted": 0, "lost": 0})
    for row in cube:
        bucket = totals[row[dimension]]
        for key in ("leads", "converted", "lost"):
            bucket[key] += row[key]
    labels = _labels_for(dimension, list(totals))
    rows = [outcome_rates({"key": key, "label": labels[key], **counts}) for key, counts in totals.items()]
    if dimension == "tier":
        rows.sort(key=lambda r: TIER_ORDER.index(r["key"]) if r["key"] in TIER_ORDER else 99)
    elif dimension == "band":
        rows.sort(key=lambda r: -r["key"])
    else:
        rows.sort(key=lambda r: (-r["leads"], r["label"]))
    return rows


OTHER_LOST_REASON = "Other"


def listed_reason(reason_field: str = "lost_reason") -> Exists:
    """Whether a lost reason text is on the admins' pick list (LostReason, active or not)."""
    return Exists(LostReason.objects.filter(label=OuterRef(reason_field)))


def lost_by_reason(filters: ReportFilters) -> list[dict]:
    """Lost leads by reason: each reason of the admins' pick list (LostReason, active or not),
    every other text (a rep's "Other", imported outcomes) as "Other". Most lost first.

    One query; lost leads are grouped by their reason text, which has few distinct values."""
    counts = (
        filters.leads()
        .filter(status=LOST)
        .values("lost_reason")
        .annotate(n=Count("id"), listed=listed_reason())
        .values_list("lost_reason", "n", "listed")
    )
    return lost_reason_rows(counts)


def lost_reason_rows(counts) -> list[dict]:
    """(reason, lost, listed on the pick list) triples as the report's rows: unlisted texts are
    "Other"; most lost first, "Other" last."""
    totals: dict[str, int] = defaultdict(int)
    for reason, n, listed in counts:
        totals[reason if listed else OTHER_LOST_REASON] += n
    lost = sum(totals.values())
    rows = [{"label": label, "lost": n, "share": n / lost} for label, n in totals.items()]
    return sorted(rows, key=lambda r: (r["label"] == OTHER_LOST_REASON, -r["lost"], r["label"]))


def conversion_total(cube: list[dict]) -> dict:
    total = {"leads": 0, "converted": 0, "lost": 0}
    for row in cube:
        for key in total:
            total[key] += row[key]
    return outcome_rates(total)


def _labels_for(dimension: str, keys: list) -> dict:
    if dimension == "owner_id":
        names = user_names([k for k in keys if k is not None])
        return {k: names.get(k, f"User #{k}") if k is not None else "Unassigned" for k in keys}
    if dimension == "band":
        return {k: band_label(k) for k in keys}
    if dimension == "tier":
        return {k: Lead.Tier(k).label if k in Lead.Tier.values else k for k in keys}
    return {k: k or "(none)" for k in keys}


def user_names(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        u.pk: (u.get_full_name() or u.username)
        for u in User.objects.filter(pk__in=ids).only("pk", "username", "first_name", "last_name")
    }


def _week_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return day_start(local.date() - timedelta(days=local.weekday()))


def conversion_cohorts(filters: ReportFilters, *, now: datetime | None = None) -> list[dict]:
    """Weekly cohorts of created leads and the share converted within 7, 30 and 90 days and
    to date. A horizon a cohort has not yet lived through is None (still maturing)."""
    now = now or timezone.now()
    queryset = filters.leads()
    queryset = queryset.filter(created_at__gte=cohort_start(now)) if not filters.date_from else queryset
    rows = list(
        queryset.annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(**outcome_counts(), **converted_within_counts())
        .order_by("week")
    )
    return cohort_rates(rows, now)


def cohort_start(now: datetime) -> datetime:
    """Without a start date the cohorts cover the last REPORT_COHORT_WEEKS weeks (local Mondays)."""
    return _week_start(now) - timedelta(weeks=settings.REPORT_COHORT_WEEKS - 1)


def converted_within_counts() -> dict[str, Count]:
    """converted_7d, converted_30d, converted_90d: leads converted less than that many days after
    their creation (the cohorts' horizons)."""
    converted = Q(status=CONVERTED)
    return {
        f"converted_{days}d": Count("pk", filter=converted & Q(converted_at__lt=F("created_at") + timedelta(days=days)))
        for days in COHORT_HORIZONS_DAYS
    }


def cohort_rates(rows: list[dict], now: datetime) -> list[dict]:
    """Weekly rows (week, counts, converted_Nd) with their rates; a horizon a cohort has not
    lived through yet is None."""
    for row in rows:
        outcome_rates(row)
        week_end = row["week"] + timedelta(days=7)
        for days in COHORT_HORIZONS_DAYS:
            mature = week_end + timedelta(days=days) <= now
            row[f"rate_{days}d"] = row[f"converted_{days}d"] / row["leads"] if mature and row["leads"] else None
    return rows


# --- Funnel ------------------------------------------------------------------------------

FUNNEL_STAGES = ("new", "contacted", "qualified", "converted")


def stage_reached(*, per_lead: bool = False) -> Case | Greatest:
    """The furthest funnel stage a lead reached (0 new .. 3 converted), from its current
    status, its first contact and its status-change history (so a lead that was qualified and
    then lost still counts as qualified). Reaching a stage implies the earlier ones.
    per_lead: the same stage, with each lead's history looked up through its index (a few
    days of leads), instead of hashing the whole status history once (every lead)."""
    history = Activity.objects.filter(kind=Activity.Kind.STATUS_CHANGE).order_by()
    if per_lead:
        return _stage_reached_per_lead(history)

    def moved_to(status: str) -> Q:
        return Q(pk__in=history.filter(outcome=status).values("lead_id"))

    return Case(
        When(Q(status=CONVERTED) | moved_to(CONVERTED), then=Value(3)),
        When(Q(status=Lead.Status.QUALIFIED) | moved_to(Lead.Status.QUALIFIED), then=Value(2)),
        When(
            Q(status=Lead.Status.CONTACTED) | Q(first_contacted_at__isnull=False) | moved_to(Lead.Status.CONTACTED),
            then=Value(1),
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


def funnel(filters: ReportFilters) -> dict:
    """Stage reach, drop-off and losses, overall and per source: ONE grouped query."""
    with report_work_mem():
        grouped = list(
            filters.leads()
            .annotate(stage=stage_reached())
            .values("source", "stage")
            .annotate(leads=Count("pk"), lost=Count("pk", filter=Q(status=LOST)))
            .order_by()
        )
    return funnel_from_counts(grouped)


def funnel_from_counts(grouped: list[dict]) -> dict:
    """Rows (source, stage, leads, lost) as the funnel overall and per source."""
    per_source: dict[str, list[dict]] = defaultdict(lambda: [{"at": 0, "lost": 0} for _ in FUNNEL_STAGES])
    overall = [{"at": 0, "lost": 0} for _ in FUNNEL_STAGES]
    for row in grouped:
        for target in (per_source[row["source"]], overall):
            target[row["stage"]]["at"] += row["leads"]
            target[row["stage"]]["lost"] += row["lost"]
    sources = [{"source": s or "(none)", "stages": _funnel_stages(c)} for s, c in per_source.items()]
    sources.sort(key=lambda r: (-r["stages"][0]["reached"], r["source"]))
    return {"stages": _funnel_stages(overall), "sources": sources}


def _funnel_stages(at_stage: list[dict]) -> list[dict]:
    """From counts of leads whose furthest stage is k to reach, drop-off and conversion from start."""
    stages = []
    total = sum(c["at"] for c in at_stage)
    for k, name in enumerate(FUNNEL_STAGES):
        reached = sum(c["at"] for c in at_stage[k:])
        next_reached = sum(c["at"] for c in at_stage[k + 1 :]) if k + 1 < len(FUNNEL_STAGES) else None
        dropped = reached - next_reached if next_reached is not None else None
        stages.append(
            {
                "stage": name,
                "label": name.title(),
                "reached": reached,
                "share_of_all": reached / total if total else None,
                "dropped": dropped,
                "drop_rate": dropped / reached if reached and dropped is not None else None,
                "lost_here": at_stage[k]["lost"],
                "open_here": at_stage[k]["at"] - at_stage[k]["lost"] if k < 3 else 0,
            }
        )
    return stages


_STAGE_OF = {CONVERTED: 3, Lead.Status.QUALIFIED: 2, Lead.Status.CONTACTED: 1}


def _stage_reached_per_lead(history: QuerySet) -> Greatest:
    """stage_reached as the greater of the stage the lead's status and first contact show and
    the furthest its history reached: a correlated scalar subquery per lead (PostgreSQL would
    hash an EXISTS over the whole history, ~0.4 s whatever the number of leads)."""
    by_status = Case(
        When(status=CONVERTED, then=Value(3)),
        When(status=Lead.Status.QUALIFIED, then=Value(2)),
        When(Q(status=Lead.Status.CONTACTED) | Q(first_contacted_at__isnull=False), then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    rank = Case(*(When(outcome=status, then=Value(n)) for status, n in _STAGE_OF.items()), output_field=IntegerField())
    furthest = (
        history.filter(lead_id=OuterRef("pk"), outcome__in=list(_STAGE_OF))
        .annotate(rank=rank)
        .order_by("-rank")
        .values("rank")[:1]
    )
    return Greatest(by_status, Coalesce(Subquery(furthest, output_field=IntegerField()), Value(0)))


# --- Rep discipline ----------------------------------------------------------------------


class MedianSeconds(Aggregate):
    """PostgreSQL: the median of an interval expression, in seconds."""

    function = "percentile_cont"
    template = "percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM %(expressions)s))"
    output_field = FloatField()


def _sla_limit_q(tier: str, hours: int, now: datetime) -> Q:
    """Leads of `tier` not contacted within `hours` of creation (late or still waiting)."""
    return sla_late_q(tier, hours) | sla_waiting_q(tier, hours, now)


def sla_late_q(tier: str, hours: int) -> Q:
    """Leads of `tier` first contacted more than `hours` after creation (fixed once contacted)."""
    return Q(rank__tier=tier, first_contacted_at__gt=F("created_at") + timedelta(hours=hours))


def sla_waiting_q(tier: str, hours: int, now: datetime) -> Q:
    """Leads of `tier` not contacted yet and older than `hours` at `now`."""
    return Q(rank__tier=tier, first_contacted_at__isnull=True, created_at__lt=now - timedelta(hours=hours))


def sla_breach_q(now: datetime, sla: dict[str, int] | None = None) -> Q:
    sla = sla or sla_hours()
    return reduce(operator.or_, (_sla_limit_q(tier, hours, now) for tier, hours in sla.items()))


def follow_up_counts(now: datetime) -> dict:
    """A group of follow-ups: done on time, done late, overdue now, upcoming."""
    return {
        "fu_on_time": Count("pk", filter=Q(done_at__isnull=False, done_at__lte=F("due_at"))),
        "fu_late": Count("pk", filter=Q(done_at__gt=F("due_at"))),
        "fu_overdue": Count("pk", filter=Q(done_at__isnull=True, due_at__lt=now)),
        "fu_upcoming": Count("pk", filter=Q(done_at__isnull=True, due_at__gte=now)),
    }


def rep_discipline(filters: ReportFilters, *, now: datetime | None = None, sla: dict | None = None) -> dict:
    """Per owner: leads owned, contacted, converted, rate, median hours to first contact,
    follow-ups on time / late / overdue now, SLA breaches per tier. Three queries (leads by
    owner, follow-ups by assignee, user names) plus one on SQLite for the median."""
    now = now or timezone.now()
    sla = sla or sla_hours()
    per_tier = {}
    for tier, hours in sla.items():
        per_tier[f"n_{tier}"] = Count("pk", filter=Q(rank__tier=tier))
        per_tier[f"breached_{tier}"] = Count("pk", filter=_sla_limit_q(tier, hours, now))
    to_first_contact = F("first_contacted_at") - F("created_at")
    median_agg = {"median_seconds": MedianSeconds(to_first_contact)} if connection.vendor == "postgresql" else {}
    lead_rows = list(
        filters.leads()
        .values("owner_id")
        .annotate(
            **outcome_counts(),
            contacted=Count("pk", filter=Q(first_contacted_at__isnull=False)),
            **per_tier,
            **median_agg,
        )
        .order_by()
    )
    if not median_agg:
        medians = _median_seconds_fallback(filters)
        for row in lead_rows:
            row["median_seconds"] = medians.get(row["owner_id"])

    fu_q = Q(lead__in=filters.leads().values("pk")) if filters.lead_q() else Q()
    follow_rows = {
        row["assigned_to_id"]: row
        for row in FollowUp.objects.filter(fu_q).values("assigned_to_id").annotate(**follow_up_counts(now)).order_by()
    }
    return discipline_from_rows(lead_rows, follow_rows, sla)


def discipline_from_rows(lead_rows: list[dict], follow_rows: dict, sla: dict) -> dict:
    """Per-owner lead rows (counts, n_<tier>, breached_<tier>, median_seconds) and follow-up
    counts by assignee as the report: reps by name, SLA per tier, total breaches."""
    owner_ids = {r["owner_id"] for r in lead_rows if r["owner_id"]} | {k for k in follow_rows if k}
    names = user_names(sorted(owner_ids))

    reps, sla_totals = [], {t: {"leads": 0, "breached": 0} for t in sla}
    empty_follow = {"fu_on_time": 0, "fu_late": 0, "fu_overdue": 0, "fu_upcoming": 0}
    seen = set()
    for row in lead_rows:
        for tier in sla:
            sla_totals[tier]["leads"] += row[f"n_{tier}"]
            sla_totals[tier]["breached"] += row[f"breached_{tier}"]
        if row["owner_id"] is None:
            continue
        seen.add(row["owner_id"])
        reps.append(_rep_row(row, follow_rows.get(row["owner_id"], empty_follow), names, sla))
    for owner_id, follow in follow_rows.items():
        if owner_id and owner_id not in seen:
            zero = {"owner_id": owner_id, "leads": 0, "converted": 0, "lost": 0, "contacted": 0, "median_seconds": None}
            zero.update({f"breached_{t}": 0 for t in sla})
            reps.append(_rep_row(zero, follow, names, sla))
    reps.sort(key=lambda r: r["name"].lower())
    tiers = [
        {
            "tier": Lead.Tier(t).label,
            "sla_hours": h,
            "leads": sla_totals[t]["leads"],
            "breached": sla_totals[t]["breached"],
            "breach_rate": sla_totals[t]["breached"] / sla_totals[t]["leads"] if sla_totals[t]["leads"] else None,
        }
        for t, h in sla.items()
    ]
    return {"reps": reps, "sla": tiers, "breaches_total": sum(t["breached"] for t in tiers)}


def _rep_row(row: dict, follow: dict, names: dict, sla: dict) -> dict:
    row = outcome_rates(dict(row))
    row["name"] = names.get(row["owner_id"], f"User #{row['owner_id']}")
    row["owned"] = row["leads"]
    row["contact_rate"] = row["contacted"] / row["leads"] if row["leads"] else None
    seconds = row.get("median_seconds")
    row["median_hours_to_contact"] = seconds / 3600 if seconds is not None else None
    row["sla_breaches"] = sum(row.get(f"breached_{t}", 0) for t in sla)
    row.update({k: follow[k] for k in ("fu_on_time", "fu_late", "fu_overdue", "fu_upcoming")})
    done = row["fu_on_time"] + row["fu_late"]
    row["fu_on_time_rate"] = row["fu_on_time"] / done if done else None
    return row


def median_seconds_to_contact(filters: ReportFilters) -> dict:
    """Median seconds from creation to first contact per owner: exact, one query over the
    filter's contacted leads (percentile_cont on PostgreSQL, Python on SQLite)."""
    if connection.vendor != "postgresql":
        return _median_seconds_fallback(filters)
    rows = (
        filters.leads()
        .filter(first_contacted_at__isnull=False)
        .values("owner_id")
        .annotate(median_seconds=MedianSeconds(F("first_contacted_at") - F("created_at")))
    )
    return {row["owner_id"]: row["median_seconds"] for row in rows}


def _median_seconds_fallback(filters: ReportFilters) -> dict:
    """SQLite has no percentile_cont: take the durations and the median in Python. Only the
    development database takes this path; PostgreSQL computes the median in the query."""
    durations: dict = defaultdict(list)
    for owner_id, created, contacted in (
        filters.leads()
        .filter(first_contacted_at__isnull=False)
        .values_list("owner_id", "created_at", "first_contacted_at")
        .iterator()
    ):
        durations[owner_id].append((contacted - created).total_seconds())
    return {owner: median(values) for owner, values in durations.items()}


def sla_breaches(
    filters: ReportFilters, *, now: datetime | None = None, sla: dict | None = None, limit: int = SLA_BREACH_LIST_LIMIT
) -> list[dict]:
    """The most recent leads that missed their tier's first-contact SLA, newest first."""
    now = now or timezone.now()
    sla = sla or sla_hours()
    leads = (
        filters.leads()
        .filter(sla_breach_q(now, sla))
        .select_related("owner", "rank")
        .only("pk", "name", "email", "external_id", "rank__tier", "status", "created_at", "first_contacted_at", "owner")
        .order_by("-created_at", "-pk")[:limit]
    )
    rows = []
    for lead in leads:
        contacted = lead.first_contacted_at
        waited = ((contacted or now) - lead.created_at).total_seconds() / 3600
        rows.append(
            {
                "lead_id": lead.pk,
                "lead": str(lead),
                "tier": lead.get_tier_display(),
                "status": lead.get_status_display(),
                "owner": (lead.owner.get_full_name() or lead.owner.username) if lead.owner else "Unassigned",
                "created_at": lead.created_at,
                "first_contacted_at": contacted,
                "hours_to_contact": waited,
                "sla_hours": sla.get(lead.tier),
                "state": "contacted late" if contacted else "not contacted yet",
            }
        )
    return rows


ORIGINS_CACHE_KEY = "reports:origins:v1"


def origins_list() -> list[str]:
    """Distinct lead origins for the filter menu, cached like leads.selectors.sources_list."""
    origins = cache.get(ORIGINS_CACHE_KEY)
    if origins is None:
        origins = sorted(o for o in Lead.objects.order_by().values_list("origin", flat=True).distinct() if o)
        cache.set(ORIGINS_CACHE_KEY, origins, 300)
    return origins
