"""Reading and writing labelled and unlabelled tables: CSV (UTF-8, BOM, GBK/GB18030), XLSX, JSON Lines, Parquet."""
from __future__ import annotations

import codecs
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .errors import DataError

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
        raise DataError(
            f"{path} has no column(s) {', '.join(map(repr, missing))}; its columns are "
            f"{', '.join(map(repr, map(str, df.columns)))}. Name the right one with --text-col / --category-col / --unit-col."
        )
