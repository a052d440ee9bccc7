"""``triage report``: a self-contained HTML summary of a labelled file, in Chinese: tables plus inline SVG charts
whose labels (category and unit names) stay text, so the reader's browser fonts draw them.

The file is read in chunks, so any size that ``triage batch`` wrote can be summarised in bounded memory.
No complaint text is shown; labels and names pass through :func:`triage.text.mask_pii` all the same.
With figures from the letter store (:func:`review_figures`) the report adds a review section.
"""
from __future__ import annotations

import csv
import html
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from . import paths
from .charts import bar_chart, line_chart, share_bar
from .errors import DataError
from .io import ChunkReader, atomic_output, check_columns
from .text import mask_pii

REQUIRED = ["category", "unit", "needs_review", "error"]
#: Column names tried, in order, for the monthly trend when none is given.
DATE_COLUMNS = ("date", "submitted_at", "created_at", "received_at", "time", "datetime", "日期", "时间", "提交时间", "来信时间")
TOP_UNITS = 15
#: Store statuses as the report names them.
STATUS_NAMES = {"routed": "已自动分派", "needs_review": "待复核", "reviewed": "已复核"}
HEAD_NAMES = {"category": "类别", "unit": "责任单位"}
STATUS_COLORS = {"routed": "#4c9a6a", "needs_review": "#e0a030", "reviewed": "#3b6ea5"}


@dataclass
class Tally:
    """Counts gathered from a labelled file, one chunk at a time."""

    rows: int = 0
    errors: int = 0
    needs_review: int = 0
    category: Counter = field(default_factory=Counter)
    unit: Counter = field(default_factory=Counter)
    pair: Counter = field(default_factory=Counter)
    month: Counter = field(default_factory=Counter)
    month_review: Counter = field(default_factory=Counter)
    names: dict[str, str] = field(default_factory=dict)
    date_col: str | None = None

    def add(self, df: pd.DataFrame) -> None:
        self.rows += len(df)
        ok = df["error"].isna() | (df["error"].astype(str) == "")
        self.errors += int((~ok).sum())
        df = df[ok]
        review = df["needs_review"].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))
        self.needs_review += int(review.sum())
        cats, units = df["category"].astype(str), df["unit"].astype(str)
        self.category.update(cats)
        self.unit.update(units)
        self.pair.update(zip(cats, units))
        for key, name in (("category", "category_name"), ("unit", "unit_name")):
            if name in df.columns:
                self.names.update((k, n) for k, n in zip(df[key].astype(str), df[name]) if isinstance(n, str) and n)
        if self.date_col:
            months = pd.to_datetime(df[self.date_col], errors="coerce", format="mixed").dt.strftime("%Y-%m")
            self.month.update(months.dropna())
            self.month_review.update(months[review].dropna())


def tally_file(path: str | Path, *, date_col: str | None = None, chunksize: int = 50_000) -> Tally:
    """Read a labelled file (``triage batch`` output) in chunks and count what the report shows."""
    tally = Tally()
    for i, chunk in enumerate(ChunkReader(path, chunksize)):
        if i == 0:
            check_columns(chunk, REQUIRED, path)
            if date_col:
                check_columns(chunk, [date_col], path)
            tally.date_col = date_col or next((c for c in DATE_COLUMNS if c in chunk.columns), None)
        tally.add(chunk)
    if tally.rows == 0:
        raise DataError(f"{path} has no rows; run `triage batch` on a non-empty file first.")
    return tally


# --- names -------------------------------------------------------------------------------------------------
def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@dataclass
class Names:
    """Display names: ``慢 · 工作拖拉`` for a category, the official name for a unit; the id when none is known."""

    category: dict[str, str] = field(default_factory=dict)
    unit: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, tally: Tally | None = None, categories_csv: Path = paths.CATEGORIES_CSV,
             units_csv: Path = paths.UNITS_CSV) -> Names:
        """Names from the registry files, then the names the labelled file itself carries (the model's own)."""
        names = cls({"unknown": "未能确定"}, {"unknown": "未能确定"})
        for r in _read_csv(Path(categories_csv)):
            char, name = r.get("char", "").strip(), r.get("name", "").strip() or r["id"]
            names.category[r["id"]] = f"{char} · {name}" if char and char not in "—-" else name
        names.unit.update((r["id"], r.get("name") or r["id"]) for r in _read_csv(Path(units_csv)))
        if tally is not None:
            for k, n in tally.names.items():
                if k in tally.category and k not in names.category:
                    names.category[k] = n
                if k in tally.unit:
                    names.unit[k] = n
        return names

    def of_category(self, c: str) -> str:
        return self.category.get(c, c)

    def of_unit(self, u: str) -> str:
        return self.unit.get(u, u)


# --- HTML --------------------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape(mask_pii(str(value)))


def _count_table(counts: Counter, name_of, total: int) -> str:
    rows = "".join(
        f"<tr><td>{_e(name_of(k))}</td><td><code>{_e(k)}</code></td><td class=n>{v:,}</td>"
        f"<td class=n>{v / max(total, 1):.1%}</td></tr>"
        for k, v in counts.most_common()
    )
    return f"<table><tr><th>名称</th><th>编号</th><th>来信</th><th>占比</th></tr>{rows}</table>"


def _cross_table(tally: Tally, names: Names) -> str:
    units = [u for u, _ in tally.unit.most_common(TOP_UNITS)]
    rest = len(tally.unit) > len(units)
    head = "".join(f"<th>{_e(names.of_unit(u))}</th>" for u in units) + ("<th>其他单位</th>" if rest else "")
    body = []
    for cat, _ in tally.category.most_common():
        cells = [tally.pair[(cat, u)] for u in units]
        if rest:
            cells.append(tally.category[cat] - sum(cells))
        body.append(f"<tr><th>{_e(names.of_category(cat))}</th>"
                    + "".join(f"<td class=n>{c:,}</td>" if c else "<td></td>" for c in cells) + "</tr>")
    return f"<table class=cross><tr><th>类别 \\ 单位</th>{head}</tr>{''.join(body)}</table>"


def _month_table(tally: Tally) -> str:
    rows = "".join(f"<tr><td>{_e(m)}</td><td class=n>{tally.month[m]:,}</td><td class=n>{tally.month_review[m]:,}</td></tr>"
                   for m in sorted(tally.month))
    return f"<table><tr><th>月份</th><th>来信</th><th>需复核</th></tr>{rows}</table>"


def review_figures(store: Any) -> dict[str, Any]:
    """The review section's figures from a letter store: its :meth:`stats` plus, per head, how many reviewed
    letters got a final answer other than the model's (``corrected_by_head``); reads the reviewed letters once."""
    stats = dict(store.stats())
    by_head = Counter({"category": 0, "unit": 0})
    for letter in store.reviewed():
        by_head["category"] += letter.review.category != letter.category
        by_head["unit"] += letter.review.unit != letter.unit
    stats["corrected_by_head"] = dict(by_head)
    return stats


def review_section(stats: dict[str, Any]) -> str:
    """The review section: letters by status, reviewed, corrected (in all and by head), overdue and the
    confirmation rate (reviewed letters whose model answer the clerk kept on both heads)."""
    reviewed, corrected = int(stats.get("reviewed", 0)), int(stats.get("corrected", 0))
    rate = f"{(reviewed - corrected) / reviewed:.1%}" if reviewed else "—"
    kpi = [("入库来信", stats.get("total", 0)), ("已复核", reviewed), ("复核改判", corrected),
           ("超期待复核", stats.get("overdue", 0))]
    parts = ["<h2>复核情况</h2><p class=kpi>", *(f"<span>{k} <b>{int(v):,}</b></span>" for k, v in kpi),
             f"<span>确认率 <b>{rate}</b></span></p>",
             ("<p>确认率：已复核来信中，复核人员保留模型答案（类别和单位都未改）的比例。"
             "超期待复核：过了办结时限仍在待复核队列中的来信。</p>")]
    status = stats.get("by_status") or {}
    if any(status.values()):
        parts.append(share_bar([(STATUS_NAMES.get(s, s), int(v)) for s, v in status.items()], "入库来信按状态",
                               colors=[STATUS_COLORS.get(s, "#999") for s in status]))
    by_head = stats.get("corrected_by_head") or {}
    if by_head:
        rows = "".join(f"<tr><td>{HEAD_NAMES.get(h, _e(h))}</td><td class=n>{int(v):,}</td>"
                       f"<td class=n>{(int(v) / reviewed if reviewed else 0):.1%}</td></tr>" for h, v in by_head.items())
        parts.append(f"<table><tr><th>改判的判断</th><th>来信</th><th>占已复核</th></tr>{rows}</table>")
    return "".join(parts)


_CSS = """body{font-family:system-ui,"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;
margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em}th{background:#f0f3f7}
td.n{text-align:right;font-variant-numeric:tabular-nums}.cross td,.cross th{font-size:.85em}
svg.chart{display:block;max-width:100%;height:auto;margin:.5em 0 1em}svg.chart text{fill:#222}
.kpi span{display:inline-block;margin-right:2em;font-size:1.1em}.kpi b{font-size:1.4em}"""


def render_html(tally: Tally, source: str, review: dict[str, Any] | None = None, names: Names | None = None) -> str:
    """The report as one HTML string with every chart inline; with ``review`` (store stats) a review section."""
    names = names or Names.load(tally)
    labelled = tally.rows - tally.errors
    cats = [(names.of_category(k), v) for k, v in tally.category.most_common()]
    units = [(names.of_unit(k), v) for k, v in tally.unit.most_common(TOP_UNITS * 2)]
    share = [("自动分派", labelled - tally.needs_review), ("需复核", tally.needs_review), ("无法分类", tally.errors)]
    parts = [
        f"<!doctype html><html lang=zh-CN><meta charset=utf-8><title>分诊报告：{_e(Path(source).name)}</title>",
        f"<style>{_CSS}</style><h1>来信分诊报告</h1>",
        f"<p>{_e(Path(source).name)} · 生成于 {datetime.now():%Y-%m-%d %H:%M}</p><p class=kpi>",
        f"<span>来信 <b>{tally.rows:,}</b></span><span>已分类 <b>{labelled:,}</b></span>",
        f"<span>无法分类 <b>{tally.errors:,}</b></span>",
        f"<span>需复核 <b>{tally.needs_review:,}</b>（占已分类 {tally.needs_review / max(labelled, 1):.1%}）</span></p>",
        "<h2>需复核占比</h2>", share_bar(share, "自动分派、需复核与无法分类的来信"),
    ]
    if review is not None:
        parts.append(review_section(review))
    parts += [
        "<h2>按作风类别</h2>", bar_chart(cats, "各作风类别来信数"),
        _count_table(tally.category, names.of_category, labelled),
        "<h2>按责任单位</h2>", bar_chart(units, f"各责任单位来信数（前 {TOP_UNITS * 2} 个）"),
        _count_table(tally.unit, names.of_unit, labelled),
        f"<h2>类别 × 单位</h2><p>来信最多的 {TOP_UNITS} 个单位。</p>", _cross_table(tally, names),
    ]
    if tally.month:
        months = sorted(tally.month)
        trend = line_chart(months, [("来信", [tally.month[m] for m in months]),
                                    ("需复核", [tally.month_review[m] for m in months])],
                           f"每月来信（按 {tally.date_col} 列）")
        parts += ["<h2>月度趋势</h2>", trend, _month_table(tally)]
    elif tally.date_col is None:
        parts.append("<p>文件中没有日期列，因此没有月度趋势；可用 <code>--date-col</code> 指定日期列。</p>")
    return "".join(parts) + "</html>\n"


def write_report(labelled_path: str | Path, report_path: str | Path, *, date_col: str | None = None,
                 review: dict[str, Any] | None = None) -> Tally:
    """Write the HTML report of ``labelled_path`` to ``report_path`` (atomically) and return the counts.

    ``review``: figures from the letter store (:func:`review_figures`), for the review section.
    """
    tally = tally_file(labelled_path, date_col=date_col)
    page = render_html(tally, str(labelled_path), review)
    with atomic_output(report_path, [labelled_path]) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return tally
