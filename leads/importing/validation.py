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

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads.importing.profiles import DATE_ORDERS, FINGERPRINT_PREFIX, ImportSpec, outcome_key
from leads.importing.readers import Batch, Row
from leads.matching import email_key
from leads.models import Lead, User
from leads.money import decimal_mark, parse_amount
from leads.text import clean_text, has_unsafe_characters, text_problem

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_PLAIN_INTEGER = re.compile(r"^-?(?:0|[1-9]\d{0,15})$")  # already valid JSON as written
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
# Money and US thousands: "$1,200,000.00", "-€5", "1,200" (a comma is a thousands separator only in groups of 3).
_MONEY = re.compile(r"^([+-]?)\s*[$€£¥]?\s*([+-]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?$")
# Slash, dot or dash dates with an optional time: 01/31/2024, 31.01.2024 14:05, 2024/01/31 2:05 PM.
_LOCAL_DATE = re.compile(
    r"^(\d{1,4})([/.-])(\d{1,2})\2(\d{1,4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?)?$"
)
# A number written with a decimal comma and/or dots grouping thousands: "12,5", "1.200.000,50", "-3,75".
_COMMA_NUMBER = re.compile(r"^([+-]?)\s*[$€£¥]?\s*(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?\s*[$€£¥]?$")
# A date Excel wrote as a number: serials 20000-80000 are 1954-10-04 .. 2119-01-10 (1900 date system,
# whose day 0 is 1899-12-30 for every serial after its phantom 1900-02-29).
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
EXCEL_SERIAL_RANGE = (20000, 80000)
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER_KINDS = frozenset({"number", "point", "comma"})
TRUE_VALUES = frozenset({"yes", "y", "true", "t"})
FALSE_VALUES = frozenset({"no", "n", "false", "f"})
# Level statistics stop at this many distinct values per column: beyond it a column is free text.
LEVEL_CAP = 2000
# Converted values remembered per column (bounded memory on columns of unique values).
_CACHE_CAP = 50_000
_STRING_FIELDS = ("name", "last_name", "phone", "company", "source", "origin", "campaign")
_FIELD_MAX_LENGTH = {
    name: Lead._meta.get_field("name" if name == "last_name" else name).max_length
    for name in ("external_id", "email", *_STRING_FIELDS)
}
_TYPE_WORDS = {"number": "a number", "boolean": "Yes/No", "date": "a date (2024-01-31, 01/31/2024...)", "text": "text"}
_DATE_WORDS = {"mdy": "a date as month/day/year", "dmy": "a date as day/month/year", "ymd": "a date as year/month/day"}

# A record, in the writer's column order (writer.STAGE_COLUMNS). None means "the file does not
# say": the writer keeps what is stored. converted_value is a Decimal (a blank cell: None).
RECORD_FIELDS = (
    "row_no", "external_id", "name", "email", "phone", "company", "source", "origin", "owner_id",
    "created_at", "status", "converted_at", "lost_reason", "attributes", "campaign", "converted_value",
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
    if _is_number(value):
        return "number"
    if date_parse(value) is not None:
        return "date"
    return "text"


def _number_text(value: str) -> str | None:
    """The cell as a plain number ("$1,200.50" -> "1200.50"), None when it is not a number."""
    if _NUMBER.match(value):
        return value
    money = _MONEY.match(value)
    if money is None or (money.group(1) and money.group(2)):
        return None
    return (money.group(1) or money.group(2)) + money.group(3).replace(",", "") + (money.group(4) or "")


def _comma_number_text(value: str) -> str | None:
    """A number written with a decimal comma or dot thousands ("1.200.000,50" -> "1200000.50"),
    None when it is not written that way (or is a plain integer, which needs no reading)."""
    match = _COMMA_NUMBER.match(value)
    if match is None or (match.group(3) is None and "." not in match.group(2)):
        return None
    sign, whole, fraction = match.groups()
    return sign + whole.replace(".", "") + (f".{fraction}" if fraction else "")


def value_kind(value: str) -> str:
    """classify(), telling numbers apart by the decimal mark they show: "point" (1,200.50  2.5),
    "comma" (12,5  1.200.000,50: text to classify()), "number" (1200, 1,200: either way).
    column_kind() makes a column of them numbers when it never shows both marks."""
    kind = classify(value)
    if kind == "text":
        return "comma" if ("," in value or "." in value) and _comma_number_text(value) is not None else kind
    if kind == "number" and "." in value:
        if "," not in value:  # most numbers: a dot before other than three digits is a decimal point
            return "point" if len(value) - value.rfind(".") != 4 else kind
        return "point" if decimal_mark(value) == "." else kind
    return kind


def column_kind(kinds: set[str]) -> str:
    """The type of a column whose values are of these kinds (value_kind)."""
    if kinds and kinds <= _NUMBER_KINDS:
        return "text" if {"point", "comma"} <= kinds else "number"
    return next(iter(kinds)) if len(kinds) == 1 else "text"


def decimal_comma_column(kinds: set[str]) -> bool:
    """Whether a number column of these kinds writes its decimals after a comma: its "1.200" is 1200."""
    return "comma" in kinds and column_kind(kinds) == "number"


def _decimal_comma_point(value: str) -> str:
    """A cell of a decimal-comma column in the point form _number_text reads ("1.200,5 €" ->
    "1200.5", "1.200" -> "1200")."""
    return _comma_number_text(value) or value.replace(".", "").replace(",", ".")


def _is_number(value: str) -> bool:
    text = _number_text(value)
    return text is not None and math.isfinite(float(text))


def _fits(value: str, kind: str, order: str = "") -> bool:
    if kind == "text":
        return True
    if kind == "number":
        return _is_number(value)
    if kind == "date":
        return date_parse(value, order) is not None
    return classify(value) == kind


def _parse_datetime(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def date_parse(value: str, order: str = "") -> tuple[datetime, bool] | None:
    """(the moment, whether the cell had a time) for ISO, US, European or year-first dates.

    `order` ("mdy", "dmy", "ymd") reads slash/dot dates; without one, a date only one order can
    read is read that way and an ambiguous one (03/04/2024) month first."""
    if _DATE.match(value):
        parsed = _parse_datetime(value)
        return (parsed, len(value) > 10) if parsed is not None else None
    match = _LOCAL_DATE.match(value)
    if match is None:
        return None
    first, _, second, third, hour, minute, second_of_minute, half = match.groups()
    if len(first) == 4:
        if order not in ("", "ymd"):
            return None
        candidates = [(first, second, third)]
    elif len(third) != 4 or order == "ymd":
        return None
    elif order:
        candidates = [(third, first, second) if order == "mdy" else (third, second, first)]
    else:
        candidates = [(third, first, second), (third, second, first)]
    hours = int(hour or 0)
    if half:
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if half.casefold() == "pm" else 0)
    for year, month, day in candidates:
        try:
            moment = datetime(int(year), int(month), int(day), hours, int(minute or 0), int(second_of_minute or 0))
        except ValueError:
            continue
        return timezone.make_aware(moment), hour is not None
    return None


def date_order_signs(values) -> set[str]:
    """What a column's day/month dates (01/02/2024, 01.02.2024) say about their order: "mdy" when
    one has a second number above 12, "dmy" when one has a first number above 12, "dot" and/or
    "slash" for the separators seen, "ymd" for a year-first one (2024/03/05). ISO dates say nothing."""
    signs: set[str] = set()
    for value in values:
        match = _LOCAL_DATE.match(value.strip())
        if match is None:
            continue
        if len(match.group(1)) == 4:
            signs.add("ymd")
            continue
        if len(match.group(4)) != 4:
            continue
        first, second = int(match.group(1)), int(match.group(3))
        if second > 12 >= first:
            signs.add("mdy")
        elif first > 12 >= second:
            signs.add("dmy")
        signs.add("dot" if match.group(2) == "." else "slash")
    return signs


def date_order_from(signs: set[str]) -> str:
    """The order of a column's day/month dates: "mdy" or "dmy" when its dates show it (dates
    written with dots only are day first: no month-first convention writes 03.04.2024), "" when
    it has none, "?" when they cannot tell or contradict each other."""
    separators = signs & {"dot", "slash"}
    if not separators:
        return ""
    shown = signs & {"mdy", "dmy"}
    if "ymd" in signs or len(shown) > 1:
        return "?"
    if shown:
        return shown.pop()
    return "dmy" if separators == {"dot"} else "?"


def spec_with_date_orders(spec: ImportSpec, orders: dict[str, str]) -> ImportSpec:
    """The spec with the date orders a file showed (Analyzer.date_orders) where it declares none."""
    return replace(spec, date_orders={**orders, **spec.date_orders}) if orders else spec


def _parse_number(value: str) -> int | float:
    text = _number_text(value) or value
    return int(text) if _INTEGER.match(text) else float(text)


def number_value(value: str) -> float | None:
    """A cell as a number (money, thousands and decimal commas too), None when it is not one."""
    text = _number_text(value.strip()) or _comma_number_text(value.strip())
    return float(text) if text is not None else None


def _limit_problem(value: str, limits: dict[str, float]) -> str:
    number = float(_number_text(value) or "nan")
    if "min" in limits and number < limits["min"]:
        return f"Out of range: at least {limits['min']:g} expected."
    if "max" in limits and number > limits["max"]:
        return f"Out of range: at most {limits['max']:g} expected."
    return ""


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
        # Every outcome column: (index, converted, lost, open), values casefolded.
        self.outcome_rules: list[tuple[int, set[str], set[str], set[str]]] = [
            (index[column], _folded(rule["converted"]), _folded(rule["lost"]), _folded(rule["open"]))
            for column, rule in _outcome_rules(spec).items()
        ]
        outcome_indexes = {rule[0] for rule in self.outcome_rules}
        skip = {*self.field.values()} - {self.field.get("source"), self.field.get("origin")}
        skip |= outcome_indexes
        # Source and origin stay in the attributes too, under their own column names: scoring reads them there.
        self.attributes = [i for i in range(len(header)) if i not in skip]
        # A keyless file's rows are keyed by a fingerprint of every column but the outcomes, so a
        # re-import with outcomes filled in updates the same leads.
        self.fingerprint = [i for i in range(len(header)) if i not in outcome_indexes] if spec.keyless else []
        self.date_order = {index[c]: order for c, order in spec.date_orders.items() if c in index}
        self.limits = {index[c]: limits for c, limits in spec.column_limits.items() if c in index}


def _folded(values: list[str]) -> set[str]:
    return {outcome_key(v) for v in values}


def _outcome_rules(spec: ImportSpec) -> dict[str, dict[str, list[str]]]:
    rules = {}
    if spec.outcome_column:
        rules[spec.outcome_column] = {
            "converted": spec.converted_values, "lost": spec.lost_values, "open": spec.open_values,
        }  # fmt: skip
    rules.update(spec.extra_outcomes)
    return rules


def outcome_keys_known(spec: ImportSpec) -> dict[str, set[str]]:
    """{outcome column: the outcome_keys its cells may hold}: the values given a meaning, the
    placeholders and empty. A cell of any other value is a row error ("Unknown choice")."""
    placeholders = {outcome_key(p) for p in spec.placeholder_values} | {""}
    return {
        column: placeholders | _folded([*rule["converted"], *rule["lost"], *rule["open"]])
        for column, rule in _outcome_rules(spec).items()
    }


def fingerprint_keys(counts: dict[str, int], columns: list, indexes: list[int], count: int) -> list[str]:
    """Stable keys for rows without an id: a hash of the row's cells plus its occurrence number
    among identical rows so far (`counts`, updated), so the same file always gives the same keys."""
    keys = []
    picked = [columns[i] for i in indexes]
    for position in range(count):
        text = "\x1f".join(column[position].strip() for column in picked)
        digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
        counts[digest] = occurrence = counts.get(digest, 0) + 1
        keys.append(f"{FINGERPRINT_PREFIX}{digest}:{occurrence}")
    return keys


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
        self.owners = _owner_lookup() if "owner" in spec.mapping else {}
        self.cell_limit = settings.IMPORT_MAX_CELL_CHARS
        attributes = self.columns.attributes
        declared_types = {**dict.fromkeys(spec.date_orders, "date"), **spec.column_types}
        self.declared = {i: declared_types[header[i]] for i in attributes if header[i] in declared_types}
        self.inferred: dict[int, set[str]] = {i: set() for i in attributes if i not in self.declared}
        self.levels: dict[int, Counter | None] = {
            i: Counter() for i in attributes if self.declared.get(i, "text") == "text"
        }
        self.checked: dict[int, set[str]] = {i: set() for i in attributes}  # values already classified
        # Day/month order signs of every column whose dates have no declared order (date_orders()).
        dated = [*attributes, *([self.columns.field["created_at"]] if "created_at" in spec.mapping else [])]
        self.date_signs: dict[int, set[str]] = {
            i: set() for i in dated if i not in self.columns.date_order and self.declared.get(i, "date") == "date"
        }
        self.outcome_known = outcome_keys_known(spec)
        self.money_marks: set[str] = set()  # the decimal marks the converted-value column shows
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
        cell_limit = self.cell_limit
        measured = 0 <= batch.longest_cell <= cell_limit  # the Arrow reader measured every cell
        for index, column in enumerate(columns if not measured else ()):
            if max(map(len, column)) > cell_limit:
                for position, value in enumerate(column):
                    if len(value) > cell_limit:
                        error(position, index, f"The cell has {len(value):,} characters; the limit is "
                              f"{cell_limit:,} (IMPORT_MAX_CELL_CHARS).")  # fmt: skip
        if not self.spec.keyless:
            self._check_keys(columns, numbers, error)
        for name, index in fields.items():
            limit = _FIELD_MAX_LENGTH.get(name)
            if limit and max(map(len, columns[index])) > limit:
                for position, value in enumerate(columns[index]):
                    if len(value.strip()) > limit:
                        error(position, index, f"Too long for {name} (at most {limit} characters).")
        if "last_name" in fields:
            first, last, limit = fields["name"], fields["last_name"], _FIELD_MAX_LENGTH["name"]
            for position, (a, b) in enumerate(zip(columns[first], columns[last], strict=True)):
                if len(a.strip()) + len(b.strip()) + 1 > limit >= max(len(a.strip()), len(b.strip())):
                    error(position, last, f"First and last name together are too long (at most {limit} characters).")
        for name in ("external_id", "email"):  # keys are matched as written: never cleaned, refused
            index = fields.get(name)
            if index is not None and has_unsafe_characters("".join(columns[index])):
                problems = {v: p for v in set(columns[index]) if (p := text_problem(v))}
                for position in rows_with(index, set(problems)):
                    error(position, index, problems[columns[index][position]])
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
            order = self.columns.date_order.get(index, "")
            values = set(columns[index])
            bad = {v for v in values if v.strip() and _parse_created(v, order) is None}
            if index in self.date_signs:
                self.date_signs[index] |= date_order_signs(values - bad)
            for position in rows_with(index, bad):
                error(position, index, f"Wrong type: expected {_DATE_WORDS.get(order, _TYPE_WORDS['date'])}.")
        if "converted_value" in fields:
            index = fields["converted_value"]
            values = {v for v in set(columns[index]) if not self._missing(v)}
            problems = {v: p for v in values if (p := _money_problem(v))}
            self.money_marks.update(decimal_mark(v) for v in values - problems.keys())
            for position in rows_with(index, set(problems)):
                error(position, index, problems[columns[index][position]])
        for index, *_meanings in self.columns.outcome_rules:
            known = self.outcome_known[header[index]]
            bad = {v for v in set(columns[index]) if outcome_key(v) not in known}
            if bad:
                rule = _outcome_rules(self.spec)[header[index]]
                allowed = ", ".join([*rule["converted"], *rule["lost"], *rule["open"]])
                for position in rows_with(index, bad):
                    error(position, index, f"Unknown choice: the outcome must be one of {allowed} or empty.")

        for index, kind in self.declared.items():
            checked = self.checked[index]
            new = set(columns[index]) - checked
            order, limits = self.columns.date_order.get(index, ""), self.columns.limits.get(index)
            problems = {}
            for value in new:
                if self._missing(value):
                    continue
                if not _fits(value.strip(), kind, order):
                    words = _DATE_WORDS.get(order, _TYPE_WORDS[kind]) if kind == "date" else _TYPE_WORDS[kind]
                    problems[value] = f"Wrong type: expected {words}."
                elif limits and (problem := _limit_problem(value.strip(), limits)):
                    problems[value] = problem
            if len(checked) < _CACHE_CAP:
                checked.update(new - problems.keys())
            if index in self.date_signs:
                self.date_signs[index] |= date_order_signs(new - problems.keys())
            for position in rows_with(index, set(problems)):
                error(position, index, problems[columns[index][position]])
        for index, kinds in self.inferred.items():
            if "text" in kinds:
                continue
            checked = self.checked[index]
            new = set(columns[index]) - checked
            kinds.update(value_kind(v.strip()) for v in new if not self._missing(v))
            if kinds == {"date"}:
                self.date_signs[index] |= date_order_signs(new)
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
            types[header[index]] = column_kind(kinds)
        return {header[i]: types[header[i]] for i in self.columns.attributes}

    def decimal_commas(self) -> list[str]:
        """The number columns (converted value included) that write their decimals after a comma
        (1.200.000,50  950,00  12,5) and never after a point: every cell of such a column is read
        that way, "1.200" included (1200, not 1.20)."""
        header = self.columns.header
        columns = [header[i] for i, kinds in self.inferred.items() if decimal_comma_column(kinds)]
        if self.money_marks - {""} == {","}:
            columns.append(header[self.columns.field["converted_value"]])
        return columns

    def date_orders(self) -> dict[str, str]:
        """{column: "mdy" | "dmy"} for the date columns (created date included) whose order the
        file shows and the mapping does not declare: every cell of a column is then read in that
        order, so 05.03.2024 and 15.03.2024 are both in March. A column whose dates never show
        their order (or contradict each other) is left out: each cell is read on its own."""
        types = self.column_types()
        created = self.columns.field.get("created_at")
        orders = {}
        for index, signs in self.date_signs.items():
            order = date_order_from(signs)
            if order in DATE_ORDERS and (index == created or types.get(self.columns.header[index]) == "date"):
                orders[self.columns.header[index]] = order
        return orders

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
                if clean.casefold() in self.placeholders or "\x00" in spelling:  # a database text holds no NUL
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


def _money_problem(value: str) -> str:
    try:
        parse_amount(value)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


def excel_serial_date(value: str) -> tuple[datetime, bool] | None:
    """(the moment, whether it has a time) of a date Excel wrote as its serial number in the 1900
    date system (45356 is 2024-03-05, 45356.75 its 18:00), for serials in EXCEL_SERIAL_RANGE;
    None for any other cell. Only the created-date column is read this way: in an attribute
    column a serial cannot be told from a number."""
    if not _EXCEL_SERIAL.match(value):
        return None
    days = float(value)
    low, high = EXCEL_SERIAL_RANGE
    if not low <= days <= high:
        return None
    moment = _EXCEL_EPOCH + timedelta(seconds=round(days * 86400))
    return timezone.make_aware(moment), not days.is_integer()


def _parse_created(value: str, order: str = "") -> datetime | None:
    """The created date of a cell: a written date, else an Excel serial (excel_serial_date)."""
    value = value.strip()
    parsed = date_parse(value, order) or excel_serial_date(value)
    return parsed[0] if parsed else None


class Converter:
    """Pass 2: valid rows -> records. Needs the column types and folds from pass 1."""

    def __init__(
        self,
        spec: ImportSpec,
        header: list[str],
        column_types: dict[str, str],
        level_folds: dict,
        now: datetime,
        *,
        decimal_commas: Collection[str] = (),
    ):
        self.spec = spec
        self.columns = _Columns(spec, header)
        # Columns read with a decimal comma (Analyzer.decimal_commas), by index.
        self.decimal_commas = {i for i, name in enumerate(header) if name in decimal_commas}
        self.now = now
        self.placeholders = {p.casefold() for p in spec.placeholder_values} | {""}
        self.owners = _owner_lookup() if "owner" in spec.mapping else {}
        self.fingerprints: dict[str, int] = {}  # keyless files: occurrences of each row fingerprint
        self.cleaned: Counter = Counter()  # {column: distinct values cleaned of control characters}
        self.folds = {header.index(c): f for c, f in level_folds.items() if c in header}
        # Per attribute column: its index, type, and a cache raw cell -> '"Column":<json>'.
        self.attribute_plan = [
            (index, json.dumps(header[index]) + ":", column_types.get(header[index], "text"), {})
            for index in self.columns.attributes
        ]
        self.field_caches: dict[str, dict] = {name: {} for name in self.columns.field}
        self.outcome_caches: list[dict[str, int]] = [{} for _ in self.columns.outcome_rules]
        # Status, converted_at and lost reason, each a tuple indexed by the outcome rank (outcome_ranks).
        self.outcome_fields = (
            (None, Lead.Status.LOST.value, Lead.Status.CONVERTED.value),
            (None, None, now),
            (None, spec.lost_reason, ""),
        )

    def _fragment(self, index: int, kind: str, raw: str) -> str:
        value = raw.strip()
        if value.casefold() in self.placeholders:
            return "null"
        if kind == "number":
            if index in self.decimal_commas:
                value = _decimal_comma_point(value)
            return value if _PLAIN_INTEGER.match(value) else json.dumps(_parse_number(value))
        if kind == "boolean":
            return "true" if value.casefold() in TRUE_VALUES else "false"
        if kind == "date":
            parsed = date_parse(value, self.columns.date_order.get(index, ""))
            if parsed is None:  # pass 1 rejected the row; a preview of a sample may still meet it
                return json.dumps(value, ensure_ascii=False)
            moment, has_time = parsed
            return json.dumps(moment.isoformat() if has_time else moment.date().isoformat())
        folds = self.folds.get(index)
        if folds:
            value = folds.get(raw, folds.get(value, value))
        return json.dumps(self._clean(index, value), ensure_ascii=False)

    def _clean(self, index: int, value: str) -> str:
        if has_unsafe_characters(value):
            self.cleaned[self.columns.header[index]] += 1
            return clean_text(value)
        return value

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
            index = self.columns.field[name]
            return (_parse_created(value, self.columns.date_order.get(index, "")) or 0) if value else 0
        if name == "converted_value":  # a blank cell keeps the stored value
            if value.casefold() in self.placeholders:
                return None
            try:
                decimal_comma = self.columns.field[name] in self.decimal_commas
                return parse_amount(value, decimal_comma=decimal_comma)
            except ValidationError:  # pass 1 rejected the row; a preview of a sample may still meet it
                return None
        if value.casefold() in self.placeholders:
            return ""
        index = self.columns.field[name]
        folds = self.folds.get(index)
        return self._clean(index, folds.get(raw, folds.get(value, value)) if folds else value)

    def outcome_ranks(self, rule: int, column: list) -> list[int]:
        """0 open / unknown, 1 lost, 2 converted, for each cell of an outcome column."""
        cache = self.outcome_caches[rule]
        _, converted, lost, _ = self.columns.outcome_rules[rule]
        ranks = []
        for raw in column:
            rank = cache.get(raw)
            if rank is None:
                folded = outcome_key(raw)
                rank = cache[raw] = 2 if folded in converted else 1 if folded in lost else 0
            ranks.append(rank)
        return ranks

    def keys_observe(self, batch: Batch) -> None:
        """Count a batch's fingerprints without converting it (a resumed job's committed chunks)."""
        if self.columns.fingerprint:
            fingerprint_keys(self.fingerprints, batch.columns, self.columns.fingerprint, len(batch.numbers))

    def convert(self, row: Row) -> tuple:
        return self.convert_batch(_single_batch(row), set())[0]

    def convert_batch(self, batch: Batch, bad_rows: set[int]) -> list[tuple]:
        """Records (RECORD_FIELDS order) for the batch's rows that are not in `bad_rows`."""
        fingerprints = None
        if self.columns.fingerprint:
            fingerprints = fingerprint_keys(
                self.fingerprints, batch.columns, self.columns.fingerprint, len(batch.numbers)
            )
        if bad_rows and not bad_rows.isdisjoint(batch.numbers):
            kept = [p for p, n in enumerate(batch.numbers) if n not in bad_rows]
            batch = batch.take(kept)
            if fingerprints is not None:
                fingerprints = [fingerprints[p] for p in kept]
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
        if fingerprints is not None:
            external_ids = fingerprints
        names = field("name")
        if "last_name" in self.columns.field:
            names = [f"{first} {last}".strip() for first, last in zip(names, field("last_name"), strict=True)]
        owners = [v if v != 0 else None for v in field("owner")]
        created = [v if v != 0 else None for v in field("created_at")]
        rules = self.columns.outcome_rules
        if rules:
            ranks = self.outcome_ranks(0, columns[rules[0][0]])
            for rule in range(1, len(rules)):
                ranks = list(map(max, ranks, self.outcome_ranks(rule, columns[rules[rule][0]])))
            # A list per field: zip(*) of one tuple per row passed the chunk's rows as arguments.
            statuses, converted_at, lost_reasons = ([by_rank[r] for r in ranks] for by_rank in self.outcome_fields)
        else:
            statuses = converted_at = lost_reasons = [None] * count
        return list(
            zip(
                numbers,
                external_ids or [None] * count,
                names,
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
                field("campaign"),
                field("converted_value"),
                strict=True,
            )
        )
