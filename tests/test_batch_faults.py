"""Batch labelling over damaged files: every input row gives one output row (or the file is refused with one clear
error), and a run killed with SIGKILL leaves no partial output; a re-run writes the full output."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from test_batch import read_output  # noqa: E402

import triage.batch as batch
from triage.cli import main  # noqa: E402
from triage.errors import DataError  # noqa: E402

label_file = batch.label_file
T = ["房产证交上去半年了还没办下来，每次去问都说再等等", "东坝派出所办户口等了一上午窗口没人", "医保报销材料交了四个月钱还没到账"]


read_out = read_output  # one reader for every output format, shared with test_batch


def errors_of(df: pd.DataFrame) -> list[str]:
    return ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in df["error"]]


def run(model, src: Path, out_ext: str = ".csv", **kw) -> pd.DataFrame:
    out = src.with_name(src.stem + "_out" + out_ext)
    summary = label_file(src, out, model=model, chunksize=kw.pop("chunksize", 3), **kw)
    df = read_out(out)
    assert summary.rows == len(df)
    assert summary.errors == sum(bool(e) for e in errors_of(df))
    return df


def assert_labelled(df: pd.DataFrame, i: int) -> None:
    assert errors_of(df)[i] == "" and df["category"].iloc[i] not in ("", None), df.iloc[i].to_dict()


def assert_row_error(df: pd.DataFrame, i: int, *words: str) -> None:
    err = errors_of(df)[i]
    assert err and "\n" not in err and all(w in err for w in words), err
    assert df["category"].iloc[i] in ("", None) or df["category"].iloc[i] != df["category"].iloc[i]


# -- encodings -------------------------------------------------------------------------------------------------
def test_one_gbk_row_in_a_utf8_file(tmp_path, model):
    # each line is decoded on its own, so the GBK row reads back as the letter it is
    rows = [(i, T[i % 3]) for i in range(60)]
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\n" + b"".join(f"{i},{t}\n".encode("gbk" if i == 4 else "utf-8") for i, t in rows))
    df = run(model, src)
    assert len(df) == 60 and list(df["id"]) == [str(i) for i, _ in rows]
    for i in range(60):
        assert_labelled(df, i)
        assert df["text"].iloc[i] == rows[i][1]


def test_a_row_in_no_known_encoding_is_a_row_error(tmp_path, model):
    rows = [(i, T[i % 3]) for i in range(10)]
    src = tmp_path / "in.csv"
    body = b"".join(f"{i},{t}\n".encode() if i != 4 else b"4,\x81\x30\xff\xfe bad\n" for i, t in rows)
    src.write_bytes(b"id,text\n" + body)
    df = run(model, src)
    assert len(df) == 10
    assert_row_error(df, 4, "encoding")


def test_half_gbk_half_utf8_rows(tmp_path, model):
    rows = [(i, T[i % 3]) for i in range(12)]
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\n" + b"".join(f"{i},{t}\n".encode("gbk" if i % 2 else "utf-8") for i, t in rows))
    df = run(model, src)
    assert len(df) == 12
    for i, text in rows:
        # each row is either decoded right and labelled, or flagged: never labelled as mojibake
        assert df["text"].iloc[i] == text or errors_of(df)[i], (i, df["text"].iloc[i])


def test_gbk_file_with_one_utf8_row_is_not_silently_garbled(tmp_path, model):
    rows = [(i, T[i % 3]) for i in range(30)]
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\n" + b"".join(f"{i},{t}\n".encode("utf-8" if i == 7 else "gbk") for i, t in rows))
    df = run(model, src)
    assert len(df) == 30
    for i, text in rows:
        if i != 7:
            assert df["text"].iloc[i] == text
            assert_labelled(df, i)


def test_invalid_bytes_and_truncated_last_character(tmp_path, model):
    src = tmp_path / "in.csv"
    src.write_bytes(("id,text\n1," + T[0] + "\n2," + T[1] + "\xff\n3," + T[2]).encode("utf-8", "surrogateescape")[:-1])
    df = run(model, src)
    assert len(df) == 3
    assert_labelled(df, 0)


# -- odd content -------------------------------------------------------------------------------------------------
def test_nul_bytes(tmp_path, model):
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\n1," + T[0].encode() + b"\x00\x00tail\n2,\x00\n3,\x00" + T[1].encode() + b"\n")
    df = run(model, src)
    assert len(df) == 3
    assert_labelled(df, 0)
    assert_row_error(df, 1, "empty")
    assert_labelled(df, 2)


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_one_megabyte_cell(tmp_path, model, ext):
    big = "拖" * 1_000_000
    df_in = pd.DataFrame({"id": [1, 2, 3], "text": [T[0], big, T[1]]})
    src = tmp_path / f"in{ext}"
    if ext == ".csv":
        df_in.to_csv(src, index=False)
    else:
        df_in.to_json(src, orient="records", lines=True, force_ascii=False)
    df = run(model, src)
    assert len(df) == 3
    assert_row_error(df, 1, "1,000,000", "limit")
    assert_labelled(df, 0)
    assert_labelled(df, 2)
    assert len(df["text"].iloc[1]) == 1_000_000  # the input is passed through whole


def test_one_megabyte_cell_to_xlsx_is_cut_and_reported(tmp_path, model):
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2], "text": [T[0], "拖" * 1_000_000]}).to_csv(src, index=False)
    out = tmp_path / "out.xlsx"
    summary = label_file(src, out, model=model)
    assert summary.rows == 2 and summary.truncated_cells == 1
    assert len(read_out(out)) == 2


def test_blank_lines_are_rows_with_an_error(tmp_path, model):
    src = tmp_path / "in.csv"
    src.write_text(f"id,text\n\n1,{T[0]}\n\n\n2,{T[1]}\n,\n", encoding="utf-8")
    df = run(model, src)
    assert len(df) == 6  # 6 lines after the header (the final newline ends the last one)
    assert [bool(e) for e in errors_of(df)] == [True, False, True, True, False, True]


def test_blank_and_broken_json_lines(tmp_path, model):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": 1, "text": T[0]}, ensure_ascii=False), "", "{not json", "[1, 2]", "null",
             json.dumps({"id": 6, "text": T[1]}, ensure_ascii=False), '{"id": 7, "te']
    src.write_text("\n".join(lines), encoding="utf-8")
    df = run(model, src)
    assert len(df) == len(lines)
    assert [bool(e) for e in errors_of(df)] == [False, True, True, True, True, False, True]


def test_duplicated_header_names(tmp_path, model):
    src = tmp_path / "in.csv"
    src.write_text(f"id,text,text,id\n1,{T[0]},{T[1]},a\n2,{T[2]},x,b\n", encoding="utf-8")
    df = run(model, src)
    assert len(df) == 2
    assert_labelled(df, 0)
    assert_labelled(df, 1)
    assert list(df["text"]) == [T[0], T[2]]  # the first column of that name is the text; none is lost
    assert sum(c.startswith("text") for c in df.columns) == 2 and sum(c.startswith("id") for c in df.columns) == 2


def test_duplicated_header_names_in_xlsx(tmp_path, model):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["text", "text", None, ""])
    ws.append([T[0], T[1], "x", "y"])
    ws.append([T[2], None, None, None])
    src = tmp_path / "in.xlsx"
    wb.save(src)
    df = run(model, src)
    assert len(df) == 2 and list(df["text"]) == [T[0], T[2]]


def test_ragged_rows(tmp_path, model):
    src = tmp_path / "in.csv"
    src.write_text(f"id,text\n1,{T[0]}\n2\n3,{T[1]}\n", encoding="utf-8")
    df = run(model, src)
    assert len(df) == 3
    assert_row_error(df, 1, "empty")


def test_lone_surrogate_in_json_lines_is_one_row_error(tmp_path, model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "房产证\\ud800交上去半年了"}\n' + json.dumps({"id": 2, "text": T[1]}) + "\n",
                   encoding="utf-8")
    df = run(model, src)
    assert len(df) == 2
    assert errors_of(df)[0] and not errors_of(df)[1]


# -- several sheets ------------------------------------------------------------------------------------------------
def _two_sheets(path: Path) -> None:
    with pd.ExcelWriter(path) as w:
        pd.DataFrame({"id": [1, 2], "text": T[:2]}).to_excel(w, sheet_name="一月", index=False)
        pd.DataFrame({"id": [3, 4, 5], "text": T}).to_excel(w, sheet_name="二月", index=False)


def test_xlsx_with_several_sheets_loses_no_letter(tmp_path, model):
    src = tmp_path / "in.xlsx"
    _two_sheets(src)
    out = tmp_path / "out.csv"
    try:
        summary = label_file(src, out, model=model)
    except DataError as e:  # refusing the file, naming its sheets, is fine too
        assert "二月" in str(e) or "sheet" in str(e).lower()
        return
    text = json.dumps(summary.to_dict(), ensure_ascii=False) + summary.render()
    assert summary.rows == 5 or "二月" in text, "rows on the second sheet were dropped without a word"


def test_xlsx_first_sheet_rows_are_all_there(tmp_path, model):
    src = tmp_path / "in.xlsx"
    _two_sheets(src)
    df = run(model, src)
    assert list(df["id"]) == ["1", "2"] and all(not e for e in errors_of(df))


# -- truncated and empty files: one clear error for the file, no output ----------------------------------------------
def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _frame(n=30) -> pd.DataFrame:
    return pd.DataFrame({"id": range(n), "text": [T[i % 3] for i in range(n)]})


TRUNCATED = {
    "xlsx": lambda p: (_frame().to_excel(p, index=False), _truncate(p)),
    "parquet": lambda p: (_frame().to_parquet(p, index=False), _truncate(p)),
    "csv-inside-quotes": lambda p: p.write_text(f'id,text\n1,{T[0]}\n2,"{T[1]}\n', encoding="utf-8"),
    "csv-empty": lambda p: p.write_bytes(b""),
    "xlsx-empty": lambda p: p.write_bytes(b""),
    "parquet-empty": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("kind", TRUNCATED)
def test_truncated_file_is_one_clear_error(tmp_path, trained_dir, capsys, kind):
    src = tmp_path / f"in.{kind.split('-')[0]}"
    TRUNCATED[kind](src)
    out = tmp_path / "out.csv"
    rc = main(["batch", str(src), "-o", str(out), "--model", str(trained_dir)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 1 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]  # no temporary file left either


def test_truncated_json_lines_keep_every_complete_row(tmp_path, model):
    src = tmp_path / "in.jsonl"
    _frame(10).to_json(src, orient="records", lines=True, force_ascii=False)
    _truncate(src, 0.95)
    df = run(model, src)
    assert len(df) == 10 and errors_of(df)[-1] and not any(errors_of(df)[:-1])


def test_truncated_csv_keeps_every_row(tmp_path, model):
    src = tmp_path / "in.csv"
    _frame(10).to_csv(src, index=False)
    _truncate(src, 0.97)
    df = run(model, src)
    assert len(df) == 10


def test_header_only_file_gives_an_empty_output(tmp_path, model):
    src = tmp_path / "in.csv"
    src.write_text("id,text\n", encoding="utf-8")
    assert len(run(model, src)) == 0


def test_evaluate_skips_a_blank_row(tmp_path, trained_dir, capsys):
    src = tmp_path / "in.csv"
    src.write_text(f"text,category,unit\n{T[0]},slow,land\n   ,slow,land\n{T[1]},slow,police\n", encoding="utf-8")
    assert main(["evaluate", "--model", str(trained_dir), "--data", str(src)]) == 0


# -- SIGKILL mid-run, then a re-run --------------------------------------------------------------------------------
def test_sigkill_leaves_no_output_and_rerun_completes(tmp_path, trained_dir, model):
    n = 48_000  # about 1.8 s here with the C kernels; 12,000 rows could finish before the kill below
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"{T[i % 3]}（第{i}封）" for i in range(n)]}).to_csv(
        src, index=False)
    out = tmp_path / "out.csv"
    argv = ["batch", str(src), "-o", str(out), "--model", str(trained_dir), "--chunksize", "200"]
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from triage.cli import main; sys.exit(main())", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while not any(p.name.endswith(".part") and p.stat().st_size > 0 for p in tmp_path.iterdir()):
            assert proc.poll() is None, "the batch finished before it could be killed; use a bigger file"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # well into the run: several chunks written
        assert proc.poll() is None
        workers = psutil.Process(proc.pid).children()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert workers, "the run should have had worker processes"
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "worker processes outlived the killed batch"
    assert not out.exists(), "a killed run left an output file"
    leftovers = [p for p in tmp_path.iterdir() if p.name not in ("in.csv",)]
    assert all(p.name.startswith(".out.csv.") and p.name.endswith(".part") for p in leftovers), leftovers

    assert main(argv) == 0  # the re-run
    df = read_out(out)
    assert len(df) == n and list(df["id"]) == [f"r{i}" for i in range(n)]
    assert not any(errors_of(df))
    expected = [p.category for p in model.classify_many([f"{T[i % 3]}（第{i}封）" for i in range(0, n, 997)])]
    assert list(df["category"].iloc[::997]) == expected
