"""``triage report``: a self-contained HTML summary of a labelled file (tables plus PNG charts inlined as base64).

The file is read in chunks, so any size that ``triage batch`` wrote can be summarised in bounded memory.
No complaint text is shown; labels and names pass through :func:`triage.text.mask_pii` all the same.
"""
from __future__ import annotations

import base64
import html
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from .errors import DataError
from .io import ChunkReader, atomic_output, check_columns
from .text import mask_pii

REQUIRED = ["category", "unit", "needs_review", "error"]
#: Column names tried, in order, for the monthly trend when none is given.
DATE_COLUMNS = ("date", "submitted_at", "created_at", "received_at", "time", "datetime", "日期", "时间", "提交时间", "来信时间")
TOP_UNITS = 15


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
                self.names.update(zip(df[key].astype(str), df[name].astype(str)))
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


# --- charts ------------------------------------------------------------------------------------------------
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bar(counts: Counter, title: str, limit: int | None = None) -> str:
    """Horizontal bars labelled by id (ASCII, so no CJK font is needed); names are in the tables."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = counts.most_common(limit)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#3b6ea5")
    ax.set_title(title)
    ax.set_xlabel("letters")
    for y, (_, v) in enumerate(items):
        ax.text(v, y, f" {v:,}", va="center", fontsize=8)
    return _png(fig)


def _trend(tally: Tally) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = sorted(tally.month)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(months, [tally.month[m] for m in months], marker="o", label="letters")
    ax.plot(months, [tally.month_review[m] for m in months], marker=".", label="needing review")
    ax.set_title(f"Letters per month ({tally.date_col})")
    ax.legend()
    step = max(len(months) // 12, 1)
    ax.set_xticks(range(0, len(months), step), months[::step], rotation=45, ha="right")
    return _png(fig)


def _review_share(tally: Tally) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labelled = tally.rows - tally.errors
    parts = [("auto-routed", labelled - tally.needs_review), ("needs review", tally.needs_review), ("error", tally.errors)]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.pie([v for _, v in parts], labels=[f"{k}\n{v:,}" for k, v in parts], colors=["#4c9a6a", "#e0a030", "#c04040"],
           autopct=lambda p: f"{p:.0f}%" if p else "")
    ax.set_title("Share needing review")
    return _png(fig)


# --- HTML --------------------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape(mask_pii(str(value)))


def _count_table(counts: Counter, names: dict[str, str], head: str, total: int) -> str:
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(names.get(k, ''))}</td><td class=n>{v:,}</td><td class=n>{v / max(total, 1):.1%}</td></tr>"
        for k, v in counts.most_common()
    )
    return f"<table><tr><th>{head}</th><th>name</th><th>letters</th><th>share</th></tr>{rows}</table>"


def _cross_table(tally: Tally) -> str:
    units = [u for u, _ in tally.unit.most_common(TOP_UNITS)]
    rest = len(tally.unit) > len(units)
    head = "".join(f"<th title='{_e(tally.names.get(u, ''))}'>{_e(u)}</th>" for u in units) + ("<th>other</th>" if rest else "")
    body = []
    for cat, _ in tally.category.most_common():
        cells = [tally.pair[(cat, u)] for u in units]
        if rest:
            cells.append(tally.category[cat] - sum(cells))
        body.append(f"<tr><td>{_e(cat)}</td>" + "".join(f"<td class=n>{c:,}</td>" if c else "<td></td>" for c in cells) + "</tr>")
    return f"<table class=cross><tr><th>category \\ unit</th>{head}</tr>{''.join(body)}</table>"


def _month_table(tally: Tally) -> str:
    rows = "".join(f"<tr><td>{_e(m)}</td><td class=n>{tally.month[m]:,}</td><td class=n>{tally.month_review[m]:,}</td></tr>"
                   for m in sorted(tally.month))
    return f"<table><tr><th>month</th><th>letters</th><th>needing review</th></tr>{rows}</table>"


_CSS = """body{font-family:system-ui,"Microsoft YaHei","PingFang SC",sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em}th{background:#f0f3f7}
td.n{text-align:right;font-variant-numeric:tabular-nums}.cross td,.cross th{font-size:.85em}img{max-width:100%}
.kpi span{display:inline-block;margin-right:2em;font-size:1.1em}.kpi b{font-size:1.4em}"""


def render_html(tally: Tally, source: str) -> str:
    """The report as one HTML string with every chart inlined."""
    labelled = tally.rows - tally.errors
    img = lambda b64, alt: f"<img alt='{alt}' src='data:image/png;base64,{b64}'>"  # noqa: E731
    parts = [
        f"<!doctype html><html lang=zh><meta charset=utf-8><title>triage report: {_e(Path(source).name)}</title>",
        f"<style>{_CSS}</style><h1>Triage report</h1>",
        f"<p>{_e(Path(source).name)} · generated {datetime.now():%Y-%m-%d %H:%M}</p><p class=kpi>",
        f"<span>letters <b>{tally.rows:,}</b></span><span>labelled <b>{labelled:,}</b></span>",
        f"<span>errors <b>{tally.errors:,}</b></span>",
        f"<span>needing review <b>{tally.needs_review:,}</b> ({tally.needs_review / max(labelled, 1):.1%} of labelled)</span></p>",
        "<h2>Share needing review</h2>", img(_review_share(tally), "share needing review"),
        "<h2>By category</h2>", img(_bar(tally.category, "Letters by work-style category"), "letters by category"),
        _count_table(tally.category, tally.names, "category", labelled),
        "<h2>By responsible unit</h2>", img(_bar(tally.unit, f"Letters by unit (top {TOP_UNITS * 2})", TOP_UNITS * 2), "letters by unit"),
        _count_table(tally.unit, tally.names, "unit", labelled),
        f"<h2>Category × unit</h2><p>Top {TOP_UNITS} units; hover a unit id for its name.</p>", _cross_table(tally),
    ]
    if tally.month:
        parts += ["<h2>Monthly trend</h2>", img(_trend(tally), "letters per month"), _month_table(tally)]
    elif tally.date_col is None:
        parts.append("<p>No date column found, so no monthly trend; name one with <code>--date-col</code>.</p>")
    return "".join(parts) + "</html>\n"


def write_report(labelled_path: str | Path, report_path: str | Path, *, date_col: str | None = None) -> Tally:
    """Write the HTML report of ``labelled_path`` to ``report_path`` (atomically) and return the counts."""
    tally = tally_file(labelled_path, date_col=date_col)
    page = render_html(tally, str(labelled_path))
    with atomic_output(report_path, [labelled_path]) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return tally
