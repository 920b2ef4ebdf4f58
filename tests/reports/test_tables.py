import csv
import io
from datetime import UTC, datetime

from leads.reports.tables import Column, Table, csv_response, format_cell


def _table():
    return Table(
        "by_source",
        "By source",
        [Column("label", "Source"), Column("leads", "Leads", "int"), Column("rate", "Rate", "pct")],
        [{"label": "=cmd|' /C calc'!A0", "leads": 1200, "rate": 0.125, "url": "/leads/1/"},
         {"label": "Google", "leads": 3, "rate": None}],
        link_key="url",
    )  # fmt: skip


def test_display_rows_format_numbers_and_keep_links():
    rows = _table().display_rows
    assert [c["text"] for c in rows[0]["cells"]] == ["=cmd|' /C calc'!A0", "1,200", "12.5%"]
    assert rows[0]["link"] == "/leads/1/" and rows[1]["cells"][2]["text"] == "-"
    assert [c["num"] for c in rows[0]["cells"]] == [False, True, True]


def test_csv_response_is_formula_safe_and_keeps_raw_numbers():
    response = csv_response(_table(), filename_prefix="conversion")
    assert response["Content-Disposition"] == 'attachment; filename="conversion-by_source.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Source", "Leads", "Rate"]
    assert rows[1] == ["'=cmd|' /C calc'!A0", "1200", "0.125"]
    assert rows[2] == ["Google", "3", ""]


def test_format_cell_kinds():
    assert format_cell(3.25, "hours") == "3.2 h"
    assert format_cell(0.8312, "float3") == "0.831"
    assert format_cell(1000.0, "auto") == "1,000" and format_cell(0.8312, "auto") == "0.831"
    assert format_cell(datetime(2026, 6, 1, 9, 30, tzinfo=UTC), "datetime") == "2026-06-01 09:30"


def test_auto_format_keeps_text_and_formats_numbers():
    assert format_cell("11.9%", "auto") == "11.9%"
    assert format_cell(42, "auto") == "42"


def test_date_cells_are_shown_whole_not_broken_at_their_hyphens():
    """On a phone a date broke at its hyphens ("2026-06-|15"): its cell does not wrap."""
    from django.template.loader import render_to_string

    table = Table(
        "by_day",
        "By day",
        [Column("day", "Day", "date"), Column("at", "Last", "datetime"), Column("label", "Source")],
        [{"day": datetime(2026, 6, 15, 12, tzinfo=UTC), "at": datetime(2026, 6, 15, 9, 30, tzinfo=UTC), "label": "x"}],
    )
    assert [c["whole"] for c in table.display_rows[0]["cells"]] == [True, True, False]
    html = render_to_string("reports/_table.html", {"table": table})
    assert html.count('<td class="nowrap">') == 2 and "<td>x</td>" in html
