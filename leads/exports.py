"""Safe spreadsheet exports, shared by the admin export, reports and the API.

A cell that starts with = + - @ (or a tab / carriage return) is a formula to Excel and
LibreOffice, so a lead named `=HYPERLINK(...)` could run in a manager's spreadsheet. csv_safe()
makes such text inert with a leading apostrophe; numbers and other values pass unchanged. The
importer removes that apostrophe again (leads.importing.readers), so an exported or error file
re-imports as it was. XLSX has a real text type: xlsx_bytes() writes text cells as text, so a
phone number reads `+1-555-0100`, not `'+1-555-0100`, and still never runs as a formula.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.utils import timezone

from leads.text import clean_text

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """The value with spreadsheet formula injection neutralised (text only)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe_row(values: Iterable) -> list:
    return [csv_safe(v) for v in values]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """Rows -> CSV text lines, each cell passed through csv_safe; for StreamingHttpResponse."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(csv_safe_row(row))


def xlsx_bytes(header: list[str], rows: Iterable[Iterable]) -> bytes:
    """A workbook of one sheet; every text cell typed as text (never a formula), datetimes in local time."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Leads")

    def cell(value):
        if isinstance(value, datetime) and timezone.is_aware(value):
            value = timezone.localtime(value).replace(tzinfo=None)
        if isinstance(value, str):
            written = WriteOnlyCell(sheet, value=clean_text(value))
            written.data_type = "s"  # set after the value: openpyxl types "=..." as a formula
            return written
        return WriteOnlyCell(sheet, value=value)

    sheet.append([cell(h) for h in header])
    for row in rows:
        sheet.append([cell(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
