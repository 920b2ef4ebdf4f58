import pytest

from leads.exports import csv_lines, csv_safe


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Ann", "Ann"),
        ("", ""),
        (42, 42),
        (-3.5, -3.5),
        (None, None),
    ],
)
def test_csv_safe_neutralises_formula_cells_only(value, expected):
    assert csv_safe(value) == expected


def test_csv_lines_neutralise_every_cell():
    lines = list(csv_lines([["name", "note"], ["=1+1", "ok"]]))
    assert lines == ["name,note\r\n", "'=1+1,ok\r\n"]
