"""triage batch: formats, encodings, the error column, row order, atomic output, --jobs and the Dask engine."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from triage.batch import RESULT_COLUMNS, label_file, label_frame
from triage.cli import main
from triage.errors import DataError

TEXTS = [
    "房产证交上去半年了还没办下来，每次去问都说再等等",
    "东坝派出所办户口等了一上午窗口没人",
    "",
    "医保报销材料交了四个月钱还没到账",
    "   ",
    "学校食堂饭菜太贵，老师上课玩手机",
]
EMPTY_ROWS = {2, 4}


def frame(n: int = 1) -> pd.DataFrame:
    texts = TEXTS * n
    return pd.DataFrame({"id": [f"r{i:04d}" for i in range(len(texts))], "text": texts, "note": ["备注"] * len(texts)})


def write_input(df: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    fmt = path.suffix
    if fmt == ".csv":
        df.to_csv(path, index=False, encoding=encoding)
    elif fmt == ".xlsx":
        df.to_excel(path, index=False)
    elif fmt == ".jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        df.to_parquet(path, index=False)
    return path


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if path.suffix == ".xlsx":
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


def check_result(out: pd.DataFrame, n_rows: int) -> None:
    assert len(out) == n_rows
    assert list(out.columns) == ["id", "text", "note", *RESULT_COLUMNS]
    assert list(out["id"]) == [f"r{i:04d}" for i in range(n_rows)]  # same rows, same order
    for i in range(n_rows):
        failed = i % len(TEXTS) in EMPTY_ROWS
        assert bool(out["error"].iloc[i] not in (None, "") and out["error"].iloc[i] == out["error"].iloc[i]) == failed
        assert (out["category"].iloc[i] in (None, "") or out["category"].iloc[i] != out["category"].iloc[i]) == failed


@pytest.mark.parametrize("src", [".csv", ".xlsx", ".jsonl", ".parquet"])
@pytest.mark.parametrize("dst", [".csv", ".xlsx", ".jsonl", ".parquet"])
def test_every_format_in_and_out(tmp_path, model, src, dst):
    inp = write_input(frame(2), tmp_path / f"in{src}")
    summary = label_file(inp, tmp_path / f"out{dst}", model=model, chunksize=5)
    check_result(read_output(tmp_path / f"out{dst}"), 12)
    assert (summary.rows, summary.errors) == (12, 4)
    assert sum(summary.by_category.values()) == 8


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_give_the_same_labels(tmp_path, model, encoding):
    inp = write_input(frame(), tmp_path / "in.csv", encoding)
    label_file(inp, tmp_path / "out.csv", model=model)
    out = read_output(tmp_path / "out.csv")
    check_result(out, len(TEXTS))
    assert out["text"].iloc[1] == TEXTS[1]
    ref = label_frame(model, frame(), ["text"])
    assert list(out["category"]) == ["" if pd.isna(c) else c for c in ref["category"]]


def test_damaged_rows_get_an_error_and_are_never_dropped(tmp_path, model):
    lines = [
        "id,text",
        "a,派出所办户口等了一上午",
        "b,房产证半年没办下来\x00还要等",  # NUL byte: still classified
        "c,医保报销" + "\udcff",  # placeholder, replaced by a raw bad byte below
        "",  # blank line: a row with empty text
        "d," + "很" * 1_000_000,  # 3 MB cell: over the length cap
        'e,"多行\n文本，学校收费"',
        "f,",
    ]
    raw = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    (tmp_path / "in.csv").write_bytes(raw)
    s = label_file(tmp_path / "in.csv", tmp_path / "out.parquet", model=model, id_col="id")
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 7 and s.rows == 7
    errors = [None if pd.isna(e) else e for e in out["error"]]
    assert errors[0] is None and errors[1] is None and errors[5] is None
    assert "not valid in the file's encoding" in errors[2]
    assert "empty" in errors[3] and "limit" in errors[4] and "empty" in errors[6]
    assert out["category"].notna().tolist() == [e is None for e in errors]
    assert s.errors == 4 and s.error_rows[0] == "c"


def test_bad_json_lines_are_rows_with_errors(tmp_path, model):
    body = '{"text": "派出所办户口等了一上午"}\nnot json\n[1, 2]\n\n{"text": "学校收费太高", "extra": 1}\n'
    (tmp_path / "in.jsonl").write_text(body, encoding="utf-8")
    label_file(tmp_path / "in.jsonl", tmp_path / "out.jsonl", model=model, chunksize=2)
    out = pd.read_json(tmp_path / "out.jsonl", lines=True, dtype=False)
    assert len(out) == 5 and "extra" in out.columns
    assert out["error"].isna().tolist() == [True, False, False, False, True]
    assert "not valid JSON" in out["error"].iloc[1] and "blank" in out["error"].iloc[3]


def test_text_columns_are_joined_and_clashing_inputs_kept(tmp_path, model):
    df = pd.DataFrame({"title": ["户口", ""], "text": ["", "   "], "category": ["slow", "lax"]})
    s = label_file(write_input(df, tmp_path / "in.csv"), tmp_path / "out.csv", model=model, text_cols=["title", "text"])
    out = read_output(tmp_path / "out.csv")
    assert list(out["input_category"]) == ["slow", "lax"]
    assert out["error"].tolist()[0] == "" and "empty" in out["error"].iloc[1]
    assert s.renamed_columns == ["category → input_category"]


def test_refuses_to_overwrite_input(tmp_path, model):
    inp = write_input(frame(), tmp_path / "in.csv")
    before = inp.read_bytes()
    with pytest.raises(DataError, match="is the input file"):
        label_file(inp, tmp_path / "." / "in.csv", model=model)
    assert inp.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_missing_column_and_unknown_format_say_what_to_do(tmp_path, model):
    inp = write_input(frame(), tmp_path / "in.csv")
    with pytest.raises(DataError, match="--text-col"):
        label_file(inp, tmp_path / "out.csv", model=model, text_cols=["body"])
    with pytest.raises(DataError, match="extension"):
        label_file(inp, tmp_path / "out.doc", model=model)
    assert not (tmp_path / "out.csv").exists()


class Exploding:
    """A model that fails on its third chunk, as a crash mid-run would."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def build_lookup_tables(self):
        self.model.build_lookup_tables()
        return self

    def classify_table(self, texts, **kw):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("boom")
        return self.model.classify_table(texts, **kw)


@pytest.mark.parametrize("dst", [".csv", ".parquet", ".xlsx"])
def test_failure_mid_run_leaves_no_output(tmp_path, model, dst):
    inp = write_input(frame(5), tmp_path / "in.csv")
    out = tmp_path / f"out{dst}"
    with pytest.raises(RuntimeError, match="boom"):
        label_file(inp, out, model=Exploding(model), chunksize=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no output, no temporary file


def test_killed_run_leaves_no_output(tmp_path, trained_dir):
    inp = write_input(frame(2000), tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from triage.cli import main; sys.exit(main(sys.argv[1:]))", "batch", str(inp), "-o", str(out), "--model", str(trained_dir), "--chunksize", "50"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".part") and p.stat().st_size > 0 for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "batch ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()


@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs_give_the_same_output(tmp_path, model, jobs):
    """Each chunk of 5 goes out in ``jobs`` slices (3 + 2, or 2 + 2 + 1) and comes back in order."""
    inp = write_input(frame(4), tmp_path / "in.csv")
    label_file(inp, tmp_path / "one.csv", model=model, chunksize=5)
    s = label_file(inp, tmp_path / "two.csv", model=model, chunksize=5, jobs=jobs)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert s.rows == 24


def test_one_chunk_file_is_labelled_without_workers(tmp_path, model, monkeypatch):
    import triage.batch as batch

    started = []
    monkeypatch.setattr(batch, "_run_pool", lambda *a: started.append(a) or (c for c in ()))
    inp = write_input(frame(1), tmp_path / "in.csv")  # 6 rows: one chunk of 10
    s = label_file(inp, tmp_path / "out.csv", model=model, chunksize=10, jobs=2)
    assert s.rows == 6 and not started
    label_file(inp, tmp_path / "two.csv", model=model, chunksize=5, jobs=2)  # two chunks: the pool starts
    assert len(started) == 1


def test_default_jobs_is_one_per_usable_core(tmp_path, model):
    from triage.batch import usable_cores

    assert 1 <= usable_cores() <= (os.cpu_count() or 1)
    inp = write_input(frame(4), tmp_path / "in.csv")
    label_file(inp, tmp_path / "one.csv", model=model, chunksize=5)
    label_file(inp, tmp_path / "auto.csv", model=model, chunksize=5, jobs=None)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "auto.csv").read_bytes()


def test_dask_engine_on_a_local_cluster(tmp_path, model):
    distributed = pytest.importorskip("distributed")
    inp = write_input(frame(4), tmp_path / "in.jsonl")
    label_file(inp, tmp_path / "local.parquet", model=model, chunksize=5)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            s = label_file(inp, tmp_path / "dask.parquet", model=model, chunksize=5, engine="dask", scheduler=client)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "dask.parquet"))
    assert (s.rows, s.errors) == (24, 8)


def test_cli_prints_a_summary_without_texts(tmp_path, trained_dir, capsys):
    inp = write_input(frame(), tmp_path / "in.csv")
    code = main(["batch", str(inp), "-o", str(tmp_path / "out.jsonl"), "--model", str(trained_dir), "--id-col", "id", "--json"])
    assert code == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed)
    assert summary["rows"] == 6 and summary["errors"] == 2 and summary["error_rows"] == ["r0002", "r0004"]
    assert not any(t and t in printed for t in TEXTS if t.strip())
    assert main(["batch", str(inp), "-o", str(inp), "--model", str(trained_dir)]) == 1
    assert "input file" in capsys.readouterr().err


def test_label_frame_keeps_index_order_and_columns(model):
    df = frame().set_index(pd.Index([9, 3, 7, 1, 5, 0]))
    out = label_frame(model, df, ["text"])
    assert list(out["id"]) == list(df["id"]) and out.columns[-len(RESULT_COLUMNS):].tolist() == RESULT_COLUMNS
    assert os.linesep not in "".join(out["error"].dropna())


def test_xlsx_sheets_other_than_the_one_read_are_named(tmp_path, model):
    from triage.batch import label_file

    src = tmp_path / "two.xlsx"
    with pd.ExcelWriter(src) as w:
        pd.DataFrame({"text": ["东坝派出所窗口没人", "医保报销拖了半年"]}).to_excel(w, sheet_name="一月", index=False)
        pd.DataFrame({"text": ["城管随便罚款", "低保评定不公", "电费太贵"]}).to_excel(w, sheet_name="二月", index=False)
    first = label_file(src, tmp_path / "a.csv", model=model)
    assert first.rows == 2 and first.unread_sheets == ["二月"] and "二月" in first.render()
    second = label_file(src, tmp_path / "b.csv", model=model, sheet="二月")
    assert second.rows == 3 and second.unread_sheets == ["一月"]
    with pytest.raises(DataError, match="no sheet '三月'"):
        label_file(src, tmp_path / "c.csv", model=model, sheet="三月")


def test_output_gets_ordinary_permissions(tmp_path, model):
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": ["东坝派出所窗口没人"]}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    label_file(src, out, model=model)
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_file_of_several_chunks_builds_the_lookup_tables_first(tmp_path, trained_dir):
    """On one process too: the compiled segmenter and the registry's DFA scanners serve every chunk."""
    from triage.predictor import Predictor

    fresh = Predictor.from_dir(trained_dir)
    label_file(write_input(frame(1), tmp_path / "one.csv"), tmp_path / "one_out.csv", model=fresh, chunksize=1000,
               jobs=1)
    assert fresh.words._segmenter is None and not fresh.registry._names._dfa  # one chunk: not worth building
    label_file(write_input(frame(30), tmp_path / "in.csv"), tmp_path / "out.csv", model=fresh, chunksize=10, jobs=1)
    assert fresh.words._segmenter is not None and fresh.registry._names._dfa
