"""Import profiles: which file column fills which lead field, outcome values, placeholders, types.

`ImportSpec` is the plain, validated form the pipeline runs on. It is built from a saved
`ImportProfile` or from an inline mapping (the API), and snapshotted on each ImportJob.
"""

from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError

from leads.models import ImportProfile

COLUMN_TYPES = ("number", "boolean", "date", "text")
DEFAULT_PLACEHOLDERS = ("",)
_MAPPING_FIELDS = ImportProfile.LEAD_FIELDS


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

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def key_columns(self) -> list[str]:
        return [self.mapping[f] for f in ("external_id", "email") if self.mapping.get(f)]

    def missing_columns(self, header: list[str]) -> list[str]:
        """Mapped columns the file lacks, described for the user."""
        present = set(header)
        missing = [f"{column!r} ({name})" for name, column in self.mapping.items() if column not in present]
        if self.outcome_column and self.outcome_column not in present:
            missing.append(f"{self.outcome_column!r} (outcome)")
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
    if not (mapping.get("external_id") or mapping.get("email")):
        raise ValidationError("The mapping needs an external id column or an email column to match leads on.")
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
    converted, lost = str_list("converted_values"), str_list("lost_values")
    if outcome_column and not (converted or lost):
        raise ValidationError("An outcome column needs converted_values and/or lost_values.")
    if outcome_column in used:
        raise ValidationError("The outcome column cannot also be mapped to a lead field.")
    if {v.casefold() for v in converted} & {v.casefold() for v in lost}:
        raise ValidationError("A value cannot mean both converted and lost.")
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
    )
