"""The import wizard's reads: a sample of an uploaded file, its columns described, and a preview
of the first rows as they will be stored with the validation summary of the sample.

Everything here reads the first IMPORT_PREVIEW_ROWS rows only (the sample), never the whole
file, so a 200 MB file answers as fast as a small one; the job validates every row. The rules
are the pipeline's own (readers, Analyzer, Converter, and the chunk writer in a rolled-back
transaction for the new/updated/unchanged counts): the wizard shows what the job will do.
"""

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from leads.importing.profiles import ImportSpec, outcome_key, spec_from_dict
from leads.importing.readers import Batch, ImportFileError, Row, open_table, scan_sample
from leads.importing.retention import IMPORTS_DIR
from leads.importing.validation import (
    RECORD_FIELDS,
    Analyzer,
    Converter,
    RowError,
    column_kind,
    date_order_from,
    date_order_signs,
    date_parse,
    excel_serial_date,
    number_value,
    outcome_keys_known,
    record_as_dict,
    spec_with_date_orders,
    value_kind,
)
from leads.importing.writer import write_chunk
from leads.models import ImportJob
from leads.signals import columns_leak_check_send

WIZARD_DIR = f"{IMPORTS_DIR}/wizard"
# A column whose values alone separate converted from lost this well in the sample is flagged.
LEAK_HINT_AUC = 0.9
# Distinct values listed per column (outcome choices, placeholders); a column with more is free text.
VALUES_SHOWN = 50
# Outcome values listed from the whole file per column; a column with more is not an outcome column.
OUTCOME_VALUES_CAP = 200
KEYLESS_NOTE = "no id column: rows are matched by content; an edited row will import as a new lead"


@dataclass
class ColumnFacts:
    name: str
    kind: str  # the type the sample suggests
    distinct: int
    empty: int
    values: list[tuple[str, int]]  # the most frequent values with their counts (at most VALUES_SHOWN)
    date_order: str = ""  # "mdy"/"dmy" when the sample's slash dates say so, "?" when they cannot tell
    leak_auc: float | None = None
    excel_serials: bool = False  # numbers only, each an Excel date serial (read as dates in the created date)

    @property
    def few_values(self) -> bool:
        return self.distinct <= VALUES_SHOWN


@dataclass
class Sample:
    name: str
    kind: str
    encoding: str
    delimiter: str
    header: list[str]
    rows: list[Row]
    more: bool  # the file has rows after the sample
    columns: list[ColumnFacts] = field(default_factory=list)

    @property
    def delimiter_label(self) -> str:
        return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(self.delimiter, "")

    def column(self, name: str) -> ColumnFacts | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class Preview:
    records: list[dict]  # the first rows as they will be stored
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    keyless: bool = False
    cleaned: dict[str, int] = field(default_factory=dict)
    # The created-date column and one of its cells read as an Excel serial, with the date read.
    serial_dates: tuple[str, str, datetime] | None = None

    @property
    def writes(self) -> int:
        return self.created + self.updated


def draft_store(upload) -> str:
    """Keep an uploaded file for the wizard's steps; the storage name. Files no job takes are
    removed after a day by the import retention (they are orphans under MEDIA_ROOT/imports/)."""
    suffix = Path(upload.name or "").suffix.lower()
    suffix = suffix if suffix.isascii() and len(suffix) <= 6 else ""
    return default_storage.save(f"{WIZARD_DIR}/{uuid.uuid4().hex}{suffix}", upload)


def draft_path(storage_name: str) -> Path:
    return Path(default_storage.path(storage_name))


def draft_delete(storage_name: str) -> None:
    if storage_name and storage_name.startswith(WIZARD_DIR + "/"):
        default_storage.delete(storage_name)


def spec_carried_over(spec: dict, header: list[str]) -> dict:
    """The wizard's choices for a file (mapping, outcomes, column settings) kept for another
    upload with this header: what names a column the new file lacks is dropped. The file's own
    settings (encoding, delimiter) are the new upload's."""
    present = set(header)
    mapping = {name: column for name, column in spec.get("mapping", {}).items() if column in present}
    if "name" not in mapping:
        mapping.pop("last_name", None)
    kept: dict = {
        "mapping": mapping,
        **{key: spec[key] for key in ("placeholder_values", "lost_reason", "profile_name") if key in spec},
    }
    for key in ("column_types", "excluded_columns", "column_limits", "date_orders", "column_labels", "column_units"):
        kept[key] = {column: value for column, value in spec.get(key, {}).items() if column in present}
    if spec.get("outcome_column") in present:
        kept["outcome_column"] = spec["outcome_column"]
        for key in ("converted_values", "lost_values", "open_values"):
            kept[key] = spec.get(key, [])
        kept["extra_outcomes"] = {c: rule for c, rule in spec.get("extra_outcomes", {}).items() if c in present}
    return kept


def sample_read(path: Path, *, name: str, encoding: str = "", delimiter: str = "", placeholders=()) -> Sample:
    """The header and first rows of a file, each column described. Raises ImportFileError."""
    facts = scan_sample(path, name=name, encoding=encoding)
    table = open_table(path, facts, delimiter=delimiter)
    limit = settings.IMPORT_PREVIEW_ROWS
    rows: list[Row] = []
    more = False
    try:
        for row in table.rows():
            if len(rows) >= limit:
                more = True
                break
            rows.append(row)
    except ImportFileError:
        if not rows:
            raise
        more = True  # a problem past the sample is the job's to report, row by row
    sample = Sample(
        name=name, kind=facts.kind, encoding=facts.encoding, delimiter=table.delimiter,
        header=table.header, rows=rows, more=more,
    )  # fmt: skip
    missing = {""} | {p.casefold() for p in placeholders}
    sample.columns = [_describe(name, [r.values[i] for r in rows], missing) for i, name in enumerate(table.header)]
    return sample


def values_in_file(path: Path, sample: Sample, columns: list[str]) -> dict[str, list[tuple[str, int]] | None]:
    """{column: every distinct (stripped) value in the whole file with its count, most frequent
    first}, None for a column with more than OUTCOME_VALUES_CAP. The outcome step offers these,
    so a value first seen past the sample gets a meaning instead of failing its rows in the job.
    A file the sample holds whole is not read again; one that fails past the sample gives the
    sample's values (the job reports the file's problem)."""
    counts: dict[str, Counter | None] | None = None
    if sample.more:
        try:
            facts = scan_sample(path, name=sample.name, encoding=sample.encoding)
            counts = open_table(path, facts, delimiter=sample.delimiter).distinct_values(
                columns, cap=OUTCOME_VALUES_CAP
            )
        except ImportFileError:
            pass
    if counts is None:
        counts = {}
        for column in columns:
            index = sample.header.index(column)
            counter = Counter(r.values[index].strip() for r in sample.rows)
            counts[column] = counter if len(counter) <= OUTCOME_VALUES_CAP else None
    return {column: counter.most_common() if counter is not None else None for column, counter in counts.items()}


def outcome_values_unclassified(spec: ImportSpec, values: dict[str, list[tuple[str, int]] | None]) -> list[tuple]:
    """[(column, value, rows)] for the file's outcome values (values_in_file) the spec gives no
    meaning: the job refuses their rows ("Unknown choice")."""
    known = outcome_keys_known(spec)
    return [
        (column, value, count)
        for column, counted in values.items()
        if column in known
        for value, count in counted or ()
        if outcome_key(value) not in known[column]
    ]


def _describe(name: str, values: list[str], missing: set[str]) -> ColumnFacts:
    counts = Counter(v.strip() for v in values)
    present = [v for v in counts if v.casefold() not in missing]
    kind = column_kind({value_kind(v) for v in present})
    facts = ColumnFacts(
        name=name,
        kind=kind,
        distinct=len(counts),
        empty=sum(n for v, n in counts.items() if v.casefold() in missing),
        values=counts.most_common(VALUES_SHOWN),
    )
    if kind == "date":
        facts.date_order = _date_order_suggested(present)
    elif kind == "number":
        facts.excel_serials = all(excel_serial_date(v) for v in present)
    return facts


def _date_order_suggested(values: list[str]) -> str:
    """'' for ISO / year-first dates, 'mdy' or 'dmy' when the dates show their order (a day above
    12, or dots), '?' when every date could be read both ways (the wizard then asks)."""
    return date_order_from(date_order_signs(values))


def leak_hints(sample: Sample, spec: ImportSpec) -> dict[str, float]:
    """{column: single-column ROC AUC} on the sample's closed rows, from whoever answers the
    leads.signals.columns_leak_check signal (scoring, when installed); {} without outcomes."""
    if not spec.outcome_column:
        return {}
    converter = Converter(spec, sample.header, {}, {}, now=timezone.now())
    rules = converter.columns.outcome_rules
    ranks = [0] * len(sample.rows)
    for rule, (index, *_sets) in enumerate(rules):
        ranks = list(map(max, ranks, converter.outcome_ranks(rule, [r.values[index] for r in sample.rows])))
    closed = [p for p, rank in enumerate(ranks) if rank]
    outcomes = [1 if ranks[p] == 2 else 0 for p in closed]
    columns: dict[str, tuple[str, list]] = {}
    placeholders = {p.casefold() for p in spec.placeholder_values} | {""}
    for index in converter.columns.attributes:
        facts = sample.columns[index]
        columns[facts.name] = (
            facts.kind,
            [_value(sample.rows[p].values[index], facts.kind, placeholders) for p in closed],
        )
    return columns_leak_check_send(columns=columns, outcomes=outcomes)


def _value(raw: str, kind: str, placeholders: set[str]):
    value = raw.strip()
    if value.casefold() in placeholders:
        return None
    if kind == "number":
        return number_value(value)
    if kind == "boolean":
        return 1.0 if value.casefold() in ("yes", "y", "true", "t") else 0.0
    if kind == "date":
        parsed = date_parse(value)
        return parsed[0].isoformat() if parsed else None
    return value


def preview_build(sample: Sample, spec: ImportSpec, *, shown: int = 10, count: bool = True) -> Preview:
    """The sample through the pipeline: errors, the first records as stored, and what the job
    would do to the database with the sample (written in a transaction that is rolled back)."""
    analyzer = Analyzer(spec, sample.header)
    numbers = [r.number for r in sample.rows]
    problems = {r.number: r.problem for r in sample.rows if r.problem}
    batch = Batch.from_rows(numbers, [tuple(r.values) for r in sample.rows], [r.raw for r in sample.rows], problems)
    errors = analyzer.check_batch(batch) if sample.rows else []
    spec = spec_with_date_orders(spec, analyzer.date_orders())
    converter = Converter(
        spec, sample.header, analyzer.column_types(), analyzer.level_folds(), now=timezone.now(),
        decimal_commas=analyzer.decimal_commas(),
    )  # fmt: skip
    records = converter.convert_batch(batch, analyzer.bad_rows) if sample.rows else []
    preview = Preview(
        records=[_shown(record) for record in records[:shown]],
        rows=len(sample.rows),
        failed=len(analyzer.bad_rows),
        errors=errors[:20],
        error_count=len(errors),
        keyless=spec.keyless,
        cleaned=dict(converter.cleaned),
        serial_dates=_serial_date_example(sample, spec.mapping.get("created_at")),
    )
    if records and count:
        with transaction.atomic():
            result = write_chunk(records)
            transaction.set_rollback(True)
        preview.created, preview.updated, preview.unchanged = result.created, result.updated, result.unchanged
    return preview


def _serial_date_example(sample: Sample, column: str | None) -> tuple[str, str, datetime] | None:
    """(column, cell, date) for the first created date of the sample written as an Excel serial."""
    if column is None or column not in sample.header:
        return None
    index = sample.header.index(column)
    for row in sample.rows:
        value = row.values[index].strip()
        if date_parse(value) is None and (parsed := excel_serial_date(value)):
            return column, value, parsed[0]
    return None


def _shown(record: tuple) -> dict:
    values = record_as_dict(record)
    attributes = json.loads(values.pop("attributes"))
    shown = {name: values[name] for name in RECORD_FIELDS if name not in ("attributes", "row_no")}
    shown = {k: v for k, v in shown.items() if v not in (None, "")}
    return {"row": values["row_no"], "fields": shown, "attributes": attributes}


def admin_import_preview(job: ImportJob, *, shown: int = 10) -> dict:
    """What the admin's import page shows after its dry run: the job's counts and first errors,
    the first rows as they will be stored (mapped fields and a count of attributes), and whether
    there is anything to confirm."""
    context: dict = {"job": job, "errors": list(job.row_errors.order_by("row_number", "id")[:50]), "records": []}
    if job.status == ImportJob.Status.SUCCEEDED and job.file:
        spec = spec_from_dict(job.spec)
        try:
            sample = sample_read(
                Path(job.file.path), name=job.original_name, encoding=spec.encoding or job.encoding,
                delimiter=job.delimiter,
            )  # fmt: skip
            context["records"] = preview_build(sample, spec, shown=shown, count=False).records
        except ImportFileError:
            pass  # the job read it a moment ago; the counts above still stand
        context["keyless_note"] = KEYLESS_NOTE if spec.keyless else ""
    context["confirmable"] = job.status == ImportJob.Status.SUCCEEDED and job.created_count + job.updated_count > 0
    return context
