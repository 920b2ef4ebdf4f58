"""Safe spreadsheet exports, shared by the admin export, reports and the API.

A cell that starts with = + - @ (or a tab / carriage return) is a formula to Excel and
LibreOffice, so a lead named `=HYPERLINK(...)` could run in a manager's spreadsheet. csv_safe()
makes such text inert with a leading apostrophe; numbers and other values pass unchanged.
"""

import csv
from collections.abc import Iterable, Iterator

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
