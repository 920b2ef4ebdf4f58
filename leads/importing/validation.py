"""Validating and converting rows: the same rules for every door (admin, API, command).

Pass 1 (`Analyzer`) reads every row once: it checks each row, finds duplicate ids inside the
file, infers each attribute column's type and the case-only spelling variants of its levels.
Pass 2 (`Converter`) turns valid rows into records for the writer, with attributes as
ready-made JSON text.

Both work a batch at a time and column by column: a column of a batch is one tuple, counted
with Counter and checked once per distinct value, so the per-cell work is C-speed dictionary
lookups. Lead files are mostly repeated levels (sources, Yes/No flags, cities), which is what
makes this fast; a column of unique values costs one check per value.
"""

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.utils import timezone

from leads.importing.profiles import ImportSpec
from leads.importing.readers import Batch, Row
from leads.matching import email_key
from leads.models import Lead, User

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_PLAIN_INTEGER = re.compile(r"^-?(?:0|[1-9]\d{0,15})$")  # already valid JSON as written
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRUE_VALUES = frozenset({"yes", "y", "true", "t"})
FALSE_VALUES = frozenset({"no", "n", "false", "f"})
# Level statistics stop at this many distinct values per column: beyond it a column is free text.
LEVEL_CAP = 2000
# Converted values remembered per column (bounded memory on columns of unique values).
_CACHE_CAP = 50_000
_STRING_FIELDS = ("name", "phone", "company", "source", "origin")
_FIELD_MAX_LENGTH = {name: Lead._meta.get_field(name).max_length for name in ("external_id", "email", *_STRING_FIELDS)}
_TYPE_WORDS = {"number": "a number", "boolean": "Yes/No", "date": "an ISO date (2024-01-31)", "text": "text"}

# A record, in the writer's column order (writer.STAGE_COLUMNS). None means "the file does not
# say": the writer keeps what is stored.
RECORD_FIELDS = (
    "row_no", "external_id", "name", "email", "phone", "company", "source", "origin", "owner_id",
    "created_at", "status", "converted_at", "lost_reason", "attributes",
)  # fmt: skip


@dataclass
class RowError:
    row: int
    column: str
    value: str
    message: str
    raw: list[str]


def record_as_dict(record: tuple) -> dict:
    return dict(zip(RECORD_FIELDS, record, strict=True))


def classify(value: str) -> str:
    """The narrowest type a (stripped, non-missing) cell fits."""
    folded = value.casefold()
    if folded in TRUE_VALUES or folded in FALSE_VALUES:
        return "boolean"
    if _NUMBER.match(value) and math.isfinite(float(value)):
        return "number"
    if _DATE.match(value) and _parse_datetime(value) is not None:
        return "date"
    return "text"


def _is_number(value: str) -> bool:
    return bool(_NUMBER.match(value)) and math.isfinite(float(value))


def _fits(value: str, kind: str) -> bool:
    if kind == "text":
        return True
    if kind == "number":
        return _is_number(value)
    return classify(value) == kind


def _parse_datetime(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _parse_number(value: str) -> int | float:
    return int(value) if _INTEGER.match(value) else float(value)


def _owner_lookup() -> dict[str, int]:
    owners: dict[str, int] = {}
    for pk, username, email in User.objects.filter(is_active=True).values_list("pk", "username", "email"):
        if email:
            owners.setdefault(email_key(email), pk)
        owners[username.casefold()] = pk
    return owners


class _Columns:
    """Positions of the mapped columns in a table's header."""

    def __init__(self, spec: ImportSpec, header: list[str]):
        index = {name: i for i, name in enumerate(header)}
        self.header = header
        self.field = {name: index[column] for name, column in spec.mapping.items()}
        self.outcome = index[spec.outcome_column] if spec.outcome_column else None
        skip = {*self.field.values()} - {self.field.get("source"), self.field.get("origin")}
        if self.outcome is not None:
            skip.add(self.outcome)
        # Source and origin stay in the attributes too, under their own column names: scoring reads them there.
        self.attributes = [i for i in range(len(header)) if i not in skip]


class SeenKeys:
    """The row keys (external id, else email) seen so far in a file, with the row each was first
    seen on: 64-bit hashes in a sorted numpy array, 16 bytes a row (a dict took about 100)."""

    def __init__(self):
        self.hashes = np.empty(0, dtype=np.int64)
        self.rows = np.empty(0, dtype=np.int64)

    def add(self, hashes: list[int], numbers: list[int]) -> dict[int, int]:
        """Register a batch's keys (in row order); {index in the batch: first row} for the repeats."""
        if not hashes:
            return {}
        batch = np.array(hashes, dtype=np.int64)
        rows = np.array(numbers, dtype=np.int64)
        repeats: dict[int, int] = {}
        seen_before = np.zeros(len(batch), dtype=bool)
        if self.hashes.size:
            at = np.minimum(np.searchsorted(self.hashes, batch), self.hashes.size - 1)
            seen_before = self.hashes[at] == batch
            for index in np.flatnonzero(seen_before):
                repeats[int(index)] = int(self.rows[at[index]])
        order = np.argsort(batch, kind="stable")  # equal hashes keep row order: the first comes first
        ordered = batch[order]
        starts = np.ones(len(ordered), dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        run_first = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
        for position in np.flatnonzero(~starts):
            index = order[position]
            if not seen_before[index]:
                repeats[int(index)] = int(rows[run_first[position]])
        new = order[starts & ~seen_before[order]]
        if new.size:
            merged = np.concatenate([self.hashes, batch[new]])
            keep = np.argsort(merged, kind="stable")  # two sorted runs: a linear merge
            self.hashes, self.rows = merged[keep], np.concatenate([self.rows, rows[new]])[keep]
        return repeats


def _single_batch(row: Row) -> Batch:
    problems = {row.number: row.problem} if row.problem else {}
    return Batch.from_rows([row.number], [tuple(row.values)], [row.raw], problems)


class Analyzer:
    """Pass 1: check every row, infer column types and case-only level variants."""

    def __init__(self, spec: ImportSpec, header: list[str]):
        self.spec = spec
        self.columns = _Columns(spec, header)
        self.placeholders = {p.casefold() for p in spec.placeholder_values} | {""}
        self.converted = {v.casefold() for v in spec.converted_values}
        self.lost = {v.casefold() for v in spec.lost_values}
        self.owners = _owner_lookup() if "owner" in spec.mapping else {}
        attributes = self.columns.attributes
        self.declared = {i: spec.column_types[header[i]] for i in attributes if header[i] in spec.column_types}
        self.inferred: dict[int, set[str]] = {i: set() for i in attributes if i not in self.declared}
        self.levels: dict[int, Counter | None] = {
            i: Counter() for i in attributes if self.declared.get(i, "text") == "text"
        }
        self.checked: dict[int, set[str]] = {i: set() for i in attributes}  # values already classified
        self.keys = SeenKeys()
        self.rows_total = 0
        self.bad_rows: set[int] = set()
        self.error_count = 0

    def _missing(self, value: str) -> bool:
        return value.strip().casefold() in self.placeholders

    def check(self, row: Row) -> list[RowError]:
        return self.check_batch(_single_batch(row))

    def check_batch(self, batch: Batch) -> list[RowError]:
        numbers = batch.numbers
        self.rows_total += len(numbers)
        columns = batch.columns
        header = self.columns.header
        errors: list[RowError] = []

        def error(position: int, index: int | None, message: str) -> None:
            column = header[index] if index is not None else ""
            value = columns[index][position] if index is not None else ""
            errors.append(RowError(numbers[position], column, value, message, batch.raw(position)))

        def rows_with(index: int, bad_values: set[str]):
            if not bad_values:
                return ()
            return (p for p, value in enumerate(columns[index]) if value in bad_values)

        if batch.problems:
            for position, number in enumerate(numbers):
                if number in batch.problems:
                    error(position, None, f"The row {batch.problems[number]}.")

        fields = self.columns.field
        self._check_keys(columns, numbers, error)
        for name, index in fields.items():
            limit = _FIELD_MAX_LENGTH.get(name)
            if limit and max(map(len, columns[index])) > limit:
                for position, value in enumerate(columns[index]):
                    if len(value.strip()) > limit:
                        error(position, index, f"Too long for {name} (at most {limit} characters).")
        if "email" in fields:
            index = fields["email"]
            bad = {v for v in set(columns[index]) if v.strip() and not _EMAIL.match(v.strip())}
            for position in rows_with(index, bad):
                error(position, index, "Malformed email address.")
        if "owner" in fields:
            index = fields["owner"]
            bad = {v for v in set(columns[index]) if v.strip() and v.strip().casefold() not in self.owners}
            for position in rows_with(index, bad):
                error(position, index, "Unknown owner: no active user has this username or email.")
        if "created_at" in fields:
            index = fields["created_at"]
            bad = {v for v in set(columns[index]) if v.strip() and _parse_created(v) is None}
            for position in rows_with(index, bad):
                error(position, index, f"Wrong type: expected {_TYPE_WORDS['date']}.")
        if self.columns.outcome is not None:
            index = self.columns.outcome
            known = self.placeholders | self.converted | self.lost
            bad = {v for v in set(columns[index]) if v.strip().casefold() not in known}
            if bad:
                allowed = ", ".join([*self.spec.converted_values, *self.spec.lost_values])
                for position in rows_with(index, bad):
                    error(position, index, f"Unknown choice: the outcome must be one of {allowed} or empty.")

        for index, kind in self.declared.items():
            checked = self.checked[index]
            new = set(columns[index]) - checked
            bad = {v for v in new if not self._missing(v) and not _fits(v.strip(), kind)}
            if len(checked) < _CACHE_CAP:
                checked.update(new - bad)
            for position in rows_with(index, bad):
                error(position, index, f"Wrong type: expected {_TYPE_WORDS[kind]}.")
        for index, kinds in self.inferred.items():
            if "text" in kinds:
                continue
            checked = self.checked[index]
            new = set(columns[index]) - checked
            kinds.update(classify(v.strip()) for v in new if not self._missing(v))
            if len(checked) < _CACHE_CAP:
                checked.update(new)
        for index, counter in self.levels.items():
            if counter is not None:
                counter.update(columns[index])
                if len(counter) > LEVEL_CAP:
                    self.levels[index] = None

        if errors:
            self.bad_rows.update(e.row for e in errors)
            self.error_count += len(errors)
        return errors

    def _check_keys(self, columns: list, numbers: list[int], error) -> None:
        fields = self.columns.field
        id_index, email_index = fields.get("external_id"), fields.get("email")
        ids = columns[id_index] if id_index is not None else None
        emails = columns[email_index] if email_index is not None else None
        hashes: list[int] = []
        positions: list[int] = []
        key_columns: list[int | None] = []
        for position in range(len(numbers)):
            external_id = ids[position].strip() if ids is not None else ""
            if external_id:
                hashes.append(hash(("id", external_id)))
                key_columns.append(id_index)
            else:
                email = email_key(emails[position]) if emails is not None else ""
                if not email:
                    error(position, id_index if id_index is not None else email_index,
                          "Missing required id (external id or email).")  # fmt: skip
                    continue
                hashes.append(hash(("email", email)))
                key_columns.append(email_index)
            positions.append(position)
        batch_numbers = [numbers[p] for p in positions]
        for at, first in self.keys.add(hashes, batch_numbers).items():
            error(positions[at], key_columns[at], f"Duplicate id within the file (first on row {first}).")

    def column_types(self) -> dict[str, str]:
        header = self.columns.header
        types = {header[i]: kind for i, kind in self.declared.items()}
        for index, kinds in self.inferred.items():
            types[header[index]] = next(iter(kinds)) if len(kinds) == 1 else "text"
        return {header[i]: types[header[i]] for i in self.columns.attributes}

    def level_folds(self) -> dict[str, dict[str, str]]:
        """{column: {spelling: canonical}} for levels that differ only in case (or surrounding space).

        The most frequent spelling wins; on a tie, a capitalised one, then the first seen."""
        types = self.column_types()
        folds: dict[str, dict[str, str]] = {}
        for index, counter in self.levels.items():
            column = self.columns.header[index]
            if not counter or types.get(column, "text") != "text":
                continue
            groups: dict[str, Counter] = {}
            for spelling, count in counter.items():
                clean = spelling.strip()
                if clean.casefold() in self.placeholders:
                    continue
                groups.setdefault(clean.casefold(), Counter())[clean] += count
            for folded, spellings in groups.items():
                variants = [s for s in counter if s.strip().casefold() == folded]
                if len(spellings) == 1 and all(v == v.strip() for v in variants):
                    continue
                ranked = sorted(spellings.items(), key=lambda item: (-item[1], item[0].islower()))
                canonical = ranked[0][0]
                for spelling in variants:
                    if spelling != canonical:
                        folds.setdefault(column, {})[spelling] = canonical
        return folds


def _parse_created(value: str) -> datetime | None:
    value = value.strip()
    if not _DATE.match(value):
        return None
    return _parse_datetime(value)


class Converter:
    """Pass 2: valid rows -> records. Needs the column types and folds from pass 1."""

    def __init__(
        self, spec: ImportSpec, header: list[str], column_types: dict[str, str], level_folds: dict, now: datetime
    ):
        self.spec = spec
        self.columns = _Columns(spec, header)
        self.now = now
        self.placeholders = {p.casefold() for p in spec.placeholder_values} | {""}
        self.converted = {v.casefold() for v in spec.converted_values}
        self.lost = {v.casefold() for v in spec.lost_values}
        self.owners = _owner_lookup() if "owner" in spec.mapping else {}
        self.folds = {header.index(c): f for c, f in level_folds.items() if c in header}
        # Per attribute column: its index, type, and a cache raw cell -> '"Column":<json>'.
        self.attribute_plan = [
            (index, json.dumps(header[index]) + ":", column_types.get(header[index], "text"), {})
            for index in self.columns.attributes
        ]
        self.field_caches: dict[str, dict] = {name: {} for name in self.columns.field}
        self.outcome_cache: dict[str, tuple] = {}

    def _fragment(self, index: int, kind: str, raw: str) -> str:
        value = raw.strip()
        if value.casefold() in self.placeholders:
            return "null"
        if kind == "number":
            return value if _PLAIN_INTEGER.match(value) else json.dumps(_parse_number(value))
        if kind == "boolean":
            return "true" if value.casefold() in TRUE_VALUES else "false"
        if kind == "date":
            parsed = _parse_datetime(value)
            return json.dumps(parsed.date().isoformat() if len(value) == 10 else parsed.isoformat())
        folds = self.folds.get(index)
        if folds:
            value = folds.get(raw, folds.get(value, value))
        return json.dumps(value, ensure_ascii=False)

    def _attribute_column(self, index: int, key: str, kind: str, cache: dict, column: tuple) -> list[str]:
        get = cache.get
        parts = list(map(get, column))
        if None in parts:
            full = len(cache) >= _CACHE_CAP
            for position, part in enumerate(parts):
                if part is None:
                    raw = column[position]
                    part = get(raw)
                    if part is None:
                        part = key + self._fragment(index, kind, raw)
                        if not full:
                            cache[raw] = part
                    parts[position] = part
        return parts

    def _field_column(self, name: str, column: tuple) -> list:
        cache = self.field_caches[name]
        out = []
        for raw in column:
            value = cache.get(raw)
            if value is None:
                value = self._field_value(name, raw)
                if len(cache) < _CACHE_CAP:
                    cache[raw] = value
            out.append(value)
        return out

    def _field_value(self, name: str, raw: str):
        value = raw.strip()
        if name == "external_id":
            return value  # "" is turned into None by the caller
        if name == "email":
            return email_key(value)
        if name == "owner":
            return self.owners.get(value.casefold()) if value else 0
        if name == "created_at":
            return _parse_created(value) if value else 0
        if value.casefold() in self.placeholders:
            return ""
        folds = self.folds.get(self.columns.field[name])
        return folds.get(raw, folds.get(value, value)) if folds else value

    def _outcome(self, raw: str) -> tuple:
        outcome = self.outcome_cache.get(raw)
        if outcome is None:
            folded = raw.strip().casefold()
            if folded in self.converted:
                outcome = (Lead.Status.CONVERTED.value, self.now, "")
            elif folded in self.lost:
                outcome = (Lead.Status.LOST.value, None, self.spec.lost_reason)
            else:
                outcome = (None, None, None)
            self.outcome_cache[raw] = outcome
        return outcome

    def convert(self, row: Row) -> tuple:
        return self.convert_batch(_single_batch(row), set())[0]

    def convert_batch(self, batch: Batch, bad_rows: set[int]) -> list[tuple]:
        """Records (RECORD_FIELDS order) for the batch's rows that are not in `bad_rows`."""
        if bad_rows and not bad_rows.isdisjoint(batch.numbers):
            batch = batch.take([p for p, n in enumerate(batch.numbers) if n not in bad_rows])
        numbers, columns = batch.numbers, batch.columns
        if not numbers:
            return []
        count = len(numbers)
        attribute_parts = [
            self._attribute_column(index, key, kind, cache, columns[index])
            for index, key, kind, cache in self.attribute_plan
        ]
        if attribute_parts:
            attributes = ["{" + ",".join(parts) + "}" for parts in zip(*attribute_parts, strict=True)]
        else:
            attributes = ["{}"] * count

        def field(name: str) -> list:
            index = self.columns.field.get(name)
            return [None] * count if index is None else self._field_column(name, columns[index])

        external_ids = [v or None for v in field("external_id")] if "external_id" in self.columns.field else None
        owners = [v if v != 0 else None for v in field("owner")]
        created = [v if v != 0 else None for v in field("created_at")]
        if self.columns.outcome is not None:
            outcomes = list(map(self._outcome, columns[self.columns.outcome]))
        else:
            outcomes = [(None, None, None)] * count
        statuses, converted_at, lost_reasons = zip(*outcomes, strict=True)
        return list(
            zip(
                numbers,
                external_ids or [None] * count,
                field("name"),
                field("email"),
                field("phone"),
                field("company"),
                field("source"),
                field("origin"),
                owners,
                created,
                statuses,
                converted_at,
                lost_reasons,
                attributes,
                strict=True,
            )
        )
