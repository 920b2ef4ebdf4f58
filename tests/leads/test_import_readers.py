import pytest
from openpyxl import Workbook

from leads.importing.readers import ImportFileError, open_table, scan_file
from tests.leads.import_samples import HEADER, write, xeducation_csv


def _table(path, name=None, encoding="", delimiter=""):
    facts = scan_file(path, name=name or path.name, encoding=encoding)
    return facts, open_table(path, facts, delimiter=delimiter)


def test_trailing_comma_header_drops_the_unnamed_column(tmp_path):
    facts, table = _table(write(tmp_path, xeducation_csv(3)))
    assert table.header == HEADER
    assert len(table.raw_header) == len(HEADER) + 1
    rows = list(table.rows())
    assert [r.number for r in rows] == [2, 3, 4]
    assert all(not r.problem and len(r.values) == len(HEADER) for r in rows)
    assert len(facts.sha256) == 64


def test_blank_lines_are_skipped_and_quoted_newlines_kept(tmp_path):
    text = 'id,note\n\n1,"first line\nsecond line"\n\n\n2,plain\n'
    _, table = _table(write(tmp_path, text))
    rows = list(table.rows())
    assert [r.values for r in rows] == [["1", "first line\nsecond line"], ["2", "plain"]]
    assert [r.number for r in rows] == [3, 7]


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_delimiter_is_detected(tmp_path, delimiter):
    _, table = _table(write(tmp_path, xeducation_csv(2, delimiter=delimiter)))
    assert table.delimiter == delimiter
    assert table.header[0] == "Prospect ID"


@pytest.mark.parametrize(
    ("encoding", "expected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")]
)
def test_encoding_is_detected(tmp_path, encoding, expected):
    path = write(tmp_path, "id,name\n1,Zoë Müller café €5\n", encoding=encoding)
    facts, table = _table(path)
    assert facts.encoding == expected
    assert table.header == ["id", "name"]
    assert next(table.rows()).values == ["1", "Zoë Müller café €5"]


def test_chosen_encoding_wins(tmp_path):
    path = write(tmp_path, "id,name\n1,Zoë\n", encoding="latin-1")
    facts, table = _table(path, encoding="latin-1")
    assert facts.encoding == "latin-1"
    assert next(table.rows()).values == ["1", "Zoë"]


def test_rows_of_the_wrong_width_are_flagged_not_fatal(tmp_path):
    _, table = _table(write(tmp_path, "a,b,c\n1,2\n1,2,3,4\n1,2,3,,\n"))
    problems = [r.problem for r in table.rows()]
    assert "has 2 fields" in problems[0]
    assert "has 4 fields" in problems[1]
    assert problems[2] == ""  # only empty trailing cells


def test_xlsx_is_read(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Prospect ID", "TotalVisits", "Converted"])
    sheet.append(["p-1", 3, 1])
    sheet.append([None, None, None])
    sheet.append(["p-2", 2.5, 0])
    path = tmp_path / "leads.xlsx"
    workbook.save(path)
    facts, table = _table(path)
    assert facts.kind == "xlsx"
    assert [r.values for r in table.rows()] == [["p-1", "3", "1"], ["p-2", "2.5", "0"]]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "leads.csv", "empty"),
        (b"\n\n  \n", "leads.csv", "empty"),
        (b"id,name\n", "leads.csv", "header but no data rows"),
        (b"id,name\n\n\n", "leads.csv", "header but no data rows"),
        (b"\x00\x01\x02\x03binary\x00stuff" * 50, "leads.csv", "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20, "leads.csv", "binary"),
        (b"id,name\n1,a\n", "leads.xlsx", "not an XLSX"),
        (b"PK\x03\x04garbage-zip", "leads.csv", "ZIP/XLSX"),
        (b"PK\x03\x04garbage-zip", "leads.xlsx", "not a readable XLSX"),
        (b"id,name\n1,a\n", "leads.xls", ".xls files are not supported"),
        (b"id,name\n1,a\n", "leads.pdf", "Unsupported file type"),
        (b"id,id\n1,2\n", "leads.csv", "appears twice"),
    ],
)
def test_bad_files_get_a_clear_error(tmp_path, content, name, message):
    path = write(tmp_path, content, name=name)
    with pytest.raises(ImportFileError, match=message):
        _table(path)


def test_file_above_the_size_limit_is_refused(tmp_path, settings):
    settings.IMPORT_MAX_FILE_BYTES = 100
    path = write(tmp_path, xeducation_csv(5))
    with pytest.raises(ImportFileError, match="limit is 100 bytes"):
        _table(path)


def test_too_many_columns_is_refused(tmp_path, settings):
    settings.IMPORT_MAX_COLUMNS = 50
    header = ",".join(f"c{i}" for i in range(3000))
    path = write(tmp_path, header + "\n" + ",".join("1" * 3000) + "\n")
    with pytest.raises(ImportFileError, match="3,000 columns; the limit is 50"):
        _table(path)


def test_thousands_of_columns_within_the_limit_are_read(tmp_path):
    header = ",".join(f"c{i}" for i in range(3000))
    path = write(tmp_path, header + "\n" + ",".join(str(i) for i in range(3000)) + "\n")
    _, table = _table(path)
    assert len(table.header) == 3000
    assert next(table.rows()).values[2999] == "2999"


def test_invalid_bytes_for_a_chosen_encoding_are_reported(tmp_path):
    path = write(tmp_path, "id,name\n1,Zoë\n", encoding="cp1252")
    with pytest.raises(ImportFileError, match="not valid utf-8"):
        _, table = _table(path, encoding="utf-8")
        list(table.rows())
