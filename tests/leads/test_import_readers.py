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


# --- The Arrow fast path and its fall-back to the csv module ---------------------------------
def _read_all(table, size):
    """Every batch of one pass: (numbers, columns, raw rows, problems), NotPlain passed through."""
    numbers, columns, raws, problems = [], [[] for _ in table.header], [], {}
    for batch in table.batches(size):
        numbers += batch.numbers
        for mine, theirs in zip(columns, batch.columns, strict=True):
            mine += theirs
        raws += [batch.raw(p) for p in range(len(batch.numbers))]
        problems.update(batch.problems)
    return numbers, columns, raws, problems


def _csv_module_pass(path, size):
    _, table = _table(path)
    table.plain = False  # what a file that is not plain is read with
    return _read_all(table, size)


def test_a_plain_file_is_read_by_arrow_with_the_same_cells_rows_and_numbers_as_the_csv_module(tmp_path):
    path = write(tmp_path, xeducation_csv(57))
    _, table = _table(path)
    fast = _read_all(table, 10)
    assert table.plain is True  # the pass went through Arrow and proved the file plain
    assert fast == _csv_module_pass(path, 10)
    assert fast[0] == list(range(2, 59))
    # A second pass (the writing pass) reads the same again.
    assert _read_all(table, 10) == fast


def test_arrow_chunks_share_one_string_per_repeated_value_and_read_the_same_cells(tmp_path):
    """Chunks large enough for the dictionary-encoded read: the cells are those of the csv module,
    a column of few values holds one str object per value, a column of unique ids is read as is."""
    path = write(tmp_path, xeducation_csv(600))
    _, table = _table(path)
    fast = _read_all(table, 250)
    assert table.plain is True
    assert fast == _csv_module_pass(path, 250)
    batch = next(iter(table.batches(250)))
    origins = batch.columns[table.header.index("Lead Origin")]
    assert len({id(value) for value in origins}) == len(set(origins)) < 10
    prospects = batch.columns[table.header.index("Prospect ID")]
    assert len(set(prospects)) == 250


@pytest.mark.parametrize(
    "text",
    [
        'id,note\n1,"first line\nsecond line"\n2,plain\n',  # a quoted newline
        "id,note\n1,a\n\n2,b\n",  # a blank line
        "id,note\n1,a\n2,b,extra\n3,c\n",  # a ragged row
        "\nid,note\n1,a\n",  # a blank line before the header
        "id,note\r1,a\r2,b\r",  # old Mac line ends
    ],
)
def test_a_file_that_is_not_plain_falls_back_to_the_csv_module_with_the_right_row_numbers(tmp_path, text):
    from leads.importing.readers import NotPlain

    path = write(tmp_path, text)
    _, table = _table(path)
    try:
        first = _read_all(table, 2)
    except NotPlain:
        assert table.plain is False
        first = _read_all(table, 2)  # the caller reads again: the csv module now
    assert table.plain is not True or first == _csv_module_pass(path, 2)
    assert first == _csv_module_pass(path, 2)


@pytest.mark.parametrize(
    "text",
    [
        'id,a,b\n1,"abc"def,x\n2,y,z\n',  # text after a closing quote
        'id,a,b\n1,ab"c,x\n2,y,z\n',  # a quote inside an unquoted cell
        'id,a,b\n1, "q" ,x\n2,y,z\n',  # spaces around a quoted cell
        'id,a,b\n1,"a""b",x\n2,"",z\n',  # doubled quotes, an empty quoted cell
        "id,a,b\r\n1,x,y  \r\n2,  y,z\r\n",  # CRLF, spaces kept
    ],
)
def test_quoting_quirks_read_the_same_through_arrow_and_the_csv_module(tmp_path, text):
    path = write(tmp_path, text)
    _, table = _table(path)
    assert _read_all(table, 10) == _csv_module_pass(path, 10)


def test_a_file_without_a_final_newline_is_plain(tmp_path):
    path = write(tmp_path, "id,note\n1,a\n2,b")
    _, table = _table(path)
    numbers, columns, _, _ = _read_all(table, 5)
    assert table.plain is True and numbers == [2, 3] and columns == [["1", "2"], ["a", "b"]]


def test_the_import_of_a_file_that_is_not_plain_reports_rows_by_their_line(tmp_path, db):
    """End to end: pass 1 starts on Arrow, meets the quoted newline, and reads again with the csv module."""
    from leads.importing import services
    from leads.models import ImportRowError

    text = 'id,email,note\n1,a@example.com,"two\nlines"\n2,not-an-email,x\n'
    mapping = {"mapping": {"external_id": "id", "email": "email"}}
    job = services.import_job_create(file=write(tmp_path, text), user=None, mapping=mapping)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == "failed"
    assert list(ImportRowError.objects.filter(job=job).values_list("row_number", "column")) == [(4, "email")]


def test_the_arrow_read_ahead_yields_the_batches_in_order_then_the_readers_error():
    from leads.importing.readers import _read_ahead

    class Reader:
        def __init__(self, items):
            self.items = list(items)

        def read_next_batch(self):
            item = self.items.pop(0) if self.items else StopIteration()
            if isinstance(item, Exception):
                raise item
            return item

    assert list(_read_ahead(Reader([1, 2, 3]))) == [1, 2, 3]
    seen = []
    with pytest.raises(ValueError, match="bad block"):
        for batch in _read_ahead(Reader([1, 2, ValueError("bad block"), 4])):
            seen.append(batch)
    assert seen == [1, 2]
