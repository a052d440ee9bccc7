"""triage report: a self-contained HTML page with tables, inlined charts and no complaint text."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from triage.batch import label_file
from triage.cli import main
from triage.errors import DataError
from triage.report import tally_file, write_report

TEXTS = ["东坝派出所办户口等了一上午窗口没人，电话13812345678", "房产证交上去半年了还没办下来", "", "医保报销材料交了四个月钱还没到账"]


@pytest.fixture
def labelled(tmp_path, model):
    df = pd.DataFrame({
        "id": range(8),
        "text": TEXTS * 2,
        "submitted_at": ["2019/1/5 10:00:00", "2019/1/20", "2019/2/1", "2019-02-14", "2019/3/3", "bad date", "2019/3/9", "2019/3/30"],
    })
    df.to_csv(tmp_path / "in.csv", index=False)
    label_file(tmp_path / "in.csv", tmp_path / "out.parquet", model=model)
    return tmp_path / "out.parquet"


def test_report_has_tables_charts_and_trend(labelled, tmp_path):
    tally = write_report(labelled, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert (tally.rows, tally.errors, tally.date_col) == (8, 2, "submitted_at")
    assert dict(tally.month) == {"2019-01": 2, "2019-02": 1, "2019-03": 2}  # the error rows and a bad date drop out
    assert len(re.findall(r"src='data:image/png;base64,[A-Za-z0-9+/=]{100,}'", page)) == 4  # review, category, unit, trend
    for heading in ("By category", "By responsible unit", "Category × unit", "Monthly trend", "Share needing review"):
        assert heading in page
    assert "2019-03" in page and "http" not in page.replace("http-equiv", "")  # nothing fetched from outside
    assert not any(t and t[:8] in page for t in TEXTS)
    assert "13812345678" not in page


def test_report_without_date_column_says_how_to_add_one(tmp_path, model):
    pd.DataFrame({"text": TEXTS}).to_json(tmp_path / "in.jsonl", orient="records", lines=True, force_ascii=False)
    label_file(tmp_path / "in.jsonl", tmp_path / "out.csv", model=model)
    assert main(["report", str(tmp_path / "out.csv")]) == 0
    page = (tmp_path / "out.csv.report.html").read_text(encoding="utf-8")
    assert "--date-col" in page and "Monthly trend" not in page
    assert tally_file(tmp_path / "out.csv").rows == 4


def test_report_refuses_an_unlabelled_file(tmp_path):
    pd.DataFrame({"text": TEXTS}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError, match="category"):
        write_report(tmp_path / "in.csv", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
