"""Reading and writing labelled and unlabelled tables: CSV (UTF-8, BOM, GBK/GB18030), XLSX, JSON Lines, Parquet."""
from __future__ import annotations

import codecs
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .errors import DataError
from .text import mask_pii

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_SAMPLE_BYTES = 1 << 20


def file_format(path: str | Path) -> str:
    """``csv``, ``xlsx``, ``jsonl`` or ``parquet``, from the file name's extension."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise DataError(
            f"Cannot tell the format of {path}: extension {suffix or '(none)'!r}. "
            f"Use one of {', '.join(sorted(FORMATS))}."
        ) from None


def detect_encoding(path: str | Path) -> str:
    """Return ``utf-8-sig`` or ``gb18030`` for a text file, judged on its first megabyte.

    UTF-8 is tried first (with or without BOM); GB18030 is a superset of GBK and GB2312. A file that is neither
    raises :class:`DataError`.
    """
    with open(path, "rb") as f:
        sample = f.read(_SAMPLE_BYTES)
        at_end = not f.read(1)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if not at_end:
        cut = sample.rfind(b"\n")
        sample = sample[: cut + 1] if cut > 0 else sample
    for encoding in ("utf-8", "gb18030"):
        try:
            sample.decode(encoding)
            return "utf-8-sig" if encoding == "utf-8" else encoding
        except UnicodeDecodeError:
            continue
    raise DataError(f"{path} is neither UTF-8 nor GBK/GB18030 text; re-save it as UTF-8 CSV.")


def read_table(path: str | Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """Read a whole table with every column as text; check that ``required`` columns are present."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"No such file: {path}")
    fmt = file_format(path)
    try:
        if fmt == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=detect_encoding(path), sep=sep)
        elif fmt == "xlsx":
            df = pd.read_excel(path, dtype=str, keep_default_na=False)
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False)
        else:
            df = pd.read_parquet(path)
    except DataError:
        raise
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: mixed or broken encoding ({e.reason} at byte {e.start}); re-save it as UTF-8.") from None
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise DataError(f"Cannot read {path} as {fmt}: {e}") from None
    check_columns(df, required, path)
    return df


def check_columns(df: pd.DataFrame, required: Sequence[str], path: str | Path = "input") -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        # A file without a header row has a letter for a column name: show names short and masked.
        shown = [_short(mask_pii(str(c))) for c in df.columns[:20]]
        raise DataError(
            f"{path} has no column(s) {', '.join(map(repr, missing))}; its columns are "
            f"{', '.join(map(repr, shown))}{' …' if len(df.columns) > 20 else ''}. "
            "Name the right one with --text-col / --category-col / --unit-col, or add a header row."
        )


def _short(name: str, limit: int = 12) -> str:
    return name if len(name) <= limit else name[:limit] + "…"


# --- chunked reading and writing (triage batch) --------------------------------------------------------------
#: Column a chunk reader adds when some rows could not be parsed; :func:`triage.batch.label_frame` turns it
#: into the row's ``error``.
READ_ERROR = "__triage_read_error__"
#: Longest text an XLSX cell may hold (Excel's limit); longer values are cut when writing XLSX.
XLSX_CELL_MAX = 32_767
XLSX_ROWS_MAX = 1_048_576


class ChunkReader:
    """Iterate over a table in DataFrames of at most ``chunksize`` rows, holding one chunk at a time.

    Attributes
    ----------
    total_rows : int or None
        Row count when the format tells it cheaply (Parquet, JSON Lines, XLSX), else None.
    arrow_schema : pyarrow.Schema or None
        The input schema of a Parquet file, so the output can keep its column types.
    other_sheets : list of str
        Sheets of an XLSX file that were not read (only one sheet is read: ``sheet``, or the first).
    """

    def __init__(self, path: str | Path, chunksize: int = 2000, sheet: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"No such file: {self.path}")
        if chunksize < 1:
            raise DataError(f"chunksize must be at least 1; got {chunksize}.")
        self.format = file_format(self.path)
        self.chunksize = chunksize
        self.total_rows: int | None = None
        self.arrow_schema = None
        self.sheet = sheet
        self.other_sheets: list[str] = []
        self._raw = None
        self._text = None
        self._size = max(self.path.stat().st_size, 1)
        if self.format == "parquet":
            import pyarrow.parquet as pq

            try:
                self._pq = pq.ParquetFile(self.path)
            except Exception as e:  # pyarrow raises several types for a damaged file
                raise DataError(f"Cannot read {self.path} as Parquet: {e}") from None
            self.total_rows = self._pq.metadata.num_rows
            self.arrow_schema = self._pq.schema_arrow
        elif self.format == "jsonl":
            self._columns, self.total_rows = _scan_jsonl(self.path)

    def fraction_read(self) -> float | None:
        """Share of the file's bytes consumed so far (CSV only), for a progress estimate."""
        if self._raw is None or self._raw.closed:
            return None
        return min(self._raw.tell() / self._size, 1.0)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        readers = {"csv": self._csv, "jsonl": self._jsonl, "xlsx": self._xlsx, "parquet": self._parquet}
        try:
            yield from readers[self.format]()
        except DataError:
            raise
        except (ValueError, OSError, pd.errors.ParserError) as e:
            raise DataError(f"Cannot read {self.path} as {self.format}: {e}") from None
        finally:
            if self._text is not None:
                self._text.close()

    def _csv(self) -> Iterator[pd.DataFrame]:
        sep = "\t" if self.path.suffix.lower() == ".tsv" else ","
        self._raw = open(self.path, "rb")
        self._text = io.BufferedReader(_Utf8Stream(self._raw), buffer_size=1 << 16)
        # dtype=object: Python strings straight from the parser; pandas' Arrow-backed "str" columns would be
        # converted back to Python strings for every text and every written cell (a few percent of a batch run)
        yield from pd.read_csv(self._text, dtype=object, keep_default_na=False, sep=sep, skip_blank_lines=False,
                               chunksize=self.chunksize, encoding="utf-8")

    def _jsonl(self) -> Iterator[pd.DataFrame]:
        rows: list[dict] = []
        errors: list[str | None] = []
        for n, line in enumerate(_jsonl_lines(self.path), 1):
            row, err = _parse_jsonl_line(line, n)
            rows.append(row)
            errors.append(err)
            if len(rows) == self.chunksize:
                yield self._jsonl_frame(rows, errors)
                rows, errors = [], []
        if rows:
            yield self._jsonl_frame(rows, errors)

    def _jsonl_frame(self, rows: list[dict], errors: list[str | None]) -> pd.DataFrame:
        df = pd.DataFrame.from_records(rows, columns=self._columns)
        if any(errors):
            df[READ_ERROR] = errors
        return df

    def _xlsx(self) -> Iterator[pd.DataFrame]:
        from openpyxl import load_workbook

        try:
            wb = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises zipfile/KeyError/... for a damaged file
            raise DataError(f"Cannot read {self.path} as XLSX: {e}; re-save it from Excel.") from None
        try:
            if self.sheet is not None and self.sheet not in wb.sheetnames:
                raise DataError(f"{self.path} has no sheet {self.sheet!r}; its sheets are {', '.join(wb.sheetnames)}.")
            ws = wb[self.sheet] if self.sheet is not None else wb.worksheets[0]
            self.other_sheets = [n for n in wb.sheetnames if n != ws.title]
            rows = ws.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                raise DataError(f"{self.path} is empty: its first sheet has no header row.")
            columns = _header_names(header)
            self.total_rows = max((ws.max_row or 1) - 1, 0) if ws.max_row else None
            chunk: list[tuple] = []
            blanks: list[tuple] = []  # empty rows are kept, unless they trail the sheet
            for row in rows:
                row = tuple(row[: len(columns)]) + (None,) * (len(columns) - len(row))
                if all(v is None or v == "" for v in row):
                    blanks.append(row)
                    continue
                chunk.extend(blanks)
                blanks = []
                chunk.append(row)
                while len(chunk) >= self.chunksize:
                    yield pd.DataFrame.from_records(chunk[: self.chunksize], columns=columns)
                    chunk = chunk[self.chunksize:]
            if chunk:
                yield pd.DataFrame.from_records(chunk, columns=columns)
        finally:
            wb.close()

    def _parquet(self) -> Iterator[pd.DataFrame]:
        for batch in self._pq.iter_batches(batch_size=self.chunksize):
            yield batch.to_pandas()


def _header_names(header: Sequence) -> list[str]:
    names: list[str] = []
    for i, h in enumerate(header):
        name = str(h).strip() if h is not None and str(h).strip() else f"column_{i + 1}"
        while name in names:
            name += "_"
        names.append(name)
    return names


def _jsonl_lines(path: Path) -> Iterator[str]:
    """Lines of a JSON Lines file, decoded leniently; a final newline does not make an extra row."""
    with open(path, "rb") as f:
        for i, raw in enumerate(f):
            if i == 0 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            yield raw.decode("utf-8", errors="replace")


class _Utf8Stream(io.RawIOBase):
    """A byte stream that re-encodes a file as UTF-8, deciding each line's encoding on its own: UTF-8, else
    GB18030, else UTF-8 with U+FFFD for the bad bytes (that row then gets an error).

    Exports often mix encodings row by row. A line-break byte never occurs inside a character in either
    encoding, so splitting on it is safe; blocks that are valid UTF-8 (the common case) pass through untouched.
    """

    def __init__(self, raw) -> None:
        self._raw = raw
        self._buf = b""
        self._first = True

    def readable(self) -> bool:
        return True

    @staticmethod
    def _line(line: bytes) -> bytes:
        for encoding in ("utf-8", "gb18030"):
            try:
                text = line.decode(encoding)
            except UnicodeDecodeError:
                continue
            return line if encoding == "utf-8" else text.encode("utf-8")
        return line.decode("utf-8", errors="replace").encode("utf-8")

    def _block(self, block: bytes) -> bytes:
        if self._first:
            self._first = False
            if block.startswith(codecs.BOM_UTF8):
                block = block[len(codecs.BOM_UTF8):]
        try:
            block.decode("utf-8")
            return block
        except UnicodeDecodeError:
            return b"".join(self._line(line) for line in block.splitlines(keepends=True))

    def readinto(self, buffer) -> int:
        while not self._buf:
            block = self._raw.read(1 << 16)
            if not block:
                return 0
            if not block.endswith(b"\n"):
                block += self._raw.readline()  # end on a line break, never inside a character
            self._buf = self._block(block)
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


_SURROGATES = re.compile("[\ud800-\udfff]")


def _parse_jsonl_line(line: str, n: int) -> tuple[dict, str | None]:
    if not line.strip():
        return {}, f"line {n} is blank"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return {}, f"line {n} is not valid JSON ({e.msg}); fix or remove it"
    if not isinstance(obj, dict):
        return {}, f"line {n} holds a JSON {type(obj).__name__}, not an object"
    # JSON may escape lone surrogates (\ud800) that no encoder can write back: mark them as bad bytes.
    return {k: _SURROGATES.sub("\ufffd", v) if isinstance(v, str) else v for k, v in obj.items()}, None


def _scan_jsonl(path: Path) -> tuple[list[str], int]:
    """Column names (in order of first appearance) and row count of a JSON Lines file, in one streaming pass."""
    columns: dict[str, None] = {}
    n = 0
    for n, line in enumerate(_jsonl_lines(path), 1):
        row, _ = _parse_jsonl_line(line, n)
        for key in row:
            columns.setdefault(str(key), None)
    return list(columns), n


class ChunkWriter:
    """Append DataFrames to a CSV (UTF-8 with BOM), XLSX (write-only), JSON Lines or Parquet file.

    Parameters
    ----------
    path : path
        Where to write; the caller chooses a temporary name (see :func:`atomic_output`).
    fmt : str
        ``csv``, ``xlsx``, ``jsonl`` or ``parquet``.
    arrow_types : dict, optional
        Arrow type per column for Parquet output. Columns not listed are written as strings, so a column
        whose Python types vary from chunk to chunk (common in XLSX and JSON) cannot break the schema.
    """

    def __init__(self, path: str | Path, fmt: str, arrow_types: dict | None = None) -> None:
        self.path = Path(path)
        self.format = fmt
        self.arrow_types = dict(arrow_types or {})
        self.rows = 0
        self.truncated_cells = 0
        self._started = False
        self._handle = None
        self._schema = None
        if fmt == "csv":
            # UTF-8 with a BOM written by hand: the "utf-8-sig" codec encodes through Python code on every row
            self._handle = open(self.path, "w", encoding="utf-8", newline="")
            self._handle.write("\ufeff")
        elif fmt == "jsonl":
            self._handle = open(self.path, "w", encoding="utf-8", newline="\n")
        elif fmt == "xlsx":
            from openpyxl import Workbook

            self._wb = Workbook(write_only=True)
            self._ws = self._wb.create_sheet()
        elif fmt != "parquet":
            raise DataError(f"Cannot write format {fmt!r}; use csv, xlsx, jsonl or parquet.")

    def write(self, df: pd.DataFrame) -> None:
        if self.format == "csv":
            df.to_csv(self._handle, header=not self._started, index=False)
        elif self.format == "jsonl":
            if len(df):
                self._handle.write(df.to_json(orient="records", lines=True, force_ascii=False, date_format="iso"))
        elif self.format == "xlsx":
            self._write_xlsx(df)
        else:
            self._write_parquet(df)
        self.rows += len(df)
        self._started = True

    def _write_xlsx(self, df: pd.DataFrame) -> None:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        if self.rows + len(df) >= XLSX_ROWS_MAX:
            raise DataError(f"XLSX holds at most {XLSX_ROWS_MAX - 1:,} rows; write CSV, JSON Lines or Parquet instead.")
        if not self._started:
            self._ws.append([str(c) for c in df.columns])
        for row in df.astype(object).itertuples(index=False, name=None):
            out = []
            for v in row:
                if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v is pd.NaT:
                    v = None
                elif isinstance(v, str):
                    v = ILLEGAL_CHARACTERS_RE.sub("", v)
                    if len(v) > XLSX_CELL_MAX:
                        v = v[:XLSX_CELL_MAX]
                        self.truncated_cells += 1
                elif isinstance(v, pd.Timestamp):
                    v = v.to_pydatetime()
                elif hasattr(v, "item"):  # numpy scalar
                    v = v.item()
                out.append(v)
            self._ws.append(out)

    def _write_parquet(self, df: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._schema is None:
            fields = [pa.field(str(c), self.arrow_types.get(str(c), pa.string())) for c in df.columns]
            self._schema = pa.schema(fields)
            self._pq = pq.ParquetWriter(self.path, self._schema)
        df = df.copy()
        for c in df.columns:
            if str(c) not in self.arrow_types:
                s = df[c]
                df[c] = s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))
        try:
            table = pa.Table.from_pandas(df, schema=self._schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise DataError(f"Cannot write these rows to Parquet ({e}); write CSV or JSON Lines instead.") from None
        self._pq.write_table(table)

    def close(self) -> None:
        if self.format in ("csv", "jsonl"):
            self._handle.close()
        elif self.format == "xlsx":
            self._wb.save(self.path)
        elif self._schema is not None:
            self._pq.close()
        else:  # no rows at all: still write a valid, empty file
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self.path)

    def abort(self) -> None:
        """Close without caring about the result (the temporary file is deleted by the caller)."""
        try:
            if self.format in ("csv", "jsonl"):
                self._handle.close()
            elif self.format == "parquet" and self._schema is not None:
                self._pq.close()
            elif self.format == "xlsx":
                self._ws.close()
        except Exception:  # noqa: BLE001 - best effort on the way out of a failure
            pass


@contextmanager
def atomic_output(output: str | Path, inputs: Sequence[str | Path] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``output``; rename it to ``output`` only if the block succeeds.

    An exception, Ctrl-C or a killed process never leaves a half-written ``output`` (a killed process may leave
    a hidden ``.<name>.*.part`` file). Refuses an ``output`` that is one of ``inputs``.
    """
    output = Path(output)
    for inp in inputs:
        if output.resolve() == Path(inp).resolve() or (output.exists() and os.path.samefile(output, inp)):
            raise DataError(f"Output {output} is the input file; choose another output name (it is never overwritten).")
    if not output.parent.is_dir():
        raise DataError(f"Output directory {output.parent} does not exist; create it first.")
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result gets ordinary permissions
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask
