"""triage report: a self-contained Chinese HTML page with tables, inline SVG charts and no complaint text."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from triage.batch import label_file
from triage.charts import bar_chart, text_width
from triage.cli import main
from triage.errors import DataError
from triage.report import Names, render_html, review_section, tally_file, write_report
from triage.train import load_categories

TEXTS = ["东坝派出所办户口等了一上午窗口没人，电话13812345678", "房产证交上去半年了还没办下来", "", "医保报销材料交了四个月钱还没到账"]
SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def svg_texts(page: str) -> list[str]:
    """Every ``<text>`` of every inline chart, parsed as XML (so a chart that is not well formed fails here)."""
    return [t.text or "" for svg in SVG.findall(page) for t in ET.fromstring(svg).iter("text")]


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


def test_report_has_tables_svg_charts_and_trend(labelled, tmp_path):
    tally = write_report(labelled, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert (tally.rows, tally.errors, tally.date_col) == (8, 2, "submitted_at")
    assert dict(tally.month) == {"2019-01": 2, "2019-02": 1, "2019-03": 2}  # the error rows and a bad date drop out
    assert len(SVG.findall(page)) == 4 and "<img" not in page and "base64" not in page  # review, category, unit, trend
    for heading in ("按作风类别", "按责任单位", "类别 × 单位", "月度趋势", "需复核占比"):
        assert f"<h2>{heading}" in page
    assert "2019-03" in svg_texts(page) and "http" not in page  # nothing fetched from outside
    assert not any(t and t[:8] in page for t in TEXTS)
    assert "13812345678" not in page


def test_chart_labels_are_chinese_names_as_text_not_ids(labelled, tmp_path, model):
    tally = write_report(labelled, tmp_path / "r.html")
    texts = svg_texts((tmp_path / "r.html").read_text(encoding="utf-8"))
    info = {c.id: c for c in load_categories()}
    for cat in tally.category:
        char, name = info[cat].char, info[cat].name
        assert (f"{char} · {name}" if char != "—" else name) in texts
        assert cat not in texts
    for unit in tally.unit:
        assert model.registry.name_of(unit) in texts
        assert unit not in texts
    assert any(re.search("[\u4e00-\u9fff]", t) and " · " in t for t in texts)


def test_bar_chart_leaves_room_for_the_longest_name():
    svg = bar_chart([("东坝镇人民政府", 5), ("a", 3)], "图")
    root = ET.fromstring(svg)
    label = next(t for t in root.iter("text") if t.text == "东坝镇人民政府")
    assert float(label.get("x")) >= text_width("东坝镇人民政府") and label.get("text-anchor") == "end"
    widths = [float(r.get("width")) for r in root.iter("rect")]
    assert widths[0] > widths[1] > 0  # bars scale with the counts
    assert "&lt;b&gt;" in bar_chart([("<b>", 1)], "x")  # names are escaped


def test_review_section_figures():
    page = review_section({"total": 40, "by_status": {"routed": 20, "needs_review": 12, "reviewed": 8},
                           "reviewed": 8, "corrected": 3, "corrected_by_head": {"category": 2, "unit": 2}, "overdue": 4})
    assert "复核情况" in page and "确认率 <b>62.5%</b>" in page  # (8 - 3) / 8
    assert "已复核 <b>8</b>" in page and "超期待复核 <b>4</b>" in page and "复核改判 <b>3</b>" in page
    assert "<td>类别</td><td class=n>2</td><td class=n>25.0%</td>" in page
    assert "待复核" in "".join(svg_texts(page))  # statuses by name in the share bar


def test_report_with_db_adds_the_stores_review_figures(labelled, tmp_path, model, monkeypatch):
    from triage.store import open_store

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    texts = [t for t in TEXTS if t]
    store = open_store(url)
    letters = store.add([{"text": t, "source": "box"} for t in texts], model.classify_many(texts), "sha")
    other = "slow" if letters[0].category != "slow" else "lax"
    store.review(letters[0].id, version=1, category=other, unit=letters[0].unit, by="clerk", note="")
    store.review(letters[1].id, version=1, category=letters[1].category, unit=letters[1].unit, by="clerk", note="")
    store.close()
    monkeypatch.delenv("TRIAGE_DB_URL", raising=False)
    assert main(["report", str(labelled), "-o", str(tmp_path / "r.html"), "--db", url]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "入库来信 <b>3</b>" in page and "已复核 <b>2</b>" in page and "复核改判 <b>1</b>" in page
    assert "确认率 <b>50.0%</b>" in page
    assert "<td>类别</td><td class=n>1</td>" in page and "<td>责任单位</td><td class=n>0</td>" in page
    monkeypatch.setenv("TRIAGE_DB_URL", url)  # the same figures from the environment
    assert main(["report", str(labelled), "-o", str(tmp_path / "r2.html")]) == 0
    assert "已复核 <b>2</b>" in (tmp_path / "r2.html").read_text(encoding="utf-8")


def test_report_without_date_column_says_how_to_add_one(tmp_path, model):
    pd.DataFrame({"text": TEXTS}).to_json(tmp_path / "in.jsonl", orient="records", lines=True, force_ascii=False)
    label_file(tmp_path / "in.jsonl", tmp_path / "out.csv", model=model)
    assert main(["report", str(tmp_path / "out.csv")]) == 0
    page = (tmp_path / "out.csv.report.html").read_text(encoding="utf-8")
    assert "--date-col" in page and "<h2>月度趋势" not in page and "复核情况" not in page
    assert tally_file(tmp_path / "out.csv").rows == 4


def test_unknown_ids_fall_back_to_the_files_names_then_the_id(labelled):
    tally = tally_file(labelled)
    tally.category["novel"] = 1
    tally.unit["newunit"] = 1
    tally.names["newunit"] = "新设单位"
    names = Names.load(tally)
    assert names.of_unit("newunit") == "新设单位" and names.of_category("novel") == "novel"
    assert "新设单位" in svg_texts(render_html(tally, "x.csv", names=names))


def test_report_refuses_an_unlabelled_file(tmp_path):
    pd.DataFrame({"text": TEXTS}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError, match="category"):
        write_report(tmp_path / "in.csv", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
