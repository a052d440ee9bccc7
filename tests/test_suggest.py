"""triage review suggest: least certain letters first, spread over the predicted categories, no near-duplicates."""
from __future__ import annotations

import csv
from collections import Counter

import pandas as pd
import pytest

from triage import paths
from triage.cli import main
from triage.errors import DataError
from triage.suggest import COLUMNS, margins, suggest

PHONE = "13812345678"


@pytest.fixture(scope="module")
def letters() -> pd.DataFrame:
    """120 dev letters plus three near copies of the first one (one with a phone number added)."""
    dev = pd.read_csv(paths.DEV_CSV, dtype=str, keep_default_na=False).head(120)[["id", "text"]]
    first = dev["text"].iloc[0]
    copies = pd.DataFrame({"id": ["copy-1", "copy-2", "copy-3"],
                           "text": [first + "。", first + f"电话{PHONE}", "请尽快处理。" + first]})
    return pd.concat([dev, copies], ignore_index=True)


def test_margins_are_the_gap_between_the_two_likeliest_answers(model, letters):
    rows = suggest(model, letters["text"].tolist(), letters["id"].tolist(), n=30)
    preds = dict(zip(letters["id"], model.classify_many(letters["text"].tolist(), top_k=2, evidence=False)))
    assert len(rows) == 30 and list(rows[0]) == COLUMNS
    for r in rows:
        p = preds[r["id"]]
        assert r["category_margin"] == pytest.approx(p.category_score - p.alternatives[0].score, abs=1e-4)
        ua = p.unit_alternatives
        assert r["unit_margin"] == pytest.approx(ua[0]["score"] - ua[1]["score"], abs=1e-4)
        assert r["margin"] == min(r["category_margin"], r["unit_margin"])
        assert r["why"]
    assert [r["margin"] for r in rows] == sorted(r["margin"] for r in rows)  # least certain first


def test_each_category_gives_its_least_certain_letters_in_turn(model, letters):
    texts, ids = letters["text"].tolist(), letters["id"].tolist()
    n = 20
    rows = suggest(model, texts, ids, n=n)
    chosen = {r["id"] for r in rows}
    per_cat = Counter(r["category"] for r in rows)
    preds = model.classify_many(texts, top_k=2, evidence=False)
    available = Counter(p.category for p in preds)
    # round robin: a category that did not run out has at least as many places as any other, less one
    for cat, k in per_cat.items():
        if k < available[cat] - 3:  # not exhausted (3: the near copies may shrink one category)
            assert k >= max(per_cat.values()) - 1
    assert len(per_cat) >= min(len(available), n // 3)  # rare categories are represented
    # within a category, nobody left out is less certain than someone chosen (near copies aside)
    for cat in per_cat:
        worst_chosen = max(r["margin"] for r in rows if r["category"] == cat)
        left = [min(margins(p)) for i, p in zip(ids, preds) if p.category == cat and i not in chosen
                and not str(i).startswith("copy") and i != ids[0]]
        assert all(m >= worst_chosen for m in left)
    # plain uncertainty sampling would take the n least certain letters whatever their category
    plain = sorted(range(len(preds)), key=lambda i: min(margins(preds[i])))[:n]
    assert len({preds[i].category for i in plain}) <= len(per_cat)


def test_near_duplicates_give_one_letter_and_texts_are_masked(model, letters):
    rows = suggest(model, letters["text"].tolist(), letters["id"].tolist(), n=len(letters))
    family = {letters["id"].iloc[0], "copy-1", "copy-2", "copy-3"}
    picked = [r for r in rows if r["id"] in family]
    assert len(picked) == 1 and "另有 3 封相近来信未选" in picked[0]["why"]
    assert len(rows) == len(letters) - 3
    assert all(PHONE not in r["text"] for r in rows)


def test_cli_writes_the_csv_and_refuses_bad_requests(model, trained_dir, letters, tmp_path, capsys):
    src = tmp_path / "in.csv"
    letters.to_csv(src, index=False)
    assert main(["review", "suggest", str(src), "-n", "10", "--model", str(trained_dir)]) == 0
    with open(tmp_path / "in.csv.suggest.csv", encoding="utf-8-sig", newline="") as f:
        out = list(csv.DictReader(f))
    assert len(out) == 10 and list(out[0]) == COLUMNS
    assert {r["id"] for r in out} <= set(letters["id"])
    assert main(["review", "suggest", str(src), "-n", "0", "--model", str(trained_dir)]) == 1
    assert main(["review", "suggest", str(src), "--text-col", "body", "--model", str(trained_dir)]) == 1
    assert "body" in capsys.readouterr().err
    with pytest.raises(DataError, match="nothing to suggest"):
        suggest(model, ["", "   "], n=5)
