"""The one place where leads become a feature frame: training and scoring both call this module.

A frame has one row per lead (indexed by lead id) and one column per feature:
- the lead's own fields (source, origin),
- every column of Lead.attributes, typed as the importer declared (ImportProfile/ImportJob
  .column_types) or else from the JSON values; a date column becomes the days between it and the
  lead's created date (never a raw timestamp), and the created date gives its weekday and month,
- activity aggregates computed in SQL in bulk (counts by kind in the last 7 and 30 days, days
  since the last activity, whether contacted, hours from creation to first contact).

No leakage: a closed lead's activity aggregates are computed as of the moment it closed
(converted_at, else its first closing status change, else the import that brought it closed).
Status changes, the status itself, converted_at and lost_reason never become features. Nothing
here knows any one company's columns.

Settings that belong to a data set (exclusions, labels, units, declared types, the columns that
fill source/origin) come from the imports that created the leads (Lead.import_job: the job's
profile, else the inline mapping stored on the job): data_set_settings_for().

May import leads.models only (scoring reads the CRM's leads, activities and import profiles).
"""

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.utils import timezone

from leads.models import Activity, ImportJob, ImportProfile, Lead

NUMBER, BOOLEAN, CATEGORY, DATE = "number", "boolean", "category", "date"
# A date column written day first (31/01/2024): decided per column from its values.
DATE_DAY_FIRST = "date_day_first"
DATE_KINDS = (DATE, DATE_DAY_FIRST)
CREATED_WEEKDAY = "Created weekday"
CREATED_MONTH = "Created month"
CREATED_COLUMNS = (CREATED_WEEKDAY, CREATED_MONTH)
MODEL_FIELDS = ("source", "origin")
CLOSED = tuple(str(s) for s in Lead.CLOSED_STATUSES)
STATUS_CHANGE = str(Activity.Kind.STATUS_CHANGE)
ACTIVITY_KINDS = tuple(str(k) for k in Activity.Kind.values if k != Activity.Kind.STATUS_CHANGE)
CONTACT_KINDS = tuple(str(k) for k in Activity.CONTACT_KINDS)
WINDOWS = (7, 30)
DAYS_SINCE_LAST = "Days since last activity"
CONTACTED = "Contacted"
HOURS_TO_FIRST_CONTACT = "Hours to first contact"
# The level a missing category takes, and the level of the categories folded together in a
# drift reference (training.reference_distributions).
MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
_KIND_LABELS = {str(k): str(label) for k, label in Activity.Kind.choices}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
# US (01/31/2024) or European (31.01.2024) dates the importer kept as text, with an optional time.
_TEXT_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_SQLITE_IN_CHUNK = 10_000
FRAME_PART = 50_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def activity_column(kind: str, days: int) -> str:
    return f"{_KIND_LABELS[kind]} in last {days} days"


# Every "<kind> in last <days> days" count column with the activity kind and window it counts.
ACTIVITY_COUNT_COLUMNS: dict[str, tuple[str, int]] = {
    activity_column(k, d): (k, d) for k in ACTIVITY_KINDS for d in WINDOWS
}
ACTIVITY_COLUMNS: dict[str, str] = {
    **dict.fromkeys(ACTIVITY_COUNT_COLUMNS, NUMBER),
    DAYS_SINCE_LAST: NUMBER,
    CONTACTED: BOOLEAN,
    HOURS_TO_FIRST_CONTACT: NUMBER,
}


# --- column types -------------------------------------------------------------------------


@dataclass
class DataSetSettings:
    """What the imports behind a set of leads say about their columns (the union of their profiles
    and inline mappings; a newer import's label, unit or type wins)."""

    excluded: dict[str, str] = field(default_factory=dict)  # column -> why it is left out
    labels: dict[str, str] = field(default_factory=dict)  # column -> words a rep reads
    units: dict[str, str] = field(default_factory=dict)  # number column -> unit (ImportProfile.UNITS)
    column_types: dict[str, str] = field(default_factory=dict)  # declared or inferred by the importer
    field_columns: dict[str, str] = field(default_factory=dict)  # "source"/"origin" -> the file column


def data_set_settings_for(import_job_ids: Iterable[int | None]) -> DataSetSettings:
    """The settings of the given imports: each job's profile as it is now (an admin's edit to a
    profile applies at the next training), else the inline mapping the job stored. Leads that no
    import created (typed in, the API, the demo) add nothing: only the global settings apply."""
    ids = sorted({int(i) for i in import_job_ids if i is not None})
    found = DataSetSettings()
    if not ids:
        return found
    field_columns: dict[str, set[str]] = {f: set() for f in MODEL_FIELDS}
    jobs = ImportJob.objects.filter(pk__in=ids).select_related("profile").order_by("pk")
    for job in jobs:
        spec = _job_settings(job)
        source = f"import profile {job.profile.name}" if job.profile else f"the mapping of import #{job.pk}"
        excluded = spec.get("excluded_columns") or {}
        items = excluded.items() if isinstance(excluded, dict) else ((c, "") for c in excluded)
        for column, why in items:
            found.excluded.setdefault(str(column), f"excluded by {source}" + (f": {why}" if why else ""))
        found.labels.update(_str_dict(spec.get("column_labels")))
        found.units.update(_str_dict(spec.get("column_units")))
        found.column_types.update(_str_dict(spec.get("column_types")))
        found.column_types.update(_str_dict(job.column_types))
        mapping = spec.get("mapping") or {}
        for name in MODEL_FIELDS:
            if isinstance(mapping.get(name), str) and mapping[name].strip():
                field_columns[name].add(mapping[name].strip())
    # One feature per lead field: the file's column name when every import agrees, else the plain name.
    found.field_columns = {name: next(iter(cols)) for name, cols in field_columns.items() if len(cols) == 1}
    return found


def _job_settings(job: ImportJob) -> dict:
    if job.profile is not None:
        profile = job.profile
        return {
            "mapping": profile.mapping,
            "excluded_columns": profile.excluded_columns,
            "column_labels": profile.column_labels,
            "column_units": profile.column_units,
            "column_types": profile.column_types,
        }
    return job.spec if isinstance(job.spec, dict) else {}


def _str_dict(value) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def model_field_columns() -> dict[str, str]:
    """{column label: lead field} for the model fields under every name a feature may carry:
    the plain one ("Source") and the column any import profile fills it from."""
    columns = {name.capitalize(): name for name in MODEL_FIELDS}
    for profile in ImportProfile.objects.all():
        mapping = profile.mapping or {}
        for name in MODEL_FIELDS:
            if isinstance(mapping.get(name), str) and mapping[name].strip():
                columns[mapping[name].strip()] = name
    return columns


def model_field_labels(data_set: DataSetSettings | None = None) -> dict[str, str]:
    """{"source": label, "origin": label}: the file column the data set's imports fill them from,
    else a plain name."""
    labels = {name: name.capitalize() for name in MODEL_FIELDS}
    if data_set is not None:
        labels.update(data_set.field_columns)
    return labels


def _json_kind(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return DATE if _ISO_DATE.match(text) or _TEXT_DATE.match(text) else CATEGORY
    return CATEGORY


def infer_column_types(attribute_dicts: Iterable[dict], declared: dict[str, str] | None = None) -> dict[str, str]:
    """Type of every attribute column: the importer's declaration, else the JSON values' majority
    kind. Text that is (almost) all dates is a date column: the importer keeps US/European dates
    as text. A date column with a first part above 12 (31/01/2024) reads day first."""
    declared = declared or {}
    counts: dict[str, dict[str, int]] = {}
    day_first: dict[str, list[bool]] = {}  # column -> [seen a day first, seen a month first]
    for attrs in attribute_dicts:
        if not isinstance(attrs, dict):
            continue
        for key, value in attrs.items():
            kind = _json_kind(value)
            bucket = counts.setdefault(key, {})
            if kind is not None:
                bucket[kind] = bucket.get(kind, 0) + 1
            if kind == DATE:
                match = _TEXT_DATE.match(value.strip())
                if match:
                    seen = day_first.setdefault(key, [False, False])
                    seen[0] |= int(match.group(1)) > 12
                    seen[1] |= int(match.group(2)) > 12
    types = {}
    for key, bucket in counts.items():
        declared_type = declared.get(key)
        total = sum(bucket.values())
        mostly_dates = bool(total) and bucket.get(DATE, 0) / total >= 0.95
        if declared_type in (NUMBER, BOOLEAN, DATE):
            types[key] = declared_type
        elif declared_type in (CATEGORY, "text", "string", "str") and not mostly_dates:
            types[key] = CATEGORY
        elif declared_type in ("datetime",):
            types[key] = DATE
        elif not bucket:
            types[key] = CATEGORY
        else:
            kind = max(bucket, key=bucket.get)
            # Mostly-numbers with a stray word stays a number (the word becomes missing).
            types[key] = kind if bucket[kind] / total >= 0.95 or kind == CATEGORY else CATEGORY
        if types[key] == DATE and day_first.get(key, [False, False]) == [True, False]:
            types[key] = DATE_DAY_FIRST
    return types


# An attribute filled in on at least this share of the closed leads but on at most
# CLOSED_ONLY_MAX_OPEN_FILL of the open ones is written when a lead closes (a stage, a won/lost
# tag, a contract value, a "closed on" date): the outcome in disguise, and never there to score by.
CLOSED_ONLY_MIN_FILL = 0.2
CLOSED_ONLY_MAX_OPEN_FILL = 0.01
# Fewer open leads with attributes say nothing about what open leads carry (typed-in leads have none).
CLOSED_ONLY_MIN_OPEN = 30


def closed_only_columns(
    closed_frame: pd.DataFrame, attribute_types: dict[str, str], open_attributes: Iterable[dict]
) -> dict[str, str]:
    """The attribute columns filled in on closed leads but (almost) never on open ones, with why:
    {column: words}. `open_attributes` are open leads' attributes; those with none at all (typed
    in, not imported) are not counted. Empty when there are too few open leads to tell."""
    filled: dict[str, int] = {}
    n_open = 0
    for attrs in open_attributes:
        if not isinstance(attrs, dict) or not any(_json_kind(value) is not None for value in attrs.values()):
            continue
        n_open += 1
        for key, value in attrs.items():
            if _json_kind(value) is not None:
                filled[key] = filled.get(key, 0) + 1
    if n_open < CLOSED_ONLY_MIN_OPEN or closed_frame.empty:
        return {}
    found = {}
    for key, kind in attribute_types.items():
        column = date_gap_column(key) if kind in DATE_KINDS else key
        if column not in closed_frame:
            continue
        closed_fill = float(closed_frame[column].notna().mean())
        open_fill = filled.get(key, 0) / n_open
        if closed_fill >= CLOSED_ONLY_MIN_FILL and open_fill <= CLOSED_ONLY_MAX_OPEN_FILL:
            found[key] = (
                f"only on closed leads: filled in on {closed_fill:.0%} of them but on {filled.get(key, 0)} of the "
                f"{n_open} open leads the model will score; written when a lead closes (the outcome in "
                "disguise?) or no longer collected"
            )
    return found


def date_gap_column(column: str) -> str:
    """The feature a date column becomes: days from it to the lead's created date."""
    return f"Days from {column} to created"


def is_date_feature(column: str) -> bool:
    """A feature computed from dates (created weekday/month, a date's gap to created)."""
    return column in CREATED_COLUMNS or (column.startswith("Days from ") and column.endswith(" to created"))


def date_features(attribute_types: dict[str, str]) -> dict[str, list]:
    """{gap feature: [date column, written day first]} for every date column."""
    return {date_gap_column(c): [c, k == DATE_DAY_FIRST] for c, k in attribute_types.items() if k in DATE_KINDS}


def frame_types(attribute_types: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, str]:
    """Every feature column with its type: model fields (under their labels), the created weekday
    and month, attributes (a date column as its gap to the created date), activity aggregates."""
    labels = labels or {name: name.capitalize() for name in MODEL_FIELDS}
    types = {labels[name]: CATEGORY for name in MODEL_FIELDS}
    types.update(dict.fromkeys(CREATED_COLUMNS, CATEGORY))
    for key, kind in attribute_types.items():
        if kind in DATE_KINDS:
            types.setdefault(date_gap_column(key), NUMBER)
        else:
            types.setdefault(key, kind)
    for key, kind in ACTIVITY_COLUMNS.items():
        types.setdefault(key, kind)
    return types


# --- coercion -----------------------------------------------------------------------------

# The words a yes/no feature reads as yes and no (any case, trimmed). Drift (scoring/drift.py)
# bins yes/no attributes in SQL with these same words.
TRUE_WORDS = ("true", "yes", "y", "1", "t")
FALSE_WORDS = ("false", "no", "n", "0", "f")
_TRUE = set(TRUE_WORDS)
_FALSE = set(FALSE_WORDS)


def _to_bool(value) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return math.nan if isinstance(value, float) and math.isnan(value) else float(bool(value))
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    return math.nan


def _to_number(value) -> float:
    if value is None or isinstance(value, bool):
        return math.nan if value is None else float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip().replace(",", ""))
    except ValueError:
        return math.nan


def _to_category(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def coerce_value(kind: str, value):
    if kind == NUMBER:
        return _to_number(value)
    if kind == BOOLEAN:
        return _to_bool(value)
    return _to_category(value)


def _coerce_series(series: pd.Series, kind: str) -> pd.Series:
    if kind == NUMBER:
        numeric = pd.to_numeric(series, errors="coerce")
        if numeric.isna().sum() > series.isna().sum():
            numeric = series.map(_to_number)
        return numeric.astype("float64")
    if kind == BOOLEAN:
        return series.map(_to_bool).astype("float64")
    return _categories(series)


def _categories(series: pd.Series) -> pd.Series:
    """series.map(_to_category), with one string object per level (_shared_levels). Text values
    (the usual case) are factorized first, so _to_category runs once per distinct value, not once
    per lead; other mixes (numbers, booleans: 1 and True hash alike) take the per-value path."""
    codes, uniques = pd.factorize(series.to_numpy(dtype=object))
    if pd.api.types.infer_dtype(uniques, skipna=True) not in ("string", "empty"):
        return _shared_levels(series.map(_to_category))
    levels = pd.Series([_to_category(value) for value in uniques], dtype="object")
    level_codes, shared = pd.factorize(levels)  # " Google" and "Google" become one level
    names = np.array([*shared, None], dtype=object)  # code -1: missing
    return pd.Series(names[np.append(level_codes, -1)[codes]], index=series.index, dtype="object")


def _shared_levels(series: pd.Series) -> pd.Series:
    """The same values with one string object per level: 500,000 leads from "Google" then hold
    one string, not one each (the JSON decoder makes a new one per row)."""
    codes, levels = pd.factorize(series)
    values = np.empty(len(codes), dtype=object)
    present = codes >= 0
    values[present] = np.asarray(levels, dtype=object)[codes[present]]
    return pd.Series(values, index=series.index, dtype="object")


# --- activity aggregates ------------------------------------------------------------------


def _seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _activity_sql(n_ids: int, contiguous: bool = False) -> str:
    lead_table = connection.ops.quote_name(Lead._meta.db_table)
    act_table = connection.ops.quote_name(Activity._meta.db_table)
    job_table = connection.ops.quote_name(ImportJob._meta.db_table)
    if contiguous:
        id_filter = "BETWEEN %s AND %s"
    elif connection.vendor == "postgresql":
        id_filter = "= ANY(%s)"
    else:
        id_filter = f"IN ({', '.join(['%s'] * n_ids)})"
    age = _seconds_between("c.cutoff", "a.occurred_at")
    since_created = _seconds_between("a.occurred_at", "c.created_at")
    contact_in = ", ".join(["%s"] * len(CONTACT_KINDS))
    windows = ", ".join(f"SUM(CASE WHEN {age} < {d * 86400} THEN 1 ELSE 0 END)" for d in WINDOWS)
    # PostgreSQL's EXTRACT gives numeric, which Python reads as Decimal: float8 reads as float.
    as_float = "float8" if connection.vendor == "postgresql" else ""
    # The cut-off is the moment the outcome was known for closed leads, "as of" for open ones. A lead
    # an import closed (lost, with no closing status change; an import dates a conversion itself)
    # had its outcome by the time of that import: what the CRM logs after it follows the outcome.
    return f"""
        WITH c AS MATERIALIZED (
            SELECT l.id AS lead_id, l.created_at AS created_at,
                   CASE WHEN l.status IN (%s, %s) THEN COALESCE(
                        l.converted_at,
                        (SELECT MIN(s.occurred_at) FROM {act_table} s
                          WHERE s.lead_id = l.id AND s.kind = %s AND s.outcome IN (%s, %s)),
                        (SELECT j.created_at FROM {job_table} j WHERE j.id = l.import_job_id),
                        %s)
                   ELSE %s END AS cutoff
              FROM {lead_table} l WHERE l.id {id_filter}
        )
        SELECT a.lead_id, a.kind, {windows}, {as_float}(MIN({age})),
               {as_float}(MIN(CASE WHEN a.kind IN ({contact_in}) THEN {since_created} END))
          FROM c JOIN {act_table} a ON a.lead_id = c.lead_id
         WHERE a.kind <> %s AND a.occurred_at < c.cutoff AND a.lead_id BETWEEN %s AND %s
         GROUP BY a.lead_id, a.kind
    """  # noqa: S608 (table names come from the models; values are parameters)


def activity_aggregates(lead_ids: Sequence[int], *, as_of: datetime) -> pd.DataFrame:
    """Activity features for the given leads, one SQL aggregate query per batch of ids."""
    columns = list(ACTIVITY_COLUMNS)
    ids = sorted({int(i) for i in lead_ids})
    frame = pd.DataFrame(0.0, index=pd.Index(ids, name="lead_id"), columns=columns)
    frame[DAYS_SINCE_LAST] = np.nan
    frame[HOURS_TO_FIRST_CONTACT] = np.nan
    if not ids:
        return frame
    as_of_param = connection.ops.adapt_datetimefield_value(as_of)
    batches = (
        [ids]
        if connection.vendor == "postgresql"
        else [ids[i : i + _SQLITE_IN_CHUNK] for i in range(0, len(ids), _SQLITE_IN_CHUNK)]
    )
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        for batch in batches:
            contiguous = batch[-1] - batch[0] + 1 == len(batch)
            if contiguous:
                id_params = [batch[0], batch[-1]]
            else:
                id_params = [batch] if connection.vendor == "postgresql" else list(batch)
            params = [
                *CLOSED,
                STATUS_CHANGE,
                *CLOSED,
                as_of_param,
                as_of_param,
                *id_params,
                *CONTACT_KINDS,
                STATUS_CHANGE,
                min(batch),
                max(batch),
            ]
            cursor.execute(_activity_sql(len(batch), contiguous), params)
            rows.extend(cursor.fetchall())
    if not rows:
        return frame
    # Spread the (lead, kind) rows into the frame with numpy: pandas pivots cost more than the SQL.
    lead_pos = frame.index.get_indexer([r[0] for r in rows])
    kinds = [r[1] for r in rows]
    as_float = np.array([r[2:] for r in rows], dtype="float64")  # None (no contact) becomes NaN
    values = np.zeros((len(ids), len(columns)))
    column_pos = {name: i for i, name in enumerate(columns)}
    for w, days in enumerate(WINDOWS):
        targets = np.array([column_pos.get(activity_column(k, days), -1) if k in _KIND_LABELS else -1 for k in kinds])
        keep = targets >= 0
        np.add.at(values, (lead_pos[keep], targets[keep]), as_float[keep, w])
    min_age = np.full(len(ids), np.inf)
    np.fmin.at(min_age, lead_pos, np.nan_to_num(as_float[:, len(WINDOWS)], nan=np.inf))
    first_contact = np.full(len(ids), np.inf)
    np.fmin.at(first_contact, lead_pos, np.nan_to_num(as_float[:, len(WINDOWS) + 1], nan=np.inf))
    for name in columns:
        if name not in (DAYS_SINCE_LAST, HOURS_TO_FIRST_CONTACT, CONTACTED):
            frame[name] = values[:, column_pos[name]]
    frame[DAYS_SINCE_LAST] = np.where(np.isinf(min_age), np.nan, np.round(min_age / 86400.0, 3))
    frame[HOURS_TO_FIRST_CONTACT] = np.where(
        np.isinf(first_contact), np.nan, np.round(np.clip(first_contact, 0, None) / 3600.0, 3)
    )
    frame[CONTACTED] = (~np.isinf(first_contact)).astype("float64")
    return frame


# --- frames -------------------------------------------------------------------------------


def lead_rows(lead_ids: Sequence[int]) -> list[tuple]:
    """(id, source, origin, attributes, created_at in microseconds since the epoch) for the
    given leads, in id order. The created date travels as an integer: building a datetime per
    lead cost more than reading the row."""
    rows: list[tuple] = []
    ids = sorted(int(i) for i in lead_ids)
    if not ids:
        return rows
    contiguous = ids[-1] - ids[0] + 1 == len(ids)
    if connection.vendor == "postgresql":
        # A rescore run walks the table in id order: one index range scan (ids with gaps, as
        # deleted leads leave, also name their array), decoded here without a converter call per value.
        return _lead_rows_range_postgres(ids[0], ids[-1], None if contiguous else ids)
    columns = ("pk", "source", "origin", "attributes", "created_at")
    if contiguous:
        rows = list(Lead.objects.filter(pk__gte=ids[0], pk__lte=ids[-1]).order_by("pk").values_list(*columns))
    else:
        for i in range(0, len(ids), _SQLITE_IN_CHUNK):
            rows.extend(Lead.objects.filter(pk__in=ids[i : i + _SQLITE_IN_CHUNK]).order_by("pk").values_list(*columns))
    return [(pk, source, origin, attributes, _epoch_us(created)) for pk, source, origin, attributes, created in rows]


def _epoch_us(when: datetime | None) -> int | None:
    return None if when is None else (when - _EPOCH) // timedelta(microseconds=1)


def _lead_rows_range_postgres(first: int, last: int, only: list[int] | None = None) -> list[tuple]:
    """The leads with ids from `first` to `last` (only those in `only`, when given)."""
    table = connection.ops.quote_name(Lead._meta.db_table)
    among = "" if only is None else " AND id = ANY(%s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, source, origin, attributes::text, (EXTRACT(EPOCH FROM created_at) * 1000000)::int8 "  # noqa: S608
            f"FROM {table} WHERE id BETWEEN %s AND %s{among} ORDER BY id",
            [first, last] if only is None else [first, last, only],
        )
        rows = cursor.fetchall()
    # Every lead's attributes decoded by one json.loads of one array: a call per lead cost more
    # than the decoding itself.
    attributes = json.loads("[" + ",".join("null" if r[3] is None else r[3] for r in rows) + "]")
    return [
        (pk, source, origin, attrs, created)
        for (pk, source, origin, _, created), attrs in zip(rows, attributes, strict=True)
    ]


def frame_from_rows(
    rows: list[tuple],
    types: dict[str, str],
    activity: pd.DataFrame | None,
    fields: dict[str, str],
    dates: dict[str, list] | None = None,
) -> pd.DataFrame:
    """The feature frame for lead rows, with exactly the columns of `types` coerced to them.
    `fields` maps a column label to the lead field it comes from ({"Lead Source": "source"});
    `dates` maps a gap feature to its date column (date_features)."""
    index = pd.Index([r[0] for r in rows], name="lead_id")
    dicts = [r[3] if isinstance(r[3], dict) else {} for r in rows]

    def attribute(key: str) -> pd.Series:
        """One attribute of every lead (None where a lead lacks it), as Python values: a list per
        column the model reads instead of a frame of every key the leads carry."""
        return pd.Series([d.get(key) for d in dicts], index=index, dtype="object")

    dates = dates or {}
    data: dict[str, pd.Series] = {}
    base = {"source": [r[1] for r in rows], "origin": [r[2] for r in rows]}
    created = None
    if any(column in CREATED_COLUMNS or column in dates for column in types):
        created = pd.Series(pd.to_datetime([r[4] for r in rows], unit="us", utc=True), index=index)
    for column, kind in types.items():
        if column in fields:
            series = pd.Series(base[fields[column]], index=index, dtype="object")
        elif activity is not None and column in ACTIVITY_COLUMNS:
            series = activity[column].reindex(index)
            data[column] = series.astype("float64")
            continue
        elif column in CREATED_COLUMNS and created is not None:
            data[column] = created_parts(created)[column]
            continue
        elif column in dates and created is not None:
            source, day_first = dates[column]
            data[column] = days_between(parse_dates(attribute(source), day_first=bool(day_first)), created)
            continue
        else:
            series = attribute(column)
        data[column] = _coerce_series(series, kind)
    return pd.DataFrame(data, index=index)


def lead_frame(
    lead_ids: Sequence[int],
    *,
    as_of: datetime,
    types: dict[str, str],
    fields: dict[str, str],
    dates: dict[str, list] | None = None,
) -> pd.DataFrame:
    """Features for stored leads: exactly the columns of `types` (see frame_types), in id order.
    Built FRAME_PART leads at a time: a part's rows (an attributes dict per lead, the activity
    rows) are freed before the next part is read, so a training frame of 500,000 leads never holds
    500,000 dicts at once."""
    ids = sorted(int(i) for i in lead_ids)
    if len(ids) <= FRAME_PART:
        return _lead_frame_part(ids, as_of=as_of, types=types, fields=fields, dates=dates)
    parts = [
        _lead_frame_part(ids[i : i + FRAME_PART], as_of=as_of, types=types, fields=fields, dates=dates)
        for i in range(0, len(ids), FRAME_PART)
    ]
    return pd.concat(parts)


def _lead_frame_part(
    lead_ids: list[int],
    *,
    as_of: datetime,
    types: dict[str, str],
    fields: dict[str, str],
    dates: dict[str, list] | None,
) -> pd.DataFrame:
    rows = lead_rows(lead_ids)
    needs_activity = any(column in ACTIVITY_COLUMNS for column in types)
    activity = activity_aggregates([r[0] for r in rows], as_of=as_of) if needs_activity else None
    return frame_from_rows(rows, types, activity, fields, dates)


def unsaved_lead_values(
    *,
    fields: dict[str, str],
    source: str = "",
    origin: str = "",
    attributes: dict | None = None,
    dates: dict[str, list] | None = None,
    created: datetime | None = None,
) -> dict:
    """Raw feature values for a lead that is not saved: it has no activity yet, and it is created now."""
    given = {"source": source, "origin": origin}
    values = {label: given[name] for label, name in fields.items()}
    for key, value in (attributes or {}).items():
        values.setdefault(key, value)
    stamp = pd.Series(pd.to_datetime([created or timezone.now()], utc=True))
    for column, series in created_parts(stamp).items():
        values[column] = series.iloc[0]
    for column, (source_column, day_first) in (dates or {}).items():
        parsed = parse_dates(pd.Series([(attributes or {}).get(source_column)], dtype="object"), day_first=day_first)
        gap = days_between(parsed, stamp).iloc[0]
        values[column] = None if math.isnan(gap) else float(gap)
    for column in ACTIVITY_COLUMNS:
        values[column] = 0.0
    values[DAYS_SINCE_LAST] = None
    values[HOURS_TO_FIRST_CONTACT] = None
    return values


# --- dates --------------------------------------------------------------------------------

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # fmt: skip


def created_parts(created: pd.Series) -> dict[str, pd.Series]:
    """The created date's weekday and month (in the site's time zone), as categories."""
    local = created.dt.tz_convert(settings.TIME_ZONE)
    return {
        CREATED_WEEKDAY: _names_of(local.dt.day_of_week, WEEKDAYS, first=0),
        CREATED_MONTH: _names_of(local.dt.month, MONTHS, first=1),
    }


def _names_of(numbers: pd.Series, names: tuple[str, ...], *, first: int) -> pd.Series:
    """names[n - first] for each number, None where it is missing (an array lookup, not a call per lead)."""
    table = np.array([*names, None], dtype=object)
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    positions = np.where(np.isnan(values), len(names), np.nan_to_num(values) - first).astype(np.intp)
    return pd.Series(table[positions], index=numbers.index, dtype="object")


def parse_dates(series: pd.Series, *, day_first: bool) -> pd.Series:
    """UTC timestamps from ISO strings (as the importer stores dates) or US/European text dates
    with or without a time; anything else is NaT. Each distinct value is parsed once, the ISO
    ones in one vectorised call."""
    values = series.to_numpy(dtype=object)
    texts = {v: v.strip() for v in pd.unique(values) if isinstance(v, str) and v.strip()}
    iso = [raw for raw, text in texts.items() if _ISO_DATE.match(text)]
    by_value: dict[str, object] = {}
    if iso:
        stamps = pd.to_datetime([texts[raw] for raw in iso], format="ISO8601", utc=True, errors="coerce")
        by_value.update(zip(iso, stamps, strict=True))
    for raw, text in texts.items():
        if raw not in by_value:
            parsed = _text_date(text, day_first)
            by_value[raw] = None if parsed is None else pd.Timestamp(parsed, tz="UTC")
    stamps = [by_value.get(v) if isinstance(v, str) else None for v in values]
    return pd.Series(pd.to_datetime(stamps, utc=True), index=series.index)


def _text_date(value: str, day_first: bool) -> datetime | None:
    match = _TEXT_DATE.match(value)
    if not match:
        return None
    first, second, year, hour, minute, sec = (int(g) if g else 0 for g in match.groups())
    day, month = (first, second) if day_first else (second, first)
    try:
        return datetime(year, month, day, hour, minute, sec)
    except ValueError:
        return None


def days_between(earlier: pd.Series, created: pd.Series) -> pd.Series:
    """Days from each date to the lead's created date (negative: the date came after)."""
    gap = (created - earlier).dt.total_seconds() / 86400.0
    return gap.round(3).astype("float64")


# --- reasons in words ---------------------------------------------------------------------

# Header words that name a unit (the unit leaves the label: "time_on_site_seconds" -> "Time on site").
_UNIT_WORDS = {
    "seconds": "seconds", "secs": "seconds", "sec": "seconds",
    "minutes": "minutes", "mins": "minutes", "min": "minutes",
    "hours": "hours", "hrs": "hours", "hr": "hours",
    "days": "days",
    "percent": "percent", "pct": "percent",
}  # fmt: skip
_ACTIVITY_NOUNS = {"sms": ("SMS", "SMS"), "form": ("form submission", "form submissions")}


def _header_words(column: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", column)  # camelCase -> camel Case
    return [w for w in re.split(r"[\s_.\-()\[\]]+", spaced) if w]


def unit_from_header(column: str) -> str | None:
    words = _header_words(column)
    return _UNIT_WORDS.get(words[-1].lower()) if len(words) > 1 else None


def label_from_header(column: str) -> str:
    """A column header as words: "time_on_site_seconds" -> "Time on site", "car.loan" -> "Car loan",
    "TotalVisits" -> "Total visits". A header already written in words ("Lead Source") stays."""
    if " " in column.strip() and not re.search(r"[_.]", column):
        return column.strip()
    words = _header_words(column)
    if unit_from_header(column):
        words = words[:-1]
    if not words:
        return column
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[0].upper() + text[1:]


@dataclass
class ReasonWords:
    """How score reasons name columns and values: the data set's labels and units (see
    DataSetSettings), else the header prettified and the unit its last word names."""

    labels: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    dates: dict[str, list] = field(default_factory=dict)  # gap feature -> [date column, day first]
    # label() and unit() of each column, worked out once: describe() runs for every distinct value
    # of a chunk, and reading a header into words takes regular expressions.
    _labels: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _units: dict[str, str | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    def label(self, column: str) -> str:
        if column not in self._labels:
            if column in self.dates:
                self._labels[column] = self.label(self.dates[column][0])
            else:
                self._labels[column] = self.labels.get(column) or label_from_header(column)
        return self._labels[column]

    def unit(self, column: str) -> str | None:
        if column not in self._units:
            self._units[column] = self.units.get(column) or unit_from_header(column)
        return self._units[column]

    def describe(self, column: str, value, kind: str) -> str | None:
        """A feature's value in words a rep understands; None when it says nothing (no activity
        in a window, "no activity for 0 days"): such a reason is not shown."""
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if column in ACTIVITY_COLUMNS:
            return _describe_activity(column, value, missing)
        if column == CREATED_WEEKDAY:
            return None if missing else f"came in on a {value}"
        if column == CREATED_MONTH:
            return None if missing else f"came in in {value}"
        label = self.label(column)
        if missing:
            return f"{label}: not given"
        if column in self.dates:
            days = round(float(value))
            if days == 0:
                return f"{label}: the day the lead came in"
            when = "before" if days > 0 else "after"
            return f"{label}: {_plural(abs(days), 'day')} {when} the lead came in"
        if kind == BOOLEAN:
            return f"{label}: {'yes' if value else 'no'}"
        if isinstance(value, int | float):
            return f"{label}: {_with_unit(float(value), self.unit(column))}"
        return f"{label}: {value}"


def _describe_activity(column: str, value, missing: bool) -> str | None:
    if column == DAYS_SINCE_LAST:
        if missing:
            return "no activity yet"
        return None if round(value) < 1 else f"no activity for {_plural(round(value), 'day')}"
    if column == CONTACTED:
        return "contacted" if value == 1 else "not contacted yet"
    if column == HOURS_TO_FIRST_CONTACT:
        if missing:
            return "not contacted yet"
        return "first contact within the hour" if value < 1 else f"first contact after {_duration(value * 3600)}"
    if missing or round(value) == 0:
        return None
    kind, days = ACTIVITY_COUNT_COLUMNS[column]
    one, many = _ACTIVITY_NOUNS.get(kind, (_KIND_LABELS[kind].lower(), _KIND_LABELS[kind].lower() + "s"))
    count = round(value)
    return f"{count} {one if count == 1 else many} in the last {days} days"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{_format_number(round(seconds / 3600, 1))} h"
    return _plural(round(seconds / 86400), "day")


_SECONDS_PER = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _with_unit(value: float, unit: str | None) -> str:
    if unit in _SECONDS_PER and value >= 0:
        return _duration(value * _SECONDS_PER[unit])
    if unit == "percent":
        return f"{_format_number(value)} %"
    return _format_number(value)


def describe_value(column: str, value, kind: str = NUMBER, words: ReasonWords | None = None) -> str | None:
    """A feature's value in words (see ReasonWords.describe)."""
    return (words or ReasonWords()).describe(column, value, kind)


def _format_number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not given"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")
