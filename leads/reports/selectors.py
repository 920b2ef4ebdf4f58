"""Report queries for managers.

Every number is a SQL aggregate (COUNT ... FILTER, CASE, GROUP BY, percentile_cont on
PostgreSQL). Python only rolls up or reshapes already-aggregated rows: a few hundred or
thousand group rows, never one row per lead. Each report is a small, fixed number of
queries whatever the number of leads.
"""

import math
import operator
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import reduce
from itertools import pairwise
from statistics import median

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    Count,
    F,
    FilteredRelation,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Mod, TruncWeek
from django.db.models.lookups import GreaterThanOrEqual, IsNull, LessThan
from django.utils import timezone

from leadcrm.env import env_float, env_int
from leads.models import Activity, FollowUp, Lead, User
from scoring.models import ModelVersion
from scoring.selectors import active_model_version

# First-contact SLA per tier, in hours: a hot lead should hear from us within the hour.
SLA_HOURS: dict[str, int] = {
    Lead.Tier.HOT: env_int("REPORT_SLA_HOT_HOURS", 1, minimum=1),
    Lead.Tier.WARM: env_int("REPORT_SLA_WARM_HOURS", 24, minimum=1),
    Lead.Tier.COLD: env_int("REPORT_SLA_COLD_HOURS", 72, minimum=1),
}
PSI_FLAG = env_float("REPORT_PSI_FLAG", 0.2)
DRIFT_CACHE_SECONDS = env_int("REPORT_DRIFT_CACHE_SECONDS", 600, minimum=0)
# PSI needs distributions, not every row: above this many open leads, drift reads a systematic
# sample (every k-th id), since reading the JSON attributes dominates the cost.
DRIFT_SAMPLE_ROWS = env_int("REPORT_DRIFT_SAMPLE_ROWS", 50_000, minimum=1000)
# A report's GROUP BY over a million leads spills its sort to disk at PostgreSQL's default 4MB
# work_mem; the report queries raise it for their own transaction only.
REPORT_WORK_MEM_MB = env_int("REPORT_WORK_MEM_MB", 64, minimum=1)
COHORT_WEEKS = env_int("REPORT_COHORT_WEEKS", 26, minimum=1)
COHORT_HORIZONS_DAYS = (7, 30, 90)
SLA_BREACH_LIST_LIMIT = 50

CONVERTED = Lead.Status.CONVERTED
LOST = Lead.Status.LOST
TIER_ORDER = [Lead.Tier.HOT, Lead.Tier.WARM, Lead.Tier.COLD, Lead.Tier.UNSCORED]


# --- Filters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilters:
    """Which leads a report covers: created in [date_from, date_to] (whole local days)."""

    date_from: date | None = None
    date_to: date | None = None
    source: str = ""
    origin: str = ""
    owner: str = ""  # "" everyone, "pool" unassigned, or a user id

    def created_range(self) -> tuple[datetime | None, datetime | None]:
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.date_from, time.min, tzinfo=tz) if self.date_from else None
        end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=tz) if self.date_to else None
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
        elif self.owner.isdigit():
            q &= Q(**{f"{prefix}owner_id": int(self.owner)})
        return q

    def leads(self) -> QuerySet[Lead]:
        return Lead.objects.filter(self.lead_q()).order_by()


def _rates(row: dict) -> dict:
    leads, converted, lost = row["leads"], row["converted"], row["lost"]
    closed = converted + lost
    row["open"] = leads - closed
    row["closed"] = closed
    row["conversion_rate"] = converted / leads if leads else None
    row["win_rate"] = converted / closed if closed else None
    return row


def _outcome_counts(prefix: str = "") -> dict:
    return {
        "leads": Count("pk"),
        "converted": Count("pk", filter=Q(**{f"{prefix}status": CONVERTED})),
        "lost": Count("pk", filter=Q(**{f"{prefix}status": LOST})),
    }


# --- Dashboard ---------------------------------------------------------------------------


def dashboard_numbers(*, now: datetime | None = None) -> dict:
    """Headline numbers: three queries (leads, follow-ups, the active model)."""
    now = now or timezone.now()
    since = now - timedelta(days=90)
    recent = Q(created_at__gte=since)
    numbers = Lead.objects.order_by().aggregate(
        open_leads=Count("pk", filter=Q(status__in=Lead.OPEN_STATUSES)),
        created_90d=Count("pk", filter=recent),
        converted_90d=Count("pk", filter=recent & Q(status=CONVERTED)),
        hot_untouched=Count(
            "pk", filter=Q(status__in=Lead.OPEN_STATUSES, tier=Lead.Tier.HOT, first_contacted_at__isnull=True)
        ),
    )
    numbers["conversion_rate_90d"] = (
        numbers["converted_90d"] / numbers["created_90d"] if numbers["created_90d"] else None
    )
    numbers["overdue_follow_ups"] = FollowUp.objects.filter(done_at__isnull=True, due_at__lt=now).count()
    model = active_model_version()
    numbers["model"] = model
    numbers["model_auc"] = metric_get(model.metrics, "holdout", "roc_auc") if model else None
    return numbers


# --- Conversion --------------------------------------------------------------------------

DIMENSIONS = {
    "source": "Source",
    "origin": "Origin",
    "tier": "Tier",
    "band": "Score band",
    "owner_id": "Owner",
}


def _score_band() -> Case:
    """Score 0-100 in ten bands: 0 is 0-9, ..., 9 is 90-100; -1 unscored."""
    return Case(
        When(score__isnull=True, then=Value(-1)),
        When(score__gte=90, then=Value(9)),
        When(score__lt=0, then=Value(0)),
        default=F("score") / Value(10),
        output_field=IntegerField(),
    )


def band_label(band: int) -> str:
    if band < 0:
        return "Unscored"
    return f"{band * 10}-{band * 10 + 9 if band < 9 else 100}"


@contextmanager
def _report_work_mem():
    """A transaction in which PostgreSQL may hash-aggregate in REPORT_WORK_MEM_MB."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{int(REPORT_WORK_MEM_MB)}MB'")
        yield


def conversion_cube(filters: ReportFilters) -> list[dict]:
    """Outcome counts grouped by every dimension at once: ONE scan of the leads.

    The cube has at most sources x origins x tiers x bands x owners rows (in practice a few
    thousand); conversion_by() rolls it up per dimension.
    """
    with _report_work_mem():
        return list(
            filters.leads()
            .annotate(band=_score_band())
            .values("source", "origin", "tier", "band", "owner_id")
            .annotate(**_outcome_counts())
            .order_by()
        )


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
    rows = [_rates({"key": key, "label": labels[key], **counts}) for key, counts in totals.items()]
    if dimension == "tier":
        rows.sort(key=lambda r: TIER_ORDER.index(r["key"]) if r["key"] in TIER_ORDER else 99)
    elif dimension == "band":
        rows.sort(key=lambda r: -r["key"])
    else:
        rows.sort(key=lambda r: (-r["leads"], r["label"]))
    return rows


def conversion_total(cube: list[dict]) -> dict:
    total = {"leads": 0, "converted": 0, "lost": 0}
    for row in cube:
        for key in total:
            total[key] += row[key]
    return _rates(total)


def _labels_for(dimension: str, keys: list) -> dict:
    if dimension == "owner_id":
        names = _user_names([k for k in keys if k is not None])
        return {k: names.get(k, f"User #{k}") if k is not None else "Unassigned" for k in keys}
    if dimension == "band":
        return {k: band_label(k) for k in keys}
    if dimension == "tier":
        return {k: Lead.Tier(k).label if k in Lead.Tier.values else k for k in keys}
    return {k: k or "(none)" for k in keys}


def _user_names(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        u.pk: (u.get_full_name() or u.username)
        for u in User.objects.filter(pk__in=ids).only("pk", "username", "first_name", "last_name")
    }


def _week_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, time.min, tzinfo=local.tzinfo)


def conversion_cohorts(filters: ReportFilters, *, now: datetime | None = None) -> list[dict]:
    """Weekly cohorts of created leads and the share converted within 7, 30 and 90 days and
    to date. A horizon a cohort has not yet lived through is None (still maturing)."""
    now = now or timezone.now()
    queryset = filters.leads()
    if not filters.date_from:
        queryset = queryset.filter(created_at__gte=_week_start(now) - timedelta(weeks=COHORT_WEEKS - 1))
    converted = Q(status=CONVERTED)
    within = {
        f"converted_{days}d": Count("pk", filter=converted & Q(converted_at__lt=F("created_at") + timedelta(days=days)))
        for days in COHORT_HORIZONS_DAYS
    }
    rows = list(
        queryset.annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(**_outcome_counts(), **within)
        .order_by("week")
    )
    for row in rows:
        _rates(row)
        week_end = row["week"] + timedelta(days=7)
        for days in COHORT_HORIZONS_DAYS:
            mature = week_end + timedelta(days=days) <= now
            row[f"rate_{days}d"] = row[f"converted_{days}d"] / row["leads"] if mature and row["leads"] else None
    return rows


# --- Funnel ------------------------------------------------------------------------------

FUNNEL_STAGES = ("new", "contacted", "qualified", "converted")


def _stage_reached() -> Case:
    """The furthest funnel stage a lead reached (0 new .. 3 converted), from its current
    status, its first contact and its status-change history (so a lead that was qualified and
    then lost still counts as qualified). Reaching a stage implies the earlier ones."""
    history = Activity.objects.filter(kind=Activity.Kind.STATUS_CHANGE).order_by()

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
    with _report_work_mem():
        grouped = list(
            filters.leads()
            .annotate(stage=_stage_reached())
            .values("source", "stage", "status")
            .annotate(n=Count("pk"))
            .order_by()
        )
    per_source: dict[str, list[dict]] = defaultdict(lambda: [{"at": 0, "lost": 0} for _ in FUNNEL_STAGES])
    overall = [{"at": 0, "lost": 0} for _ in FUNNEL_STAGES]
    for row in grouped:
        for target in (per_source[row["source"]], overall):
            target[row["stage"]]["at"] += row["n"]
            if row["status"] == LOST:
                target[row["stage"]]["lost"] += row["n"]
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


# --- Rep discipline ----------------------------------------------------------------------


class MedianSeconds(Aggregate):
    """PostgreSQL: the median of an interval expression, in seconds."""

    function = "percentile_cont"
    template = "percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM %(expressions)s))"
    output_field = FloatField()


def _sla_limit_q(tier: str, hours: int, now: datetime) -> Q:
    """Leads of `tier` not contacted within `hours` of creation (late or still waiting)."""
    limit = timedelta(hours=hours)
    return Q(tier=tier) & (
        Q(first_contacted_at__gt=F("created_at") + limit)
        | Q(first_contacted_at__isnull=True, created_at__lt=now - limit)
    )


def sla_breach_q(now: datetime, sla: dict[str, int] | None = None) -> Q:
    sla = sla or SLA_HOURS
    return reduce(operator.or_, (_sla_limit_q(tier, hours, now) for tier, hours in sla.items()))


def rep_discipline(filters: ReportFilters, *, now: datetime | None = None, sla: dict | None = None) -> dict:
    """Per owner: leads owned, contacted, converted, rate, median hours to first contact,
    follow-ups on time / late / overdue now, SLA breaches per tier. Three queries (leads by
    owner, follow-ups by assignee, user names) plus one on SQLite for the median."""
    now = now or timezone.now()
    sla = sla or SLA_HOURS
    per_tier = {}
    for tier, hours in sla.items():
        per_tier[f"n_{tier}"] = Count("pk", filter=Q(tier=tier))
        per_tier[f"breached_{tier}"] = Count("pk", filter=_sla_limit_q(tier, hours, now))
    to_first_contact = F("first_contacted_at") - F("created_at")
    median_agg = {"median_seconds": MedianSeconds(to_first_contact)} if connection.vendor == "postgresql" else {}
    lead_rows = list(
        filters.leads()
        .values("owner_id")
        .annotate(
            **_outcome_counts(),
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
        for row in FollowUp.objects.filter(fu_q)
        .values("assigned_to_id")
        .annotate(
            fu_on_time=Count("pk", filter=Q(done_at__isnull=False, done_at__lte=F("due_at"))),
            fu_late=Count("pk", filter=Q(done_at__gt=F("due_at"))),
            fu_overdue=Count("pk", filter=Q(done_at__isnull=True, due_at__lt=now)),
            fu_upcoming=Count("pk", filter=Q(done_at__isnull=True, due_at__gte=now)),
        )
        .order_by()
    }
    owner_ids = {r["owner_id"] for r in lead_rows if r["owner_id"]} | {k for k in follow_rows if k}
    names = _user_names(sorted(owner_ids))

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
    row = _rates(dict(row))
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
    sla = sla or SLA_HOURS
    leads = (
        filters.leads()
        .filter(sla_breach_q(now, sla))
        .select_related("owner")
        .only("pk", "name", "email", "external_id", "tier", "status", "created_at", "first_contacted_at", "owner")
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


# --- Model quality -----------------------------------------------------------------------


def metric_get(data, *keys, default=None):
    """data[k1][k2]... from a metrics JSON, or `default` where a level is missing."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def model_versions_list() -> list[ModelVersion]:
    return list(
        ModelVersion.objects.exclude(status=ModelVersion.Status.FAILED)
        .only("pk", "status", "algorithm", "created_at", "activated_at")
        .order_by("-created_at", "-pk")[:50]
    )


@dataclass
class ModelQuality:
    version: ModelVersion
    metrics_table: list[dict]
    calibration: list[dict]
    deciles: list[dict]
    roc: list[tuple[float, float]]
    pr: list[tuple[float, float]]
    confusion: dict | None
    threshold: float | None
    thresholds: list[dict]
    cv: dict
    observed_live: list[dict] = field(default_factory=list)
    observed_all: list[dict] = field(default_factory=list)


HOLDOUT_METRICS = (
    ("roc_auc", "ROC AUC", "Area under the ROC curve: 0.5 is chance, 1 is perfect ranking."),
    ("pr_auc", "PR AUC", "Area under the precision-recall curve; compare with the base rate."),
    ("log_loss", "Log loss", "Lower is better."),
    ("brier", "Brier score", "Mean squared error of the probabilities; lower is better."),
    ("ece", "Expected calibration error", "Average gap between predicted and observed rates."),
    ("accuracy", "Accuracy", "At the active threshold."),
    ("precision", "Precision", "Share of flagged leads that converted, at the threshold."),
    ("recall", "Recall", "Share of converters that were flagged, at the threshold."),
    ("f1", "F1", "Harmonic mean of precision and recall."),
)


def model_quality(version: ModelVersion, *, with_observed: bool = True) -> ModelQuality:
    """Everything the model-quality page shows, read from ModelVersion.metrics (see the
    contract in the team notes) plus the observed conversion per tier from the leads."""
    metrics = version.metrics or {}
    holdout = metric_get(metrics, "holdout", default={}) or {}
    table = [
        {"metric": label, "key": key, "value": holdout.get(key), "help": help_text}
        for key, label, help_text in HOLDOUT_METRICS
        if holdout.get(key) is not None
    ]
    for key, label in (
        ("n_rows", "Training rows"),
        ("n_positive", "Converted in training"),
        ("base_rate", "Base rate"),
    ):
        value = metrics.get(key)
        if value is not None:
            table.append({"metric": label, "key": key, "value": value, "help": ""})
    roc = metric_get(holdout, "roc_curve", default={}) or {}
    pr = metric_get(holdout, "pr_curve", default={}) or {}
    quality = ModelQuality(
        version=version,
        metrics_table=table,
        calibration=[b for b in holdout.get("calibration") or [] if isinstance(b, dict)],
        deciles=sorted(
            (d for d in holdout.get("deciles") or [] if isinstance(d, dict)), key=lambda d: d.get("decile", 0)
        ),
        roc=list(zip(roc.get("fpr") or [], roc.get("tpr") or [], strict=False)),
        pr=list(zip(pr.get("recall") or [], pr.get("precision") or [], strict=False)),
        confusion=holdout.get("confusion") if isinstance(holdout.get("confusion"), dict) else None,
        threshold=holdout.get("threshold", version.threshold),
        thresholds=[t for t in holdout.get("thresholds") or [] if isinstance(t, dict)],
        cv=metrics.get("cv") or {},
    )
    if with_observed:
        quality.observed_live = observed_by_tier(version, since_live=True)
        quality.observed_all = observed_by_tier(version, since_live=False)
    return quality


def observed_by_tier(version: ModelVersion, *, since_live: bool) -> list[dict]:
    """Leads this version scored, by tier: how many closed, how many converted, the observed
    conversion of closed leads next to the mean predicted probability. With since_live, only
    leads created after the version went live (the honest, out-of-sample view)."""
    queryset = Lead.objects.filter(model_version=version)
    if since_live:
        if version.activated_at is None:
            return []
        queryset = queryset.filter(created_at__gte=version.activated_at)
    rows = list(queryset.values("tier").annotate(**_outcome_counts(), mean_probability=Avg("probability")).order_by())
    for row in rows:
        _rates(row)
        row["label"] = Lead.Tier(row["tier"]).label if row["tier"] in Lead.Tier.values else row["tier"]
    rows.sort(key=lambda r: TIER_ORDER.index(r["tier"]) if r["tier"] in TIER_ORDER else 99)
    return rows


# --- Drift -------------------------------------------------------------------------------

MISSING = "(missing)"
OTHER = "(other)"
_MISSING_KEYS = {"", "none", "null", "nan", "__missing__", "missing", "(missing)", "__nan__"}
# Training writes flags in text columns as yes/no; JSON gives true/false: one level each.
_BOOLEAN_KEYS = {"true": "true", "yes": "true", "false": "false", "no": "false"}
_SCORE_FEATURE = "__score__"
_EPSILON = 1e-4


class _AttributeKey(Func):
    """One key of Lead.attributes; subclasses compile it for PostgreSQL and SQLite."""

    def __init__(self, key: str):
        super().__init__(F("attributes"), Value(key))
        self.key = key


class JsonNumber(_AttributeKey):
    """attributes[key] as a float when it is a JSON number (true/false as 1/0), else NULL.

    Never casts text, so a stray string in the attributes cannot fail the query."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):
        column, column_params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            sql = (
                f"(CASE jsonb_typeof({column} -> %s) WHEN 'number' THEN ({column} ->> %s)::double precision "
                f"WHEN 'boolean' THEN (CASE WHEN ({column} ->> %s) = 'true' THEN 1.0 ELSE 0.0 END) END)"
            )
            return sql, [*column_params, self.key, *column_params, self.key, *column_params, self.key]
        path = _sqlite_path(self.key)
        sql = (
            f"(CASE json_type({column}, %s) WHEN 'integer' THEN json_extract({column}, %s) "
            f"WHEN 'real' THEN json_extract({column}, %s) WHEN 'true' THEN 1.0 WHEN 'false' THEN 0.0 END)"
        )
        return sql, [*column_params, path, *column_params, path, *column_params, path]


class JsonText(_AttributeKey):
    """attributes[key] as text ('true'/'false' for booleans on every backend), NULL when missing."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra):
        column, column_params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"({column} ->> %s)", [*column_params, self.key]
        path = _sqlite_path(self.key)
        sql = (
            f"(CASE json_type({column}, %s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"WHEN 'null' THEN NULL ELSE CAST(json_extract({column}, %s) AS TEXT) END)"
        )
        return sql, [*column_params, path, *column_params, path]


# The words scoring.features reads as yes and no (its _TRUE/_FALSE), so drift bins a yes/no
# attribute exactly as the model saw it.
_TRUE_WORDS = ("true", "yes", "y", "1", "t")
_FALSE_WORDS = ("false", "no", "n", "0", "f")


class JsonBool(_AttributeKey):
    """attributes[key] read as the scoring engine reads a yes/no feature: 1.0 for true (JSON true,
    a non-zero number, "yes"/"true"/"y"/"t"/"1" in any case), 0.0 for false, NULL when missing or
    not a yes/no word. Never casts text to a number, so a stray string cannot fail the query."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):
        column, column_params = compiler.compile(self.source_expressions[0])
        true_in = ", ".join(["%s"] * len(_TRUE_WORDS))
        false_in = ", ".join(["%s"] * len(_FALSE_WORDS))
        if connection.vendor == "postgresql":
            text = f"lower(btrim({column} ->> %s))"
            sql = (
                f"(CASE jsonb_typeof({column} -> %s) "
                f"WHEN 'boolean' THEN (CASE WHEN ({column} ->> %s) = 'true' THEN 1.0 ELSE 0.0 END) "
                f"WHEN 'number' THEN (CASE WHEN ({column} ->> %s)::double precision <> 0 THEN 1.0 ELSE 0.0 END) "
                f"WHEN 'string' THEN (CASE WHEN {text} IN ({true_in}) THEN 1.0 "
                f"WHEN {text} IN ({false_in}) THEN 0.0 END) END)"
            )
            key = [*column_params, self.key]
            return sql, [*key, *key, *key, *key, *_TRUE_WORDS, *key, *_FALSE_WORDS]
        path = _sqlite_path(self.key)
        text = f"lower(trim(json_extract({column}, %s)))"
        sql = (
            f"(CASE json_type({column}, %s) WHEN 'true' THEN 1.0 WHEN 'false' THEN 0.0 "
            f"WHEN 'integer' THEN (CASE WHEN json_extract({column}, %s) <> 0 THEN 1.0 ELSE 0.0 END) "
            f"WHEN 'real' THEN (CASE WHEN json_extract({column}, %s) <> 0 THEN 1.0 ELSE 0.0 END) "
            f"WHEN 'text' THEN (CASE WHEN {text} IN ({true_in}) THEN 1.0 "
            f"WHEN {text} IN ({false_in}) THEN 0.0 END) END)"
        )
        key = [*column_params, path]
        return sql, [*key, *key, *key, *key, *_TRUE_WORDS, *key, *_FALSE_WORDS]


def _sqlite_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


_LEAD_COLUMNS = {f.name: f for f in Lead._meta.concrete_fields if f.name not in ("attributes", "score_reasons")}


class HoursBetween(Func):
    """(later - earlier) in hours as a float, NULL when either is NULL."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):
        (later, later_params), (earlier, earlier_params) = (compiler.compile(e) for e in self.source_expressions)
        if connection.vendor == "postgresql":
            return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 3600.0)", [*later_params, *earlier_params]
        return f"((julianday({later}) - julianday({earlier})) * 24.0)", [*later_params, *earlier_params]


def _scoring_feature_names() -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, int]]]:
    """(feature label -> Lead column, derived feature -> lead expression kind, activity-count
    feature -> (activity kind, window in days)), from the scoring engine's feature code, so drift
    follows its column names."""
    try:
        from scoring import features
    except ImportError:  # the scoring engine is optional for the reports
        return {}, {}, {}
    labels = {field.capitalize(): field for field in features.MODEL_FIELDS}
    labels.update({label: field for field, label in features.model_field_labels().items()})
    derived = {
        features.CONTACTED: "contacted",
        features.HOURS_TO_FIRST_CONTACT: "hours_to_first_contact",
        features.DAYS_SINCE_LAST: "days_since_last",
    }
    activity_counts = {
        features.activity_column(kind, days): (kind, days)
        for kind in features.ACTIVITY_KINDS
        for days in features.WINDOWS
    }
    return labels, derived, activity_counts


def _derived_expression(kind: str, now: datetime):
    """The activity-derived features of the model, read from the lead's own timestamps (the
    same as the training features for an open lead, whose cut-off is now)."""
    if kind == "contacted":
        return Case(When(first_contacted_at__isnull=False, then=Value(1.0)), default=Value(0.0),
                    output_field=FloatField())  # fmt: skip
    if kind == "hours_to_first_contact":
        return HoursBetween(F("first_contacted_at"), F("created_at"))
    return HoursBetween(Value(now), F("last_activity_at")) / Value(24.0)


def _activity_count(kind: str, days: int, now: datetime) -> Count:
    """Activities of `kind` a lead had in the `days` before now: the training feature of an open
    lead, whose cut-off is now (scoring.features.activity_aggregates). Counts over the
    recent_activity join (_recent_activity_join) of the leads, grouped per lead."""
    since = now - timedelta(days=days)
    return Count("recent_activity", filter=Q(recent_activity__kind=kind, recent_activity__occurred_at__gt=since))


def _recent_activity_join(days: int, now: datetime) -> FilteredRelation:
    """The leads' activities in the `days` before now, LEFT JOINed once for every count."""
    return FilteredRelation(
        "activities",
        condition=Q(activities__occurred_at__gt=now - timedelta(days=days), activities__occurred_at__lt=now),
    )


def _feature_expression(feature: str, kind: str, reference: dict, *, now: datetime, names: tuple):
    """SQL for a feature's current value on a lead: the score for __score__, a Lead column
    (by field name or the label the scoring engine gives it), a derived activity feature, else
    the attribute of that name. None when it cannot be measured from the leads table."""
    labels, derived, activity_counts = names
    if feature == _SCORE_FEATURE:
        edges = [e for e in reference.get("edges") or [] if isinstance(e, int | float)]
        return F("probability") if edges and max(edges) <= 1.0 else F("score")
    if feature in labels:
        return F(labels[feature])
    if feature in _LEAD_COLUMNS:
        return F(feature)
    if feature in derived:
        return _derived_expression(derived[feature], now)
    if feature in activity_counts:
        return None  # activities per lead in a window: drift_for counts them in a grouped query
    if kind == "boolean":
        return JsonBool(feature)
    return JsonNumber(feature) if kind == "numeric" else JsonText(feature)


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two distributions over the same bins."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, _EPSILON), max(a, _EPSILON)
        total += (a - e) * math.log(a / e)
    return total


@dataclass
class FeatureDrift:
    feature: str
    kind: str
    psi: float | None
    n_current: int
    bins: list[dict]  # {"label", "expected", "actual"}
    note: str = ""
    # Derived from the lead's age (time to first contact, days since last activity): training
    # reads them at close, open leads now, so they differ by construction. Shown, but they do
    # not raise the retraining notice.
    age_dependent: bool = False

    @property
    def flagged(self) -> bool:
        return self.psi is not None and self.psi > PSI_FLAG


@dataclass
class DriftReport:
    version_id: int
    computed_at: datetime
    n_open: int
    features: list[FeatureDrift]
    score: FeatureDrift | None
    n_sampled: int = 0

    @property
    def flagged(self) -> list[FeatureDrift]:
        """Drifted features that count toward "consider retraining"."""
        return [f for f in self.features if f.flagged and not f.age_dependent]


def _numeric_bins(reference: dict) -> tuple[list[float], list[float], list[str]] | None:
    """(cut points, expected fractions, labels) from {"edges", "fractions"}: edges either
    include the outer bounds (len(fractions) == len(edges) - 1) or are only the cuts
    (len(fractions) == len(edges) + 1). The outer bins are open-ended."""
    edges = [float(e) for e in reference.get("edges") or [] if isinstance(e, int | float)]
    fractions = [float(f) for f in reference.get("fractions") or [] if isinstance(f, int | float)]
    if not fractions:
        return None
    if len(fractions) == len(edges) - 1:
        cuts = edges[1:-1]
    elif len(fractions) == len(edges) + 1:
        cuts = edges
    else:
        return None
    bounds = [None, *cuts, None]
    labels = []
    for lo, hi in pairwise(bounds):
        if lo is None and hi is None:
            labels.append("all")
        elif lo is None:
            labels.append(f"< {_short(hi)}")
        elif hi is None:
            labels.append(f">= {_short(lo)}")
        else:
            labels.append(f"{_short(lo)} to < {_short(hi)}")
    return cuts, fractions, labels


def _short(value: float) -> str:
    return f"{value:.4g}"


def _category_key(value) -> str:
    if value is None:
        return MISSING
    text = str(value).strip()
    lowered = text.lower()
    if lowered in _MISSING_KEYS:
        return MISSING
    return _BOOLEAN_KEYS.get(lowered, text)


def _drift_cache_key(version_pk: int) -> str:
    return f"reports:drift:v2:{version_pk}"


def drift_for(version: ModelVersion, *, refresh: bool = False) -> DriftReport | None:
    """PSI per feature (and of the score) between the training reference stored in
    ModelVersion.metrics["reference"] and the current open leads. None when the version has
    no reference.

    Cached per version for REPORT_DRIFT_CACHE_SECONDS (refresh=True recomputes; the beat task
    reports.refresh_summaries does so for the active model): drift moves slowly, and the
    computation is one scan of the open leads for every numeric, yes/no and activity-count
    feature plus one grouped query per categorical feature."""
    reference = metric_get(version.metrics, "reference")
    if not isinstance(reference, dict) or not reference:
        return None
    key = _drift_cache_key(version.pk)
    if not refresh and DRIFT_CACHE_SECONDS:
        cached = cache.get(key)
        if cached is not None:
            return cached
    report = _drift_compute(version, reference)
    if DRIFT_CACHE_SECONDS:
        cache.set(key, report, DRIFT_CACHE_SECONDS)
    return report


def drift_cached_for(version: ModelVersion) -> DriftReport | None:
    """The drift report drift_for last cached for `version` (the beat task refreshes the active
    model's), or None: never computes, so a page can show drift without scanning the leads."""
    if not DRIFT_CACHE_SECONDS:
        return None
    return cache.get(_drift_cache_key(version.pk))


def _boolean_fractions(ref: dict) -> dict[str, float] | None:
    """{"true", "false"[, MISSING]: share} from a yes/no reference, or None when unreadable."""
    fractions = ref.get("fractions")
    if not isinstance(fractions, dict):
        return None
    shares = {k: float(fractions[k]) for k in ("true", "false", MISSING) if isinstance(fractions.get(k), int | float)}
    return shares if "true" in shares and "false" in shares else None


def _drift_compute(version: ModelVersion, reference: dict) -> DriftReport:
    now = timezone.now()
    names = _scoring_feature_names()
    trained_types = metric_get(version.features, "types", default={}) or {}
    open_leads = Lead.objects.filter(status__in=Lead.OPEN_STATUSES).order_by()
    n_open = open_leads.count()
    step = max(1, math.ceil(n_open / DRIFT_SAMPLE_ROWS))
    if step > 1:
        open_leads = open_leads.alias(sample_bucket=Mod("pk", step)).filter(sample_bucket=0)
    numeric, booleans, categorical, results = [], [], [], {}
    # Activity counts per open lead: {alias: Count over the recent activities}, one GROUP BY.
    activity_counts: dict[str, Count] = {}
    longest_window = 0
    for feature, ref in reference.items():
        if not isinstance(ref, dict):
            continue
        kind = ref.get("kind")
        if kind not in ("numeric", "boolean", "categorical"):
            continue
        if kind == "numeric" and feature in names[2]:
            activity_kind, days = names[2][feature]
            value = F(f"drift_count_{len(activity_counts)}")
            activity_counts[value.name] = _activity_count(activity_kind, days, now)
            longest_window = max(longest_window, days)
        else:
            value = _feature_expression(feature, kind, ref, now=now, names=names)
        if value is None:
            results[feature] = FeatureDrift(feature, kind, None, 0, [], note="not measured from the leads table")
            continue
        if kind == "numeric":
            bins = _numeric_bins(ref)
            if bins is None:
                results[feature] = FeatureDrift(feature, kind, None, 0, [], note="reference bins unreadable")
            elif len(bins[1]) < 2:
                note = "one bin in training: no PSI"
                if trained_types.get(feature) == "boolean":
                    note += " (a yes/no feature of a model trained before yes/no references; retraining adds them)"
                results[feature] = FeatureDrift(feature, kind, None, 0, [], note=note)
            else:
                numeric.append((feature, ref, value, bins))
        elif kind == "boolean":
            fractions = _boolean_fractions(ref)
            if fractions is None:
                results[feature] = FeatureDrift(feature, kind, None, 0, [], note="reference bins unreadable")
            else:
                booleans.append((feature, fractions, value))
        elif isinstance(ref.get("fractions"), dict):
            categorical.append((feature, ref, value))

    # Every numeric and yes/no feature's bins in ONE scan of the open leads; the activity counts'
    # bins in one more, over the leads LEFT JOINed to their recent activities and grouped per lead
    # (one pass over the activities, whatever the number of count features).
    aggregates: dict[str, Count] = {"n_sampled": Count("pk")}
    count_aggregates: dict[str, Count] = {}
    for i, (_feature, _ref, value, (cuts, _fractions, _labels)) in enumerate(numeric):
        target = count_aggregates if isinstance(value, F) and value.name in activity_counts else aggregates
        for b, (lo, hi) in enumerate(pairwise([None, *cuts, None])):
            conditions = [Q(IsNull(value, False))]
            if lo is not None:
                conditions.append(Q(GreaterThanOrEqual(value, Value(lo))))
            if hi is not None:
                conditions.append(Q(LessThan(value, Value(hi))))
            target[f"f{i}_b{b}"] = Count("pk", filter=reduce(operator.and_, conditions))
        target[f"f{i}_missing"] = Count("pk", filter=Q(IsNull(value, True)))
    for i, (_feature, _fractions, value) in enumerate(booleans):
        aggregates[f"y{i}_true"] = Count("pk", filter=Q(GreaterThanOrEqual(value, Value(0.5))))
        aggregates[f"y{i}_false"] = Count("pk", filter=Q(LessThan(value, Value(0.5))))
        aggregates[f"y{i}_missing"] = Count("pk", filter=Q(IsNull(value, True)))
    counts = open_leads.aggregate(**aggregates)
    if count_aggregates:
        per_lead = open_leads.alias(recent_activity=_recent_activity_join(longest_window, now))
        counts.update(per_lead.annotate(**activity_counts).aggregate(**count_aggregates))

    for i, (feature, ref, _value, (_cuts, fractions, labels)) in enumerate(numeric):
        observed = [counts[f"f{i}_b{b}"] for b in range(len(fractions))]
        missing = counts[f"f{i}_missing"]
        expected, labels = list(fractions), list(labels)
        if isinstance(ref.get("missing"), int | float):
            expected.append(float(ref["missing"]))
            observed.append(missing)
            labels.append(MISSING)
        results[feature] = _drift_of(feature, "numeric", labels, expected, observed, missing_current=missing)

    for i, (feature, fractions, _value) in enumerate(booleans):
        # Missing is a bin of its own only when training saw it (as for numbers); otherwise the
        # model imputed it and the leads without a value are left out of the PSI.
        labels = [label for label in ("true", "false", MISSING) if label in fractions]
        observed = [counts[f"y{i}_{'missing' if label == MISSING else label}"] for label in labels]
        results[feature] = _drift_of(
            feature,
            "boolean",
            labels,
            [fractions[label] for label in labels],
            observed,
            missing_current=counts[f"y{i}_missing"],
        )

    # One GROUP BY per categorical feature.
    for feature, ref, value in categorical:
        rows = open_leads.annotate(level=value).values("level").annotate(n=Count("pk")).order_by()
        expected_by_level: dict[str, float] = defaultdict(float)
        for level, fraction in ref["fractions"].items():
            if isinstance(fraction, int | float):
                expected_by_level[_category_key(level)] += float(fraction)
        observed_by_level: dict[str, int] = defaultdict(int)
        for row in rows:
            level = _category_key(row["level"])
            if level not in expected_by_level and level != MISSING:
                level = OTHER  # a level training never saw (or folded into "(other)")
            observed_by_level[level] += row["n"]
        labels = sorted(expected_by_level, key=lambda k: (-expected_by_level[k], k))
        labels += [k for k in (OTHER, MISSING) if k in observed_by_level and k not in expected_by_level]
        results[feature] = _drift_of(
            feature,
            "categorical",
            labels,
            [expected_by_level.get(k, 0.0) for k in labels],
            [observed_by_level.get(k, 0) for k in labels],
            missing_current=observed_by_level.get(MISSING, 0),
        )

    # Activity-derived features and activity counts are read at close for training and now for
    # open leads: they differ by construction, so they are shown but never ask for retraining.
    for feature in [*names[1], *names[2]]:
        if feature in results:
            results[feature].age_dependent = True
    score = results.pop(_SCORE_FEATURE, None)
    features = sorted(results.values(), key=lambda d: (d.psi is None, -(d.psi or 0), d.feature))
    return DriftReport(version.pk, now, n_open, features, score, n_sampled=counts["n_sampled"])


def _drift_of(
    feature: str, kind: str, labels: list[str], expected: list[float], observed: list[int], *, missing_current: int
) -> FeatureDrift:
    n = sum(observed)
    expected_total = sum(expected)
    if n == 0 or expected_total <= 0:
        note = "no current values" if n == 0 else "empty reference"
        if feature not in _LEAD_COLUMNS and feature != _SCORE_FEATURE and n == 0 and missing_current:
            note = "not stored on leads (derived feature?)"
        return FeatureDrift(feature, kind, None, n, [], note=note)
    expected_share = [e / expected_total for e in expected]
    actual_share = [o / n for o in observed]
    bins = [
        {"label": label, "expected": e, "actual": a, "count": o}
        for label, e, a, o in zip(labels, expected_share, actual_share, observed, strict=True)
    ]
    return FeatureDrift(feature, kind, psi(expected_share, actual_share), n, bins)


def drift_notice(model_version: ModelVersion | None, *, cached_only: bool = False) -> str | None:
    """A one-line "consider retraining" notice for the model page, or None when nothing
    drifted (or the version has no reference distributions). With cached_only, read the drift
    report the beat task keeps cached and never compute it (None until it has run): for pages
    that must not scan the leads."""
    if model_version is None:
        return None
    report = drift_cached_for(model_version) if cached_only else drift_for(model_version)
    if report is None:
        return None
    flagged = report.flagged
    score_drifted = report.score is not None and report.score.flagged
    if not flagged and not score_drifted:
        return None
    parts = []
    if flagged:
        names = ", ".join(f"{f.feature} ({f.psi:.2f})" for f in flagged[:5])
        more = f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
        parts.append(f"{len(flagged)} feature{'s' if len(flagged) != 1 else ''} drifted: {names}{more}")
    if score_drifted:
        parts.append(f"the score distribution shifted (PSI {report.score.psi:.2f})")
    return (
        f"Consider retraining: since training, {' and '.join(parts)} "
        f"(population stability index above {PSI_FLAG:g} on current open leads)."
    )


ORIGINS_CACHE_KEY = "reports:origins:v1"


def origins_list() -> list[str]:
    """Distinct lead origins for the filter menu, cached like leads.selectors.sources_list."""
    origins = cache.get(ORIGINS_CACHE_KEY)
    if origins is None:
        origins = sorted(o for o in Lead.objects.order_by().values_list("origin", flat=True).distinct() if o)
        cache.set(ORIGINS_CACHE_KEY, origins, 300)
    return origins
