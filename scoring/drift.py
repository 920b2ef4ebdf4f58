"""Drift: how today's open leads differ from the data a model version was trained on, as a
population stability index (PSI) per feature and of the score, measured in SQL.

Each feature's distribution in training is stored with the version (ModelVersion.metrics
["reference"], written by scoring.training.reference_distributions); the open leads' values are
read in SQL, binned the same way, and compared. Drift takes every feature definition from
scoring/features.py (column labels, activity columns, the yes/no words, the missing and
"(other)" levels): it never keeps a copy of them.

May import: leads.models, scoring's features, training constants, quality and selectors.
Nothing in leads imports it; CRM pages show drift through scoring's template tags.
"""

import math
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router
from django.db.models import (
    Case,
    Count,
    Expression,
    F,
    FloatField,
    Func,
    Max,
    OuterRef,
    Q,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils import timezone

from leads.models import Activity, Lead, LeadRank
from leads.reports.selectors import report_work_mem
from leads.reports.summaries import jobs_timed
from scoring import features, selectors
from scoring.features import FALSE_WORDS, TRUE_WORDS
from scoring.models import ModelVersion
from scoring.quality import metric_get, observed_summary
from scoring.training import SCORE_REFERENCE

MISSING = features.MISSING_LEVEL
OTHER = features.OTHER_LEVEL
_MISSING_KEYS = {"", "none", "null", "nan", "__missing__", "missing", MISSING, "__nan__"}
# Training writes flags in text columns as yes/no; JSON gives true/false: one level each.
_BOOLEAN_KEYS = {"true": "true", "yes": "true", "false": "false", "no": "false"}
_SCORE_FEATURE = SCORE_REFERENCE
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


class JsonBool(_AttributeKey):
    """attributes[key] read as the scoring engine reads a yes/no feature: 1.0 for true (JSON true,
    a non-zero number, "yes"/"true"/"y"/"t"/"1" in any case), 0.0 for false, NULL when missing or
    not a yes/no word. Never casts text to a number, so a stray string cannot fail the query."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):
        column, column_params = compiler.compile(self.source_expressions[0])
        true_in = ", ".join(["%s"] * len(TRUE_WORDS))
        false_in = ", ".join(["%s"] * len(FALSE_WORDS))
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
            return sql, [*key, *key, *key, *key, *TRUE_WORDS, *key, *FALSE_WORDS]
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
        return sql, [*key, *key, *key, *key, *TRUE_WORDS, *key, *FALSE_WORDS]


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


# The activity-derived features (scoring.features.ACTIVITY_COLUMNS other than the counts), read
# from the lead's own timestamps by _derived_expression.
_DERIVED_FEATURES = (features.CONTACTED, features.HOURS_TO_FIRST_CONTACT, features.DAYS_SINCE_LAST)


def _feature_names() -> tuple[dict[str, str], tuple[str, ...], dict[str, tuple[str, int]]]:
    """(feature label -> Lead column, activity-derived features, activity-count feature ->
    (activity kind, window in days)), from scoring.features, so drift follows its column names."""
    return features.model_field_columns(), _DERIVED_FEATURES, features.ACTIVITY_COUNT_COLUMNS


def _derived_expression(feature: str, now: datetime):
    """The activity-derived features of the model, read from the lead's own timestamps (the
    same as the training features for an open lead, whose cut-off is now)."""
    if feature == features.CONTACTED:
        return Case(When(first_contacted_at__isnull=False, then=Value(1.0)), default=Value(0.0),
                    output_field=FloatField())  # fmt: skip
    if feature == features.HOURS_TO_FIRST_CONTACT:
        return HoursBetween(F("first_contacted_at"), F("created_at"))
    return HoursBetween(Value(now), F("last_activity_at")) / Value(24.0)  # features.DAYS_SINCE_LAST


@dataclass(frozen=True)
class RecentActivityCount:
    """An activity-count feature: activities of `kind` a lead had in the `days` before now (the
    training feature of an open lead, whose cut-off is now: scoring.features.activity_aggregates).
    The sampled leads read it from _recent_activity_counts, joined to them by lead."""

    kind: str
    days: int


def _recent_activity_counts(counts: list[RecentActivityCount], now: datetime):
    """Per lead with any activity of those kinds in the longest window: a{i} = counts[i]'s
    count. One pass over the recent activities (the (kind, occurred_at) index), whatever the
    number of count features; leads without a row have none."""
    longest = max(c.days for c in counts)
    recent = Activity.objects.filter(
        kind__in={c.kind for c in counts}, occurred_at__gt=now - timedelta(days=longest), occurred_at__lt=now
    )
    per_count = {
        f"a{i}": Count("pk", filter=Q(kind=c.kind, occurred_at__gt=now - timedelta(days=c.days)))
        for i, c in enumerate(counts)
    }
    return recent.order_by().values("lead_id").annotate(**per_count)


# The sample: runs of SAMPLE_RUN_IDS consecutive ids, one run every step * SAMPLE_RUN_IDS ids
# (the leads with id % (step * SAMPLE_RUN_IDS) < SAMPLE_RUN_IDS): each lead is in it with the same
# chance, 1/step, as with every step-th id, but a run's rows share heap pages, so PostgreSQL reads
# about 1/step of the leads table through its primary key instead of scanning all of it.
SAMPLE_RUN_IDS = 16
# Samples of more leads than this get REPORT_WORK_MEM_MB for the statement (about 3 MB of rows here).
WORK_MEM_ABOVE_ROWS = 10_000


@dataclass(frozen=True)
class Histogram:
    """One feature's distribution over the sampled leads: `value` per lead (an expression on
    the lead, or a RecentActivityCount) binned by `cuts` (bin b holds cuts[b-1] <= value <
    cuts[b], the outer bins open-ended; None = missing), or, without cuts, counted per text
    level (None = missing)."""

    value: Expression | RecentActivityCount
    cuts: tuple[float, ...] | None = None


def histograms_sample(
    histograms: list[Histogram], *, step: int, last_id: int | None, open_leads: int, now: datetime
) -> tuple[int, list[dict]]:
    """(sampled open leads, {bin or level: leads} per histogram), from ONE statement: the
    sample's values are read once into a CTE that every histogram groups. `step` 1 reads every
    open lead; `last_id` is the highest open lead's id (the last run needed); `open_leads`, how
    many there are (the sample is about open_leads / step)."""
    connection = connections[router.db_for_read(Lead)]
    sql, params = _histograms_sql(connection, histograms, step=step, last_id=last_id or 0, now=now)
    # The CTE and the levels' hash tables hold the whole sample: in memory, not on disk. A small
    # sample fits PostgreSQL's default work_mem, and raising it costs three statements more. The
    # sample's size follows the open leads, not the highest id (ids only grow: a table whose
    # older leads were deleted or closed has a high last id and few open leads).
    large = open_leads // max(step, 1) > WORK_MEM_ABOVE_ROWS
    with report_work_mem() if large else nullcontext(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    n_sampled, counts = 0, [{} for _ in histograms]
    for index, bin_, level, n in rows:
        if index < 0:
            n_sampled = n
        else:
            counts[index][level if histograms[index].cuts is None else bin_] = n
    return n_sampled, counts


def _histograms_sql(connection, histograms: list[Histogram], *, step: int, last_id: int, now: datetime):
    """WITH drift_sample AS (the sample's values c<i>) SELECT (histogram, bin, level, leads) rows:
    (-1, NULL, NULL, sampled leads), then each histogram's bins (or levels) and their leads."""
    sample_sql, params = _sample_sql(connection, histograms, step=step, last_id=last_id, now=now)
    keys = []  # histogram i's bin (an integer) or level (text) per sampled lead
    for i, histogram in enumerate(histograms):
        if histogram.cuts is None:
            keys.append(f"c{i}")
            continue
        whens = " ".join(f"WHEN c{i} < %s THEN {b}" for b in range(len(histogram.cuts)))
        keys.append(f"CASE WHEN c{i} IS NULL THEN NULL {whens} ELSE {len(histogram.cuts)} END")
        params += list(histogram.cuts)
    if connection.vendor == "postgresql" and histograms:
        return _grouping_sets_sql(sample_sql, histograms, keys), params
    selects = ["SELECT -1, CAST(NULL AS INTEGER), CAST(NULL AS TEXT), COUNT(*) FROM drift_sample"]
    for i, (histogram, key) in enumerate(zip(histograms, keys, strict=True)):
        bin_, level = ("CAST(NULL AS INTEGER)", key) if histogram.cuts is None else (key, "CAST(NULL AS TEXT)")
        selects.append(f"SELECT {i}, {bin_}, {level}, COUNT(*) FROM drift_sample GROUP BY 2, 3")  # noqa: S608
    return f"WITH drift_sample AS ({sample_sql}) {' UNION ALL '.join(selects)}", params


def _grouping_sets_sql(sample_sql: str, histograms: list[Histogram], keys: list[str]) -> str:
    """The same rows from ONE pass over the sample: GROUP BY GROUPING SETS ((g0), (g1), ..., ()).
    In set i every other key is NULL, so COALESCE picks key i; GROUPING tells the sets apart (a
    missing value is NULL too). MATERIALIZED: the bins read each value once, not once per WHEN, and
    the sample keeps its own plan (the nested loop through the primary key). Without the fence the
    planner merged everything into one query, estimated 345M rows for the range join and sorted
    for every grouping set: minutes at 1M (measured)."""
    names = [f"g{i}" for i in range(len(keys))]
    which = " ".join(f"WHEN GROUPING({name}) = 0 THEN {i}" for i, name in enumerate(names))
    bins = [name for name, h in zip(names, histograms, strict=True) if h.cuts is not None]
    levels = [name for name, h in zip(names, histograms, strict=True) if h.cuts is None]
    bin_ = f"COALESCE({', '.join(bins)})" if bins else "CAST(NULL AS INTEGER)"
    level = f"COALESCE({', '.join(levels)})" if levels else "CAST(NULL AS TEXT)"
    sets = ", ".join([*(f"({name})" for name in names), "()"])
    keyed = ", ".join(f"{key} AS {name}" for key, name in zip(keys, names, strict=True))
    return (
        f"WITH drift_sample AS MATERIALIZED ({sample_sql}) "  # noqa: S608 (column names and numbers)
        f"SELECT CASE {which} ELSE -1 END, {bin_}, {level}, COUNT(*) "
        f"FROM (SELECT {keyed} FROM drift_sample) AS drift_keys GROUP BY GROUPING SETS ({sets})"
    )


def _sample_sql(connection, histograms: list[Histogram], *, step: int, last_id: int, now: datetime):
    """SELECT c0, c1, ... (histogram i's value) FROM the sampled open leads: the expressions are
    compiled by Django; only the sample's join and the activity counts' join are written here."""
    query = Lead.objects.all().query
    compiler = query.get_compiler(connection=connection)
    quote = connection.ops.quote_name
    table = quote(Lead._meta.db_table)
    lead_id = f"{table}.{quote(Lead._meta.pk.column)}"
    counts = [h.value for h in histograms if isinstance(h.value, RecentActivityCount)]
    columns, params = [], []
    for i, histogram in enumerate(histograms):
        if isinstance(histogram.value, RecentActivityCount):
            value_sql, value_params = f"COALESCE(drift_recent.a{counts.index(histogram.value)}, 0)", []
        else:
            # Levels are compared as text (a number column's levels too), as training keys them.
            value = histogram.value if histogram.cuts is not None else Cast(histogram.value, TextField())
            value_sql, value_params = compiler.compile(value.resolve_expression(query))
        columns.append(f"{value_sql} AS c{i}")
        params += value_params
    joins, join_params = [], []
    where_sql, where_params = compiler.compile(query.build_where(Q(status__in=Lead.OPEN_STATUSES)))
    if step > 1:
        period = step * SAMPLE_RUN_IDS
        if connection.vendor == "postgresql":  # the runs through the primary key
            joins.append(
                f"INNER JOIN generate_series(0, %s, %s) AS drift_run (first_id) "
                f"ON {lead_id} >= drift_run.first_id AND {lead_id} < drift_run.first_id + %s"
            )
            join_params += [last_id, period, SAMPLE_RUN_IDS]
        else:  # the same leads, by a scan
            where_sql = f"{where_sql} AND {lead_id} %% %s < %s"
            where_params = [*where_params, period, SAMPLE_RUN_IDS]
    if counts:
        recent = _recent_activity_counts(counts, now).query
        recent_sql, recent_params = recent.get_compiler(connection=connection).as_sql()
        joins.append(f"LEFT JOIN ({recent_sql}) AS drift_recent ON drift_recent.lead_id = {lead_id}")
        join_params += recent_params
    columns = columns or ["1 AS drift_lead"]  # nothing to bin: the sample is still counted
    # The leads table and the joins the expressions asked for (a value on a related row).
    tables, tables_params = compiler.get_from_clause()
    sample_sql = f"SELECT {', '.join(columns)} FROM {' '.join(tables)} {' '.join(joins)} WHERE {where_sql}"  # noqa: S608
    return sample_sql, [*params, *tables_params, *join_params, *where_params]


def _feature_expression(feature: str, kind: str, reference: dict, *, now: datetime, names: tuple):
    """SQL for a feature's current value on a lead: the score for __score__, a Lead column
    (by field name or the label the scoring engine gives it), a derived activity feature, else
    the attribute of that name. None when it cannot be measured from the leads table."""
    labels, derived, activity_counts = names
    if feature == _SCORE_FEATURE:
        return _score_expression(reference)
    if feature in labels:
        return F(labels[feature])
    if feature in _LEAD_COLUMNS:
        return F(feature)
    if feature in derived:
        return _derived_expression(feature, now)
    if feature in activity_counts:
        return None  # activities per lead in a window: drift_for counts them in a grouped query
    if features.is_date_feature(feature):
        return None  # computed from dates in Python (scoring.features), not a column of the leads table
    if kind == "boolean":
        return JsonBool(feature)
    return JsonNumber(feature) if kind == "numeric" else JsonText(feature)


def _score_expression(reference: dict) -> Subquery:
    """The lead's current score on the scale of the reference's bins: the probability when its
    edges stay within 0-1, else the 0-100 score. The only read of the score here: it lives in the
    lead's LeadRank row, read for each sampled lead by its primary key. A join would let
    PostgreSQL hash the whole rank table for a sample of a few thousand leads: it cannot count the
    sample's runs (generate_series joined by a range), so it took them for millions of rows and read
    all 1M rank rows, 1.4 of the statement's 1.8 s (BENCHMARKS.md, "Stop 27")."""
    edges = [e for e in reference.get("edges") or [] if isinstance(e, int | float)]
    column = "probability" if edges and max(edges) <= 1.0 else "score"
    return Subquery(LeadRank.objects.filter(lead_id=OuterRef("pk")).values(column)[:1])


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
        return self.psi is not None and self.psi > settings.REPORT_PSI_FLAG


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
    scoring.refresh_monitoring does so for the active model): drift moves slowly. The computation
    is the open-lead count and ONE statement that bins every feature over a sample of the open
    leads (histograms_sample)."""
    reference = metric_get(version.metrics, "reference")
    if not isinstance(reference, dict) or not reference:
        return None
    key = _drift_cache_key(version.pk)
    if not refresh and settings.REPORT_DRIFT_CACHE_SECONDS:
        cached = cache.get(key)
        if cached is not None:
            return cached
    report = _drift_compute(version, reference)
    if settings.REPORT_DRIFT_CACHE_SECONDS:
        cache.set(key, report, settings.REPORT_DRIFT_CACHE_SECONDS)
    return report


def drift_cached_for(version: ModelVersion) -> DriftReport | None:
    """The drift report drift_for last cached for `version` (the beat task refreshes the active
    model's), or None: never computes, so a page can show drift without scanning the leads."""
    if not settings.REPORT_DRIFT_CACHE_SECONDS:
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
    names = _feature_names()
    trained_types = metric_get(version.features, "types", default={}) or {}
    census = Lead.objects.filter(status__in=Lead.OPEN_STATUSES).aggregate(n=Count("pk"), last=Max("pk"))
    n_open = census["n"]
    step = max(1, math.ceil(n_open / settings.REPORT_DRIFT_SAMPLE_ROWS))
    numeric, booleans, categorical, results = [], [], [], {}
    for feature, ref in reference.items():
        if not isinstance(ref, dict):
            continue
        kind = ref.get("kind")
        if kind not in ("numeric", "boolean", "categorical"):
            continue
        if kind == "numeric" and feature in names[2]:
            value = RecentActivityCount(*names[2][feature])
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

    # Every feature's bins in ONE statement over the sample (histograms_sample).
    histograms = [
        *(Histogram(value, cuts=tuple(cuts)) for _feature, _ref, value, (cuts, _fractions, _labels) in numeric),
        *(Histogram(value, cuts=(0.5,)) for _feature, _fractions, value in booleans),  # false < 0.5 <= true
        *(Histogram(value) for _feature, _ref, value in categorical),
    ]
    n_sampled, counts = histograms_sample(histograms, step=step, last_id=census["last"], open_leads=n_open, now=now)
    numeric_counts = counts[: len(numeric)]
    boolean_counts = counts[len(numeric) : len(numeric) + len(booleans)]
    categorical_counts = counts[len(numeric) + len(booleans) :]

    for (feature, ref, _value, (_cuts, fractions, labels)), binned in zip(numeric, numeric_counts, strict=True):
        observed = [binned.get(b, 0) for b in range(len(fractions))]
        missing = binned.get(None, 0)
        expected, labels = list(fractions), list(labels)
        if isinstance(ref.get("missing"), int | float):
            expected.append(float(ref["missing"]))
            observed.append(missing)
            labels.append(MISSING)
        results[feature] = _drift_of(feature, "numeric", labels, expected, observed, missing_current=missing)

    for (feature, fractions, _value), binned in zip(booleans, boolean_counts, strict=True):
        # Missing is a bin of its own only when training saw it (as for numbers); otherwise the
        # model imputed it and the leads without a value are left out of the PSI.
        by_label = {"false": binned.get(0, 0), "true": binned.get(1, 0), MISSING: binned.get(None, 0)}
        labels = [label for label in ("true", "false", MISSING) if label in fractions]
        results[feature] = _drift_of(
            feature,
            "boolean",
            labels,
            [fractions[label] for label in labels],
            [by_label[label] for label in labels],
            missing_current=by_label[MISSING],
        )

    for (feature, ref, _value), by_level in zip(categorical, categorical_counts, strict=True):
        expected_by_level: dict[str, float] = defaultdict(float)
        for level, fraction in ref["fractions"].items():
            if isinstance(fraction, int | float):
                expected_by_level[_category_key(level)] += float(fraction)
        observed_by_level: dict[str, int] = defaultdict(int)
        for value, n in by_level.items():
            level = _category_key(value)
            if level not in expected_by_level and level != MISSING:
                level = OTHER  # a level training never saw (or folded into "(other)")
            observed_by_level[level] += n
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
    return DriftReport(version.pk, now, n_open, features, score, n_sampled=n_sampled)


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
        f"(population stability index above {settings.REPORT_PSI_FLAG:g} on current open leads)."
    )


def monitoring_refresh() -> dict[str, float]:
    """Recompute what the model pages read cached for the active model: its observed conversion
    per tier (scoring.quality) and its drift report. Returns the milliseconds each took ({} without
    an active model). The beat task scoring.refresh_monitoring runs it; safe to run twice: it only
    overwrites cache entries."""
    model = selectors.active_model_version()
    if model is None:
        return {}
    return jobs_timed(
        [
            ("observed", lambda: observed_summary(model, refresh=True)),
            ("drift", lambda: drift_for(model, refresh=True)),
        ]
    )
