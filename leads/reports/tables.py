"""Report tables: one structure both the HTML page and the CSV download read.

A view builds `Table`s from selector rows; the template shows `display_rows` and the same
table is served as CSV with `?format=csv&table=<name>`.
"""

import csv
from dataclasses import dataclass, field
from datetime import date, datetime

from django.http import HttpResponse
from django.utils import timezone

from leads.exports import csv_safe

TEXT_FORMATS = ("text", "date", "datetime")
# Cells that must not wrap: a date breaks at its hyphens on a phone ("2026-06-|15").
WHOLE_FORMATS = ("date", "datetime")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    fmt: str = "text"  # text, int, pct, float, float3, money, auto, hours, date, datetime


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict]
    link_key: str = ""  # a row key holding a URL for the first cell
    note: str = ""
    flag_key: str = ""  # a row key that, when true, highlights the row
    extra: dict = field(default_factory=dict)

    @property
    def header(self) -> list[dict]:
        return [{"label": c.label, "num": c.fmt not in TEXT_FORMATS} for c in self.columns]

    @property
    def display_rows(self) -> list[dict]:
        out = []
        for row in self.rows:
            cells = [
                {
                    "text": format_cell(row.get(c.key), c.fmt),
                    "num": c.fmt not in TEXT_FORMATS,
                    "whole": c.fmt in WHOLE_FORMATS,
                }
                for c in self.columns
            ]
            out.append(
                {
                    "cells": cells,
                    "link": row.get(self.link_key) if self.link_key else "",
                    "flag": bool(row.get(self.flag_key)) if self.flag_key else False,
                }
            )
        return out


def tables_by_name(*tables: Table) -> dict[str, Table]:
    """A page's downloadable tables, keyed as `?format=csv&table=<name>` asks for them."""
    return {t.name: t for t in tables}


def format_cell(value, fmt: str) -> str:
    if value is None or value == "":
        return "-"
    if fmt == "auto":  # a whole number as an integer, a fraction to three places, text as it is
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        fmt = "int" if isinstance(value, int) or (value.is_integer() and value > 1) else "float3"
    if fmt == "int":
        return f"{int(value):,}"
    if fmt == "pct":
        return f"{value * 100:.1f}%"
    if fmt == "float":
        return f"{value:.2f}"
    if fmt == "float3":
        return f"{value:.3f}"
    if fmt == "money":
        return f"{value:,.2f}"
    if fmt == "hours":
        return f"{value:.1f} h"
    if fmt == "date" and isinstance(value, date | datetime):
        return (timezone.localtime(value) if isinstance(value, datetime) else value).strftime("%Y-%m-%d")
    if fmt == "datetime" and isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _csv_value(value, fmt: str):
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return ""
    if fmt == "pct" and isinstance(value, float):
        return round(value, 6)
    return csv_safe(value)


def csv_response(table: Table, filename_prefix: str = "report") -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename_prefix}-{table.name}.csv"'
    writer = csv.writer(response)
    writer.writerow([csv_safe(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_value(row.get(c.key), c.fmt) for c in table.columns])
    return response
