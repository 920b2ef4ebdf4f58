"""Import profiles: which file column fills which lead field, outcome values, placeholders, types.

`ImportSpec` is the plain, validated form the pipeline runs on. It is built from a saved
`ImportProfile` or from an inline mapping (the API), and snapshotted on each ImportJob.
"""

from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError

from leads.models import ImportProfile

COLUMN_TYPES = ("number", "boolean", "date", "text")
DEFAULT_PLACEHOLDERS = ("",)
# "last_name": a second name column, joined to the "name" column (the first name) with a space.
MAPPING_FIELDS = (*ImportProfile.LEAD_FIELDS, "last_name")
_MAPPING_FIELDS = MAPPING_FIELDS
# Day/month order of the slash or dot dates of a column ("03/04/2024"): US, European, or year first.
DATE_ORDERS = {"mdy": "month/day/year (US)", "dmy": "day/month/year (European)", "ymd": "year/month/day"}
# Prefix of the key given to rows of a file with no id or email column (a content fingerprint).
FINGERPRINT_PREFIX = "fp:"


@dataclass
class ImportSpec:
    mapping: dict[str, str] = field(default_factory=dict)
    outcome_column: str = ""
    converted_values: list[str] = field(default_factory=list)
    lost_values: list[str] = field(default_factory=list)
    lost_reason: str = "imported outcome"
    placeholder_values: list[str] = field(default_factory=list)
    column_types: dict[str, str] = field(default_factory=dict)
    excluded_columns: dict[str, str] = field(default_factory=dict)
    column_labels: dict[str, str] = field(default_factory=dict)
    column_units: dict[str, str] = field(default_factory=dict)
    delimiter: str = ""
    encoding: str = ""
    profile_name: str = ""
    # Values of the outcome column that mean "still open" (neither converted nor lost).
    open_values: list[str] = field(default_factory=list)
    # More outcome columns: {column: {"converted": [...], "lost": [...], "open": [...]}}. A row is
    # converted when any outcome column says so, else lost when any says so.
    extra_outcomes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # {column: {"min": number, "max": number}}: numbers outside give a per-row error.
    column_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    # {column: "mdy" | "dmy" | "ymd"} for slash/dot dates.
    date_orders: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def key_columns(self) -> list[str]:
        return [self.mapping[f] for f in ("external_id", "email") if self.mapping.get(f)]

    @property
    def keyless(self) -> bool:
        """No id or email column: rows are matched by a fingerprint of their content."""
        return not self.key_columns

    @property
    def outcome_columns(self) -> list[str]:
        return [c for c in (self.outcome_column, *self.extra_outcomes) if c]

    def missing_columns(self, header: list[str]) -> list[str]:
        """Mapped columns the file lacks, described for the user."""
        present = set(header)
        missing = [f"{column!r} ({name})" for name, column in self.mapping.items() if column not in present]
        missing.extend(f"{column!r} (outcome)" for column in self.outcome_columns if column not in present)
        return missing


def spec_from_profile(profile: ImportProfile) -> ImportSpec:
    return spec_from_dict(
        {
            "mapping": profile.mapping,
            "outcome_column": profile.outcome_column,
            "converted_values": profile.converted_values,
            "lost_values": profile.lost_values,
            "lost_reason": profile.lost_reason,
            "placeholder_values": profile.placeholder_values,
            "column_types": profile.column_types,
            "excluded_columns": profile.excluded_columns,
            "column_labels": profile.column_labels,
            "column_units": profile.column_units,
            "delimiter": profile.delimiter,
            "encoding": profile.encoding,
            "profile_name": profile.name,
            "open_values": profile.open_values,
            "extra_outcomes": profile.extra_outcomes,
            "column_limits": profile.column_limits,
            "date_orders": profile.date_orders,
        }
    )


def spec_from_dict(data: dict) -> ImportSpec:
    """Validate a mapping sent by a user (or stored on a profile); ValidationError says what is wrong."""
    if not isinstance(data, dict):
        raise ValidationError("The mapping must be a JSON object.")
    unknown = set(data) - set(ImportSpec.__dataclass_fields__)
    if unknown:
        raise ValidationError(f"Unknown mapping keys: {', '.join(sorted(unknown))}.")
    mapping = data.get("mapping") or {}
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ValidationError('"mapping" must be an object of lead field -> column name.')
    bad_fields = set(mapping) - set(_MAPPING_FIELDS)
    if bad_fields:
        raise ValidationError(
            f"Unknown lead fields in mapping: {', '.join(sorted(bad_fields))} (allowed: {', '.join(_MAPPING_FIELDS)})."
        )
    mapping = {k: v.strip() for k, v in mapping.items() if v and v.strip()}
    if mapping.get("last_name") and not mapping.get("name"):
        raise ValidationError("A last-name column needs a (first) name column too.")
    used = list(mapping.values())
    if len(used) != len(set(used)):
        raise ValidationError("One column is mapped to two lead fields.")

    def str_list(key: str) -> list[str]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            raise ValidationError(f'"{key}" must be a list of strings.')
        return [str(v).strip() for v in value]

    column_types = data.get("column_types") or {}
    if not isinstance(column_types, dict) or not set(column_types.values()) <= set(COLUMN_TYPES):
        raise ValidationError(f'"column_types" must map column names to one of {", ".join(COLUMN_TYPES)}.')
    excluded = data.get("excluded_columns") or {}
    if isinstance(excluded, list):
        excluded = dict.fromkeys(excluded, "")
    if not isinstance(excluded, dict):
        raise ValidationError('"excluded_columns" must map column names to a reason.')
    labels = data.get("column_labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) and v.strip() for v in labels.values()):
        raise ValidationError('"column_labels" must map column names to the words a rep reads (non-empty text).')
    units = data.get("column_units") or {}
    if not isinstance(units, dict) or not set(units.values()) <= set(ImportProfile.UNITS):
        raise ValidationError(f'"column_units" must map column names to one of {", ".join(ImportProfile.UNITS)}.')
    outcome_column = str(data.get("outcome_column") or "").strip()
    converted, lost, still_open = str_list("converted_values"), str_list("lost_values"), str_list("open_values")
    if outcome_column and not (converted or lost):
        raise ValidationError("An outcome column needs converted_values and/or lost_values.")
    if outcome_column in used:
        raise ValidationError("The outcome column cannot also be mapped to a lead field.")
    _outcome_values_check(converted, lost, still_open)
    extra_outcomes = _extra_outcomes_clean(data.get("extra_outcomes"), used=[*used, outcome_column])
    if extra_outcomes and not outcome_column:
        raise ValidationError("Choose the main outcome column before a second one.")
    column_limits = _column_limits_clean(data.get("column_limits"))
    for column in column_limits:
        if column_types.get(column, "number") != "number":
            raise ValidationError(f"Column {column!r} has a min/max, so it must be a number column.")
    column_types = {**column_types, **dict.fromkeys(column_limits, "number")}
    date_orders = data.get("date_orders") or {}
    if not isinstance(date_orders, dict) or not set(date_orders.values()) <= set(DATE_ORDERS):
        raise ValidationError(f'"date_orders" must map column names to one of {", ".join(DATE_ORDERS)}.')
    delimiter = str(data.get("delimiter") or "")
    if delimiter not in ("", ",", ";", "\t", "|"):
        raise ValidationError("The delimiter must be comma, semicolon, tab or pipe.")
    return ImportSpec(
        mapping=mapping,
        outcome_column=outcome_column,
        converted_values=converted,
        lost_values=lost,
        lost_reason=str(data.get("lost_reason") or "imported outcome")[:255],
        placeholder_values=str_list("placeholder_values"),
        column_types={str(k): v for k, v in column_types.items()},
        excluded_columns={str(k): str(v) for k, v in excluded.items()},
        column_labels={str(k): v.strip()[:255] for k, v in labels.items()},
        column_units={str(k): str(v) for k, v in units.items()},
        delimiter=delimiter,
        encoding=str(data.get("encoding") or ""),
        profile_name=str(data.get("profile_name") or ""),
        open_values=still_open,
        extra_outcomes=extra_outcomes,
        column_limits=column_limits,
        date_orders={str(k): v for k, v in date_orders.items()},
    )


def outcome_key(value: str) -> str:
    """What an outcome cell is compared by: " Won", "won" and "WON" are one value."""
    return value.strip().casefold()


def _outcome_values_check(converted: list[str], lost: list[str], still_open: list[str]) -> None:
    won, gone, waiting = ({outcome_key(v) for v in values} for values in (converted, lost, still_open))
    if won & gone:
        raise ValidationError("A value cannot mean both converted and lost.")
    if (won | gone) & waiting:
        raise ValidationError("A value cannot mean both closed (converted or lost) and still open.")


def _extra_outcomes_clean(value, *, used: list[str]) -> dict[str, dict[str, list[str]]]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValidationError('"extra_outcomes" must map a column to its converted/lost/open values.')
    cleaned: dict[str, dict[str, list[str]]] = {}
    for column, rule in value.items():
        column = str(column).strip()
        if not isinstance(rule, dict) or set(rule) - {"converted", "lost", "open"}:
            raise ValidationError(f"Outcome column {column!r}: give its converted, lost and open values.")
        lists = {}
        for key in ("converted", "lost", "open"):
            values = rule.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str | int | float) for v in values):
                raise ValidationError(f"Outcome column {column!r}: {key} must be a list of values.")
            lists[key] = [str(v).strip() for v in values]
        if not (lists["converted"] or lists["lost"]):
            raise ValidationError(f"Outcome column {column!r} needs values meaning converted or lost.")
        if column in used:
            raise ValidationError(f"Column {column!r} is already mapped or is the main outcome column.")
        _outcome_values_check(lists["converted"], lists["lost"], lists["open"])
        cleaned[column] = lists
    return cleaned


def _column_limits_clean(value) -> dict[str, dict[str, float]]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValidationError('"column_limits" must map a column to its {"min": n, "max": n}.')
    cleaned: dict[str, dict[str, float]] = {}
    for column, limits in value.items():
        if not isinstance(limits, dict) or not limits or set(limits) - {"min", "max"}:
            raise ValidationError(f"Column {column!r}: limits are a min and/or a max.")
        bounds = {}
        for key, bound in limits.items():
            if bound is None or bound == "":
                continue
            try:
                bounds[key] = float(bound)
            except (TypeError, ValueError):
                raise ValidationError(f"Column {column!r}: the {key} must be a number.") from None
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise ValidationError(f"Column {column!r}: the min is above the max.")
        if bounds:
            cleaned[str(column).strip()] = bounds
    return cleaned
