"""The one place where leads become a feature frame: training and scoring both call this module.

A frame has one row per lead (indexed by lead id) and one column per feature:
- the lead's own fields (source, origin),
- every column of Lead.attributes, typed as the importer declared (ImportProfile/ImportJob
  .column_types) or else from the JSON values,
- activity aggregates computed in SQL in bulk (counts by kind in the last 7 and 30 days, days
  since the last activity, whether contacted, hours from creation to first contact).

No leakage: a closed lead's activity aggregates are computed as of the moment it closed
(converted_at, else its first closing status change). Status changes, the status itself,
converted_at and lost_reason never become features. Nothing here knows any one company's columns.

May import leads.models only (scoring reads the CRM's leads, activities and import profiles).
"""

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection

from leads.models import Activity, ImportJob, ImportProfile, Lead

NUMBER, BOOLEAN, CATEGORY, DATE = "number", "boolean", "category", "date"
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
_SQLITE_IN_CHUNK = 10_000


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


def declared_column_types() -> dict[str, str]:
    """Column types recorded by the importer (profiles, then jobs, oldest first so newest wins)."""
    types: dict[str, str] = {}
    for model in (ImportProfile, ImportJob):
        for value in model.objects.order_by("pk").values_list("column_types", flat=True):
            if isinstance(value, dict):
                types.update({str(k): str(v) for k, v in value.items()})
    return types


def profile_excluded_columns() -> dict[str, str]:
    """Columns left out of scoring by settings or import profiles: {column: reason}."""
    excluded: dict[str, str] = {}
    for column in settings.SCORING_EXCLUDED_COLUMNS:
        excluded[str(column)] = "excluded by setting SCORING_EXCLUDED_COLUMNS"
    for profile in ImportProfile.objects.all():
        columns = profile.excluded_columns or {}
        items = columns.items() if isinstance(columns, dict) else ((c, "") for c in columns)
        for column, why in items:
            excluded.setdefault(str(column), f"excluded by import profile {profile.name}" + (f": {why}" if why else ""))
    return excluded


def model_field_columns() -> dict[str, str]:
    """{column label: lead field} for the model fields under every name a feature may carry:
    the plain one ("Source") and the label an import profile gives it (model_field_labels)."""
    columns = {field.capitalize(): field for field in MODEL_FIELDS}
    columns.update({label: field for field, label in model_field_labels().items()})
    return columns


def model_field_labels() -> dict[str, str]:
    """{"source": label, "origin": label}: the file column a profile maps them from, else a plain name."""
    labels = {field: field.capitalize() for field in MODEL_FIELDS}
    for profile in ImportProfile.objects.all():
        mapping = profile.mapping or {}
        for field in MODEL_FIELDS:
            if isinstance(mapping.get(field), str) and mapping[field].strip():
                labels[field] = mapping[field].strip()
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
        return DATE if _ISO_DATE.match(text) else CATEGORY
    return CATEGORY


def infer_column_types(attribute_dicts: Iterable[dict], declared: dict[str, str] | None = None) -> dict[str, str]:
    """Type of every attribute column: the importer's declaration, else the JSON values' majority kind."""
    declared = declared or {}
    counts: dict[str, dict[str, int]] = {}
    for attrs in attribute_dicts:
        if not isinstance(attrs, dict):
            continue
        for key, value in attrs.items():
            kind = _json_kind(value)
            bucket = counts.setdefault(key, {})
            if kind is not None:
                bucket[kind] = bucket.get(kind, 0) + 1
    types = {}
    for key, bucket in counts.items():
        declared_type = declared.get(key)
        if declared_type in (NUMBER, BOOLEAN, CATEGORY, DATE):
            types[key] = declared_type
        elif declared_type in ("text", "string", "str"):
            types[key] = CATEGORY
        elif declared_type in ("datetime",):
            types[key] = DATE
        elif not bucket:
            types[key] = CATEGORY
        else:
            total = sum(bucket.values())
            kind = max(bucket, key=bucket.get)
            # Mostly-numbers with a stray word stays a number (the word becomes missing).
            types[key] = kind if bucket[kind] / total >= 0.95 or kind == CATEGORY else CATEGORY
    return types


def frame_types(attribute_types: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, str]:
    """Every feature column with its type: model fields (under their labels), attributes,
    activity aggregates."""
    labels = labels or {field: field.capitalize() for field in MODEL_FIELDS}
    types = {labels[field]: CATEGORY for field in MODEL_FIELDS}
    for key, kind in attribute_types.items():
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
    return series.map(_to_category).astype("object")


# --- activity aggregates ------------------------------------------------------------------


def _seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _activity_sql(n_ids: int, contiguous: bool = False) -> str:
    lead_table = connection.ops.quote_name(Lead._meta.db_table)
    act_table = connection.ops.quote_name(Activity._meta.db_table)
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
    # The cut-off is the moment the outcome was known for closed leads, "as of" for open ones.
    return f"""
        WITH c AS MATERIALIZED (
            SELECT l.id AS lead_id, l.created_at AS created_at,
                   CASE WHEN l.status IN (%s, %s) THEN COALESCE(
                        l.converted_at,
                        (SELECT MIN(s.occurred_at) FROM {act_table} s
                          WHERE s.lead_id = l.id AND s.kind = %s AND s.outcome IN (%s, %s)),
                        %s)
                   ELSE %s END AS cutoff
              FROM {lead_table} l WHERE l.id {id_filter}
        )
        SELECT a.lead_id, a.kind, {windows}, MIN({age}),
               MIN(CASE WHEN a.kind IN ({contact_in}) THEN {since_created} END)
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
    as_float = np.array([[np.nan if v is None else float(v) for v in r[2:]] for r in rows], dtype="float64")
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
    """(id, source, origin, attributes, created_at) for the given leads, in id order."""
    rows: list[tuple] = []
    ids = sorted(int(i) for i in lead_ids)
    if not ids:
        return rows
    columns = ("pk", "source", "origin", "attributes", "created_at")
    if ids[-1] - ids[0] + 1 == len(ids):
        # A contiguous block (a rescore run walks the table in id order): one index range scan.
        return list(Lead.objects.filter(pk__gte=ids[0], pk__lte=ids[-1]).order_by("pk").values_list(*columns))
    step = len(ids) if connection.vendor == "postgresql" else _SQLITE_IN_CHUNK
    for i in range(0, len(ids), step):
        rows.extend(Lead.objects.filter(pk__in=ids[i : i + step]).order_by("pk").values_list(*columns))
    return rows


def frame_from_rows(
    rows: list[tuple], types: dict[str, str], activity: pd.DataFrame | None, fields: dict[str, str]
) -> pd.DataFrame:
    """The feature frame for lead rows, with exactly the columns of `types` coerced to them.
    `fields` maps a column label to the lead field it comes from ({"Lead Source": "source"})."""
    index = pd.Index([r[0] for r in rows], name="lead_id")
    attributes = pd.DataFrame.from_records(
        [r[3] if isinstance(r[3], dict) else {} for r in rows], index=index, coerce_float=False
    )
    data: dict[str, pd.Series] = {}
    base = {"source": [r[1] for r in rows], "origin": [r[2] for r in rows]}
    for column, kind in types.items():
        if column in fields:
            series = pd.Series(base[fields[column]], index=index, dtype="object")
        elif activity is not None and column in ACTIVITY_COLUMNS:
            series = activity[column].reindex(index)
            data[column] = series.astype("float64")
            continue
        elif column in attributes.columns:
            series = attributes[column]
        else:
            series = pd.Series([None] * len(index), index=index, dtype="object")
        data[column] = _coerce_series(series, kind)
    return pd.DataFrame(data, index=index)


def lead_frame(
    lead_ids: Sequence[int], *, as_of: datetime, types: dict[str, str], fields: dict[str, str]
) -> pd.DataFrame:
    """Features for stored leads: exactly the columns of `types` (see frame_types)."""
    rows = lead_rows(lead_ids)
    needs_activity = any(column in ACTIVITY_COLUMNS for column in types)
    activity = activity_aggregates([r[0] for r in rows], as_of=as_of) if needs_activity else None
    return frame_from_rows(rows, types, activity, fields)


def unsaved_lead_values(
    *, fields: dict[str, str], source: str = "", origin: str = "", attributes: dict | None = None
) -> dict:
    """Raw feature values for a lead that is not saved: it has no activity yet."""
    given = {"source": source, "origin": origin}
    values = {label: given[field] for label, field in fields.items()}
    for key, value in (attributes or {}).items():
        values.setdefault(key, value)
    for column in ACTIVITY_COLUMNS:
        values[column] = 0.0
    values[DAYS_SINCE_LAST] = None
    values[HOURS_TO_FIRST_CONTACT] = None
    return values


def describe_value(column: str, value) -> str:
    """A feature's value in words a rep understands, for score reasons."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if column == DAYS_SINCE_LAST:
        return "no activity yet" if missing else f"no activity for {value:.0f} days"
    if column == CONTACTED:
        return "contacted" if value == 1 else "not contacted yet"
    if column == HOURS_TO_FIRST_CONTACT:
        return "not contacted yet" if missing else f"first contact after {value:.0f} h"
    if column in ACTIVITY_COLUMNS:
        return f"{column}: {_format_number(value)}"
    if missing:
        return f"{column} not given"
    if isinstance(value, float):
        return f"{column} = {_format_number(value)}"
    return f"{column} = {value}"


def _format_number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not given"
    return f"{value:.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.2f}".rstrip("0").rstrip(".")
