"""Reading lead files: CSV (comma, semicolon, tab; UTF-8, UTF-8 with BOM, cp1252/Latin-1) and XLSX.

A `Table` is opened once to check the file and read its header, then streamed as many times as
the pipeline needs, so memory stays flat whatever the size: `Table.rows()` one row at a time (small
files, the admin door) and `Table.batches()` a chunk at a time, column by column (the job path).

Batches of a UTF-8 CSV file come from Apache Arrow's CSV reader (C++, about five times faster than
the csv module here) whenever the file is plain: one row per line, every row as wide as the header.
Whether it is plain is known only at the end of a pass (a quoted newline or a blank line makes
fewer rows than lines; a ragged row stops Arrow), so the first pass over a file that turns out not
to be plain raises `NotPlain` and the caller starts that pass again on the csv module, which
numbers every row by its line and reports every shape problem. Both readers give the same cells.
Every problem with the file as a whole raises `ImportFileError` with a message a person can act on.
"""

import codecs
import csv
import hashlib
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import NoReturn

from django.conf import settings

CSV_EXTENSIONS = (".csv", ".txt", ".tsv")
XLSX_EXTENSIONS = (".xlsx",)
DELIMITERS = (",", ";", "\t")
ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1")
# Columns the error CSV adds; dropped on re-import so a fixed error file imports as-is.
ERROR_COLUMNS = ("import_row", "import_errors")
# The error CSV (and every export) writes a cell starting with = + - @ tab or CR behind an
# apostrophe (leads.exports.csv_safe); reading it back undoes that, so '-2.5 is -2.5 again.
_NEUTRALISED = re.compile(r"^'([=+\-@\t\r])")
_SNIFF_BYTES = 64 * 1024
_SEP_HINT = re.compile(r"^sep=[,;\t|]?\s*$", re.IGNORECASE)
_SCAN_BYTES = 1024 * 1024
# Arrow reads in blocks of this size; a row longer than a block makes the file "not plain".
_ARROW_BLOCK = 2 * 1024 * 1024
_SHARED_STRINGS_MIN_ROWS = 64  # a column of fewer rows is turned into strings directly (_arrow_strings)
# Quoted fields may be large (notes), but not unbounded.
csv.field_size_limit(16 * 1024 * 1024)


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message says why."""


class NotPlain(Exception):
    """The Arrow fast path met a file it cannot number row by line; read it with the csv module."""


@dataclass
class FileFacts:
    sha256: str
    size: int
    encoding: str
    kind: str  # "csv" or "xlsx"
    lines: int = 0  # lines in the file, a last line without "\n" included


@dataclass
class Row:
    number: int  # line in the file (header = 1); for XLSX, the sheet row
    values: list[str]  # one per kept column, "" when missing
    raw: list[str]  # the cells as read, for the error file
    problem: str = ""  # a shape problem (too many / too few fields)


def _read_ahead(reader) -> Iterator:
    """The reader's record batches, the next one parsed on another thread while the caller works
    on this one: Arrow parses without holding the GIL. Its errors are raised here, in order."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-read-ahead") as pool:
        upcoming = pool.submit(reader.read_next_batch)
        while True:
            try:
                record_batch = upcoming.result()
            except StopIteration:
                return
            upcoming = pool.submit(reader.read_next_batch)
            yield record_batch


def _arrow_strings(column) -> list[str]:
    """An arrow column of strings as a list of str. A column of few distinct values (most columns
    of a CRM export) is dictionary-encoded by arrow first, so its rows share one str per value:
    fewer objects to build, and each value's hash, which every later cache lookup needs, is
    computed once."""
    import numpy as np
    import pyarrow.compute as pc

    array = column.combine_chunks()
    if array.null_count or len(array) < _SHARED_STRINGS_MIN_ROWS:
        return array.to_pylist()
    encoded = pc.dictionary_encode(array)
    if len(encoded.dictionary) * 4 > len(array):
        return array.to_pylist()
    return np.array(encoded.dictionary.to_pylist(), dtype=object)[encoded.indices.to_numpy()].tolist()


@dataclass
class Table:
    path: Path
    kind: str
    encoding: str = ""
    delimiter: str = ""
    header: list[str] = field(default_factory=list)  # kept column names
    raw_header: list[str] = field(default_factory=list)
    keep: list[int] = field(default_factory=list)  # index in the raw row of each kept column
    header_line: int = 1  # line of the header (blank lines before it are skipped)
    lines: int = 0  # FileFacts.lines
    # None: not known yet; True: the Arrow reader gives the same rows, numbered by line; False: it does not.
    plain: bool | None = None
    # {row line: message} for rows a quote left open swallowed (filled while the csv module reads).
    open_quotes: dict[int, str] = field(default_factory=dict)

    def rows(self) -> Iterator[Row]:
        """Row by row (for small files and the admin door)."""
        width, keep = len(self.raw_header), self.keep
        for number, cells in self._raw():
            row = _shape(number, cells, width, keep)
            if row.problem and number in self.open_quotes:
                row.problem = self.open_quotes[number]
            yield row

    def batches(self, size: int) -> Iterator["Batch"]:
        """Rows in batches of `size`, kept columns already picked out, column by column.

        May raise NotPlain (only while `plain` is not yet known): read again, the csv module is
        chosen from then on."""
        if self.plain is not False and self._arrow_possible():
            yield from self._arrow_batches(size)
        else:
            yield from self._csv_batches(size)

    def _csv_batches(self, size: int) -> Iterator["Batch"]:
        width, keep = len(self.raw_header), self.keep
        pick = itemgetter(*keep) if len(keep) > 1 else (lambda cells: (cells[keep[0]],))
        numbers: list[int] = []
        rows: list[tuple] = []
        raws: list[list[str]] = []
        problems: dict[int, str] = {}
        for number, cells in self._raw():
            if len(cells) == width:
                rows.append(pick(cells))
            else:
                row = _shape(number, cells, width, keep)
                rows.append(tuple(row.values))
                if row.problem:
                    problems[number] = self.open_quotes.get(number, row.problem)
                cells = row.raw
            numbers.append(number)
            raws.append(cells)
            if len(numbers) >= size:
                yield Batch.from_rows(numbers, rows, raws, problems)
                numbers, rows, raws, problems = [], [], [], {}
        if numbers:
            yield Batch.from_rows(numbers, rows, raws, problems)

    def distinct_values(self, columns: list[str], *, cap: int) -> dict[str, Counter | None]:
        """{column: Counter of its cells (stripped)} over the whole file, for a few columns: a
        cheap pass (Arrow converts only these columns). None for a column with more than `cap`
        distinct values (counting it stops there, so memory stays bounded)."""
        if self._arrow_possible():
            try:
                return self._arrow_distinct(columns, cap)
            except (ValueError, UnicodeDecodeError, OSError):  # pa.ArrowInvalid: a ragged row, read row by row
                pass
        counts: dict[str, Counter | None] = {column: Counter() for column in columns}
        indexes = {column: self.header.index(column) for column in columns}
        for row in self.rows():
            for column, index in indexes.items():
                counter = counts[column]
                if counter is not None:
                    counter[row.values[index].strip()] += 1
                    if len(counter) > cap:
                        counts[column] = None
            if all(c is None for c in counts.values()):
                break
        return counts

    def _arrow_distinct(self, columns: list[str], cap: int) -> dict[str, Counter | None]:
        import pyarrow.compute as pc

        raw_names = {column: self.raw_header[self.keep[self.header.index(column)]] for column in columns}
        reader = self._arrow_open(list(raw_names.values()))
        counts: dict[str, Counter | None] = {column: Counter() for column in columns}
        for record_batch in reader:
            for column, raw_name in raw_names.items():
                counter = counts[column]
                if counter is None:
                    continue
                for pair in pc.value_counts(record_batch.column(raw_name)).to_pylist():
                    counter[_NEUTRALISED.sub(r"\1", pair["values"]).strip()] += pair["counts"]
                if len(counter) > cap:
                    counts[column] = None
            if all(c is None for c in counts.values()):
                break
        return counts

    # --- CSV through Apache Arrow --------------------------------------------------------------
    def _arrow_possible(self) -> bool:
        return (
            self.kind == "csv"
            and self.encoding in ("utf-8", "utf-8-sig")
            and self.header_line == 1
            and self.delimiter in DELIMITERS
            and len(set(self.raw_header)) == len(self.raw_header)
        )

    def _arrow_open(self, columns: list[str]):
        """Arrow's streaming reader of this CSV, every cell of `columns` (raw header names) as text."""
        import pyarrow as pa
        from pyarrow import csv as arrow_csv

        return arrow_csv.open_csv(
            self.path,
            read_options=arrow_csv.ReadOptions(column_names=self.raw_header, skip_rows=1, block_size=_ARROW_BLOCK),
            parse_options=arrow_csv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True),
            convert_options=arrow_csv.ConvertOptions(
                include_columns=columns,
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    def _arrow_batches(self, size: int) -> Iterator["Batch"]:
        import pyarrow as pa

        try:
            reader = self._arrow_open(self.raw_header)
        except (pa.ArrowInvalid, OSError) as exc:
            self._not_plain(exc)
        pending: list = []
        pending_rows = done = 0
        try:
            for record_batch in _read_ahead(reader):
                pending.append(record_batch)
                pending_rows += record_batch.num_rows
                while pending_rows >= size:
                    combined = pa.Table.from_batches(pending)
                    yield self._arrow_batch(combined.slice(0, size), first_number=done + 2)
                    done += size
                    rest = combined.slice(size)
                    pending, pending_rows = rest.to_batches(), rest.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            self._not_plain(exc)
        if pending_rows:
            yield self._arrow_batch(pa.Table.from_batches(pending), first_number=done + 2)
            done += pending_rows
        if done != self.lines - 1:  # one row a line after the header, or the file is not plain
            self._not_plain(None)
        self.plain = True

    def _not_plain(self, exc: Exception | None) -> NoReturn:
        if self.plain:  # it was plain on the first pass: the file changed under us
            raise ImportFileError(f"The file could not be read again ({exc or 'row count changed'}).")
        self.plain = False
        raise NotPlain(str(exc or "rows and lines differ"))

    def _arrow_batch(self, arrow_table, *, first_number: int) -> "Batch":
        import pyarrow.compute as pc

        count = arrow_table.num_rows
        for index in range(arrow_table.num_columns):
            column = arrow_table.column(index)
            if pc.any(pc.starts_with(column, "'")).as_py():
                undone = pc.replace_substring_regex(column, pattern=_NEUTRALISED.pattern, replacement="\\1")
                arrow_table = arrow_table.set_column(index, arrow_table.field(index), undone)
        columns = [_arrow_strings(arrow_table.column(index)) for index in self.keep]

        def raw(position: int) -> list[str]:
            return [arrow_table.column(index)[position].as_py() for index in range(arrow_table.num_columns)]

        lengths = [pc.max(pc.utf8_length(arrow_table.column(index))).as_py() or 0 for index in self.keep]
        return Batch(
            numbers=list(range(first_number, first_number + count)), columns=columns, raw_row=raw,
            longest_cell=max(lengths, default=0),
        )  # fmt: skip

    def _raw(self) -> Iterator[tuple[int, list[str]]]:
        for number, cells in self._xlsx_raw() if self.kind == "xlsx" else self._csv_raw():
            if any(cell[:1] == "'" for cell in cells):
                cells = [_NEUTRALISED.sub(r"\1", cell) for cell in cells]
            yield number, cells

    # --- CSV -------------------------------------------------------------------------
    def _open_text(self):
        return open(self.path, encoding=self.encoding, newline="", errors="strict")

    def _csv_raw(self) -> Iterator[tuple[int, list[str]]]:
        with self._open_text() as handle:
            reader = csv.reader(handle, delimiter=self.delimiter, strict=False)
            try:
                for cells in reader:  # up to and including the header
                    if any(c.strip() for c in cells) and not _is_sep_hint(cells):
                        break
                previous_line = reader.line_num
                for cells in reader:
                    number = previous_line + 1
                    previous_line = reader.line_num
                    if not cells or (len(cells) == 1 and not cells[0].strip()):
                        continue  # a blank line
                    if previous_line > number and len(cells) != len(self.raw_header):
                        self._open_quote_note(number, previous_line, cells)
                    yield number, cells
            except csv.Error as exc:
                raise ImportFileError(f"Line {reader.line_num + 1}: the CSV is malformed ({exc}).") from exc
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    f"The file is not valid {self.encoding} (byte {exc.start}); choose its encoding."
                ) from exc

    def _open_quote_note(self, number: int, last_line: int, cells: list[str]) -> None:
        """A row over several lines that is not as wide as the header: a quote left open swallowed
        the lines after it. Name the quote and the line where it opened."""
        line = number
        for cell in cells:
            if "\n" in cell:
                self.open_quotes[number] = (
                    f'has a quote (") opened on line {line} that is never closed: lines {line} to {last_line} '
                    "were read as one cell. Close the quote or remove it"
                )
                return
            line += cell.count("\n")

    # --- XLSX ------------------------------------------------------------------------
    def _xlsx_raw(self) -> Iterator[tuple[int, list[str]]]:
        """The sheet's rows, each as wide as the header: a sheet has no field count, so empty
        cells at the end of a row are empty cells, not missing fields (a row with an empty last
        column is a whole row). Cells past the header are kept when filled (_shape reports them)."""
        width = len(self.raw_header)
        workbook = _open_workbook(self.path)
        try:
            sheet = workbook.worksheets[0]
            for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number == 1:
                    continue
                texts = [_cell_text(c) for c in cells]
                while texts and texts[-1] == "":
                    texts.pop()
                if texts:
                    yield number, texts + [""] * (width - len(texts))
        finally:
            workbook.close()


@dataclass
class Batch:
    """A run of rows, column by column: line numbers, one list of cells per kept column, shape
    problems, and the raw cells of any row on demand (for the error file)."""

    numbers: list[int] = field(default_factory=list)
    columns: list = field(default_factory=list)  # one sequence per kept column, aligned with numbers
    problems: dict[int, str] = field(default_factory=dict)
    raw_row: Callable[[int], list[str]] | None = None
    longest_cell: int = -1  # characters in the batch's longest kept cell; -1: not measured

    @classmethod
    def from_rows(cls, numbers: list[int], rows: list[tuple], raws: list[list[str]], problems=None) -> "Batch":
        columns = [list(column) for column in zip(*rows, strict=True)] if rows else []
        return cls(numbers=numbers, columns=columns, problems=problems or {}, raw_row=raws.__getitem__)

    def raw(self, position: int) -> list[str]:
        return self.raw_row(position) if self.raw_row else [column[position] for column in self.columns]

    def take(self, positions: list[int]) -> "Batch":
        """The rows at these positions (in order), as a batch."""
        raw = self.raw
        return Batch(
            numbers=[self.numbers[p] for p in positions],
            columns=[[column[p] for p in positions] for column in self.columns],
            problems={n: self.problems[n] for n in (self.numbers[p] for p in positions) if n in self.problems},
            raw_row=lambda position: raw(positions[position]),
        )


def _shape(number: int, cells: list[str], width: int, keep: list[int]) -> Row:
    problem = ""
    if len(cells) > width:
        if any(c.strip() for c in cells[width:]):
            problem = f"has {len(cells)} fields but the header has {width}"
        cells = cells[:width]
    elif len(cells) < width:
        problem = f"has {len(cells)} fields but the header has {width}"
        cells = cells + [""] * (width - len(cells))
    return Row(number, [cells[i] for i in keep], cells, problem)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _open_workbook(path: Path):
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(f"The file is not a readable XLSX workbook ({exc}).") from exc


def _kind_check(path: Path, name: str) -> tuple[str, bytes, int]:
    """(kind, the file's first bytes, size) after the checks on size, name and content type."""
    extension = Path(name).suffix.lower()
    size = path.stat().st_size
    if size > settings.IMPORT_MAX_FILE_BYTES:
        raise ImportFileError(
            f"The file is {size:,} bytes; the limit is {settings.IMPORT_MAX_FILE_BYTES:,} bytes "
            "(IMPORT_MAX_FILE_BYTES)."
        )
    if size == 0:
        raise ImportFileError("The file is empty.")
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    is_zip = head.startswith(b"PK\x03\x04")
    if extension in XLSX_EXTENSIONS:
        if not is_zip:
            raise ImportFileError(f"The file is named {name!r} but is not an XLSX workbook.")
        kind = "xlsx"
    elif extension in CSV_EXTENSIONS or extension == "":
        if is_zip:
            raise ImportFileError(f"The file is named {name!r} but is a ZIP/XLSX archive, not CSV text.")
        kind = "csv"
    elif extension == ".xls":
        raise ImportFileError("Old Excel .xls files are not supported; save the sheet as .xlsx or CSV.")
    else:
        raise ImportFileError(f"Unsupported file type {extension!r}: upload CSV (.csv, .txt, .tsv) or XLSX.")

    if kind == "csv" and _looks_binary(head):
        raise ImportFileError("The file is binary, not a text table (CSV).")
    return kind, head, size


def _encoding_chosen(encoding: str) -> str:
    chosen = encoding.lower() if encoding else ""
    if chosen:
        try:
            codecs.lookup(chosen)
        except LookupError as exc:
            raise ImportFileError(f"Unknown encoding {encoding!r}.") from exc
    return chosen


def scan_sample(path: Path, *, name: str = "", encoding: str = "") -> FileFacts:
    """The checks of scan_file() on the file's first megabyte only (the wizard's sample): no hash,
    and the encoding is judged on that megabyte (the job's full scan judges the whole file)."""
    name = name or path.name
    kind, _head, size = _kind_check(path, name)
    chosen = _encoding_chosen(encoding)
    if kind == "xlsx":
        return FileFacts(sha256="", size=size, encoding="", kind=kind)
    with open(path, "rb") as handle:
        block = handle.read(_SCAN_BYTES)
    if chosen:
        detected = chosen
    else:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(block)  # not final: a cut character is fine
            detected = "utf-8-sig" if block.startswith(codecs.BOM_UTF8) else "utf-8"
        except UnicodeDecodeError:
            try:
                codecs.getincrementaldecoder("cp1252")().decode(block)
                detected = "cp1252"
            except UnicodeDecodeError:
                detected = "latin-1"
    return FileFacts(sha256="", size=size, encoding=detected, kind=kind)


def scan_file(path: Path, *, name: str = "", encoding: str = "") -> FileFacts:
    """Check size, kind and encoding of the whole file, and hash it, in one streaming pass."""
    name = name or path.name
    kind, head, size = _kind_check(path, name)

    digest = hashlib.sha256()
    chosen = _encoding_chosen(encoding)
    utf8_ok = kind == "csv" and not chosen
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines, last = 0, b""
    with open(path, "rb") as handle:
        while block := handle.read(_SCAN_BYTES):
            digest.update(block)
            newlines += block.count(b"\n")
            last = block[-1:]
            if utf8_ok:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8_ok = False
        if utf8_ok:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8_ok = False
    if kind == "xlsx":
        detected = ""
    elif chosen:
        detected = chosen
    elif head.startswith(codecs.BOM_UTF8):
        detected = "utf-8-sig" if utf8_ok else "cp1252"
    elif utf8_ok:
        detected = "utf-8"
    else:
        detected = "cp1252" if _decodes(path, "cp1252") else "latin-1"
    return FileFacts(
        sha256=digest.hexdigest(),
        size=size,
        encoding=detected,
        kind=kind,
        lines=newlines + (last not in (b"", b"\n")),
    )


def _looks_binary(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True  # UTF-16 text is not supported: NUL bytes everywhere
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls > len(head) * 0.05


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(_SCAN_BYTES):
                decoder.decode(block)
        return True
    except UnicodeDecodeError:
        return False


def _is_sep_hint(cells: list[str]) -> bool:
    """The "sep=;" line Excel writes above the header of a CSV to name its delimiter."""
    return len(cells) <= 2 and not "".join(cells[1:]).strip() and _SEP_HINT.match(cells[0]) is not None


def _detect_delimiter(first_line: str) -> str:
    counts = {d: _count_outside_quotes(first_line, d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def open_table(path: Path, facts: FileFacts, *, delimiter: str = "") -> Table:
    """Read and check the header; the data rows are read later with Table.rows()."""
    table = Table(
        path=Path(path),
        kind=facts.kind,
        encoding=facts.encoding,
        lines=facts.lines,
    )
    if facts.kind == "xlsx":
        workbook = _open_workbook(table.path)
        try:
            if not workbook.worksheets:
                raise ImportFileError("The workbook has no sheets.")
            first = next(workbook.worksheets[0].iter_rows(max_row=1, values_only=True), None)
            header = [_cell_text(c) for c in first] if first else []
        finally:
            workbook.close()
        while header and header[-1] == "":
            header.pop()
    else:
        header = _csv_header(table, delimiter)
    if not any(h.strip() for h in header):
        raise ImportFileError("The file is empty: no header row.")
    if len(header) > settings.IMPORT_MAX_COLUMNS:
        raise ImportFileError(
            f"The file has {len(header):,} columns; the limit is {settings.IMPORT_MAX_COLUMNS:,} (IMPORT_MAX_COLUMNS)."
        )
    table.raw_header = header
    seen: set[str] = set()
    for index, raw_name in enumerate(header):
        name = raw_name.strip()
        if not name or name in ERROR_COLUMNS:
            continue  # a trailing delimiter leaves an unnamed column; error columns come from our error file
        if name in seen:
            raise ImportFileError(f"The column name {name!r} appears twice in the header.")
        seen.add(name)
        table.header.append(name)
        table.keep.append(index)
    if not table.header:
        raise ImportFileError("The header row has no column names.")
    if next(iter(table.rows()), None) is None:
        raise ImportFileError("The file has a header but no data rows.")
    return table


def _csv_header(table: Table, delimiter: str) -> list[str]:
    try:
        with table._open_text() as handle:
            first_line, hinted = "", ""
            for number, line in enumerate(handle, start=1):
                if line.strip() and not hinted and _SEP_HINT.match(line):
                    hinted = line.strip()[4:]  # Excel's "sep=;" line names the delimiter
                elif line.strip():
                    first_line, table.header_line = line, number
                    break
            if not first_line:
                raise ImportFileError("The file is empty.")
            table.delimiter = delimiter or hinted or _detect_delimiter(first_line)
            handle.seek(0)
            header = []
            for cells in csv.reader(handle, delimiter=table.delimiter):
                if any(c.strip() for c in cells) and not _is_sep_hint(cells):
                    header = cells
                    break
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"The file is not valid {table.encoding}; choose its encoding.") from exc
    except csv.Error as exc:
        raise ImportFileError(f"The header row is malformed ({exc}).") from exc
    return header


def raw_header_of(path: Path, *, kind: str, encoding: str, delimiter: str) -> list[str]:
    """The header cells exactly as in the file (unnamed columns included), for the error file."""
    table = Table(path=Path(path), kind=kind, encoding=encoding)
    if kind == "xlsx":
        workbook = _open_workbook(table.path)
        try:
            first = next(workbook.worksheets[0].iter_rows(max_row=1, values_only=True), None) or ()
        finally:
            workbook.close()
        header = [_cell_text(c) for c in first]
        while header and header[-1] == "":
            header.pop()
        return header
    return _csv_header(table, delimiter)
